//! Replies to the `!ic` commands: on-call listings, contact cards, page outcomes and the help.

use std::time::SystemTime;

use crate::cache::directory::Unresolved;
use crate::cache::directory::UserQuery;
use crate::cache::oncall::{human_age, OnCallSnapshot, Person, Roster};
use crate::cache::schedule_cache::{failure_text, CacheView};
use crate::commands::parse::{Command, MAX_QUERY_CHARS};
use crate::local_time::ReaderZone;
use crate::pager::page::{
    PageOutcome, PageRequest, PageTarget, PersonResult, PriorPage, PriorState, Targeting,
};
use crate::ports::IncidentStatus;
use crate::reply::{code, strong, text, CardRow, IncidentCard, Reply, Span};
use crate::truncate::truncate;

/// Names and messages echoed back are cut to this many characters.
const ECHO_MAX: usize = 200;
/// A candidates list shows at most this many people.
const CANDIDATES_MAX: usize = 10;

fn roster_title(roster: Roster) -> &'static str {
    match roster {
        Roster::IncidentCommanders => "Incident Commanders",
        Roster::Responders => "Responders",
    }
}

/// A person's phones as spans: `+1 555 0101, +44 7700 900123`, or a note when none is known.
fn phones(person: &Person) -> Vec<Span> {
    if person.phones.is_empty() {
        let why = if person.contacts_fetched_at.is_some() {
            "no phone on file"
        } else {
            "phone not known (lookup failed)"
        };
        return vec![text(why)];
    }
    let mut spans = Vec::new();
    for (i, p) in person.phones.iter().enumerate() {
        if i > 0 {
            spans.push(text(", "));
        }
        spans.push(Span::Phone(p.clone()));
    }
    spans
}

fn person_line(label: &str, person: &Person) -> Vec<Span> {
    let mut line = vec![
        strong(label),
        text(": "),
        text(truncate(&person.name, ECHO_MAX)),
        text(" — "),
    ];
    line.extend(phones(person));
    line
}

fn staleness_line(view: &CacheView, now: SystemTime) -> Option<Vec<Span>> {
    view.staleness_note(now)
        .map(|note| vec![strong("⚠ "), text(note)])
}

/// `!ic` and `!ic responders`: every configured schedule in order, everyone on call in it (or "nobody on call"),
/// their phones, and how to page them. Says so first when the data may be out of date.
/// Each shift's end is shown in `zone`, the reader's.
pub fn on_call_listing(
    view: &CacheView,
    roster: Roster,
    now: SystemTime,
    zone: &ReaderZone,
) -> Reply {
    let Some(snapshot) = &view.snapshot else {
        return no_on_call_data(view, roster);
    };
    let mut reply = Reply::new();
    if let Some(line) = staleness_line(view, now) {
        reply.line(line);
        reply.alert = true;
    }
    reply.line(vec![strong(format!(
        "{} on call now",
        roster_title(roster)
    ))]);
    let schedules = snapshot.roster(roster);
    if schedules.is_empty() {
        reply.line(vec![text("No schedules are configured for this list.")]);
    }
    for schedule in schedules {
        let people: Vec<&Person> = schedule
            .people
            .iter()
            .filter_map(|id| snapshot.person(id))
            .collect();
        if people.is_empty() {
            reply.line(vec![
                strong(&schedule.schedule.label),
                text(": nobody on call"),
            ]);
        }
        for person in people {
            let mut line = person_line(&schedule.schedule.label, person);
            if let Some(end) = schedule.shift_ends.get(&person.id) {
                line.push(text(format!(" · until {}", zone.when(*end, now))));
            }
            reply.line(line);
        }
    }
    let page_all = match roster {
        Roster::IncidentCommanders => "!ic page [message]",
        Roster::Responders => "!ic page responders [message]",
    };
    reply.line(vec![
        text("Page them all: "),
        code(page_all),
        text(" · one person: "),
        code("!ic page @<user> [message]"),
    ]);
    reply
}

