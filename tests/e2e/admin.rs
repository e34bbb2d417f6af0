//! The admin server of a real bot: health, readiness before and after the cache loads, the live tree with
//! stalk actors, Prometheus metrics that move, chaos crashes (and their refusal), and `icbot health`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use icbot::admin::{Readiness, TreeFacts};
use icbot::app::{self, Bot};
use icbot::config::{Config, Secrets};
use icbot::stub::{Fault, StubData, StubHandle, StubServer};
use icbot_actors::cache::schedule_cache::ScheduleCacheMessage;
use icbot_actors::chat::{ChatTarget, InboundMessage};
use icbot_actors::ports::PagerDutyError;
use icbot_actors::root::Child;
use icbot_actors::supervision::names::ActorNames;
use ractor::ActorRef;

use crate::helpers::{config_text, Options, RecordingChat, TempDir};

/// The longest a test waits for one event.
const PATIENCE: Duration = Duration::from_secs(20);

/// A bot with its admin server on 127.0.0.1:0, against its own stub.
pub(crate) struct AdminBot {
    bot: Option<Bot>,
    pub(crate) chat: Arc<RecordingChat>,
    pub(crate) stub: StubHandle,
    pub(crate) admin: SocketAddr,
    http: reqwest::Client,
    said: usize,
    pub(crate) state: TempDir,
}

/// Starts a stub with `fault` already in force, then a bot against it with the admin server on.
pub(crate) async fn admin_bot(tag: &str, chaos: bool, fault: Fault) -> AdminBot {
    admin_bot_with(tag, chaos, fault, None, |_| {}).await
}

/// [`admin_bot`] with `ICBOT_ADMIN_TOKEN` set to `admin_token`, and `prepare` run on the stub before the bot
/// starts (for faults on one path).
pub(crate) async fn admin_bot_with(
    tag: &str,
    chaos: bool,
    fault: Fault,
    admin_token: Option<&str>,
    prepare: impl FnOnce(&StubHandle),
) -> AdminBot {
    icbot::crypto::install_crypto_provider();
    let stub = StubServer::start("127.0.0.1:0", StubData::demo(), fault)
        .await
        .expect("stub starts");
    prepare(&stub);
    let state = TempDir::new(tag);
    let options = Options {
        extra: format!("[admin]\nlisten = \"127.0.0.1:0\"\nchaos = {chaos}\n"),
        ..Options::default()
    };
    let text = config_text(&stub.url(), &state.0, &options);
    let config = Config::parse(&text, Vec::new()).expect("test config parses");
    let secrets = Secrets::from_lookup(|k| match k {
        "PAGERDUTY_TOKEN" => Some("test-token".to_string()),
        "ICBOT_ADMIN_TOKEN" => admin_token.map(str::to_string),
        _ => None,
    });
    assert!(config.problems(&secrets).is_empty());
    let chat = Arc::new(RecordingChat::default());
    static N: AtomicUsize = AtomicUsize::new(0);
    let names =
        ActorNames::with_prefix(format!("admin-{tag}{}/", N.fetch_add(1, Ordering::SeqCst)));
    let bot = app::start(&config, &secrets, chat.clone(), names)
        .await
        .expect("bot starts");
    let admin = bot.admin_addr().expect("admin server bound");
    assert_ne!(admin.port(), 0);
    AdminBot {
        bot: Some(bot),
        chat,
        stub,
        admin,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        said: 0,
        state,
    }
}

#[allow(dead_code)]
impl AdminBot {
    pub(crate) fn bot(&self) -> &Bot {
        self.bot.as_ref().expect("bot running")
    }

    pub(crate) fn names(&self) -> &ActorNames {
        self.bot().names()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("admin answers");
        let code = r.status().as_u16();
        (code, r.text().await.unwrap())
    }

    pub(crate) async fn post(&self, path: &str) -> (u16, String) {
        self.post_with(path, None).await
    }

