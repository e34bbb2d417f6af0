//! High availability against a real PostgreSQL (`ICBOT_TEST_DATABASE_URL`, see `test_database`): the schema
//! and its migrations, leader election by lease, fenced writes, cross-replica page dedup, the shared page
//! audit. Each test has a schema of its own; waits are on the keepers' role watches, bounded by a few leases.

mod fence;
mod followed_incidents;
mod lease;
mod page_audit;
mod replicas;
mod schema;
mod stalks;
mod tcp_proxy;
mod test_database;
mod tls;

use std::time::Duration;

use icbot::ha::Role;
use tokio::sync::watch;

/// Short timings, so that a takeover takes a couple of seconds.
const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(500);
const STATEMENT: Duration = Duration::from_secs(1);

/// Waits until `role` satisfies `wanted`, at most `within`; the failure says what the role was.
async fn wait_role(
    role: &mut watch::Receiver<Role>,
    within: Duration,
    what: &str,
    wanted: impl Fn(&Role) -> bool,
) -> Role {
    let outcome = tokio::time::timeout(within, role.wait_for(|r| wanted(r)))
        .await
        .map(|r| r.map(|r| r.clone()));
    match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => panic!("the keeper stopped while waiting for {what}"),
        Err(_) => panic!(
            "no {what} within {within:?}; the role is {:?}",
            *role.borrow()
        ),
    }
}

fn leader_epoch(role: &Role) -> Option<icbot::ha::Epoch> {
    match role {
        Role::Leader { epoch, .. } => Some(*epoch),
        _ => None,
    }
}
