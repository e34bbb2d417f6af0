//! Crashes and restarts: a failed actor is restarted and the next command answered; a bot restarted while
//! PagerDuty is down answers `!ic` from its state file.

use icbot::stub::Fault;
use icbot_actors::cache::schedule_cache::ScheduleCacheMessage;
use icbot_actors::pager::actor::PagerMessage;

use crate::helpers::spawn_bot;

#[tokio::test]
async fn crashed_pager_and_cache_are_restarted_and_the_next_command_answered() {
    let bot = spawn_bot("crash").await;
    bot.say("!ic").await;
    let mut health = bot.bot.as_ref().unwrap().health();

    ractor::registry::where_is(bot.names().pager())
        .unwrap()
        .send_message(PagerMessage::Crash)
        .unwrap();
    let out = bot.say("!ic page after crash").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");

    ractor::registry::where_is(bot.names().schedule_cache())
        .unwrap()
        .send_message(ScheduleCacheMessage::Crash)
        .unwrap();
    let out = bot.say("!ic").await;
    assert!(out.contains("IC Primary: Alice Moreau"), "{out}");

    let restarted =
        health.wait_for(|all| all.iter().filter(|h| h.restarts == 1 && h.running).count() == 2);
    tokio::time::timeout(std::time::Duration::from_secs(10), restarted)
        .await
        .unwrap()
        .unwrap();
    bot.shutdown().await;
}

#[tokio::test]
async fn restart_with_pagerduty_down_answers_from_the_state_file() {
    let mut bot = spawn_bot("state-file").await;
    assert!(bot.say("!ic").await.contains("Alice Moreau"));
    assert!(bot.state.0.join("oncall.json").exists(), "snapshot saved");
    bot.stub().set_fault(Fault::Unavailable, None);
    bot.restart().await;
    let out = bot.say("!ic").await;
    assert!(
        out.contains("IC Primary: Alice Moreau — +1 2025550101"),
        "{out}"
    );
    assert!(
        out.starts_with('⚠') && out.contains("on-call as of"),
        "says its age: {out}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn corrupt_state_file_is_ignored() {
    let mut bot = spawn_bot("corrupt").await;
    bot.say("!ic").await;
    std::fs::write(bot.state.0.join("oncall.json"), b"{\"taken_at\": tru").unwrap();
    bot.restart().await;
    let out = bot.say("!ic").await;
    assert!(
        out.contains("IC Primary: Alice Moreau"),
        "refreshed from PagerDuty: {out}"
    );
    bot.shutdown().await;
}