    /// A POST with `Authorization: <authorization>` when given.
    pub(crate) async fn post_with(&self, path: &str, authorization: Option<&str>) -> (u16, String) {
        let mut request = self.http.post(self.url(path));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let r = request.send().await.expect("admin answers");
        let code = r.status().as_u16();
        (code, r.text().await.unwrap())
    }

    pub(crate) async fn actors(&self) -> TreeFacts {
        let (code, body) = self.get("/actors").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("/actors is TreeFacts JSON")
    }

    pub(crate) fn deliver(&self, channel: &str, text: &str) {
        self.bot().gateway().deliver(InboundMessage {
            reply_to: ChatTarget::channel(channel),
            user: "dana".into(),
            text: text.into(),
            direct: false,
        });
    }

    /// Says `text` in #ops and returns the reply.
    pub(crate) async fn say(&mut self, text: &str) -> String {
        self.said += 1;
        let n = self.said;
        self.deliver("ops", text);
        self.chat.wait_for("ops", n).await[n - 1].plain()
    }

    /// `!status stalk` in a fresh `channel`: waits for the reply and the stalk's first post (in either order).
    pub(crate) async fn stalk(&self, channel: &str) {
        self.deliver(channel, "!status stalk");
        let posts = self.chat.wait_for(channel, 2).await;
        assert!(
            posts.iter().any(|p| p.plain().starts_with("Now stalking")),
            "{posts:?}"
        );
    }

    /// Waits (on the cache's published facts) until the cache holds a snapshot.
    pub(crate) async fn snapshot_loaded(&self) {
        let mut facts = self.bot().cache_facts();
        tokio::time::timeout(PATIENCE, facts.wait_for(|f| f.snapshot_taken_at.is_some()))
            .await
            .expect("a snapshot within the patience")
            .expect("cache facts published");
    }

    pub(crate) async fn shutdown(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.stub.shutdown().await;
    }
}

/// A sample's value in Prometheus text, by its exact `name{labels}`.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Every line is a comment (`# HELP`, `# TYPE`), empty, or `name{labels} value` with a valid name and a
/// number.
fn assert_prometheus_text(text: &str) {
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}') && labels.contains("=\""),
                    "bad labels in {line}"
                );
            }
        }
    }
}

#[tokio::test]
async fn healthz_readyz_actors_and_metrics_of_a_running_bot() {
    let mut bot = admin_bot("tree", false, Fault::None).await;
    let (code, body) = bot.get("/healthz").await;
    assert_eq!((code, body.trim()), (200, "ok"));

    bot.snapshot_loaded().await;
    let (code, body) = bot.get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    let ready: Readiness = serde_json::from_str(&body).unwrap();
    assert!(ready.ready && ready.tree_up && ready.chat_connected && ready.has_snapshot);

    bot.stalk("war-room").await;
    let tree = bot.actors().await;
    let names = bot.names().clone();
    let listed: BTreeSet<&str> = tree.actors.iter().map(|a| a.name.as_str()).collect();
    let mut expected = vec![names.root(), names.stalk("war-room")];
    expected.extend(Child::ALL.iter().map(|c| c.name(&names)));
    for name in &expected {
        assert!(
            listed.contains(name.as_str()),
            "{name} missing from {listed:?}"
        );
    }
    let by_name = |n: &str| tree.actors.iter().find(|a| a.name == n).unwrap().clone();
    let root = by_name(&names.root());
    assert_eq!(root.status, "running");
    assert!(
        root.children.contains(&names.pager()),
        "{:?}",
        root.children
    );
    let stalk = by_name(&names.stalk("war-room"));
    assert_eq!(stalk.parent, Some(names.stalks()));
    assert_eq!(stalk.restarts, 0);
    assert!(by_name(&names.stalks())
        .children
        .contains(&names.stalk("war-room")));
    let cache = by_name(&names.schedule_cache());
    assert!(
        cache.facts["snapshot_age_secs"].is_u64(),
        "{:?}",
        cache.facts
    );
    assert_eq!(cache.facts["last_refresh"]["ok"], true);
    assert_eq!(by_name(&names.gateway()).facts["chat_connected"], true);
    let body = bot.get("/actors").await.1;
    assert!(!body.contains("test-token"), "no secrets in /actors");

    // Counters move after commands.
    let (code, before) = bot.get("/metrics").await;
    assert_eq!(code, 200);
    assert_prometheus_text(&before);
    let ic_ok = "icbot_commands_total{command=\"ic\",outcome=\"ok\"}";
    let was = sample(&before, ic_ok).unwrap_or(0.0);
    let out = bot.say("!ic").await;
    assert!(out.contains("IC Primary"), "{out}");
    let (_, after) = bot.get("/metrics").await;
    assert_prometheus_text(&after);
    assert!(sample(&after, ic_ok).unwrap() > was, "{after}");
    for name in [
        "icbot_command_duration_seconds_bucket",
        "icbot_pagerduty_requests_total{endpoint=\"GET /oncalls\",status_class=\"2xx\"}",
        "icbot_oncall_refreshes_total{result=\"ok\"}",
        "icbot_oncall_snapshot_age_seconds",
        "icbot_stalks_active",
        "icbot_chat_connected 1",
    ] {
        assert!(after.contains(name), "{name} missing from:\n{after}");
    }

    let (code, page) = bot.get("/").await;
    assert_eq!(code, 200);
    assert!(page.contains("http-equiv=\"refresh\""));
    assert!(page.contains(&names.stalk("war-room")));
    bot.shutdown().await;
}

