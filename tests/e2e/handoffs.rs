//! Handoff announcements end to end: the stub's on-call changes (`POST /_oncall`), the cache refreshes through
//! the real client, and `[[announce]]` posts to the console channel once per change; failed refreshes and
//! restarts announce nothing.

use icbot::stub::{Fault, StubData, StubOnCall};

use crate::helpers::{spawn_bot_with, Options, TestBot};

fn on_call(user: &str, end: Option<&str>) -> StubOnCall {
    StubOnCall {
        user_id: user.into(),
        escalation_level: 1,
        start: None,
        end: end.map(str::to_string),
    }
}

async fn announcing_bot(tag: &str) -> TestBot {
    let options = Options {
        extra: "[[announce]]\nchannel = \"console\"\n\n[[announce]]\nchannel = \"payments-room\"\nschedules = [\"Payments\"]\n".into(),
        ..Options::default()
    };
    let bot = spawn_bot_with(tag, StubData::demo(), options).await;
    bot.refresh_now().await.expect("first refresh");
    bot
}

#[tokio::test]
async fn a_handoff_is_announced_once_in_the_channels_that_follow_its_schedule() {
    let bot = announcing_bot("handoff").await;
    bot.refresh_now().await.expect("refresh");
    assert!(
        bot.chat.posts_to("console").is_empty(),
        "nothing changed, nothing said"
    );

    bot.stub()
        .set_on_call("PIC0001", vec![on_call("PUSR002", Some("+3h"))])
        .unwrap();
    bot.refresh_now().await.expect("refresh");
    let post = bot.next_post("console").await;
    assert!(
        post.starts_with("IC Primary: Alice Moreau → Bongani Dlamini, until ")
            && (post.contains(" UTC (in 2 h 59 min)") || post.contains(" UTC (in 3 h)")),
        "{post}"
    );
    assert!(
        post.ends_with("\nBongani Dlamini: no phone in PagerDuty"),
        "{post}"
    );

    bot.stub()
        .set_on_call("PTEAM01", vec![on_call("PUSR001", None)])
        .unwrap();
    bot.refresh_now().await.expect("refresh");
    let post = bot.next_post("payments-room").await;
    assert!(
        post.starts_with(
            "Payments: Erik Lindqvist, Fatima Haddad → Alice Moreau\nAlice Moreau: +1 "
        ),
        "{post}"
    );
    bot.refresh_now().await.expect("refresh");
    assert_eq!(
        bot.chat.posts_to("console").len(),
        1,
        "Payments is not an IC schedule"
    );
    assert_eq!(
        bot.chat.posts_to("payments-room").len(),
        1,
        "once per change"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_failed_refresh_is_no_change_and_an_empty_rotation_is_announced() {
    let bot = announcing_bot("handoff-fail").await;
    bot.stub().set_fault(Fault::Error, Some("/oncalls".into()));
    bot.stub().set_on_call("PIC0003", vec![]).unwrap();
    assert!(bot.refresh_now().await.is_err());
    bot.stub().set_fault(Fault::None, None);
    bot.refresh_now().await.expect("refresh");
    assert_eq!(
        bot.next_post("console").await,
        "Nobody on call for IC Shadow (was Chen Wei, Dana Okafor)"
    );
    bot.refresh_now().await.expect("refresh");
    assert_eq!(bot.chat.posts_to("console").len(), 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn a_restart_announces_only_what_changed_while_the_bot_was_down() {
    let mut bot = announcing_bot("handoff-restart").await;
    bot.restart().await;
    bot.refresh_now().await.expect("refresh");
    assert!(
        bot.chat.posts_to("console").is_empty(),
        "same people as the saved snapshot"
    );

    // Stopped, the rotation moves, started again: the first refresh announces it, once.
    if let Some(running) = bot.bot.take() {
        running.shutdown().await;
    }
    bot.stub()
        .set_on_call("PIC0002", vec![on_call("PUSR003", None)])
        .unwrap();
    bot.restart().await;
    let post = bot.next_post("console").await;
    assert!(
        post.starts_with("IC Backup: Bongani Dlamini → Chen Wei"),
        "{post}"
    );
    bot.refresh_now().await.expect("refresh");
    assert_eq!(bot.chat.posts_to("console").len(), 1);
    bot.shutdown().await;
}

#[tokio::test]
async fn shift_ends_are_shown_in_the_display_time_zone() {
    let options = Options {
        extra: "[display]\ntime_zone = \"Asia/Tokyo\"\n".into(),
        ..Options::default()
    };
    let bot = spawn_bot_with("local-time", StubData::demo(), options).await;
    let reply = bot.say("!ic").await;
    // The demo's IC Primary shift ends five days after the stub started: a weekday, the reader's clock.
    let primary = reply
        .lines()
        .find(|l| l.starts_with("IC Primary: Alice Moreau"))
        .expect("IC Primary line");
    assert!(
        primary.contains(" · until ") && primary.ends_with(" JST (in 4 d 23 h)"),
        "{reply}"
    );
    let (_, weekday) = primary.split_once(" · until ").unwrap();
    assert!(
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            .iter()
            .any(|d| weekday.starts_with(d)),
        "{primary}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn announcements_a_crash_left_undecided_are_not_posted_again() {
    let mut bot = announcing_bot("handoff-crash").await;
    if let Some(running) = bot.bot.take() {
        running.shutdown().await;
    }
    // As a bot killed after saving the snapshot and before posting leaves it.
    let pending = bot.state.0.join("handoffs.pending.json");
    std::fs::write(
        &pending,
        r#"{"1": [{"channel": "console", "text": "IC Primary: Alice Moreau → Bongani Dlamini"}]}"#,
    )
    .unwrap();
    bot.restart().await;
    bot.refresh_now().await.expect("refresh");
    assert!(
        bot.chat.posts_to("console").is_empty(),
        "an announcement that may have been posted is logged, not posted again"
    );
    let left = std::fs::read_to_string(&pending).unwrap();
    assert_eq!(left, "{}", "reported once, then forgotten");
    bot.shutdown().await;
}
