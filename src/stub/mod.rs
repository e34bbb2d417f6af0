//! The bundled PagerDuty and monitoring stub: a real HTTP server that answers the subset of PagerDuty's
//! REST API v2 the bot uses, plus Alertmanager and Statuspage, from [`StubData`]. It backs chaos drills,
//! demos (`[pagerduty] api_url = "embedded"` starts it in-process with [`StubData::demo`]) and tests.
//!
//! # PagerDuty endpoints
//! Every one needs `Authorization: Token token=<anything non-empty>` (else 401, code 2006); every `POST`
//! needs a `From: <email>` header (else 400, code 2001). Errors use PagerDuty's body
//! `{"error": {"message", "code", "errors": [..]}}`. Lists take `limit` (default 25, clamped to 1..=100),
//! `offset` and `total=true`, and answer `limit`, `offset`, `more`, `total`. Array parameters may be
//! written `key[]=`, `key%5B%5D=` or `key=`.
//! - `GET /oncalls?schedule_ids[]=..&include[]=users`: one entry per person on call, in data order: `user`
//!   (a full user with `include[]=users`, else a `user_reference`), `schedule` and `escalation_policy`
//!   references, `escalation_level`, `start`, `end` (null when open-ended). No `schedule_ids` = all. While
//!   a schedule has an override in force, its user is the one on call there (level 1), as in PagerDuty.
//! - `GET /users?query=..&include[]=contact_methods`: users whose name or email contains `query`
//!   (case-insensitive); contact methods are full objects with the include, references without.
//! - `GET /users/{id}?include[]=contact_methods`: `{"user": ..}`; 404 (code 2100) when unknown.
//! - `GET /users/{id}/contact_methods`: `{"contact_methods": [..]}` as full objects (`country_code` on
//!   phone and SMS only).
//! - `GET /schedules?query=..`: `{"schedules": [..]}` with each schedule's policy and on-call users.
//! - `POST /schedules/{id}/overrides` `{"overrides": [{start, end, user: {id, type: "user_reference"},
//!   time_zone}]}`: 201 `[{"status": 201, "override": {id, start, end, user}}]`, one per override (an item
//!   with `status: 400` for an unknown user or bad times); 404 for an unknown schedule.
//! - `GET /schedules/{id}/overrides?since=..&until=..`: `{"overrides": [..]}`, those in force in the window.
//! - `DELETE /schedules/{id}/overrides/{override_id}`: 204; 404 for an override it does not hold.
//! - `POST /incidents`: 201 `{"incident": {id, incident_number, title, status: "triggered", html_url,
//!   incident_key, ..}}`. 400 when `type` is not `incident`, the title is empty, the service is unknown, there
//!   is more than one assignment, or the assignee is not a known user. As PagerDuty does, an `incident_key`
//!   that an open incident on the same service already has opens nothing new: 400, code 2002, "Arguments
//!   Caused Error", `errors: ["Open incident with matching dedup key already exists on this service"]`
//!   (stub incidents stay open). Recorded in `/_pages` when created.
//! - `GET /incidents?incident_key=..&statuses[]=..&service_ids[]=..`: `{"incidents": [..]}`, the incidents
//!   created, filtered by each parameter given, oldest first, paginated; each with its `status`,
//!   `assignments` and `acknowledgements`.
//! - `PUT /incidents/{id}` `{"incident": {"type": "incident_reference", "status": "acknowledged" | "resolved",
//!   "resolution"}}`: 200 `{"incident": ..}`; the `From` user is recorded as the acknowledger. 404 for an
//!   unknown incident; 400 "Incident Already Resolved" for a resolved one; 403 when the `From` user is read-only
//!   ([`StubHandle::forbid_writes_by`]); 400 for another status. Recorded in `/_pages`.
//! - `POST /incidents/{id}/notes` `{"note": {"content"}}`: 201 `{"note": ..}`; 404, 403 as above; 400 for empty
//!   content. Recorded in `/_pages`.
//! - `POST /incidents/{id}/responder_requests`: 200 `{"responder_request": {..}}`. 404 for an unknown
//!   incident; 400 for an unknown requester, no targets, or an unknown user target. Recorded in `/_pages`.
//!
//! # Web pages (no credentials)
//! - `GET /incidents/{id}`: the incident's `html_url`, a small HTML page (title, number, status, assignee,
//!   responders asked) for a demo user who clicks the link in a page reply; 404 for an unknown incident.
//!
//! # Monitoring endpoints (no credentials)
//! - `GET /api/v2/alerts` (Alertmanager v2): the JSON array of firing alerts: always the `Watchdog`
//!   heartbeat (severity `none`), plus the set from the data file or the last `POST /_alerts`.
//!   `active=false` answers `[]`; `silenced` and `inhibited` are accepted and change nothing.
//! - `GET /api/v2/status.json` (Statuspage): `{"page": {..}, "status": {"indicator", "description"}}`.
//!
//! # Control endpoints (never faulted, never counted, no credentials)
//! - `POST /_chaos` `{"fault": "hang"}` sets the fault for every path, replacing any path faults;
//!   `{"fault": "error", "path": "/incidents"}` sets a fault for paths starting with `/incidents` only (the
//!   longest matching prefix wins, the global fault applies elsewhere); `{"fault": "none", "path": P}`
//!   removes P's fault; `{"fault": "none"}` clears every fault. Faults: see [`Fault`]. `GET /_chaos` shows
//!   the faults in force.
//! - `GET /_pages`: [`PagesLog`], the incidents and responder requests received.
//! - `GET /_requests`: `{"/oncalls": 3, ..}`, requests received per path (faulted ones included).
//! - `POST /_alerts` `[{"alertname": "DiskFull", "severity": "critical", "labels": {"team": "db"}}]`:
//!   replaces the alert set; the `Watchdog` is always served besides (an entry named `Watchdog` replaces it).
//! - `POST /_statuspage` `{"indicator": "major", "description": "Partial outage"}`.
//! - `POST /_oncall` `{"schedule": "PIC0001", "on_call": [{"user_id": "PUSR002", "end": "+12h"}]}`: from now on
//!   these people (in the shape of the data file's `on_call`) are on call in the schedule; `[]` leaves it
//!   empty. 404 for an unknown schedule, 400 for an unknown user. Handoffs for demos and tests.
//!
//! # Demo data ([`StubData::demo`], `src/stub/demo.json`)
//! - Service `PSVC001` "Incident Response". The bot's user: `PBOT001` "icbot", `icbot@example.com`.
//! - `PIC0001` "IC Primary": `PUSR001` Alice Moreau (phone, email, push).
//! - `PIC0002` "IC Backup": `PUSR002` Bongani Dlamini (email only: no phone).
//! - `PIC0003` "IC Shadow": two at once, `PUSR003` Chen Wei (phone and SMS, same number) and
//!   `PUSR004` Dana Okafor (phone).
//! - `PTEAM01` "Payments": `PUSR005` Erik Lindqvist (level 1, phone), `PUSR006` Fatima Haddad (level 2, SMS only).
//! - `PTEAM02` "Database": `PUSR007` Gustavo Pereira (open-ended). `PTEAM03` "Edge": `PUSR008` Hana Kobayashi.
//! - `PTEAM04` "Search": nobody on call. `PUSR009` Ivan Petrov and `PUSR010` Jia Li are on no schedule.
//!
//! Phone numbers are from fictional ranges (+1 202 555 01xx, +44 7700 900xxx); emails are @example.com.