#[tokio::test]
async fn readyz_is_503_until_the_cache_holds_a_snapshot() {
    let bot = admin_bot("not-ready", false, Fault::Hang).await;
    let (code, body) = bot.get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    let r: Readiness = serde_json::from_str(&body).unwrap();
    assert!(r.tree_up && r.chat_connected && !r.has_snapshot, "{r:?}");
    assert!(
        r.not_ready.iter().any(|w| w.contains("on-call cache")),
        "{r:?}"
    );

    // `icbot health` says so with its exit code.
    let out = run_health(bot.admin).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT READY"));

    // PagerDuty comes back: one refresh later the bot is ready.
    bot.stub.set_fault(Fault::None, None);
    let cache = ActorRef::<ScheduleCacheMessage>::where_is(bot.names().schedule_cache())
        .expect("cache running");
    // The first (hung, then timed-out) refresh may still be running: a `RefreshNow` joins it and fails, the
    // next one starts afresh.
    let mut refreshed = Err(PagerDutyError::Timeout);
    for _ in 0..3 {
        refreshed = ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 20_000).unwrap();
        if refreshed.is_ok() {
            break;
        }
    }
    assert_eq!(refreshed, Ok(()));
    bot.snapshot_loaded().await;
    let (code, body) = bot.get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    let out = run_health(bot.admin).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&bot.names().schedule_cache()), "{stdout}");
    assert!(stdout.trim_end().ends_with("READY"), "{stdout}");
    bot.shutdown().await;
}

#[tokio::test]
async fn health_of_an_unreachable_admin_server_fails() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = run_health(port).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("UNREACHABLE"));
}

