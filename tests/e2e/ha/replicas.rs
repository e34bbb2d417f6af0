//! Real `icbot` processes as replicas on one schema and one stub (`[state] backend = "postgres"`): each
//! with its own state dir and admin server, console chat on a stdin kept open. What operators see of the
//! lease (`/actors`, `/metrics`, `icbot health`) is read from each process's admin server.

use std::fs::File;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use icbot::admin::TreeFacts;
use icbot::ha::HaFacts;
use icbot::stub::{Fault, StubData, StubHandle, StubServer};

use super::tcp_proxy::TcpProxy;
use super::test_database::TestDatabase;
use crate::helpers::{config_text, Options, TempDir};

/// Lease timings of the replicas: a takeover within a few seconds.
pub(super) const LEASE: Duration = Duration::from_secs(2);
pub(super) const RENEW: Duration = Duration::from_millis(500);
/// From start to a role: migrations, the first attempt, a loaded snapshot.
pub(super) const START_PATIENCE: Duration = Duration::from_secs(30);

/// One `icbot` process.
pub struct ReplicaProcess {
    pub name: String,
    child: Child,
    /// Kept open: end of input would stop a console bot.
    stdin: Option<ChildStdin>,
    pub admin: String,
    dir: TempDir,
    http: reqwest::Client,
}

impl ReplicaProcess {
    /// Starts `icbot` on `db`'s schema with PagerDuty and monitoring at `stub`.
    pub fn start(name: &str, db: &TestDatabase, stub: &StubHandle, options: &Options) -> Self {
        Self::start_on(name, &db.url(), stub, options)
    }

    /// Starts `icbot` with this `DATABASE_URL`.
    pub fn start_on(name: &str, database_url: &str, stub: &StubHandle, options: &Options) -> Self {
        icbot::crypto::install_crypto_provider();
        let dir = TempDir::new(&format!("replica-{name}"));
        let port = free_port();
        let extra = format!(
            "[admin]\nlisten = \"127.0.0.1:{port}\"\n\n[ha]\nlease = \"{}ms\"\nrenew_every = \"{}ms\"\n{}",
            LEASE.as_millis(),
            RENEW.as_millis(),
            options.extra
        );
        let options = Options {
            extra,
            ..options.clone()
        };
        let config = config_text(&stub.url(), &dir.0.join("state"), &options)
            .replace("[state]\n", "[state]\nbackend = \"postgres\"\n");
        let path = dir.0.join("config.toml");
        std::fs::write(&path, config).expect("config written");
        let stderr = File::create(dir.0.join("stderr.log")).expect("stderr log");
        let stdout = File::create(dir.0.join("stdout.log")).expect("stdout log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_icbot"))
            .arg("--config")
            .arg(&path)
            .current_dir(&dir.0)
            .env("PAGERDUTY_TOKEN", "replica-test-token")
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("icbot runs");
        ReplicaProcess {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            admin: format!("http://127.0.0.1:{port}"),
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Types a line into its console chat.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to icbot");
        stdin.flush().expect("flush to icbot");
    }

    /// Its `[state] dir`.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.0.join("state")
    }

    /// Its console replies so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("stdout.log")).unwrap_or_default()
    }

    /// What it logged, for failure messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("stderr.log")).unwrap_or_default()
    }

    /// Its `/actors`, `None` while its admin server does not answer.
    pub async fn tree(&self) -> Option<TreeFacts> {
        let answer = self
            .http
            .get(format!("{}/actors", self.admin))
            .send()
            .await
            .ok()?;
        answer.json().await.ok()
    }

    pub async fn ha(&self) -> Option<HaFacts> {
        self.tree().await.and_then(|t| t.ha)
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics text")
    }
}

impl Drop for ReplicaProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free a moment ago, for a replica's admin server (the process must be told it in its config).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

pub async fn stub() -> StubHandle {
    StubServer::start("127.0.0.1:0", StubData::demo(), Fault::None)
        .await
        .expect("stub starts")
}

