//! The PagerDuty REST API v2 routes of the stub: on-calls, users, contact methods, schedules, incidents and
//! responder requests, schedule overrides (which `/oncalls` then answers), with PagerDuty's authentication, pagination and error bodies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::data::{
    render_time, rfc3339, StubContact, StubData, StubOnCall, StubSchedule, StubUser,
};
use super::StubState;

/// The PagerDuty routes, behind the credentials check.
pub(super) fn router() -> Router<Arc<StubState>> {
    Router::new()
        .route("/oncalls", get(list_oncalls))
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/contact_methods", get(list_contact_methods))
        .route("/schedules", get(list_schedules))
        .route(
            "/schedules/{id}/overrides",
            post(create_override).get(list_overrides),
        )
        .route(
            "/schedules/{id}/overrides/{override_id}",
            delete(delete_override),
        )
        .route("/incidents", post(create_incident).get(list_incidents))
        .route(
            "/incidents/{id}/responder_requests",
            post(create_responder_request),
        )
        .route("/incidents/{id}", put(update_incident))
        .route("/incidents/{id}/notes", post(add_note))
        .route_layer(middleware::from_fn(require_credentials))
}

/// A PagerDuty error response: `{"error": {"message", "code", "errors"}}`.
pub(super) fn pd_error(status: StatusCode, code: u32, message: &str, errors: &[&str]) -> Response {
    let body = json!({ "error": { "message": message, "code": code, "errors": errors } });
    (status, Json(body)).into_response()
}

/// A PagerDuty error answer, for handlers to return with `?`.
#[derive(Debug)]
pub(super) struct PdError {
    status: StatusCode,
    code: u32,
    message: &'static str,
    detail: String,
}

impl IntoResponse for PdError {
    fn into_response(self) -> Response {
        pd_error(self.status, self.code, self.message, &[&self.detail])
    }
}

/// 400 "Invalid Input Provided" (code 2001) with one detail.
fn invalid(detail: impl Into<String>) -> PdError {
    PdError {
        status: StatusCode::BAD_REQUEST,
        code: 2001,
        message: "Invalid Input Provided",
        detail: detail.into(),
    }
}

/// 403 "Access Denied" (code 2010): a read-only user.
fn forbidden(detail: impl Into<String>) -> PdError {
    PdError {
        status: StatusCode::FORBIDDEN,
        code: 2010,
        message: "Access Denied",
        detail: detail.into(),
    }
}

/// 404 "Not Found" (code 2100).
fn not_found(detail: impl Into<String>) -> PdError {
    PdError {
        status: StatusCode::NOT_FOUND,
        code: 2100,
        message: "Not Found",
        detail: detail.into(),
    }
}

/// `Authorization: Token token=<non-empty>` on every request; `From: <email>` on writes.
async fn require_credentials(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Token token="))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        tracing::info!(path = %request.uri().path(), "stub rejected a request without an API token");
        return pd_error(
            StatusCode::UNAUTHORIZED,
            2006,
            "Invalid Credentials",
            &["Expected an `Authorization: Token token=<key>` header."],
        );
    }
    let writes = request.method() == Method::POST || request.method() == Method::PUT;
    if writes && from_email(headers).is_none() {
        tracing::info!(path = %request.uri().path(), "stub rejected a write without a From header");
        return invalid("A `From` header with the email address of a valid user is required.")
            .into_response();
    }
    next.run(request).await
}

fn from_email(headers: &HeaderMap) -> Option<String> {
    let from = headers.get("from")?.to_str().ok()?.trim();
    from.contains('@').then(|| from.to_owned())
}

/// A write's `From` header, the email of the user it acts as (empty when missing or not an email: the
/// authentication layer has answered such writes already).
struct WriteFrom(String);

impl<S: Send + Sync> FromRequestParts<S> for WriteFrom {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(WriteFrom(from_email(&parts.headers).unwrap_or_default()))
    }
}

/// The query string as decoded pairs; `key[]` and `key` are the same key.
struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn parse(raw: Option<&str>) -> QueryParams {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.trim_end_matches("[]").to_owned(), v.into_owned()))
            .collect();
        QueryParams(pairs)
    }

    fn all(&self, key: &'static str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn one(&self, key: &'static str) -> Option<&str> {
        self.all(key).next()
    }

    fn includes(&self, what: &str) -> bool {
        self.all("include").any(|v| v == what)
    }

    /// `limit` (default 25, clamped to 1..=100), `offset` (default 0) and `total` (default false).
    fn page(&self) -> Result<Page, PdError> {
        let number = |key: &'static str, default: usize| match self.one(key) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| invalid(format!("`{key}` must be a non-negative integer"))),
        };
        Ok(Page {
            limit: number("limit", 25)?.clamp(1, 100),
            offset: number("offset", 0)?,
            total: self.one("total") == Some("true"),
        })
    }
}

/// Classic PagerDuty pagination.
struct Page {
    limit: usize,
    offset: usize,
    total: bool,
}

impl Page {
    /// This page of `items`, and the pagination fields to merge into the response.
    fn cut<T>(&self, items: Vec<T>) -> (Vec<T>, serde_json::Map<String, Value>) {
        let count = items.len();
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        let more = self.offset.saturating_add(page.len()) < count;
        let mut fields = serde_json::Map::new();
        fields.insert("limit".into(), self.limit.into());
        fields.insert("offset".into(), self.offset.into());
        fields.insert("more".into(), more.into());
        fields.insert(
            "total".into(),
            if self.total {
                count.into()
            } else {
                Value::Null
            },
        );
        (page, fields)
    }
}

fn paginated(key: &str, items: Vec<Value>, mut fields: serde_json::Map<String, Value>) -> Response {
    fields.insert(key.into(), Value::Array(items));
    Json(Value::Object(fields)).into_response()
}

/// JSON renderings of the stub's records, with `self` and `html_url` pointing at the stub.
struct Render<'a> {
    base: &'a str,
}

