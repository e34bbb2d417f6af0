//! The schema: migrations are embedded, idempotent and safe when replicas start together; the shared
//! tables' claims hold under races.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use icbot::ha::migrations::{self, embedded_migrations};
use icbot::ha::page_dedup::{self, Claim, PageClaim};
use icbot::ha::slack_events;
use tokio::sync::Barrier;

use super::test_database::TestDatabase;
use super::STATEMENT;

const TABLES: [&str; 7] = [
    "icbot_lease",
    "icbot_oncall_snapshot",
    "icbot_stalk",
    "icbot_page_audit",
    "icbot_page_dedup",
    "icbot_slack_event",
    "icbot_followed_incident",
];

#[tokio::test]
async fn migrations_run_twice_are_a_no_op() {
    let test = TestDatabase::create("migrate_twice").await;
    let db = test.database(STATEMENT);
    let first = migrations::migrate(&db, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first, embedded_migrations());
    assert_eq!(first, ["V1__coordination", "V2__followed_incidents"]);
    let second = migrations::migrate(&db, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(second.is_empty(), "applied again: {second:?}");

    let client = test.client().await;
    for table in TABLES {
        let row = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                &[&test.schema(), &table],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 1, "{table} in {}", test.schema());
    }
    let history: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}", migrations::HISTORY_TABLE),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let test = TestDatabase::create("migrate_racing").await;
    let barrier = Arc::new(Barrier::new(3));
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (db, barrier) = (test.database(STATEMENT), barrier.clone());
        runs.spawn(async move {
            barrier.wait().await;
            migrations::migrate(&db, Duration::from_secs(30)).await
        });
    }
    let applied: Vec<Vec<String>> = runs
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("every replica starts"))
        .collect();
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "{applied:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_pages_of_the_same_people_claim_one_window() {
    let test = TestDatabase::create("dedup_race").await;
    let first = test.migrated(STATEMENT).await;
    // Three replicas, each with its own pool; twelve pages typed at once.
    let replicas = [first, test.database(STATEMENT), test.database(STATEMENT)];
    let barrier = Arc::new(Barrier::new(12));
    let mut pages = Vec::new();
    for i in 0..12 {
        let db = replicas[i % 3].clone();
        let barrier = barrier.clone();
        pages.push(tokio::spawn(async move {
            let page_id = format!("page-{i}");
            let replica = format!("replica-{}", i % 3);
            barrier.wait().await;
            let claim = PageClaim {
                dedup_key: "PUSER1,PUSER2",
                page_id: &page_id,
                requested_by: "alice",
                channel: "C1",
                replica: &replica,
                window: Duration::from_secs(120),
            };
            (
                page_id.clone(),
                page_dedup::claim(&db, &claim).await.unwrap(),
            )
        }));
    }
    let mut winners = Vec::new();
    let mut repeated = HashSet::new();
    for page in pages {
        match page.await.unwrap() {
            (id, Claim::Claimed) => winners.push(id),
            (_, Claim::Repeat(prior)) => {
                repeated.insert(prior.page_id);
            }
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(repeated, HashSet::from([winners[0].clone()]));
    let rows: i64 = test
        .client()
        .await
        .query_one("SELECT count(*) FROM icbot_page_dedup", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_failed_page_releases_its_window_and_a_settled_one_names_its_incident() {
    let test = TestDatabase::create("dedup_release").await;
    let db = test.migrated(STATEMENT).await;
    let claim = |page_id: &'static str| PageClaim {
        dedup_key: "PUSER1",
        page_id,
        requested_by: "bob",
        channel: "C2",
        replica: "replica-a",
        window: Duration::from_secs(120),
    };
    assert_eq!(
        page_dedup::claim(&db, &claim("p1")).await.unwrap(),
        Claim::Claimed
    );
    assert!(page_dedup::release(&db, "PUSER1", "p1").await.unwrap());
    assert_eq!(
        page_dedup::claim(&db, &claim("p2")).await.unwrap(),
        Claim::Claimed
    );
    let incident = serde_json::json!({"id": "PINC1", "number": 42});
    assert!(page_dedup::settle(&db, "PUSER1", "p2", &incident)
        .await
        .unwrap());
    match page_dedup::claim(&db, &claim("p3")).await.unwrap() {
        Claim::Repeat(prior) => {
            assert_eq!(prior.page_id, "p2");
            assert_eq!(prior.incident, Some(incident));
        }
        other => panic!("p3 should repeat p2: {other:?}"),
    }
    // A lapsed window is taken over in place (the database's clock moved on; here, by hand).
    test.client()
        .await
        .batch_execute("UPDATE icbot_page_dedup SET expires_at = now() - interval '1 second'")
        .await
        .unwrap();
    assert_eq!(
        page_dedup::claim(&db, &claim("p4")).await.unwrap(),
        Claim::Claimed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_event_is_handled_by_one_replica() {
    let test = TestDatabase::create("slack_events").await;
    let a = test.migrated(STATEMENT).await;
    let b = test.database(STATEMENT);
    let keep = Duration::from_secs(600);
    let (first, second) = tokio::join!(
        slack_events::first_sighting(&a, "Ev01", "replica-a", keep),
        slack_events::first_sighting(&b, "Ev01", "replica-b", keep),
    );
    assert_ne!(
        first.unwrap(),
        second.unwrap(),
        "exactly one replica handles Ev01"
    );
    assert!(!slack_events::first_sighting(&a, "Ev01", "replica-a", keep)
        .await
        .unwrap());
    assert!(slack_events::first_sighting(&a, "Ev02", "replica-a", keep)
        .await
        .unwrap());
    assert_eq!(slack_events::purge_expired(&a).await.unwrap(), 0);
}

#[tokio::test]
async fn a_stalk_is_added_once_removed_once_and_its_post_recorded_only_by_the_live_leader() {
    use icbot::ha::stalks::{self, Added};
    use icbot::ha::{Epoch, Fence, FencedWrite, Role, LEADER_LEASE};

    let test = TestDatabase::create("stalk_rows").await;
    let db = test.migrated(STATEMENT).await;
    let target = serde_json::json!({"channel": "C1", "thread": null});
    let since = match stalks::add(&db, "C1", &target).await.unwrap() {
        Added::New(since) => since,
        other => panic!("a new stalk: {other:?}"),
    };
    assert_eq!(
        stalks::add(&db, "C1", &target).await.unwrap(),
        Added::Already(since)
    );

    let keeper = super::test_database::keeper(&db, "replica-a", super::LEASE, super::RENEW);
    let role = super::wait_role(
        &mut keeper.role(),
        super::LEASE * 2,
        "a leader",
        Role::is_leader,
    )
    .await;
    let epoch = super::leader_epoch(&role).unwrap();
    let posted = serde_json::json!({"state": {"Known": {"level": "Critical"}}});
    let fence = Fence::new(LEADER_LEASE, epoch);
    assert!(matches!(
        stalks::record_post(&db, &fence, "C1", &posted)
            .await
            .unwrap(),
        FencedWrite::Written { rows: 1 }
    ));
    let stale = Fence::new(LEADER_LEASE, Epoch(epoch.0 - 1));
    let older = serde_json::json!({"state": {"Known": {"level": "Normal"}}});
    assert_eq!(
        stalks::record_post(&db, &stale, "C1", &older)
            .await
            .unwrap(),
        FencedWrite::Refused
    );
    let rows = stalks::list(&db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].target, target);
    assert_eq!(rows[0].since, since);
    assert_eq!(rows[0].last_posted, Some(posted));

    assert_eq!(stalks::remove(&db, "C1").await.unwrap(), Some(since));
    assert_eq!(stalks::remove(&db, "C1").await.unwrap(), None);
    assert!(stalks::list(&db).await.unwrap().is_empty());
    keeper.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_adapters_of_two_replicas_handle_an_event_once() {
    use icbot::ha::slack_events::SharedSlackEvents;
    use icbot::slack::SeenEvents;

    let test = TestDatabase::create("slack_seen").await;
    let a = SharedSlackEvents::new(test.migrated(STATEMENT).await, "replica-a".into());
    let b = SharedSlackEvents::new(test.database(STATEMENT), "replica-b".into());
    let (first, second) = tokio::join!(a.first_sighting("Ev10"), b.first_sighting("Ev10"));
    assert_ne!(
        first.unwrap(),
        second.unwrap(),
        "exactly one replica handles Ev10"
    );
    assert!(!b.first_sighting("Ev10").await.unwrap(), "Slack's retry");
    assert!(a.first_sighting("Ev11").await.unwrap());
}