/// No snapshot at all: PagerDuty failed before the first refresh and no state file existed.
pub fn no_on_call_data(view: &CacheView, roster: Roster) -> Reply {
    let why = match &view.last_failure {
        Some(f) => failure_text(&f.error),
        None => "on-call data not loaded yet".to_string(),
    };
    let schedules = match roster {
        Roster::IncidentCommanders => &view.incident_commanders,
        Roster::Responders => &view.responders,
    };
    let names: Vec<String> = schedules
        .iter()
        .map(|s| format!("{} ({})", s.label, s.id))
        .collect();
    let mut reply = Reply::new();
    reply.line(vec![
        strong("⚠ Cannot tell who is on call: "),
        text(why),
        text(", and nothing is cached yet."),
    ]);
    reply.line(vec![text(format!(
        "Look up {} in PagerDuty directly: {}.",
        roster_title(roster),
        names.join(", ")
    ))]);
    reply.alerting()
}

/// The schedule cache could not be asked at all (restarting) and the gateway has no copy.
pub fn cache_unavailable() -> Reply {
    Reply::text("⚠ The on-call cache is restarting and no copy is at hand; try again in a few seconds, or look in PagerDuty directly.")
        .alerting()
}

/// `!ic who`: name, email, phones, and what they are on call for now.
pub fn who_card(person: &Person, snapshot: Option<&OnCallSnapshot>) -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![
        strong(truncate(&person.name, ECHO_MAX)),
        text(format!(" <{}>", truncate(&person.email, ECHO_MAX))),
    ]);
    let mut phone_line = vec![text("Phone: ")];
    phone_line.extend(phones(person));
    reply.line(phone_line);
    let on_call = snapshot
        .map(|s| s.schedules_of(&person.id))
        .unwrap_or_default();
    if on_call.is_empty() {
        reply.line(vec![text("Not on call in the watched schedules now.")]);
    } else {
        reply.line(vec![text(format!("On call now: {}", on_call.join(", ")))]);
    }
    reply.line(vec![
        text("Page: "),
        code(format!("!ic page {} [message]", page_handle(person))),
    ]);
    reply
}

/// How to name this person in `!ic page`, cut like every echo.
fn page_handle(person: &Person) -> String {
    if !person.email.is_empty() {
        truncate(&person.email, ECHO_MAX).into_owned()
    } else {
        format!("@\"{}\"", truncate(&person.name, ECHO_MAX))
    }
}

/// How to name this person in a command the user may type back: their email (it finds exactly them), else
/// `@"Full Name"`. Uncut while the parser takes it, so that it parses back to the same person.
fn page_handle_exact(person: &Person) -> String {
    let email = person.email.trim();
    if !email.is_empty()
        && email.chars().count() <= MAX_QUERY_CHARS
        && !email.contains(char::is_whitespace)
    {
        return email.to_string();
    }
    let name = person.name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.chars().count() <= MAX_QUERY_CHARS && !name.contains('"') {
        format!("@\"{name}\"")
    } else {
        page_handle(person)
    }
}

/// The longest `--again` command a reply spells out; past it the reply says to repeat the command instead.
const AGAIN_COMMAND_MAX: usize = 600;

/// The command that pages the same people again despite a recent page: the request's own targets.
pub fn again_command(request: &PageRequest) -> String {
    match request.targeting {
        Targeting::IncidentCommanders => "!ic page --again [message]".to_string(),
        Targeting::Responders => "!ic page responders --again [message]".to_string(),
        Targeting::People => {
            let handles: Vec<String> = request
                .targets
                .iter()
                .map(|t| page_handle_exact(&t.person))
                .collect();
            let command = format!("!ic page {} --again [message]", handles.join(" "));
            if command.chars().count() <= AGAIN_COMMAND_MAX {
                command
            } else {
                "your command again, with --again".to_string()
            }
        }
    }
}

/// "was" for one person, "were" for a roster or several people.
fn was_or_were(request: &PageRequest) -> &'static str {
    if request.targeting == Targeting::People && request.targets.len() == 1 {
        "was"
    } else {
        "were"
    }
}

