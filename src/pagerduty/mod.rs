//! The real PagerDuty REST API v2 client: implements the core's [`PagerDutyApi`] port over HTTP.
//!
//! - `mod.rs`: [`PagerDutyConfig`], [`PagerDutyClient`], the requests and the bounded 429 retries.
//! - `wire.rs`: PagerDuty's JSON (only the fields we use) and its mapping to the core's types.
//! - `errors.rs`: reqwest failures, error statuses and rate-limit headers as [`PagerDutyError`].
//!
//! Every request carries `Authorization: Token token=<key>` and the v2 `Accept` header; writes also carry
//! `Content-Type: application/json` and `From: <bot email>`. Each HTTP request is bounded by
//! `request_timeout`; a 429 is retried at most `max_rate_limit_retries` times, waiting what PagerDuty's
//! `ratelimit-reset` asks (at most [`MAX_RATE_LIMIT_WAIT`] each time). Callers add their own deadline on top:
//! dropping a call mid-retry is safe, nothing is left half-done on our side.
//!
//! The token is a [`SecretString`]: it is never logged, never in an error, and redacted from `Debug`.

mod errors;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use icbot_actors::cache::oncall::{OnCallEntry, Person, UserId};
use icbot_actors::metric_names;
use icbot_actors::ports::{
    Incident, IncidentState, IncidentStatus, NewIncident, PagerDutyApi, PagerDutyError,
    ScheduleOverride, UsersPage as PeoplePage,
};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use wire::{
    CreateIncident, IncidentEnvelope, IncidentWire, IncidentsListPage, IncidentsPage, NewNote,
    NoteContent, OnCallWire, OnCallsPage, ResponderRequest, UpdateIncident, UserEnvelope, UserWire,
    UsersPage,
};

/// The media type that selects REST API v2.
const ACCEPT_V2: &str = "application/vnd.pagerduty+json;version=2";

/// PagerDuty's largest page.
const PAGE_LIMIT: usize = 100;

/// A server that answers `more: true` forever is stopped here (100,000 on-call entries).
const MAX_PAGES: usize = 1_000;

/// The longest a single 429 retry waits, whatever `ratelimit-reset` says.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

/// Longest incident title, in characters. The REST reference gives no limit for `title`; 1024 is
/// PagerDuty's documented limit for an event summary and where it truncates incident titles.
pub const MAX_TITLE_CHARS: usize = 1024;

/// Where and how to reach PagerDuty.
#[derive(Clone, Debug)]
pub struct PagerDutyConfig {
    /// `https://api.pagerduty.com`, `https://api.eu.pagerduty.com`, or a stub such as
    /// `http://127.0.0.1:PORT`; a trailing slash is fine.
    pub base_url: String,
    /// The REST API key (`PAGERDUTY_TOKEN`).
    pub token: SecretString,
    /// The bot user's email, sent as `From` on writes.
    pub from_email: String,
    /// The service incidents are opened on.
    pub service_id: String,
    pub connect_timeout: Duration,
    /// Bound on each HTTP request, body included.
    pub request_timeout: Duration,
    /// How many times a 429 is retried before giving up with `RateLimited`.
    pub max_rate_limit_retries: u32,
}

/// The PagerDuty REST API v2 client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct PagerDutyClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Carries the `Authorization` (marked sensitive) and `Accept` headers on every request.
    http: reqwest::Client,
    base: Url,
    from: HeaderValue,
    service_id: String,
    max_rate_limit_retries: u32,
}

