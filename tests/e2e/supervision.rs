//! Supervision that tells the truth, through a real bot and its admin server: a gateway crashed twice under
//! 3,000 commands loses none; a crash loop trips the default restart budget (503 for a core actor, degraded
//! for a stalk); failed state writes and partial refreshes show in `/actors`, `/readyz`, `/metrics` and
//! `icbot health`; the crash drill wants the admin token when one is set.

use std::time::Duration;

use icbot::admin::Readiness;
use icbot::stub::Fault;
use icbot_actors::root::Child;

use crate::admin::{admin_bot, admin_bot_with, run_health, sample, AdminBot};

/// The longest a test waits for one event.
const PATIENCE: Duration = Duration::from_secs(20);

/// Crashes the root's `child` through `POST /actors/{name}/crash` each time it is back, `times` times, and
/// returns whether it was published failing after each crash.
async fn crash_loop(bot: &AdminBot, child: Child, short: &str, times: u64) -> Vec<bool> {
    let mut health = bot.bot().health();
    let mut failing = Vec::new();
    for n in 1..=times {
        let back = health.wait_for(|all| {
            all.iter()
                .any(|h| h.child == child && h.running && h.restarts == n - 1)
        });
        tokio::time::timeout(PATIENCE, back)
            .await
            .expect("back in time")
            .unwrap();
        let (code, body) = bot.post(&format!("/actors/{short}/crash")).await;
        assert_eq!(code, 202, "{body}");
        let down = health.wait_for(|all| all.iter().any(|h| h.child == child && h.restarts == n));
        let seen = tokio::time::timeout(PATIENCE, down)
            .await
            .expect("failure published in time")
            .unwrap()
            .clone();
        failing.push(seen.iter().any(|h| h.child == child && h.failing));
    }
    failing
}

async fn readiness(bot: &AdminBot) -> (u16, Readiness) {
    let (code, body) = bot.get("/readyz").await;
    (code, serde_json::from_str(&body).expect("readiness JSON"))
}

/// The drill: 3,000 `!ic` while the gateway is crashed twice through the admin server: all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_commands_across_two_gateway_crashes_are_all_answered() {
    let bot = admin_bot("drill", true, Fault::None).await;
    bot.snapshot_loaded().await;
    let mut health = bot.bot().health();
    for i in 0..3000u64 {
        bot.deliver("drill", "!ic");
        if i == 1000 || i == 2000 {
            let (code, body) = bot.post("/actors/gateway/crash").await;
            assert_eq!(code, 202, "{body}");
            let back = health.wait_for(|all| {
                all.iter()
                    .any(|h| h.child == Child::Gateway && h.running && h.restarts == i / 1000)
            });
            tokio::time::timeout(PATIENCE, back)
                .await
                .expect("gateway back in time")
                .unwrap();
        }
    }
    assert!(
        bot.bot().gateway().drain(Duration::from_secs(60)).await,
        "everything answered or given up within a minute"
    );
    let answers = bot.chat.posts_to("drill");
    assert_eq!(answers.len(), 3000, "answered {} of 3000", answers.len());
    assert!(answers.iter().all(|a| a.plain().contains("IC Primary")));
    bot.shutdown().await;
}

/// The default restart policy, a pager crashed each time it comes back: failing at the sixth crash (a few
/// seconds in), `/readyz` 503 naming it, `icbot health` exit 1; commands still answered.
#[tokio::test]
async fn a_pager_in_a_crash_loop_trips_the_default_budget_and_readyz_says_503() {
    let mut bot = admin_bot("budget", true, Fault::None).await;
    bot.snapshot_loaded().await;
    let failing = crash_loop(&bot, Child::Pager, "pager", 6).await;
    assert_eq!(failing, [false, false, false, false, false, true]);

    let pager = bot.names().pager();
    let (code, ready) = readiness(&bot).await;
    assert_eq!(code, 503, "{ready:?}");
    assert_eq!(ready.failing, vec![pager.clone()]);
    assert!(
        ready
            .not_ready
            .iter()
            .any(|w| w.starts_with(&format!("{pager} is failing"))),
        "{ready:?}"
    );
    let tree = bot.actors().await;
    let facts = tree.actors.iter().find(|a| a.name == pager).unwrap();
    assert!(
        facts.failing && facts.status.starts_with("failing"),
        "{facts:?}"
    );
    let out = run_health(bot.admin).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("failing"), "{stdout}");

    let out = bot.say("!ic").await;
    assert!(out.contains("IC Primary"), "{out}");
    bot.shutdown().await;
}