/// Who a page of named people goes to, in words: "Alice Smith", "Alice Smith and Bob Jones",
/// "Alice Smith, Bob Jones and 3 others".
pub fn named_audience(people: &[Person]) -> String {
    const NAMED: usize = 3;
    let names: Vec<&str> = people.iter().map(|p| p.name.as_str()).collect();
    match names.len() {
        0 => "nobody".to_string(),
        1 => names[0].to_string(),
        n if n <= NAMED => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
        n => format!(
            "{} and {} others",
            names[..NAMED - 1].join(", "),
            n - (NAMED - 1)
        ),
    }
}

/// Why one named person was not found, as the reply to `!ic who` or a page naming only them.
pub fn unresolved_one(query: &UserQuery, why: &Unresolved) -> Reply {
    match why {
        Unresolved::NotFound { search_failed } => not_found(query, search_failed.clone()),
        Unresolved::Ambiguous(candidates) => ambiguous(query, candidates),
        Unresolved::Mention(why) => Reply::text(why.clone()),
    }
}

/// A page naming several people, some of whom were not found: nobody was paged, and why each one failed.
pub fn unresolved_people(named: usize, problems: &[(UserQuery, Unresolved)]) -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![
        strong("⚠ Nobody was paged: "),
        text(format!(
            "{} of the {named} people named could not be found for sure.",
            problems.len()
        )),
    ]);
    for (query, why) in problems {
        let q = truncate(&query.to_string(), ECHO_MAX).into_owned();
        let line = match why {
            Unresolved::NotFound {
                search_failed: None,
            } => format!("• “{q}”: nobody by that name or email in PagerDuty"),
            Unresolved::NotFound {
                search_failed: Some(e),
            } => format!(
                "• “{q}”: not among the people the bot knows, and searching PagerDuty failed: {e}"
            ),
            Unresolved::Ambiguous(candidates) => {
                let shown: Vec<String> = candidates
                    .iter()
                    .take(CANDIDATES_MAX)
                    .map(|p| {
                        format!(
                            "{} <{}>",
                            truncate(&p.name, ECHO_MAX),
                            truncate(&p.email, ECHO_MAX)
                        )
                    })
                    .collect();
                let more = candidates.len().saturating_sub(CANDIDATES_MAX);
                let more = if more > 0 {
                    format!(" …and {more} more")
                } else {
                    String::new()
                };
                format!(
                    "• “{q}”: matches {} people: {}{more}",
                    candidates.len(),
                    shown.join(", ")
                )
            }
            Unresolved::Mention(why) => format!("• “{q}”: {why}"),
        };
        reply.line(vec![text(line)]);
    }
    reply.line(vec![text(
        "Name each one exactly (an email or @\"Full Name\") and page again.",
    )]);
    reply.alerting()
}

pub fn ambiguous(query: &UserQuery, candidates: &[Person]) -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![text(format!(
        "“{}” matches {} people; be more precise:",
        truncate(&query.to_string(), ECHO_MAX),
        candidates.len()
    ))]);
    for p in candidates.iter().take(CANDIDATES_MAX) {
        reply.line(vec![text(format!(
            "• {} <{}>",
            truncate(&p.name, ECHO_MAX),
            truncate(&p.email, ECHO_MAX)
        ))]);
    }
    if candidates.len() > CANDIDATES_MAX {
        reply.line(vec![text(format!(
            "…and {} more",
            candidates.len() - CANDIDATES_MAX
        ))]);
    }
    reply
}

pub fn not_found(query: &UserQuery, search_failed: Option<String>) -> Reply {
    let q = truncate(&query.to_string(), ECHO_MAX).into_owned();
    match search_failed {
        None => Reply::text(format!(
            "Nobody called “{q}” in PagerDuty. Try an email or a full name."
        )),
        Some(why) => Reply::text(format!(
            "“{q}” is not among the people the bot knows, and searching PagerDuty failed: {why}."
        ))
        .alerting(),
    }
}

