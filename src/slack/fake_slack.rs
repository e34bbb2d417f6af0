//! A fake Slack on 127.0.0.1:0 for the adapter's tests: the Web API methods the bot calls, and a Socket Mode
//! WebSocket server. Tests drive it through channels, so nothing waits by sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const APP_TOKEN: &str = "xapp-test-app-token";
pub const BOT_USER: &str = "UBOT";
pub const BOT_ID: &str = "BBOT";
/// The Events API signing secret the tests' requests are signed with.
pub const SIGNING_SECRET: &str = "test-signing-secret";
/// The longest a test waits for anything the fake records.
const WAIT: Duration = Duration::from_secs(10);

/// A `chat.postMessage` Slack accepted.
#[derive(Debug, Clone)]
pub struct AcceptedPost {
    pub body: Value,
    pub at: Instant,
}

struct FakeState {
    ws_url: String,
    /// How many of the next `chat.postMessage` calls answer 429, and the `Retry-After` they carry.
    rate_limits: AtomicU32,
    retry_after_secs: AtomicU32,
    post_attempts: AtomicU32,
    posts: mpsc::UnboundedSender<AcceptedPost>,
    users_info_calls: AtomicU32,
    emails: Mutex<HashMap<String, String>>,
    time_zones: Mutex<HashMap<String, String>>,
    connections_opened: AtomicU32,
    /// Existing user groups: handle -> id.
    user_groups: Mutex<HashMap<String, String>>,
    /// Every `usergroups.users.update`: the group id and the user ids, in call order.
    group_updates: Mutex<Vec<(String, Vec<String>)>>,
    lookups_by_email: AtomicU32,
    /// Numbers the `ts` of each accepted post.
    posted: AtomicU32,
    /// Every accepted `chat.update` body, in order.
    updates: Mutex<Vec<Value>>,
    updated: tokio::sync::Notify,
}

/// One Socket Mode connection the bot opened.
pub struct FakeSocket {
    commands: mpsc::UnboundedSender<SocketCommand>,
    /// `envelope_id`s the bot acknowledged on this connection.
    acks: mpsc::UnboundedReceiver<String>,
}

enum SocketCommand {
    Send(String),
    /// Drops the TCP connection without a WebSocket close, as a network failure would.
    Drop,
}

impl FakeSocket {
    /// Pushes an `events_api` envelope carrying this message event.
    pub fn send_event(&self, envelope_id: &str, event: Value) {
        let envelope = json!({
            "type": "events_api",
            "envelope_id": envelope_id,
            "accepts_response_payload": false,
            "payload": event_callback(&format!("Ev{envelope_id}"), event),
        });
        let _ = self
            .commands
            .send(SocketCommand::Send(envelope.to_string()));
    }

    /// Pushes an `interactive` envelope: `user` pressed the button `action_id` (value `value`) on the message
    /// `message_ts` in `channel`, as Slack sends a block action.
    pub fn press_button(
        &self,
        envelope_id: &str,
        user: &str,
        channel: &str,
        message_ts: &str,
        action_id: &str,
        value: &str,
    ) {
        let envelope = json!({
            "type": "interactive",
            "envelope_id": envelope_id,
            "accepts_response_payload": false,
            "payload": block_action(user, channel, message_ts, action_id, value),
        });
        let _ = self
            .commands
            .send(SocketCommand::Send(envelope.to_string()));
    }

    /// Pushes a `slash_commands` envelope: `user` typed `command text` in `channel`.
    pub fn slash_command(
        &self,
        envelope_id: &str,
        user: &str,
        channel: &str,
        command: &str,
        text: &str,
    ) {
        let envelope = json!({
            "type": "slash_commands",
            "envelope_id": envelope_id,
            "accepts_response_payload": true,
            "payload": slash_command(user, channel, command, text),
        });
        let _ = self
            .commands
            .send(SocketCommand::Send(envelope.to_string()));
    }

    pub fn drop_connection(&self) {
        let _ = self.commands.send(SocketCommand::Drop);
    }

    /// The next `envelope_id` the bot acknowledged, failing the test after 10 s. slack-morphism acks after
    /// the push-event callback returned, so by then the event was delivered to the gateway or ignored.
    pub async fn next_ack(&mut self) -> String {
        tokio::time::timeout(WAIT, self.acks.recv())
            .await
            .expect("an ack within 10 s")
            .expect("socket open")
    }
}

