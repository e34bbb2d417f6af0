//! `!ic cover <schedule> [duration]` and `... cancel` against the stub with the real PagerDuty client: the
//! caller on call in `!ic` right after, and off again after cancel; refusals; every stub fault on the write.

use std::time::Duration;

use icbot::stub::Fault;

use crate::helpers::{spawn_bot, TestBot};

/// Time allowed past the lookup deadline for scheduling and the recording chat.
const SLACK: Duration = Duration::from_millis(750);

/// The chat user every test speaks as, and the demo's PagerDuty user with that email.
fn as_dana(bot: &TestBot, email: &str) {
    bot.chat
        .emails
        .lock()
        .unwrap()
        .insert("dana".into(), email.into());
}

fn line_of<'a>(listing: &'a str, schedule: &str) -> &'a str {
    listing
        .lines()
        .find(|l| l.starts_with(schedule))
        .unwrap_or_else(|| panic!("no {schedule} line in {listing}"))
}

#[tokio::test]
async fn cover_puts_the_caller_on_call_at_once_and_cancel_takes_them_off() {
    let bot = spawn_bot("cover-ok").await;
    as_dana(&bot, "Dana.Okafor@example.com");
    let before = bot.say("!ic").await;
    assert!(
        !line_of(&before, "IC Primary").contains("Dana Okafor"),
        "{before}"
    );

    let out = bot.say("!ic cover ic primary 2h").await;
    assert!(
        out.starts_with("Dana Okafor covers IC Primary from ") && out.contains(" until "),
        "{out}"
    );
    assert!(out.contains("(in 2 h)") || out.contains("(in 1 h"), "{out}");
    let during = bot.say("!ic").await;
    let primary = line_of(&during, "IC Primary");
    assert!(
        primary.contains("Dana Okafor") && !primary.contains("Alice Moreau"),
        "{during}"
    );

    let cancelled = bot.say("!ic cover IC PRIMARY cancel").await;
    assert!(
        cancelled.starts_with("Cancelled Dana Okafor's cover of IC Primary"),
        "{cancelled}"
    );
    let after = bot.say("!ic").await;
    let primary = line_of(&after, "IC Primary");
    assert!(
        primary.contains("Alice Moreau") && !primary.contains("Dana Okafor"),
        "{after}"
    );
    assert_eq!(bot.stub().request_count("/schedules/PIC0001/overrides"), 2);

    let again = bot.say("!ic cover IC Primary cancel").await;
    assert!(
        again.starts_with("You have no cover on IC Primary"),
        "{again}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_cover_made_before_a_restart_is_found_in_pagerduty_and_cancelled() {
    let mut bot = spawn_bot("cover-restart").await;
    as_dana(&bot, "dana.okafor@example.com");
    let out = bot.say("!ic cover Edge 3h").await;
    assert!(out.starts_with("Dana Okafor covers Edge from "), "{out}");
    bot.restart().await;
    as_dana(&bot, "dana.okafor@example.com");
    let (cancelled, _) = bot.say_in("after", "!ic cover edge cancel").await;
    assert!(
        cancelled.starts_with("Cancelled Dana Okafor's cover of Edge"),
        "{cancelled}"
    );
    let (listing, _) = bot.say_in("after", "!ic responders").await;
    assert!(
        !line_of(&listing, "Edge").contains("Dana Okafor"),
        "{listing}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn an_unknown_label_lists_the_known_ones() {
    let bot = spawn_bot("cover-label").await;
    as_dana(&bot, "dana.okafor@example.com");
    let out = bot.say("!ic cover Nope 1h").await;
    assert_eq!(
        out,
        "No schedule is labelled \"Nope\". Known: IC Primary, IC Backup, IC Shadow, Payments, Database, Edge, Search."
    );
    assert_eq!(bot.stub().request_count("/schedules"), 0);
    bot.shutdown().await;
}

#[tokio::test]
async fn longer_than_max_cover_is_refused() {
    let bot = spawn_bot("cover-long").await;
    as_dana(&bot, "dana.okafor@example.com");
    let out = bot.say("!ic cover Edge 13h").await;
    assert_eq!(
        out,
        "A cover may last at most 12h ([access] max_cover); nobody was put on call."
    );
    assert_eq!(bot.stub().request_count("/schedules"), 0);
    bot.shutdown().await;
}

#[tokio::test]
async fn somebody_pagerduty_does_not_know_is_refused() {
    let bot = spawn_bot("cover-who").await;
    let out = bot.say("!ic cover Edge").await;
    assert!(
        out.starts_with("Your chat profile shows no email to match to a PagerDuty user, so nobody was put on call"),
        "{out}"
    );
    as_dana(&bot, "stranger@example.com");
    let (out, _) = bot.say_in("war-room", "!ic cover Edge").await;
    assert!(
        out.starts_with(
            "Your chat email stranger@example.com is not a PagerDuty user, so nobody was put on call"
        ),
        "{out}"
    );
    assert_eq!(bot.stub().request_count("/schedules"), 0);
    bot.shutdown().await;
}

/// Each fault on the override write: an answer within the lookup deadline saying what failed, and the create
/// sent once (twice for a 429, which says PagerDuty did nothing: the client's one rate-limit retry).
#[tokio::test]
async fn stub_faults_on_the_write_answer_clearly_and_never_resend() {
    let cases: [(Fault, &[&str], usize); 6] = [
        (Fault::Error, &["500", "Nobody was put on call"], 1),
        (Fault::Unavailable, &["503", "Nobody was put on call"], 1),
        (Fault::Unauthorized, &["401", "Nobody was put on call"], 1),
        (Fault::RateLimit, &["429", "rate limited"], 2),
        (Fault::Hang, &["timeout", "not confirmed"], 1),
        (Fault::Malformed, &["unreadable", "not confirmed"], 1),
    ];
    let mut problems = Vec::new();
    for (i, (fault, words, sends)) in cases.into_iter().enumerate() {
        let bot = spawn_bot(&format!("cover-fault{i}")).await;
        as_dana(&bot, "dana.okafor@example.com");
        bot.stub().set_fault(fault, Some("/schedules/".into()));
        let (out, took) = bot.say_in("ops", "!ic cover Database 30m").await;
        let limit = Duration::from_secs_f64(bot.options.lookup_deadline_secs) + SLACK;
        if took > limit {
            problems.push(format!("{fault:?}: took {took:?}"));
        }
        if !out.starts_with('⚠') || !words.iter().all(|w| out.contains(w)) {
            problems.push(format!("{fault:?}: {out}"));
        }
        let sent = bot.stub().request_count("/schedules/PTEAM02/overrides");
        if sent != sends {
            problems.push(format!("{fault:?}: sent {sent} times, expected {sends}"));
        }
        bot.shutdown().await;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