mod data;
mod fault;
mod incident_page;
mod monitoring;
mod pagerduty;

pub use data::{
    ContactKind, StubAlert, StubContact, StubData, StubEscalationPolicy, StubOnCall, StubSchedule,
    StubService, StubStatuspage, StubUser,
};
pub use fault::Fault;
pub use monitoring::WATCHDOG;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use fault::FaultTable;
use monitoring::FiringAlert;
use pagerduty::IncidentRecord;

/// How long [`StubHandle::shutdown`] waits for open connections to finish before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the stub received: the pages it would have sent, for tests and drills to inspect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PagesLog {
    /// Each `incident` object as received, plus `id`, `incident_number` and `from` (the From header).
    pub incidents: Vec<serde_json::Value>,
    /// Each responder request body as received, plus `incident_id` and `from`.
    pub responder_requests: Vec<serde_json::Value>,
    /// Each status change accepted (`PUT /incidents/{id}`): `incident_id`, `status`, `resolution`, `from`.
    #[serde(default)]
    pub status_changes: Vec<serde_json::Value>,
    /// Each note added: `incident_id`, `content`, `from`.
    #[serde(default)]
    pub notes: Vec<serde_json::Value>,
}

/// The state every route shares. The lock is never held across an await.
pub(crate) struct StubState {
    /// `http://<bound address>`, for `self` and `html_url` links.
    base_url: String,
    /// Origin of relative on-call times.
    started: SystemTime,
    /// Turns true (or closes) when the server shuts down: hanging and slow requests give up then.
    closing: watch::Receiver<bool>,
    /// Woken on every counted request, for [`StubHandle::wait_for_requests`].
    requested: Notify,
    inner: Mutex<StubInner>,
}

