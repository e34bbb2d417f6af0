//! Fenced writes: a leader that lost its tenure (paused past its lease, then woken) cannot write, in process
//! and as a real process stopped with SIGSTOP.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use icbot::ha::oncall_snapshot;
use icbot::ha::{Database, Fence, FencedWrite, Role};
use serde_json::json;
use tokio::sync::mpsc;

use super::test_database::{keeper, TestDatabase};
use super::{leader_epoch, wait_role, LEASE, RENEW, STATEMENT};

/// The leader-only write of a stalk: what the channel was last told, and by which tenure.
const POST_STALK: &str = "
UPDATE icbot_stalk SET last_posted = $3, last_posted_at = now(), epoch = $2, updated_at = now()
 WHERE channel = $4 AND {fence}";

async fn add_stalk(test: &TestDatabase, channel: &str) {
    test.client()
        .await
        .execute(
            "INSERT INTO icbot_stalk (channel, target, since) VALUES ($1, '{\"kind\":\"status\"}', now())",
            &[&channel],
        )
        .await
        .unwrap();
}

async fn last_posted(test: &TestDatabase, channel: &str) -> (serde_json::Value, i64) {
    let row = test
        .client()
        .await
        .query_one(
            "SELECT last_posted, epoch FROM icbot_stalk WHERE channel = $1",
            &[&channel],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn post(
    db: &Database,
    fence: &Fence,
    channel: &str,
    state: serde_json::Value,
) -> FencedWrite {
    fence
        .execute(db, POST_STALK, &[&state, &channel])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_leader_cannot_write_after_another_took_over() {
    let test = TestDatabase::create("stale_fence").await;
    let db_a = test.migrated(STATEMENT).await;
    let db_b = test.database(STATEMENT);
    add_stalk(&test, "C-stalk").await;

    let a = keeper(&db_a, "replica-a", LEASE, RENEW);
    wait_role(&mut a.role(), LEASE * 2, "a leader", Role::is_leader).await;
    let stale = a.fence().expect("a leads");
    assert_eq!(
        post(&db_a, &stale, "C-stalk", json!({"state": "DEGRADED"})).await,
        FencedWrite::Written { rows: 1 }
    );
    let snapshot = json!({"ic": ["alice"]});
    let taken = SystemTime::now();
    assert_eq!(
        oncall_snapshot::save(&db_a, &stale, &snapshot, taken)
            .await
            .unwrap(),
        FencedWrite::Written { rows: 1 }
    );

    // a stops renewing (its keeper is gone, as in a pause), but the work it had decided still holds its fence.
    drop(a);
    let b = keeper(&db_b, "replica-b", LEASE, RENEW);
    let role = wait_role(
        &mut b.role(),
        LEASE * 2 + RENEW,
        "b leader",
        Role::is_leader,
    )
    .await;
    assert!(leader_epoch(&role).unwrap() > stale.epoch());
    let fresh = b.fence().expect("b leads");
    assert_eq!(
        post(&db_b, &fresh, "C-stalk", json!({"state": "CRITICAL"})).await,
        FencedWrite::Written { rows: 1 }
    );

    // a wakes up and writes what it had decided: refused, and nothing changed.
    assert_eq!(
        post(&db_a, &stale, "C-stalk", json!({"state": "NORMAL"})).await,
        FencedWrite::Refused
    );
    assert_eq!(
        oncall_snapshot::save(
            &db_a,
            &stale,
            &json!({"ic": ["mallory"]}),
            SystemTime::now()
        )
        .await
        .unwrap(),
        FencedWrite::Refused
    );
    assert_eq!(
        last_posted(&test, "C-stalk").await,
        (json!({"state": "CRITICAL"}), fresh.epoch().0)
    );
    let stored = oncall_snapshot::load(&db_b)
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!((stored.snapshot, stored.epoch), (snapshot, stale.epoch()));
}

#[tokio::test]
async fn a_lapsed_lease_refuses_its_holders_writes_even_with_no_new_leader() {
    let test = TestDatabase::create("lapsed_fence").await;
    let db = test.migrated(STATEMENT).await;
    add_stalk(&test, "C-lapsed").await;
    let a = keeper(&db, "replica-a", LEASE, RENEW);
    wait_role(&mut a.role(), LEASE * 2, "a leader", Role::is_leader).await;
    let fence = a.fence().expect("a leads");
    drop(a);
    // The database's clock runs past the lease (moved by hand rather than waited for).
    test.client()
        .await
        .batch_execute("UPDATE icbot_lease SET expires_at = now() - interval '1 millisecond'")
        .await
        .unwrap();
    assert_eq!(
        post(&db, &fence, "C-lapsed", json!({"state": "NORMAL"})).await,
        FencedWrite::Refused
    );
    // A statement without the fence's marker is refused before it reaches the database.
    assert!(fence
        .execute(&db, "DELETE FROM icbot_stalk", &[])
        .await
        .is_err());
}

/// Set in the child process: the schema it joins.
const CHILD_SCHEMA: &str = "ICBOT_TEST_PAUSED_REPLICA_SCHEMA";
const STALKED: &str = "C-paused";

/// A replica in a process of its own (this test binary run again with only the test below): it leads, then
/// posts to a stalk every 50 ms with the fence of its tenure, never looking at its role again, and prints
/// each outcome. Only the fence can stop it.
#[tokio::test]
#[ignore = "the child process of a_leader_stopped_past_its_lease_cannot_write_when_it_continues"]
async fn paused_replica_child() {
    let Ok(schema) = std::env::var(CHILD_SCHEMA) else {
        return;
    };
    let test = TestDatabase::attach(&schema);
    let db = test.database(STATEMENT);
    let keeper = keeper(&db, "paused-replica", LEASE, RENEW);
    wait_role(
        &mut keeper.role(),
        LEASE * 2,
        "child leader",
        Role::is_leader,
    )
    .await;
    let fence = keeper.fence().expect("leads");
    println!("LEADER {}", fence.epoch());
    for n in 0u64.. {
        let outcome = fence
            .execute(
                &db,
                POST_STALK,
                &[&json!({"by": "paused", "n": n}), &STALKED],
            )
            .await;
        match outcome {
            Ok(FencedWrite::Written { .. }) => println!("WRITTEN {n}"),
            Ok(FencedWrite::Refused) => println!("REFUSED {n}"),
            Err(e) => println!("ERROR {n} {e}"),
        }
        // The pace of this replica's work, not a wait of the test.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig}");
}

async fn next_line(lines: &mut mpsc::UnboundedReceiver<String>, prefix: &str) -> String {
    let wanted = tokio::time::timeout(LEASE * 3, async {
        while let Some(line) = lines.recv().await {
            if line.starts_with(prefix) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match wanted {
        Ok(Some(line)) => line,
        Ok(None) => panic!("the child replica exited before printing {prefix}"),
        Err(_) => panic!(
            "the child replica printed no {prefix} within {:?}",
            LEASE * 3
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_past_its_lease_cannot_write_when_it_continues() {
    let test = TestDatabase::create("sigstop").await;
    let db = test.migrated(STATEMENT).await;
    add_stalk(&test, STALKED).await;

    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "ha::fence::paused_replica_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_SCHEMA, test.schema())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Child(child.spawn().expect("the child replica starts"));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, mut lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let leader = next_line(&mut lines, "LEADER ").await;
    let child_epoch: i64 = leader["LEADER ".len()..].parse().unwrap();
    next_line(&mut lines, "WRITTEN ").await;

    signal(&child, "-STOP");
    let b = keeper(&db, "replica-b", LEASE, RENEW);
    let role = wait_role(
        &mut b.role(),
        LEASE * 2 + RENEW,
        "b leader",
        Role::is_leader,
    )
    .await;
    let epoch = leader_epoch(&role).unwrap();
    assert!(epoch.0 > child_epoch);
    let fence = b.fence().unwrap();
    assert_eq!(
        post(&db, &fence, STALKED, json!({"by": "b"})).await,
        FencedWrite::Written { rows: 1 }
    );

    signal(&child, "-CONT");
    next_line(&mut lines, "REFUSED ").await;
    assert_eq!(
        last_posted(&test, STALKED).await,
        (json!({"by": "b"}), epoch.0)
    );
}

/// A replica whose process stalls (its runtime blocked, as by SIGSTOP) past the renew deadline: its lease
/// keeper cannot step down yet, so its role still says leader, but it hands out no fence: what runs first
/// after the stall (a stalk about to post) does not act on the role it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_leader_gets_no_fence_before_its_keeper_can_step_down() {
    use icbot::ha::{HaTimings, Replica, ReplicaId};

    let test = TestDatabase::create("stalled_replica").await;
    let db = test.database(STATEMENT);
    let (give, replica) = std::sync::mpsc::channel::<Replica>();
    let (stall, stalled) = std::sync::mpsc::channel::<()>();
    let host = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the replica's runtime");
        runtime.block_on(async move {
            let replica = Replica::start_on(
                db,
                ReplicaId("stalled".into()),
                HaTimings {
                    lease: LEASE,
                    renew_every: RENEW,
                    statement_timeout: STATEMENT,
                },
            );
            give.send(replica.clone()).expect("the test waits");
            loop {
                if stalled.try_recv().is_ok() {
                    // Every task of this runtime stops: the keeper, and the task mirroring its role.
                    std::thread::sleep(LEASE);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    });
    let replica = replica.recv().expect("a replica");
    let leads = async {
        while replica.fence().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LEASE * 5, leads)
        .await
        .expect("it leads");

    stall.send(()).expect("the replica's runtime runs");
    let deadline = LEASE * 2 / 3;
    let past = async {
        while replica
            .facts()
            .last_renewal_age_secs
            .is_none_or(|age| age <= deadline.as_secs_f64() + 0.05)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LEASE, past)
        .await
        .expect("the renew deadline passes");
    assert_eq!(replica.facts().role, "leader", "the keeper is stalled too");
    assert!(
        replica.fence().is_none(),
        "a leader past its renew deadline hands out no fence"
    );
    host.join().expect("the replica's thread ends");
}
