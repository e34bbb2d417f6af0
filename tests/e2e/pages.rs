//! Pages are never doubled (dedup, `--again`), always audited, and allowed only where configured.

use icbot::stub::StubData;

use crate::helpers::{spawn_bot, spawn_bot_with, Options};

#[tokio::test]
async fn a_second_page_of_the_same_people_answers_with_the_first() {
    let bot = spawn_bot("dedup").await;
    let first = bot.say("!ic page checkout down").await;
    assert!(
        first.starts_with("Paged the Incident Commanders: incident #1"),
        "{first}"
    );
    let (second, _) = bot.say_in("war-room", "!ic page checkout still down").await;
    assert!(
        second.starts_with("Not paging again: the Incident Commanders were paged"),
        "{second}"
    );
    assert!(second.contains("by dana in #ops: incident #1"), "{second}");
    assert_eq!(bot.stub().pages().incidents.len(), 1, "no second incident");
    let forced = bot.say("!ic page --again really down").await;
    assert!(
        forced.starts_with("Paged the Incident Commanders: incident #2"),
        "{forced}"
    );
    let audit = std::fs::read_to_string(bot.state.0.join("pages.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 3, "every request audited: {audit}");
    assert!(
        audit.lines().nth(1).unwrap().contains("\"duplicate_of\":{"),
        "{audit}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn paging_only_in_page_channels() {
    let options = Options {
        extra: "[access]\npage_channels = [\"incidents\"]\n".into(),
        ..Options::default()
    };
    let bot = spawn_bot_with("access", StubData::demo(), options).await;
    let (refused, _) = bot.say_in("random", "!ic page").await;
    assert_eq!(refused, "Paging is allowed only in #incidents.");
    assert!(bot.stub().pages().incidents.is_empty());
    let (listing, _) = bot.say_in("random", "!ic").await;
    assert!(
        listing.contains("Alice Moreau"),
        "listing works anywhere: {listing}"
    );
    let (paged, _) = bot.say_in("incidents", "!ic page").await;
    assert!(
        paged.starts_with("Paged the Incident Commanders"),
        "{paged}"
    );
    bot.shutdown().await;
}
