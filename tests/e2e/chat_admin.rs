//! The admins' chat commands: `!ic refresh` and `!ic crash <actor>`, refused for everyone else.

use icbot::stub::{Fault, StubData};

use crate::helpers::{spawn_bot, spawn_bot_with, Options};

fn admin_options(chaos: bool) -> Options {
    Options {
        extra: format!(
            "[access]\nadmins = [\"dana\"]\n\n[admin]\nlisten = \"\"\nchaos = {chaos}\n"
        ),
        ..Options::default()
    }
}

#[tokio::test]
async fn refresh_says_how_it_went() {
    let bot = spawn_bot_with("chat-refresh", StubData::demo(), admin_options(false)).await;
    assert_eq!(
        bot.say("!ic refresh").await,
        "On-call data refreshed from PagerDuty just now."
    );
    bot.stub().set_fault(Fault::Unavailable, None);
    let out = bot.say("!ic refresh").await;
    assert!(
        out.starts_with("⚠ Refresh failed: PagerDuty rejected the request (503"),
        "{out}"
    );
    assert!(out.contains("still answering from data as of"), "{out}");
    bot.shutdown().await;
}

#[tokio::test]
async fn crash_is_a_real_failure_that_the_supervisor_restarts() {
    let bot = spawn_bot_with("chat-crash", StubData::demo(), admin_options(true)).await;
    let mut health = bot.bot.as_ref().unwrap().health();
    let out = bot.say("!ic crash pager").await;
    assert!(out.starts_with("Crashing chat-crash"), "{out}");
    let restarted = health.wait_for(|all| {
        all.iter()
            .any(|h| h.name.ends_with("/pager") && h.restarts == 1 && h.running)
    });
    tokio::time::timeout(std::time::Duration::from_secs(10), restarted)
        .await
        .unwrap()
        .unwrap();
    assert!(bot
        .say("!ic page")
        .await
        .starts_with("Paged the Incident Commanders"));
    assert!(bot
        .say("!ic crash nobody")
        .await
        .starts_with("Not crashed: no crashable actor"));
    bot.shutdown().await;
}

#[tokio::test]
async fn crash_needs_chaos_on_and_admin_commands_need_an_admin() {
    let bot = spawn_bot_with("chat-nochaos", StubData::demo(), admin_options(false)).await;
    assert!(bot
        .say("!ic crash pager")
        .await
        .starts_with("Chaos drills are off"));
    bot.shutdown().await;

    let bot = spawn_bot("chat-noadmin").await;
    assert_eq!(
        bot.say("!ic refresh").await,
        "Only the bot's admins ([access] admins) may use `!ic refresh`."
    );
    assert_eq!(
        bot.say("!ic crash pager").await,
        "Only the bot's admins ([access] admins) may use `!ic crash`."
    );
    bot.shutdown().await;
}