struct StubInner {
    data: StubData,
    faults: FaultTable,
    pages: PagesLog,
    incidents: Vec<IncidentRecord>,
    incident_count: u64,
    /// Schedule overrides made with `POST /schedules/{id}/overrides`, not yet deleted.
    overrides: Vec<pagerduty::StubOverride>,
    override_count: u64,
    /// Emails whose incident writes get 403 (read-only users), see [`StubHandle::forbid_writes_by`].
    read_only: Vec<String>,
    requests: BTreeMap<String, usize>,
    alerts: Vec<FiringAlert>,
    statuspage: StubStatuspage,
}

impl StubState {
    fn lock(&self) -> MutexGuard<'_, StubInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request to `path` and returns the fault in force for it.
    fn count_and_fault(&self, path: &str) -> Fault {
        let fault = {
            let mut inner = self.lock();
            *inner.requests.entry(path.to_owned()).or_default() += 1;
            inner.faults.fault_for(path)
        };
        self.requested.notify_waiters();
        fault
    }

    fn set_on_call(&self, schedule: &str, on_call: Vec<StubOnCall>) -> Result<(), String> {
        let mut inner = self.lock();
        if let Some(unknown) = on_call
            .iter()
            .find(|o| inner.data.user(&o.user_id).is_none())
        {
            return Err(format!("unknown user {:?}", unknown.user_id));
        }
        let Some(found) = inner.data.schedules.iter_mut().find(|s| s.id == schedule) else {
            return Err(format!("unknown schedule {schedule:?}"));
        };
        tracing::info!(schedule, people = on_call.len(), "stub on-call set");
        found.on_call = on_call;
        Ok(())
    }

    fn replace_alerts(&self, alerts: Vec<StubAlert>) {
        let mut inner = self.lock();
        inner.alerts = monitoring::firing(&inner.alerts, alerts, SystemTime::now());
    }

    /// Resolves once the server is shutting down.
    async fn closed(&self) {
        let mut closing = self.closing.clone();
        // An error means the sender is gone, which also means the server is gone.
        let _ = closing.wait_for(|closing| *closing).await;
    }
}

/// The stub server. Bind a listener and call [`StubServer::serve`], or let [`StubServer::start`] do both.
pub struct StubServer;

impl StubServer {
    /// Binds nothing itself: serves on the given listener until shutdown resolves.
    pub async fn serve(
        listener: TcpListener,
        data: StubData,
        fault: Fault,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (state, closing) = Self::state(&listener, data, fault)?;
        Self::run(listener, state, closing, shutdown).await
    }

    /// Convenience for tests and the embedded mode: binds `addr` (e.g. "127.0.0.1:0"), spawns the server on
    /// the current tokio runtime, returns a handle.
    pub async fn start(addr: &str, data: StubData, fault: Fault) -> std::io::Result<StubHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (state, closing) = Self::state(&listener, data, fault)?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            // Resolves on `shutdown()` and when the handle is dropped.
            let _ = shutdown_rx.await;
        };
        let task = tokio::spawn(Self::run(listener, state.clone(), closing, shutdown));
        tracing::info!(%addr, "stub started");
        Ok(StubHandle {
            addr,
            state,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }

    fn state(
        listener: &TcpListener,
        data: StubData,
        fault: Fault,
    ) -> std::io::Result<(Arc<StubState>, watch::Sender<bool>)> {
        let addr = listener.local_addr()?;
        let (closing_tx, closing_rx) = watch::channel(false);
        let now = SystemTime::now();
        let alerts = monitoring::firing(&[], data.alerts.clone(), now);
        let statuspage = data.statuspage.clone();
        let state = StubState {
            base_url: format!("http://{addr}"),
            started: now,
            closing: closing_rx,
            requested: Notify::new(),
            inner: Mutex::new(StubInner {
                data,
                faults: FaultTable::new(fault),
                pages: PagesLog::default(),
                incidents: Vec::new(),
                incident_count: 0,
                overrides: Vec::new(),
                override_count: 0,
                read_only: Vec::new(),
                requests: BTreeMap::new(),
                alerts,
                statuspage,
            }),
        };
        Ok((Arc::new(state), closing_tx))
    }

    async fn run(
        listener: TcpListener,
        state: Arc<StubState>,
        closing: watch::Sender<bool>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = Router::new()
            .merge(pagerduty::router())
            .merge(incident_page::router())
            .merge(monitoring::router())
            .route("/_chaos", get(show_chaos).post(set_chaos))
            .route("/_pages", get(show_pages))
            .route("/_requests", get(show_requests))
            .route("/_oncall", post(set_oncall))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                fault::apply_faults,
            ))
            .with_state(state);
        let signal = async move {
            shutdown.await;
            tracing::info!("stub shutting down");
            // Wakes hanging and slow requests so that graceful shutdown can finish.
            let _ = closing.send(true);
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
    }
}