/// A stalk actor over its budget makes the bot degraded, not down: `/readyz` 200 with the reason.
#[tokio::test]
async fn a_stalk_in_a_crash_loop_is_degraded_not_down() {
    let bot = admin_bot("stalk-budget", true, Fault::None).await;
    bot.snapshot_loaded().await;
    bot.stalk("war-room").await;
    let mut restarts = bot.bot().stalk_restarts();
    for n in 1..=6u64 {
        if n > 1 {
            let back = restarts.wait_for(|all| {
                all.get("war-room")
                    .is_some_and(|r| r.running && r.restarts == n - 1)
            });
            tokio::time::timeout(PATIENCE, back)
                .await
                .expect("stalk back in time")
                .unwrap();
        }
        let (code, body) = bot.post("/actors/stalk:war-room/crash").await;
        assert_eq!(code, 202, "{body}");
        let down = restarts.wait_for(|all| all.get("war-room").is_some_and(|r| r.restarts == n));
        let failing = tokio::time::timeout(PATIENCE, down)
            .await
            .expect("failure published in time")
            .unwrap()["war-room"]
            .failing;
        assert_eq!(failing, n == 6, "after {n} crashes");
    }
    let stalk = bot.names().stalk("war-room");
    let (code, ready) = readiness(&bot).await;
    assert_eq!(code, 200, "{ready:?}");
    assert!(ready.ready && ready.failing.is_empty(), "{ready:?}");
    assert!(
        ready
            .degraded
            .iter()
            .any(|d| d.starts_with(&format!("{stalk} is failing"))),
        "{ready:?}"
    );
    let out = run_health(bot.admin).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("READY (degraded: {stalk} is failing")),
        "{stdout}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn the_crash_drill_wants_the_admin_token_when_one_is_set() {
    let token = "adm-7f3c2b9e";
    let bot = admin_bot_with("token", true, Fault::None, Some(token), |_| {}).await;
    for authorization in [
        None,
        Some("Bearer wrong".to_string()),
        Some(token.to_string()),
        Some(format!("Bearer {token}x")),
    ] {
        let (code, body) = bot
            .post_with("/actors/pager/crash", authorization.as_deref())
            .await;
        assert_eq!(code, 401, "{authorization:?}: {body}");
        assert!(!body.contains(token), "{body}");
    }
    let health = bot.bot().health();
    assert!(health.borrow().iter().all(|h| h.restarts == 0));
    let (code, body) = bot
        .post_with("/actors/pager/crash", Some(&format!("Bearer {token}")))
        .await;
    assert_eq!(code, 202, "{body}");
    // Reads stay open, and never show the token.
    let (code, body) = bot.get("/actors").await;
    assert_eq!(code, 200);
    assert!(!body.contains(token));
    bot.shutdown().await;
}