#[tokio::test]
async fn chaos_crash_restarts_the_actor_and_commands_are_still_answered() {
    let mut bot = admin_bot("chaos", true, Fault::None).await;
    bot.snapshot_loaded().await;
    bot.stalk("war-room").await;
    let names = bot.names().clone();
    let mut health = bot.bot().health();

    let (code, body) = bot.post("/actors/pager/crash").await;
    assert_eq!(code, 202, "{body}");
    let restarted = health.wait_for(|all| {
        all.iter()
            .any(|h| h.child == Child::Pager && h.restarts == 1 && h.running)
    });
    tokio::time::timeout(PATIENCE, restarted)
        .await
        .expect("pager restarted in time")
        .unwrap();
    let out = bot.say("!ic page db down").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");
    let out = bot.say("!ic").await;
    assert!(out.contains("IC Primary"), "{out}");

    let tree = bot.actors().await;
    let pager = tree
        .actors
        .iter()
        .find(|a| a.name == names.pager())
        .unwrap();
    assert_eq!(pager.restarts, 1);
    assert_eq!(pager.status, "running");
    let failure = pager.last_failure.as_ref().expect("last failure shown");
    assert!(failure.reason.contains("crash"), "{failure:?}");
    assert!(tree.readiness.ready, "one crash is no reason to be unready");

    // A stalk actor, by its short name: restarted by `stalks`, counted on its own line.
    let (code, body) = bot.post("/actors/stalk:war-room/crash").await;
    assert_eq!(code, 202, "{body}");
    // The stalks actor publishes no event for this: poll /actors, bounded.
    let stalk = tokio::time::timeout(PATIENCE, async {
        loop {
            let tree = bot.actors().await;
            if let Some(s) = tree.actors.iter().find(|a| {
                a.name == names.stalk("war-room") && a.restarts == 1 && a.status == "running"
            }) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("stalk restarted in time");
    assert!(stalk.last_failure.unwrap().reason.contains("crash"));

    let (_, metrics) = bot.get("/metrics").await;
    let series = format!("icbot_actor_restarts_total{{actor=\"{}\"}}", names.pager());
    assert_eq!(sample(&metrics, &series), Some(1.0), "{metrics}");
    let series = format!(
        "icbot_actor_restarts_total{{actor=\"{}\"}}",
        names.stalk("war-room")
    );
    assert_eq!(sample(&metrics, &series), Some(1.0), "{metrics}");

    let (code, body) = bot.post("/actors/nobody/crash").await;
    assert_eq!(code, 404, "{body}");
    let (code, _) = bot.post(&format!("/actors/{}/crash", names.root())).await;
    assert_eq!(code, 404, "the root is not crashable");
    bot.shutdown().await;
}

#[tokio::test]
async fn chaos_is_refused_when_off() {
    let bot = admin_bot("no-chaos", false, Fault::None).await;
    let (code, body) = bot.post("/actors/pager/crash").await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("chaos"), "{body}");
    let health = bot.bot().health();
    assert!(health.borrow().iter().all(|h| h.restarts == 0));
    bot.shutdown().await;
}

/// Runs the real binary's `icbot health --admin http://addr`.
pub(crate) async fn run_health(addr: SocketAddr) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_icbot"))
            .args(["health", "--admin", &format!("http://{addr}")])
            .env("RUST_LOG", "warn")
            .output()
            .expect("icbot health runs")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_counter_and_histogram_exists_from_start_with_build_info_and_no_placeholder() {
    use icbot_actors::metric_names::{Kind, PRE_REGISTERED};
    // PagerDuty hangs: no snapshot, no finished request, nothing counted yet by this bot.
    let bot = admin_bot("zero", false, Fault::Hang).await;
    let (code, text) = bot.get("/metrics").await;
    assert_eq!(code, 200);
    assert_prometheus_text(&text);
    for series in PRE_REGISTERED {
        for set in series.label_sets() {
            let labels = set
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join(",");
            let line = match (series.kind, labels.is_empty()) {
                (Kind::Counter, true) => series.name.to_string(),
                (Kind::Counter, false) => format!("{}{{{labels}}}", series.name),
                (Kind::Histogram, _) => format!("{}_count{{{labels}}}", series.name),
            };
            assert!(
                sample(&text, &line).is_some(),
                "{line} missing at start from:\n{text}"
            );
        }
    }
    let version = format!(
        "icbot_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &version), Some(1.0), "{text}");
    assert!(
        text.contains("icbot_pagerduty_request_duration_seconds_bucket{endpoint=\"POST /incidents\",le=\"0.5\"}"),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.ends_with(" -1"), "a placeholder value: {line}");
    }
    bot.shutdown().await;
}

#[tokio::test]
async fn the_admin_server_says_which_bot_it_is_and_health_confirms_it() {
    let bot = admin_bot("instance", false, Fault::None).await;
    bot.snapshot_loaded().await;
    let instance = bot.bot().instance().clone();
    let r = bot.http.get(bot.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["icbot-instance"].to_str().unwrap(), instance.id);
    let (_, body) = bot.get("/readyz").await;
    let ready: Readiness = serde_json::from_str(&body).unwrap();
    assert_eq!(ready.instance.as_ref(), Some(&instance));

    let pid = instance.pid.to_string();
    let out = run_health_args(bot.admin, &["--pid", &pid]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("instance {}", instance.id)),
        "{stdout}"
    );

    let other = (instance.pid + 1).to_string();
    let out = run_health_args(bot.admin, &["--pid", &other]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "WRONG BOT: http://{}: the admin server answers for pid {pid}",
            bot.admin
        )),
        "{stdout}"
    );

    let out = run_health_args(bot.admin, &["--live"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("ALIVE"), "{stdout}");
    bot.shutdown().await;
}

