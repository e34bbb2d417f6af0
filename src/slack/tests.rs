//! The Slack adapter end to end through slack-morphism, against the fake Slack in `fake_slack.rs`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use icbot_actors::chat::{ChatTarget, InboundMessage};
use icbot_actors::commands::gateway::{GatewayHandle, GatewayMessage};
use icbot_actors::commands::in_flight::InFlight;
use icbot_actors::ports::ChatOut;
use icbot_actors::reply::{code, strong, text, Reply};
use icbot_actors::supervision::names::ActorNames;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::fake_slack::{
    event_callback, message_event as message, now_secs, push_event, FakeSlack, APP_TOKEN, BOT_ID,
    BOT_TOKEN, BOT_USER, SIGNING_SECRET,
};
use super::*;

const WAIT: Duration = Duration::from_secs(10);

/// Distinct registry names per test: the ractor registry is process-wide.
fn names() -> ActorNames {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    ActorNames::with_prefix(format!(
        "slack-test-{}:",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Stands in for the gateway: forwards what it receives to the test.
struct RecordingGateway;

impl Actor for RecordingGateway {
    type Msg = GatewayMessage;
    type State = mpsc::UnboundedSender<InboundMessage>;
    type Arguments = mpsc::UnboundedSender<InboundMessage>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        tx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let GatewayMessage::Inbound(delivery) = message {
            let (msg, _guard, receipt) = delivery.open();
            let _ = tx.send(msg);
            receipt.taken();
        }
        Ok(())
    }
}

struct Delivered {
    rx: mpsc::UnboundedReceiver<InboundMessage>,
    gateway: ActorRef<GatewayMessage>,
}

impl Delivered {
    async fn next(&mut self) -> InboundMessage {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a delivered message within the wait")
            .expect("recording gateway running")
    }
}

impl Drop for Delivered {
    fn drop(&mut self) {
        self.gateway.stop(None);
    }
}

/// The recording gateway answers nothing, so the handle has nobody to answer either.
struct NoReplies;

#[async_trait::async_trait]
impl ChatOut for NoReplies {
    async fn post(
        &self,
        _to: &ChatTarget,
        _reply: &Reply,
    ) -> Result<(), icbot_actors::ports::ChatError> {
        Ok(())
    }
}

async fn recording_gateway() -> (GatewayHandle, Delivered) {
    let names = names();
    let (tx, rx) = mpsc::unbounded_channel();
    let (gateway, _) = Actor::spawn(Some(names.gateway()), RecordingGateway, tx)
        .await
        .expect("spawn recording gateway");
    let handle = GatewayHandle::new(&names, InFlight::new(), Arc::new(NoReplies));
    (handle, Delivered { rx, gateway })
}

fn settings(fake: &FakeSlack, mode: SlackMode) -> SlackSettings {
    SlackSettings {
        mode,
        api_url: fake.api_url.clone(),
        listen: "127.0.0.1:0".into(),
        post_timeout: Duration::from_secs(5),
        per_channel_interval: Duration::from_millis(20),
    }
}

fn secrets() -> SlackSecrets {
    SlackSecrets {
        bot_token: SecretString::from(BOT_TOKEN),
        app_token: Some(SecretString::from(APP_TOKEN)),
        signing_secret: Some(SecretString::from(SIGNING_SECRET)),
    }
}

fn chat(settings: &SlackSettings) -> Arc<SlackChat> {
    Arc::new(SlackChat::new(settings, &secrets()).expect("chat"))
}

pub(super) async fn wait_connected(running: &SlackRunning, want: bool) {
    let mut connection = running.connection();
    tokio::time::timeout(WAIT, connection.wait_for(|c| *c == want))
        .await
        .expect("connection state within the wait")
        .expect("flag alive");
}

struct SocketBot {
    fake: FakeSlack,
    running: SlackRunning,
    delivered: Delivered,
}

async fn socket_bot() -> SocketBot {
    crate::crypto::install_crypto_provider();
    let fake = FakeSlack::start().await;
    let settings = settings(&fake, SlackMode::Socket);
    let (gateway, delivered) = recording_gateway().await;
    let running = start_inbound(&settings, &secrets(), chat(&settings), gateway, None, None)
        .await
        .expect("start Slack inbound");
    SocketBot {
        fake,
        running,
        delivered,
    }
}

#[tokio::test]
async fn socket_mode_delivers_a_channel_command_and_acks_it() {
    let mut bot = socket_bot().await;
    assert_eq!(bot.running.me.user_id, BOT_USER);
    let mut socket = bot.fake.next_socket().await;
    wait_connected(&bot.running, true).await;

    socket.send_event("env-1", message(json!({"text": "!ic page db is down"})));
    let msg = bot.delivered.next().await;
    assert_eq!(
        msg,
        InboundMessage {
            reply_to: ChatTarget::channel("C1"),
            user: "U1".into(),
            text: "!ic page db is down".into(),
            direct: false,
        }
    );
    assert_eq!(socket.next_ack().await, "env-1");

    socket.send_event("env-2", message(json!({"thread_ts": "1699999999.000001"})));
    let msg = bot.delivered.next().await;
    assert_eq!(msg.reply_to.thread.as_deref(), Some("1699999999.000001"));
    assert_eq!(socket.next_ack().await, "env-2");
    bot.running.shutdown().await;
}

#[tokio::test]
async fn socket_mode_ignores_own_bot_edit_and_deletion_but_acks_them() {
    let mut bot = socket_bot().await;
    let mut socket = bot.fake.next_socket().await;
    let ignored = [
        message(json!({"user": BOT_USER, "bot_id": BOT_ID, "text": "!ic oncall (mine)"})),
        message(json!({"bot_id": "BOTHER", "subtype": "bot_message", "text": "!ic page"})),
        message(json!({
            "subtype": "message_changed", "hidden": true,
            "message": {"type": "message", "user": "U1", "text": "!ic page edited", "ts": "1.1"}
        })),
        message(json!({"subtype": "message_deleted", "hidden": true, "deleted_ts": "1.1"})),
    ];
    for (i, event) in ignored.into_iter().enumerate() {
        socket.send_event(&format!("ignored-{i}"), event);
    }
    socket.send_event("real", message(json!({"text": "!ic help"})));
    for i in 0..4 {
        assert_eq!(socket.next_ack().await, format!("ignored-{i}"));
    }
    assert_eq!(socket.next_ack().await, "real");
    // Deliveries keep the envelopes' order: the first one through is the only command.
    assert_eq!(bot.delivered.next().await.text, "!ic help");
    bot.running.shutdown().await;
}

#[tokio::test]
async fn dropped_socket_reconnects_and_delivers_the_next_envelope() {
    let mut bot = socket_bot().await;
    let first = bot.fake.next_socket().await;
    wait_connected(&bot.running, true).await;
    first.drop_connection();

    let mut second = bot.fake.next_socket().await;
    assert_eq!(bot.fake.connections_opened(), 2);
    wait_connected(&bot.running, true).await;
    second.send_event("after-reconnect", message(json!({"text": "!status"})));
    assert_eq!(bot.delivered.next().await.text, "!status");
    assert_eq!(second.next_ack().await, "after-reconnect");
    bot.running.shutdown().await;
}

#[tokio::test]
async fn post_renders_mrkdwn_to_the_right_channel_and_thread() {
    crate::crypto::install_crypto_provider();
    let mut fake = FakeSlack::start().await;
    let chat = chat(&settings(&fake, SlackMode::Socket));
    let mut reply = Reply::new();
    reply.line(vec![
        strong("On call:"),
        text(" <!channel> & co, try "),
        code("!ic page"),
    ]);
    let to = ChatTarget {
        channel: "C9".into(),
        thread: Some("1700000000.000100".into()),
        answers: None,
    };
    chat.post(&to, &reply).await.expect("posted");

    let post = fake.next_post().await;
    assert_eq!(post.body["channel"], "C9");
    assert_eq!(post.body["thread_ts"], "1700000000.000100");
    assert_eq!(
        post.body["text"],
        "*On call:* &lt;!channel&gt; &amp; co, try `!ic page`"
    );

    chat.post(&ChatTarget::channel("C9"), &Reply::text("top"))
        .await
        .expect("posted");
    let post = fake.next_post().await;
    assert!(post.body.get("thread_ts").is_none(), "{}", post.body);
}

#[tokio::test]
async fn rate_limited_post_waits_retry_after_then_succeeds() {
    crate::crypto::install_crypto_provider();
    let mut fake = FakeSlack::start().await;
    let chat = chat(&settings(&fake, SlackMode::Socket));
    fake.rate_limit_posts(1, 1);
    let started = tokio::time::Instant::now();
    chat.post(&ChatTarget::channel("C1"), &Reply::text("after a 429"))
        .await
        .expect("posted after the retry");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.post_attempts(), 2);
    assert_eq!(fake.next_post().await.body["text"], "after a 429");
}

#[tokio::test]
async fn posts_to_one_channel_stay_in_order_and_are_paced() {
    crate::crypto::install_crypto_provider();
    let mut fake = FakeSlack::start().await;
    let mut settings = settings(&fake, SlackMode::Socket);
    settings.per_channel_interval = Duration::from_millis(50);
    let chat = chat(&settings);
    // The first is refused once: without the queue the others would overtake it.
    fake.rate_limit_posts(1, 0);
    let to = ChatTarget::channel("C1");
    let replies: Vec<Reply> = (1..=4).map(|i| Reply::text(format!("m{i}"))).collect();
    let (a, b, c, d) = tokio::join!(
        chat.post(&to, &replies[0]),
        chat.post(&to, &replies[1]),
        chat.post(&to, &replies[2]),
        chat.post(&to, &replies[3]),
    );
    for result in [a, b, c, d] {
        result.expect("posted");
    }
    let mut previous: Option<tokio::time::Instant> = None;
    for i in 1..=4 {
        let post = fake.next_post().await;
        assert_eq!(post.body["text"], format!("m{i}"));
        if let Some(previous) = previous {
            assert!(post.at - previous >= Duration::from_millis(45), "paced");
        }
        previous = Some(post.at);
    }
}

#[tokio::test]
async fn a_busy_channel_does_not_hold_up_another() {
    crate::crypto::install_crypto_provider();
    let mut fake = FakeSlack::start().await;
    let mut settings = settings(&fake, SlackMode::Socket);
    settings.per_channel_interval = Duration::from_secs(1);
    let chat = chat(&settings);
    chat.post(&ChatTarget::channel("C1"), &Reply::text("first"))
        .await
        .expect("posted");
    let busy = Reply::text("second in C1");
    let other = Reply::text("only in C2");
    let c1 = ChatTarget::channel("C1");
    let c2 = ChatTarget::channel("C2");
    let (r1, r2) = tokio::join!(chat.post(&c1, &busy), chat.post(&c2, &other));
    r1.expect("posted");
    r2.expect("posted");
    assert_eq!(fake.next_post().await.body["text"], "first");
    assert_eq!(fake.next_post().await.body["text"], "only in C2");
    assert_eq!(fake.next_post().await.body["text"], "second in C1");
}

#[tokio::test]
async fn email_of_resolves_through_users_info_and_is_cached() {
    crate::crypto::install_crypto_provider();
    let fake = FakeSlack::start().await;
    fake.set_email("U1", "alice@example.com");
    let chat = chat(&settings(&fake, SlackMode::Socket));
    assert_eq!(
        chat.email_of("U1").await.expect("users.info"),
        Some("alice@example.com".to_string())
    );
    assert_eq!(
        chat.email_of("U1").await.expect("cached"),
        Some("alice@example.com".to_string())
    );
    assert_eq!(fake.users_info_calls(), 1);
    assert_eq!(chat.email_of("UNOBODY").await.expect("users.info"), None);
}

#[tokio::test]
async fn the_time_zone_comes_with_the_email_in_one_cached_users_info() {
    crate::crypto::install_crypto_provider();
    let fake = FakeSlack::start().await;
    fake.set_email("U1", "alice@example.com");
    fake.set_time_zone("U1", "Asia/Tokyo");
    fake.set_email("U2", "bob@example.com");
    let chat = chat(&settings(&fake, SlackMode::Socket));
    assert_eq!(
        chat.time_zone_of("U1").await.expect("users.info"),
        Some("Asia/Tokyo".to_string())
    );
    assert_eq!(
        chat.email_of("U1").await.expect("cached"),
        Some("alice@example.com".to_string())
    );
    assert_eq!(fake.users_info_calls(), 1, "one users.info for both");
    assert_eq!(chat.time_zone_of("U2").await.expect("users.info"), None);
}

// --- Events API ---

struct EventsBot {
    url: String,
    http: reqwest::Client,
    running: SlackRunning,
    delivered: Delivered,
    _fake: FakeSlack,
}

async fn events_bot() -> EventsBot {
    events_bot_with(None).await
}

/// An Events API bot that asks `seen` before delivering, as one replica of several.
async fn events_bot_with(seen: Option<Arc<dyn SeenEvents>>) -> EventsBot {
    crate::crypto::install_crypto_provider();
    let fake = FakeSlack::start().await;
    let settings = settings(&fake, SlackMode::Events);
    let (gateway, delivered) = recording_gateway().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}{EVENTS_PATH}",
        listener.local_addr().expect("addr")
    );
    let running = start_inbound(
        &settings,
        &secrets(),
        chat(&settings),
        gateway,
        Some(listener),
        seen,
    )
    .await
    .expect("start Slack inbound");
    assert!(running.is_connected());
    EventsBot {
        url,
        http: reqwest::Client::new(),
        running,
        delivered,
        _fake: fake,
    }
}

