//! The Events API: Slack POSTs events to `POST /slack/events` on `[slack] listen`.
//!
//! Endpoint `POST /slack/events`:
//! - every request is verified first with slack-morphism's verifier: `X-Slack-Signature` must be `v0=` +
//!   hex HMAC-SHA256(signing secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`), compared in constant time.
//!   A missing or wrong signature answers **401**; a correctly signed request whose timestamp is more than
//!   300 s from now (a replay) answers **400**. A request that fails verification reaches no actor.
//! - `url_verification` answers the `challenge` as plain text.
//! - `event_callback` with a message hands it to the [`InboundRoute`] and answers 200 at once (Slack retries
//!   what is not answered within 3 s).
//! - anything else that verifies answers 200; a body that is not an event answers 400.
//!
//! Endpoint `POST /slack/interactivity` (Slack's Interactivity Request URL): the same verification, then the
//! form field `payload` (a `block_actions` interaction: a card's button pressed) is handed to the
//! [`InboundRoute`] and answered 200 at once; a body without a readable payload answers 400.
//!
//! Endpoint `POST /slack/commands` (the slash commands' Request URL): the same verification, then the form
//! (`command`, `text`, `user_id`, `channel_id`, ...) is handed to the [`InboundRoute`] and answered 200 with an
//! empty body at once (no message of its own; the answer is posted in the channel). A form that is not a slash
//! command answers 400.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::inbound::InboundRoute;

/// The path Slack's Request URL must point at.
pub const EVENTS_PATH: &str = "/slack/events";
/// The path Slack's Interactivity Request URL must point at.
pub const INTERACTIVITY_PATH: &str = "/slack/interactivity";
/// The path the slash commands' Request URL must point at.
pub const COMMANDS_PATH: &str = "/slack/commands";

/// The HTTP listener, serving until [`EventsApiInbound::shutdown`].
pub struct EventsApiInbound {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct EventsState {
    verifier: Arc<SlackEventSignatureVerifier>,
    route: Arc<InboundRoute>,
}

impl EventsApiInbound {
    /// Serves the events endpoint on `listener` in the background.
    pub fn start(
        listener: TcpListener,
        signing_secret: &SecretString,
        route: Arc<InboundRoute>,
    ) -> EventsApiInbound {
        let secret = SlackSigningSecret::new(signing_secret.expose_secret().to_string());
        let app = router(EventsState {
            verifier: Arc::new(SlackEventSignatureVerifier::new(&secret)),
            route,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "Slack events listener failed");
            }
        });
        EventsApiInbound { stop, task }
    }

    /// Stops accepting requests and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn router(state: EventsState) -> Router {
    Router::new()
        .route(EVENTS_PATH, post(receive))
        .route(INTERACTIVITY_PATH, post(interaction))
        .route(COMMANDS_PATH, post(command))
        .with_state(state)
}

async fn receive(State(state): State<EventsState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    match serde_json::from_str::<SlackPushEvent>(body) {
        Ok(SlackPushEvent::UrlVerification(v)) => v.challenge.into_response(),
        Ok(SlackPushEvent::EventCallback(callback)) => {
            state.route.handle(&callback);
            StatusCode::OK.into_response()
        }
        Ok(SlackPushEvent::AppRateLimited(limited)) => {
            tracing::warn!(team = %limited.team_id, "Slack is dropping events: the app is rate limited");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "Slack events request is not an event");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// `POST /slack/interactivity`: a verified `payload=<json>` form, handed to the route.
async fn interaction(
    State(state): State<EventsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let payload = url::form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned());
    let Some(payload) = payload else {
        tracing::warn!("Slack interactivity request without a payload");
        return StatusCode::BAD_REQUEST.into_response();
    };
    match serde_json::from_str::<SlackInteractionEvent>(&payload) {
        Ok(event) => {
            state.route.handle_interaction(&event);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "Slack interactivity payload is not an interaction");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// `POST /slack/commands`: a verified slash command form, handed to the route; 200 with an empty body.
async fn command(State(state): State<EventsState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let form: serde_json::Map<String, serde_json::Value> =
        url::form_urlencoded::parse(body.as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned().into()))
            .collect();
    match serde_json::from_value::<SlackCommandEvent>(form.into()) {
        Ok(event) => {
            state.route.handle_command(&event);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "Slack commands request is not a slash command");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

/// The body as text once its signature and timestamp verify; else the status to refuse it with.
fn verified<'a>(
    state: &EventsState,
    headers: &HeaderMap,
    body: &'a Bytes,
) -> Result<&'a str, StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        tracing::warn!("Slack events request without a signature; rejected");
        return Err(StatusCode::UNAUTHORIZED);
    };
    let Ok(body) = std::str::from_utf8(body) else {
        tracing::warn!("Slack events request body is not UTF-8; rejected");
        return Err(StatusCode::BAD_REQUEST);
    };
    if let Err(e) = state.verifier.verify(signature, body, timestamp) {
        let status = match e {
            SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::UNAUTHORIZED,
        };
        tracing::warn!(error = %e, status = status.as_u16(), "Slack events request failed verification; rejected");
        return Err(status);
    }
    Ok(body)
}
