//! The admin routes: each handler reads [`AdminSources`] and answers at once (at most
//! [`super::facts::ASK_TIMEOUT`] per actor asked).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use icbot_actors::gateway::GatewayMessage;
use icbot_actors::pager::PagerMessage;
use icbot_actors::schedule_cache::ScheduleCacheMessage;
use icbot_actors::stalk::StalkMessage;
use icbot_actors::stalks::StalksMessage;
use icbot_actors::status::StatusMessage;
use serde_json::json;

use icbot_actors::names::ActorNames;

use super::facts::AdminSources;
use super::{metrics, page};

pub fn router(sources: AdminSources) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/actors", get(actors))
        .route("/metrics", get(prometheus))
        .route("/actors/{name}/crash", post(crash))
        .fallback(not_found)
        .with_state(sources)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(sources): State<AdminSources>) -> Response {
    let readiness = sources.readiness();
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness)).into_response()
}

async fn actors(State(sources): State<AdminSources>) -> Response {
    Json(sources.tree().await).into_response()
}

async fn status_page(State(sources): State<AdminSources>) -> Response {
    Html(page::render(&sources.tree().await)).into_response()
}

async fn prometheus(State(sources): State<AdminSources>) -> Response {
    match metrics::render(&sources) {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics unavailable: another metrics recorder owns this process\n",
        )
            .into_response(),
    }
}

/// `POST /actors/{name}/crash`: sends the actor its `Crash` message, a real failure inside it that its
/// supervisor handles like any other. `name` is the registry name (`pager`, `stalk:ops`) or, in a tree with a
/// name prefix, the name without it.
async fn crash(State(sources): State<AdminSources>, Path(name): Path<String>) -> Response {
    if !sources.chaos {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": "chaos controls are off; set [admin] chaos = true (never in production) to crash actors on purpose"
            })),
        )
            .into_response();
    }
    let Some((full, kind)) = resolve(&sources.names, &name) else {
        return unknown_actor(&name);
    };
    let Some(cell) = ractor::registry::where_is(full.clone()) else {
        return unknown_actor(&name);
    };
    let sent = match kind {
        Crashable::Gateway => cell
            .send_message(GatewayMessage::Crash)
            .map_err(|e| e.to_string()),
        Crashable::Pager => cell
            .send_message(PagerMessage::Crash)
            .map_err(|e| e.to_string()),
        Crashable::ScheduleCache => cell
            .send_message(ScheduleCacheMessage::Crash)
            .map_err(|e| e.to_string()),
        Crashable::Status => cell
            .send_message(StatusMessage::Crash)
            .map_err(|e| e.to_string()),
        Crashable::Stalks => cell
            .send_message(StalksMessage::Crash)
            .map_err(|e| e.to_string()),
        Crashable::Stalk => cell
            .send_message(StalkMessage::Crash)
            .map_err(|e| e.to_string()),
    };
    match sent {
        Ok(()) => {
            tracing::warn!(actor = %full, id = %cell.get_id(), "chaos: crash requested through the admin server");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "crashing": full, "id": cell.get_id().to_string() })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(actor = %full, error = %e, "chaos: crash not delivered");
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": format!("{full} is not taking messages (restarting?)") })),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crashable {
    Gateway,
    Pager,
    ScheduleCache,
    Status,
    Stalks,
    Stalk,
}

/// The registry name and kind of a crashable actor, from its full name or its name without the tree's prefix.
fn resolve(names: &ActorNames, name: &str) -> Option<(String, Crashable)> {
    let bare = ActorNames::default();
    let fixed = [
        (Crashable::Gateway, names.gateway(), bare.gateway()),
        (Crashable::Pager, names.pager(), bare.pager()),
        (
            Crashable::ScheduleCache,
            names.schedule_cache(),
            bare.schedule_cache(),
        ),
        (Crashable::Status, names.status(), bare.status()),
        (Crashable::Stalks, names.stalks(), bare.stalks()),
    ];
    for (kind, full, short) in fixed {
        if name == full || name == short {
            return Some((full, kind));
        }
    }
    let channel = name
        .strip_prefix(&names.stalk(""))
        .or_else(|| name.strip_prefix(&bare.stalk("")))?;
    (!channel.is_empty()).then(|| (names.stalk(channel), Crashable::Stalk))
}

fn unknown_actor(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": format!("no crashable actor named {name:?}; see GET /actors (the root cannot be crashed)")
        })),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found; try / /healthz /readyz /actors /metrics\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_names_resolve_with_or_without_the_prefix() {
        let names = ActorNames::with_prefix("t1/");
        assert_eq!(
            resolve(&names, "pager"),
            Some(("t1/pager".to_string(), Crashable::Pager))
        );
        assert_eq!(
            resolve(&names, "t1/schedule_cache"),
            Some(("t1/schedule_cache".to_string(), Crashable::ScheduleCache))
        );
        assert_eq!(
            resolve(&names, "stalk:ops"),
            Some(("t1/stalk:ops".to_string(), Crashable::Stalk))
        );
        assert_eq!(
            resolve(&names, "t1/stalk:ops"),
            Some(("t1/stalk:ops".to_string(), Crashable::Stalk))
        );
        assert_eq!(resolve(&names, "stalk:"), None);
        assert_eq!(resolve(&names, "icbot"), None);
        assert_eq!(resolve(&names, "../etc"), None);
    }
}