impl Render<'_> {
    fn user_ref(&self, id: &str, name: &str) -> Value {
        json!({
            "id": id, "type": "user_reference", "summary": name,
            "self": format!("{}/users/{id}", self.base), "html_url": format!("{}/users/{id}", self.base),
        })
    }

    fn user(&self, user: &StubUser, full_contacts: bool) -> Value {
        let contact_methods: Vec<Value> = user
            .contact_methods
            .iter()
            .map(|c| {
                if full_contacts {
                    self.contact(&user.id, c)
                } else {
                    self.contact_ref(&user.id, c)
                }
            })
            .collect();
        json!({
            "id": user.id, "type": "user", "summary": user.name, "name": user.name, "email": user.email,
            "time_zone": "Etc/UTC", "color": "purple", "role": "user", "description": "", "job_title": "",
            "invitation_sent": false,
            "self": format!("{}/users/{}", self.base, user.id),
            "html_url": format!("{}/users/{}", self.base, user.id),
            "contact_methods": contact_methods, "notification_rules": [], "teams": [],
        })
    }

    fn contact_ref(&self, user_id: &str, contact: &StubContact) -> Value {
        json!({
            "id": contact.id, "type": format!("{}_reference", contact.kind.type_name()), "summary": contact.label,
            "self": format!("{}/users/{user_id}/contact_methods/{}", self.base, contact.id), "html_url": null,
        })
    }

    fn contact(&self, user_id: &str, contact: &StubContact) -> Value {
        let mut value = json!({
            "id": contact.id, "type": contact.kind.type_name(), "summary": contact.label, "label": contact.label,
            "address": contact.address, "blacklisted": false,
            "self": format!("{}/users/{user_id}/contact_methods/{}", self.base, contact.id), "html_url": null,
        });
        if let (Some(code), Some(object)) = (contact.country_code, value.as_object_mut()) {
            object.insert("country_code".into(), code.into());
        }
        value
    }

    fn schedule_ref(&self, schedule: &StubSchedule) -> Value {
        json!({
            "id": schedule.id, "type": "schedule_reference", "summary": schedule.name,
            "self": format!("{}/schedules/{}", self.base, schedule.id),
            "html_url": format!("{}/schedules/{}", self.base, schedule.id),
        })
    }

    fn policy_ref(&self, schedule: &StubSchedule) -> Value {
        let policy = schedule.policy();
        json!({
            "id": policy.id, "type": "escalation_policy_reference", "summary": policy.name,
            "self": format!("{}/escalation_policies/{}", self.base, policy.id),
            "html_url": format!("{}/escalation_policies/{}", self.base, policy.id),
        })
    }

    fn incident(&self, i: &IncidentRecord) -> Value {
        let (id, number, now) = (&i.id, i.number, &i.created_at);
        let assignments: Vec<Value> = i
            .assignee
            .iter()
            .filter(|_| i.status != "resolved")
            .map(|(id, name)| json!({ "at": now, "assignee": self.user_ref(id, name) }))
            .collect();
        let acknowledgements: Vec<Value> = i
            .acknowledgers
            .iter()
            .filter(|_| i.status == "acknowledged")
            .map(
                |(id, name)| json!({ "at": i.updated_at, "acknowledger": self.user_ref(id, name) }),
            )
            .collect();
        json!({
            "id": id, "type": "incident", "summary": format!("[#{number}] {}", i.title),
            "self": format!("{}/incidents/{id}", self.base), "html_url": format!("{}/incidents/{id}", self.base),
            "incident_number": number, "title": i.title, "status": i.status, "urgency": i.urgency,
            "created_at": now, "updated_at": i.updated_at, "last_status_change_at": i.updated_at,
            "incident_key": i.incident_key, "assigned_via": "direct_assignment",
            "service": {
                "id": i.service_id, "type": "service_reference", "summary": i.service_name,
                "self": format!("{}/services/{}", self.base, i.service_id),
                "html_url": format!("{}/service-directory/{}", self.base, i.service_id),
            },
            "assignments": assignments, "acknowledgements": acknowledgements, "pending_actions": [], "teams": [],
            "resolved_at": i.resolved_at,
        })
    }

    fn incident_ref(&self, id: &str, number: u64, title: &str) -> Value {
        json!({
            "id": id, "type": "incident_reference", "summary": format!("[#{number}] {title}"),
            "self": format!("{}/incidents/{id}", self.base), "html_url": format!("{}/incidents/{id}", self.base),
        })
    }
}

/// `GET /oncalls?schedule_ids[]=..&include[]=users&limit=..&offset=..`
async fn list_oncalls(
    State(state): State<Arc<StubState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let query = QueryParams::parse(raw.as_deref());
    let page = query.page()?;
    let schedule_ids: Vec<&str> = query.all("schedule_ids").collect();
    let with_users = query.includes("users");
    let render = Render {
        base: &state.base_url,
    };
    let (entries, count, fields) = {
        let inner = state.lock();
        let now = std::time::SystemTime::now();
        let matching: Vec<_> = inner
            .data
            .schedules
            .iter()
            .filter(|s| schedule_ids.is_empty() || schedule_ids.contains(&s.id.as_str()))
            .flat_map(|schedule| {
                // An active override takes the schedule over, as in PagerDuty: its user is who is on call.
                let covering: Vec<StubOnCall> = inner
                    .overrides
                    .iter()
                    .filter(|o| o.schedule_id == schedule.id && o.start <= now && now < o.end)
                    .map(|o| StubOnCall {
                        user_id: o.user_id.clone(),
                        escalation_level: 1,
                        start: Some(rfc3339(o.start)),
                        end: Some(rfc3339(o.end)),
                    })
                    .collect();
                let on_call = if covering.is_empty() {
                    schedule.on_call.clone()
                } else {
                    covering
                };
                on_call.into_iter().map(move |on_call| (schedule, on_call))
            })
            .collect();
        let count = matching.len();
        // Only this page is rendered: a large data set costs one page's work per request, not all of it.
        let (page_of, fields) = page.cut(matching);
        let entries: Vec<Value> = page_of
            .into_iter()
            .map(|(schedule, on_call)| {
                let user = match inner.data.user(&on_call.user_id) {
                    Some(user) if with_users => render.user(user, false),
                    Some(user) => render.user_ref(&user.id, &user.name),
                    None => render.user_ref(&on_call.user_id, &on_call.user_id),
                };
                let start = on_call.start.as_deref().unwrap_or("now");
                json!({
                    "user": user,
                    "schedule": render.schedule_ref(schedule),
                    "escalation_policy": render.policy_ref(schedule),
                    "escalation_level": on_call.escalation_level,
                    "start": render_time(start, state.started),
                    "end": on_call.end.as_deref().map(|end| render_time(end, state.started)),
                })
            })
            .collect();
        (entries, count, fields)
    };
    tracing::debug!(schedules = ?schedule_ids, with_users, count, offset = page.offset, limit = page.limit, "stub oncalls");
    Ok(paginated("oncalls", entries, fields))
}

