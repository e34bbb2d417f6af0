//! `GET /`: the status page an operator opens during an incident. Server-rendered HTML that refreshes itself
//! every five seconds; no JavaScript; readable on a phone (viewport, one column, wrapping text). Facts in
//! words ("refreshed 3 s ago, ok", "4 of 4 confirmed"), never raw JSON. Every value is escaped, and only
//! http(s) URLs become links.
//!
//! One small function renders each group of facts; a new group is one more function and one more line in
//! [`render`].

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use icbot_actors::cache::oncall::{human_age, OnCallSnapshot, ScheduleOnCall};
use icbot_actors::pager::page::PageOutcome;
use icbot_actors::status::stalks::StalkInfo;
use icbot_actors::status::system_state::StatusCheck;
use icbot_actors::status::system_state::SystemState;

use super::facts::{ActorFacts, Asked, Readiness};
use super::view::StatusView;
pub use crate::html::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em auto;max-width:60em;padding:0 .5em;color:#222;line-height:1.4}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.4em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #eee;padding:.35em;text-align:left;vertical-align:top;overflow-wrap:break-word}\
ul{padding-left:1.2em}li{margin:.2em 0;overflow-wrap:anywhere}\
.ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}.muted{color:#777}";

/// The whole page.
pub fn render(view: &StatusView) -> String {
    let mut html = String::with_capacity(16 * 1024);
    head(&mut html);
    readiness(&mut html, &view.tree.readiness, view);
    on_call(&mut html, view);
    refresh(&mut html, view);
    last_check(&mut html, &view.answers.status, view.now);
    pages(&mut html, &view.pages, view.now);
    stalks(&mut html, &view.answers.stalks, view.now);
    actors(&mut html, view);
    html.push_str("<p class=\"muted\">JSON: <a href=\"/actors\">/actors</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/metrics\">/metrics</a></p></body></html>");
    html
}

fn head(html: &mut String) {
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"5\">");
    let _ = write!(
        html,
        "<title>icbot</title><style>{STYLE}</style></head><body>"
    );
}

fn readiness(html: &mut String, r: &Readiness, view: &StatusView) {
    if r.ready {
        html.push_str("<h1>icbot <span class=\"ok\">ready</span></h1>");
    } else {
        html.push_str("<h1>icbot <span class=\"bad\">not ready</span></h1><ul>");
        for why in &r.not_ready {
            let _ = write!(html, "<li class=\"bad\">{}</li>", escape(why));
        }
        html.push_str("</ul>");
    }
    if !r.degraded.is_empty() {
        html.push_str("<p>degraded:</p><ul>");
        for why in &r.degraded {
            let _ = write!(html, "<li class=\"bad\">{}</li>", escape(why));
        }
        html.push_str("</ul>");
    }
    let state = &view.tree.state;
    if let Some(last) = &state.last_write_failure {
        let _ = write!(
            html,
            "<p class=\"bad\">state writes: {} failed; last {} s ago: {}: {}</p>",
            state.write_failures,
            last.at.age_secs,
            escape(&last.file),
            escape(&last.error)
        );
    }
    let started = SystemTime::UNIX_EPOCH + Duration::from_millis(view.instance.started_unix_ms);
    let _ = write!(
        html,
        "<p class=\"muted\">pid {}, up {} (instance {})</p>",
        view.instance.pid,
        ago(started, view.now),
        escape(&view.instance.id)
    );
}

fn on_call(html: &mut String, view: &StatusView) {
    html.push_str("<h2>On call now</h2>");
    let snapshot = match &view.snapshot {
        None => {
            html.push_str("<p class=\"bad\">No on-call data yet: neither PagerDuty nor the state file has answered.</p>");
            return;
        }
        Some(Asked::Answer(snapshot)) => snapshot,
        Some(other) => {
            let _ = write!(
                html,
                "<p class=\"bad\">The on-call cache {}.</p>",
                escape(&other.why_not().unwrap_or_default())
            );
            return;
        }
    };
    html.push_str("<table><tr><th>schedule</th><th>on call</th></tr>");
    schedule_rows(html, snapshot, &snapshot.incident_commanders);
    schedule_rows(html, snapshot, &snapshot.responders);
    html.push_str("</table>");
}

