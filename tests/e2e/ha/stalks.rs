//! Stalks with several real `icbot` processes on one schema (`[state] backend = "postgres"`): the stalking set
//! lives in `icbot_stalk`, only the leader polls and posts, a new leader tells only the next change, a leader
//! woken from SIGSTOP posts nothing stale, and a leader cut off from its database says once that updates are
//! paused and once that they resumed. The chat is each process's console: a post is a line on its stdout, so
//! the test counts posts per process. Waits are on events (lines appearing, monitoring polls at the stub,
//! roles in `/actors`, rows in the database).

use std::process::Command;
use std::time::{Duration, Instant};

use icbot::stub::{StubAlert, StubHandle};

use super::replicas::{
    role_of, stub, wait_for_output, wait_for_roles, ReplicaProcess, LEASE, START_PATIENCE,
};
use super::tcp_proxy::TcpProxy;
use super::test_database::TestDatabase;
use crate::helpers::Options;

/// The first post of a stalk, and the change the tests make.
const FIRST: &str = "System state: ";
const TO_CRITICAL: &str = "System state changed from NORMAL to CRITICAL";
const PAUSED: &str = "status updates paused: coordination database unreachable";
const RESUMED: &str = "status updates resumed";
const ALERTS: &str = "/api/v2/alerts";
/// Monitoring polled every second.
const POLL: Duration = Duration::from_secs(1);
/// A takeover (lease and a renewal), with room for a loaded machine.
const TAKEOVER: Duration = Duration::from_secs(12);

fn options() -> Options {
    Options {
        poll_interval_secs: POLL.as_secs_f64(),
        ..Options::default()
    }
}

fn count(out: &str, what: &str) -> usize {
    out.matches(what).count()
}

fn critical() -> Vec<StubAlert> {
    vec![StubAlert::new("ApiDown", "critical")]
}

/// Two replicas, once one leads and the other follows: (leader, follower).
async fn leader_and_follower(
    db: &TestDatabase,
    stub: &StubHandle,
) -> (ReplicaProcess, ReplicaProcess) {
    let a = ReplicaProcess::start("a", db, stub, &options());
    let b = ReplicaProcess::start("b", db, stub, &options());
    let facts = wait_for_roles(&[&a, &b], START_PATIENCE, "leader and follower", |f| {
        let roles: Vec<_> = f.iter().map(role_of).collect();
        roles.contains(&Some("leader")) && roles.contains(&Some("follower"))
    })
    .await;
    if facts[0].role == "leader" {
        (a, b)
    } else {
        (b, a)
    }
}

/// Types `!status stalk` into `replica` and waits for its answer.
async fn stalk_via(replica: &mut ReplicaProcess) {
    replica.send("!status stalk");
    wait_for_output(replica, Duration::from_secs(10), "now stalking", |o| {
        o.contains("Now stalking")
    })
    .await;
}

/// A leader and a follower on a schema of their own, once the console channel stalks (typed into the
/// follower) and the leader posted the first state: (schema, stub, leader, follower).
async fn stalking_pair(tag: &str) -> (TestDatabase, StubHandle, ReplicaProcess, ReplicaProcess) {
    let db = TestDatabase::create(tag).await;
    let stub = stub().await;
    let (leader, mut follower) = leader_and_follower(&db, &stub).await;
    stalk_via(&mut follower).await;
    wait_for_output(
        &leader,
        Duration::from_secs(10),
        "the leader's first post",
        |o| o.contains(FIRST),
    )
    .await;
    (db, stub, leader, follower)
}

/// Waits until the database says the channel was last told `level` (`Normal`, `Critical`).
async fn wait_recorded(db: &TestDatabase, level: &str) {
    let client = db.client().await;
    let recorded = async {
        loop {
            let row = client
                .query_opt(
                    "SELECT last_posted #>> '{state,Known,level}' FROM icbot_stalk WHERE channel = 'console'",
                    &[],
                )
                .await
                .expect("icbot_stalk reads");
            if row.and_then(|r| r.get::<_, Option<String>>(0)).as_deref() == Some(level) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), recorded)
        .await
        .unwrap_or_else(|_| panic!("last_posted {level} never recorded"));
}

/// Waits for `n` more polls of monitoring (by whichever replica polls): time for a repeat to show.
async fn more_polls(stub: &StubHandle, n: usize) {
    let seen = stub.request_count(ALERTS);
    assert!(
        stub.wait_for_requests(ALERTS, seen + n, Duration::from_secs(20))
            .await,
        "monitoring is polled"
    );
}