/// `GET /users?query=..&include[]=contact_methods&limit=..&offset=..`: case-insensitive substring of name or
/// email; without `query`, every user (a page of the whole list).
async fn list_users(
    State(state): State<Arc<StubState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let query = QueryParams::parse(raw.as_deref());
    let page = query.page()?;
    let needle = query.one("query").unwrap_or_default().to_lowercase();
    let full_contacts = query.includes("contact_methods");
    let render = Render {
        base: &state.base_url,
    };
    let (users, found, fields) = {
        let inner = state.lock();
        let matching: Vec<_> = inner
            .data
            .users
            .iter()
            .filter(|u| {
                needle.is_empty()
                    || u.name.to_lowercase().contains(&needle)
                    || u.email.to_lowercase().contains(&needle)
            })
            .collect();
        let found = matching.len();
        // Only this page is rendered, as for on-calls.
        let (page_of, fields) = page.cut(matching);
        let users: Vec<Value> = page_of
            .into_iter()
            .map(|u| render.user(u, full_contacts))
            .collect();
        (users, found, fields)
    };
    tracing::debug!(query = %needle, found, "stub users");
    Ok(paginated("users", users, fields))
}

/// `GET /users/{id}?include[]=contact_methods`
async fn get_user(
    State(state): State<Arc<StubState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let full_contacts = QueryParams::parse(raw.as_deref()).includes("contact_methods");
    let render = Render {
        base: &state.base_url,
    };
    let user = state
        .lock()
        .data
        .user(&id)
        .map(|u| render.user(u, full_contacts));
    tracing::debug!(user = %id, found = user.is_some(), "stub user");
    let user = user.ok_or_else(|| not_found(format!("No user with id {id}")))?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// `GET /users/{id}/contact_methods`
async fn list_contact_methods(
    State(state): State<Arc<StubState>>,
    Path(id): Path<String>,
) -> Result<Response, PdError> {
    let render = Render {
        base: &state.base_url,
    };
    let methods: Option<Vec<Value>> = state.lock().data.user(&id).map(|u| {
        u.contact_methods
            .iter()
            .map(|c| render.contact(&u.id, c))
            .collect()
    });
    tracing::debug!(user = %id, found = methods.is_some(), "stub contact methods");
    let methods = methods.ok_or_else(|| not_found(format!("No user with id {id}")))?;
    Ok(Json(json!({ "contact_methods": methods })).into_response())
}

/// `GET /schedules?query=..`
async fn list_schedules(
    State(state): State<Arc<StubState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let query = QueryParams::parse(raw.as_deref());
    let page = query.page()?;
    let needle = query.one("query").unwrap_or_default().to_lowercase();
    let render = Render {
        base: &state.base_url,
    };
    let schedules: Vec<Value> = {
        let inner = state.lock();
        inner
            .data
            .schedules
            .iter()
            .filter(|s| s.name.to_lowercase().contains(&needle))
            .map(|s| schedule_json(&render, &inner.data, s))
            .collect()
    };
    let (schedules, fields) = page.cut(schedules);
    Ok(paginated("schedules", schedules, fields))
}

fn schedule_json(render: &Render<'_>, data: &StubData, schedule: &StubSchedule) -> Value {
    let users: Vec<Value> = schedule
        .on_call
        .iter()
        .map(|o| {
            render.user_ref(
                &o.user_id,
                data.user(&o.user_id)
                    .map_or(o.user_id.as_str(), |u| u.name.as_str()),
            )
        })
        .collect();
    json!({
        "id": schedule.id, "type": "schedule", "summary": schedule.name, "name": schedule.name,
        "time_zone": "Etc/UTC", "description": "",
        "self": format!("{}/schedules/{}", render.base, schedule.id),
        "html_url": format!("{}/schedules/{}", render.base, schedule.id),
        "escalation_policies": [render.policy_ref(schedule)], "users": users, "teams": [],
    })
}

/// `{"id", "type"}` as PagerDuty references arrive in request bodies.
#[derive(Debug, Deserialize)]
struct Reference {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewIncident {
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    service: Option<Reference>,
    urgency: Option<String>,
    #[serde(default)]
    assignments: Vec<NewAssignment>,
    incident_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewAssignment {
    assignee: Option<Reference>,
}

/// Parses a JSON body, answering PagerDuty's 400 when it is not JSON.
fn json_body(body: &Bytes) -> Result<Value, PdError> {
    serde_json::from_slice(body)
        .map_err(|e| invalid(format!("The request body is not valid JSON: {e}")))
}

/// The object a JSON body wraps under `key` (`{"note": {...}}`), as PagerDuty's writes take it.
fn wrapped<T: serde::de::DeserializeOwned>(body: &Bytes, key: &str) -> Result<T, PdError> {
    let received = json_body(body)?.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(received).map_err(|e| {
        let article = if key.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        invalid(format!("The body must have {article} `{key}` object: {e}"))
    })
}

/// `POST /incidents` with one assignee.
async fn create_incident(
    State(state): State<Arc<StubState>>,
    WriteFrom(from): WriteFrom,
    body: Bytes,
) -> Result<Response, PdError> {
    let received = json_body(&body)?
        .get("incident")
        .cloned()
        .unwrap_or(Value::Null);
    if !received.is_object() {
        return Err(invalid(
            "The body must be an object with an `incident` object.",
        ));
    }
    let incident: NewIncident = match serde_json::from_value(received.clone()) {
        Ok(incident) => incident,
        Err(e) => return Err(invalid(format!("Malformed incident: {e}"))),
    };
    if incident.kind.as_deref() != Some("incident") {
        return Err(invalid("`incident.type` must be `incident`."));
    }
    let title = incident
        .title
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if title.is_empty() {
        return Err(invalid("Title cannot be empty."));
    }
    if incident.assignments.len() > 1 {
        return Err(invalid(
            "The stub accepts at most one assignee; add others with responder requests.",
        ));
    }
    let urgency = incident.urgency.clone().unwrap_or_else(|| "high".into());
    if urgency != "high" && urgency != "low" {
        return Err(invalid("`incident.urgency` must be `high` or `low`."));
    }
    let service_id = incident
        .service
        .as_ref()
        .and_then(|s| s.id.clone())
        .unwrap_or_default();
    let assignee_id = incident
        .assignments
        .first()
        .map(|a| a.assignee.as_ref().and_then(|r| r.id.clone()));

    let render = Render {
        base: &state.base_url,
    };
    let now = rfc3339(std::time::SystemTime::now());
    let stored = {
        let mut inner = state.lock();
        let Some(service) = inner.data.service(&service_id) else {
            tracing::info!(service = %service_id, "stub rejected an incident on an unknown service");
            return Err(invalid(format!("Service {service_id:?} not found.")));
        };
        let service_name = service.name.clone();
        let assignee = match &assignee_id {
            None => None,
            Some(id) => match id.as_deref().and_then(|id| inner.data.user(id)) {
                Some(user) => Some((user.id.clone(), user.name.clone())),
                None => {
                    tracing::info!(assignee = ?id, "stub rejected an incident for an unknown assignee");
                    return Err(invalid(format!(
                        "Assignee {:?} is not a known user.",
                        id.as_deref().unwrap_or("")
                    )));
                }
            },
        };
        // PagerDuty opens no second incident with the key of an open one on the same service.
        if let Some(key) = &incident.incident_key {
            let open = inner.incidents.iter().find(|i| {
                &i.incident_key == key && i.service_id == service_id && i.status != "resolved"
            });
            if let Some(open) = open {
                tracing::info!(incident = %open.id, incident_key = %key, "stub refused a second incident with the key of an open one");
                return Err(PdError {
                    status: StatusCode::BAD_REQUEST,
                    code: 2002,
                    message: "Arguments Caused Error",
                    detail: "Open incident with matching dedup key already exists on this service"
                        .into(),
                });
            }
        }
        inner.incident_count += 1;
        let number = inner.incident_count;
        let id = format!("Q{number:06}");
        let mut record = received;
        if let Some(object) = record.as_object_mut() {
            object.insert("id".into(), id.clone().into());
            object.insert("incident_number".into(), number.into());
            object.insert("from".into(), from.clone().into());
        }
        let stored = IncidentRecord {
            id: id.clone(),
            number,
            title: title.clone(),
            incident_key: incident
                .incident_key
                .clone()
                .unwrap_or_else(|| format!("stub-{id}")),
            status: "triggered".into(),
            urgency,
            service_id: service_id.clone(),
            service_name,
            assignee,
            responders: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            resolved_at: None,
            acknowledgers: Vec::new(),
        };
        inner.incidents.push(stored.clone());
        inner.pages.incidents.push(record);
        stored
    };
    tracing::info!(incident = %stored.id, number = stored.number, title = %stored.title, assignee = ?stored.assignee.as_ref().map(|a| &a.0), %from, "stub incident created");
    let response = json!({ "incident": render.incident(&stored) });
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// `GET /incidents?incident_key=..&statuses[]=..&service_ids[]=..`: the incidents created, filtered by each
/// parameter given, oldest first.
async fn list_incidents(
    State(state): State<Arc<StubState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let query = QueryParams::parse(raw.as_deref());
    let key = query.one("incident_key").map(str::to_owned);
    let statuses: Vec<&str> = query.all("statuses").collect();
    let services: Vec<&str> = query.all("service_ids").collect();
    let render = Render {
        base: &state.base_url,
    };
    let incidents: Vec<Value> = {
        let inner = state.lock();
        inner
            .incidents
            .iter()
            .filter(|i| key.as_ref().is_none_or(|k| &i.incident_key == k))
            .filter(|i| statuses.is_empty() || statuses.contains(&i.status.as_str()))
            .filter(|i| services.is_empty() || services.contains(&i.service_id.as_str()))
            .map(|i| render.incident(i))
            .collect()
    };
    let (items, fields) = query.page()?.cut(incidents);
    Ok(paginated("incidents", items, fields))
}

/// What the stub remembers of an incident it created.
#[derive(Debug, Clone)]
pub(super) struct IncidentRecord {
    pub(super) id: String,
    pub(super) number: u64,
    pub(super) title: String,
    /// The key it was created with, or `stub-<id>`.
    pub(super) incident_key: String,
    pub(super) status: String,
    pub(super) urgency: String,
    pub(super) service_id: String,
    pub(super) service_name: String,
    /// Id and name.
    pub(super) assignee: Option<(String, String)>,
    /// Names of the people asked to respond.
    pub(super) responders: Vec<String>,
    pub(super) created_at: String,
    /// Changed by every status change.
    pub(super) updated_at: String,
    pub(super) resolved_at: Option<String>,
    /// Id and name of each user who acknowledged it, in order.
    pub(super) acknowledgers: Vec<(String, String)>,
}

impl IncidentRecord {
    /// Moves the incident to `status` (acknowledged or resolved) as user `by` (id, name).
    pub(super) fn change_status(&mut self, status: &str, by: (String, String)) {
        let now = rfc3339(std::time::SystemTime::now());
        self.status = status.to_owned();
        self.updated_at = now.clone();
        match status {
            "acknowledged" if !self.acknowledgers.contains(&by) => self.acknowledgers.push(by),
            "resolved" => self.resolved_at = Some(now),
            _ => {}
        }
    }
}

/// The user a write's `From` names (id, name), the bot's reference when no user has that email. 403 for a
/// read-only user.
fn acting_user(inner: &super::StubInner, from: &str) -> Result<(String, String), PdError> {
    if inner.read_only.contains(&from.to_lowercase()) {
        tracing::info!(%from, "stub refused an incident write by a read-only user");
        return Err(forbidden(format!(
            "User {from} does not have permission to change incidents."
        )));
    }
    Ok(inner
        .data
        .users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(from))
        .map(|u| (u.id.clone(), u.name.clone()))
        .unwrap_or_else(|| (from.to_owned(), from.to_owned())))
}

#[derive(Debug, Deserialize)]
struct IncidentChange {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    resolution: Option<String>,
}

/// `PUT /incidents/{id}`: acknowledge or resolve, as the `From` user.
async fn update_incident(
    State(state): State<Arc<StubState>>,
    Path(incident_id): Path<String>,
    WriteFrom(from): WriteFrom,
    body: Bytes,
) -> Result<Response, PdError> {
    let change: IncidentChange = wrapped(&body, "incident")?;
    if !matches!(
        change.kind.as_deref(),
        Some("incident_reference") | Some("incident")
    ) {
        return Err(invalid("`incident.type` must be `incident_reference`."));
    }
    let status = change.status.clone().unwrap_or_default();
    if status != "acknowledged" && status != "resolved" {
        return Err(invalid(
            "`incident.status` must be `acknowledged` or `resolved`.",
        ));
    }
    let render = Render {
        base: &state.base_url,
    };
    let updated = {
        let mut inner = state.lock();
        let by = acting_user(&inner, &from)?;
        let Some(incident) = inner.incidents.iter_mut().find(|i| i.id == incident_id) else {
            return Err(not_found(format!("Incident {incident_id} not found.")));
        };
        if incident.status == "resolved" {
            tracing::info!(incident = %incident_id, "stub refused a change to a resolved incident");
            return Err(invalid("Incident Already Resolved"));
        }
        incident.change_status(&status, by);
        let updated = incident.clone();
        inner.pages.status_changes.push(json!({
            "incident_id": incident_id, "status": status, "resolution": change.resolution, "from": from,
        }));
        updated
    };
    tracing::info!(incident = %incident_id, %status, %from, "stub incident status changed");
    Ok(Json(json!({ "incident": render.incident(&updated) })).into_response())
}

/// A schedule override the stub holds: `user_id` on call in `schedule_id` from `start` to `end`.
#[derive(Debug, Clone)]
pub(super) struct StubOverride {
    pub(super) id: String,
    pub(super) schedule_id: String,
    pub(super) user_id: String,
    pub(super) start: std::time::SystemTime,
    pub(super) end: std::time::SystemTime,
}

/// `POST /schedules/{id}/overrides` `{"overrides": [{start, end, user: {id, type}, time_zone}]}`: answers
/// `201` with `[{"status": 201, "override": {id, start, end, user}}]`, one per override.
async fn create_override(
    State(state): State<Arc<StubState>>,
    Path(schedule_id): Path<String>,
    body: Bytes,
) -> Result<Response, PdError> {
    let received = json_body(&body)?;
    let Some(items) = received.get("overrides").and_then(|o| o.as_array()) else {
        return Err(invalid("The body must have an `overrides` array."));
    };
    let render = Render {
        base: &state.base_url,
    };
    let mut answers = Vec::new();
    let mut inner = state.lock();
    let Some(schedule_name) = inner
        .data
        .schedules
        .iter()
        .find(|s| s.id == schedule_id)
        .map(|s| s.name.clone())
    else {
        return Err(not_found(format!("Schedule {schedule_id} not found.")));
    };
    for item in items {
        let time = |key: &str| {
            item.get(key)
                .and_then(|v| v.as_str())
                .and_then(icbot_actors::utc::parse_rfc3339)
        };
        let user_id = item
            .get("user")
            .filter(|u| u.get("type").and_then(|t| t.as_str()) == Some("user_reference"))
            .and_then(|u| u.get("id"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let (Some(start), Some(end)) = (time("start"), time("end")) else {
            answers.push(
                json!({ "status": 400, "errors": ["Override start and end must be times."] }),
            );
            continue;
        };
        if end <= start {
            answers
                .push(json!({ "status": 400, "errors": ["Override must end after it starts."] }));
            continue;
        }
        let Some(user) = inner.data.user(&user_id).cloned() else {
            answers.push(json!({ "status": 400, "errors": ["User not found."] }));
            continue;
        };
        inner.override_count += 1;
        let made = StubOverride {
            id: format!("PO{:05}", inner.override_count),
            schedule_id: schedule_id.clone(),
            user_id: user.id.clone(),
            start,
            end,
        };
        tracing::info!(schedule = %schedule_id, schedule_name = %schedule_name, user = %user.id, override_id = %made.id, "stub override made");
        answers.push(json!({ "status": 201, "override": {
            "id": made.id, "start": rfc3339(start), "end": rfc3339(end),
            "user": render.user_ref(&user.id, &user.name),
        }}));
        inner.overrides.push(made);
    }
    Ok((StatusCode::CREATED, Json(Value::Array(answers))).into_response())
}

/// `GET /schedules/{id}/overrides?since=..&until=..`: `{"overrides": [{id, start, end, user}]}`, those in
/// force at some time in the window (all held when a bound is missing).
async fn list_overrides(
    State(state): State<Arc<StubState>>,
    Path(schedule_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PdError> {
    let query = QueryParams::parse(raw.as_deref());
    let bound = |key: &'static str| query.one(key).and_then(icbot_actors::utc::parse_rfc3339);
    let (since, until) = (bound("since"), bound("until"));
    let render = Render {
        base: &state.base_url,
    };
    let inner = state.lock();
    let listed: Vec<Value> = inner
        .overrides
        .iter()
        .filter(|o| o.schedule_id == schedule_id)
        .filter(|o| since.is_none_or(|s| o.end > s) && until.is_none_or(|u| o.start < u))
        .map(|o| {
            let name = inner
                .data
                .user(&o.user_id)
                .map_or(o.user_id.clone(), |u| u.name.clone());
            json!({ "id": o.id, "start": rfc3339(o.start), "end": rfc3339(o.end),
                    "user": render.user_ref(&o.user_id, &name) })
        })
        .collect();
    Ok(Json(json!({ "overrides": listed })).into_response())
}

/// `DELETE /schedules/{id}/overrides/{override_id}`: `204`, or `404` for an override not held.
async fn delete_override(
    State(state): State<Arc<StubState>>,
    Path((schedule_id, override_id)): Path<(String, String)>,
) -> Result<Response, PdError> {
    let mut inner = state.lock();
    let before = inner.overrides.len();
    inner
        .overrides
        .retain(|o| !(o.schedule_id == schedule_id && o.id == override_id));
    if inner.overrides.len() == before {
        return Err(not_found(format!("Override {override_id} not found.")));
    }
    tracing::info!(schedule = %schedule_id, override_id = %override_id, "stub override deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct NoteBody {
    content: Option<String>,
}

/// `POST /incidents/{id}/notes`
async fn add_note(
    State(state): State<Arc<StubState>>,
    Path(incident_id): Path<String>,
    WriteFrom(from): WriteFrom,
    body: Bytes,
) -> Result<Response, PdError> {
    let note: NoteBody = wrapped(&body, "note")?;
    let content = note.content.unwrap_or_default();
    if content.trim().is_empty() {
        return Err(invalid("Note content cannot be empty."));
    }
    let render = Render {
        base: &state.base_url,
    };
    let now = rfc3339(std::time::SystemTime::now());
    let user = {
        let mut inner = state.lock();
        let by = acting_user(&inner, &from)?;
        if !inner.incidents.iter().any(|i| i.id == incident_id) {
            return Err(not_found(format!("Incident {incident_id} not found.")));
        }
        inner
            .pages
            .notes
            .push(json!({ "incident_id": incident_id, "content": content, "from": from }));
        by
    };
    tracing::info!(incident = %incident_id, %from, "stub note added");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "note": {
            "id": format!("N{}", now.len()), "user": render.user_ref(&user.0, &user.1),
            "content": content, "created_at": now,
        }})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct NewResponderRequest {
    requester_id: Option<String>,
    message: Option<String>,
    #[serde(default)]
    responder_request_targets: Vec<NewTarget>,
}

#[derive(Debug, Deserialize)]
struct NewTarget {
    responder_request_target: Option<Reference>,
}

/// `POST /incidents/{id}/responder_requests`
async fn create_responder_request(
    State(state): State<Arc<StubState>>,
    Path(incident_id): Path<String>,
    WriteFrom(from): WriteFrom,
    body: Bytes,
) -> Result<Response, PdError> {
    let received = json_body(&body)?;
    if !received.is_object() {
        return Err(invalid("The body must be a JSON object."));
    }
    let request: NewResponderRequest = match serde_json::from_value(received.clone()) {
        Ok(request) => request,
        Err(e) => return Err(invalid(format!("Malformed responder request: {e}"))),
    };
    let render = Render {
        base: &state.base_url,
    };
    let now = rfc3339(std::time::SystemTime::now());
    let message = request.message.clone().unwrap_or_default();
    let (incident, requester, targets) = {
        let mut inner = state.lock();
        let Some(incident) = inner
            .incidents
            .iter()
            .find(|i| i.id == incident_id)
            .cloned()
        else {
            tracing::info!(incident = %incident_id, "stub: responder request for an unknown incident");
            return Err(not_found(format!("Incident {incident_id} not found.")));
        };
        let requester_id = request.requester_id.as_deref().unwrap_or_default();
        let Some(requester) = inner
            .data
            .user(requester_id)
            .map(|u| (u.id.clone(), u.name.clone()))
        else {
            tracing::info!(requester = %requester_id, "stub: responder request from an unknown requester");
            return Err(invalid(format!(
                "Requester {requester_id:?} is not a known user."
            )));
        };
        if request.responder_request_targets.is_empty() {
            return Err(invalid("`responder_request_targets` cannot be empty."));
        }
        let mut targets = Vec::new();
        for target in &request.responder_request_targets {
            let reference = target.responder_request_target.as_ref();
            let id = reference.and_then(|r| r.id.as_deref()).unwrap_or_default();
            match reference.and_then(|r| r.kind.as_deref()) {
                Some("user_reference") | Some("user") => match inner.data.user(id) {
                    Some(user) => targets.push(("user", user.id.clone(), user.name.clone())),
                    None => {
                        return Err(invalid(format!(
                            "Responder request target {id:?} is not a known user."
                        )))
                    }
                },
                Some("escalation_policy_reference") | Some("escalation_policy")
                    if !id.is_empty() =>
                {
                    targets.push(("escalation_policy", id.to_owned(), id.to_owned()))
                }
                _ => {
                    return Err(invalid(
                        "Each target needs an `id` and a `type` of `user_reference`.",
                    ))
                }
            }
        }
        let mut record = json!({ "incident_id": incident_id, "from": from });
        if let (Some(object), Value::Object(body)) = (record.as_object_mut(), received) {
            object.extend(body);
        }
        inner.pages.responder_requests.push(record);
        if let Some(stored) = inner.incidents.iter_mut().find(|i| i.id == incident_id) {
            stored.responders.extend(
                targets
                    .iter()
                    .filter(|(kind, ..)| *kind == "user")
                    .map(|(_, _, name)| name.clone()),
            );
        }
        (incident, requester, targets)
    };
    tracing::info!(incident = %incident.id, requester = %requester.0, targets = targets.len(), %from, "stub responder request");

    let incident_ref = render.incident_ref(&incident.id, incident.number, &incident.title);
    let requester_ref = render.user_ref(&requester.0, &requester.1);
    let targets: Vec<Value> = targets
        .iter()
        .map(|(kind, id, name)| {
            let responder = if *kind == "user" { render.user_ref(id, name) } else { Value::Null };
            json!({ "responder_request_target": {
                "type": kind, "id": id, "summary": name,
                "incident_responders": [{
                    "state": "pending", "user": responder, "incident": incident_ref,
                    "updated_at": now, "message": message, "requester": requester_ref, "requested_at": now,
                }],
            }})
        })
        .collect();
    Ok(Json(json!({ "responder_request": {
        "incident": incident_ref, "requester": requester_ref, "requested_at": now,
        "message": message, "responder_request_targets": targets,
    }}))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{client, demo_stub, get, post};
    use super::super::{Fault, StubHandle, StubOnCall, StubSchedule, StubServer, StubUser};
    use super::*;

    async fn json_of(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// 250 people on call in `PBIG`, 3 in `PSMALL`.
    async fn crowded_stub() -> StubHandle {
        let users: Vec<StubUser> = (0..253)
            .map(|n| StubUser {
                id: format!("PU{n:05}"),
                name: format!("Person {n}"),
                email: format!("person{n}@example.com"),
                contact_methods: Vec::new(),
            })
            .collect();
        let on_call = |range: std::ops::Range<usize>| -> Vec<StubOnCall> {
            range
                .map(|n| StubOnCall {
                    user_id: format!("PU{n:05}"),
                    escalation_level: 1,
                    start: None,
                    end: None,
                })
                .collect()
        };
        let schedule = |id: &str, on_call| StubSchedule {
            id: id.into(),
            name: id.into(),
            escalation_policy: None,
            on_call,
        };
        let data = StubData {
            users,
            schedules: vec![
                schedule("PBIG", on_call(0..250)),
                schedule("PSMALL", on_call(250..253)),
            ],
            ..StubData::default()
        };
        StubServer::start("127.0.0.1:0", data, Fault::None)
            .await
            .unwrap()
    }

    fn user_ids(oncalls: &Value) -> Vec<&str> {
        oncalls["oncalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["user"]["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn requests_without_a_token_get_401() {
        let stub = demo_stub().await;
        let (status, body) = json_of(client().get(format!("{}/oncalls", stub.url()))).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], 2006);
        let empty = client()
            .get(format!("{}/users", stub.url()))
            .header("Authorization", "Token token=");
        assert_eq!(json_of(empty).await.0, 401);
    }

    #[tokio::test]
    async fn oncalls_clamp_the_limit_and_paginate() {
        let stub = crowded_stub().await;
        // Encoded as a client building the URL with `url` sends it: `schedule_ids%5B%5D=PBIG`.
        let mut url = url::Url::parse(&format!("{}/oncalls", stub.url())).unwrap();
        url.query_pairs_mut()
            .append_pair("schedule_ids[]", "PBIG")
            .append_pair("limit", "500");
        assert!(url.as_str().contains("schedule_ids%5B%5D=PBIG"), "{url}");
        let first = get(&stub, &format!("/oncalls?{}", url.query().unwrap()));
        let (status, first) = json_of(first).await;
        assert_eq!(status, 200);
        assert_eq!(first["limit"], 100);
        assert_eq!(first["offset"], 0);
        assert_eq!(first["more"], true);
        assert_eq!(first["total"], Value::Null);
        assert_eq!(user_ids(&first).len(), 100);
        assert_eq!(user_ids(&first)[0], "PU00000");

        let (_, last) = json_of(get(
            &stub,
            "/oncalls?schedule_ids[]=PBIG&limit=100&offset=200&total=true",
        ))
        .await;
        assert_eq!(last["more"], false);
        assert_eq!(last["total"], 250);
        assert_eq!(user_ids(&last).len(), 50);
        assert_eq!(user_ids(&last)[49], "PU00249");
    }

    #[tokio::test]
    async fn oncalls_default_to_25_and_reject_a_bad_limit() {
        let stub = crowded_stub().await;
        let (_, page) = json_of(get(&stub, "/oncalls")).await;
        assert_eq!(user_ids(&page).len(), 25);
        assert_eq!(page["more"], true);
        let (status, body) = json_of(get(&stub, "/oncalls?limit=lots")).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], 2001);
    }

    #[tokio::test]
    async fn oncalls_filter_by_schedule() {
        let stub = demo_stub().await;
        let (_, both) = json_of(get(
            &stub,
            "/oncalls?schedule_ids%5B%5D=PIC0001&schedule_ids%5B%5D=PIC0003&limit=100",
        ))
        .await;
        assert_eq!(user_ids(&both), ["PUSR001", "PUSR003", "PUSR004"]);
        let shadow = &both["oncalls"][1];
        assert_eq!(shadow["schedule"]["id"], "PIC0003");
        assert_eq!(shadow["schedule"]["type"], "schedule_reference");
        assert_eq!(
            shadow["escalation_policy"]["type"],
            "escalation_policy_reference"
        );
        assert_eq!(shadow["escalation_level"], 1);
        assert!(shadow["start"].as_str().unwrap().ends_with('Z'));
        assert!(shadow["end"].as_str().unwrap().ends_with('Z'));

        let (_, nobody) = json_of(get(&stub, "/oncalls?schedule_ids[]=PTEAM04")).await;
        assert_eq!(nobody["oncalls"], json!([]));
        assert_eq!(nobody["more"], false);

        let (_, open_ended) = json_of(get(&stub, "/oncalls?schedule_ids[]=PTEAM02")).await;
        assert_eq!(open_ended["oncalls"][0]["end"], Value::Null);
    }

    #[tokio::test]
    async fn oncalls_include_full_users_only_when_asked() {
        let stub = demo_stub().await;
        let (_, refs) = json_of(get(&stub, "/oncalls?schedule_ids[]=PIC0001")).await;
        let user = &refs["oncalls"][0]["user"];
        assert_eq!(user["type"], "user_reference");
        assert_eq!(user["summary"], "Alice Moreau");
        assert!(user.get("email").is_none());

        let (_, full) = json_of(get(
            &stub,
            "/oncalls?schedule_ids[]=PIC0001&include[]=users",
        ))
        .await;
        let user = &full["oncalls"][0]["user"];
        assert_eq!(user["type"], "user");
        assert_eq!(user["email"], "alice.moreau@example.com");
        assert_eq!(
            user["contact_methods"][1]["type"],
            "phone_contact_method_reference"
        );
    }

    #[tokio::test]
    async fn users_search_is_fuzzy_and_includes_contact_methods_when_asked() {
        let stub = demo_stub().await;
        let (_, bot) = json_of(get(&stub, "/users?query=icbot%40example.com")).await;
        assert_eq!(bot["users"].as_array().unwrap().len(), 1);
        assert_eq!(bot["users"][0]["id"], "PBOT001");

        let (_, chen) = json_of(get(&stub, "/users?query=CHEN&include[]=contact_methods")).await;
        let methods = chen["users"][0]["contact_methods"].as_array().unwrap();
        let phone = methods
            .iter()
            .find(|m| m["type"] == "phone_contact_method")
            .unwrap();
        assert_eq!(phone["country_code"], 44);
        assert_eq!(phone["address"], "7700900123");
        let email = methods
            .iter()
            .find(|m| m["type"] == "email_contact_method")
            .unwrap();
        assert!(email.get("country_code").is_none());

        let (_, many) = json_of(get(&stub, "/users?query=example.com&limit=5")).await;
        assert_eq!(many["users"].as_array().unwrap().len(), 5);
        assert_eq!(many["more"], true);
    }

    #[tokio::test]
    async fn a_user_and_their_contact_methods() {
        let stub = demo_stub().await;
        let (_, bongani) = json_of(get(&stub, "/users/PUSR002?include[]=contact_methods")).await;
        assert_eq!(bongani["user"]["name"], "Bongani Dlamini");
        let methods = bongani["user"]["contact_methods"].as_array().unwrap();
        assert!(
            methods.iter().all(|m| m["type"] == "email_contact_method"),
            "{methods:?}"
        );

        let (_, methods) = json_of(get(&stub, "/users/PUSR003/contact_methods")).await;
        let types: Vec<&str> = methods["contact_methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "email_contact_method",
                "phone_contact_method",
                "sms_contact_method"
            ]
        );

        let (status, body) = json_of(get(&stub, "/users/PNOBODY")).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], 2100);
        assert_eq!(
            json_of(get(&stub, "/users/PNOBODY/contact_methods"))
                .await
                .0,
            404
        );
    }

    #[tokio::test]
    async fn schedules_are_listed() {
        let stub = demo_stub().await;
        let (_, all) = json_of(get(&stub, "/schedules?limit=100")).await;
        let names: Vec<&str> = all["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "IC Primary",
                "IC Backup",
                "IC Shadow",
                "Payments",
                "Database",
                "Edge",
                "Search"
            ]
        );
        let (_, ic) = json_of(get(&stub, "/schedules?query=ic%20")).await;
        assert_eq!(ic["schedules"].as_array().unwrap().len(), 3);
    }

    fn incident(title: &str, assignees: &[&str]) -> Value {
        let assignments: Vec<Value> = assignees
            .iter()
            .map(|id| json!({"assignee": {"id": id, "type": "user_reference"}}))
            .collect();
        json!({"incident": {
            "type": "incident", "title": title, "urgency": "high",
            "service": {"id": "PSVC001", "type": "service_reference"},
            "assignments": assignments,
            "body": {"type": "incident_body", "details": "Paged from #incident-42"},
        }})
    }

    #[tokio::test]
    async fn writes_without_from_get_400() {
        let stub = demo_stub().await;
        let request = client()
            .post(format!("{}/incidents", stub.url()))
            .header("Authorization", "Token token=test-key")
            .json(&incident("Checkout is down", &["PUSR001"]));
        let (status, body) = json_of(request).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], 2001);
        assert!(stub.pages().incidents.is_empty());
    }

    #[tokio::test]
    async fn invalid_incidents_get_400() {
        let stub = demo_stub().await;
        let two = incident("Checkout is down", &["PUSR001", "PUSR002"]);
        let untitled = incident("  ", &["PUSR001"]);
        let stranger = incident("Checkout is down", &["PNOBODY"]);
        let mut unknown_service = incident("Checkout is down", &["PUSR001"]);
        unknown_service["incident"]["service"]["id"] = json!("PNOSVC");
        for body in [
            two,
            untitled,
            stranger,
            unknown_service,
            json!({"title": "no wrapper"}),
            json!([1]),
        ] {
            let (status, answer) = json_of(post(&stub, "/incidents", body.clone())).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer["error"]["code"], 2001);
        }
        let not_json = post(&stub, "/incidents", json!(null)).body("{not json");
        assert_eq!(json_of(not_json).await.0, 400);
        assert!(stub.pages().incidents.is_empty());
    }

    #[tokio::test]
    async fn an_incident_and_a_responder_request_are_recorded() {
        let stub = demo_stub().await;
        let (status, created) = json_of(post(
            &stub,
            "/incidents",
            incident("Checkout is down", &["PUSR001"]),
        ))
        .await;
        assert_eq!(status, 201);
        let created = &created["incident"];
        let id = created["id"].as_str().unwrap();
        assert_eq!(created["incident_number"], 1);
        assert_eq!(created["status"], "triggered");
        assert_eq!(
            created["html_url"],
            format!("{}/incidents/{id}", stub.url())
        );
        assert_eq!(created["assignments"][0]["assignee"]["id"], "PUSR001");

        let request = json!({
            "requester_id": "PBOT001", "message": "Please join #incident-42",
            "responder_request_targets": [
                {"responder_request_target": {"id": "PUSR003", "type": "user_reference"}},
                {"responder_request_target": {"id": "PUSR004", "type": "user_reference"}},
            ],
        });
        let path = format!("/incidents/{id}/responder_requests");
        let (status, answer) = json_of(post(&stub, &path, request)).await;
        assert_eq!(status, 200);
        let answer = &answer["responder_request"];
        assert_eq!(answer["requester"]["id"], "PBOT001");
        assert_eq!(answer["incident"]["id"], id);
        assert_eq!(
            answer["responder_request_targets"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            answer["responder_request_targets"][1]["responder_request_target"]["id"],
            "PUSR004"
        );

        let pages = stub.pages();
        assert_eq!(pages.incidents.len(), 1);
        assert_eq!(pages.incidents[0]["id"], id);
        assert_eq!(pages.incidents[0]["title"], "Checkout is down");
        assert_eq!(pages.incidents[0]["from"], "icbot@example.com");
        assert_eq!(pages.responder_requests.len(), 1);
        assert_eq!(pages.responder_requests[0]["incident_id"], id);
        assert_eq!(
            pages.responder_requests[0]["message"],
            "Please join #incident-42"
        );

        let over_http: super::super::PagesLog = client()
            .get(format!("{}/_pages", stub.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(over_http, pages);
    }

    #[tokio::test]
    async fn invalid_responder_requests_are_rejected() {
        let stub = demo_stub().await;
        let (_, created) =
            json_of(post(&stub, "/incidents", incident("Checkout is down", &[]))).await;
        let path = format!(
            "/incidents/{}/responder_requests",
            created["incident"]["id"].as_str().unwrap()
        );
        let target =
            json!([{"responder_request_target": {"id": "PUSR003", "type": "user_reference"}}]);

        let unknown_incident =
            json!({"requester_id": "PBOT001", "responder_request_targets": target});
        let (status, body) = json_of(post(
            &stub,
            "/incidents/QNOPE/responder_requests",
            unknown_incident,
        ))
        .await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], 2100);

        let unknown_requester =
            json!({"requester_id": "PNOBODY", "responder_request_targets": target});
        assert_eq!(json_of(post(&stub, &path, unknown_requester)).await.0, 400);
        let no_targets = json!({"requester_id": "PBOT001", "responder_request_targets": []});
        assert_eq!(json_of(post(&stub, &path, no_targets)).await.0, 400);
        let stranger = json!({"requester_id": "PBOT001", "responder_request_targets":
            [{"responder_request_target": {"id": "PNOBODY", "type": "user_reference"}}]});
        assert_eq!(json_of(post(&stub, &path, stranger)).await.0, 400);
        assert!(stub.pages().responder_requests.is_empty());
    }
}