/// A running stub started by [`StubServer::start`]. Dropping it stops the server too (asynchronously; await
/// [`StubHandle::shutdown`] to know the port is closed).
pub struct StubHandle {
    addr: SocketAddr,
    state: Arc<StubState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl StubHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Same as `POST /_chaos`: with a prefix, only paths starting with it; without one, every path (the path
    /// faults are replaced; `Fault::None` clears everything).
    pub fn set_fault(&self, fault: Fault, path_prefix: Option<String>) {
        tracing::info!(%fault, path = ?path_prefix, "stub fault set");
        self.state.lock().faults.set(fault, path_prefix);
    }

    /// Same as `GET /_pages`.
    pub fn pages(&self) -> PagesLog {
        self.state.lock().pages.clone()
    }

    /// Incident writes (`PUT /incidents/{id}`, notes) with this `From` are refused with 403, as PagerDuty
    /// refuses a read-only user.
    pub fn forbid_writes_by(&self, email: &str) {
        self.state.lock().read_only.push(email.to_lowercase());
    }

    /// Changes incident number `number` directly, as someone in PagerDuty's own app would: `by` (a user id)
    /// acknowledges or resolves it. Returns false when there is no such incident.
    pub fn set_incident_status(&self, number: u64, status: &str, by: &str) -> bool {
        let mut inner = self.state.lock();
        let by = inner
            .data
            .user(by)
            .map(|u| (u.id.clone(), u.name.clone()))
            .unwrap_or_else(|| (by.to_owned(), by.to_owned()));
        match inner.incidents.iter_mut().find(|i| i.number == number) {
            Some(incident) => {
                incident.change_status(status, by);
                true
            }
            None => false,
        }
    }

    /// Requests received whose path starts with `path_prefix`, faulted ones included.
    pub fn request_count(&self, path_prefix: &str) -> usize {
        let inner = self.state.lock();
        inner
            .requests
            .iter()
            .filter(|(path, _)| path.starts_with(path_prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Waits until [`Self::request_count`] of `path_prefix` reaches `n` (counted as a request arrives, before
    /// its fault is applied), at most `within`; false when it did not.
    pub async fn wait_for_requests(&self, path_prefix: &str, n: usize, within: Duration) -> bool {
        let reached = async {
            loop {
                let requested = self.state.requested.notified();
                if self.request_count(path_prefix) >= n {
                    return;
                }
                requested.await;
            }
        };
        tokio::time::timeout(within, reached).await.is_ok()
    }

    /// Same as `POST /_alerts`: replaces the alert set (the Watchdog is always served besides).
    pub fn set_alerts(&self, alerts: Vec<StubAlert>) {
        self.state.replace_alerts(alerts);
    }

    /// Same as `POST /_oncall`: from now on `on_call` is who is on call in `schedule`.
    pub fn set_on_call(&self, schedule: &str, on_call: Vec<StubOnCall>) -> Result<(), String> {
        self.state.set_on_call(schedule, on_call)
    }

    /// Same as `POST /_statuspage`.
    pub fn set_statuspage(&self, indicator: &str, description: &str) {
        self.state.lock().statuspage = StubStatuspage {
            indicator: indicator.to_owned(),
            description: description.to_owned(),
        };
    }

    /// Stops the server: the port is closed when this returns, hanging requests are abandoned, and open
    /// connections get up to five seconds to finish before they are cut.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "stub server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "stub server task failed"),
                Err(_) => {
                    tracing::warn!(
                        "stub connections still open after the grace period; cutting them"
                    );
                    task.abort();
                    let _ = task.await;
                }
            }
        }
        tracing::info!(addr = %self.addr, "stub stopped");
    }
}

impl Drop for StubHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The body of `POST /_chaos`.
#[derive(Debug, Deserialize)]
struct ChaosRequest {
    fault: String,
    #[serde(default)]
    path: Option<String>,
}

async fn set_chaos(State(state): State<Arc<StubState>>, body: Bytes) -> Response {
    let request: ChaosRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return control_error(format!(
                "expected {{\"fault\": \"..\", \"path\"?: \"/..\"}}: {e}"
            ))
        }
    };
    let fault: Fault = match request.fault.parse() {
        Ok(fault) => fault,
        Err(e) => return control_error(e),
    };
    tracing::info!(%fault, path = ?request.path, "stub fault set");
    let mut inner = state.lock();
    inner.faults.set(fault, request.path);
    Json(inner.faults.to_json()).into_response()
}