/// The answer to a page: the incident link and per person paged or not; on any failure, what failed, each
/// person not confirmed with their phones, and to call them by hand.
pub fn page_outcome(outcome: &PageOutcome, staleness: Option<String>) -> Reply {
    if let Some(prior) = &outcome.duplicate_of {
        return already_paged(outcome, prior);
    }
    let mut reply = Reply::new();
    let audience = truncate(&outcome.request.audience, ECHO_MAX);
    if outcome.everyone_confirmed() {
        let mut head = vec![strong(format!("Paged {audience}"))];
        if let Some(i) = &outcome.incident {
            head.push(text(format!(": incident #{} ", i.number)));
            head.push(Span::Link {
                url: i.html_url.clone(),
                label: i.html_url.clone(),
            });
        }
        reply.line(head);
    } else {
        reply.alert = true;
        let why = outcome
            .failure
            .clone()
            .unwrap_or_else(|| "not everyone was confirmed".to_string());
        reply.line(vec![
            strong(format!("⚠ PAGE NOT CONFIRMED for {audience}: ")),
            text(why),
        ]);
        // First, so that a reply cut to size still says it.
        reply.line(vec![strong("Call the people marked ✗ by hand now.")]);
        if let Some(i) = &outcome.incident {
            reply.line(vec![
                text(format!("Incident #{} was created: ", i.number)),
                Span::Link {
                    url: i.html_url.clone(),
                    label: i.html_url.clone(),
                },
            ]);
        }
    }
    if let Some(note) = staleness {
        reply.line(vec![
            strong("⚠ "),
            text(format!("Paged from cached on-call data: {note}")),
        ]);
    }
    // The people to phone come first: a long reply is cut at the end, never at them.
    let (to_call, confirmed): (Vec<_>, Vec<_>) = outcome
        .results
        .iter()
        .partition(|(_, r)| *r == PersonResult::NotConfirmed);
    for (target, result) in to_call.into_iter().chain(confirmed) {
        let role = target
            .role
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let status = match result {
            PersonResult::Assigned => "✓ paged (incident assigned)",
            PersonResult::Requested => "✓ paged (responder request sent)",
            PersonResult::NotConfirmed => "✗ NOT confirmed, call now:",
            PersonResult::AlreadyPaged => "paged moments ago",
        };
        let mut line = vec![text(format!(
            "{}{role} — {status}",
            truncate(&target.person.name, ECHO_MAX)
        ))];
        if *result == PersonResult::NotConfirmed {
            line.push(text(" "));
            line.extend(phones(&target.person));
        }
        reply.line(line);
    }
    reply.card = outcome.incident.as_ref().map(|i| {
        Box::new(IncidentCard {
            incident_id: i.id.clone(),
            number: i.number,
            title: truncate(
                outcome
                    .request
                    .message
                    .as_deref()
                    .unwrap_or(&format!("Page for {audience}")),
                ECHO_MAX * 2,
            )
            .into_owned(),
            html_url: i.html_url.clone(),
            status: IncidentStatus::Triggered,
            acknowledged_by: Vec::new(),
            rows: outcome
                .results
                .iter()
                .map(|(target, result)| CardRow {
                    name: truncate(&target.person.name, ECHO_MAX).into_owned(),
                    outcome: match result {
                        PersonResult::Assigned => "✓ paged (incident assigned)",
                        PersonResult::Requested => "✓ paged (responder request sent)",
                        PersonResult::NotConfirmed => "✗ NOT confirmed, call now",
                        PersonResult::AlreadyPaged => "paged moments ago",
                    }
                    .to_string(),
                    phones: target.person.phones.clone(),
                })
                .collect(),
        })
    });
    reply
}