fn schedule_rows(html: &mut String, snapshot: &OnCallSnapshot, schedules: &[ScheduleOnCall]) {
    for s in schedules {
        let people = if s.people.is_empty() {
            "<span class=\"bad\">nobody</span>".to_string()
        } else {
            s.people
                .iter()
                .map(|id| {
                    escape(
                        snapshot
                            .person(id)
                            .map_or(id.0.as_str(), |p| p.name.as_str()),
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{people}</td></tr>",
            escape(&s.schedule.label)
        );
    }
}

fn refresh(html: &mut String, view: &StatusView) {
    let c = &view.cache;
    html.push_str("<h2>On-call data</h2><ul>");
    match &c.last_refresh {
        None => html.push_str("<li class=\"muted\">not refreshed from PagerDuty yet</li>"),
        Some(r) if r.ok && r.partial => {
            let _ = write!(
                html,
                "<li class=\"bad\">refreshed {} ago, partial: {} contact lookups failed (those phones may be out of date)</li>",
                ago(r.at, view.now),
                r.failed_lookups
            );
        }
        Some(r) if r.ok => {
            let _ = write!(
                html,
                "<li class=\"ok\">refreshed {} ago, ok</li>",
                ago(r.at, view.now)
            );
        }
        Some(r) => {
            let _ = write!(
                html,
                "<li class=\"bad\">last refresh {} ago failed: {}</li>",
                ago(r.at, view.now),
                escape(r.error.as_deref().unwrap_or("unknown error"))
            );
        }
    }
    match c.snapshot_taken_at {
        None => html.push_str("<li class=\"bad\">no snapshot</li>"),
        Some(taken) => {
            let from = if c.from_state_file {
                " (read from the state file; PagerDuty has not answered since the start)"
            } else {
                ""
            };
            let _ = write!(
                html,
                "<li>serving the snapshot taken {} ago{from}</li>",
                ago(taken, view.now)
            );
        }
    }
    html.push_str("</ul>");
}

fn last_check(html: &mut String, status: &Asked<Option<StatusCheck>>, now: SystemTime) {
    html.push_str("<h2>System state</h2><p>");
    match status {
        Asked::Answer(None) => html.push_str("<span class=\"muted\">not checked yet</span>"),
        Asked::Answer(Some(check)) => {
            let (class, detail) = match &check.state {
                SystemState::Known(r) => ("ok", r.summary.clone()),
                SystemState::Unknown(e) => ("bad", e.to_string()),
            };
            let class = if check.state.word() == "NORMAL" {
                class
            } else {
                "bad"
            };
            let _ = write!(
                html,
                "<span class=\"{class}\">{}</span>, checked {} ago: {}",
                escape(&check.state.word()),
                ago(check.checked_at, now),
                escape(&detail)
            );
        }
        other => {
            let _ = write!(
                html,
                "<span class=\"bad\">the status checker {}</span>",
                escape(&other.why_not().unwrap_or_default())
            );
        }
    }
    html.push_str("</p>");
}

fn pages(html: &mut String, pages: &Asked<Vec<PageOutcome>>, now: SystemTime) {
    html.push_str("<h2>Last pages</h2>");
    let list = match pages {
        Asked::Answer(list) => list,
        other => {
            let _ = write!(
                html,
                "<p class=\"bad\">The pager {}.</p>",
                escape(&other.why_not().unwrap_or_default())
            );
            return;
        }
    };
    if list.is_empty() {
        html.push_str("<p class=\"muted\">No page since the pager started.</p>");
        return;
    }
    html.push_str("<ul>");
    for o in list {
        let confirmed = o.results.len() - o.not_confirmed().count();
        let outcome = if o.everyone_confirmed() {
            format!(
                "<span class=\"ok\">{confirmed} of {} confirmed</span>",
                o.results.len()
            )
        } else {
            format!(
                "<span class=\"bad\">{confirmed} of {} confirmed: {}</span>",
                o.results.len(),
                escape(o.failure.as_deref().unwrap_or("not confirmed"))
            )
        };
        let incident = match &o.incident {
            Some(i) if is_web_url(&i.html_url) => format!(
                "<a href=\"{}\">incident #{}</a>",
                escape(&i.html_url),
                i.number
            ),
            Some(i) => format!("incident #{}", i.number),
            None => "no incident".to_string(),
        };
        let _ = write!(
            html,
            "<li>{} ago: {} paged by {} in #{}: {incident}, {outcome}</li>",
            ago(o.at, now),
            escape(&o.request.audience),
            escape(&o.request.requested_by),
            escape(&o.request.reply_to.channel),
        );
    }
    html.push_str("</ul>");
}

fn stalks(html: &mut String, stalks: &Asked<Vec<StalkInfo>>, now: SystemTime) {
    html.push_str("<h2>Stalking channels</h2>");
    match stalks {
        Asked::Answer(list) if list.is_empty() => {
            html.push_str("<p class=\"muted\">None.</p>");
        }
        Asked::Answer(list) => {
            html.push_str("<ul>");
            for s in list {
                let posted = s
                    .last_posted
                    .as_ref()
                    .map(|state| format!(", last posted {}", escape(&state.word())))
                    .unwrap_or_default();
                let _ = write!(
                    html,
                    "<li>#{} since {} ago{posted}</li>",
                    escape(&s.target.channel),
                    ago(s.since, now)
                );
            }
            html.push_str("</ul>");
        }
        other => {
            let _ = write!(
                html,
                "<p class=\"bad\">The stalk supervisor {}.</p>",
                escape(&other.why_not().unwrap_or_default())
            );
        }
    }
}

fn actors(html: &mut String, view: &StatusView) {
    html.push_str("<h2>Actors</h2><table><tr><th>actor</th><th>state</th><th>restarts</th></tr>");
    for actor in &view.tree.actors {
        actor_row(html, actor, view);
    }
    html.push_str("</table>");
}

fn actor_row(html: &mut String, a: &ActorFacts, view: &StatusView) {
    let depth = match a.parent.as_deref() {
        None => 0,
        Some(p) if a.name.contains("stalk:") && p.ends_with("stalks") => 2,
        Some(_) => 1,
    };
    let indent = "&nbsp;&nbsp;".repeat(depth * 2);
    let class = if a.status == "running" { "ok" } else { "bad" };
    // The root's children keep a history; a stalk actor its last failure.
    let history: Vec<(SystemTime, &str)> = match view.health.iter().find(|h| h.name == a.name) {
        Some(h) => h
            .failures
            .iter()
            .map(|f| (f.at, f.reason.as_str()))
            .collect(),
        None => a
            .last_failure
            .iter()
            .map(|f| {
                (
                    view.now - Duration::from_secs(f.age_secs),
                    f.reason.as_str(),
                )
            })
            .collect(),
    };
    let restarts = if a.restarts == 0 {
        "<span class=\"muted\">none</span>".to_string()
    } else {
        let mut text = format!("{}", a.restarts);
        if !history.is_empty() {
            text.push_str("<ul>");
            for (at, reason) in history {
                let _ = write!(
                    text,
                    "<li>{} ago: {}</li>",
                    ago(at, view.now),
                    escape(reason)
                );
            }
            text.push_str("</ul>");
        }
        text
    };
    let _ = write!(
        html,
        "<tr><td>{indent}{}</td><td class=\"{class}\">{}</td><td>{restarts}</td></tr>",
        escape(&a.name),
        escape(&a.status),
    );
}

/// "3 s", "2 min": how long ago `at` was.
fn ago(at: SystemTime, now: SystemTime) -> String {
    human_age(now.duration_since(at).unwrap_or_default())
}

fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use icbot_actors::cache::oncall::{Person, ScheduleRef, UserId};
    use icbot_actors::cache::schedule_cache::{CacheFacts, RefreshResult};
    use icbot_actors::chat::ChatTarget;
    use icbot_actors::pager::page::{PageRequest, PageTarget, PersonResult, Targeting};
    use icbot_actors::ports::Incident;
    use icbot_actors::root::{Child, ChildHealth};
    use icbot_actors::supervision::child::Failure;

    use super::*;
    use crate::admin::facts::{ActorAnswers, FailureFacts, TreeFacts};
    use crate::instance::Instance;

    fn person(id: &str, name: &str) -> Person {
        Person {
            id: UserId(id.into()),
            name: name.into(),
            email: format!("{id}@example.com"),
            phones: vec![],
            contacts_fetched_at: None,
        }
    }

    fn view(hostile: &str) -> StatusView {
        let now = SystemTime::now();
        let alice = person("P1", hostile);
        let snapshot = OnCallSnapshot {
            taken_at: now,
            incident_commanders: vec![
                ScheduleOnCall {
                    schedule: ScheduleRef {
                        id: "S1".into(),
                        label: "IC Primary".into(),
                    },
                    people: vec![alice.id.clone()],
                    shift_ends: Default::default(),
                },
                ScheduleOnCall {
                    schedule: ScheduleRef {
                        id: "S2".into(),
                        label: "IC Backup".into(),
                    },
                    people: vec![],
                    shift_ends: Default::default(),
                },
            ],
            responders: vec![],
            people: BTreeMap::from([(alice.id.clone(), alice.clone())]),
        };
        let page = PageOutcome {
            request: PageRequest {
                requested_by: "dana".into(),
                reply_to: ChatTarget::channel("ops"),
                audience: "the Incident Commanders".into(),
                targets: vec![],
                message: None,
                again: false,
                targeting: Targeting::IncidentCommanders,
            },
            incident: Some(Incident {
                id: "Q1".into(),
                number: 7,
                html_url: "javascript:alert(1)".into(),
            }),
            results: vec![(
                PageTarget {
                    person: alice,
                    role: None,
                },
                PersonResult::Assigned,
            )],
            failure: None,
            at: now - Duration::from_secs(120),
            duplicate_of: None,
            page_id: None,
            incident_key: None,
        };
        let failure = Failure {
            reason: "crash requested (chaos)".into(),
            at: now - Duration::from_secs(90),
        };
        StatusView {
            now,
            instance: Instance::now(),
            tree: TreeFacts {
                readiness: Readiness {
                    ready: false,
                    not_ready: vec!["the chat adapter is not connected".into()],
                    degraded: vec![],
                    tree_up: true,
                    chat_connected: false,
                    has_snapshot: true,
                    failing: vec![],
                    instance: None,
                },
                state: Default::default(),
                ha: None,
                actors: vec![ActorFacts {
                    name: "pager".into(),
                    id: Some("0.7".into()),
                    status: "running".into(),
                    parent: Some("icbot".into()),
                    children: vec![],
                    restarts: 1,
                    failing: false,
                    last_failure: Some(FailureFacts {
                        reason: failure.reason.clone(),
                        at_unix: 0,
                        age_secs: 90,
                    }),
                    facts: BTreeMap::new(),
                }],
            },
            answers: ActorAnswers {
                pager: Asked::Answer(None),
                status: Asked::Slow,
                stalks: Asked::Answer(vec![]),
            },
            cache: CacheFacts {
                snapshot_taken_at: Some(now - Duration::from_secs(3)),
                from_state_file: false,
                last_refresh: Some(RefreshResult {
                    ok: true,
                    partial: false,
                    failed_lookups: 0,
                    at: now - Duration::from_secs(3),
                    error: None,
                }),
            },
            snapshot: Some(Asked::Answer(Arc::new(snapshot))),
            pages: Asked::Answer(vec![page]),
            health: vec![ChildHealth {
                child: Child::Pager,
                name: "pager".into(),
                actor_id: None,
                running: true,
                restarts: 1,
                last_failure: Some(failure.clone()),
                failures: vec![failure],
                failing: false,
            }],
        }
    }

    #[test]
    fn facts_are_in_words() {
        let html = render(&view("Alice Moreau"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("not ready"));
        assert!(html.contains("refreshed 3 s ago, ok"), "{html}");
        assert!(
            html.contains("<td>IC Primary</td><td>Alice Moreau</td>"),
            "{html}"
        );
        assert!(html.contains("<td>IC Backup</td><td><span class=\"bad\">nobody</span>"));
        assert!(
            html.contains("2 min ago: the Incident Commanders paged by dana in #ops: incident #7, <span class=\"ok\">1 of 1 confirmed</span>"),
            "{html}"
        );
        assert!(
            html.contains("<li>1 min ago: crash requested (chaos)</li>"),
            "{html}"
        );
        assert!(html.contains("did not answer within 500 ms"), "{html}");
        assert!(!html.contains("<script"));
        assert!(!html.contains("{\""), "no raw JSON: {html}");
    }

    #[test]
    fn everything_is_escaped_and_only_web_urls_are_links() {
        let html = render(&view("<script>x</script> \"q\" & 'a'"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt; &quot;q&quot; &amp; &#39;a&#39;"));
        assert!(!html.contains("javascript:"), "{html}");
    }
}
