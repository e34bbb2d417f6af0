//! `cargo bench --bench ha`: several real `icbot` processes on one PostgreSQL schema
//! (`ICBOT_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`) and one stub, console chat,
//! `[ha] lease = "2s"`, `renew_every = "500ms"`.
//!
//! - Failover: `kill -9` of the leader, over 10 kills (the killed replica is replaced by a fresh process each
//!   time), with the console channel stalking (`[status] poll_interval = "1s"`) and the monitoring state
//!   flipped right after each kill: to another replica reporting itself leader on `/actors` (the takeover
//!   itself), and to the new leader's first stalk post (the change).
//! - Pages: 100 identical `!ic page` spread over 3 replicas within one second: how many incidents.

mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::database::BenchSchema;
use common::*;
use icbot::admin::TreeFacts;
use icbot::stub::{StubAlert, StubData};

const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(500);
const KILLS: usize = 10;
const PAGES: usize = 100;
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): 2 kills, 10 pages.
const SMOKE_KILLS: usize = 2;
const SMOKE_PAGES: usize = 10;
const REPLICAS: usize = 3;
const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_secs(1);
/// The start of every stalk post of a change.
const CHANGED: &str = "System state changed";

struct Replica {
    child: Child,
    stdin: Option<ChildStdin>,
    admin: String,
    dir: PathBuf,
}

