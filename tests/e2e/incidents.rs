//! After the page, from the room: `!ic incidents`, `!ic ack`, `!ic resolve`, `!ic note` against the stub, with
//! the real PagerDuty client; and every stub fault against each of them, whether it hits the listing or the
//! write.

use std::time::Duration;

use icbot::stub::Fault;

use crate::helpers::{spawn_bot, TestBot};

/// Time allowed past the lookup deadline for scheduling and the recording chat.
const SLACK: Duration = Duration::from_millis(750);

fn lookup_limit(bot: &TestBot) -> Duration {
    Duration::from_secs_f64(bot.options.lookup_deadline_secs) + SLACK
}

#[tokio::test]
async fn ack_without_a_number_acknowledges_the_page_made_here() {
    let bot = spawn_bot("inc-ack").await;
    assert!(bot
        .say("!ic page db down")
        .await
        .starts_with("Paged the Incident Commanders: incident #1"));
    let out = bot.say("!ic ack").await;
    assert!(
        out.starts_with("Acknowledged #1 ") && out.contains("by the bot on behalf of dana"),
        "{out}"
    );
    let pages = bot.stub().pages();
    assert_eq!(pages.status_changes.len(), 1);
    assert_eq!(pages.status_changes[0]["status"], "acknowledged");
    assert_eq!(pages.status_changes[0]["from"], "icbot@example.com");
    let listing = bot.say("!ic incidents").await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines[0], "Open incidents (1):", "{listing}");
    assert!(
        lines[1].starts_with("#1 ") && lines[1].contains("ACKNOWLEDGED, acknowledged by icbot"),
        "{listing}"
    );
    let audit = std::fs::read_to_string(bot.state.0.join("incidents.jsonl")).expect("audited");
    let first: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(first["action"], "ack");
    assert_eq!(first["incident"], 1);
    assert_eq!(first["outcome"], "done");
    assert_eq!(first["who"], "dana");
    assert_eq!(first["channel"], "ops");
    bot.shutdown().await;
}

#[tokio::test]
async fn resolve_by_number_from_another_channel_with_a_note() {
    let bot = spawn_bot("inc-resolve").await;
    bot.say("!ic page db down").await;
    bot.say("!ic page @gustavo replica lag").await;
    let (out, _) = bot
        .say_in("war-room", "!ic resolve #1 rolled back the deploy")
        .await;
    assert!(out.starts_with("Resolved #1 "), "{out}");
    let pages = bot.stub().pages();
    assert_eq!(pages.status_changes[0]["incident_id"], "Q000001");
    assert_eq!(
        pages.status_changes[0]["resolution"],
        "rolled back the deploy"
    );
    let listing = bot.say("!ic incidents").await;
    assert!(listing.starts_with("Open incidents (1):\n#2 "), "{listing}");
    let (again, _) = bot.say_in("war-room", "!ic ack 1").await;
    assert!(
        again.starts_with(
            "Incident #1 is not open any more (already resolved); nothing was changed"
        ),
        "{again}"
    );
    assert_eq!(bot.stub().pages().status_changes.len(), 1, "nothing sent");
    bot.shutdown().await;
}