/// A repeat of a recent page: the first one stands. When that page's outcome is unknown (the bot restarted
/// mid-page), says so, with the incident PagerDuty has for it or else the phones to call.
fn already_paged(outcome: &PageOutcome, prior: &PriorPage) -> Reply {
    let request = &outcome.request;
    let audience = truncate(&request.audience, ECHO_MAX);
    let verb = was_or_were(request);
    let age = human_age(outcome.at.duration_since(prior.at).unwrap_or_default());
    let by = format!(
        " by {} in #{}",
        truncate(&prior.requested_by, ECHO_MAX),
        truncate(&prior.channel, ECHO_MAX)
    );
    let incident_link = |i: &crate::ports::Incident| {
        vec![
            text(format!("incident #{} ", i.number)),
            Span::Link {
                url: i.html_url.clone(),
                label: i.html_url.clone(),
            },
        ]
    };
    let mut reply = Reply::new();
    match prior.state {
        PriorState::Recorded => {
            let mut head = vec![
                strong(format!(
                    "Not paging again: {audience} {verb} paged {age} ago"
                )),
                text(by),
            ];
            match &prior.incident {
                Some(i) => {
                    head.push(text(": "));
                    head.extend(incident_link(i));
                }
                None => head.push(text(" (that page is still going out)")),
            }
            reply.line(head);
        }
        PriorState::OpenInPagerDuty => {
            let mut head = vec![strong(format!(
                "Not paging again: PagerDuty already has an open incident for {audience}"
            ))];
            match &prior.incident {
                Some(i) => {
                    head.push(text(": "));
                    head.extend(incident_link(i));
                }
                None => head.push(text(" (the bot could not fetch it; look in PagerDuty)")),
            }
            reply.line(head);
        }
        PriorState::OutcomeUnknown => {
            reply.alert = true;
            reply.line(vec![
                strong(format!(
                    "⚠ Not paging again: {audience} {verb} paged {age} ago"
                )),
                text(format!(
                    "{by}, but that page did not record its outcome: the bot restarted mid-page."
                )),
            ]);
            match &prior.incident {
                Some(i) => {
                    let mut line = vec![text("PagerDuty has its incident: ")];
                    line.extend(incident_link(i));
                    reply.line(line);
                    reply.line(vec![text(
                        "Check there who was notified; call anyone missing by hand.",
                    )]);
                }
                None => {
                    reply.line(vec![strong(
                        "PagerDuty has no incident the bot can find for it: call them by hand now.",
                    )]);
                    for target in &request.targets {
                        reply.line(person_to_call(target));
                    }
                }
            }
        }
    }
    reply.line(vec![
        text("To page them anyway: "),
        code(again_command(request)),
    ]);
    reply
}

/// "Alice Smith (Primary) — +1 555 0101": a person to phone.
fn person_to_call(target: &PageTarget) -> Vec<Span> {
    let role = target
        .role
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let mut line = vec![text(format!(
        "{}{role} — ",
        truncate(&target.person.name, ECHO_MAX)
    ))];
    line.extend(phones(&target.person));
    line
}

/// Nobody on call to page in a roster.
pub fn nobody_to_page(roster: Roster) -> Reply {
    Reply::text(format!(
        "⚠ Nobody is on call in the {} schedules: nobody was paged. Page a person with `!ic page @<user>`.",
        roster_title(roster)
    ))
    .alerting()
}

