//! Every `!ic` command's happy path against the stub.

use icbot::stub::{StubData, StubOnCall, StubSchedule, StubUser};

use crate::helpers::{spawn_bot, spawn_bot_with, Options};

#[tokio::test]
async fn ic_lists_each_schedule_with_phones() {
    let bot = spawn_bot("ic").await;
    let out = bot.say("!ic").await;
    // Each line: who and their phones, then when the shift ends (the demo's end 5 or 6 days after the stub
    // started, in [display] time_zone, UTC by default).
    let split: Vec<(&str, &str)> = out
        .lines()
        .map(|l| l.split_once(" · until ").unwrap_or((l, "")))
        .collect();
    let lines: Vec<&str> = split.iter().map(|(who, _)| *who).collect();
    let ends: Vec<&str> = split.iter().map(|(_, end)| *end).collect();
    assert_eq!(lines[0], "Incident Commanders on call now", "{out}");
    assert_eq!(lines[1], "IC Primary: Alice Moreau — +1 2025550101");
    assert_eq!(lines[2], "IC Backup: Bongani Dlamini — no phone on file");
    assert_eq!(
        lines[3], "IC Shadow: Chen Wei — +44 7700900123",
        "phone and SMS with one number show once"
    );
    assert_eq!(lines[4], "IC Shadow: Dana Okafor — +1 2025550104");
    assert!(lines[5].contains("!ic page"), "{out}");
    for (i, days) in [(1, 4), (2, 4), (3, 5), (4, 5)] {
        assert!(
            ends[i].ends_with(&format!(" UTC (in {days} d 23 h)")),
            "{out}"
        );
    }
    bot.shutdown().await;
}

#[tokio::test]
async fn responders_lists_teams_and_says_nobody() {
    let bot = spawn_bot("responders").await;
    let out = bot.say("!IC  responders").await;
    assert!(out.starts_with("Responders on call now"), "{out}");
    assert!(out.contains("Payments: Erik Lindqvist"), "{out}");
    assert!(out.contains("Payments: Fatima Haddad"), "{out}");
    assert!(out.contains("Search: nobody on call"), "{out}");
    bot.shutdown().await;
}

