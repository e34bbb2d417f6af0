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
    let outcomes: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"event\":\"outcome\""))
        .collect();
    assert_eq!(outcomes.len(), 3, "every request audited: {audit}");
    assert!(outcomes[1].contains("\"duplicate_of\":{"), "{audit}");
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

#[tokio::test]
async fn a_repeat_of_one_person_hints_that_person_and_the_hint_pages_only_them() {
    let bot = spawn_bot("dedup-one").await;
    let first = bot.say("!ic page @bongani db down").await;
    assert!(
        first.starts_with("Paged Bongani Dlamini: incident #1"),
        "{first}"
    );
    let second = bot.say("!ic page @bongani db down").await;
    assert!(
        second.starts_with("Not paging again: Bongani Dlamini was paged"),
        "{second}"
    );
    let hint = "!ic page bongani.dlamini@example.com --again [message]";
    assert!(second.contains(hint), "{second}");
    // Typed as told, the hint pages Bongani again, and nobody else.
    let forced = bot.say(&hint.replace("[message]", "still down")).await;
    assert!(
        forced.starts_with("Paged Bongani Dlamini: incident #2"),
        "{forced}"
    );
    let pages = bot.stub().pages();
    assert_eq!(pages.incidents.len(), 2);
    assert_eq!(
        pages.incidents[1]["assignments"][0]["assignee"]["id"],
        "PUSR002"
    );
    assert!(pages.responder_requests.is_empty(), "nobody else was paged");
    bot.shutdown().await;
}

#[tokio::test]
async fn several_named_people_are_all_paged_in_one_incident() {
    let bot = spawn_bot("named").await;
    let reply = bot.say("!ic page @alice @chen db down").await;
    assert!(
        reply.starts_with("Paged Alice Moreau and Chen Wei: incident #1"),
        "{reply}"
    );
    let pages = bot.stub().pages();
    assert_eq!(pages.incidents.len(), 1, "one incident");
    let incident = &pages.incidents[0];
    assert_eq!(incident["assignments"][0]["assignee"]["id"], "PUSR001");
    let title = incident["title"].as_str().unwrap();
    assert!(
        title.starts_with("db down"),
        "the message is the message: {title}"
    );
    assert_eq!(pages.responder_requests.len(), 1);
    assert_eq!(
        pages.responder_requests[0]["responder_request_targets"][0]["responder_request_target"]
            ["id"],
        "PUSR003"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn nobody_is_paged_when_anyone_named_is_unknown_or_ambiguous() {
    let bot = spawn_bot("unresolved").await;
    // "d" starts Dana Okafor and Bongani Dlamini; nobody is called zed.
    let reply = bot.say("!ic page @alice @zed @d db down").await;
    assert!(
        reply.starts_with("⚠ Nobody was paged: 2 of the 3 people named could not be found"),
        "{reply}"
    );
    assert!(reply.contains("“zed”: nobody by that name"), "{reply}");
    assert!(
        reply.contains("“d”: matches 2 people: Bongani Dlamini <bongani.dlamini@example.com>, Dana Okafor <dana.okafor@example.com>"),
        "{reply}"
    );
    assert!(
        bot.stub().pages().incidents.is_empty(),
        "nobody paged on a guess"
    );
    bot.shutdown().await;
}
