//! Property tests over hostile and odd input: the parser and every formatter, fed arbitrary text, control
//! characters, RTL and emoji, Slack markup (`<!channel>`, `<@U..>`, `<http://x|y>`) and megabyte messages.
//! Nothing may panic, what is echoed is cut, and every reply fits [`MAX_REPLY_CHARS`] once bounded.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use crate::cache::directory::UserQuery;
use crate::cache::oncall::{OnCallSnapshot, Person, Phone, Roster, ScheduleOnCall, ScheduleRef};
use crate::cache::schedule_cache::{CacheView, RefreshFailure};
use crate::chat::ChatTarget;
use crate::commands::format;
use crate::commands::parse::{Command, MAX_MESSAGE_CHARS, MAX_QUERY_CHARS};
use crate::pager::page::{
    PageOutcome, PageRequest, PageTarget, PersonResult, PriorPage, PriorState,
};
use crate::ports::{Incident, PagerDutyError};
use crate::reply::{Reply, MAX_REPLY_CHARS};
use crate::status::format as status_format;
use crate::status::system_state::StatusCheck;
use crate::status::system_state::{Level, ProbeError, StatusReport, SystemState};

/// Cases per property: enough to find the odd input, few enough that `cargo test` stays fast.
const CASES: u32 = 256;
/// Cases for the properties over megabyte inputs.
const HUGE_CASES: u32 = 8;
/// The longest line an echoed name, email or query may make: a 200-character echo and its frame.
const LINE_MAX: usize = 1_000;

/// Pieces of text that have broken chat bots: Slack markup, entities, control characters, bidi overrides,
/// combining marks, emoji sequences, and anything at all.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<!channel>".to_string()),
        Just("<!here|here>".to_string()),
        Just("<@U123ABC>".to_string()),
        Just("<#C0001|general>".to_string()),
        Just("<http://evil.example|click me>".to_string()),
        Just("<mailto:a@b.example|a@b.example>".to_string()),
        Just("&lt;!channel&gt; &amp;".to_string()),
        Just("\u{202E}evil\u{202C}".to_string()),
        Just("محمد".to_string()),
        Just("👩‍🚒🏳️‍🌈".to_string()),
        Just("e\u{301}\u{301}\u{301}".to_string()),
        Just("\0\r\n\t\x1b[31m\x7f".to_string()),
        Just("`*_~|\"@".to_string()),
        Just("!ic page".to_string()),
        Just(" ".to_string()),
        any::<String>(),
    ]
}

fn hostile() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..8).prop_map(|parts| parts.concat())
}

/// A hostile text repeated to about a megabyte.
fn huge() -> impl Strategy<Value = String> {
    hostile()
        .prop_filter("not empty", |s| !s.is_empty())
        .prop_map(|s| s.repeat(1_000_000 / s.len() + 1))
}

/// A phone as PagerDuty may give it: any digits and punctuation, with or without a country code.
fn phone() -> impl Strategy<Value = Phone> {
    (
        prop::option::of(0u32..100_000),
        prop::collection::vec(prop::sample::select(&b"0123456789 -+()<>|"[..]), 0..24),
    )
        .prop_map(|(country_code, bytes)| Phone {
            country_code,
            number: bytes.into_iter().map(char::from).collect(),
        })
}

fn person(name: String, email: String, phones: Vec<Phone>, fetched: bool) -> Person {
    let mut p = Person::new(format!("P{}", name.len()), name, email);
    p.phones = phones;
    p.contacts_fetched_at = fetched.then_some(UNIX_EPOCH);
    p
}

