//! `cargo bench --bench refresh`: one cache refresh of 200 schedules and 2,000 users against the stub: wall
//! time and requests (contacts from pages of the user list, at most 100 requests in all). Then a second
//! refresh, with every contact still fresh.

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use icbot_actors::cache::schedule_cache::{ScheduleCacheMessage, SNAPSHOT_FILE};
use ractor::ActorRef;

const SCHEDULES: usize = 200;
const USERS: usize = 2_000;
/// People on call per schedule: 3,000 on-call entries over 2,000 users, so a third appear twice.
const PER_SCHEDULE: usize = 15;
const LIMIT: Duration = Duration::from_secs(120);
/// Smoke mode (`ICBOT_BENCH_SMOKE=1`): 20 schedules over 200 users.
const SMOKE_SCHEDULES: usize = 20;
const SMOKE_USERS: usize = 200;
/// The request budget for a cold refresh of the full data set.
const MAX_REQUESTS: usize = 100;

#[tokio::main]
async fn main() {
    print_machine();
    let schedules = scaled(SCHEDULES, SMOKE_SCHEDULES);
    let users = scaled(USERS, SMOKE_USERS);
    let stub = start_stub(stub_data(schedules, users, PER_SCHEDULE)).await;
    let dir = temp_dir("refresh");
    let text = config_text(&stub.url(), &dir, 10, schedules - 10, "", "");
    let snapshot = dir.join(SNAPSHOT_FILE);

    let started = Instant::now();
    let (bot, _chat, _rx) = start_bot(&text, "bench-refresh/").await;
    let first = wait_for_write(&snapshot, None, started).await;
    let oncalls_1 = stub.request_count("/oncalls");
    let users_1 = stub.request_count("/users/");
    let lists_1 = stub.request_count("/users") - users_1;
    let all_1 = stub.request_count("/");
    let people = people_in(&snapshot);

    let cache: ActorRef<ScheduleCacheMessage> =
        ActorRef::where_is(bot.names().schedule_cache()).expect("cache registered");
    let written = modified(&snapshot);
    let started = Instant::now();
    cache
        .cast(ScheduleCacheMessage::Refresh)
        .expect("refresh sent");
    let second = wait_for_write(&snapshot, written, started).await;
    let oncalls_2 = stub.request_count("/oncalls") - oncalls_1;
    let users_2 = stub.request_count("/users") - users_1 - lists_1;

    print_table(
        &format!(
            "refresh: {schedules} schedules, {users} users, {} on-call entries",
            schedules * PER_SCHEDULE
        ),
        &[
            Row::new(
                "first refresh: start to snapshot written",
                first.map_or("did not finish".into(), fmt_duration),
                "-",
                first.map(|_| true),
            ),
            Row::new(
                "first refresh: requests",
                format!(
                    "{all_1}: {oncalls_1} GET /oncalls pages, {lists_1} GET /users pages, {users_1} GET /users/{{id}}"
                ),
                "<= 100",
                Some(all_1 <= MAX_REQUESTS),
            ),
            Row::new(
                "people in the snapshot",
                format!("{people}"),
                "every user",
                Some(people == users),
            ),
            Row::new(
                "second refresh (contacts fresh): wall time",
                second.map_or("did not finish".into(), fmt_duration),
                "-",
                None,
            ),
            Row::new(
                "second refresh: requests",
                format!("{oncalls_2} GET /oncalls pages, {users_2} GET /users (pages or by id)"),
                "no contact lookups",
                Some(users_2 == 0),
            ),
        ],
    );

    assert!(
        first.is_some() && second.is_some(),
        "a refresh did not finish within {LIMIT:?}"
    );
    assert_eq!(people, users, "everyone on call is in the snapshot");
    bot.shutdown().await;
    stub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Waits until `path` is written after `before`; the time since `started`, or `None` past the limit.
async fn wait_for_write(
    path: &Path,
    before: Option<SystemTime>,
    started: Instant,
) -> Option<Duration> {
    while started.elapsed() < LIMIT {
        if let Some(m) = modified(path) {
            if before.is_none_or(|b| m > b) {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

fn people_in(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    v.get("people")
        .and_then(|p| p.as_object())
        .map_or(0, |p| p.len())
}