impl fmt::Debug for PagerDutyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyClient")
            .field("base_url", &self.inner.base.as_str())
            .field("service_id", &self.inner.service_id)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl PagerDutyClient {
    /// Builds the client. Fails (as `Transport`) on a base URL that is not http(s), or a token or email
    /// that cannot be an HTTP header value; the token itself never appears in the error.
    pub fn new(config: PagerDutyConfig) -> Result<Self, PagerDutyError> {
        // The same parse `check-config` does for `pagerduty.api_url`.
        let base = crate::config::http_url(&config.base_url)
            .map_err(|e| PagerDutyError::Transport(format!("the PagerDuty base URL {e}")))?;

        let mut authorization =
            HeaderValue::from_str(&format!("Token token={}", config.token.expose_secret()))
                .map_err(|_| {
                    PagerDutyError::Transport(
                        "the PagerDuty token has characters not allowed in an HTTP header".into(),
                    )
                })?;
        authorization.set_sensitive(true);
        let from = HeaderValue::from_str(&config.from_email).map_err(|_| {
            PagerDutyError::Transport(format!(
                "the PagerDuty from_email {:?} is not a valid header value",
                config.from_email
            ))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_V2));

        crate::crypto::install_crypto_provider();
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("icbot/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // The API does not redirect; following one could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                PagerDutyError::Transport(format!(
                    "cannot build the HTTP client: {}",
                    e.without_url()
                ))
            })?;

        Ok(PagerDutyClient {
            inner: Arc::new(Inner {
                http,
                base,
                from,
                service_id: config.service_id,
                max_rate_limit_retries: config.max_rate_limit_retries,
            }),
        })
    }

    /// `base` + path segments (each escaped) + query pairs (each encoded).
    fn endpoint(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base.clone();
        // `new` checked that the base can have path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: Url,
        endpoint: &'static str,
        what: &str,
    ) -> Result<T, PagerDutyError> {
        let body = self.send(Method::GET, url, endpoint, None).await?;
        serde_json::from_slice(&body).map_err(|e| errors::malformed(what, &e))
    }

    /// POSTs `body` as JSON with the `From` header; returns the raw answer.
    async fn post<B: Serialize>(
        &self,
        url: Url,
        endpoint: &'static str,
        body: &B,
    ) -> Result<Vec<u8>, PagerDutyError> {
        self.write(Method::POST, url, endpoint, body, None).await
    }

    /// A write (`POST`, `PUT`) of `body` as JSON, as `from` (a PagerDuty user's email) or else the bot;
    /// returns the raw answer.
    async fn write<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        endpoint: &'static str,
        body: &B,
        from: Option<&str>,
    ) -> Result<Vec<u8>, PagerDutyError> {
        let body =
            serde_json::to_vec(body).map_err(|e| errors::malformed("encoding the request", &e))?;
        let from = match from.map(HeaderValue::from_str) {
            Some(Ok(from)) => from,
            Some(Err(_)) => {
                tracing::warn!(
                    "the acting user's email is not a valid header value; acting as the bot"
                );
                self.inner.from.clone()
            }
            None => self.inner.from.clone(),
        };
        self.send(method, url, endpoint, Some((body, from))).await
    }

    /// One call: the request, and its 429 retries. Returns the body of a 2xx answer. Each HTTP request is
    /// counted in `icbot_pagerduty_requests_total` under `endpoint` (a path template, never ids).
    async fn send(
        &self,
        method: Method,
        url: Url,
        endpoint: &'static str,
        body: Option<(Vec<u8>, HeaderValue)>,
    ) -> Result<Vec<u8>, PagerDutyError> {
        let path = url.path().to_string();
        let mut retries = 0;
        loop {
            let mut request = self.inner.http.request(method.clone(), url.clone());
            if let Some((body, from)) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .header("From", from.clone())
                    .body(body.clone());
            }
            let started = Instant::now();
            let answer = async {
                let response = request.send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

            let (status, headers, answer) = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    let error = errors::from_reqwest(e);
                    let class = match error {
                        PagerDutyError::Timeout => "timeout",
                        _ => "transport",
                    };
                    metric_names::pagerduty_request(endpoint, class, started.elapsed());
                    tracing::warn!(%method, %path, elapsed_ms, error = %error, "PagerDuty request failed");
                    return Err(error);
                }
            };
            let code = status.as_u16();
            metric_names::pagerduty_request(endpoint, status_class(code), started.elapsed());
            if status.is_success() {
                tracing::debug!(%method, %path, status = code, elapsed_ms, "PagerDuty request");
                return Ok(answer.into());
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                if retries < self.inner.max_rate_limit_retries {
                    let wait = errors::rate_limit_wait(&headers, retries, MAX_RATE_LIMIT_WAIT);
                    tracing::warn!(
                        %method, %path, status = code, elapsed_ms,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        retry = retries + 1,
                        "PagerDuty rate limited the bot, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    retries += 1;
                    continue;
                }
                let error = PagerDutyError::RateLimited {
                    retry_after: errors::retry_after(&headers),
                };
                tracing::warn!(%method, %path, status = code, elapsed_ms, retries, "PagerDuty rate limited the bot, giving up");
                return Err(error);
            }
            let error = errors::rejected(status, &answer);
            tracing::warn!(%method, %path, status = code, elapsed_ms, error = %error, "PagerDuty rejected the request");
            return Err(error);
        }
    }
}