fn people(names: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<Person>> {
    prop::collection::vec(
        (
            names,
            hostile(),
            prop::collection::vec(phone(), 0..3),
            any::<bool>(),
        ),
        0..6,
    )
    .prop_map(|found| {
        found
            .into_iter()
            .enumerate()
            .map(|(i, (name, email, phones, fetched))| {
                let mut p = person(name, email, phones, fetched);
                p.id.0 = format!("P{i}");
                p
            })
            .collect()
    })
}

fn view(people: &[Person], label: &str, failed: Option<String>) -> CacheView {
    let schedule = |id: &str| ScheduleOnCall {
        schedule: ScheduleRef {
            id: id.to_string(),
            label: label.to_string(),
        },
        people: people.iter().map(|p| p.id.clone()).collect(),
    };
    let now = SystemTime::now();
    CacheView {
        snapshot: Some(Arc::new(OnCallSnapshot {
            taken_at: now - Duration::from_secs(600),
            incident_commanders: vec![schedule("PIC1"), schedule("PIC2")],
            responders: vec![schedule("PT1")],
            people: people.iter().map(|p| (p.id.clone(), p.clone())).collect(),
        })),
        last_failure: failed.map(|message| RefreshFailure {
            error: PagerDutyError::Rejected {
                status: 400,
                message,
            },
            at: now,
        }),
        refresh_interval: Duration::from_secs(60),
        from_state_file: false,
        incident_commanders: vec![],
        responders: vec![],
    }
}

fn outcome(people: &[Person], audience: String, message: Option<String>, n: u8) -> PageOutcome {
    let results = [
        PersonResult::Assigned,
        PersonResult::Requested,
        PersonResult::NotConfirmed,
        PersonResult::AlreadyPaged,
    ];
    let targets: Vec<PageTarget> = people
        .iter()
        .map(|p| PageTarget {
            person: p.clone(),
            role: Some("IC Primary".into()),
        })
        .collect();
    PageOutcome {
        request: PageRequest {
            requested_by: "dana".into(),
            reply_to: ChatTarget::channel("ops"),
            audience,
            targets: targets.clone(),
            message,
            again: false,
            targeting: crate::pager::page::Targeting::IncidentCommanders,
        },
        incident: n.is_multiple_of(2).then(|| Incident {
            id: "Q1".into(),
            number: 7,
            html_url: "https://pd.example/incidents/Q1".into(),
        }),
        results: targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, results[(i + n as usize) % results.len()].clone()))
            .collect(),
        failure: n
            .is_multiple_of(3)
            .then(|| "PagerDuty did not answer in time (timeout)".into()),
        at: SystemTime::now(),
        duplicate_of: None,
        page_id: None,
        incident_key: None,
    }
}

/// What every reply must satisfy: once bounded it fits, whatever went in.
fn assert_bounded(reply: &Reply) {
    let bounded = reply.clone().bounded(MAX_REPLY_CHARS);
    assert!(bounded.cost() <= MAX_REPLY_CHARS, "{}", bounded.cost());
    assert_eq!(bounded.alert, reply.alert);
}

