//! The admin routes: each handler reads [`AdminSources`] and answers at once (at most
//! [`super::facts::ASK_TIMEOUT`] per actor asked).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use icbot_actors::root;
use icbot_actors::supervision::chaos::CrashError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::facts::AdminSources;
use super::{metrics, page};
use crate::instance::INSTANCE_HEADER;

pub fn router(sources: AdminSources) -> Router {
    let instance = HeaderValue::from_str(&sources.instance.id)
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/actors", get(actors))
        .route("/metrics", get(prometheus))
        .route("/actors/{name}/crash", post(crash))
        .fallback(not_found)
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let instance = instance.clone();
                async move {
                    response.headers_mut().insert(INSTANCE_HEADER, instance);
                    response
                }
            },
        ))
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
    Html(page::render(&sources.status_view().await)).into_response()
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
/// name prefix, the name without it. With `ICBOT_ADMIN_TOKEN` set, only for `Authorization: Bearer <token>`.
async fn crash(
    State(sources): State<AdminSources>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = &sources.admin_token {
        if !bearer_matches(&headers, token) {
            tracing::warn!(actor = %name, "admin: crash refused without the admin token");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({
                    "error": "this admin server wants Authorization: Bearer <ICBOT_ADMIN_TOKEN> for POST endpoints"
                })),
            )
                .into_response();
        }
    }
    if !sources.chaos {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": "chaos controls are off; set [admin] chaos = true (never in production) to crash actors on purpose"
            })),
        )
            .into_response();
    }
    match root::crash(&sources.names, &name) {
        Ok(full) => {
            let id = ractor::registry::where_is(full.clone()).map(|c| c.get_id().to_string());
            (
                StatusCode::ACCEPTED,
                Json(json!({ "crashing": full, "id": id })),
            )
                .into_response()
        }
        Err(CrashError::Unknown(_)) => unknown_actor(&name),
        Err(e @ CrashError::NotRunning(_)) => {
            tracing::warn!(actor = %name, error = %e, "chaos: crash not delivered");
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// The request carries `Authorization: Bearer <token>`; compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    let want = token.expose_secret().as_bytes();
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
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
