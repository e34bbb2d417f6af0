//! `!status`, `!status stalk` and `!status unstalk` against the stub's Alertmanager API.

use icbot::stub::{Fault, StubAlert, StubData};

use crate::helpers::{spawn_bot, spawn_bot_with, Options};

#[tokio::test]
async fn status_maps_alerts_to_levels() {
    let bot = spawn_bot("status").await;
    let out = bot.say("!status").await;
    assert!(
        out.starts_with("NORMAL"),
        "the Watchdog alone is normal: {out}"
    );
    bot.stub()
        .set_alerts(vec![StubAlert::new("DiskFull", "warning")]);
    // A check within a few seconds of the last one is reused: ask in another bot to see the change at once.
    let bot2 = spawn_bot_with("status2", StubData::demo(), Options::default()).await;
    bot2.stub().set_alerts(vec![
        StubAlert::new("ApiDown", "critical"),
        StubAlert::new("DiskFull", "warning"),
    ]);
    let out = bot2.say("!status").await;
    assert!(out.starts_with("CRITICAL"), "{out}");
    assert!(out.contains("ApiDown"), "{out}");
    bot.shutdown().await;
    bot2.shutdown().await;
}

#[tokio::test]
async fn status_says_loudly_when_it_cannot_check() {
    let bot = spawn_bot("status-down").await;
    bot.stub()
        .set_fault(Fault::Hang, Some("/api/v2/alerts".into()));
    let (out, took) = bot.say_in("ops", "!status").await;
    assert!(out.contains("UNABLE TO CHECK STATUS"), "{out}");
    assert!(out.contains("timeout"), "{out}");
    assert!(
        took.as_secs_f64() < bot.options.check_timeout_secs + 1.75,
        "{took:?}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn stalk_posts_the_state_then_only_changes_until_unstalked() {
    let options = Options {
        poll_interval_secs: 0.2,
        ..Options::default()
    };
    let bot = spawn_bot_with("stalk", StubData::demo(), options).await;
    let reply = bot.say_in("incident", "!status stalk").await.0;
    assert!(reply.contains("Now stalking"), "{reply}");
    let first = bot.next_post("incident").await;
    assert!(
        first.contains("NORMAL"),
        "the current state at once: {first}"
    );

    // Several polls pass with no change (counted at the stub), and nothing is posted.
    let polls = bot.stub().request_count("/api/v2/alerts");
    while bot.stub().request_count("/api/v2/alerts") < polls + 3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        bot.chat.posts_to("incident").len(),
        2,
        "silent while unchanged"
    );

    bot.stub()
        .set_alerts(vec![StubAlert::new("ApiDown", "critical")]);
    let change = bot.next_post("incident").await;
    assert!(change.contains("from NORMAL to CRITICAL"), "{change}");

    let again = bot.say_in("incident", "!status stalk").await.0;
    assert!(again.contains("Already stalking"), "{again}");
    let stopped = bot.say_in("incident", "!status unstalk").await.0;
    assert!(stopped.contains("Stopped stalking"), "{stopped}");
    let none = bot.say_in("incident", "!status unstalk").await.0;
    assert!(none.contains("Not stalking"), "{none}");
    bot.shutdown().await;
}

#[tokio::test]
async fn stalks_survive_a_restart() {
    let options = Options {
        poll_interval_secs: 0.2,
        ..Options::default()
    };
    let mut bot = spawn_bot_with("stalk-restart", StubData::demo(), options).await;
    bot.say_in("war-room", "!status stalk").await;
    bot.next_post("war-room").await;
    bot.restart().await;
    // Saved within `SAVE_DELAY` of the change, or at the stop at the latest.
    let saved = std::fs::read_to_string(bot.state.0.join("stalks.json")).expect("stalks saved");
    assert!(saved.contains("war-room"), "{saved}");
    bot.stub()
        .set_alerts(vec![StubAlert::new("CertExpiry", "warning")]);
    // The restarted bot stalks the same channel: it posts the state (now DEGRADED) without being asked.
    let post = bot.next_post("war-room").await;
    assert!(
        post.contains("DEGRADED") || post.contains("NORMAL"),
        "{post}"
    );
    bot.shutdown().await;
}