impl Replica {
    fn start(n: usize, base: &Path, url: &str, stub_url: &str) -> Replica {
        let dir = base.join(format!("replica-{n}"));
        std::fs::create_dir_all(&dir).expect("replica dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            r#"
[chat]
adapter = "console"
[pagerduty]
api_url = "{stub_url}"
from_email = "icbot@example.com"
service_id = "PSVC001"
refresh_interval = "30s"
page_deadline = "5s"
ic_schedules = [{{ id = "PIC0001", label = "IC Primary" }}]
responder_schedules = [{{ id = "PTEAM01", label = "Payments" }}]
[status]
source = "alertmanager"
url = "{stub_url}"
poll_interval = "{poll}ms"
[state]
backend = "postgres"
dir = "{state}"
[ha]
lease = "{lease}ms"
renew_every = "{renew}ms"
[admin]
listen = "127.0.0.1:{port}"
"#,
            state = dir.join("state").display(),
            lease = LEASE.as_millis(),
            renew = RENEW.as_millis(),
            poll = POLL.as_millis(),
        );
        std::fs::write(dir.join("config.toml"), config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_icbot"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .current_dir(&dir)
            .env("PAGERDUTY_TOKEN", "bench-token")
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(File::create(dir.join("stdout.log")).expect("stdout"))
            .stderr(File::create(dir.join("stderr.log")).expect("stderr"))
            .spawn()
            .expect("icbot runs");
        Replica {
            stdin: child.stdin.take(),
            child,
            admin: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    async fn tree(&self, http: &reqwest::Client) -> Option<TreeFacts> {
        let r = http
            .get(format!("{}/actors", self.admin))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn role(&self, http: &reqwest::Client) -> Option<String> {
        self.tree(http).await.and_then(|t| t.ha).map(|h| h.role)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }

    /// How many stalk posts of a change it made.
    fn changes_posted(&self) -> usize {
        self.stdout().matches(CHANGED).count()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls until `done`, at most [`PATIENCE`].
async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < PATIENCE, "no {what} within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leader_index(replicas: &[Replica], http: &reqwest::Client) -> Option<usize> {
    for (i, r) in replicas.iter().enumerate() {
        if r.role(http).await.as_deref() == Some("leader") {
            return Some(i);
        }
    }
    None
}

fn main() {
    print_machine();
    icbot::crypto::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let kills = scaled(KILLS, SMOKE_KILLS);
    let pages = scaled(PAGES, SMOKE_PAGES);
    let database = BenchSchema::create("ha").await;
    let url = database.url.clone();
    let stub = start_stub(StubData::demo()).await;
    let dir = temp_dir("ha");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http");

    let mut started = 0;
    let mut replicas: Vec<Replica> = (0..2)
        .map(|_| {
            started += 1;
            Replica::start(started, &dir, &url, &stub.url())
        })
        .collect();

    // Once the schema is migrated (somebody leads), the console channel stalks (through whichever replica;
    // the leader posts), until its first post is recorded.
    wait_until("a leader", || {
        let (replicas, http) = (&replicas, &http);
        async move { leader_index(replicas, http).await.is_some() }
    })
    .await;
    replicas[0].send("!status stalk");
    wait_until("the stalk's first post recorded", || {
        let database = &database;
        async move { database.stalk_recorded("console").await.is_some() }
    })
    .await;

    // Failover, KILLS times: kill the leader, flip the monitoring state at once.
    let mut takeovers = Vec::new();
    let mut first_posts = Vec::new();
    let mut critical = false;
    for _ in 0..kills {
        let waiting = Instant::now();
        let leader = loop {
            let mut roles = Vec::new();
            for r in &replicas {
                roles.push(r.role(&http).await);
            }
            let leader = roles.iter().position(|r| r.as_deref() == Some("leader"));
            if leader.is_some() && roles.iter().any(|r| r.as_deref() == Some("follower")) {
                break leader;
            }
            assert!(
                waiting.elapsed() < PATIENCE,
                "no leader and follower within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let leader = leader.expect("a leader");
        let mut dead = replicas.remove(leader);
        let before: usize = replicas.iter().map(Replica::changes_posted).sum();
        let killed = Instant::now();
        dead.kill();
        critical = !critical;
        stub.set_alerts(if critical {
            vec![StubAlert::new("ApiDown", "critical")]
        } else {
            Vec::new()
        });
        let mut took_over = None;
        loop {
            if took_over.is_none() && leader_index(&replicas, &http).await.is_some() {
                took_over = Some(killed.elapsed());
            }
            let posted: usize = replicas.iter().map(Replica::changes_posted).sum();
            if took_over.is_some() && posted > before {
                break;
            }
            assert!(
                killed.elapsed() < PATIENCE,
                "no takeover and post within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first_posts.push(killed.elapsed());
        takeovers.push(took_over.expect("a takeover"));
        // What the room was told is recorded before the next kill, so the next leader has it.
        let level = if critical { "Critical" } else { "Normal" };
        wait_until("the change recorded", || {
            let database = &database;
            async move { database.stalk_recorded("console").await.as_deref() == Some(level) }
        })
        .await;
        started += 1;
        replicas.push(Replica::start(started, &dir, &url, &stub.url()));
    }

    // 100 identical pages over 3 replicas.
    while replicas.len() < REPLICAS {
        started += 1;
        replicas.push(Replica::start(started, &dir, &url, &stub.url()));
    }
    for r in &replicas {
        wait_until("a snapshot on every replica", || async {
            r.tree(&http).await.is_some_and(|t| {
                t.readiness.has_snapshot && t.ha.is_some_and(|h| h.role != "unknown")
            })
        })
        .await;
    }
    let before = stub.pages().incidents.len();
    let sent = Instant::now();
    for i in 0..pages {
        replicas[i % REPLICAS].send("!ic page checkout is down");
    }
    let spread = sent.elapsed();
    let answers = |replicas: &[Replica]| -> usize {
        replicas
            .iter()
            .map(|r| {
                let out = r.stdout();
                out.matches("Paged ").count()
                    + out.matches("Not paging again").count()
                    + out.matches("PAGE NOT CONFIRMED").count()
            })
            .sum()
    };
    wait_until("100 answers", || {
        let replicas = &replicas;
        async move { answers(replicas) >= pages }
    })
    .await;
    let all_answered = sent.elapsed();
    let incidents = stub.pages().incidents.len() - before;

    let p = Percentiles::new(takeovers.clone());
    let bound = LEASE + RENEW + Duration::from_secs(1);
    let posts = Percentiles::new(first_posts.clone());
    let post_bound = LEASE + POLL + Duration::from_secs(1);
    print_table(
        "HA: failover and cross-replica page dedup",
        &[
            Row::new(
                &format!("kill -9 of the leader to a new leader, {kills} kills: median"),
                fmt_duration(p.at(50.0)),
                "-",
                None,
            ),
            Row::new(
                &format!("kill -9 of the leader to a new leader, {kills} kills: worst"),
                fmt_duration(p.max()),
                &format!("< lease + renew_every + 1 s = {}", fmt_duration(bound)),
                Some(p.max() < bound),
            ),
            Row::new(
                &format!(
                    "kill -9 of the leader to the new leader's first stalk post, {kills} kills: median"
                ),
                fmt_duration(posts.at(50.0)),
                "-",
                None,
            ),
            Row::new(
                &format!(
                    "kill -9 of the leader to the new leader's first stalk post, {kills} kills: worst"
                ),
                fmt_duration(posts.max()),
                &format!("< lease + poll interval + 1 s = {}", fmt_duration(post_bound)),
                Some(posts.max() < post_bound),
            ),
            Row::new(
                &format!(
                    "{pages} identical pages over {REPLICAS} replicas (sent within {}, all answered in {})",
                    fmt_duration(spread),
                    fmt_duration(all_answered)
                ),
                format!("{incidents} incident(s)"),
                "1",
                Some(incidents == 1),
            ),
        ],
    );
    drop(replicas);
    database.drop_schema().await;
    let _ = std::fs::remove_dir_all(&dir);
}