#[tokio::test]
async fn a_resolve_made_in_pagerduty_meanwhile_is_reported_not_repeated() {
    let bot = spawn_bot("inc-race").await;
    bot.say("!ic page db down").await;
    // Listed open by the bot, resolved in PagerDuty's app before the bot's write: the stub answers 400.
    assert!(bot.stub().set_incident_status(1, "resolved", "PUSR001"));
    let out = bot.say("!ic note 1 root cause: a bad index").await;
    assert!(
        out.starts_with("Added a note to #1"),
        "a note still goes to a resolved incident: {out}"
    );
    assert_eq!(
        bot.stub().pages().notes[0]["content"],
        "root cause: a bad index"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_read_only_user_is_refused_with_403() {
    let bot = spawn_bot("inc-403").await;
    bot.say("!ic page db down").await;
    bot.stub().forbid_writes_by("icbot@example.com");
    let (out, took) = bot.say_in("ops", "!ic ack").await;
    assert!(took <= lookup_limit(&bot), "{took:?}");
    assert!(
        out.starts_with("⚠ PagerDuty refused: the bot may not acknowledge #1 (403: "),
        "{out}"
    );
    assert!(bot.stub().pages().status_changes.is_empty());
    bot.shutdown().await;
}

#[tokio::test]
async fn without_a_page_here_the_reply_lists_the_open_ones() {
    let bot = spawn_bot("inc-which").await;
    bot.say("!ic page db down").await;
    let (out, _) = bot.say_in("elsewhere", "!ic ack").await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "No incident was paged from this channel lately. Which one? !ic ack <number>",
        "{out}"
    );
    assert!(
        lines[1].starts_with("#1 ") && lines[1].contains("TRIGGERED, assigned to Alice Moreau"),
        "{out}"
    );
    bot.shutdown().await;
}

/// Where the fault is: on every path (the listing fails first), or only on the incident writes.
#[derive(Clone, Copy, Debug)]
enum Hits {
    Everything,
    Writes,
}

const COMMANDS: &[&str] = &[
    "!ic incidents",
    "!ic ack 1",
    "!ic resolve 1 fixed",
    "!ic note 1 still down",
];

/// Pages once, sets the fault, runs each command in its own channel: each answers within the lookup deadline,
/// says what failed, and sends each write at most once.
async fn under_fault(tag: &str, fault: Option<Fault>, hits: Hits, names_failure: &[&str]) {
    let mut bot = spawn_bot(tag).await;
    assert!(bot.say("!ic page db down").await.starts_with("Paged"));
    match (fault, hits) {
        (Some(f), Hits::Everything) => bot.stub().set_fault(f, None),
        (Some(f), Hits::Writes) => bot.stub().set_fault(f, Some("/incidents/".into())),
        (None, _) => bot.stop_stub().await,
    }
    let writes_before = bot
        .stub
        .as_ref()
        .map(|s| s.request_count("/incidents/Q000001"));
    let mut problems = Vec::new();
    for (i, command) in COMMANDS.iter().enumerate() {
        if matches!(hits, Hits::Writes) && *command == "!ic incidents" {
            continue; // only reads: not faulted
        }
        if matches!((fault, hits), (Some(Fault::Malformed), Hits::Writes))
            && command.starts_with("!ic note")
        {
            // A 2xx to a note is its confirmation; the body is not needed.
            continue;
        }
        let (out, took) = bot.say_in(&format!("cell{i}"), command).await;
        if took > lookup_limit(&bot) {
            problems.push(format!("`{command}` took {took:?}"));
        }
        if !names_failure.iter().any(|w| out.contains(w)) {
            problems.push(format!("`{command}` does not say what failed: {out}"));
        }
        if !out.starts_with('⚠') {
            problems.push(format!("`{command}` is not marked as a failure: {out}"));
        }
    }
    if let (Some(before), Some(stub)) = (writes_before, bot.stub.as_ref()) {
        let writes = stub.request_count("/incidents/Q000001") - before;
        let expected = match (hits, fault) {
            (Hits::Everything, _) => 0,
            // A 429 says PagerDuty did nothing: the client's one rate-limit retry (`max_rate_limit_retries = 1`)
            // is safe, and it is the only second try.
            (Hits::Writes, Some(Fault::RateLimit)) => 3 * 2,
            (Hits::Writes, Some(Fault::Malformed)) => 2,
            // ack, resolve and note: once each, never again.
            (Hits::Writes, _) => 3,
        };
        if writes != expected {
            problems.push(format!(
                "{writes} writes reached the stub, expected {expected}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{fault:?} on {hits:?}:\n{}",
        problems.join("\n")
    );
    bot.shutdown().await;
}

macro_rules! chaos {
    ($($name:ident: $fault:expr, $hits:expr, names_failure: $words:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            under_fault(stringify!($name), $fault, $hits, $words).await;
        }
    )*};
}

chaos! {
    error_500_everywhere: Some(Fault::Error), Hits::Everything, names_failure: &["500"];
    error_500_on_writes: Some(Fault::Error), Hits::Writes, names_failure: &["500"];
    unavailable_503_everywhere: Some(Fault::Unavailable), Hits::Everything, names_failure: &["503"];
    unavailable_503_on_writes: Some(Fault::Unavailable), Hits::Writes, names_failure: &["503"];
    rate_limited_everywhere: Some(Fault::RateLimit), Hits::Everything, names_failure: &["429", "rate limited"];
    rate_limited_on_writes: Some(Fault::RateLimit), Hits::Writes, names_failure: &["429", "rate limited"];
    unauthorized_everywhere: Some(Fault::Unauthorized), Hits::Everything, names_failure: &["401"];
    unauthorized_on_writes: Some(Fault::Unauthorized), Hits::Writes, names_failure: &["401"];
    hang_everywhere: Some(Fault::Hang), Hits::Everything, names_failure: &["timeout"];
    hang_on_writes: Some(Fault::Hang), Hits::Writes, names_failure: &["timeout"];
    slow_everywhere: Some(Fault::Slow(Duration::from_millis(2_500))), Hits::Everything, names_failure: &["timeout"];
    slow_on_writes: Some(Fault::Slow(Duration::from_millis(2_500))), Hits::Writes, names_failure: &["timeout"];
    malformed_everywhere: Some(Fault::Malformed), Hits::Everything, names_failure: &["unreadable"];
    malformed_on_writes: Some(Fault::Malformed), Hits::Writes, names_failure: &["unreadable"];
    stub_stopped: None, Hits::Everything, names_failure: &["cannot reach"];
}

/// A bot whose chat can edit messages (as Slack), following incidents every `poll`.
async fn card_bot(tag: &str, poll: Duration) -> TestBot {
    let options = crate::helpers::Options {
        extra: format!("[incidents]\npoll_interval = \"{}ms\"\n", poll.as_millis()),
        ..Default::default()
    };
    let bot = crate::helpers::spawn_bot_with(tag, icbot::stub::StubData::demo(), options).await;
    bot.chat
        .tracking
        .store(true, std::sync::atomic::Ordering::SeqCst);
    bot
}

#[tokio::test]
async fn an_ack_in_pagerduty_itself_reaches_the_card_within_one_poll_interval() {
    let poll = Duration::from_secs(1);
    let bot = card_bot("inc-card-follow", poll).await;
    let page = bot.say("!ic page db down").await;
    assert!(
        page.starts_with("Paged the Incident Commanders: incident #1"),
        "{page}"
    );
    // As PagerDuty's own app would: Alice acknowledges in PagerDuty.
    let acked = tokio::time::Instant::now();
    assert!(bot.stub().set_incident_status(1, "acknowledged", "PUSR001"));
    let updates = bot.chat.wait_for_updates(1).await;
    let took = acked.elapsed();
    assert!(
        took <= poll + Duration::from_secs(1),
        "the card followed after {took:?}"
    );
    let (message, card) = &updates[0];
    assert!(
        card.plain().starts_with(
            "Status: ACKNOWLEDGED by Alice Moreau\nPaged the Incident Commanders: incident #1"
        ),
        "{}",
        card.plain()
    );
    assert_eq!(
        bot.chat.thread_of(message),
        vec!["#1 ACKNOWLEDGED by Alice Moreau".to_string()]
    );
    // Resolved from the room by number: the card follows, with its line, and is no longer followed.
    // (In another channel: the thread lines are posts in #ops too.)
    let (out, _) = bot.say_in("war-room", "!ic resolve 1 fixed").await;
    assert!(out.starts_with("Resolved #1"), "{out}");
    let updates = bot.chat.wait_for_updates(2).await;
    assert!(
        updates[1].1.plain().starts_with("Status: RESOLVED\n"),
        "{}",
        updates[1].1.plain()
    );
    assert_eq!(bot.chat.thread_of(message).len(), 2);
    bot.shutdown().await;
}