#[tokio::test]
async fn health_errors_say_their_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = run_health(port).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert_eq!(
        stdout.trim(),
        format!("UNREACHABLE: http://{port}: connection refused")
    );
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_icbot"))
            .args(["health", "--admin", "http://local host:9464"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.starts_with("UNREACHABLE: invalid address \"http://local host:9464\""),
        "{stdout}"
    );
    assert!(!stdout.contains("builder error"), "{stdout}");
}

/// Runs the real binary's `icbot health --admin http://addr <args>`.
async fn run_health_args(addr: SocketAddr, args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_icbot"))
            .args(["health", "--admin", &format!("http://{addr}")])
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("icbot health runs")
    })
    .await
    .unwrap()
}

/// Debian's chromium, as the tests and `.ci/run` install it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The status page's DOM as a headless Chromium renders it; `None` (with a message) when there is no
/// Chromium. Bounded: a hung browser is killed after a minute and fails the test.
fn browser_dom(url: &str) -> Option<String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        println!("SKIPPED: {CHROMIUM} is not installed (apt-get install -y chromium); the status page was not checked in a browser");
        return None;
    }
    let profile = TempDir::new("chromium");
    let child = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(["--dump-dom", url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.expect("chromium output");
            assert!(
                out.status.success(),
                "chromium failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("chromium did not finish within a minute; killed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_reads_at_a_glance_in_a_real_browser() {
    let mut bot = admin_bot("browser", true, Fault::None).await;
    bot.snapshot_loaded().await;
    let out = bot.say("!ic page db <down>").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");
    bot.stalk("war-room").await;
    let mut health = bot.bot().health();
    let (code, body) = bot.post("/actors/status/crash").await;
    assert_eq!(code, 202, "{body}");
    tokio::time::timeout(
        PATIENCE,
        health.wait_for(|all| {
            all.iter()
                .any(|h| h.child == Child::Status && h.restarts == 1 && h.running)
        }),
    )
    .await
    .expect("status restarted in time")
    .unwrap();

    let url = bot.url("/");
    let Some(dom) = tokio::task::spawn_blocking(move || browser_dom(&url))
        .await
        .unwrap()
    else {
        bot.shutdown().await;
        return;
    };
    for fact in [
        "icbot <span class=\"ok\">ready</span>",
        "ago, ok",
        "<td>IC Primary</td><td>Alice Moreau</td>",
        "<td>IC Shadow</td><td>Chen Wei, Dana Okafor</td>",
        "<td>Search</td><td><span class=\"bad\">nobody</span></td>",
        "the Incident Commanders paged by dana in #ops: <a href=\"http://127.0.0.1:",
        ">incident #1</a>, <span class=\"ok\">4 of 4 confirmed</span>",
        "#war-room since",
        "ago: failed: status actor crash requested (chaos)</li>",
        "name=\"viewport\"",
    ] {
        assert!(
            dom.contains(fact),
            "{fact:?} not in the rendered page:\n{dom}"
        );
    }
    assert!(!dom.contains("<script"), "no JavaScript");
    assert!(!dom.contains("{\"age_secs\""), "no raw JSON");
    bot.shutdown().await;
}