/// A channel message event as Slack sends it (`U1` says `!ic oncall` in `C1`), with `extra` fields merged in.
pub fn message_event(extra: Value) -> Value {
    let mut event = json!({
        "type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
        "text": "!ic oncall", "ts": "1700000000.000100", "event_ts": "1700000000.000100"
    });
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            event.insert(k.clone(), v.clone());
        }
    }
    event
}

/// Unix seconds now, for `X-Slack-Request-Timestamp`.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// POSTs `body` to an Events API endpoint as Slack would, signed with `secret` at `timestamp`; returns the
/// status and the body of the answer.
pub async fn push_event(url: &str, body: &Value, secret: &str, timestamp: i64) -> (u16, String) {
    let body = body.to_string();
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .expect("events request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// `X-Slack-Signature` for `body` sent at `timestamp`, signed with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// An Events API `event_callback` body.
pub fn event_callback(event_id: &str, event: Value) -> Value {
    json!({
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "event_id": event_id,
        "event_time": 1_700_000_000,
    })
}

pub struct FakeSlack {
    /// The Web API base, for `[slack] api_url`.
    pub api_url: String,
    state: Arc<FakeState>,
    /// Accepted posts, in the order Slack accepted them.
    pub posts: mpsc::UnboundedReceiver<AcceptedPost>,
    /// Each Socket Mode connection, as the bot opens it (after `hello` was sent).
    pub sockets: mpsc::UnboundedReceiver<FakeSocket>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let ws = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
        let ws_url = format!("ws://{}/link", ws.local_addr().expect("ws addr"));
        let (sockets_tx, sockets) = mpsc::unbounded_channel();
        tokio::spawn(serve_sockets(ws, sockets_tx));

        let (posts_tx, posts) = mpsc::unbounded_channel();
        let state = Arc::new(FakeState {
            ws_url,
            rate_limits: AtomicU32::new(0),
            retry_after_secs: AtomicU32::new(1),
            post_attempts: AtomicU32::new(0),
            posts: posts_tx,
            users_info_calls: AtomicU32::new(0),
            emails: Mutex::new(HashMap::new()),
            time_zones: Mutex::new(HashMap::new()),
            connections_opened: AtomicU32::new(0),
            user_groups: Mutex::new(HashMap::new()),
            group_updates: Mutex::new(Vec::new()),
            lookups_by_email: AtomicU32::new(0),
            posted: AtomicU32::new(0),
            updates: Mutex::new(Vec::new()),
            updated: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/api/auth.test", any(auth_test))
            .route("/api/apps.connections.open", any(connections_open))
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/chat.update", post(update_message))
            .route("/api/users.info", any(users_info))
            .route("/api/users.lookupByEmail", any(lookup_by_email))
            .route("/api/usergroups.list", any(usergroups_list))
            .route(
                "/api/usergroups.users.update",
                post(usergroups_users_update),
            )
            .with_state(state.clone());
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
        let api_url = format!("http://{}/api", http.local_addr().expect("api addr"));
        tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        FakeSlack {
            api_url,
            state,
            posts,
            sockets,
        }
    }

    /// Every `chat.update` body accepted so far.
    pub fn updates(&self) -> Vec<Value> {
        self.state
            .updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits (at most ten seconds) until `n` `chat.update` calls were accepted, and returns them all.
    pub async fn wait_for_updates(&self, n: usize) -> Vec<Value> {
        let wait = async {
            loop {
                let updated = self.state.updated.notified();
                let updates = self.updates();
                if updates.len() >= n {
                    return updates;
                }
                updated.await;
            }
        };
        tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| {
            panic!(
                "expected {n} chat.update calls, got {}",
                self.updates().len()
            )
        })
    }

    /// The next `times` posts answer 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_posts(&self, times: u32, retry_after_secs: u32) {
        self.state
            .retry_after_secs
            .store(retry_after_secs, Ordering::SeqCst);
        self.state.rate_limits.store(times, Ordering::SeqCst);
    }

    pub fn post_attempts(&self) -> u32 {
        self.state.post_attempts.load(Ordering::SeqCst)
    }

    pub fn set_email(&self, user: &str, email: &str) {
        let mut emails = self.state.emails.lock().expect("emails");
        emails.insert(user.to_string(), email.to_string());
    }

    /// The user's `tz` in `users.info` (a user with an email set).
    pub fn set_time_zone(&self, user: &str, tz: &str) {
        let mut zones = self.state.time_zones.lock().expect("time zones");
        zones.insert(user.to_string(), tz.to_string());
    }

    /// A user group that exists in the workspace.
    pub fn add_user_group(&self, handle: &str, id: &str) {
        let mut groups = self.state.user_groups.lock().expect("groups");
        groups.insert(handle.to_string(), id.to_string());
    }

    /// Every `usergroups.users.update` so far: group id and user ids.
    pub fn group_updates(&self) -> Vec<(String, Vec<String>)> {
        self.state.group_updates.lock().expect("updates").clone()
    }

    pub fn lookups_by_email(&self) -> u32 {
        self.state.lookups_by_email.load(Ordering::SeqCst)
    }

    pub fn users_info_calls(&self) -> u32 {
        self.state.users_info_calls.load(Ordering::SeqCst)
    }

    pub fn connections_opened(&self) -> u32 {
        self.state.connections_opened.load(Ordering::SeqCst)
    }

    /// The next accepted post, failing the test after 10 s.
    pub async fn next_post(&mut self) -> AcceptedPost {
        tokio::time::timeout(WAIT, self.posts.recv())
            .await
            .expect("a post within 10 s")
            .expect("fake running")
    }

    /// The posts accepted but not yet taken with [`FakeSlack::next_post`]; never waits.
    pub fn unread_posts(&mut self) -> Vec<AcceptedPost> {
        std::iter::from_fn(|| self.posts.try_recv().ok()).collect()
    }

    /// The next Socket Mode connection, failing the test after 10 s.
    pub async fn next_socket(&mut self) -> FakeSocket {
        tokio::time::timeout(WAIT, self.sockets.recv())
            .await
            .expect("a Socket Mode connection within 10 s")
            .expect("fake running")
    }
}

fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {token}"))
}

fn invalid_auth() -> Response {
    Json(json!({"ok": false, "error": "invalid_auth"})).into_response()
}

async fn auth_test(headers: HeaderMap) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    Json(json!({
        "ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "icbot",
        "team_id": "T1", "user_id": BOT_USER, "bot_id": BOT_ID
    }))
    .into_response()
}