/// A state dir that cannot take writes (here: directories where the files go, which even root cannot write
/// over): pages are still answered, and the failures are counted and shown.
#[tokio::test]
async fn failed_state_writes_are_counted_shown_and_degrade_readiness() {
    let mut bot = admin_bot("state-writes", false, Fault::None).await;
    bot.snapshot_loaded().await;
    for file in ["pages.jsonl", "oncall.json"] {
        let path = bot.state.0.join(file);
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(path.join("in-the-way")).unwrap();
    }
    let (_, before) = bot.get("/metrics").await;
    let series = "icbot_state_write_failures_total{file=\"pages.jsonl\"}";
    let was = sample(&before, series).unwrap_or(0.0);

    let out = bot.say("!ic page db down").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");

    // A page appends two records: `started` before PagerDuty is asked, and its outcome. Both failed.
    let tree = bot.actors().await;
    assert_eq!(tree.state.write_failures, 2, "{:?}", tree.state);
    assert_eq!(tree.state.failing_files, files(&["pages.jsonl"]));
    let last = tree.state.last_write_failure.expect("the failure is shown");
    assert_eq!(last.file, "pages.jsonl");
    assert!(last.error.to_lowercase().contains("directory"), "{last:?}");
    let (code, ready) = readiness(&bot).await;
    assert_eq!(code, 200, "{ready:?}");
    assert!(
        ready
            .degraded
            .iter()
            .any(|d| d.starts_with("state file pages.jsonl: the latest write failed")),
        "{ready:?}"
    );
    let (_, after) = bot.get("/metrics").await;
    assert_eq!(sample(&after, series), Some(was + 2.0), "{after}");

    // The snapshot's save fails too, and says so.
    let cache =
        ractor::ActorRef::<icbot_actors::cache::schedule_cache::ScheduleCacheMessage>::where_is(
            bot.names().schedule_cache(),
        )
        .expect("cache running");
    let refreshed = ractor::call_t!(
        cache,
        icbot_actors::cache::schedule_cache::ScheduleCacheMessage::RefreshNow,
        20_000
    )
    .unwrap();
    assert_eq!(refreshed, Ok(()));
    let tree = bot.actors().await;
    assert_eq!(tree.state.write_failures, 3);
    assert_eq!(
        tree.state.failing_files,
        files(&["oncall.json", "pages.jsonl"])
    );
    let out = run_health(bot.admin).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("state writes: 3 failed; last"), "{stdout}");
    assert!(
        stdout.contains("behind on disk: oncall.json, pages.jsonl"),
        "{stdout}"
    );
    assert!(stdout.contains("READY (degraded: state file"), "{stdout}");

    // Writable again: the next write clears its file.
    std::fs::remove_dir_all(bot.state.0.join("pages.jsonl")).unwrap();
    let out = bot.say("!ic page --again db still down").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");
    let tree = bot.actors().await;
    assert_eq!(tree.state.failing_files, files(&["oncall.json"]));
    bot.shutdown().await;
}

/// One user's contact lookup fails (a fault on `/users/PUSR001` only): the refresh is partial, and says so.
#[tokio::test]
async fn a_refresh_with_a_failed_lookup_is_partial_everywhere() {
    let bot = admin_bot_with("partial", false, Fault::None, None, |stub| {
        stub.set_fault(Fault::Error, Some("/users/PUSR001".into()))
    })
    .await;
    bot.snapshot_loaded().await;
    let tree = bot.actors().await;
    let cache = tree
        .actors
        .iter()
        .find(|a| a.name == bot.names().schedule_cache())
        .unwrap();
    let last = &cache.facts["last_refresh"];
    assert_eq!(last["result"], "partial", "{last}");
    assert_eq!(last["failed_lookups"], 1, "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .starts_with("1 contact lookup(s) failed"),
        "{last}"
    );
    let (_, metrics) = bot.get("/metrics").await;
    assert!(
        sample(&metrics, "icbot_oncall_refreshes_total{result=\"partial\"}")
            .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "icbot_oncall_failed_lookups").is_some(),
        "{metrics}"
    );
    let out = run_health(bot.admin).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("failed_lookups=1") && stdout.contains("result=partial"),
        "{stdout}"
    );
    bot.shutdown().await;
}

/// `failing_files` as `/actors` lists them: each file once, in order.
fn files(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}
