//! The whole bot through Slack: the fake Slack in `fake_slack.rs` in front, the real supervision tree behind,
//! the PagerDuty and Alertmanager stub at the back. Started in `cli::run_slack`'s order: `SlackChat`, then
//! `app::start` with it, then `start_inbound` with the tree's gateway.
//!
//! Nothing here sleeps to wait: tests await the fake's recorded posts and acks, and `Bot`'s drain of the
//! replies in flight before they check that something did not happen.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use icbot_actors::supervision::names::ActorNames;
use serde_json::json;
use tokio::net::TcpListener;

use super::fake_slack::{
    event_callback, message_event, now_secs, push_event, AcceptedPost, FakeSlack, FakeSocket,
    APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER, SIGNING_SECRET,
};
use super::tests::wait_connected;
use super::*;
use crate::app::{self, Bot};
use crate::config::{Config, Secrets};
use crate::stub::{Fault, StubData, StubHandle, StubServer};

/// Slack user ids the fake's `users.info` knows, and the demo PagerDuty users their emails belong to.
const ALICE: &str = "U123";
const ALICE_EMAIL: &str = "alice.moreau@example.com";
const ALICE_PD: &str = "PUSR001";
/// Longest wait for the tree to answer everything it was given.
const DRAIN: Duration = Duration::from_secs(10);

/// A state directory under the system temp dir, removed on drop.
struct StateDir(PathBuf);