async fn connections_open(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if !bearer_is(&headers, APP_TOKEN) {
        return invalid_auth();
    }
    state.connections_opened.fetch_add(1, Ordering::SeqCst);
    Json(json!({"ok": true, "url": state.ws_url})).into_response()
}

async fn post_message(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    state.post_attempts.fetch_add(1, Ordering::SeqCst);
    let limited = state
        .rate_limits
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if limited {
        let retry_after = state.retry_after_secs.load(Ordering::SeqCst).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
    }
    let channel = body["channel"].clone();
    let text = body["text"].clone();
    let n = state.posted.fetch_add(1, Ordering::SeqCst);
    let ts = format!("1700000000.{:06}", 200 + n);
    let _ = state.posts.send(AcceptedPost {
        body,
        at: Instant::now(),
    });
    Json(json!({
        "ok": true, "channel": channel, "ts": ts,
        "message": {"type": "message", "ts": ts, "text": text, "user": BOT_USER}
    }))
    .into_response()
}

/// `chat.update`: recorded, and answered as Slack does.
async fn update_message(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    let (channel, ts, text) = (
        body["channel"].clone(),
        body["ts"].clone(),
        body["text"].clone(),
    );
    state
        .updates
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(body);
    state.updated.notify_waiters();
    Json(json!({
        "ok": true, "channel": channel, "ts": ts,
        "message": {"text": text}
    }))
    .into_response()
}

async fn users_info(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    state.users_info_calls.fetch_add(1, Ordering::SeqCst);
    let user = query.get("user").cloned().unwrap_or_default();
    let email = state.emails.lock().expect("emails").get(&user).cloned();
    let tz = state
        .time_zones
        .lock()
        .expect("time zones")
        .get(&user)
        .cloned();
    match email {
        Some(email) => Json(json!({
            "ok": true,
            "user": {"id": user, "name": "someone", "tz": tz, "profile": {"email": email, "real_name": "Some One"}}
        }))
        .into_response(),
        None => Json(json!({"ok": false, "error": "user_not_found"})).into_response(),
    }
}