fn signal(replica: &ReplicaProcess, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &replica.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalk_typed_into_the_follower_is_posted_by_the_leader_once() {
    let (db, stub, leader, follower) = stalking_pair("stalk_via_follower").await;

    stub.set_alerts(critical());
    wait_for_output(&leader, Duration::from_secs(10), "the change", |o| {
        o.contains(TO_CRITICAL)
    })
    .await;
    more_polls(&stub, 3).await;
    let (said, other) = (leader.stdout(), follower.stdout());
    assert_eq!(count(&said, FIRST), 1, "{said}");
    assert_eq!(count(&said, TO_CRITICAL), 1, "{said}");
    assert_eq!(
        count(&other, "System state"),
        0,
        "a follower posts nothing: {other}"
    );
    wait_recorded(&db, "Critical").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_leader_the_other_posts_the_next_change_once() {
    let (db, stub, mut leader, follower) = stalking_pair("stalk_kill_9").await;
    wait_recorded(&db, "Normal").await;

    let killed = Instant::now();
    leader.kill();
    stub.set_alerts(critical());
    wait_for_output(&follower, TAKEOVER, "the new leader's post", |o| {
        o.contains(TO_CRITICAL)
    })
    .await;
    let took = killed.elapsed();
    eprintln!("kill -9 of the leader to the new leader's first stalk post: {took:?}");
    more_polls(&stub, 3).await;
    let said = follower.stdout();
    assert_eq!(count(&said, TO_CRITICAL), 1, "{said}");
    assert_eq!(
        count(&said, FIRST),
        0,
        "the old leader's post is not repeated: {said}"
    );
    wait_recorded(&db, "Critical").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_woken_from_sigstop_past_its_lease_posts_nothing_stale() {
    let (db, stub, leader, follower) = stalking_pair("stalk_sigstop").await;
    wait_recorded(&db, "Normal").await;

    signal(&leader, "-STOP");
    wait_for_roles(&[&follower], TAKEOVER, "takeover", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    // The change happens while the old leader sleeps: woken, its stalk would see it too.
    stub.set_alerts(critical());
    wait_for_output(
        &follower,
        Duration::from_secs(10),
        "the new leader's post",
        |o| o.contains(TO_CRITICAL),
    )
    .await;
    signal(&leader, "-CONT");
    wait_for_roles(&[&leader], TAKEOVER, "the woken one following", |f| {
        role_of(&f[0]) == Some("follower")
    })
    .await;
    more_polls(&stub, 3).await;
    let (woken, new) = (leader.stdout(), follower.stdout());
    assert_eq!(count(&woken, "System state"), 1, "nothing stale: {woken}");
    assert_eq!(count(&woken, "status updates"), 0, "{woken}");
    assert_eq!(count(&new, TO_CRITICAL), 1, "{new}");
    assert_eq!(count(&new, FIRST), 0, "{new}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_database_unreachable_the_leader_says_paused_once_and_resumed_once() {
    let db = TestDatabase::create("stalk_paused").await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let stub = stub().await;
    let mut a = ReplicaProcess::start_on("a", &db.url_through(proxy.port()), &stub, &options());
    wait_for_roles(&[&a], START_PATIENCE, "a leader", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    stalk_via(&mut a).await;
    wait_for_output(&a, Duration::from_secs(10), "the first post", |o| {
        o.contains(FIRST)
    })
    .await;

    proxy.freeze();
    wait_for_output(&a, LEASE * 2 + Duration::from_secs(5), "paused", |o| {
        o.contains(PAUSED)
    })
    .await;
    wait_for_roles(&[&a], LEASE * 2, "unknown", |f| {
        role_of(&f[0]) == Some("unknown")
    })
    .await;
    proxy.reopen();
    wait_for_output(&a, TAKEOVER, "resumed", |o| o.contains(RESUMED)).await;
    wait_for_roles(&[&a], TAKEOVER, "a leader again", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    more_polls(&stub, 3).await;
    let said = a.stdout();
    assert_eq!(count(&said, PAUSED), 1, "{said}");
    assert_eq!(count(&said, RESUMED), 1, "{said}");
    assert_eq!(
        count(&said, FIRST),
        1,
        "nothing changed, nothing repeated: {said}"
    );
}