/// The body of `POST /_oncall`.
#[derive(Debug, Deserialize)]
struct OnCallRequest {
    schedule: String,
    on_call: Vec<StubOnCall>,
}

async fn set_oncall(State(state): State<Arc<StubState>>, body: Bytes) -> Response {
    let request: OnCallRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return control_error(format!(
                "expected {{\"schedule\": \"P..\", \"on_call\": [{{\"user_id\": \"P..\"}}]}}: {e}"
            ))
        }
    };
    match state.set_on_call(&request.schedule, request.on_call) {
        Ok(()) => Json(json!({ "schedule": request.schedule })).into_response(),
        Err(e) if e.starts_with("unknown schedule") => {
            (StatusCode::NOT_FOUND, Json(json!({ "error": e }))).into_response()
        }
        Err(e) => control_error(e),
    }
}

async fn show_chaos(State(state): State<Arc<StubState>>) -> Response {
    Json(state.lock().faults.to_json()).into_response()
}

async fn show_pages(State(state): State<Arc<StubState>>) -> Response {
    Json(state.lock().pages.clone()).into_response()
}

async fn show_requests(State(state): State<Arc<StubState>>) -> Response {
    Json(state.lock().requests.clone()).into_response()
}

fn control_error(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    pagerduty::pd_error(
        StatusCode::NOT_FOUND,
        2100,
        "Not Found",
        &["The stub does not serve this path."],
    )
}