impl StateDir {
    fn new(tag: &str) -> StateDir {
        let dir =
            std::env::temp_dir().join(format!("icbot-slack-tree-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("state dir");
        StateDir(dir)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names() -> ActorNames {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    ActorNames::with_prefix(format!(
        "slack-tree-{}:",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

/// The configuration file a Slack deployment would have, pointed at the fakes.
fn config_text(mode: SlackMode, slack_api: &str, stub_url: &str, state: &StateDir) -> String {
    format!(
        r#"
[chat]
adapter = "slack"

[slack]
mode = "{mode}"
api_url = "{slack_api}"
listen = "127.0.0.1:0"
post_timeout = "5s"
per_channel_interval = "10ms"

[pagerduty]
api_url = "{stub_url}"
from_email = "icbot@example.com"
service_id = "PSVC001"
request_timeout = "2s"
connect_timeout = "1s"
lookup_deadline = "5s"
page_deadline = "5s"
ic_schedules = [
  {{ id = "PIC0001", label = "IC Primary" }},
  {{ id = "PIC0002", label = "IC Backup" }},
  {{ id = "PIC0003", label = "IC Shadow" }},
]
responder_schedules = [
  {{ id = "PTEAM01", label = "Payments" }},
  {{ id = "PTEAM02", label = "Database" }},
]

[status]
source = "alertmanager"
url = "{stub_url}"

[incidents]
poll_interval = "1s"

[state]
dir = "{state}"

[admin]
listen = ""
"#,
        state = state.0.display(),
    )
}

/// The environment a Slack deployment would have in `mode`.
fn secrets(mode: SlackMode) -> Secrets {
    Secrets::from_lookup(|name| {
        let value = match (name, mode) {
            ("PAGERDUTY_TOKEN", _) => "test-token",
            (BOT_TOKEN_VAR, _) => BOT_TOKEN,
            (APP_TOKEN_VAR, SlackMode::Socket) => APP_TOKEN,
            (SIGNING_SECRET_VAR, SlackMode::Events) => SIGNING_SECRET,
            _ => return None,
        };
        Some(value.to_string())
    })
}

/// Fake Slack, the real tree, the stub.
struct SlackBot {
    fake: FakeSlack,
    stub: StubHandle,
    bot: Bot,
    slack: SlackRunning,
    /// The Events API endpoint (events mode).
    events_url: String,
    _state: StateDir,
}

impl SlackBot {
    async fn start(mode: SlackMode, tag: &str) -> SlackBot {
        SlackBot::start_with(mode, tag, "", |_| {}).await
    }

    /// With more TOML appended to the config and the fake Slack prepared by `prepare` before the bot starts.
    async fn start_with(
        mode: SlackMode,
        tag: &str,
        extra: &str,
        prepare: impl FnOnce(&FakeSlack),
    ) -> SlackBot {
        crate::crypto::install_crypto_provider();
        let fake = FakeSlack::start().await;
        fake.set_email(ALICE, ALICE_EMAIL);
        prepare(&fake);
        let stub = StubServer::start("127.0.0.1:0", StubData::demo(), Fault::None)
            .await
            .expect("stub starts");
        let state = StateDir::new(tag);
        let config = Config::parse(
            &format!(
                "{}{extra}",
                config_text(mode, &fake.api_url, &stub.url(), &state)
            ),
            Vec::new(),
        )
        .expect("config parses");
        let secrets = secrets(mode);
        assert_eq!(config.problems(&secrets), Vec::<String>::new());

        // As `cli::run_slack`.
        let slack_secrets = secrets.slack(config.slack.mode).expect("Slack secrets");
        let chat = Arc::new(SlackChat::new(&config.slack, &slack_secrets).expect("chat"));
        let groups: Arc<dyn icbot_actors::ports::UserGroupsApi> = Arc::new(chat.user_groups());
        let bot = app::start_with_groups(&config, &secrets, chat.clone(), names(), Some(groups))
            .await
            .expect("bot starts");
        let listener = match config.slack.mode {
            SlackMode::Events => Some(
                TcpListener::bind(&config.slack.listen)
                    .await
                    .expect("bind slack.listen"),
            ),
            SlackMode::Socket => None,
        };
        let events_url = match &listener {
            Some(l) => format!("http://{}{EVENTS_PATH}", l.local_addr().expect("addr")),
            None => String::new(),
        };
        let slack = start_inbound(
            &config.slack,
            &slack_secrets,
            chat,
            bot.gateway().clone(),
            listener,
            None,
        )
        .await
        .expect("Slack inbound starts");
        SlackBot {
            fake,
            stub,
            bot,
            slack,
            events_url,
            _state: state,
        }
    }

    /// Socket Mode: the first connection, once Slack said hello on it.
    async fn connected_socket(&mut self) -> FakeSocket {
        let socket = self.fake.next_socket().await;
        wait_connected(&self.slack, true).await;
        socket
    }

    /// Waits until everything delivered so far is answered, then returns the posts nobody took yet.
    async fn unread_posts_after_drain(&mut self) -> Vec<AcceptedPost> {
        assert!(
            self.bot.gateway().drain(DRAIN).await,
            "replies still in flight"
        );
        self.fake.unread_posts()
    }

    async fn shutdown(self) {
        self.slack.shutdown().await;
        self.bot.shutdown().await;
        self.stub.shutdown().await;
    }
}

fn text_of(post: &AcceptedPost) -> &str {
    post.body["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn socket_command_in_a_channel_is_answered_in_that_channel() {
    let mut bot = SlackBot::start(SlackMode::Socket, "channel").await;
    let socket = bot.connected_socket().await;
    socket.send_event(
        "e1",
        message_event(json!({"channel": "C42", "text": "!ic"})),
    );

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C42");
    assert!(post.body.get("thread_ts").is_none(), "{}", post.body);
    assert!(
        text_of(&post).starts_with("*Incident Commanders on call now*"),
        "{}",
        text_of(&post)
    );
    assert!(
        text_of(&post).contains("Alice Moreau"),
        "{}",
        text_of(&post)
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_command_in_a_thread_is_answered_in_the_thread() {
    let mut bot = SlackBot::start(SlackMode::Socket, "thread").await;
    let socket = bot.connected_socket().await;
    let thread = "1699999999.000001";
    socket.send_event(
        "e1",
        message_event(json!({"channel": "C42", "text": "!ic help", "thread_ts": thread})),
    );

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C42");
    assert_eq!(post.body["thread_ts"], thread);
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_the_bots_own_message_reaches_no_actor() {
    let mut bot = SlackBot::start(SlackMode::Socket, "own").await;
    let mut socket = bot.connected_socket().await;
    // Slack echoes the bot's own posts back; one that reads like a command must not page anybody.
    socket.send_event(
        "own",
        message_event(json!({"user": BOT_USER, "bot_id": BOT_ID, "text": "!ic page loop"})),
    );
    socket.send_event(
        "own-no-bot-id",
        message_event(json!({"user": BOT_USER, "text": "!ic page loop"})),
    );
    assert_eq!(socket.next_ack().await, "own");
    assert_eq!(socket.next_ack().await, "own-no-bot-id");
    socket.send_event("person", message_event(json!({"text": "!ic help"})));

    let post = bot.fake.next_post().await;
    assert!(
        text_of(&post).contains("!ic page"),
        "help: {}",
        text_of(&post)
    );
    let unread = bot.unread_posts_after_drain().await;
    assert!(unread.is_empty(), "only the help was answered: {unread:?}");
    assert_eq!(bot.stub.request_count("/incidents"), 0);
    assert!(bot.stub.pages().incidents.is_empty());
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_who_mention_resolves_through_users_info_to_the_pagerduty_user() {
    let mut bot = SlackBot::start(SlackMode::Socket, "who-mention").await;
    let socket = bot.connected_socket().await;
    socket.send_event(
        "e1",
        message_event(json!({"text": format!("!ic who <@{ALICE}>")})),
    );

    let post = bot.fake.next_post().await;
    let text = text_of(&post);
    assert!(
        text.starts_with(&format!("*Alice Moreau* &lt;{ALICE_EMAIL}&gt;")),
        "{text}"
    );
    assert!(text.contains("On call now: IC Primary"), "{text}");
    assert_eq!(bot.fake.users_info_calls(), 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_page_mention_pages_that_pagerduty_user() {
    let mut bot = SlackBot::start(SlackMode::Socket, "page-mention").await;
    let socket = bot.connected_socket().await;
    socket.send_event(
        "e1",
        // Typed as "checkout & <eu> is down": Slack sends `&`, `<` and `>` as entities.
        message_event(
            json!({"text": format!("!ic page <@{ALICE}> checkout &amp; &lt;eu&gt; is down")}),
        ),
    );

    let post = bot.fake.next_post().await;
    assert!(
        text_of(&post).starts_with("*Paged Alice Moreau*: incident #1"),
        "{}",
        text_of(&post)
    );
    let pages = bot.stub.pages();
    assert_eq!(pages.incidents.len(), 1);
    let incident = &pages.incidents[0];
    assert_eq!(incident["assignments"][0]["assignee"]["id"], ALICE_PD);
    assert!(
        incident["title"]
            .as_str()
            .is_some_and(|t| t.contains("checkout & <eu> is down")),
        "{incident}"
    );
    assert!(pages.responder_requests.is_empty());
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_reply_refused_with_429_is_posted_after_retry_after() {
    let mut bot = SlackBot::start(SlackMode::Socket, "429").await;
    let socket = bot.connected_socket().await;
    bot.fake.rate_limit_posts(1, 1);
    let sent = tokio::time::Instant::now();
    socket.send_event("e1", message_event(json!({"text": "!ic help"})));

    let post = bot.fake.next_post().await;
    assert!(
        post.at - sent >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(bot.fake.post_attempts(), 2);
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_dropped_connection_reconnects_and_the_next_command_is_answered() {
    let mut bot = SlackBot::start(SlackMode::Socket, "reconnect").await;
    let first = bot.connected_socket().await;
    first.drop_connection();

    let second = bot.fake.next_socket().await;
    wait_connected(&bot.slack, true).await;
    assert_eq!(bot.fake.connections_opened(), 2);
    second.send_event(
        "after",
        message_event(json!({"channel": "C7", "text": "!ic"})),
    );

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C7");
    assert!(
        text_of(&post).contains("Alice Moreau"),
        "{}",
        text_of(&post)
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn events_signed_command_is_answered_through_the_tree() {
    let mut bot = SlackBot::start(SlackMode::Events, "events-good").await;
    assert!(bot.slack.is_connected());
    let body = event_callback(
        "Ev1",
        message_event(json!({"channel": "C9", "text": format!("!ic who <@{ALICE}>")})),
    );
    let (status, _) = push_event(&bot.events_url, &body, SIGNING_SECRET, now_secs()).await;
    assert_eq!(status, 200);

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C9");
    assert!(text_of(&post).contains(ALICE_EMAIL), "{}", text_of(&post));
    bot.shutdown().await;
}

#[tokio::test]
async fn events_forged_or_stale_requests_reach_no_actor() {
    let mut bot = SlackBot::start(SlackMode::Events, "events-bad").await;
    let page = |id: &str| {
        event_callback(
            id,
            message_event(json!({"text": format!("!ic page <@{ALICE}> {id}")})),
        )
    };
    let (status, _) = push_event(
        &bot.events_url,
        &page("forged"),
        "not-the-secret",
        now_secs(),
    )
    .await;
    assert_eq!(status, 401);
    let stale = now_secs() - 301;
    let (status, _) = push_event(&bot.events_url, &page("stale"), SIGNING_SECRET, stale).await;
    assert_eq!(status, 400);

    // The listener still works: a signed command after them is answered, and it is the only answer.
    let help = event_callback("good", message_event(json!({"text": "!ic help"})));
    let (status, _) = push_event(&bot.events_url, &help, SIGNING_SECRET, now_secs()).await;
    assert_eq!(status, 200);
    let post = bot.fake.next_post().await;
    assert!(
        text_of(&post).contains("!ic page"),
        "help: {}",
        text_of(&post)
    );

    let unread = bot.unread_posts_after_drain().await;
    assert!(unread.is_empty(), "only the help was answered: {unread:?}");
    assert_eq!(bot.fake.users_info_calls(), 0, "no mention looked up");
    assert_eq!(bot.stub.request_count("/incidents"), 0, "nobody paged");
    assert!(bot.stub.pages().incidents.is_empty());
    bot.shutdown().await;
}

/// Refreshes the on-call cache now, then waits for the user group sync that follows it.
async fn refresh_and_sync(bot: &SlackBot) -> icbot_actors::cache::user_groups::UserGroupFacts {
    use icbot_actors::cache::schedule_cache::ScheduleCacheMessage;
    let mut facts = bot.bot.user_group_facts().expect("groups configured");
    let before = facts.borrow_and_update().syncs;
    let cache =
        ractor::ActorRef::<ScheduleCacheMessage>::where_is(bot.bot.names().schedule_cache())
            .expect("schedule cache running");
    let refreshed =
        ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 10_000).expect("cache answers");
    assert_eq!(refreshed, Ok(()));
    let synced = tokio::time::timeout(DRAIN, facts.wait_for(|f| f.syncs > before))
        .await
        .expect("the sync finished")
        .expect("the sync is alive")
        .clone();
    synced
}

#[tokio::test]
async fn the_user_group_follows_who_is_on_call_and_people_missing_from_slack_are_listed() {
    let extra =
        "\n[[user_groups]]\nhandle = \"@ic-oncall\"\nschedules = [\"IC Primary\", \"IC Backup\"]\n";
    let bot = SlackBot::start_with(SlackMode::Events, "user-groups", extra, |fake| {
        fake.add_user_group("ic-oncall", "S0IC");
    })
    .await;
    // Alice (Primary) is in Slack; Bongani (Backup) is not.
    let facts = refresh_and_sync(&bot).await;
    let updates = bot.fake.group_updates();
    assert_eq!(updates, vec![("S0IC".to_string(), vec![ALICE.to_string()])]);
    assert_eq!(facts.not_in_chat, ["bongani.dlamini@example.com"]);
    assert_eq!(facts.members["ic-oncall"], [ALICE]);

    // Same people: no update, and the lookups come from the cache.
    let lookups = bot.fake.lookups_by_email();
    refresh_and_sync(&bot).await;
    assert_eq!(bot.fake.group_updates().len(), 1);
    assert_eq!(bot.fake.lookups_by_email(), lookups);

    // A handoff on the Primary schedule to someone in Slack: the group follows.
    bot.fake.set_email("U789", "chen.wei@example.com");
    bot.stub
        .set_on_call(
            "PIC0001",
            vec![crate::stub::StubOnCall {
                user_id: "PUSR003".into(),
                escalation_level: 1,
                start: None,
                end: None,
            }],
        )
        .unwrap();
    refresh_and_sync(&bot).await;
    let updates = bot.fake.group_updates();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(updates[1], ("S0IC".to_string(), vec!["U789".to_string()]));

    // Nobody on call who is in Slack: the group keeps its members (Slack refuses empty groups).
    bot.stub.set_on_call("PIC0001", vec![]).unwrap();
    let facts = refresh_and_sync(&bot).await;
    assert_eq!(bot.fake.group_updates().len(), 2);
    assert_eq!(facts.members["ic-oncall"], ["U789"]);
    bot.bot.shutdown().await;
}

#[tokio::test]
async fn socket_ack_acts_as_the_person_and_the_card_follows_with_a_thread_line() {
    let mut bot = SlackBot::start(SlackMode::Socket, "card-ack").await;
    let socket = bot.connected_socket().await;
    socket.send_event(
        "e1",
        message_event(json!({"channel": "C42", "user": ALICE, "text": "!ic page db down"})),
    );
    let card = bot.fake.next_post().await;
    assert!(
        text_of(&card).starts_with("*Paged the Incident Commanders*: incident #1"),
        "{}",
        text_of(&card)
    );
    let blocks = serde_json::to_string(&card.body["blocks"]).unwrap();
    assert!(
        blocks.contains("icbot_ack") && blocks.contains("icbot_resolve"),
        "{blocks}"
    );

    socket.send_event(
        "e2",
        message_event(json!({"channel": "C42", "user": ALICE, "text": "!ic ack"})),
    );
    let reply = bot.fake.next_post().await;
    assert!(
        text_of(&reply).starts_with("*Acknowledged #1*")
            && text_of(&reply).contains("by Alice Moreau"),
        "{}",
        text_of(&reply)
    );
    let changes = bot.stub.pages().status_changes;
    assert_eq!(
        changes[0]["from"], ALICE_EMAIL,
        "PagerDuty was told Alice did it"
    );

    // Within a poll interval the card shows it, buttons and all, and its thread has one line.
    let updates = bot.fake.wait_for_updates(1).await;
    assert_eq!(updates[0]["channel"], "C42");
    assert_eq!(
        updates[0]["ts"], "1700000000.000200",
        "the card, the first post"
    );
    let edited = serde_json::to_string(&updates[0]["blocks"]).unwrap();
    assert!(edited.contains("ACKNOWLEDGED by Alice Moreau"), "{edited}");
    assert!(!edited.contains("icbot_ack"), "{edited}");
    let line = bot.fake.next_post().await;
    assert!(line.body["thread_ts"].is_string(), "{}", line.body);
    assert_eq!(text_of(&line), "*#1* ACKNOWLEDGED by Alice Moreau");
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_pressing_acknowledge_acks_as_the_clicker_and_the_card_follows() {
    let mut bot = SlackBot::start(SlackMode::Socket, "card-button").await;
    let mut socket = bot.connected_socket().await;
    // Someone without a PagerDuty login pages; Alice presses the button.
    socket.send_event(
        "e1",
        message_event(json!({"channel": "C42", "user": "U999", "text": "!ic page db down"})),
    );
    let card = bot.fake.next_post().await;
    assert!(text_of(&card).starts_with("*Paged the Incident Commanders*: incident #1"));
    let card_ts = "1700000000.000200";
    assert_eq!(socket.next_ack().await, "e1");

    socket.press_button("b1", ALICE, "C42", card_ts, "icbot_ack", "1");
    assert_eq!(socket.next_ack().await, "b1", "acknowledged at once");
    let reply = bot.fake.next_post().await;
    assert_eq!(
        reply.body["thread_ts"], card_ts,
        "answered in the card's thread"
    );
    assert!(
        text_of(&reply).starts_with("*Acknowledged #1*")
            && text_of(&reply).contains("by Alice Moreau"),
        "{}",
        text_of(&reply)
    );
    let changes = bot.stub.pages().status_changes;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["status"], "acknowledged");
    assert_eq!(changes[0]["from"], ALICE_EMAIL, "the clicker's From");

    let updates = bot.fake.wait_for_updates(1).await;
    assert_eq!(updates[0]["ts"], card_ts);
    let edited = serde_json::to_string(&updates[0]["blocks"]).unwrap();
    assert!(edited.contains("ACKNOWLEDGED by Alice Moreau"), "{edited}");
    let line = bot.fake.next_post().await;
    assert_eq!(line.body["thread_ts"], card_ts);
    assert_eq!(text_of(&line), "*#1* ACKNOWLEDGED by Alice Moreau");

    // Resolve from the card too: the card loses its buttons.
    socket.press_button("b2", ALICE, "C42", card_ts, "icbot_resolve", "1");
    let reply = bot.fake.next_post().await;
    assert!(
        text_of(&reply).starts_with("*Resolved #1*"),
        "{}",
        text_of(&reply)
    );
    let updates = bot.fake.wait_for_updates(2).await;
    let edited = serde_json::to_string(&updates[1]["blocks"]).unwrap();
    assert!(
        edited.contains("RESOLVED") && !edited.contains("icbot_"),
        "{edited}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn events_pressing_resolve_through_interactivity_resolves_as_the_clicker() {
    let mut bot = SlackBot::start(SlackMode::Events, "card-events").await;
    let page = event_callback(
        "Ev1",
        message_event(json!({"channel": "C42", "user": "U999", "text": "!ic page db down"})),
    );
    assert_eq!(
        push_event(&bot.events_url, &page, SIGNING_SECRET, now_secs())
            .await
            .0,
        200
    );
    let card = bot.fake.next_post().await;
    assert!(text_of(&card).starts_with("*Paged the Incident Commanders*: incident #1"));
    let url = bot
        .events_url
        .replace(EVENTS_PATH, super::events_api::INTERACTIVITY_PATH);
    let press =
        super::fake_slack::block_action(ALICE, "C42", "1700000000.000200", "icbot_resolve", "1");

    // Forged and stale presses reach nothing.
    assert_eq!(
        super::fake_slack::push_interaction(&url, &press, "wrong-secret", now_secs()).await,
        401
    );
    assert_eq!(
        super::fake_slack::push_interaction(&url, &press, SIGNING_SECRET, now_secs() - 3600).await,
        400
    );
    assert!(bot.stub.pages().status_changes.is_empty());

    assert_eq!(
        super::fake_slack::push_interaction(&url, &press, SIGNING_SECRET, now_secs()).await,
        200
    );
    let reply = bot.fake.next_post().await;
    assert!(
        text_of(&reply).starts_with("*Resolved #1*"),
        "{}",
        text_of(&reply)
    );
    let changes = bot.stub.pages().status_changes;
    assert_eq!(changes[0]["status"], "resolved");
    assert_eq!(changes[0]["from"], ALICE_EMAIL);
    let updates = bot.fake.wait_for_updates(1).await;
    assert!(serde_json::to_string(&updates[0]["blocks"])
        .unwrap()
        .contains("RESOLVED"));
    bot.shutdown().await;
}

/// The Events API's slash command URL next to the events URL.
fn commands_url(bot: &SlackBot) -> String {
    bot.events_url
        .replace(EVENTS_PATH, super::events_api::COMMANDS_PATH)
}

#[tokio::test]
async fn socket_slash_ic_is_acked_at_once_and_answered_with_the_on_call_listing_in_the_channel() {
    let mut bot = SlackBot::start(SlackMode::Socket, "slash-ic").await;
    let mut socket = bot.connected_socket().await;
    socket.slash_command("s1", ALICE, "C77", "/ic", "");
    assert_eq!(socket.next_ack().await, "s1", "acknowledged at once");

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C77");
    assert!(post.body.get("thread_ts").is_none(), "{}", post.body);
    assert!(
        text_of(&post).starts_with("*Incident Commanders on call now*"),
        "{}",
        text_of(&post)
    );
    assert!(
        text_of(&post).contains("Alice Moreau"),
        "{}",
        text_of(&post)
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn events_slash_status_is_acked_with_an_empty_200_and_answered_in_the_channel() {
    let mut bot = SlackBot::start(SlackMode::Events, "slash-status").await;
    let fields = super::fake_slack::slash_command(ALICE, "C78", "/status", "");
    let (status, body) = super::fake_slack::push_slash_command(
        &commands_url(&bot),
        &fields,
        SIGNING_SECRET,
        now_secs(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));

    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C78");
    assert!(text_of(&post).contains("NORMAL"), "{}", text_of(&post));

    // `/status <args>` is `!status <args>`.
    let fields = super::fake_slack::slash_command(ALICE, "C78", "/status", "unstalk");
    let (status, _) = super::fake_slack::push_slash_command(
        &commands_url(&bot),
        &fields,
        SIGNING_SECRET,
        now_secs(),
    )
    .await;
    assert_eq!(status, 200);
    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C78");
    assert!(
        text_of(&post).contains("Not stalking"),
        "{}",
        text_of(&post)
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_slash_ic_ack_after_a_page_acts_as_the_person_who_typed_it() {
    let mut bot = SlackBot::start(SlackMode::Socket, "slash-ack").await;
    let mut socket = bot.connected_socket().await;
    // Someone without a PagerDuty login pages; Alice acknowledges with the slash command.
    socket.slash_command("s1", "U999", "C42", "/ic", "page db down");
    assert_eq!(socket.next_ack().await, "s1");
    let card = bot.fake.next_post().await;
    assert_eq!(card.body["channel"], "C42");
    assert!(
        text_of(&card).starts_with("*Paged the Incident Commanders*: incident #1"),
        "{}",
        text_of(&card)
    );

    socket.slash_command("s2", ALICE, "C42", "/ic", "ack 1");
    assert_eq!(socket.next_ack().await, "s2");
    let reply = bot.fake.next_post().await;
    assert_eq!(reply.body["channel"], "C42");
    assert!(
        text_of(&reply).starts_with("*Acknowledged #1*")
            && text_of(&reply).contains("by Alice Moreau"),
        "{}",
        text_of(&reply)
    );
    let changes = bot.stub.pages().status_changes;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["status"], "acknowledged");
    assert_eq!(
        changes[0]["from"], ALICE_EMAIL,
        "PagerDuty was told Alice did it"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn events_forged_or_stale_slash_commands_run_nothing() {
    let mut bot = SlackBot::start(SlackMode::Events, "slash-bad").await;
    let url = commands_url(&bot);
    let page = super::fake_slack::slash_command(ALICE, "C42", "/ic", "page db down");
    let (status, _) =
        super::fake_slack::push_slash_command(&url, &page, "not-the-secret", now_secs()).await;
    assert_eq!(status, 401);
    let (status, _) =
        super::fake_slack::push_slash_command(&url, &page, SIGNING_SECRET, now_secs() - 301).await;
    assert_eq!(status, 400);

    // The endpoint still works: a signed command after them is answered, and it is the only answer.
    let help = super::fake_slack::slash_command(ALICE, "C42", "/ic", "help");
    let (status, _) =
        super::fake_slack::push_slash_command(&url, &help, SIGNING_SECRET, now_secs()).await;
    assert_eq!(status, 200);
    let post = bot.fake.next_post().await;
    assert!(
        text_of(&post).contains("!ic page"),
        "help: {}",
        text_of(&post)
    );
    let unread = bot.unread_posts_after_drain().await;
    assert!(unread.is_empty(), "only the help was answered: {unread:?}");
    assert_eq!(bot.stub.request_count("/incidents"), 0, "nobody paged");
    assert!(bot.stub.pages().incidents.is_empty());
    bot.shutdown().await;
}

#[tokio::test]
async fn socket_slash_ic_with_an_unknown_subcommand_gets_the_parsers_reply() {
    let mut bot = SlackBot::start(SlackMode::Socket, "slash-unknown").await;
    let mut socket = bot.connected_socket().await;
    socket.slash_command("s1", ALICE, "C42", "/ic", "frobnicate");
    assert_eq!(socket.next_ack().await, "s1");
    let post = bot.fake.next_post().await;
    assert_eq!(post.body["channel"], "C42");
    assert!(
        text_of(&post).contains("`!ic frobnicate` is not a command")
            && text_of(&post).contains("!ic help"),
        "{}",
        text_of(&post)
    );
    assert!(bot.stub.pages().incidents.is_empty());
    bot.shutdown().await;
}
