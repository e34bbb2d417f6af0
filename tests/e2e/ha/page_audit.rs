//! The page audit every replica shares (`icbot_page_audit`): a real `icbot` process writes its pages'
//! records there; with its database hung, its pages still answer in time and the records wait in a local
//! spool, then land once each when the database answers again.

use std::time::{Duration, Instant};

use super::replicas::{leader_behind_proxy, wait_for_output, ReplicaProcess};
use super::test_database::TestDatabase;
use crate::helpers::Options;

/// Every row of the shared audit: (page id, kind, replica).
async fn audit_rows(db: &TestDatabase) -> Vec<(String, String, String)> {
    db.client()
        .await
        .query(
            "SELECT page_id, kind, replica FROM icbot_page_audit ORDER BY seq",
            &[],
        )
        .await
        .expect("the audit table reads")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// Waits until the shared audit holds `n` rows, at most `within`.
async fn wait_for_rows(
    db: &TestDatabase,
    n: usize,
    within: Duration,
    process: &ReplicaProcess,
) -> Vec<(String, String, String)> {
    let start = Instant::now();
    loop {
        let rows = audit_rows(db).await;
        if rows.len() >= n {
            return rows;
        }
        if start.elapsed() > within {
            panic!(
                "{} audit rows, not {n}, after {within:?}: {rows:?}\n--- log:\n{}",
                rows.len(),
                process.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of `icbot_page_audit_spooled` in `/metrics`, `None` while absent.
async fn spooled(process: &ReplicaProcess) -> Option<u64> {
    process
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("icbot_page_audit_spooled "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

async fn wait_for_spooled(process: &ReplicaProcess, n: u64, within: Duration) {
    let start = Instant::now();
    while spooled(process).await != Some(n) {
        if start.elapsed() > within {
            panic!(
                "icbot_page_audit_spooled is {:?}, not {n}, after {within:?}\n--- log:\n{}",
                spooled(process).await,
                process.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spool_lines(process: &ReplicaProcess) -> usize {
    std::fs::read_to_string(process.state_dir().join("pages_spool.jsonl"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_audit_records_are_shared_spooled_while_the_database_hangs_and_land_once_after() {
    let (db, proxy, stub, mut a) = leader_behind_proxy("page_audit").await;
    let options = Options::default();
    let page = Duration::from_secs_f64(options.page_deadline_secs);

    // The database answers: both records of the page are in the table.
    a.send("!ic page checkout is down");
    wait_for_output(&a, page, "answer to the first page", |out| {
        out.matches("Paged ").count() == 1
    })
    .await;
    let rows = wait_for_rows(&db, 2, Duration::from_secs(10), &a).await;
    let kinds: Vec<&str> = rows.iter().map(|(_, kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, vec!["started", "outcome"], "{rows:?}");
    assert_eq!(rows[0].0, rows[1].0, "one page id: {rows:?}");
    assert!(rows[0].2.contains(&a.pid().to_string()), "{rows:?}");
    wait_for_spooled(&a, 0, Duration::from_secs(5)).await;

    // The database hangs: the next page answers in time, and its records wait in the spool.
    proxy.freeze();
    a.send("!ic page responders payments are down");
    let took = wait_for_output(&a, page, "answer to the second page", |out| {
        out.matches("Paged ").count() == 2
    })
    .await;
    eprintln!("!ic page with the database hung answered in {took:?}");
    assert_eq!(stub.pages().incidents.len(), 2, "both pages went out");
    wait_for_spooled(&a, 2, Duration::from_secs(15)).await;
    assert_eq!(spool_lines(&a), 2);
    assert_eq!(
        audit_rows(&db).await.len(),
        2,
        "nothing new reached the table"
    );

    // It answers again: the spool is replayed, each record lands once, the spool empties.
    proxy.reopen();
    let rows = wait_for_rows(&db, 4, Duration::from_secs(15), &a).await;
    wait_for_spooled(&a, 0, Duration::from_secs(10)).await;
    assert_eq!(spool_lines(&a), 0);
    let rows_after = audit_rows(&db).await;
    assert_eq!(rows_after.len(), 4, "{rows_after:?}");
    assert_eq!(rows, rows_after);
    let second: Vec<&str> = rows[2..].iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(second, vec!["started", "outcome"], "{rows:?}");
    assert_eq!(rows[2].0, rows[3].0, "{rows:?}");
    assert_ne!(rows[0].0, rows[2].0, "{rows:?}");
    // The local log is as before: every record of both pages.
    let local = std::fs::read_to_string(a.state_dir().join("pages.jsonl")).expect("pages.jsonl");
    assert_eq!(local.lines().count(), 4, "{local}");
}

#[tokio::test]
async fn a_spool_replayed_twice_lands_once() {
    let test_db = TestDatabase::create("page_audit_replay").await;
    let db = test_db.migrated(Duration::from_secs(2)).await;
    let entry = |page_id: &str, kind: &str| icbot_actors::ports::PageAuditEntry {
        page_id: page_id.into(),
        kind: kind.into(),
        at: std::time::SystemTime::now(),
        record: serde_json::json!({ "page_id": page_id, "event": kind }),
    };
    let spool = vec![
        entry("p1", "started"),
        entry("p1", "outcome"),
        entry("p2", "started"),
    ];
    let first = icbot::ha::page_audit::insert(&db, "replica-a", &spool)
        .await
        .expect("written");
    assert_eq!(first, 3);
    let again = icbot::ha::page_audit::insert(&db, "replica-a", &spool)
        .await
        .expect("replayed");
    assert_eq!(again, 0, "a replay adds nothing");
    assert_eq!(audit_rows(&test_db).await.len(), 3);
}
