//! Incidents followed after their page, with two real `icbot` processes on one schema: the card one replica
//! posted and shared (`icbot_followed_incident`) is kept true by the leader alone, so a change of the
//! incident gives one thread line, not one per replica; after `kill -9` of the leader, the new one carries
//! on from the state the last one recorded. Console chat cannot post cards, so the card is shared here as
//! the replica that posted it would have (`followed_incidents::follow`); thread lines print to the
//! console.

use std::time::{Duration, Instant};

use icbot::ha::followed_incidents::{self, FollowedRow};
use icbot_actors::chat::MessageRef;
use icbot_actors::incidents::followed::Followed;
use icbot_actors::ports::IncidentStatus;
use icbot_actors::reply::{IncidentCard, Reply};

use super::replicas::{role_of, stub, wait_for_roles, ReplicaProcess, START_PATIENCE};
use super::test_database::TestDatabase;
use crate::helpers::Options;

/// The followed row's status, `None` once it is no longer followed.
async fn followed_status(db: &TestDatabase, incident_id: &str) -> Option<String> {
    db.client()
        .await
        .query_opt(
            "SELECT status FROM icbot_followed_incident WHERE incident_id = $1",
            &[&incident_id],
        )
        .await
        .expect("the followed table reads")
        .map(|row| row.get(0))
}

async fn wait_for_status(
    db: &TestDatabase,
    incident_id: &str,
    wanted: Option<&str>,
    logs: &[&ReplicaProcess],
) {
    let start = Instant::now();
    loop {
        let now = followed_status(db, incident_id).await;
        if now.as_deref() == wanted {
            return;
        }
        if start.elapsed() > START_PATIENCE {
            let logs: Vec<String> = logs
                .iter()
                .map(|r| format!("--- {}:\n{}\n{}", r.name, r.stdout(), r.stderr()))
                .collect();
            panic!(
                "followed status {now:?}, not {wanted:?}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Thread lines about `what` (`ACKNOWLEDGED`, `RESOLVED`) printed by each replica.
fn lines_about(process: &ReplicaProcess, what: &str) -> usize {
    process
        .stdout()
        .lines()
        .filter(|l| l.contains(&format!("#1 {what}")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_post_one_thread_line_per_change_and_a_new_leader_carries_on() {
    let db = TestDatabase::create("followed_incidents").await;
    let stub = stub().await;
    let options = Options {
        extra: "[incidents]\npoll_interval = \"1s\"\n".into(),
        ..Options::default()
    };
    let mut a = ReplicaProcess::start("a", &db, &stub, &options);
    let mut b = ReplicaProcess::start("b", &db, &stub, &options);
    let facts = wait_for_roles(&[&a, &b], START_PATIENCE, "a leader and a follower", |f| {
        let roles: Vec<_> = f.iter().map(role_of).collect();
        roles.contains(&Some("leader")) && roles.contains(&Some("follower"))
    })
    .await;
    let a_leads = facts[0].role == "leader";

    // A page, and its card as the replica that posted it shares it.
    a.send("!ic page checkout is down");
    let start = Instant::now();
    while stub.pages().incidents.is_empty() {
        assert!(start.elapsed() < START_PATIENCE, "no page:\n{}", a.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let incident = stub.pages().incidents[0].clone();
    let incident_id = incident["id"].as_str().expect("an incident id").to_string();
    let mut reply = Reply::text("Paged the Incident Commanders: incident #1");
    reply.card = Some(Box::new(IncidentCard {
        incident_id: incident_id.clone(),
        number: 1,
        title: "checkout is down".into(),
        html_url: "https://example.pagerduty.com/incidents/1".into(),
        status: IncidentStatus::Triggered,
        acknowledged_by: vec![],
        rows: vec![],
    }));
    let followed = Followed {
        message: MessageRef {
            channel: "ops".into(),
            ts: "1700000000.000100".into(),
        },
        reply,
    };
    let json = serde_json::to_value(&followed).unwrap();
    let row = FollowedRow {
        incident_id: &incident_id,
        channel: "ops",
        card_ts: "1700000000.000100",
        followed: &json,
        status: "triggered",
    };
    let pool = db.migrated(Duration::from_secs(2)).await;
    followed_incidents::follow(&pool, "the-replica-that-posted", &row)
        .await
        .expect("the card is shared");

    // Acknowledged in PagerDuty's own app: one thread line, by the leader, which records it.
    assert!(stub.set_incident_status(1, "acknowledged", "PUSR001"));
    wait_for_status(&db, &incident_id, Some("acknowledged"), &[&a, &b]).await;
    let (leader, other) = if a_leads {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert_eq!(
        lines_about(leader, "ACKNOWLEDGED"),
        1,
        "{}",
        leader.stdout()
    );
    assert_eq!(lines_about(other, "ACKNOWLEDGED"), 0, "{}", other.stdout());

    // The leader dies; the other takes over and carries on from the recorded state: the resolve gives one
    // line, and the acknowledge is not posted again.
    leader.kill();
    wait_for_roles(&[&*other], START_PATIENCE, "a new leader", |f| {
        role_of(&f[0]) == Some("leader")
    })
    .await;
    assert!(stub.set_incident_status(1, "resolved", "PUSR001"));
    wait_for_status(&db, &incident_id, None, &[&*other]).await;
    assert_eq!(lines_about(other, "RESOLVED"), 1, "{}", other.stdout());
    assert_eq!(lines_about(other, "ACKNOWLEDGED"), 0, "{}", other.stdout());
    assert_eq!(lines_about(leader, "RESOLVED"), 0, "{}", leader.stdout());
}