/// Every line stays short: names and queries echoed back are cut.
fn assert_lines_short(reply: &Reply) {
    for line in reply.plain().lines() {
        assert!(line.chars().count() <= LINE_MAX, "{} chars", line.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn the_parser_never_panics_and_bounds_what_it_keeps(text in hostile(), prefix in prop::sample::select(
        &["", "!ic ", "!ic who ", "!ic page ", "!ic page @", "!ic page @\"", "!ic page responders ", "!status ", "!IC"][..])) {
        match Command::parse(&format!("{prefix}{text}")) {
            Ok(Some(Command::Who(q))) => {
                prop_assert!(q.to_string().chars().count() <= MAX_QUERY_CHARS + 3);
            }
            Ok(Some(Command::PageUsers(people, _))) => {
                prop_assert!(people.len() <= crate::commands::parse::MAX_NAMED_PEOPLE);
                for q in people {
                    prop_assert!(q.to_string().chars().count() <= MAX_QUERY_CHARS + 3);
                }
            }
            Ok(Some(Command::PageIncidentCommanders(o) | Command::PageResponders(o))) => {
                let n = o.message.map_or(0, |m| m.chars().count());
                prop_assert!(n <= MAX_MESSAGE_CHARS + 1);
            }
            Ok(_) => {}
            Err(hint) => prop_assert!(hint.0.chars().count() <= 300, "{}", hint.0),
        }
    }

    #[test]
    fn listings_and_cards_stay_short_whatever_the_names(
        people in people(hostile()),
        label in "[A-Za-z ]{0,30}",
        failed in prop::option::of(hostile()),
    ) {
        let view = view(&people, &label, failed);
        let now = SystemTime::now();
        for roster in [Roster::IncidentCommanders, Roster::Responders] {
            let reply = format::on_call_listing(&view, roster, now);
            assert_lines_short(&reply);
            assert_bounded(&reply);
        }
        for p in &people {
            let card = format::who_card(p, view.snapshot.as_deref());
            assert_lines_short(&card);
            assert_bounded(&card);
        }
    }

    #[test]
    fn page_outcomes_stay_short_whatever_the_names(
        people in people(hostile()),
        audience in hostile(),
        message in prop::option::of(hostile()),
        n in any::<u8>(),
        staleness in prop::option::of("[a-z ]{0,40}"),
    ) {
        let mut o = outcome(&people, audience.clone(), message, n);
        let reply = format::page_outcome(&o, staleness.clone());
        assert_lines_short(&reply);
        assert_bounded(&reply);
        for (state, targeting) in [
            (PriorState::Recorded, crate::pager::page::Targeting::IncidentCommanders),
            (PriorState::OutcomeUnknown, crate::pager::page::Targeting::People),
            (PriorState::OpenInPagerDuty, crate::pager::page::Targeting::People),
        ] {
            o.request.targeting = targeting;
            o.duplicate_of = Some(PriorPage {
                requested_by: audience.clone(),
                channel: audience.clone(),
                at: UNIX_EPOCH,
                incident: o.incident.clone(),
                page_id: None,
                incident_key: None,
                state,
            });
            let repeat = format::page_outcome(&o, staleness.clone());
            assert_lines_short(&repeat);
            assert_bounded(&repeat);
        }
    }

    #[test]
    fn ambiguity_and_not_found_echo_the_query_cut(
        query in hostile(),
        people in people(hostile()),
        why in prop::option::of("[a-z ]{0,60}"),
    ) {
        for q in [UserQuery::Name(query.clone()), UserQuery::Email(query.clone()), UserQuery::Mention(query)] {
            let many = format::ambiguous(&q, &people);
            assert_lines_short(&many);
            assert_bounded(&many);
            let none = format::not_found(&q, why.clone());
            assert_lines_short(&none);
            assert_bounded(&none);
        }
    }

    #[test]
    fn status_replies_never_panic_and_fit(
        summary in hostile(),
        secs in 0u64..100_000_000_000,
        since in 0u64..100_000_000_000,
        known in any::<bool>(),
    ) {
        let at = UNIX_EPOCH + Duration::from_secs(secs);
        let state = |level| if known {
            SystemState::Known(StatusReport { level, summary: summary.clone(), firing: vec![] })
        } else {
            SystemState::Unknown(ProbeError::Malformed(summary.clone()))
        };
        let check = StatusCheck { state: state(Level::Critical), checked_at: at };
        let from = state(Level::Normal);
        let since = UNIX_EPOCH + Duration::from_secs(since);
        for reply in [
            status_format::status_reply(&check),
            status_format::change_reply(None, &check, since),
            status_format::change_reply(Some(&from), &check, since),
            status_format::already_stalking_reply(at),
            status_format::unstalked_reply(at),
        ] {
            assert_bounded(&reply);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(HUGE_CASES))]

    #[test]
    fn megabyte_messages_parse_quickly_into_bounded_commands(text in huge()) {
        for prefix in ["", "!ic", "!ic ", "!ic who ", "!ic page ", "!ic page @", "!status "] {
            match Command::parse(&format!("{prefix}{text}")) {
                Err(hint) => prop_assert!(hint.0.chars().count() <= 300),
                Ok(Some(Command::PageIncidentCommanders(o) | Command::PageUsers(_, o))) => {
                    prop_assert!(o.message.map_or(0, |m| m.chars().count()) <= MAX_MESSAGE_CHARS + 1);
                }
                Ok(_) => {}
            }
        }
    }

    #[test]
    fn megabyte_names_and_summaries_are_cut(name in huge()) {
        let people = vec![person(name.clone(), name.clone(), vec![], true)];
        let view = view(&people, "Primary", Some(name.clone()));
        let listing = format::on_call_listing(&view, Roster::IncidentCommanders, SystemTime::now());
        assert_bounded(&listing);
        let card = format::who_card(&people[0], view.snapshot.as_deref());
        assert_lines_short(&card);
        let page = format::page_outcome(&outcome(&people, name.clone(), Some(name.clone()), 2), None);
        assert_lines_short(&page);
        let status = status_format::status_reply(&StatusCheck {
            state: SystemState::Known(StatusReport { level: Level::Degraded, summary: name, firing: vec![] }),
            checked_at: SystemTime::now(),
        });
        assert_bounded(&status);
    }
}
