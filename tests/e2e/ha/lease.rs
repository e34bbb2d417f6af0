//! Leader election by lease on a real PostgreSQL: one leader among keepers; a crashed leader replaced within
//! a lease and a retry; a leader cut off from the database stepping down before its lease expires.

use std::time::{Duration, SystemTime};

use icbot::ha::{LeaseKeeper, Role};
use tokio::time::Instant;

use super::tcp_proxy::TcpProxy;
use super::test_database::{keeper, TestDatabase};
use super::{leader_epoch, wait_role, LEASE, RENEW, STATEMENT};

/// Slack for a loaded 2-core machine on top of the protocol's own bound.
const SLACK: Duration = Duration::from_secs(1);

/// Starts `a`, waits until it leads, then starts `b` and waits until it follows `a`.
async fn leader_and_follower(
    a: impl FnOnce() -> LeaseKeeper,
    b: impl FnOnce() -> LeaseKeeper,
) -> (LeaseKeeper, LeaseKeeper, icbot::ha::Epoch) {
    let a = a();
    let role = wait_role(&mut a.role(), LEASE * 2, "a leader", Role::is_leader).await;
    let epoch = leader_epoch(&role).unwrap();
    let b = b();
    let holder = a.replica().0.clone();
    wait_role(
        &mut b.role(),
        LEASE * 2,
        "b following a",
        |r| matches!(r, Role::Follower { holder: h, epoch: e } if *h == holder && *e == epoch),
    )
    .await;
    (a, b, epoch)
}