/// `2xx`, `4xx`, `5xx`...: the `status_class` label.
fn status_class(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// A page of a list PagerDuty pages classically (`limit`, `offset`, `more`).
trait ListPage: DeserializeOwned {
    /// The page's raw items, and whether more follow.
    fn into_items(self) -> (Vec<serde_json::Value>, bool);
}

impl ListPage for OnCallsPage {
    fn into_items(self) -> (Vec<serde_json::Value>, bool) {
        (self.oncalls, self.more)
    }
}

impl ListPage for IncidentsListPage {
    fn into_items(self) -> (Vec<serde_json::Value>, bool) {
        (self.incidents, self.more)
    }
}

/// What a paginated list holds, as its errors and logs name it.
struct Listed {
    /// The list: "on-calls".
    list: &'static str,
    /// One item: "on-call entry".
    item: &'static str,
}

impl Listed {
    const ON_CALLS: Listed = Listed {
        list: "on-calls",
        item: "on-call entry",
    };
    const INCIDENTS: Listed = Listed {
        list: "incidents",
        item: "incident",
    };
}

impl PagerDutyClient {
    /// Every item of a classically paginated list: `GET path?query&limit=..&offset=..` page after page (at
    /// most [`MAX_PAGES`]) until one says there is no more, each raw item turned into a `T` by `read`. An item
    /// that does not read, or that `read` refuses, is skipped and logged; a page that says there is more but
    /// holds nothing is malformed.
    async fn list_all<P, W, T, R>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
        endpoint: &'static str,
        listed: Listed,
        read: fn(W) -> Result<T, R>,
    ) -> Result<Vec<T>, PagerDutyError>
    where
        P: ListPage,
        W: DeserializeOwned,
        R: std::fmt::Display,
    {
        let Listed { list, item } = listed;
        let limit = PAGE_LIMIT.to_string();
        let what = format!("{list} page");
        let mut all = Vec::new();
        let mut offset = 0usize;
        for _ in 0..MAX_PAGES {
            let offset_text = offset.to_string();
            let mut paged = query.to_vec();
            paged.extend([("limit", limit.as_str()), ("offset", offset_text.as_str())]);
            let page: P = self
                .get(self.endpoint(path, &paged), endpoint, &what)
                .await?;
            let (items, more) = page.into_items();
            let count = items.len();
            for raw in items {
                match serde_json::from_value::<W>(raw).map(read) {
                    Ok(Ok(one)) => all.push(one),
                    Ok(Err(reason)) => {
                        tracing::warn!(reason = %reason, offset, item, "skipping a list item")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, offset, item, "skipping an unreadable list item")
                    }
                }
            }
            if !more {
                return Ok(all);
            }
            if count == 0 {
                return Err(PagerDutyError::Malformed(format!(
                    "{list} page is empty but says there is more"
                )));
            }
            offset += count;
        }
        Err(PagerDutyError::Malformed(format!(
            "{list} still had more after {MAX_PAGES} pages"
        )))
    }
}

/// Users of a `GET /users` answer with their phones; an unreadable one is skipped and logged.
fn people_of(users: Vec<serde_json::Value>, what: &str) -> Vec<Person> {
    let fetched_at = SystemTime::now();
    users
        .into_iter()
        .filter_map(|raw| match serde_json::from_value::<UserWire>(raw) {
            Ok(user) => Some(user.into_person_with_phones(fetched_at)),
            Err(e) => {
                tracing::warn!(error = %e, what, "skipping an unreadable user");
                None
            }
        })
        .collect()
}