/// `!ic help`: one line per command, from [`Command::HELP`].
pub fn help() -> Reply {
    let mut reply = Reply::new();
    reply.line(vec![strong("icbot commands")]);
    for entry in Command::HELP {
        reply.line(vec![
            code(entry.syntax),
            text(format!(" — {}", entry.about)),
        ]);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::{Phone, ScheduleOnCall, ScheduleRef, UserId};
    use crate::cache::schedule_cache::RefreshFailure;
    use crate::chat::ChatTarget;
    use crate::ports::{Incident, PagerDutyError};
    use std::sync::Arc;
    use std::time::Duration;

    fn person(id: &str, name: &str, phone: Option<&str>) -> Person {
        let mut p = Person::new(id, name, format!("{id}@example.com"));
        p.contacts_fetched_at = Some(SystemTime::UNIX_EPOCH);
        if let Some(n) = phone {
            p.phones.push(Phone {
                country_code: Some(1),
                number: n.into(),
            });
        }
        p
    }

    fn sched(label: &str, people: &[&Person]) -> ScheduleOnCall {
        ScheduleOnCall {
            schedule: ScheduleRef {
                id: format!("ID-{label}"),
                label: label.into(),
            },
            people: people.iter().map(|p| p.id.clone()).collect(),
            shift_ends: Default::default(),
        }
    }

    fn view(taken_at: SystemTime, failure: Option<PagerDutyError>) -> CacheView {
        let alice = person("alice", "Alice Smith", Some("5550101"));
        let carol = person("carol", "Carol White", None);
        let dan = person("dan", "Dan Brown", Some("5550104"));
        let snapshot = OnCallSnapshot {
            taken_at,
            incident_commanders: vec![
                sched("Primary", &[&alice]),
                sched("Backup", &[]),
                sched("Shadow", &[&carol, &dan]),
            ],
            responders: vec![],
            people: [alice, carol, dan]
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect(),
        };
        CacheView {
            snapshot: Some(Arc::new(snapshot)),
            last_failure: failure.map(|error| RefreshFailure {
                error,
                at: taken_at,
            }),
            refresh_interval: Duration::from_secs(60),
            from_state_file: false,
            incident_commanders: vec![],
            responders: vec![],
        }
    }

    #[test]
    fn listing_shows_when_each_shift_ends_in_the_reader_s_zone() {
        // Thursday 2026-12-03 15:00 UTC; Alice hands over at 18:00 UTC, 03:00 on Friday in Tokyo.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_310_000);
        let mut v = view(now, None);
        let snapshot = Arc::make_mut(v.snapshot.as_mut().unwrap());
        snapshot.incident_commanders[0]
            .shift_ends
            .insert(UserId("alice".into()), now + Duration::from_secs(3 * 3600));
        let tokyo = ReaderZone::named("Asia/Tokyo").unwrap();
        let out = on_call_listing(&v, Roster::IncidentCommanders, now, &tokyo).plain();
        assert_eq!(
            out.lines().nth(1),
            Some("Primary: Alice Smith — +1 5550101 · until 03:00 JST (in 3 h)")
        );
        let utc = on_call_listing(&v, Roster::IncidentCommanders, now, &ReaderZone::utc()).plain();
        assert!(utc.contains("· until 18:00 UTC (in 3 h)"), "{utc}");
        assert!(
            utc.contains("Shadow: Dan Brown — +1 5550104\n"),
            "open-ended shifts say nothing: {utc}"
        );
    }

    #[test]
    fn listing_shows_each_schedule_in_order_with_phones() {
        let now = SystemTime::now();
        let out = on_call_listing(
            &view(now, None),
            Roster::IncidentCommanders,
            now,
            &ReaderZone::utc(),
        )
        .plain();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Incident Commanders on call now");
        assert_eq!(lines[1], "Primary: Alice Smith — +1 5550101");
        assert_eq!(lines[2], "Backup: nobody on call");
        assert_eq!(lines[3], "Shadow: Carol White — no phone on file");
        assert_eq!(lines[4], "Shadow: Dan Brown — +1 5550104");
        assert!(lines[5].contains("!ic page [message]"), "{out}");
    }

    #[test]
    fn listing_says_when_pagerduty_failed_and_how_old_the_data_is() {
        let now = SystemTime::now();
        let v = view(
            now - Duration::from_secs(7 * 60),
            Some(PagerDutyError::Timeout),
        );
        let reply = on_call_listing(&v, Roster::IncidentCommanders, now, &ReaderZone::utc());
        assert!(reply.alert);
        assert_eq!(
            reply.plain().lines().next().unwrap(),
            "⚠ PagerDuty unreachable (timeout); on-call as of 7 min ago"
        );
    }

    #[test]
    fn listing_of_old_data_says_its_age_even_without_a_failure() {
        let now = SystemTime::now();
        let v = view(now - Duration::from_secs(300), None);
        assert!(
            on_call_listing(&v, Roster::IncidentCommanders, now, &ReaderZone::utc())
                .plain()
                .contains("as of 5 min ago")
        );
    }

    #[test]
    fn no_data_at_all_names_the_schedules_to_look_up() {
        let mut v = view(
            SystemTime::now(),
            Some(PagerDutyError::Transport("connection refused".into())),
        );
        v.snapshot = None;
        v.incident_commanders = vec![ScheduleRef {
            id: "P1".into(),
            label: "Primary".into(),
        }];
        let out = on_call_listing(
            &v,
            Roster::IncidentCommanders,
            SystemTime::now(),
            &ReaderZone::utc(),
        );
        assert!(out.alert);
        assert!(out
            .plain()
            .contains("PagerDuty unreachable (connection refused)"));
        assert!(out.plain().contains("Primary (P1)"));
    }

    fn outcome(results: Vec<PersonResult>, failure: Option<&str>, incident: bool) -> PageOutcome {
        let people = [
            person("alice", "Alice Smith", Some("5550101")),
            person("carol", "Carol White", None),
        ];
        let targets: Vec<PageTarget> = people
            .iter()
            .map(|p| PageTarget {
                person: p.clone(),
                role: Some("Primary".into()),
            })
            .collect();
        PageOutcome {
            request: PageRequest {
                requested_by: "dana".into(),
                reply_to: ChatTarget::channel("ops"),
                audience: "the Incident Commanders".into(),
                targets: targets.clone(),
                message: None,
                again: false,
                targeting: Targeting::IncidentCommanders,
            },
            incident: incident.then(|| Incident {
                id: "Q1".into(),
                number: 42,
                html_url: "https://pd/Q1".into(),
            }),
            results: targets.into_iter().zip(results).collect(),
            failure: failure.map(String::from),
            at: SystemTime::now(),
            duplicate_of: None,
            page_id: None,
            incident_key: None,
        }
    }

    #[test]
    fn a_repeat_names_the_first_page_and_how_to_page_anyway() {
        let mut o = outcome(
            vec![PersonResult::AlreadyPaged, PersonResult::AlreadyPaged],
            None,
            true,
        );
        o.duplicate_of = Some(PriorPage {
            requested_by: "erik".into(),
            channel: "war-room".into(),
            at: o.at - Duration::from_secs(45),
            incident: o.incident.clone(),
            page_id: None,
            incident_key: None,
            state: PriorState::Recorded,
        });
        let text = page_outcome(&o, None).plain();
        assert!(text.starts_with("Not paging again: the Incident Commanders were paged 45 s ago by erik in #war-room: incident #42"), "{text}");
        assert!(text.contains("!ic page --again"), "{text}");
    }

    fn repeat_of(targeting: Targeting, people: Vec<Person>) -> PageOutcome {
        let mut o = outcome(vec![], None, true);
        o.request.targeting = targeting;
        o.request.audience = named_audience(&people);
        o.request.targets = people
            .into_iter()
            .map(|person| PageTarget { person, role: None })
            .collect();
        o.results = o
            .request
            .targets
            .iter()
            .map(|t| (t.clone(), PersonResult::AlreadyPaged))
            .collect();
        o.duplicate_of = Some(PriorPage {
            requested_by: "erik".into(),
            channel: "ops".into(),
            at: o.at - Duration::from_secs(30),
            incident: o.incident.clone(),
            page_id: None,
            incident_key: None,
            state: PriorState::Recorded,
        });
        o
    }

    /// The `!ic page ...` command a reply suggests, as typed (the `[message]` placeholder dropped).
    fn suggested(reply: &str) -> String {
        let at = reply.find("!ic page").expect("a command is suggested");
        reply[at..]
            .lines()
            .next()
            .unwrap()
            .replace(" [message]", "")
    }

    #[test]
    fn a_repeat_of_one_person_says_was_and_hints_that_person_only() {
        let bongani = person("bongani", "Bongani Dlamini", None);
        let text = page_outcome(&repeat_of(Targeting::People, vec![bongani.clone()]), None).plain();
        assert!(
            text.starts_with(
                "Not paging again: Bongani Dlamini was paged 30 s ago by erik in #ops"
            ),
            "{text}"
        );
        let hint = suggested(&text);
        assert_eq!(hint, "!ic page bongani@example.com --again");
        // Typed back, the hint names the same person, and nobody else.
        let Ok(Some(Command::PageUsers(queries, opts))) = Command::parse(&hint) else {
            panic!("the hint parses as a page of people: {hint}");
        };
        assert!(opts.again);
        let everyone = [bongani.clone(), person("alice", "Alice Smith", None)];
        let ids: Vec<_> = queries
            .iter()
            .map(|q| match crate::cache::directory::resolve(q, &everyone) {
                crate::cache::directory::Resolution::Found(p) => p.id,
                other => panic!("{q}: {other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![bongani.id]);
    }

    #[test]
    fn a_repeat_of_several_people_hints_all_of_them_and_parses_back() {
        let mut no_email = person("chen", "Chen  Wei", None);
        no_email.email.clear();
        let people = vec![person("alice", "Alice Smith", None), no_email];
        let text = page_outcome(&repeat_of(Targeting::People, people.clone()), None).plain();
        assert!(
            text.contains("Alice Smith and Chen  Wei were paged"),
            "{text}"
        );
        let hint = suggested(&text);
        assert_eq!(hint, "!ic page alice@example.com @\"Chen Wei\" --again");
        let Ok(Some(Command::PageUsers(queries, _))) = Command::parse(&hint) else {
            panic!("{hint}");
        };
        assert_eq!(
            queries,
            vec![
                UserQuery::Email("alice@example.com".into()),
                UserQuery::Name("Chen Wei".into())
            ]
        );
    }

    #[test]
    fn a_repeat_of_a_roster_hints_that_roster() {
        let people = vec![person("alice", "Alice Smith", None)];
        for (targeting, hint, parsed) in [
            (Targeting::IncidentCommanders, "!ic page --again", "ic_page"),
            (
                Targeting::Responders,
                "!ic page responders --again",
                "page_responders",
            ),
        ] {
            let mut o = repeat_of(targeting, people.clone());
            o.request.audience = "the responders".into();
            let text = page_outcome(&o, None).plain();
            assert!(text.contains("the responders were paged"), "{text}");
            assert_eq!(suggested(&text), hint);
            assert_eq!(Command::parse(hint).unwrap().unwrap().name(), parsed);
        }
    }

    #[test]
    fn confirmed_page_links_the_incident() {
        let out = page_outcome(
            &outcome(
                vec![PersonResult::Assigned, PersonResult::Requested],
                None,
                true,
            ),
            None,
        );
        assert!(!out.alert);
        let text = out.plain();
        assert!(
            text.starts_with("Paged the Incident Commanders: incident #42 https://pd/Q1"),
            "{text}"
        );
        assert!(text.contains("Carol White (Primary) — ✓ paged (responder request sent)"));
    }

    #[test]
    fn failed_page_lists_phones_and_says_to_call() {
        let o = outcome(
            vec![PersonResult::NotConfirmed, PersonResult::NotConfirmed],
            Some("PagerDuty did not answer in time (timeout)"),
            false,
        );
        let out = page_outcome(&o, None);
        assert!(out.alert);
        let text = out.plain();
        assert!(text.contains("PAGE NOT CONFIRMED"), "{text}");
        assert!(text.contains("timeout"));
        assert!(
            text.contains("Alice Smith (Primary) — ✗ NOT confirmed, call now: +1 5550101"),
            "{text}"
        );
        assert!(
            text.contains("Carol White (Primary) — ✗ NOT confirmed, call now: no phone on file")
        );
        assert!(text.contains("by hand"));
    }

    #[test]
    fn partial_page_shows_the_incident_and_who_to_call() {
        let o = outcome(
            vec![PersonResult::Assigned, PersonResult::NotConfirmed],
            Some("adding responders failed"),
            true,
        );
        let text = page_outcome(&o, None).plain();
        assert!(text.contains("Incident #42 was created"), "{text}");
        assert!(text.contains("Alice Smith (Primary) — ✓ paged"));
        assert!(text.contains("Carol White (Primary) — ✗ NOT confirmed"));
    }

    #[test]
    fn who_card_lists_contacts_and_schedules() {
        let v = view(SystemTime::now(), None);
        let snap = v.snapshot.as_deref().unwrap();
        let dan = snap.person(&UserId("dan".into())).unwrap();
        let text = who_card(dan, Some(snap)).plain();
        assert!(text.contains("Dan Brown <dan@example.com>"));
        assert!(text.contains("Phone: +1 5550104"));
        assert!(text.contains("On call now: Shadow"));
    }

    #[test]
    fn who_card_cuts_a_huge_email_in_the_page_hint() {
        let mut p = person("big", "Big", None);
        p.email = "x".repeat(1_000_000);
        let text = who_card(&p, None).plain();
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn help_lists_every_command() {
        let text = help().plain();
        for entry in Command::HELP {
            assert!(text.contains(entry.syntax), "{}", entry.syntax);
        }
    }
}