/// What the stub's tests share: a stub on 127.0.0.1:0 and a client that speaks to it like the bot does.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) async fn demo_stub() -> StubHandle {
        StubServer::start("127.0.0.1:0", StubData::demo(), Fault::None)
            .await
            .unwrap()
    }

    /// A plain HTTP client. reqwest is built with `rustls-no-provider` and refuses to build a client, even
    /// for plain HTTP, until a crypto provider is installed.
    pub(crate) fn client() -> reqwest::Client {
        crate::crypto::install_crypto_provider();
        reqwest::Client::new()
    }

    /// A GET with the PagerDuty headers the bot sends.
    pub(crate) fn get(stub: &StubHandle, path: &str) -> reqwest::RequestBuilder {
        client()
            .get(format!("{}{path}", stub.url()))
            .header("Authorization", "Token token=test-key")
            .header("Accept", "application/vnd.pagerduty+json;version=2")
    }

    /// A POST with the PagerDuty headers the bot sends, `From` included.
    pub(crate) fn post(
        stub: &StubHandle,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::RequestBuilder {
        client()
            .post(format!("{}{path}", stub.url()))
            .header("Authorization", "Token token=test-key")
            .header("Accept", "application/vnd.pagerduty+json;version=2")
            .header("From", "icbot@example.com")
            .json(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{client, demo_stub, get, post};
    use super::*;
    use std::time::Instant;

    async fn status_of(stub: &StubHandle, path: &str) -> u16 {
        get(stub, path).send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn the_oncall_control_route_changes_who_is_on_call() {
        let stub = demo_stub().await;
        let control = format!("{}/_oncall", stub.url());
        let set = |body: serde_json::Value| client().post(&control).json(&body).send();
        let ok = set(serde_json::json!({
            "schedule": "PIC0001",
            "on_call": [{"user_id": "PUSR002", "end": "+3h"}]
        }))
        .await
        .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let oncalls: serde_json::Value =
            get(&stub, "/oncalls?schedule_ids[]=PIC0001&include[]=users")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let entries = oncalls["oncalls"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{oncalls}");
        assert_eq!(entries[0]["user"]["id"], "PUSR002");
        assert!(entries[0]["end"].is_string(), "{oncalls}");

        let unknown_schedule = set(serde_json::json!({"schedule": "PNOPE", "on_call": []}))
            .await
            .unwrap();
        assert_eq!(unknown_schedule.status().as_u16(), 404);
        let unknown_user = set(serde_json::json!({
            "schedule": "PIC0001",
            "on_call": [{"user_id": "PNOBODY"}]
        }))
        .await
        .unwrap();
        assert_eq!(unknown_user.status().as_u16(), 400);
        let emptied = set(serde_json::json!({"schedule": "PIC0001", "on_call": []}))
            .await
            .unwrap();
        assert_eq!(emptied.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn each_fault_answers_its_status() {
        let stub = demo_stub().await;
        let cases = [
            (Fault::None, 200),
            (Fault::Error, 500),
            (Fault::Unavailable, 503),
            (Fault::RateLimit, 429),
            (Fault::Unauthorized, 401),
            (Fault::Malformed, 200),
        ];
        for (fault, status) in cases {
            stub.set_fault(fault, None);
            assert_eq!(status_of(&stub, "/oncalls").await, status, "{fault}");
        }
    }

    #[tokio::test]
    async fn error_faults_carry_pagerduty_error_bodies() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::RateLimit, None);
        let response = get(&stub, "/oncalls").send().await.unwrap();
        assert_eq!(response.headers()["ratelimit-reset"], "1");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 2020);
        stub.set_fault(Fault::Error, None);
        let body: serde_json::Value = get(&stub, "/oncalls")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body["error"]["message"].is_string());
    }

    #[tokio::test]
    async fn malformed_answers_200_with_a_body_that_is_not_json() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Malformed, None);
        let body = get(&stub, "/oncalls")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    }

    #[tokio::test]
    async fn hang_never_answers() {
        let stub = StubServer::start("127.0.0.1:0", StubData::demo(), Fault::Hang)
            .await
            .unwrap();
        let answer =
            tokio::time::timeout(Duration::from_millis(200), get(&stub, "/oncalls").send()).await;
        assert!(answer.is_err(), "a hanging stub answered: {answer:?}");
        assert_eq!(stub.request_count("/oncalls"), 1);
    }

    #[tokio::test]
    async fn a_hanging_request_does_not_hold_up_shutdown() {
        let stub = StubServer::start("127.0.0.1:0", StubData::demo(), Fault::Hang)
            .await
            .unwrap();
        let mut request = tokio::spawn(get(&stub, "/oncalls").send());
        assert!(
            tokio::time::timeout(Duration::from_millis(200), &mut request)
                .await
                .is_err()
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(2), stub.shutdown())
                .await
                .is_ok()
        );
        let answer = tokio::time::timeout(Duration::from_secs(2), request)
            .await
            .unwrap()
            .unwrap();
        assert!(answer.map_or(true, |r| !r.status().is_success()));
    }

    #[tokio::test]
    async fn slow_delays_then_answers() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Slow(Duration::from_millis(300)), None);
        let started = Instant::now();
        assert_eq!(status_of(&stub, "/oncalls").await, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn path_prefix_faults_apply_only_under_their_prefix() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Error, Some("/incidents".into()));
        stub.set_fault(Fault::Unavailable, Some("/users/".into()));
        let incident = post(&stub, "/incidents", serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(incident.status().as_u16(), 500);
        assert_eq!(status_of(&stub, "/oncalls").await, 200);
        assert_eq!(status_of(&stub, "/users").await, 200);
        assert_eq!(status_of(&stub, "/users/PUSR001").await, 503);
        stub.set_fault(Fault::None, None);
        assert_eq!(status_of(&stub, "/users/PUSR001").await, 200);
    }

    #[tokio::test]
    async fn a_fault_without_a_path_replaces_the_path_faults() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Error, Some("/users/".into()));
        assert_eq!(status_of(&stub, "/users/PUSR001").await, 500);
        stub.set_fault(Fault::RateLimit, None);
        assert_eq!(status_of(&stub, "/oncalls").await, 429);
        assert_eq!(
            status_of(&stub, "/users/PUSR001").await,
            429,
            "the drill's new fault, not the old path fault"
        );
        // Through the control endpoint too, and a path fault added after it stays.
        let chaos = format!("{}/_chaos", stub.url());
        let client = client();
        for body in [
            json!({"fault": "error", "path": "/incidents"}),
            json!({"fault": "unavailable"}),
            json!({"fault": "malformed", "path": "/users"}),
        ] {
            let r = client.post(&chaos).json(&body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
        let incident = post(&stub, "/incidents", serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            incident.status().as_u16(),
            503,
            "the /incidents fault was replaced"
        );
        assert_eq!(
            status_of(&stub, "/users").await,
            200,
            "malformed answers 200"
        );
        assert_eq!(status_of(&stub, "/oncalls").await, 503);
    }

    #[tokio::test]
    async fn chaos_endpoint_sets_and_clears_faults() {
        let stub = demo_stub().await;
        let client = client();
        let chaos = format!("{}/_chaos", stub.url());
        let set = client
            .post(&chaos)
            .json(&json!({"fault": "unavailable", "path": "/users"}))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status().as_u16(), 200);
        assert_eq!(status_of(&stub, "/users").await, 503);
        assert_eq!(status_of(&stub, "/oncalls").await, 200);
        client
            .post(&chaos)
            .json(&json!({"fault": "error"}))
            .send()
            .await
            .unwrap();
        assert_eq!(status_of(&stub, "/oncalls").await, 500);
        client
            .post(&chaos)
            .json(&json!({"fault": "none"}))
            .send()
            .await
            .unwrap();
        assert_eq!(status_of(&stub, "/users").await, 200);
        assert_eq!(status_of(&stub, "/oncalls").await, 200);
    }

    #[tokio::test]
    async fn chaos_endpoint_rejects_an_unknown_fault() {
        let stub = demo_stub().await;
        let response = client()
            .post(format!("{}/_chaos", stub.url()))
            .json(&json!({"fault": "meltdown"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("unknown fault `meltdown`"));
    }

    #[tokio::test]
    async fn underscore_endpoints_are_never_faulted() {
        let stub = StubServer::start("127.0.0.1:0", StubData::demo(), Fault::Hang)
            .await
            .unwrap();
        let pages = tokio::time::timeout(
            Duration::from_secs(2),
            client().get(format!("{}/_pages", stub.url())).send(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(pages.status().as_u16(), 200);
        assert_eq!(stub.request_count("/_"), 0);
    }

    #[tokio::test]
    async fn requests_are_counted_per_path_even_when_faulted() {
        let stub = demo_stub().await;
        stub.set_fault(Fault::Error, Some("/users".into()));
        status_of(&stub, "/users/PUSR001").await;
        status_of(&stub, "/users").await;
        status_of(&stub, "/oncalls").await;
        assert_eq!(stub.request_count("/users"), 2);
        assert_eq!(stub.request_count("/"), 3);
        let counts: BTreeMap<String, usize> = client()
            .get(format!("{}/_requests", stub.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(counts.get("/users/PUSR001"), Some(&1));
    }

    #[tokio::test]
    async fn after_shutdown_connections_are_refused() {
        let stub = demo_stub().await;
        let url = stub.url();
        assert_eq!(status_of(&stub, "/oncalls").await, 200);
        stub.shutdown().await;
        let error = client()
            .get(format!("{url}/oncalls"))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error}");
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let stub = demo_stub().await;
        let addr = stub.addr();
        drop(stub);
        let refused = tokio::time::timeout(Duration::from_secs(2), async {
            while tokio::net::TcpStream::connect(addr).await.is_ok() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(
            refused.is_ok(),
            "the stub still accepts connections after its handle was dropped"
        );
    }

    #[tokio::test]
    async fn serve_runs_on_a_given_listener_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(StubServer::serve(
            listener,
            StubData::demo(),
            Fault::None,
            async move {
                let _ = stopped.await;
            },
        ));
        let answer = client()
            .get(format!("http://{addr}/api/v2/status.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(client()
            .get(format!("http://{addr}/api/v2/status.json"))
            .send()
            .await
            .is_err());
    }

    #[tokio::test]
    async fn unknown_paths_get_a_pagerduty_404() {
        let stub = demo_stub().await;
        let response = get(&stub, "/escalation_policies").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 2100);
    }
}
