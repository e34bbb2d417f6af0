//! `!ic`, `!ic page` and `!status` under each stub fault: a cached answer with its age, a page fallback with
//! phone numbers within the deadline, `UNABLE TO CHECK STATUS`; and recovery once the fault clears.

use std::time::Duration;

use icbot::stub::Fault;

use crate::helpers::{spawn_bot, TestBot};

/// Time allowed past a deadline for scheduling and the recording chat.
const SLACK: Duration = Duration::from_millis(750);

fn deadline(secs: f64) -> Duration {
    Duration::from_secs_f64(secs) + SLACK
}

/// Applies the fault (or stops the stub when `None`) after a good start, then checks every answer.
async fn under_fault(tag: &str, fault: Option<Fault>) {
    let mut bot = spawn_bot(tag).await;
    assert!(
        bot.say("!ic").await.contains("IC Primary: Alice Moreau"),
        "healthy start"
    );
    match fault {
        Some(f) => bot.stub().set_fault(f, None),
        None => bot.stop_stub().await,
    }
    let refreshed = bot.refresh_now().await;
    assert!(
        refreshed.is_err(),
        "{fault:?}: refresh should fail, got {refreshed:?}"
    );

    let (out, took) = bot.say_in("ops", "!ic").await;
    assert!(
        took <= deadline(bot.options.lookup_deadline_secs),
        "{fault:?}: !ic took {took:?}"
    );
    assert!(out.starts_with('⚠'), "{fault:?}: {out}");
    assert!(out.contains("on-call as of"), "{fault:?}: {out}");
    assert!(
        out.contains("IC Primary: Alice Moreau — +1 2025550101"),
        "{fault:?}: cached answer: {out}"
    );

    let (out, took) = bot.say_in("ops", "!ic page db down").await;
    assert!(
        took <= deadline(bot.options.page_deadline_secs),
        "{fault:?}: page took {took:?}"
    );
    assert!(out.contains("PAGE NOT CONFIRMED"), "{fault:?}: {out}");
    assert!(
        out.contains("Alice Moreau (IC Primary) — ✗ NOT confirmed, call now: +1 2025550101"),
        "{fault:?}: {out}"
    );
    assert!(
        out.contains("Bongani Dlamini (IC Backup) — ✗ NOT confirmed, call now: no phone on file"),
        "{out}"
    );
    assert!(
        out.contains("Dana Okafor (IC Shadow) — ✗ NOT confirmed, call now: +1 2025550104"),
        "{out}"
    );
    assert!(out.contains("by hand"), "{fault:?}: {out}");

    let (out, took) = bot.say_in("ops", "!status").await;
    assert!(
        took <= deadline(bot.options.check_timeout_secs + 1.0),
        "{fault:?}: status took {took:?}"
    );
    assert!(out.contains("UNABLE TO CHECK STATUS"), "{fault:?}: {out}");

    if fault.is_some() {
        recovers(&bot).await;
    }
    bot.shutdown().await;
}

/// Once the fault clears, the next refresh succeeds, the staleness note goes, and paging works.
async fn recovers(bot: &TestBot) {
    bot.stub().set_fault(Fault::None, None);
    assert_eq!(bot.refresh_now().await, Ok(()));
    let out = bot.say("!ic").await;
    assert!(!out.contains('⚠'), "fresh again: {out}");
    let out = bot.say("!ic page recovered?").await;
    assert!(
        out.starts_with("Paged the Incident Commanders: incident #"),
        "{out}"
    );
    assert!(bot.say("!status").await.starts_with("NORMAL"));
}

#[tokio::test]
async fn error_500() {
    under_fault("f-error", Some(Fault::Error)).await;
}

#[tokio::test]
async fn unavailable_503() {
    under_fault("f-unavailable", Some(Fault::Unavailable)).await;
}

#[tokio::test]
async fn rate_limited_429() {
    under_fault("f-ratelimit", Some(Fault::RateLimit)).await;
}

#[tokio::test]
async fn unauthorized_401() {
    under_fault("f-unauthorized", Some(Fault::Unauthorized)).await;
}

#[tokio::test]
async fn hang() {
    under_fault("f-hang", Some(Fault::Hang)).await;
}

#[tokio::test]
async fn slow_beyond_the_timeout() {
    under_fault("f-slow", Some(Fault::Slow(Duration::from_millis(2_500)))).await;
}

#[tokio::test]
async fn malformed_json() {
    under_fault("f-malformed", Some(Fault::Malformed)).await;
}

#[tokio::test]
async fn stub_stopped_connection_refused() {
    under_fault("f-refused", None).await;
}

#[tokio::test]
async fn page_fails_after_the_incident_is_created() {
    let bot = spawn_bot("f-partial").await;
    bot.stub()
        .set_fault(Fault::Error, Some("/incidents/".to_string()));
    let out = bot.say("!ic page").await;
    assert!(out.contains("PAGE NOT CONFIRMED"), "{out}");
    assert!(out.contains("Incident #1 was created"), "{out}");
    assert!(
        out.contains("Alice Moreau (IC Primary) — ✓ paged (incident assigned)"),
        "{out}"
    );
    assert!(
        out.contains("Chen Wei (IC Shadow) — ✗ NOT confirmed, call now: +44 7700900123"),
        "{out}"
    );
    bot.shutdown().await;
}