async fn lease_row(test: &TestDatabase) -> (String, i64, SystemTime, SystemTime) {
    let row = test
        .client()
        .await
        .query_one(
            "SELECT holder, epoch, acquired_at, expires_at FROM icbot_lease WHERE name = 'leader'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keepers_on_one_database_elect_exactly_one_leader() {
    let test = TestDatabase::create("one_leader").await;
    let db_a = test.migrated(STATEMENT).await;
    let db_b = test.database(STATEMENT);
    // Started together, racing for a lease nobody holds yet.
    let a = keeper(&db_a, "replica-a", LEASE, RENEW);
    let b = keeper(&db_b, "replica-b", LEASE, RENEW);
    let (mut ra, mut rb) = (a.role(), b.role());
    let settled = tokio::time::timeout(LEASE * 2, async {
        loop {
            let pair = (
                ra.borrow_and_update().clone(),
                rb.borrow_and_update().clone(),
            );
            match &pair {
                (Role::Leader { epoch, .. }, Role::Follower { holder, epoch: e })
                    if holder == "replica-a" && e == epoch =>
                {
                    return ("replica-a", *epoch)
                }
                (Role::Follower { holder, epoch: e }, Role::Leader { epoch, .. })
                    if holder == "replica-b" && e == epoch =>
                {
                    return ("replica-b", *epoch)
                }
                _ => {}
            }
            tokio::select! {
                _ = ra.changed() => {}
                _ = rb.changed() => {}
            }
        }
    })
    .await;
    let (leader, epoch) = settled.unwrap_or_else(|_| {
        panic!(
            "no single leader: a is {:?}, b is {:?}",
            *ra.borrow(),
            *rb.borrow()
        )
    });
    let (holder, row_epoch, _, _) = lease_row(&test).await;
    assert_eq!((holder.as_str(), row_epoch), (leader, epoch.0));
    assert_eq!(epoch.0, 1, "the first tenure");

    // Through several renewals, never two leaders and never a change of leader.
    let watched = tokio::time::timeout(RENEW * 4, async {
        loop {
            tokio::select! {
                _ = ra.changed() => {}
                _ = rb.changed() => {}
            }
            let pair = (ra.borrow().clone(), rb.borrow().clone());
            if !(pair.0.is_leader() ^ pair.1.is_leader()) {
                return pair;
            }
        }
    })
    .await;
    if let Ok(pair) = watched {
        panic!("the single leader did not last: {pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_replaced_within_a_lease_and_a_retry() {
    let test = TestDatabase::create("crashed_leader").await;
    let db_a = test.migrated(STATEMENT).await;
    let db_b = test.database(STATEMENT);
    let (a, b, first_epoch) = leader_and_follower(
        || keeper(&db_a, "replica-a", LEASE, RENEW),
        || keeper(&db_b, "replica-b", LEASE, RENEW),
    )
    .await;
    let last_renewal = a.lease().borrow().clone().expect("a renewed");
    let role_a = a.role();
    let killed = Instant::now();
    drop(a); // as kill -9: the lease is not released, it has to lapse
    assert!(
        !role_a.borrow().is_leader(),
        "whoever still watches a dropped keeper must not believe it leads"
    );

    let role = wait_role(
        &mut b.role(),
        LEASE + RENEW + SLACK,
        "b leader",
        Role::is_leader,
    )
    .await;
    let took = killed.elapsed();
    let epoch = leader_epoch(&role).unwrap();
    assert!(epoch > first_epoch, "{epoch} after {first_epoch}");
    let (holder, _, acquired_at, _) = lease_row(&test).await;
    assert_eq!(holder, "replica-b");
    assert!(
        acquired_at >= last_renewal.expires_at,
        "b took over at {acquired_at:?}, before a's lease ran out at {:?}",
        last_renewal.expires_at
    );
    eprintln!("takeover after a crash: {took:?} (lease {LEASE:?}, renew every {RENEW:?})");
}

/// A leads through the proxy; `break_it` makes the proxy hang or cut; A must step down (by its own clock)
/// before its last renewed lease runs out (by the database's clock, on this same machine), and B takes over
/// only after that.
async fn leader_cut_off_steps_down_before_its_lease_expires(tag: &str, break_it: fn(&TcpProxy)) {
    let test = TestDatabase::create(tag).await;
    let db_b = test.migrated(STATEMENT).await;
    let proxy = TcpProxy::start(test.server_addr()).await;
    let db_a = test.database_through(proxy.port(), STATEMENT);
    let (a, b, first_epoch) = leader_and_follower(
        || keeper(&db_a, "replica-a", LEASE, RENEW),
        || keeper(&db_b, "replica-b", LEASE, RENEW),
    )
    .await;

    break_it(&proxy);
    let role = wait_role(&mut a.role(), LEASE, "a stepping down", |r| !r.is_leader()).await;
    let stepped_down = SystemTime::now();
    let last_renewal = a.lease().borrow().clone().expect("a renewed");
    assert!(last_renewal.mine);
    let margin = last_renewal
        .expires_at
        .duration_since(stepped_down)
        .unwrap_or_else(|late| {
            panic!(
                "a stepped down {:?} AFTER its lease expired ({role:?})",
                late.duration()
            )
        });
    eprintln!("{tag}: stepped down {margin:?} before the lease expired ({role:?})");

    let role = wait_role(
        &mut b.role(),
        LEASE + RENEW + SLACK,
        "b leader",
        Role::is_leader,
    )
    .await;
    assert!(leader_epoch(&role).unwrap() > first_epoch);
    let (_, _, acquired_at, _) = lease_row(&test).await;
    assert!(
        acquired_at >= last_renewal.expires_at && acquired_at > stepped_down,
        "b took over at {acquired_at:?}; a's lease ran to {:?}, a stepped down at {stepped_down:?}",
        last_renewal.expires_at
    );
    assert!(!a.role().borrow().is_leader());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_database_hangs_steps_down_before_its_lease_expires() {
    leader_cut_off_steps_down_before_its_lease_expires("hung_db", TcpProxy::freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_connection_is_cut_steps_down_before_its_lease_expires() {
    leader_cut_off_steps_down_before_its_lease_expires("cut_db", TcpProxy::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_without_waiting_for_it_to_lapse() {
    let test = TestDatabase::create("released").await;
    let db_a = test.migrated(STATEMENT).await;
    let db_b = test.database(STATEMENT);
    let (a, b, first_epoch) = leader_and_follower(
        || keeper(&db_a, "replica-a", LEASE, RENEW),
        || keeper(&db_b, "replica-b", LEASE, RENEW),
    )
    .await;
    let mut role_a = a.role();
    let released = Instant::now();
    a.release().await;
    assert!(!role_a.borrow_and_update().is_leader());
    // The next try of b, not the end of a's lease.
    let role = wait_role(&mut b.role(), RENEW + SLACK, "b leader", Role::is_leader).await;
    assert!(leader_epoch(&role).unwrap() > first_epoch);
    assert!(released.elapsed() < LEASE, "{:?}", released.elapsed());
}
