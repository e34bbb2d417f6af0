//! `GET /incidents/{id}` in a browser: the small HTML page behind the `html_url` the stub hands out, so a
//! demo user who clicks the incident link sees the incident (title, number, status, who is assigned and who
//! was asked to respond). Outside the credentials check, like PagerDuty's web pages; every value escaped.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::pagerduty::IncidentRecord;
use super::StubState;
use crate::html::escape;

pub(super) fn router() -> Router<Arc<StubState>> {
    Router::new().route("/incidents/{id}", get(incident_page))
}

async fn incident_page(State(state): State<Arc<StubState>>, Path(id): Path<String>) -> Response {
    let incident = state.lock().incidents.iter().find(|i| i.id == id).cloned();
    match incident {
        Some(incident) => Html(render(&incident)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>\
                 <body><h1>No incident {}</h1><p>The stub has not created it (it forgets everything when it stops).</p></body></html>",
                escape(&id)
            )),
        )
            .into_response(),
    }
}

fn render(i: &IncidentRecord) -> String {
    let people = |names: &[String]| {
        if names.is_empty() {
            "<li>nobody</li>".to_string()
        } else {
            names
                .iter()
                .map(|n| format!("<li>{}</li>", escape(n)))
                .collect()
        }
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>#{number} {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1em;max-width:40em}}.status{{font-weight:bold;color:#b00020}}</style>\
         </head><body>\
         <p>icbot stub: a demo of PagerDuty, not PagerDuty</p>\
         <h1>#{number} {title}</h1>\
         <p>Status: <span class=\"status\">{status}</span> · urgency {urgency} · incident {id}</p>\
         <h2>Assigned to</h2><ul>{assigned}</ul>\
         <h2>Asked to respond</h2><ul>{responders}</ul>\
         </body></html>",
        number = i.number,
        title = escape(&i.title),
        status = escape(&i.status),
        urgency = escape(&i.urgency),
        id = escape(&i.id),
        assigned = people(&i.assignee.iter().map(|(_, name)| name.clone()).collect::<Vec<_>>()),
        responders = people(&i.responders),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::stub::testing::{client, demo_stub, post};

    #[tokio::test]
    async fn the_html_url_of_an_incident_answers_with_its_page() {
        let stub = demo_stub().await;
        let created: serde_json::Value = post(
            &stub,
            "/incidents",
            json!({"incident": {
                "type": "incident", "title": "db <down> & \"out\"", "urgency": "high",
                "service": {"id": "PSVC001", "type": "service_reference"},
                "assignments": [{"assignee": {"id": "PUSR001", "type": "user_reference"}}],
            }}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let incident = &created["incident"];
        let id = incident["id"].as_str().unwrap();
        post(
            &stub,
            &format!("/incidents/{id}/responder_requests"),
            json!({"requester_id": "PUSR001", "message": "help",
                   "responder_request_targets": [{"responder_request_target": {"id": "PUSR002", "type": "user_reference"}}]}),
        )
        .send()
        .await
        .unwrap();
        // A browser: no token, no PagerDuty headers.
        let page = client()
            .get(incident["html_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert!(
            html.contains("#1 db &lt;down&gt; &amp; &quot;out&quot;"),
            "{html}"
        );
        assert!(html.contains("triggered"), "{html}");
        assert!(html.contains("<li>Alice Moreau</li>"), "{html}");
        assert!(html.contains("<li>Bongani Dlamini</li>"), "{html}");
        assert!(!html.contains("<down>"), "escaped");

        let missing = client()
            .get(format!("{}/incidents/QNOPE", stub.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status().as_u16(), 404);
    }
}