#[async_trait]
impl PagerDutyApi for PagerDutyClient {
    async fn on_calls(&self, schedule_ids: &[String]) -> Result<Vec<OnCallEntry>, PagerDutyError> {
        // Without a schedule filter PagerDuty would list every on-call in the account.
        if schedule_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query: Vec<(&str, &str)> = schedule_ids
            .iter()
            .map(|id| ("schedule_ids[]", id.as_str()))
            .collect();
        query.push(("include[]", "users"));
        self.list_all::<OnCallsPage, _, _, _>(
            &["oncalls"],
            &query,
            "GET /oncalls",
            Listed::ON_CALLS,
            OnCallWire::into_entry,
        )
        .await
    }

    async fn user(&self, id: &UserId) -> Result<Person, PagerDutyError> {
        let url = self.endpoint(&["users", &id.0], &[("include[]", "contact_methods")]);
        let envelope: UserEnvelope = self.get(url, "GET /users/{id}", "user").await?;
        Ok(envelope.user.into_person_with_phones(SystemTime::now()))
    }

    async fn find_users(&self, query: &str) -> Result<Vec<Person>, PagerDutyError> {
        let limit = PAGE_LIMIT.to_string();
        let url = self.endpoint(
            &["users"],
            &[
                ("query", query),
                ("include[]", "contact_methods"),
                ("limit", limit.as_str()),
            ],
        );
        let page: UsersPage = self.get(url, "GET /users", "user search").await?;
        Ok(people_of(page.users, "search"))
    }

    async fn users_page(&self, offset: usize) -> Result<PeoplePage, PagerDutyError> {
        let limit = PAGE_LIMIT.to_string();
        let offset_text = offset.to_string();
        let url = self.endpoint(
            &["users"],
            &[
                ("include[]", "contact_methods"),
                ("limit", limit.as_str()),
                ("offset", offset_text.as_str()),
            ],
        );
        let page: UsersPage = self.get(url, "GET /users", "users page").await?;
        let count = page.users.len();
        if page.more && count == 0 {
            return Err(PagerDutyError::Malformed(
                "users page is empty but says there is more".into(),
            ));
        }
        Ok(PeoplePage {
            people: people_of(page.users, "list"),
            next_offset: page.more.then_some(offset + count),
        })
    }

