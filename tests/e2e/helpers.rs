//! Test set-up: a bot started in-process through `icbot::app::start`, against a stub on 127.0.0.1:0, with a
//! chat that records every post.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use icbot::app::{self, Bot};
use icbot::config::{Config, Secrets};
use icbot::stub::{Fault, StubData, StubHandle, StubServer};
use icbot_actors::cache::schedule_cache::ScheduleCacheMessage;
use icbot_actors::chat::{ChatTarget, InboundMessage, MessageRef};
use icbot_actors::ports::{ChatError, ChatOut, PagerDutyError};
use icbot_actors::reply::Reply;
use icbot_actors::supervision::names::ActorNames;
use ractor::ActorRef;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest any test waits for one reply before failing.
pub const REPLY_PATIENCE: Duration = Duration::from_secs(30);

/// A chat that records posts and lets tests await them. With `tracking` on, posts can be edited, as on Slack:
/// each gets a `ts`, and edits are recorded.
#[derive(Default)]
pub struct RecordingChat {
    posts: Mutex<Vec<(ChatTarget, Reply)>>,
    posted: Notify,
    pub tracking: std::sync::atomic::AtomicBool,
    /// Every edit: the message (channel, ts) and its new content.
    pub updates: Mutex<Vec<(MessageRef, Reply)>>,
    /// The email each chat user's profile shows (`email_of`); absent: none.
    pub emails: Mutex<std::collections::HashMap<String, String>>,
}

impl RecordingChat {
    /// Waits until `n` edits were made, and returns them all.
    pub async fn wait_for_updates(&self, n: usize) -> Vec<(MessageRef, Reply)> {
        let wait = async {
            loop {
                let notified = self.posted.notified();
                let updates = self
                    .updates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if updates.len() >= n {
                    return updates;
                }
                notified.await;
            }
        };
        tokio::time::timeout(REPLY_PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("expected {n} edits"))
    }

    /// The replies posted in the thread of `message`, as plain text.
    pub fn thread_of(&self, message: &MessageRef) -> Vec<String> {
        let posts = self.posts.lock().unwrap_or_else(|e| e.into_inner());
        posts
            .iter()
            .filter(|(t, _)| t.channel == message.channel && t.thread.as_ref() == Some(&message.ts))
            .map(|(_, r)| r.plain())
            .collect()
    }

