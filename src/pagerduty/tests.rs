//! The client against a tiny in-test PagerDuty: an axum fallback route on 127.0.0.1:0 that records every
//! request and answers with whatever the test's script says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use icbot_actors::cache::oncall::{Person, Phone, UserId};
use icbot_actors::ports::{Incident, IncidentStatus, NewIncident, PagerDutyApi, PagerDutyError};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::{PagerDutyClient, PagerDutyConfig, MAX_TITLE_CHARS};

const TOKEN: &str = "u+s3cr3t-T0KEN-value";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Value>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn query_values(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn query_value(&self, key: &str) -> Option<&str> {
        self.query_values(key).first().copied()
    }
}

/// What the fake answers: status, extra headers, body.
struct Answer(StatusCode, Vec<(&'static str, &'static str)>, String);

fn ok(body: Value) -> Answer {
    Answer(StatusCode::OK, vec![], body.to_string())
}

type Script = Arc<dyn Fn(usize, &Seen) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
    count: Arc<AtomicUsize>,
}

impl Fake {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn record_and_answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        path: uri.path().to_string(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers,
        body: serde_json::from_slice(&body).ok(),
    };
    let n = fake.count.fetch_add(1, Ordering::SeqCst);
    let Answer(status, extra, body) = (fake.script)(n, &seen);
    if let Ok(mut log) = fake.seen.lock() {
        log.push(seen);
    }
    let mut response = (status, body).into_response();
    for (name, value) in extra {
        response
            .headers_mut()
            .insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// Starts a fake PagerDuty answering every request with `script(n, request)` (n counts from 0).
async fn fake(script: impl Fn(usize, &Seen) -> Answer + Send + Sync + 'static) -> (String, Fake) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake {
        seen: Arc::default(),
        script: Arc::new(script),
        count: Arc::default(),
    };
    let app = Router::new()
        .fallback(record_and_answer)
        .with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn config(base_url: &str) -> PagerDutyConfig {
    PagerDutyConfig {
        base_url: base_url.to_string(),
        token: SecretString::from(TOKEN),
        from_email: "icbot@example.com".into(),
        service_id: "PSVC001".into(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_rate_limit_retries: 2,
    }
}

fn client(base_url: &str) -> PagerDutyClient {
    PagerDutyClient::new(config(base_url)).unwrap()
}

fn user_json(id: &str, methods: Value) -> Value {
    json!({
        "id": id, "type": "user", "name": format!("User {id}"), "summary": format!("User {id}"),
        "email": format!("{id}@example.com"), "time_zone": "Europe/Paris", "contact_methods": methods
    })
}

fn on_call_json(schedule: &str, user: Value) -> Value {
    json!({
        "user": user,
        "schedule": {"id": schedule, "type": "schedule_reference", "summary": "Primary"},
        "escalation_policy": {"id": "PEP1", "type": "escalation_policy_reference"},
        "escalation_level": 1,
        "start": "2024-03-17T18:00:00Z",
        "end": "2024-03-24T18:00:00Z"
    })
}

fn new_incident(title: &str) -> NewIncident {
    NewIncident {
        title: title.into(),
        details: "Paged by @ada in #ops: the site is down".into(),
        assignee: UserId("PUSER1".into()),
        incident_key: None,
    }
}

fn incident_answer() -> Answer {
    Answer(
        StatusCode::CREATED,
        vec![],
        json!({"incident": {
            "id": "PINC001", "type": "incident", "incident_number": 1234, "title": "x",
            "html_url": "https://acme.pagerduty.com/incidents/PINC001", "status": "triggered"
        }})
        .to_string(),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Headers

#[tokio::test]
async fn reads_send_token_and_v2_accept_but_no_from() {
    let (base, fake) = fake(|_, _| ok(json!({"user": user_json("P1", json!([]))}))).await;
    client(&base).user(&UserId("P1".into())).await.unwrap();

    let seen = &fake.requests()[0];
    assert_eq!(seen.method, Method::GET);
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token token={TOKEN}").as_str())
    );
    assert_eq!(
        seen.header("accept"),
        Some("application/vnd.pagerduty+json;version=2")
    );
    assert_eq!(seen.header("from"), None);
    assert_eq!(seen.header("content-type"), None);
}

#[tokio::test]
async fn writes_also_send_from_and_content_type() {
    let (base, fake) = fake(|_, _| incident_answer()).await;
    client(&base)
        .create_incident(&new_incident("Site down"))
        .await
        .unwrap();

    let seen = &fake.requests()[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token token={TOKEN}").as_str())
    );
    assert_eq!(
        seen.header("accept"),
        Some("application/vnd.pagerduty+json;version=2")
    );
    assert_eq!(seen.header("from"), Some("icbot@example.com"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
}

// ---------------------------------------------------------------------------------------------------------
// On-calls

#[tokio::test]
async fn on_calls_follow_pagination_to_the_end() {
    let (base, fake) = fake(|_, seen| {
        let offset: usize = seen.query_value("offset").unwrap_or("0").parse().unwrap_or(0);
        let limit: usize = seen.query_value("limit").unwrap_or("25").parse().unwrap_or(25);
        let end = (offset + limit).min(250);
        let oncalls: Vec<Value> = (offset..end)
            .map(|i| on_call_json("PSCHED1", user_json(&format!("P{i}"), json!([]))))
            .collect();
        ok(json!({"oncalls": oncalls, "limit": limit, "offset": offset, "more": end < 250, "total": null}))
    })
    .await;

    let schedules = vec!["PSCHED1".to_string(), "PSCHED2".to_string()];
    let entries = client(&base).on_calls(&schedules).await.unwrap();

    assert_eq!(entries.len(), 250);
    assert_eq!(entries[0].user.id, UserId("P0".into()));
    assert_eq!(entries[249].user.id, UserId("P249".into()));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let offsets: Vec<_> = requests.iter().map(|r| r.query_value("offset")).collect();
    assert_eq!(offsets, [Some("0"), Some("100"), Some("200")]);
    for r in &requests {
        assert_eq!(r.path, "/oncalls");
        assert_eq!(r.query_values("schedule_ids[]"), ["PSCHED1", "PSCHED2"]);
        assert_eq!(r.query_values("include[]"), ["users"]);
        assert_eq!(r.query_value("limit"), Some("100"));
    }
}

#[tokio::test]
async fn on_calls_map_full_and_reference_users_and_skip_incomplete_entries() {
    let (base, _fake) = fake(|_, _| {
        let mut permanent = on_call_json(
            "PSCHED2",
            json!({"id": "PREF", "type": "user_reference", "summary": "Grace Hopper"}),
        );
        permanent["end"] = Value::Null;
        permanent["escalation_level"] = json!(2);
        let mut no_schedule = on_call_json("PX", user_json("PNOSCHED", json!([])));
        no_schedule["schedule"] = Value::Null;
        let mut no_user = on_call_json("PSCHED1", Value::Null);
        if let Some(entry) = no_user.as_object_mut() {
            entry.remove("user");
        }
        ok(json!({"oncalls": [
            on_call_json("PSCHED1", user_json("PFULL", json!([]))),
            permanent,
            no_schedule,
            no_user,
            {"schedule": {"id": "PSCHED1"}, "user": {"summary": "no id"}}
        ], "more": false}))
    })
    .await;

    let entries = client(&base)
        .on_calls(&["PSCHED1".into(), "PSCHED2".into()])
        .await
        .unwrap();

    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].schedule_id, "PSCHED1");
    assert_eq!(
        entries[0].user,
        Person::new("PFULL", "User PFULL", "PFULL@example.com")
    );
    assert_eq!(entries[0].escalation_level, 1);
    assert_eq!(entries[0].end.as_deref(), Some("2024-03-24T18:00:00Z"));
    assert_eq!(entries[1].schedule_id, "PSCHED2");
    assert_eq!(entries[1].user, Person::new("PREF", "Grace Hopper", ""));
    assert_eq!(entries[1].escalation_level, 2);
    assert_eq!(entries[1].end, None);
}

#[tokio::test]
async fn on_calls_without_schedules_ask_nothing() {
    let (base, fake) = fake(|_, _| ok(json!({"oncalls": [], "more": false}))).await;
    assert_eq!(client(&base).on_calls(&[]).await, Ok(vec![]));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn on_calls_reject_an_empty_page_that_says_more() {
    let (base, fake) = fake(|_, _| ok(json!({"oncalls": [], "more": true}))).await;
    let result = client(&base).on_calls(&["PSCHED1".into()]).await;
    assert!(
        matches!(result, Err(PagerDutyError::Malformed(_))),
        "{result:?}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn on_calls_stop_a_server_that_always_has_more() {
    let (base, fake) = fake(|_, _| {
        ok(json!({"oncalls": [on_call_json("PSCHED1", user_json("P1", json!([])))], "more": true}))
    })
    .await;
    let result = client(&base).on_calls(&["PSCHED1".into()]).await;
    assert!(
        matches!(result, Err(PagerDutyError::Malformed(_))),
        "{result:?}"
    );
    assert_eq!(fake.requests().len(), super::MAX_PAGES);
}

// ---------------------------------------------------------------------------------------------------------
// Users and phones

#[tokio::test]
async fn user_maps_phone_and_sms_methods_deduplicated() {
    let (base, fake) = fake(|_, _| {
        ok(json!({"user": user_json("P1", json!([
            {"id": "C1", "type": "email_contact_method", "address": "P1@example.com"},
            {"id": "C2", "type": "phone_contact_method", "address": "5551234567", "country_code": 1, "label": "Mobile"},
            {"id": "C3", "type": "sms_contact_method", "address": "5551234567", "country_code": 1},
            {"id": "C4", "type": "sms_contact_method", "address": "0612345678"},
            {"id": "C5", "type": "push_notification_contact_method", "address": "iPhone"}
        ]))}))
    })
    .await;

    let person = client(&base).user(&UserId("P1".into())).await.unwrap();

    assert_eq!(person.id, UserId("P1".into()));
    assert_eq!(person.name, "User P1");
    assert_eq!(person.email, "P1@example.com");
    assert_eq!(
        person.phones,
        vec![
            Phone {
                country_code: Some(1),
                number: "5551234567".into()
            },
            Phone {
                country_code: None,
                number: "0612345678".into()
            },
        ]
    );
    assert!(person.contacts_fetched_at.is_some());
    let seen = &fake.requests()[0];
    assert_eq!(seen.path, "/users/P1");
    assert_eq!(seen.query_values("include[]"), ["contact_methods"]);
}

#[tokio::test]
async fn user_without_a_phone_has_no_phones() {
    let (base, _fake) = fake(|_, _| {
        ok(json!({"user": user_json("P2", json!([
            {"id": "C1", "type": "email_contact_method", "address": "P2@example.com"}
        ]))}))
    })
    .await;
    let person = client(&base).user(&UserId("P2".into())).await.unwrap();
    assert!(person.phones.is_empty());
    assert!(person.contacts_fetched_at.is_some());
}

#[tokio::test]
async fn user_ids_are_escaped_in_the_path() {
    let (base, fake) = fake(|_, _| ok(json!({"user": user_json("x", json!([]))}))).await;
    let _ = client(&base).user(&UserId("../incidents".into())).await;
    assert_eq!(fake.requests()[0].path, "/users/..%2Fincidents");
}

#[tokio::test]
async fn find_users_encodes_the_query_and_maps_phones() {
    let (base, fake) = fake(|_, _| {
        ok(json!({"users": [
            user_json("P1", json!([{"type": "phone_contact_method", "address": "5551234567", "country_code": 33}])),
            user_json("P2", json!(null)),
            {"type": "user", "name": "no id"}
        ], "more": false}))
    })
    .await;

    let people = client(&base)
        .find_users("Ada Lovelace & co+1")
        .await
        .unwrap();

    assert_eq!(people.len(), 2);
    assert_eq!(
        people[0].phones,
        vec![Phone {
            country_code: Some(33),
            number: "5551234567".into()
        }]
    );
    assert!(people[1].phones.is_empty());
    let seen = &fake.requests()[0];
    assert_eq!(seen.path, "/users");
    assert_eq!(seen.query_value("query"), Some("Ada Lovelace & co+1"));
    assert_eq!(seen.query_values("include[]"), ["contact_methods"]);
    assert_eq!(seen.query_value("limit"), Some("100"));
}

// ---------------------------------------------------------------------------------------------------------
// Incidents and responders

#[tokio::test]
async fn create_incident_sends_one_assignment_on_the_service_and_maps_the_answer() {
    let (base, fake) = fake(|_, _| incident_answer()).await;

    let incident = client(&base)
        .create_incident(&new_incident("Site down"))
        .await
        .unwrap();

    assert_eq!(
        incident,
        Incident {
            id: "PINC001".into(),
            number: 1234,
            html_url: "https://acme.pagerduty.com/incidents/PINC001".into()
        }
    );
    let seen = &fake.requests()[0];
    assert_eq!(seen.path, "/incidents");
    assert_eq!(
        seen.body,
        Some(json!({"incident": {
            "type": "incident",
            "title": "Site down",
            "service": {"id": "PSVC001", "type": "service_reference"},
            "urgency": "high",
            "assignments": [{"assignee": {"id": "PUSER1", "type": "user_reference"}}],
            "body": {"type": "incident_body", "details": "Paged by @ada in #ops: the site is down"}
        }}))
    );
}

#[tokio::test]
async fn create_incident_truncates_a_long_title_on_a_char_boundary() {
    let (base, fake) = fake(|_, _| incident_answer()).await;
    let long = "é".repeat(MAX_TITLE_CHARS + 500);
    client(&base)
        .create_incident(&new_incident(&long))
        .await
        .unwrap();

    let body = fake.requests()[0].body.clone().unwrap_or_default();
    let title = body["incident"]["title"].as_str().unwrap_or_default();
    assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
    assert!(title.chars().all(|c| c == 'é'));
}

#[tokio::test]
async fn request_responders_sends_one_request_for_all_targets() {
    let (base, fake) = fake(|_, _| {
        ok(json!({"responder_request": {"message": "help", "responder_request_targets": []}}))
    })
    .await;

    client(&base)
        .request_responders(
            "PINC001",
            &UserId("PBOT".into()),
            &[UserId("PA".into()), UserId("PB".into())],
            "Please join #inc-1234",
        )
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/incidents/PINC001/responder_requests");
    assert_eq!(seen.header("from"), Some("icbot@example.com"));
    assert_eq!(
        seen.body,
        Some(json!({
            "requester_id": "PBOT",
            "message": "Please join #inc-1234",
            "responder_request_targets": [
                {"responder_request_target": {"id": "PA", "type": "user_reference"}},
                {"responder_request_target": {"id": "PB", "type": "user_reference"}}
            ]
        }))
    );
}

#[tokio::test]
async fn request_responders_without_targets_asks_nothing() {
    let (base, fake) = fake(|_, _| ok(json!({}))).await;
    let result = client(&base)
        .request_responders("PINC001", &UserId("PBOT".into()), &[], "hi")
        .await;
    assert_eq!(result, Ok(()));
    assert!(fake.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// Errors

fn too_many() -> Answer {
    Answer(
        StatusCode::TOO_MANY_REQUESTS,
        vec![("ratelimit-reset", "0")],
        json!({"error": {"message": "Rate Limit Exceeded", "code": 2020}}).to_string(),
    )
}

#[tokio::test]
async fn rate_limit_is_retried_then_succeeds() {
    let (base, fake) = fake(|n, _| {
        if n < 2 {
            too_many()
        } else {
            ok(json!({"user": user_json("P1", json!([]))}))
        }
    })
    .await;
    let person = client(&base).user(&UserId("P1".into())).await.unwrap();
    assert_eq!(person.id, UserId("P1".into()));
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn endless_rate_limit_gives_up_after_the_retries() {
    let (base, fake) = fake(|_, _| too_many()).await;
    let result = client(&base).create_incident(&new_incident("x")).await;
    assert_eq!(
        result,
        Err(PagerDutyError::RateLimited {
            retry_after: Some(Duration::ZERO)
        })
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn error_status_is_rejected_with_pagerduty_message() {
    let (base, _fake) = fake(|_, _| {
        Answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            vec![],
            json!({"error": {"message": "Internal Error", "code": 2000, "errors": ["try again"]}})
                .to_string(),
        )
    })
    .await;
    let result = client(&base).find_users("ada").await;
    assert_eq!(
        result,
        Err(PagerDutyError::Rejected {
            status: 500,
            message: "Internal Error: try again".into()
        })
    );
}

#[tokio::test]
async fn not_found_without_a_body_is_rejected_with_the_status_text() {
    let (base, _fake) = fake(|_, _| Answer(StatusCode::NOT_FOUND, vec![], String::new())).await;
    let result = client(&base).user(&UserId("PNOPE".into())).await;
    assert_eq!(
        result,
        Err(PagerDutyError::Rejected {
            status: 404,
            message: "Not Found".into()
        })
    );
}

#[tokio::test]
async fn invalid_json_is_malformed() {
    let (base, _fake) = fake(|_, _| Answer(StatusCode::OK, vec![], "{\"oncalls\": [".into())).await;
    let result = client(&base).on_calls(&["PSCHED1".into()]).await;
    assert!(
        matches!(result, Err(PagerDutyError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn wrong_json_shape_is_malformed() {
    let (base, _fake) =
        fake(|_, _| Answer(StatusCode::CREATED, vec![], "{\"ok\": true}".into())).await;
    let result = client(&base).create_incident(&new_incident("x")).await;
    assert!(
        matches!(result, Err(PagerDutyError::Malformed(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Bound but never accepting: the kernel completes the connection, nobody ever answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let mut config = config(&base);
    config.request_timeout = Duration::from_millis(200);
    let client = PagerDutyClient::new(config).unwrap();

    let result = client.user(&UserId("P1".into())).await;

    assert_eq!(result, Err(PagerDutyError::Timeout));
    drop(silent);
}

#[tokio::test]
async fn refused_connection_is_a_transport_error_without_secrets() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let result = client(&format!("http://127.0.0.1:{port}"))
        .user(&UserId("P1".into()))
        .await;

    match result {
        Err(PagerDutyError::Transport(text)) => {
            assert!(!text.contains(TOKEN), "{text}");
            assert!(!text.contains("127.0.0.1"), "{text}");
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Construction

#[test]
fn debug_never_shows_the_token() {
    let config = config("http://127.0.0.1:9");
    let client = PagerDutyClient::new(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}

#[tokio::test]
async fn base_url_may_end_with_a_slash() {
    let (base, fake) = fake(|_, _| ok(json!({"user": user_json("P1", json!([]))}))).await;
    client(&format!("{base}/"))
        .user(&UserId("P1".into()))
        .await
        .unwrap();
    assert_eq!(fake.requests()[0].path, "/users/P1");
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    for base in [
        "api.pagerduty.com",
        "mailto:ops@example.com",
        "ftp://example.com",
    ] {
        let result = PagerDutyClient::new(config(base));
        assert!(
            matches!(result, Err(PagerDutyError::Transport(_))),
            "{base}"
        );
    }
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
    let mut config = config("http://127.0.0.1:9");
    config.token = SecretString::from("bad\ntoken-s3cr3t");
    match PagerDutyClient::new(config) {
        Err(PagerDutyError::Transport(text)) => assert!(!text.contains("s3cr3t"), "{text}"),
        other => panic!("expected Transport, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Idempotent creates, against the bundled stub (it answers a repeated key as PagerDuty does)

#[tokio::test]
async fn a_create_with_the_key_of_an_open_incident_is_already_open_with_its_link() {
    let stub = crate::stub::StubServer::start(
        "127.0.0.1:0",
        crate::stub::StubData::demo(),
        crate::stub::Fault::None,
    )
    .await
    .unwrap();
    let client = client(&stub.url());
    let keyed = |key: &str| NewIncident {
        incident_key: Some(key.into()),
        assignee: UserId("PUSR001".into()),
        ..new_incident("Checkout down")
    };
    let first = client.create_incident(&keyed("icbot-abc-1")).await.unwrap();
    assert_eq!(
        client.find_incident("icbot-abc-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(client.find_incident("icbot-none").await.unwrap(), None);
    let retried = client.create_incident(&keyed("icbot-abc-1")).await;
    assert_eq!(
        retried,
        Err(PagerDutyError::AlreadyOpen {
            incident: Some(first.clone())
        }),
        "a retried create finds the first incident"
    );
    assert_eq!(stub.pages().incidents.len(), 1, "no second incident");
    assert_eq!(stub.pages().incidents[0]["incident_key"], "icbot-abc-1");
    let other = client.create_incident(&keyed("icbot-abc-2")).await.unwrap();
    assert_ne!(other.id, first.id, "another key is another incident");
    stub.shutdown().await;
}

#[tokio::test]
async fn pagerdutys_answer_to_an_open_key_maps_to_already_open_even_without_the_incident() {
    // PagerDuty's own body for it; the lookup by key finds nothing here.
    let (base, fake) = fake(|_, seen| {
        if seen.method == Method::POST {
            Answer(
                StatusCode::BAD_REQUEST,
                vec![],
                json!({"error": {"message": "Arguments Caused Error", "code": 2002,
                    "errors": ["Open incident with matching dedup key already exists on this service"]}})
                .to_string(),
            )
        } else {
            ok(json!({"incidents": [], "limit": 25, "offset": 0, "more": false}))
        }
    })
    .await;
    let mut keyed = new_incident("Site down");
    keyed.incident_key = Some("icbot-k".into());
    assert_eq!(
        client(&base).create_incident(&keyed).await,
        Err(PagerDutyError::AlreadyOpen { incident: None })
    );
    let lookup = &fake.requests()[1];
    assert_eq!(lookup.path, "/incidents");
    assert_eq!(lookup.query_value("incident_key"), Some("icbot-k"));
    // Without a key the same answer is an ordinary rejection.
    assert!(matches!(
        client(&base)
            .create_incident(&new_incident("Site down"))
            .await,
        Err(PagerDutyError::Rejected { status: 400, .. })
    ));
}

// ---------------------------------------------------------------------------------------------------------
// After the page: listing, status changes, notes

fn listed_incident(id: &str, number: u64, status: &str) -> Value {
    json!({"id": id, "incident_number": number, "title": "db down", "status": status,
           "html_url": format!("https://pd/{id}"), "created_at": "2026-11-29T19:00:00Z",
           "assignments": [{"assignee": {"id": "P1", "summary": "Ada"}}], "acknowledgements": []})
}

#[tokio::test]
async fn open_incidents_ask_for_open_statuses_on_the_service_and_follow_pages() {
    let (base, fake) = fake(|n, _| match n {
        0 => ok(json!({"incidents": [listed_incident("Q1", 1, "triggered")], "more": true})),
        _ => ok(json!({"incidents": [listed_incident("Q2", 2, "acknowledged"), {"odd": true}], "more": false})),
    })
    .await;
    let open = client(&base).open_incidents().await.unwrap();
    assert_eq!(open.len(), 2, "the odd entry is skipped");
    assert_eq!(open[1].status, IncidentStatus::Acknowledged);
    let seen = fake.requests();
    assert_eq!(seen[0].path, "/incidents");
    assert_eq!(
        seen[0].query_values("statuses[]"),
        vec!["triggered", "acknowledged"]
    );
    assert_eq!(seen[0].query_values("service_ids[]"), vec!["PSVC001"]);
    assert_eq!(seen[1].query_value("offset"), Some("1"));
    assert!(seen[0].header("from").is_none(), "a read");
}

#[tokio::test]
async fn a_status_change_is_a_put_as_the_acting_user() {
    let (base, fake) =
        fake(|_, _| ok(json!({"incident": listed_incident("Q1", 1, "resolved")}))).await;
    let state = client(&base)
        .set_incident_status(
            "Q1",
            IncidentStatus::Resolved,
            Some("rolled back"),
            Some("ada@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(state.status, IncidentStatus::Resolved);
    let seen = &fake.requests()[0];
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.path, "/incidents/Q1");
    assert_eq!(seen.header("from"), Some("ada@example.com"));
    assert_eq!(
        seen.body,
        Some(
            json!({"incident": {"type": "incident_reference", "status": "resolved", "resolution": "rolled back"}})
        )
    );
}

#[tokio::test]
async fn a_note_is_posted_as_the_bot_when_nobody_matches() {
    let (base, fake) =
        fake(|_, _| Answer(StatusCode::CREATED, vec![], json!({"note": {}}).to_string())).await;
    client(&base)
        .add_note("Q1", "failover done", None)
        .await
        .unwrap();
    let seen = &fake.requests()[0];
    assert_eq!(seen.path, "/incidents/Q1/notes");
    assert_eq!(seen.header("from"), Some("icbot@example.com"));
    assert_eq!(
        seen.body,
        Some(json!({"note": {"content": "failover done"}}))
    );
}

fn error(status: StatusCode, message: &str, errors: &[&str]) -> Answer {
    Answer(
        status,
        vec![],
        json!({"error": {"message": message, "code": 2001, "errors": errors}}).to_string(),
    )
}

#[tokio::test]
async fn incident_write_errors_are_told_apart() {
    let cases = [
        (
            error(
                StatusCode::BAD_REQUEST,
                "Invalid Input Provided",
                &["Incident Already Resolved"],
            ),
            PagerDutyError::AlreadyResolved,
        ),
        (
            error(StatusCode::NOT_FOUND, "Not Found", &[]),
            PagerDutyError::NotFound,
        ),
        (
            error(StatusCode::FORBIDDEN, "Access Denied", &[]),
            PagerDutyError::Forbidden {
                message: "Access Denied".into(),
            },
        ),
    ];
    for (answer, expected) in cases {
        let answer = Arc::new(Mutex::new(Some(answer)));
        let (base, _fake) =
            fake(move |_, _| answer.lock().unwrap().take().expect("one request")).await;
        let result = client(&base)
            .set_incident_status("Q1", IncidentStatus::Acknowledged, None, None)
            .await;
        assert_eq!(result, Err(expected));
    }
}
