//! Odd but legal PagerDuty answers, and state files left truncated or garbled, through the whole bot.

use std::time::{Duration, Instant};

use icbot::stub::{ContactKind, StubContact, StubData, StubOnCall, StubSchedule, StubUser};
use icbot_actors::reply::MAX_REPLY_CHARS;

use crate::helpers::{spawn_bot, spawn_bot_with, Options};

fn user(id: &str, name: &str, contacts: Vec<StubContact>) -> StubUser {
    StubUser {
        id: id.into(),
        name: name.into(),
        email: format!("{}@example.com", id.to_lowercase()),
        contact_methods: contacts,
    }
}

fn phone(id: &str, country_code: Option<u32>, address: &str) -> StubContact {
    StubContact {
        id: id.into(),
        kind: ContactKind::Phone,
        label: "Mobile".into(),
        address: address.into(),
        country_code,
    }
}

/// On call until further notice: `end: null`.
fn permanent(user_id: &str, escalation_level: u32) -> StubOnCall {
    StubOnCall {
        user_id: user_id.into(),
        escalation_level,
        start: Some("-30d".into()),
        end: None,
    }
}

fn schedule(id: &str, on_call: Vec<StubOnCall>) -> StubSchedule {
    StubSchedule {
        id: id.into(),
        name: id.into(),
        escalation_policy: None,
        on_call,
    }
}

/// The demo's service and the bot's own user, and nothing else.
fn bare_data() -> StubData {
    let mut data = StubData::demo();
    data.users.retain(|u| u.id == "PBOT001");
    data.schedules.clear();
    data
}

#[tokio::test]
async fn people_without_phones_bare_numbers_and_doubles_are_listed_and_paged_once() {
    let mut data = bare_data();
    data.users.extend([
        user("PNONE01", "Nadia No-Contacts", vec![]),
        user("PBARE01", "Bo Bare", vec![phone("PC1", None, "5550100")]),
        user(
            "PTWICE1",
            "Tess Twice",
            vec![phone("PC2", Some(44), "7700900001")],
        ),
    ]);
    data.schedules = vec![
        // The same person at two escalation levels of one schedule, and in a second schedule. Listed lowest
        // level first, each once per schedule.
        schedule(
            "PIC0001",
            vec![
                permanent("PTWICE1", 2),
                permanent("PNONE01", 1),
                permanent("PTWICE1", 1),
            ],
        ),
        schedule(
            "PIC0002",
            vec![permanent("PTWICE1", 1), permanent("PBARE01", 1)],
        ),
    ];
    let bot = spawn_bot_with("odd-people", data, Options::default()).await;

    let out = bot.say("!ic").await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1..6],
        [
            "IC Primary: Nadia No-Contacts — no phone on file",
            "IC Primary: Tess Twice — +44 7700900001",
            "IC Backup: Tess Twice — +44 7700900001",
            "IC Backup: Bo Bare — 5550100",
            "IC Shadow: nobody on call",
        ],
        "{out}"
    );

    let card = bot.say("!ic who Bo Bare").await;
    assert!(card.contains("Phone: 5550100"), "{card}");
    assert!(card.contains("On call now: IC Backup"), "{card}");

    let out = bot.say("!ic page permanent on-calls").await;
    assert!(out.starts_with("Paged the Incident Commanders"), "{out}");
    assert_eq!(out.matches("Tess Twice").count(), 1, "paged once: {out}");
    let pages = bot.stub().pages();
    assert_eq!(pages.incidents.len(), 1);
    assert_eq!(
        pages.incidents[0]["assignments"][0]["assignee"]["id"], "PNONE01",
        "the first of the primary schedule is assigned, phone or not"
    );
    let targets: Vec<&str> = pages.responder_requests[0]["responder_request_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["responder_request_target"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["PTWICE1", "PBARE01"]);
    bot.shutdown().await;
}