impl EventsBot {
    async fn send(&self, body: &Value, secret: &str, timestamp: i64) -> (u16, String) {
        push_event(&self.url, body, secret, timestamp).await
    }
}

#[tokio::test]
async fn events_api_delivers_a_correctly_signed_command() {
    let mut bot = events_bot().await;
    let body = event_callback(
        "Ev1",
        message(json!({"channel": "D1", "channel_type": "im"})),
    );
    let (status, _) = bot.send(&body, SIGNING_SECRET, now_secs()).await;
    assert_eq!(status, 200);
    let msg = bot.delivered.next().await;
    assert_eq!(msg.reply_to, ChatTarget::channel("D1"));
    assert!(msg.direct);
    bot.running.shutdown().await;
}

#[tokio::test]
async fn events_api_rejects_bad_signatures_and_stale_timestamps_before_any_actor() {
    let mut bot = events_bot().await;
    let forged = event_callback("Ev-forged", message(json!({"text": "!ic page forged"})));
    let (status, _) = bot.send(&forged, "not-the-secret", now_secs()).await;
    assert_eq!(status, 401);

    let stale = event_callback("Ev-stale", message(json!({"text": "!ic page stale"})));
    let (status, _) = bot.send(&stale, SIGNING_SECRET, now_secs() - 301).await;
    assert_eq!(status, 400);

    let unsigned = bot
        .http
        .post(&bot.url)
        .body(forged.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(unsigned.status().as_u16(), 401);

    let good = event_callback("Ev-good", message(json!({"text": "!ic page good"})));
    assert_eq!(bot.send(&good, SIGNING_SECRET, now_secs()).await.0, 200);
    // The first delivery is the good one: nothing rejected got through.
    assert_eq!(bot.delivered.next().await.text, "!ic page good");
    bot.running.shutdown().await;
}

#[tokio::test]
async fn events_api_answers_url_verification() {
    let bot = events_bot().await;
    let body = json!({"type": "url_verification", "token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"});
    let (status, answer) = bot.send(&body, SIGNING_SECRET, now_secs()).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    bot.running.shutdown().await;
}

#[tokio::test]
async fn events_api_drops_a_redelivered_event() {
    let mut bot = events_bot().await;
    let first = event_callback("Ev-same", message(json!({"text": "!ic page once"})));
    assert_eq!(bot.send(&first, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(bot.send(&first, SIGNING_SECRET, now_secs()).await.0, 200);
    let next = event_callback("Ev-next", message(json!({"text": "!ic page next"})));
    assert_eq!(bot.send(&next, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(bot.delivered.next().await.text, "!ic page once");
    assert_eq!(bot.delivered.next().await.text, "!ic page next");
    bot.running.shutdown().await;
}

/// The events the replicas handled, shared in memory: answers, fails, or never answers.
#[derive(Default)]
struct FakeSeen {
    handled: std::sync::Mutex<std::collections::HashSet<String>>,
    fail: std::sync::atomic::AtomicBool,
    hang: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SeenEvents for FakeSeen {
    async fn first_sighting(&self, event_id: &str) -> Result<bool, String> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err("database unreachable".into());
        }
        Ok(self.handled.lock().unwrap().insert(event_id.to_string()))
    }
}

#[tokio::test]
async fn an_event_sent_again_to_another_replica_is_handled_once() {
    let seen = Arc::new(FakeSeen::default());
    let mut a = events_bot_with(Some(seen.clone())).await;
    let mut b = events_bot_with(Some(seen.clone())).await;
    let first = event_callback("Ev-twice", message(json!({"text": "!ic page once"})));
    assert_eq!(a.send(&first, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(a.delivered.next().await.text, "!ic page once");
    // Slack thought the first delivery was lost and sends it again; a load balancer picks the other replica.
    assert_eq!(b.send(&first, SIGNING_SECRET, now_secs()).await.0, 200);
    let next = event_callback("Ev-after", message(json!({"text": "!ic page next"})));
    assert_eq!(b.send(&next, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(
        b.delivered.next().await.text,
        "!ic page next",
        "the other replica handles only the new event"
    );
    a.running.shutdown().await;
    b.running.shutdown().await;
}

#[tokio::test]
async fn a_command_is_handled_when_the_replicas_cannot_be_asked_or_do_not_answer() {
    let seen = Arc::new(FakeSeen::default());
    let mut bot = events_bot_with(Some(seen.clone())).await;
    seen.fail.store(true, Ordering::SeqCst);
    let failing = event_callback("Ev-db-down", message(json!({"text": "!ic page down"})));
    assert_eq!(bot.send(&failing, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(bot.delivered.next().await.text, "!ic page down");
    seen.hang.store(true, Ordering::SeqCst);
    let hanging = event_callback("Ev-db-hung", message(json!({"text": "!ic page hung"})));
    let sent = std::time::Instant::now();
    assert_eq!(bot.send(&hanging, SIGNING_SECRET, now_secs()).await.0, 200);
    assert_eq!(bot.delivered.next().await.text, "!ic page hung");
    assert!(
        sent.elapsed() >= SEEN_WAIT,
        "delivered after the wait for the other replicas, not before"
    );
    bot.running.shutdown().await;
}

// --- The live page card ---

fn card_reply(status: icbot_actors::ports::IncidentStatus) -> Reply {
    use icbot_actors::cache::oncall::Phone;
    use icbot_actors::reply::{CardRow, IncidentCard};
    let mut reply = Reply::text("Paged Alice Moreau: incident #7 https://pd/Q7");
    reply.card = Some(Box::new(IncidentCard {
        incident_id: "Q7".into(),
        number: 7,
        title: "db <!channel> down".into(),
        html_url: "https://pd/Q7".into(),
        status,
        acknowledged_by: vec![],
        rows: vec![CardRow {
            name: "Alice Moreau".into(),
            outcome: "✓ paged (incident assigned)".into(),
            phones: vec![Phone {
                country_code: Some(1),
                number: "2025550101".into(),
            }],
        }],
    }));
    reply
}

#[tokio::test]
async fn a_card_is_block_kit_with_buttons_and_is_edited_in_place() {
    use icbot_actors::ports::IncidentStatus;
    crate::crypto::install_crypto_provider();
    let mut fake = FakeSlack::start().await;
    let chat = chat(&settings(&fake, SlackMode::Socket));
    let posted = chat
        .post_tracked(
            &ChatTarget::channel("C1"),
            &card_reply(IncidentStatus::Triggered),
        )
        .await
        .expect("posted")
        .expect("Slack messages can be edited");
    let body = fake.next_post().await.body;
    assert_eq!(body["ts"], Value::Null);
    assert_eq!(posted.channel, "C1");
    assert!(posted.ts.starts_with("1700000000."), "{}", posted.ts);
    assert_eq!(
        body["text"], "Paged Alice Moreau: incident #7 https://pd/Q7",
        "the text fallback reads as today"
    );
    let blocks = body["blocks"].as_array().expect("Block Kit");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"], "#7 db <!channel> down",
        "plain text: no ping"
    );
    let all = serde_json::to_string(blocks).unwrap();
    assert!(all.contains("<tel:+12025550101|+1 2025550101>"), "{all}");
    let actions = blocks.last().unwrap();
    assert_eq!(actions["type"], "actions");
    assert_eq!(actions["elements"][0]["action_id"], "icbot_ack");
    assert_eq!(actions["elements"][0]["value"], "7");
    assert_eq!(actions["elements"][1]["action_id"], "icbot_resolve");

    let mut acked = card_reply(IncidentStatus::Acknowledged);
    if let Some(card) = acked.card.as_mut() {
        card.acknowledged_by = vec!["Alice Moreau".into()];
    }
    chat.update(&posted, &acked).await.expect("chat.update");
    let updates = fake.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["channel"], "C1");
    assert_eq!(updates[0]["ts"], posted.ts.as_str());
    let blocks = serde_json::to_string(&updates[0]["blocks"]).unwrap();
    assert!(
        blocks.contains("Status: ACKNOWLEDGED by Alice Moreau"),
        "{blocks}"
    );
    assert!(
        !blocks.contains("icbot_ack"),
        "acknowledged: only Resolve is left"
    );
    assert!(blocks.contains("icbot_resolve"), "{blocks}");
}