    async fn create_incident(&self, incident: &NewIncident) -> Result<Incident, PagerDutyError> {
        let title = icbot_actors::truncate::prefix(&incident.title, MAX_TITLE_CHARS);
        let body = CreateIncident::new(
            title,
            &incident.details,
            &self.inner.service_id,
            &incident.assignee.0,
            incident.incident_key.as_deref(),
        );
        let answer = match self
            .post(self.endpoint(&["incidents"], &[]), "POST /incidents", &body)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                let Some(key) = incident
                    .incident_key
                    .as_deref()
                    .filter(|_| errors::is_open_key(&e))
                else {
                    return Err(e);
                };
                // PagerDuty's error does not say which incident: ask by the key.
                let incident = match self.find_incident(key).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e, incident_key = key, "cannot fetch the open incident with this key");
                        None
                    }
                };
                return Err(PagerDutyError::AlreadyOpen { incident });
            }
        };
        let envelope: IncidentEnvelope =
            serde_json::from_slice(&answer).map_err(|e| errors::malformed("incident", &e))?;
        Ok(envelope.incident.into())
    }

    async fn find_incident(&self, incident_key: &str) -> Result<Option<Incident>, PagerDutyError> {
        let url = self.endpoint(&["incidents"], &[("incident_key", incident_key)]);
        let page: IncidentsPage = self.get(url, "GET /incidents", "incidents").await?;
        Ok(page.incidents.into_iter().next().map(Incident::from))
    }

    async fn request_responders(
        &self,
        incident_id: &str,
        requester: &UserId,
        targets: &[UserId],
        message: &str,
    ) -> Result<(), PagerDutyError> {
        if targets.is_empty() {
            return Ok(());
        }
        let url = self.endpoint(&["incidents", incident_id, "responder_requests"], &[]);
        self.post(
            url,
            "POST /incidents/{id}/responder_requests",
            &ResponderRequest::new(requester, targets, message),
        )
        .await?;
        Ok(())
    }

    async fn open_incidents(&self) -> Result<Vec<IncidentState>, PagerDutyError> {
        let query = [
            ("statuses[]", "triggered"),
            ("statuses[]", "acknowledged"),
            ("service_ids[]", self.inner.service_id.as_str()),
        ];
        self.list_all::<IncidentsListPage, _, _, _>(
            &["incidents"],
            &query,
            "GET /incidents",
            Listed::INCIDENTS,
            IncidentWire::into_state,
        )
        .await
    }

    async fn set_incident_status(
        &self,
        incident_id: &str,
        status: IncidentStatus,
        resolution: Option<&str>,
        from: Option<&str>,
    ) -> Result<IncidentState, PagerDutyError> {
        let resolution = resolution.map(|r| icbot_actors::truncate::prefix(r, MAX_TITLE_CHARS));
        let answer = self
            .write(
                Method::PUT,
                self.endpoint(&["incidents", incident_id], &[]),
                "PUT /incidents/{id}",
                &UpdateIncident::new(status, resolution),
                from,
            )
            .await
            .map_err(errors::of_incident_write)?;
        let envelope: IncidentEnvelope =
            serde_json::from_slice(&answer).map_err(|e| errors::malformed("incident", &e))?;
        envelope
            .incident
            .into_state()
            .map_err(PagerDutyError::Malformed)
    }

    async fn add_note(
        &self,
        incident_id: &str,
        text: &str,
        from: Option<&str>,
    ) -> Result<(), PagerDutyError> {
        self.write(
            Method::POST,
            self.endpoint(&["incidents", incident_id, "notes"], &[]),
            "POST /incidents/{id}/notes",
            &NewNote {
                note: NoteContent { content: text },
            },
            from,
        )
        .await
        .map_err(errors::of_incident_write)?;
        Ok(())
    }

    async fn create_override(
        &self,
        schedule_id: &str,
        user: &UserId,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<ScheduleOverride, PagerDutyError> {
        let body = serde_json::json!({ "overrides": [{
            "start": icbot_actors::utc::rfc3339(start),
            "end": icbot_actors::utc::rfc3339(end),
            "user": { "id": user.0, "type": "user_reference" },
            "time_zone": "UTC",
        }]});
        let answer = self
            .post(
                self.endpoint(&["schedules", schedule_id, "overrides"], &[]),
                "POST /schedules/{id}/overrides",
                &body,
            )
            .await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|e| errors::malformed("overrides", &e))?;
        wire::override_of(&answer).map_err(PagerDutyError::Malformed)?
    }

    async fn overrides(
        &self,
        schedule_id: &str,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<ScheduleOverride>, PagerDutyError> {
        let (since, until) = (
            icbot_actors::utc::rfc3339(since),
            icbot_actors::utc::rfc3339(until),
        );
        let answer: serde_json::Value = self
            .get(
                self.endpoint(
                    &["schedules", schedule_id, "overrides"],
                    &[("since", &since), ("until", &until)],
                ),
                "GET /schedules/{id}/overrides",
                "overrides",
            )
            .await?;
        let items = answer
            .get("overrides")
            .and_then(|o| o.as_array())
            .ok_or_else(|| PagerDutyError::Malformed("no `overrides` list".into()))?;
        items
            .iter()
            .map(|item| {
                wire::override_of(&serde_json::json!({ "override": item }))
                    .map_err(PagerDutyError::Malformed)?
            })
            .collect()
    }

    async fn delete_override(
        &self,
        schedule_id: &str,
        override_id: &str,
    ) -> Result<(), PagerDutyError> {
        self.send(
            Method::DELETE,
            self.endpoint(&["schedules", schedule_id, "overrides", override_id], &[]),
            "DELETE /schedules/{id}/overrides/{id}",
            None,
        )
        .await?;
        Ok(())
    }
}