#[tokio::test]
async fn five_thousand_on_calls_refresh_answer_bounded_and_page_within_pagerdutys_limit() {
    const ENTRIES: usize = 5_000;
    let mut data = bare_data();
    let teams = ["PTEAM01", "PTEAM02", "PTEAM03", "PTEAM04"];
    data.schedules = teams.iter().map(|id| schedule(id, vec![])).collect();
    for i in 0..ENTRIES {
        let id = format!("PU{i:05}");
        data.users.push(user(
            &id,
            &format!("Responder {i:05}"),
            vec![phone(&format!("PC{i:05}"), Some(1), "2025550100")],
        ));
        data.schedules[i % teams.len()]
            .on_call
            .push(permanent(&id, 1 + (i / teams.len()) as u32 % 3));
    }
    let options = Options {
        page_deadline_secs: 10.0,
        ..Options::default()
    };
    let started = Instant::now();
    let bot = spawn_bot_with("odd-5000", data, options).await;
    bot.refresh_now().await.expect("the big refresh completes");
    let refreshed_in = started.elapsed();

    let (listing, took) = bot.say_in("ops", "!ic responders").await;
    let out = listing.clone();
    assert!(took < Duration::from_secs(2), "answered in {took:?}");
    assert!(out.starts_with("Responders on call now"), "{}", &out[..200]);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("…and ") && last.ends_with(" more lines (truncated)"),
        "{last}"
    );
    let reply = bot.chat.posts_to("ops").pop().unwrap();
    assert!(reply.cost() <= MAX_REPLY_CHARS, "{}", reply.cost());

    let (out, paged_in) = bot.say_in("ops", "!ic page responders everything").await;
    assert!(out.contains("at most 500 people"), "{}", &out[..400]);
    assert!(out.contains("other 4500 were not paged"), "{}", &out[..400]);
    let pages = bot.stub().pages();
    assert_eq!(pages.incidents.len(), 1);
    let batches: Vec<usize> = pages
        .responder_requests
        .iter()
        .map(|r| r["responder_request_targets"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [300, 199]);
    eprintln!(
        "{ENTRIES} on-calls: start and refresh {refreshed_in:?}, `!ic responders` {took:?} ({} chars), \
         page {paged_in:?} ({} chars)",
        listing.chars().count(),
        out.chars().count()
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn a_truncated_oncall_json_is_ignored_and_rewritten_at_the_next_refresh() {
    let mut bot = spawn_bot("odd-oncall-json").await;
    bot.refresh_now().await.unwrap();
    bot.bot.take().unwrap().shutdown().await;
    let file = bot.state.0.join("oncall.json");
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();

    bot.restart().await;
    let out = bot.say("!ic").await;
    assert!(out.contains("IC Primary: Alice Moreau"), "{out}");
    bot.refresh_now().await.unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).expect("valid JSON again");
    assert!(saved["people"].as_object().is_some_and(|p| !p.is_empty()));
    bot.shutdown().await;
}

#[tokio::test]
async fn a_garbled_stalks_json_is_ignored() {
    let mut bot = spawn_bot("odd-stalks-json").await;
    bot.bot.take().unwrap().shutdown().await;
    std::fs::write(
        bot.state.0.join("stalks.json"),
        b"{\"ops\": [1, 2,\x00\xff garbage",
    )
    .unwrap();

    bot.restart().await;
    assert!(bot.say("!status").await.starts_with("NORMAL"));
    assert!(bot.say("!status stalk").await.starts_with("Now stalking"));
    bot.shutdown().await;
}

#[tokio::test]
async fn a_garbled_line_in_pages_jsonl_is_skipped_and_the_others_read() {
    let mut bot = spawn_bot("odd-pages-jsonl").await;
    bot.say("!ic page db down").await;
    bot.bot.take().unwrap().shutdown().await;
    let file = bot.state.0.join("pages.jsonl");
    let good = std::fs::read_to_string(&file).unwrap();
    let garbled =
        format!("{{\"at\": garbage\n\u{0}\u{1}not json at all\n{good}{{\"at\":{{\"secs_since_ep");
    std::fs::write(&file, garbled).unwrap();

    bot.restart().await;
    let out = bot.say("!ic page db down").await;
    assert!(
        out.starts_with("Not paging again"),
        "the good line was read back: {out}"
    );
    assert_eq!(bot.stub().pages().incidents.len(), 1);
    bot.shutdown().await;
}
