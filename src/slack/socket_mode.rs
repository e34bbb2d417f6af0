//! Socket Mode: the bot opens a WebSocket to Slack (`apps.connections.open` with the app token) and Slack
//! pushes events down it; no public URL needed.
//!
//! slack-morphism runs the connection. Its callbacks are plain functions, so the [`InboundRoute`] and the
//! connection flag travel in its user state. The push-event callback only hands the message to the gateway
//! and returns, so the envelope is acknowledged at once (Slack redelivers what is not acked within 3 s).
//!
//! Reconnection: when the connection drops (a WebSocket error, a close, Slack's `disconnect` envelope, or
//! missed pongs) slack-morphism opens a new one at once; when that fails it tries again every
//! [`RECONNECT_INTERVAL`] until it succeeds. `apps.connections.open` is a Tier 1 method, so faster is not
//! better.
//!
//! The connection flag: `true` from Slack's `hello` on a connection until that connection reports an error.
//! slack-morphism 2.31 tells its callbacks about errors but not about a clean close, so after a clean close
//! the flag stays `true` for the moment it takes to reconnect (a new `hello` follows at once when it works).

use std::sync::Arc;
use std::time::Duration;

use slack_morphism::prelude::*;
use tokio::sync::watch;

use super::client::SlackApiClient;
use super::inbound::InboundRoute;

/// Wait between failed attempts to reconnect.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(10);

/// The listener, running until [`SocketModeInbound::shutdown`].
pub struct SocketModeInbound {
    listener: SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
}

/// What the callbacks find in slack-morphism's user state.
struct SocketState {
    route: Arc<InboundRoute>,
    connected: watch::Sender<bool>,
}

impl SocketModeInbound {
    /// Registers the app token and starts connecting in the background.
    pub async fn start(
        client: Arc<SlackApiClient>,
        app_token: SlackApiToken,
        route: Arc<InboundRoute>,
        connected: watch::Sender<bool>,
    ) -> anyhow::Result<SocketModeInbound> {
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_hello_events(on_hello)
            .with_push_events(on_push_event)
            .with_interaction_events(on_interaction)
            .with_command_events(on_command);
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(SocketState { route, connected }),
        );
        let config = SlackClientSocketModeConfig::new()
            .with_max_connections_count(1)
            .with_reconnect_timeout_in_seconds(RECONNECT_INTERVAL.as_secs());
        let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
        listener
            .listen_for(&app_token)
            .await
            .map_err(|e| anyhow::anyhow!("cannot register the Slack app token: {e}"))?;
        listener.start().await;
        Ok(SocketModeInbound { listener })
    }

    /// Closes the WebSocket; no more events are delivered.
    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}

/// Slack's `hello` (generic because slack-morphism 2.31 does not export the event type by name).
async fn on_hello<HelloEvent>(
    _event: HelloEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) {
    let state = state.read().await;
    if let Some(state) = state.get_user_state::<SocketState>() {
        tracing::info!("Slack Socket Mode connected");
        state.connected.send_replace(true);
    }
}

async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let state = state.read().await;
    if let Some(state) = state.get_user_state::<SocketState>() {
        state.route.handle(&event);
    }
    Ok(())
}

/// A button press (block action): handed to the route, which delivers it as a command and returns at once, so
/// the envelope is acknowledged within Slack's three seconds.
async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let state = state.read().await;
    if let Some(state) = state.get_user_state::<SocketState>() {
        state.route.handle_interaction(&event);
    }
    Ok(())
}

/// A slash command (`/ic`, `/status`): handed to the route, which delivers it as a command and returns at once,
/// so the envelope is acknowledged within Slack's three seconds. The ack carries an empty payload (no message
/// of its own); the answer is posted in the channel like any other reply.
async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let state = state.read().await;
    if let Some(state) = state.get_user_state::<SocketState>() {
        state.route.handle_command(&event);
    }
    Ok(SlackCommandEventResponse::new(SlackMessageContent::new()))
}

fn on_error(
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> HttpStatusCode {
    let socket_lost = matches!(
        error.downcast_ref::<slack_morphism::errors::SlackClientError>(),
        Some(slack_morphism::errors::SlackClientError::SocketModeProtocolError(_))
    );
    if socket_lost {
        tracing::warn!(error = %error, "Slack Socket Mode connection lost; reconnecting");
        // Only readers ever hold this lock, so a try is enough.
        if let Ok(state) = state.try_read() {
            if let Some(state) = state.get_user_state::<SocketState>() {
                state.connected.send_replace(false);
            }
        }
    } else {
        tracing::warn!(error = %error, "Slack Socket Mode error");
    }
    HttpStatusCode::OK
}