/// Polls the replicas' `/actors` until `done` holds for their HA facts (one entry per replica, `None`
/// while one does not answer), at most `within`; the failure shows what they last said and their logs.
pub async fn wait_for_roles(
    replicas: &[&ReplicaProcess],
    within: Duration,
    what: &str,
    done: impl Fn(&[Option<HaFacts>]) -> bool,
) -> Vec<HaFacts> {
    let start = Instant::now();
    loop {
        let mut facts = Vec::new();
        for r in replicas {
            facts.push(r.ha().await);
        }
        if done(&facts) {
            return facts.into_iter().map(|f| f.expect("answered")).collect();
        }
        if start.elapsed() > within {
            let logs: Vec<String> = replicas
                .iter()
                .map(|r| format!("--- {} (pid {}):\n{}", r.name, r.pid(), r.stderr()))
                .collect();
            panic!(
                "no {what} within {within:?}; the replicas said {facts:#?}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) fn role_of(f: &Option<HaFacts>) -> Option<&str> {
    f.as_ref().map(|f| f.role.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_elect_one_leader_and_the_other_takes_over_after_kill_9() {
    let db = TestDatabase::create("two_processes").await;
    let stub = stub().await;
    let a = ReplicaProcess::start("a", &db, &stub, &Options::default());
    let b = ReplicaProcess::start("b", &db, &stub, &Options::default());

    // Exactly one leader, the other following it, both on the same epoch and holder.
    let facts = wait_for_roles(&[&a, &b], START_PATIENCE, "leader and follower", |f| {
        let roles: Vec<_> = f.iter().map(role_of).collect();
        roles.contains(&Some("leader")) && roles.contains(&Some("follower"))
    })
    .await;
    assert_eq!(facts[0].epoch, facts[1].epoch, "{facts:#?}");
    assert_eq!(facts[0].holder, facts[1].holder, "{facts:#?}");
    let (leader, follower) = if facts[0].role == "leader" {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(
        facts[leader].holder.as_deref(),
        Some(facts[leader].replica.as_str())
    );
    let first_epoch = facts[leader].epoch.expect("an epoch");
    let procs = [&a, &b];
    let leader_pid = procs[leader].pid();
    assert!(
        facts[leader].replica.contains(&format!("-{leader_pid}-")),
        "the replica id names the process: {facts:#?}"
    );

    // Operators see it in /metrics and `icbot health`.
    let metrics = procs[leader].metrics().await;
    assert!(
        metrics.contains("icbot_ha_role{role=\"leader\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("icbot_ha_epoch {first_epoch}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("icbot_ha_last_renewal_age_seconds"),
        "{metrics}"
    );
    let follower_metrics = procs[follower].metrics().await;
    assert!(
        follower_metrics.contains("icbot_ha_role{role=\"follower\"} 1")
            && follower_metrics.contains("icbot_ha_role{role=\"leader\"} 0"),
        "{follower_metrics}"
    );
    let health = Command::new(env!("CARGO_BIN_EXE_icbot"))
        .args(["health", "--admin", &procs[follower].admin])
        .arg("--pid")
        .arg(procs[follower].pid().to_string())
        .output()
        .expect("icbot health runs");
    let shown = String::from_utf8_lossy(&health.stdout);
    assert!(
        shown.contains(&format!(
            "ha: follower; epoch {first_epoch}; lease holder {}",
            facts[leader].replica
        )),
        "{shown}"
    );
    assert!(health.status.success(), "a follower is ready: {shown}");

    // kill -9 the leader: the other takes over within a lease and a renewal (and a little for the process).
    let (mut dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };
    let killed_at = Instant::now();
    dead.kill();
    let after = wait_for_roles(
        &[&survivor],
        LEASE + RENEW * 4 + Duration::from_secs(3),
        "takeover",
        |f| role_of(&f[0]) == Some("leader"),
    )
    .await;
    let took = killed_at.elapsed();
    let bound = LEASE + RENEW + Duration::from_secs(1);
    assert!(
        took <= bound,
        "takeover took {took:?}, more than lease + renew_every + 1 s ({bound:?})"
    );
    assert!(
        after[0].epoch.expect("an epoch") > first_epoch,
        "a new tenure has a new epoch: {after:#?}"
    );
    assert_eq!(after[0].holder.as_deref(), Some(after[0].replica.as_str()));
    eprintln!("kill -9 of the leader to takeover: {took:?}");
}

/// The epoch of the shared on-call snapshot's writer, `None` before one was written.
async fn shared_snapshot_epoch(db: &TestDatabase) -> Option<i64> {
    db.client()
        .await
        .query_opt("SELECT epoch FROM icbot_oncall_snapshot", &[])
        .await
        .expect("the snapshot table reads")
        .map(|row| row.get(0))
}

pub(super) fn has_snapshot(tree: &Option<TreeFacts>) -> bool {
    tree.as_ref().is_some_and(|t| t.readiness.has_snapshot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_asks_pagerduty_and_a_follower_serves_its_snapshot_until_it_takes_over() {
    let db = TestDatabase::create("leader_refreshes").await;
    // Each replica has a PagerDuty of its own, so the test can tell who asked.
    let (stub_a, stub_b) = (stub().await, stub().await);
    let options = Options {
        refresh_interval_secs: 1.0,
        ..Options::default()
    };
    let a = ReplicaProcess::start("a", &db, &stub_a, &options);
    let leader = wait_for_roles(&[&a], START_PATIENCE, "a leader", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    let first_epoch = leader[0].epoch.expect("an epoch");
    let shared = async {
        loop {
            if shared_snapshot_epoch(&db).await == Some(first_epoch) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(START_PATIENCE, shared)
        .await
        .expect("the leader shares its snapshot");

    let b = ReplicaProcess::start("b", &db, &stub_b, &options);
    wait_for_roles(&[&b], START_PATIENCE, "a follower", |f| {
        role_of(&f[0]) == Some("follower")
    })
    .await;
    let ready = async {
        while !has_snapshot(&b.tree().await) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(START_PATIENCE, ready)
        .await
        .expect("the follower has a snapshot");
    // Three more refreshes of the leader: the follower ticked as often, and took the leader's snapshot.
    let seen = stub_a.request_count("/oncalls");
    assert!(
        stub_a
            .wait_for_requests("/oncalls", seen + 3, Duration::from_secs(10))
            .await,
        "the leader keeps refreshing"
    );
    assert_eq!(
        stub_b.request_count("/oncalls") + stub_b.request_count("/users"),
        0,
        "a follower never asks PagerDuty"
    );

    // The leader dies: the follower takes over and asks its PagerDuty, and shares under its own epoch.
    let mut a = a;
    a.kill();
    let after = wait_for_roles(
        &[&b],
        LEASE + RENEW * 4 + Duration::from_secs(3),
        "takeover",
        |f| role_of(&f[0]) == Some("leader"),
    )
    .await;
    let new_epoch = after[0].epoch.expect("an epoch");
    assert!(new_epoch > first_epoch);
    assert!(
        stub_b
            .wait_for_requests("/oncalls", 1, Duration::from_secs(5))
            .await,
        "the new leader asks PagerDuty"
    );
    let shared = async {
        loop {
            if shared_snapshot_epoch(&db).await == Some(new_epoch) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), shared)
        .await
        .expect("the new leader shares its snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_page_typed_into_two_replicas_at_once_opens_one_incident() {
    let db = TestDatabase::create("page_dedup").await;
    let stub = stub().await;
    let mut a = ReplicaProcess::start("a", &db, &stub, &Options::default());
    let mut b = ReplicaProcess::start("b", &db, &stub, &Options::default());
    wait_for_roles(&[&a, &b], START_PATIENCE, "both replicas ready", |f| {
        let roles: Vec<_> = f.iter().map(role_of).collect();
        roles.contains(&Some("leader")) && roles.contains(&Some("follower"))
    })
    .await;
    for r in [&a, &b] {
        let ready = async {
            while !has_snapshot(&r.tree().await) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(START_PATIENCE, ready)
            .await
            .expect("a snapshot");
    }
    a.send("!ic page checkout is down");
    b.send("!ic page checkout is down");
    let answered = |out: &str| out.contains("Paged ") || out.contains("Not paging again");
    let both = async {
        while !(answered(&a.stdout()) && answered(&b.stdout())) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), both)
        .await
        .is_err()
    {
        panic!(
            "no two answers:\n--- a:\n{}\n--- b:\n{}\n--- a log:\n{}\n--- b log:\n{}",
            a.stdout(),
            b.stdout(),
            a.stderr(),
            b.stderr()
        );
    }
    let (out_a, out_b) = (a.stdout(), b.stdout());
    assert_eq!(
        stub.pages().incidents.len(),
        1,
        "one incident:\n{out_a}\n{out_b}"
    );
    let repeats = [&out_a, &out_b]
        .iter()
        .filter(|o| o.contains("Not paging again") && o.contains("by console in #console"))
        .count();
    assert_eq!(
        repeats, 1,
        "the second reply names the first:\n--- a:\n{out_a}\n--- b:\n{out_b}"
    );
}

/// Waits until `process`'s console output satisfies `done`, at most `within`; how long it took.
pub(super) async fn wait_for_output(
    process: &ReplicaProcess,
    within: Duration,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> Duration {
    let start = Instant::now();
    while !done(&process.stdout()) {
        if start.elapsed() > within {
            panic!(
                "no {what} within {within:?}:\n{}\n--- log:\n{}",
                process.stdout(),
                process.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// One replica whose database connections go through a TCP proxy (so a test can hang or cut them), once it
/// leads and has its first on-call snapshot: (its schema, the proxy, its stub, the replica).
pub(super) async fn leader_behind_proxy(
    tag: &str,
) -> (TestDatabase, TcpProxy, StubHandle, ReplicaProcess) {
    let db = TestDatabase::create(tag).await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let stub = stub().await;
    let a = ReplicaProcess::start_on(
        "a",
        &db.url_through(proxy.port()),
        &stub,
        &Options::default(),
    );
    wait_for_roles(&[&a], START_PATIENCE, "a leader", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    let ready = async {
        while !has_snapshot(&a.tree().await) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(START_PATIENCE, ready)
        .await
        .expect("a snapshot");
    (db, proxy, stub, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_database_hung_a_replica_still_answers_and_pages_in_time() {
    let (_db, proxy, stub, mut a) = leader_behind_proxy("database_hung").await;
    let options = Options::default();

    // The database hangs: every byte held, sockets open (the worst case: nothing fails fast).
    proxy.freeze();
    a.send("!ic");
    let lookup = Duration::from_secs_f64(options.lookup_deadline_secs);
    let took = wait_for_output(&a, lookup, "answer to !ic", |out| {
        out.contains("IC Primary")
    })
    .await;
    eprintln!("!ic with the database hung answered in {took:?}");
    a.send("!ic page checkout is down");
    let page = Duration::from_secs_f64(options.page_deadline_secs);
    let took = wait_for_output(&a, page, "answer to the page", |out| out.contains("Paged ")).await;
    eprintln!("!ic page with the database hung answered in {took:?}");
    assert_eq!(stub.pages().incidents.len(), 1, "the page went out");

    // Leader work stops: the role is unknown (degraded, still ready) once the renew deadline passed.
    let facts = wait_for_roles(&[&a], LEASE * 2, "a step-down", |f| {
        role_of(&f[0]) == Some("unknown")
    })
    .await;
    assert_eq!(facts[0].role, "unknown");
    let tree = a.tree().await.expect("/actors answers");
    assert!(tree.readiness.ready, "{:?}", tree.readiness);
    assert!(
        tree.readiness
            .degraded
            .iter()
            .any(|d| d.starts_with("coordination: role unknown")),
        "{:?}",
        tree.readiness
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_with_sigterm_hands_its_lease_over_without_waiting_for_it_to_lapse() {
    let db = TestDatabase::create("handover").await;
    let stub = stub().await;
    let a = ReplicaProcess::start("a", &db, &stub, &Options::default());
    let b = ReplicaProcess::start("b", &db, &stub, &Options::default());
    let facts = wait_for_roles(&[&a, &b], START_PATIENCE, "leader and follower", |f| {
        let roles: Vec<_> = f.iter().map(role_of).collect();
        roles.contains(&Some("leader")) && roles.contains(&Some("follower"))
    })
    .await;
    let (mut leader, follower) = if facts[0].role == "leader" {
        (a, b)
    } else {
        (b, a)
    };
    let stopped = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &leader.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let after = wait_for_roles(&[&follower], LEASE * 4, "takeover", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    let took = stopped.elapsed();
    eprintln!("SIGTERM of the leader to takeover: {took:?}");
    // A lapsed lease would take at least LEASE - RENEW after the last renewal; a released one is taken on the
    // follower's next attempt.
    assert!(
        took < LEASE - RENEW,
        "takeover took {took:?}: the lease was not released\n{}",
        leader.stderr()
    );
    assert!(after[0].epoch > facts[0].epoch.max(facts[1].epoch));
    assert!(
        leader.stderr().contains("lease released"),
        "{}",
        leader.stderr()
    );
    leader.kill();
}
