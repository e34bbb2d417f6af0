//! The Slack chat adapter: replies out through the Web API, commands in through Socket Mode or the Events API.
//!
//! - `settings.rs`: [`SlackSettings`] (`[slack]`), [`SlackMode`], [`SlackSecrets`] from the environment.
//! - `client.rs`: the slack-morphism client (rustls, `http://` allowed for fakes) and `auth.test`.
//! - `chat_out.rs`: [`SlackChat`], the core's `ChatOut`: per-channel pacing, 429/transient retries,
//!   `users.info` emails.
//! - `render.rs`: a `Reply` as escaped mrkdwn, and inbound text unescaped.
//! - `inbound.rs`: which message events are commands, as `InboundMessage`s for the gateway.
//! - `seen_events.rs`: [`SeenEvents`], the events some replica of several handled already.
//! - `socket_mode.rs` / `events_api.rs`: the two ways events arrive.
//!
//! Start-up order (the gateway needs the `ChatOut` when the tree starts, and inbound needs the gateway):
//! 1. `let chat = Arc::new(SlackChat::new(&settings, &secrets)?);`: outbound only, no network yet.
//! 2. Start the actor tree with `chat.clone()` as its `Arc<dyn ChatOut>`; make the `GatewayHandle`.
//! 3. `let slack = start_inbound(&settings, &secrets, chat, gateway, listener, seen).await?;`: `auth.test` (who the
//!    bot is, so it ignores itself), then Socket Mode connects or the events listener serves.
//! 4. At shutdown, `slack.shutdown().await` stops inbound first; replies in flight still go out through
//!    the `SlackChat` the tree holds.
//!
//! In events mode the caller binds `[slack] listen` and passes the `TcpListener` in (tests bind 127.0.0.1:0).

mod chat_out;
mod client;
mod events_api;
mod inbound;
mod render;
mod seen_events;
mod settings;
mod socket_mode;
mod user_groups;

#[cfg(test)]
mod fake_slack;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tree_tests;

use std::sync::Arc;

use anyhow::Context;
use icbot_actors::commands::gateway::GatewayHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use chat_out::{SlackChat, EMAIL_TTL, MAX_ATTEMPTS, MAX_RETRY_AFTER};
pub use client::BotIdentity;
pub use events_api::EVENTS_PATH;
pub use inbound::{to_inbound, InboundRoute};
pub use render::{escape, mrkdwn, unescape};
pub use seen_events::{SeenEvents, SEEN_WAIT};
pub use settings::{
    SlackMode, SlackSecrets, SlackSettings, APP_TOKEN_VAR, BOT_TOKEN_VAR, SIGNING_SECRET_VAR,
};
pub use socket_mode::RECONNECT_INTERVAL;
pub use user_groups::SlackUserGroups;

use events_api::EventsApiInbound;
use socket_mode::SocketModeInbound;

/// The running Slack adapter.
pub struct SlackRunning {
    /// The outbound half, the same one the tree posts through.
    pub chat: Arc<SlackChat>,
    /// The bot's own ids, from `auth.test`.
    pub me: BotIdentity,
    connected: watch::Receiver<bool>,
    inbound: Inbound,
}

enum Inbound {
    Socket(SocketModeInbound),
    Events(EventsApiInbound),
}

impl SlackRunning {
    /// Socket Mode: a connection is up (Slack said `hello` and no error since). Events API: the listener is
    /// serving.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// The connection flag to watch, for the health endpoint and a readiness latch.
    pub fn connection(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Stops receiving events. Outbound posting keeps working.
    pub async fn shutdown(self) {
        match self.inbound {
            Inbound::Socket(socket) => socket.shutdown().await,
            Inbound::Events(events) => events.shutdown().await,
        }
        tracing::info!("Slack inbound stopped");
    }
}

/// Starts receiving commands: asks Slack who the bot is, then connects Socket Mode or serves the Events API
/// on `events_listener` (required in events mode, ignored in socket mode).
pub async fn start_inbound(
    settings: &SlackSettings,
    secrets: &SlackSecrets,
    chat: Arc<SlackChat>,
    gateway: GatewayHandle,
    events_listener: Option<TcpListener>,
    seen: Option<Arc<dyn SeenEvents>>,
) -> anyhow::Result<SlackRunning> {
    let poster = chat.poster();
    let me = client::who_am_i(&poster.client, &poster.token, poster.post_timeout)
        .await
        .context("checking SLACK_BOT_TOKEN with Slack")?;
    tracing::info!(user_id = %me.user_id, mode = %settings.mode, "Slack bot identified");
    let route = Arc::new(InboundRoute::new(gateway, me.clone()).with_seen_events(seen));
    let (connected_tx, connected) = watch::channel(false);
    let inbound = match settings.mode {
        SlackMode::Socket => {
            let app_token = secrets
                .app_token
                .as_ref()
                .context("SLACK_APP_TOKEN is not set (needed for [slack] mode = \"socket\")")?;
            let socket = SocketModeInbound::start(
                poster.client.clone(),
                client::api_token(app_token),
                route,
                connected_tx,
            )
            .await?;
            Inbound::Socket(socket)
        }
        SlackMode::Events => {
            let secret = secrets.signing_secret.as_ref().context(
                "SLACK_SIGNING_SECRET is not set (needed for [slack] mode = \"events\")",
            )?;
            let listener =
                events_listener.context("events mode needs a bound listener for [slack] listen")?;
            let events = EventsApiInbound::start(listener, secret, route);
            connected_tx.send_replace(true);
            Inbound::Events(events)
        }
    };
    Ok(SlackRunning {
        chat,
        me,
        connected,
        inbound,
    })
}
