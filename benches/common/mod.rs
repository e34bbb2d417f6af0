//! Shared set-up for the benchmarks: stub data built in code, a config pointing at a stub, a recording chat,
//! percentiles, RSS and a plain result table. Every bench binary includes this with `mod common;` and uses
//! only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use icbot::app::{self, Bot};
use icbot::config::{Config, Secrets};
use icbot::stub::{
    ContactKind, Fault, StubContact, StubData, StubHandle, StubOnCall, StubSchedule, StubServer,
    StubService, StubUser,
};
use icbot_actors::chat::{ChatTarget, InboundMessage, MessageRef};
use icbot_actors::ports::{ChatError, ChatOut};
use icbot_actors::reply::Reply;
use icbot_actors::supervision::names::ActorNames;
use tokio::sync::mpsc;

pub mod database;

pub const SERVICE: &str = "PSVC001";

/// The environment variable that turns on smoke mode.
pub const SMOKE_ENV: &str = "ICBOT_BENCH_SMOKE";

/// Smoke mode (`ICBOT_BENCH_SMOKE=1`, what `.ci/run` uses): every bench runs its scenarios once with small
/// counts, in a few seconds, so a bench that no longer runs fails CI. Its figures are not the ones in
/// BENCHMARKS.md.
pub fn smoke() -> bool {
    std::env::var(SMOKE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `full`, or `small` in smoke mode.
pub fn scaled<T>(full: T, small: T) -> T {
    if smoke() {
        small
    } else {
        full
    }
}
pub const BOT_EMAIL: &str = "icbot@example.com";

/// One reply as the chat received it.
#[derive(Debug)]
pub struct Posted {
    pub at: Instant,
    pub channel: String,
    pub text: String,
}

/// A `ChatOut` that sends every reply, timestamped, down an unbounded channel.
pub struct RecordingChat {
    tx: mpsc::UnboundedSender<Posted>,
}

impl RecordingChat {
    pub fn new() -> (Arc<RecordingChat>, mpsc::UnboundedReceiver<Posted>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(RecordingChat { tx }), rx)
    }
}

#[async_trait]
impl ChatOut for RecordingChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        let posted = Posted {
            at: Instant::now(),
            channel: to.channel.clone(),
            text: reply.plain(),
        };
        self.tx
            .send(posted)
            .map_err(|_| ChatError::Failed("recorder gone".into()))
    }

    /// Every post can be edited, as on Slack: its `ts` is the time it was posted.
    async fn post_tracked(
        &self,
        to: &ChatTarget,
        reply: &Reply,
    ) -> Result<Option<MessageRef>, ChatError> {
        self.post(to, reply).await?;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
            .to_string();
        Ok(Some(MessageRef {
            channel: to.channel.clone(),
            ts,
        }))
    }

    /// An edit arrives as a post to `update:<channel>`.
    async fn update(&self, message: &MessageRef, reply: &Reply) -> Result<(), ChatError> {
        let posted = Posted {
            at: Instant::now(),
            channel: format!("update:{}", message.channel),
            text: reply.plain(),
        };
        self.tx
            .send(posted)
            .map_err(|_| ChatError::Failed("recorder gone".into()))
    }
}

/// A message from user `bench` in `channel`.
pub fn message(channel: &str, text: &str) -> InboundMessage {
    InboundMessage {
        reply_to: ChatTarget::channel(channel),
        user: "bench".to_string(),
        text: text.to_string(),
        direct: false,
    }
}

/// A user `PU<n>` with an email and a phone (fictional +1 202 555 range).
pub fn user(n: usize) -> StubUser {
    let id = format!("PU{n:05}");
    let email = format!("user{n}@example.com");
    StubUser {
        id: id.clone(),
        name: format!("User {n}"),
        email: email.clone(),
        contact_methods: vec![
            StubContact {
                id: format!("{id}E"),
                kind: ContactKind::Email,
                label: "Default".into(),
                address: email,
                country_code: None,
            },
            StubContact {
                id: format!("{id}P"),
                kind: ContactKind::Phone,
                label: "Mobile".into(),
                address: format!("20255{:05}", n % 100_000),
                country_code: Some(1),
            },
        ],
    }
}

fn bot_user() -> StubUser {
    StubUser {
        id: "PBOT001".into(),
        name: "icbot".into(),
        email: BOT_EMAIL.into(),
        contact_methods: vec![],
    }
}

/// `schedules` schedules `PS<i>` over `users` users; schedule `i` has `per_schedule` people on call, users
/// `(i * users / schedules + k) % users`, so neighbouring schedules share people and every user is on call.
pub fn stub_data(schedules: usize, users: usize, per_schedule: usize) -> StubData {
    let mut all: Vec<StubUser> = (0..users).map(user).collect();
    all.push(bot_user());
    let schedules = (0..schedules)
        .map(|i| StubSchedule {
            id: schedule_id(i),
            name: format!("Schedule {i}"),
            escalation_policy: None,
            on_call: (0..per_schedule)
                .map(|k| StubOnCall {
                    user_id: format!("PU{:05}", (i * users / schedules.max(1) + k) % users),
                    escalation_level: 1,
                    start: Some("-1h".into()),
                    end: Some("+12h".into()),
                })
                .collect(),
        })
        .collect();
    StubData {
        services: vec![StubService {
            id: SERVICE.into(),
            name: "Incident Response".into(),
        }],
        users: all,
        schedules,
        ..StubData::default()
    }
}