#[tokio::test]
async fn page_pages_every_ic_with_one_incident_and_one_responder_request() {
    let bot = spawn_bot("page").await;
    let out = bot.say("!ic page checkout is down").await;
    assert!(
        out.starts_with("Paged the Incident Commanders: incident #1 http://"),
        "{out}"
    );
    for name in ["Alice Moreau", "Bongani Dlamini", "Chen Wei", "Dana Okafor"] {
        assert!(out.contains(&format!("{name} (IC")), "{name}: {out}");
    }
    let pages = bot.stub().pages();
    assert_eq!(pages.incidents.len(), 1);
    let incident = &pages.incidents[0];
    assert_eq!(incident["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(
        incident["assignments"][0]["assignee"]["id"], "PUSR001",
        "the primary is assigned"
    );
    assert_eq!(incident["urgency"], "high");
    assert!(incident["title"]
        .as_str()
        .unwrap()
        .contains("checkout is down"));
    assert_eq!(pages.responder_requests.len(), 1);
    let rr = &pages.responder_requests[0];
    assert_eq!(rr["requester_id"], "PBOT001");
    let targets: Vec<&str> = rr["responder_request_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["responder_request_target"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["PUSR002", "PUSR003", "PUSR004"]);
    let audit = std::fs::read_to_string(bot.state.0.join("pages.jsonl")).unwrap();
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "a started and an outcome record per page");
    assert!(lines[0].contains("\"event\":\"started\""), "{audit}");
    assert!(lines[1].contains("\"event\":\"outcome\""), "{audit}");
    bot.shutdown().await;
}

#[tokio::test]
async fn page_without_message_names_who_asked() {
    let bot = spawn_bot("page-default").await;
    bot.say("!ic page").await;
    let title = bot.stub().pages().incidents[0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(title.contains("dana") && title.contains("#ops"), "{title}");
    bot.shutdown().await;
}

#[tokio::test]
async fn page_responders_pages_the_teams() {
    let bot = spawn_bot("page-responders").await;
    let out = bot.say("!ic page responders db failover").await;
    assert!(
        out.starts_with("Paged the responders: incident #1"),
        "{out}"
    );
    assert!(out.contains("Gustavo Pereira (Database) — ✓"), "{out}");
    assert_eq!(
        bot.stub().pages().incidents[0]["assignments"][0]["assignee"]["id"],
        "PUSR005"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn who_finds_by_prefix_email_and_full_name() {
    let bot = spawn_bot("who").await;
    let out = bot.say("!ic who chen").await;
    assert!(out.contains("Chen Wei <chen.wei@example.com>"), "{out}");
    assert!(out.contains("On call now: IC Shadow"), "{out}");
    let out = bot.say("!ic who DANA OKAFOR").await;
    assert!(out.contains("Dana Okafor"), "{out}");
    // Not on any schedule: found through PagerDuty's search.
    let out = bot.say("!ic who Ivan Petrov").await;
    assert!(out.contains("Ivan Petrov <"), "{out}");
    assert!(out.contains("Not on call"), "{out}");
    bot.shutdown().await;
}

#[tokio::test]
async fn who_ambiguous_and_unknown() {
    let bot = spawn_bot("who-odd").await;
    let out = bot.say("!ic who zzzz").await;
    assert!(out.contains("Nobody called “zzzz”"), "{out}");
    let out = bot.say("!ic who").await;
    assert!(out.contains("Who?"), "{out}");
    bot.shutdown().await;
}

#[tokio::test]
async fn page_user_assigns_that_person() {
    let bot = spawn_bot("page-user").await;
    let out = bot.say("!ic page @gustavo replica lag").await;
    assert!(
        out.starts_with("Paged Gustavo Pereira: incident #1"),
        "{out}"
    );
    let pages = bot.stub().pages();
    assert_eq!(
        pages.incidents[0]["assignments"][0]["assignee"]["id"],
        "PUSR007"
    );
    assert!(pages.responder_requests.is_empty());
    bot.shutdown().await;
}

#[tokio::test]
async fn help_and_bad_input_get_answers() {
    let bot = spawn_bot("help").await;
    assert!(bot.say("!ic help").await.contains("!ic page responders"));
    assert!(bot.say("!help").await.contains("!status stalk"));
    assert!(bot.say("!ic pgae").await.contains("Try `!ic help`"));
    bot.shutdown().await;
}

#[tokio::test]
async fn pagination_over_more_than_100_on_call_entries() {
    let mut data = StubData::demo();
    let schedule = data
        .schedules
        .iter_mut()
        .find(|s| s.id == "PIC0003")
        .unwrap();
    *schedule = StubSchedule {
        on_call: Vec::new(),
        ..schedule.clone()
    };
    for i in 0..250 {
        let id = format!("PBULK{i:03}");
        data.users.push(StubUser {
            id: id.clone(),
            name: format!("Shadow {i:03}"),
            email: format!("shadow{i}@example.com"),
            contact_methods: Vec::new(),
        });
        let schedule = data
            .schedules
            .iter_mut()
            .find(|s| s.id == "PIC0003")
            .unwrap();
        schedule.on_call.push(StubOnCall {
            user_id: id,
            escalation_level: 1,
            start: None,
            end: None,
        });
    }
    let bot = spawn_bot_with("pagination", data, Options::default()).await;
    let out = bot.say("!ic").await;
    let shadows = out
        .lines()
        .filter(|l| l.starts_with("IC Shadow: Shadow "))
        .count();
    assert_eq!(shadows, 250, "{out}");
    assert!(
        out.contains("IC Shadow: Shadow 249"),
        "the last page is read"
    );
    assert!(
        bot.stub().request_count("/oncalls") >= 3,
        "three pages of 100"
    );
    bot.shutdown().await;
}