    pub fn posts_to(&self, channel: &str) -> Vec<Reply> {
        let posts = self.posts.lock().unwrap_or_else(|e| e.into_inner());
        posts
            .iter()
            .filter(|(t, _)| t.channel == channel)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Waits until `channel` has at least `n` posts, and returns them all.
    pub async fn wait_for(&self, channel: &str, n: usize) -> Vec<Reply> {
        let wait = async {
            loop {
                let notified = self.posted.notified();
                let posts = self.posts_to(channel);
                if posts.len() >= n {
                    return posts;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(REPLY_PATIENCE, wait).await {
            Ok(posts) => posts,
            Err(_) => panic!(
                "expected {n} posts in #{channel}, got {:?}",
                self.posts_to(channel)
            ),
        }
    }
}

#[async_trait]
impl ChatOut for RecordingChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        self.posts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((to.clone(), reply.clone()));
        self.posted.notify_waiters();
        Ok(())
    }

    async fn post_tracked(
        &self,
        to: &ChatTarget,
        reply: &Reply,
    ) -> Result<Option<MessageRef>, ChatError> {
        self.post(to, reply).await?;
        if !self.tracking.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let n = self.posts.lock().unwrap_or_else(|e| e.into_inner()).len();
        Ok(Some(MessageRef {
            channel: to.channel.clone(),
            ts: format!("ts-{n}"),
        }))
    }

    async fn email_of(&self, chat_user: &str) -> Result<Option<String>, ChatError> {
        Ok(self
            .emails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(chat_user)
            .cloned())
    }

    async fn update(&self, message: &MessageRef, reply: &Reply) -> Result<(), ChatError> {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((message.clone(), reply.clone()));
        self.posted.notify_waiters();
        Ok(())
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("icbot-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Knobs a test may turn.
#[derive(Clone)]
pub struct Options {
    pub refresh_interval_secs: f64,
    pub page_deadline_secs: f64,
    pub lookup_deadline_secs: f64,
    pub request_timeout_secs: f64,
    pub poll_interval_secs: f64,
    pub check_timeout_secs: f64,
    /// More TOML sections, appended to the config.
    pub extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh_interval_secs: 60.0,
            page_deadline_secs: 3.0,
            lookup_deadline_secs: 2.0,
            request_timeout_secs: 1.0,
            poll_interval_secs: 30.0,
            check_timeout_secs: 1.0,
            extra: String::new(),
        }
    }
}

/// The config a test bot runs with: the demo schedules, PagerDuty and Alertmanager at `stub_url`.
pub fn config_text(stub_url: &str, state_dir: &std::path::Path, o: &Options) -> String {
    format!(
        r#"
[chat]
adapter = "console"

[pagerduty]
api_url = "{stub_url}"
from_email = "icbot@example.com"
service_id = "PSVC001"
request_timeout = "{req}"
connect_timeout = "1s"
refresh_interval = "{refresh}"
page_deadline = "{page}"
lookup_deadline = "{lookup}"
max_rate_limit_retries = 1
ic_schedules = [
  {{ id = "PIC0001", label = "IC Primary" }},
  {{ id = "PIC0002", label = "IC Backup" }},
  {{ id = "PIC0003", label = "IC Shadow" }},
]
responder_schedules = [
  {{ id = "PTEAM01", label = "Payments" }},
  {{ id = "PTEAM02", label = "Database" }},
  {{ id = "PTEAM03", label = "Edge" }},
  {{ id = "PTEAM04", label = "Search" }},
]

[status]
source = "alertmanager"
url = "{stub_url}"
poll_interval = "{poll}"
check_timeout = "{check}"

[state]
dir = "{state}"

{admin}
{extra}
"#,
        // Test bots run without the admin server unless a test asks for it (port 0 then).
        admin = if o.extra.contains("[admin]") {
            ""
        } else {
            "[admin]\nlisten = \"\"\n"
        },
        extra = o.extra,
        req = duration(o.request_timeout_secs),
        refresh = duration(o.refresh_interval_secs),
        page = duration(o.page_deadline_secs),
        lookup = duration(o.lookup_deadline_secs),
        poll = duration(o.poll_interval_secs),
        check = duration(o.check_timeout_secs),
        state = state_dir.display(),
    )
}

/// Seconds as the config writes a duration: `"1s 500ms"`.
fn duration(seconds: f64) -> String {
    icbot::config::duration::format(Duration::from_secs_f64(seconds))
}

/// A bot against its own stub.
pub struct TestBot {
    pub bot: Option<Bot>,
    pub chat: Arc<RecordingChat>,
    pub stub: Option<StubHandle>,
    stub_url: String,
    pub state: TempDir,
    pub options: Options,
    tag: String,
    said: Mutex<std::collections::HashMap<String, usize>>,
}

fn names_for(tag: &str) -> ActorNames {
    static N: AtomicUsize = AtomicUsize::new(0);
    ActorNames::with_prefix(format!("{tag}{}/", N.fetch_add(1, Ordering::SeqCst)))
}

async fn start_bot(
    stub_url: &str,
    state: &TempDir,
    o: &Options,
    chat: Arc<RecordingChat>,
    tag: &str,
) -> Bot {
    icbot::crypto::install_crypto_provider();
    let text = config_text(stub_url, &state.0, o);
    let config = Config::parse(&text, Vec::new()).expect("test config parses");
    let secrets =
        Secrets::from_lookup(|k| (k == "PAGERDUTY_TOKEN").then(|| "test-token".to_string()));
    assert!(
        config.problems(&secrets).is_empty(),
        "{:?}",
        config.problems(&secrets)
    );
    app::start(&config, &secrets, chat, names_for(tag))
        .await
        .expect("bot starts")
}

/// Starts a stub with `data` and a bot against it.
pub async fn spawn_bot_with(tag: &str, data: StubData, options: Options) -> TestBot {
    let stub = StubServer::start("127.0.0.1:0", data, Fault::None)
        .await
        .expect("stub starts");
    let state = TempDir::new(tag);
    let chat = Arc::new(RecordingChat::default());
    let stub_url = stub.url();
    let bot = start_bot(&stub_url, &state, &options, chat.clone(), tag).await;
    TestBot {
        bot: Some(bot),
        chat,
        stub: Some(stub),
        stub_url,
        state,
        options,
        tag: tag.to_string(),
        said: Mutex::new(Default::default()),
    }
}

/// The demo data and default options.
pub async fn spawn_bot(tag: &str) -> TestBot {
    spawn_bot_with(tag, StubData::demo(), Options::default()).await
}

impl TestBot {
    /// Says `text` in `channel` and returns the reply (plain text) and how long it took.
    pub async fn say_in(&self, channel: &str, text: &str) -> (String, Duration) {
        let n = {
            let mut said = self.said.lock().unwrap();
            let n = said.entry(channel.to_string()).or_default();
            *n += 1;
            *n
        };
        let started = Instant::now();
        self.bot
            .as_ref()
            .expect("bot running")
            .gateway()
            .deliver(InboundMessage {
                reply_to: ChatTarget::channel(channel),
                user: "dana".into(),
                text: text.into(),
                direct: false,
            });
        let posts = self.chat.wait_for(channel, n).await;
        (posts[n - 1].plain(), started.elapsed())
    }

    /// Says `text` in #ops and returns the reply.
    pub async fn say(&self, text: &str) -> String {
        self.say_in("ops", text).await.0
    }

    /// Counts one more expected post in `channel` (a stalk post, not a reply) and waits for it.
    pub async fn next_post(&self, channel: &str) -> String {
        let n = {
            let mut said = self.said.lock().unwrap();
            let n = said.entry(channel.to_string()).or_default();
            *n += 1;
            *n
        };
        self.chat.wait_for(channel, n).await[n - 1].plain()
    }

    /// The stub, while it runs.
    pub fn stub(&self) -> &StubHandle {
        self.stub.as_ref().expect("stub running")
    }

    /// Stops the stub: from now on connections to it are refused.
    pub async fn stop_stub(&mut self) {
        if let Some(stub) = self.stub.take() {
            stub.shutdown().await;
        }
    }

    /// Makes the schedule cache refresh now and returns how it went.
    pub async fn refresh_now(&self) -> Result<(), PagerDutyError> {
        let name = self.names().schedule_cache();
        let cache =
            ActorRef::<ScheduleCacheMessage>::where_is(name).expect("schedule cache running");
        ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 30_000).expect("cache answers")
    }

    pub fn names(&self) -> &ActorNames {
        self.bot.as_ref().expect("bot running").names()
    }

    /// Stops the bot (as a process exit would) and starts a new one on the same state dir and stub.
    pub async fn restart(&mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.said.lock().unwrap().clear();
        self.chat = Arc::new(RecordingChat::default());
        self.bot = Some(
            start_bot(
                &self.stub_url,
                &self.state,
                &self.options,
                self.chat.clone(),
                &self.tag,
            )
            .await,
        );
    }

    pub async fn shutdown(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
    }
}

/// Logs to the test's output when `RUST_LOG` is set.
#[allow(dead_code)]
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