pub fn schedule_id(i: usize) -> String {
    format!("PS{i:04}")
}

/// Config text for a bot against `stub_url`: the first `ic` schedules are IC schedules, the next `responders`
/// responder schedules; `extra` is appended to `[pagerduty]` (e.g. `page_deadline = "3s"`) and `tail` after
/// everything (e.g. a `[status]` section).
pub fn config_text(
    stub_url: &str,
    state_dir: &Path,
    ic: usize,
    responders: usize,
    extra: &str,
    tail: &str,
) -> String {
    let mut text = format!(
        "[pagerduty]\napi_url = \"{stub_url}\"\nfrom_email = \"{BOT_EMAIL}\"\nservice_id = \"{SERVICE}\"\n{extra}\n"
    );
    for i in 0..ic {
        text.push_str(&format!(
            "[[pagerduty.ic_schedules]]\nid = \"{}\"\nlabel = \"IC {i}\"\n",
            schedule_id(i)
        ));
    }
    for i in ic..ic + responders {
        text.push_str(&format!(
            "[[pagerduty.responder_schedules]]\nid = \"{}\"\nlabel = \"Team {i}\"\n",
            schedule_id(i)
        ));
    }
    text.push_str(&format!(
        "[state]\ndir = \"{}\"\n{tail}\n",
        state_dir.display()
    ));
    text
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icbot-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A stub on 127.0.0.1 with `data`.
pub async fn start_stub(data: StubData) -> StubHandle {
    StubServer::start("127.0.0.1:0", data, Fault::None)
        .await
        .expect("stub starts")
}

/// Starts the bot in-process from config text, with a recording chat.
pub async fn start_bot(
    text: &str,
    prefix: &str,
) -> (Bot, Arc<RecordingChat>, mpsc::UnboundedReceiver<Posted>) {
    start_bot_on(text, prefix, None).await
}

/// [`start_bot`], with `DATABASE_URL` set to `database_url` (for `[state] backend = "postgres"`).
pub async fn start_bot_on(
    text: &str,
    prefix: &str,
    database_url: Option<&str>,
) -> (Bot, Arc<RecordingChat>, mpsc::UnboundedReceiver<Posted>) {
    let config = Config::parse(text, Vec::<(String, String)>::new()).expect("bench config parses");
    let secrets = Secrets::from_lookup(|k| match k {
        "PAGERDUTY_TOKEN" => Some("bench-token".into()),
        "DATABASE_URL" => database_url.map(String::from),
        _ => None,
    });
    let problems = config.problems(&secrets);
    assert!(problems.is_empty(), "bench config: {problems:?}");
    let (chat, rx) = RecordingChat::new();
    let bot = app::start(
        &config,
        &secrets,
        chat.clone(),
        ActorNames::with_prefix(prefix),
    )
    .await
    .expect("bot starts");
    (bot, chat, rx)
}

/// Sends `text` in `channel` and waits (at most `within`) for the reply in that channel; other replies are
/// discarded. Returns the reply and the time from delivery to post.
pub async fn ask(
    bot: &Bot,
    rx: &mut mpsc::UnboundedReceiver<Posted>,
    channel: &str,
    text: &str,
    within: Duration,
) -> Option<(Posted, Duration)> {
    let sent = Instant::now();
    bot.gateway().deliver(message(channel, text));
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(p)) if p.channel == channel => {
                let took = p.at.duration_since(sent);
                return Some((p, took));
            }
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Sorted-sample percentiles.
pub struct Percentiles {
    sorted: Vec<Duration>,
}

impl Percentiles {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Percentiles { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// `q` in 0..=100, nearest rank.
    pub fn at(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

/// `1.234 ms`, `56 µs`, `2.50 s`.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.3} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// VmRSS of a process in KiB (`self` for this one).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One row of a result table.
pub struct Row {
    pub metric: String,
    pub result: String,
    pub target: String,
    /// `None` when the figure has no target.
    pub pass: Option<bool>,
}

impl Row {
    pub fn new(metric: &str, result: String, target: &str, pass: Option<bool>) -> Row {
        Row {
            metric: metric.to_string(),
            result,
            target: target.to_string(),
            pass,
        }
    }
}

/// Prints the rows as a Markdown table, under a title.
pub fn print_table(title: &str, rows: &[Row]) {
    println!("\n## {title}\n");
    println!("| metric | result | target | pass |");
    println!("|---|---|---|---|");
    for r in rows {
        let pass = match r.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "-",
        };
        println!("| {} | {} | {} | {} |", r.metric, r.result, r.target, pass);
    }
    println!();
}

/// The machine, for the record.
pub fn print_machine() {
    if smoke() {
        println!("smoke mode ({SMOKE_ENV}): small counts; these figures are not the benchmark's");
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} cores, {cpu}, MemTotal {mem}");
}