async fn lookup_by_email(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    state.lookups_by_email.fetch_add(1, Ordering::SeqCst);
    let wanted = query.get("email").cloned().unwrap_or_default();
    let emails = state.emails.lock().expect("emails").clone();
    match emails
        .into_iter()
        .find(|(_, email)| email.eq_ignore_ascii_case(&wanted))
    {
        Some((user, email)) => Json(json!({
            "ok": true,
            "user": {"id": user, "name": "someone", "profile": {"email": email}}
        }))
        .into_response(),
        None => Json(json!({"ok": false, "error": "users_not_found"})).into_response(),
    }
}

async fn usergroups_list(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    let groups: Vec<Value> = state
        .user_groups
        .lock()
        .expect("groups")
        .iter()
        .map(|(handle, id)| json!({"id": id, "handle": handle, "name": handle}))
        .collect();
    Json(json!({"ok": true, "usergroups": groups})).into_response()
}

async fn usergroups_users_update(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !bearer_is(&headers, BOT_TOKEN) {
        return invalid_auth();
    }
    // slack-morphism posts a JSON body.
    let fields: HashMap<String, String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|o| {
            o.into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let group = fields.get("usergroup").cloned().unwrap_or_default();
    let users: Vec<String> = fields
        .get("users")
        .map(|u| {
            u.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let known = state
        .user_groups
        .lock()
        .expect("groups")
        .values()
        .any(|id| *id == group);
    if !known {
        return Json(json!({"ok": false, "error": "no_such_subteam"})).into_response();
    }
    if users.is_empty() {
        return Json(json!({"ok": false, "error": "invalid_users"})).into_response();
    }
    state
        .group_updates
        .lock()
        .expect("updates")
        .push((group.clone(), users.clone()));
    Json(json!({"ok": true, "usergroup": {"id": group, "users": users}})).into_response()
}

async fn serve_sockets(listener: TcpListener, sockets: mpsc::UnboundedSender<FakeSocket>) {
    while let Ok((stream, _)) = listener.accept().await {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            continue;
        };
        let hello = json!({
            "type": "hello", "num_connections": 1,
            "connection_info": {"app_id": "A1"},
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600}
        });
        if ws
            .send(Message::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            continue;
        }
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let _ = sockets.send(FakeSocket { commands, acks });
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    command = command_rx.recv() => match command {
                        Some(SocketCommand::Send(text)) => {
                            if ws.send(Message::Text(text.into())).await.is_err() {
                                return;
                            }
                        }
                        Some(SocketCommand::Drop) | None => return,
                    },
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let ack: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                            if let Some(id) = ack["envelope_id"].as_str() {
                                let _ = acks_tx.send(id.to_string());
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    },
                }
            }
        });
    }
}

/// A `block_actions` interaction payload as Slack sends it for a button press.
pub fn block_action(
    user: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "incidents"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "b1", "value": value,
            "text": {"type": "plain_text", "text": "Acknowledge"}, "action_ts": "1700000001.000100"
        }]
    })
}

/// POSTs a button press to the bot's `POST /slack/interactivity` as Slack would (a form with `payload`),
/// signed with `secret` at `timestamp`; returns the status.
pub async fn push_interaction(url: &str, payload: &Value, secret: &str, timestamp: i64) -> u16 {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .expect("interactivity request");
    response.status().as_u16()
}

/// A slash command's fields as Slack sends them: `user` typed `command text` in `channel`.
pub fn slash_command(user: &str, channel: &str, command: &str, text: &str) -> Value {
    json!({
        "token": "legacy",
        "team_id": "T1",
        "team_domain": "example",
        "channel_id": channel,
        "channel_name": "incidents",
        "user_id": user,
        "user_name": "someone",
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T1/1/x",
        "trigger_id": "1.2.3",
    })
}

/// POSTs a slash command to the bot's `POST /slack/commands` as Slack would (a form of the fields of
/// [`slash_command`]), signed with `secret` at `timestamp`; returns the status and the body of the answer.
pub async fn push_slash_command(
    url: &str,
    fields: &Value,
    secret: &str,
    timestamp: i64,
) -> (u16, String) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if let Some(fields) = fields.as_object() {
        for (key, value) in fields {
            form.append_pair(key, value.as_str().unwrap_or_default());
        }
    }
    let body = form.finish();
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .expect("commands request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}
