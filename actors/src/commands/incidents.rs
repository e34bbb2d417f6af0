//! After the page: `!ic incidents`, `!ic ack`, `!ic resolve` and `!ic note`, run within the lookup deadline.
//!
//! One listing of the open incidents (`GET /incidents`) finds the incident by its number, or, without a
//! number, the one this channel paged most recently (from the page audit log) if it is still open; otherwise
//! the reply lists the open ones and asks which. The write goes to PagerDuty as the person who asked when
//! their chat email is a PagerDuty user the bot knows, else as the bot "on behalf of" them, and it is sent
//! once: a write without an answer is reported "not confirmed" with the incident's link, never re-sent.
//! Every answer is recorded in the incident audit log ([`crate::commands::incident_audit`]).
//!
//! Gets what it needs in an [`IncidentsContext`] (PagerDuty, the chat for a user's email, the on-call snapshot
//! for who is who, the audit logs) from the command runner, which it does not import; reads the
//! page audit log; never the reverse.

use std::time::{Duration, SystemTime};

use crate::chat::InboundMessage;
use crate::commands::incident_audit::{IncidentAction, IncidentAuditRecord, IncidentOutcome};
use std::sync::Arc;

use crate::cache::oncall::OnCallSnapshot;
use crate::commands::incident_audit::IncidentAudit;
use crate::deadline::Deadline;
use crate::pager::audit::AuditEvent;
use crate::pager::audit::AuditLog;
use crate::ports::{ChatOut, PagerDutyApi};
use crate::ports::{IncidentState, IncidentStatus, PagerDutyError};
use crate::reply::{code, strong, text, Reply, Span};
use crate::truncate::truncate;

/// What the incident commands use, lent by the command runner.
pub struct IncidentsContext<'a> {
    pub pagerduty: &'a dyn PagerDutyApi,
    pub chat: &'a dyn ChatOut,
    /// Who is who: a person whose chat email is here acts as themselves in PagerDuty.
    pub snapshot: Option<Arc<OnCallSnapshot>>,
    /// The page audit log: which incident a channel paged last.
    pub page_audit: Option<&'a AuditLog>,
    /// Where every incident command's answer is recorded.
    pub audit: Option<&'a IncidentAudit>,
}

/// How far back "the incident this channel paged most recently" is looked for.
pub const LAST_PAGE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most characters of an incident title a reply shows.
const TITLE_MAX: usize = 120;

/// What a command asks of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Ack,
    Resolve { note: Option<String> },
    Note { text: String },
}

impl Change {
    fn action(&self) -> IncidentAction {
        match self {
            Change::Ack => IncidentAction::Ack,
            Change::Resolve { .. } => IncidentAction::Resolve,
            Change::Note { .. } => IncidentAction::Note,
        }
    }

    /// The verb for replies: "acknowledge", "resolve", "add a note to".
    fn verb(&self) -> &'static str {
        match self {
            Change::Ack => "acknowledge",
            Change::Resolve { .. } => "resolve",
            Change::Note { .. } => "add a note to",
        }
    }

    /// The command to type for another incident.
    fn command(&self) -> &'static str {
        match self {
            Change::Ack => "!ic ack <number>",
            Change::Resolve { .. } => "!ic resolve <number> [note]",
            Change::Note { .. } => "!ic note <number> <text>",
        }
    }
}

/// As whom PagerDuty is told a change was made.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Actor {
    /// The person's PagerDuty login (`From`), `None` to act as the bot.
    from: Option<String>,
    /// Their name for the reply: a PagerDuty name, or the chat user id when the bot acts for them.
    name: String,
}

/// `!ic incidents`: the open incidents on the service, newest first.
pub async fn list(ctx: &IncidentsContext<'_>, msg: &InboundMessage, deadline: Deadline) -> Reply {
    let listed = deadline.timeout(ctx.pagerduty.open_incidents()).await;
    let (reply, outcome, detail) = match flatten(listed) {
        Ok(mut open) => {
            open.sort_by_key(|i| std::cmp::Reverse(i.number));
            (
                listing(&open, SystemTime::now()),
                IncidentOutcome::Done,
                None,
            )
        }
        Err(e) => (
            Reply::text(format!("⚠ Cannot list the open incidents: {e}.")).alerting(),
            IncidentOutcome::Failed,
            Some(e.to_string()),
        ),
    };
    record(ctx, msg, IncidentAction::List, None, None, outcome, detail);
    reply
}

/// `!ic ack`, `!ic resolve`, `!ic note`: finds the incident, then asks PagerDuty once.
pub async fn change(
    ctx: &IncidentsContext<'_>,
    msg: &InboundMessage,
    number: Option<u64>,
    change: Change,
    deadline: Deadline,
) -> Reply {
    let action = change.action();
    let (listed, actor) = tokio::join!(
        deadline.timeout(ctx.pagerduty.open_incidents()),
        actor(ctx, &msg.user, deadline),
    );
    let open = match flatten(listed) {
        Ok(open) => open,
        Err(e) => {
            let reply = Reply::text(format!(
                "⚠ Cannot {} {}: finding it in PagerDuty failed ({e}). Nothing was changed; use PagerDuty directly.",
                change.verb(),
                number.map_or("the incident".to_string(), |n| format!("#{n}")),
            ))
            .alerting();
            record(
                ctx,
                msg,
                action,
                number,
                None,
                IncidentOutcome::Failed,
                Some(e.to_string()),
            );
            return reply;
        }
    };
    let target = match choose(ctx, msg, number, &open, &change) {
        Ok(target) => target,
        Err(reply) => {
            record(
                ctx,
                msg,
                action,
                number,
                None,
                IncidentOutcome::Refused,
                Some(reply.plain()),
            );
            return reply;
        }
    };
    let from = actor.from.as_deref();
    let sent = match &change {
        Change::Ack => ask(
            deadline,
            ctx.pagerduty
                .set_incident_status(&target.id, IncidentStatus::Acknowledged, None, from),
        )
        .await
        .map(|_| ()),
        Change::Resolve { note } => ask(
            deadline,
            ctx.pagerduty.set_incident_status(
                &target.id,
                IncidentStatus::Resolved,
                note.as_deref(),
                from,
            ),
        )
        .await
        .map(|_| ()),
        Change::Note { text } => {
            ask(deadline, ctx.pagerduty.add_note(&target.id, text, from)).await
        }
    };
    let (reply, outcome) = answer(&change, &target, &actor, sent.as_ref().err());
    let detail = sent.err().map(|e| e.to_string());
    record(
        ctx,
        msg,
        action,
        Some(target.number),
        actor.from.clone(),
        outcome,
        detail,
    );
    reply
}

/// A PagerDuty call bounded by what is left of the deadline; running out is a timeout.
async fn ask<T>(
    deadline: Deadline,
    call: impl std::future::Future<Output = Result<T, PagerDutyError>>,
) -> Result<T, PagerDutyError> {
    flatten(deadline.timeout(call).await)
}

fn flatten<T>(
    result: Result<Result<T, PagerDutyError>, tokio::time::error::Elapsed>,
) -> Result<T, PagerDutyError> {
    result.unwrap_or(Err(PagerDutyError::Timeout))
}

/// Who is acting: their chat email when it is a PagerDuty user the bot knows, else the bot for them.
async fn actor(ctx: &IncidentsContext<'_>, chat_user: &str, deadline: Deadline) -> Actor {
    let on_behalf = Actor {
        from: None,
        name: chat_user.to_string(),
    };
    let email = match tokio::time::timeout(deadline.remaining() / 4, ctx.chat.email_of(chat_user))
        .await
    {
        Ok(Ok(Some(email))) => email.to_lowercase(),
        Ok(Ok(None)) => return on_behalf,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, user = chat_user, "cannot look up the chat user's email; acting as the bot");
            return on_behalf;
        }
        Err(_) => {
            tracing::warn!(
                user = chat_user,
                "looking up the chat user's email timed out; acting as the bot"
            );
            return on_behalf;
        }
    };
    let person = ctx.snapshot.as_ref().and_then(|s| {
        s.people
            .values()
            .find(|p| p.email.to_lowercase() == email)
            .cloned()
    });
    match person {
        Some(p) => Actor {
            from: Some(p.email.clone()),
            name: p.name,
        },
        None => on_behalf,
    }
}

/// The incident a change is for, or the reply saying why there is none.
fn choose(
    ctx: &IncidentsContext<'_>,
    msg: &InboundMessage,
    number: Option<u64>,
    open: &[IncidentState],
    change: &Change,
) -> Result<IncidentState, Reply> {
    if let Some(n) = number {
        if let Some(found) = open.iter().find(|i| i.number == n) {
            return Ok(found.clone());
        }
        // Not open: a note may still go to an incident the bot paged (PagerDuty keeps notes on resolved ones).
        let paged = paged_incident(ctx, |i| i.number == n);
        return match (paged, change) {
            (Some(i), Change::Note { .. }) => Ok(IncidentState {
                id: i.id,
                number: i.number,
                title: String::new(),
                status: IncidentStatus::Resolved,
                html_url: i.html_url,
                created_at: None,
                assigned: Vec::new(),
                acknowledged_by: Vec::new(),
            }),
            (Some(i), _) => {
                let mut reply = Reply::new();
                reply.line(vec![
                    text(format!("Incident #{n} is not open any more (already resolved); nothing was changed: ")),
                    link(&i.html_url),
                ]);
                Err(reply)
            }
            (None, _) => Err(which_one(
                &format!("There is no open incident #{n} on the service."),
                open,
                change,
            )),
        };
    }
    let channel = &msg.reply_to.channel;
    let last = last_paged_here(ctx, channel);
    if let Some(last) = &last {
        if let Some(found) = open
            .iter()
            .find(|i| i.id == last.id || i.number == last.number)
        {
            return Ok(found.clone());
        }
    }
    let why = match last {
        Some(last) => format!(
            "The last incident paged here, #{}, is not open any more.",
            last.number
        ),
        None => "No incident was paged from this channel lately.".to_string(),
    };
    Err(which_one(&why, open, change))
}

/// The newest incident the bot paged (per the page audit log) that matches.
fn paged_incident(
    ctx: &IncidentsContext<'_>,
    matches: impl Fn(&crate::ports::Incident) -> bool,
) -> Option<crate::ports::Incident> {
    let audit = ctx.page_audit?;
    let since = SystemTime::now() - LAST_PAGE_WINDOW;
    audit
        .recent(since)
        .into_iter()
        .rev()
        .filter(|r| r.event == AuditEvent::Outcome)
        .filter_map(|r| r.incident)
        .find(|i| matches(i))
}

/// The incident this channel paged most recently, per the page audit log.
fn last_paged_here(ctx: &IncidentsContext<'_>, channel: &str) -> Option<crate::ports::Incident> {
    let audit = ctx.page_audit?;
    let since = SystemTime::now() - LAST_PAGE_WINDOW;
    audit
        .recent(since)
        .into_iter()
        .rev()
        .filter(|r| r.event == AuditEvent::Outcome && r.channel == channel)
        .find_map(|r| r.incident)
}

/// "Which one?": why there is no incident to act on, and the open ones to choose from.
fn which_one(why: &str, open: &[IncidentState], change: &Change) -> Reply {
    let mut reply = Reply::new();
    if open.is_empty() {
        reply.line(vec![text(format!(
            "{why} There are no open incidents on the service."
        ))]);
        return reply;
    }
    reply.line(vec![
        text(format!("{why} Which one? ")),
        code(change.command()),
    ]);
    let mut newest_first = open.to_vec();
    newest_first.sort_by_key(|i| std::cmp::Reverse(i.number));
    for incident in &newest_first {
        reply.line(incident_line(incident, SystemTime::now()));
    }
    reply
}

/// The reply to a change PagerDuty answered (or did not), and how it ended.
fn answer(
    change: &Change,
    target: &IncidentState,
    actor: &Actor,
    error: Option<&PagerDutyError>,
) -> (Reply, IncidentOutcome) {
    let n = target.number;
    let mut reply = Reply::new();
    let Some(error) = error else {
        let done = match change {
            Change::Ack => format!("Acknowledged #{n}"),
            Change::Resolve { .. } => format!("Resolved #{n}"),
            Change::Note { .. } => format!("Added a note to #{n}"),
        };
        let mut head = vec![strong(done)];
        if !target.title.is_empty() {
            head.push(text(format!(" {}", truncate(&target.title, TITLE_MAX))));
        }
        head.push(text(match &actor.from {
            Some(_) => format!(" — by {}: ", actor.name),
            None => format!(" — by the bot on behalf of {}: ", actor.name),
        }));
        head.push(link(&target.html_url));
        reply.line(head);
        if actor.from.is_none() {
            reply.line(vec![text(
                "(No PagerDuty user has their chat email, so PagerDuty shows the bot.)",
            )]);
        }
        return (reply, IncidentOutcome::Done);
    };
    let verb = change.verb();
    match error {
        PagerDutyError::AlreadyResolved => {
            reply.line(vec![
                text(format!(
                    "Incident #{n} is already resolved; nothing was changed: "
                )),
                link(&target.html_url),
            ]);
            (reply, IncidentOutcome::Refused)
        }
        PagerDutyError::NotFound => {
            reply.line(vec![text(format!(
                "PagerDuty has no incident #{n} any more (404); nothing was changed."
            ))]);
            (reply, IncidentOutcome::Refused)
        }
        PagerDutyError::Forbidden { message } => {
            let who = match &actor.from {
                Some(_) => actor.name.clone(),
                None => "the bot".to_string(),
            };
            reply.line(vec![
                strong("⚠ PagerDuty refused: "),
                text(format!(
                    "{who} may not {verb} #{n} (403: {message}). Nothing was changed; ask someone with a responder role, or use PagerDuty: "
                )),
                link(&target.html_url),
            ]);
            (reply.alerting(), IncidentOutcome::Refused)
        }
        PagerDutyError::RateLimited { .. } => {
            reply.line(vec![
                strong("⚠ PagerDuty rate limited the bot (429): "),
                text(format!(
                    "#{n} was NOT changed. Try again in a minute, or use PagerDuty: "
                )),
                link(&target.html_url),
            ]);
            (reply.alerting(), IncidentOutcome::Refused)
        }
        PagerDutyError::Rejected { status, .. } if *status < 500 => {
            reply.line(vec![
                strong(format!("⚠ PagerDuty refused to {verb} #{n}: ")),
                text(format!("{error}. Nothing was changed; use PagerDuty: ")),
                link(&target.html_url),
            ]);
            (reply.alerting(), IncidentOutcome::Refused)
        }
        // A timeout, a cut connection, a 5xx or an unreadable answer: it may have happened.
        other => {
            reply.line(vec![
                strong(format!(
                    "⚠ NOT CONFIRMED: the bot asked PagerDuty to {verb} #{n}, "
                )),
                text(format!(
                    "and got no confirmation ({other}). It was not sent again; check the incident: "
                )),
                link(&target.html_url),
            ]);
            (reply.alerting(), IncidentOutcome::NotConfirmed)
        }
    }
}

/// The listing of open incidents, newest first.
pub fn listing(open: &[IncidentState], now: SystemTime) -> Reply {
    let mut reply = Reply::new();
    if open.is_empty() {
        reply.line(vec![text("No open incidents on the service.")]);
        return reply;
    }
    reply.line(vec![strong(format!("Open incidents ({}):", open.len()))]);
    for incident in open {
        reply.line(incident_line(incident, now));
    }
    reply
}

/// `#12 Checkout is down — TRIGGERED, assigned to Alice Moreau, 5 min ago: <link>`
fn incident_line(i: &IncidentState, now: SystemTime) -> Vec<Span> {
    let status = i.status.as_str().to_uppercase();
    let people = match i.status {
        IncidentStatus::Acknowledged if !i.acknowledged_by.is_empty() => {
            format!(", acknowledged by {}", i.acknowledged_by.join(", "))
        }
        _ if !i.assigned.is_empty() => format!(", assigned to {}", i.assigned.join(", ")),
        _ => String::new(),
    };
    let age = i
        .created_at
        .and_then(|t| now.duration_since(t).ok())
        .map(|age| format!(", {} ago", crate::cache::oncall::human_age(age)))
        .unwrap_or_default();
    vec![
        strong(format!("#{}", i.number)),
        text(format!(" {} — ", truncate(&i.title, TITLE_MAX))),
        strong(status),
        text(format!("{people}{age}: ")),
        link(&i.html_url),
    ]
}

fn link(url: &str) -> Span {
    Span::Link {
        url: url.to_string(),
        label: url.to_string(),
    }
}

fn record(
    ctx: &IncidentsContext<'_>,
    msg: &InboundMessage,
    action: IncidentAction,
    incident: Option<u64>,
    acted_as: Option<String>,
    outcome: IncidentOutcome,
    detail: Option<String>,
) {
    let Some(audit) = ctx.audit else {
        return;
    };
    audit.append(&IncidentAuditRecord {
        at: SystemTime::now(),
        who: msg.user.clone(),
        channel: msg.reply_to.channel.clone(),
        action,
        incident,
        acted_as,
        outcome,
        detail,
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::oncall::UserId;
    use crate::chat::ChatTarget;
    use crate::commands::incident_audit::{IncidentAudit, INCIDENT_AUDIT_FILE};
    use crate::commands::parse::Command;
    use crate::commands::run::{run_command, CommandContext, Deadlines};
    use crate::fakes::{FakeMode, FakePagerDuty, RecordingChat};
    use crate::pager::audit::{AuditLog, AuditRecord, DEFAULT_MAX_BYTES};
    use crate::ports::{NewIncident, PagerDutyApi, StateStore};
    use crate::state_store::MemoryStateStore;
    use crate::supervision::names::ActorNames;

    const LOOKUP: Duration = Duration::from_secs(5);

    struct Room {
        ctx: CommandContext,
        pd: Arc<FakePagerDuty>,
        store: Arc<MemoryStateStore>,
        audit: Arc<AuditLog>,
    }

    /// A context without a tree (nobody's email is known, so the bot acts on behalf of people).
    fn room(prefix: &str) -> Room {
        let store = Arc::new(MemoryStateStore::new());
        let pd = Arc::new(FakePagerDuty::demo());
        let audit = Arc::new(AuditLog::new(store.clone(), DEFAULT_MAX_BYTES));
        let deadlines = Deadlines {
            lookup: LOOKUP,
            page: Duration::from_secs(10),
            status: Duration::from_secs(5),
        };
        let ctx = CommandContext::new(
            ActorNames::with_prefix(prefix),
            RecordingChat::new(),
            pd.clone(),
            deadlines,
        )
        .with_audit(audit.clone())
        .with_incident_audit(Arc::new(IncidentAudit::new(store.clone(), 1 << 20)));
        Room {
            ctx,
            pd,
            store,
            audit,
        }
    }

    fn said(channel: &str, text: &str) -> InboundMessage {
        InboundMessage {
            reply_to: ChatTarget::channel(channel),
            user: "dana".into(),
            text: text.into(),
            direct: false,
        }
    }

    impl Room {
        /// An incident opened by a page from `channel`, as the pager records it.
        async fn paged_from(&self, channel: &str, title: &str) -> crate::ports::Incident {
            let incident = self
                .pd
                .create_incident(&NewIncident {
                    title: title.into(),
                    details: String::new(),
                    assignee: UserId("alice".into()),
                    incident_key: None,
                })
                .await
                .unwrap();
            let mut record = AuditRecord::unanswered(
                &said(channel, "!ic page"),
                "them".into(),
                None,
                "x".into(),
            );
            record.incident = Some(incident.clone());
            self.audit.append(&record);
            incident
        }

        async fn say(&self, channel: &str, text: &str) -> (String, Duration) {
            let msg = said(channel, text);
            let command = Command::parse(text).unwrap().unwrap();
            let started = tokio::time::Instant::now();
            let reply = run_command(&self.ctx, &msg, command, None).await.plain();
            (reply, started.elapsed())
        }

        fn audit_lines(&self) -> Vec<IncidentAuditRecord> {
            let bytes = self
                .store
                .load(INCIDENT_AUDIT_FILE)
                .unwrap()
                .unwrap_or_default();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ack_without_a_number_takes_the_incident_this_channel_paged_last() {
        let room = room("inc-ack-last/");
        room.paged_from("ops", "db down").await;
        let other = room.paged_from("elsewhere", "cdn down").await;
        let mine = room.paged_from("ops", "checkout down").await;
        let (reply, _) = room.say("ops", "!ic ack").await;
        assert!(
            reply.starts_with("Acknowledged #3 checkout down — by the bot on behalf of dana: "),
            "{reply}"
        );
        let writes = room.pd.status_writes.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![(mine.id.clone(), IncidentStatus::Acknowledged, None, None)]
        );
        assert_ne!(mine.id, other.id);
        let audit = room.audit_lines();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, IncidentAction::Ack);
        assert_eq!(audit[0].incident, Some(3));
        assert_eq!(audit[0].outcome, IncidentOutcome::Done);
        assert_eq!(audit[0].who, "dana");
        assert_eq!(audit[0].channel, "ops");
    }

    #[tokio::test(start_paused = true)]
    async fn resolve_by_number_sends_the_resolution_note() {
        let room = room("inc-resolve/");
        let incident = room.paged_from("ops", "db down").await;
        let (reply, _) = room.say("random", "!ic resolve #1 rolled back").await;
        assert!(reply.starts_with("Resolved #1 db down"), "{reply}");
        assert_eq!(
            room.pd.status_writes.lock().unwrap().clone(),
            vec![(
                incident.id,
                IncidentStatus::Resolved,
                Some("rolled back".into()),
                None
            )]
        );
        let (again, _) = room.say("random", "!ic ack 1").await;
        assert!(
            again.starts_with(
                "Incident #1 is not open any more (already resolved); nothing was changed"
            ),
            "{again}"
        );
        assert_eq!(
            room.pd.status_writes.lock().unwrap().len(),
            1,
            "nothing sent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_with_a_resolve_elsewhere_is_reported_as_already_resolved() {
        let room = room("inc-race/");
        let incident = room.paged_from("ops", "db down").await;
        // Listed open, resolved in PagerDuty before the write arrives.
        let (reply, outcome) = answer(
            &Change::Ack,
            &IncidentState {
                id: incident.id,
                number: 1,
                title: "db down".into(),
                status: IncidentStatus::Triggered,
                html_url: incident.html_url,
                created_at: None,
                assigned: vec![],
                acknowledged_by: vec![],
            },
            &Actor {
                from: None,
                name: "dana".into(),
            },
            Some(&PagerDutyError::AlreadyResolved),
        );
        assert!(reply
            .plain()
            .starts_with("Incident #1 is already resolved; nothing was changed"));
        assert_eq!(outcome, IncidentOutcome::Refused);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_number_lists_the_open_ones_and_asks_which() {
        let room = room("inc-unknown/");
        room.paged_from("ops", "db down").await;
        room.paged_from("ops", "cdn down").await;
        let (reply, _) = room.say("ops", "!ic ack 99").await;
        let lines: Vec<&str> = reply.lines().collect();
        assert_eq!(
            lines[0],
            "There is no open incident #99 on the service. Which one? !ic ack <number>"
        );
        assert!(
            lines[1].starts_with("#2 cdn down — TRIGGERED, assigned to Alice Smith"),
            "{reply}"
        );
        assert!(lines[2].starts_with("#1 db down — TRIGGERED"), "{reply}");
        assert!(room.pd.status_writes.lock().unwrap().is_empty());
        assert_eq!(room.audit_lines()[0].outcome, IncidentOutcome::Refused);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_page_here_the_reply_asks_which() {
        let room = room("inc-none-here/");
        room.paged_from("elsewhere", "db down").await;
        let (reply, _) = room.say("ops", "!ic resolve").await;
        assert!(
            reply.starts_with("No incident was paged from this channel lately. Which one? !ic resolve <number> [note]"),
            "{reply}"
        );
        let (empty, _) = room_without_incidents().say("ops", "!ic ack").await;
        assert_eq!(
            empty,
            "No incident was paged from this channel lately. There are no open incidents on the service."
        );
    }

    fn room_without_incidents() -> Room {
        room("inc-empty/")
    }

    #[tokio::test(start_paused = true)]
    async fn a_note_goes_to_the_incident_as_the_bot() {
        let room = room("inc-note/");
        let incident = room.paged_from("ops", "db down").await;
        let (reply, _) = room.say("ops", "!ic note 1 failover done").await;
        assert!(reply.starts_with("Added a note to #1 db down"), "{reply}");
        assert_eq!(
            room.pd.notes.lock().unwrap().clone(),
            vec![(incident.id, "failover done".to_string(), None)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_listing_is_newest_first_with_who_acknowledged() {
        let room = room("inc-list/");
        room.paged_from("ops", "db down").await;
        room.paged_from("ops", "cdn down").await;
        room.say("ops", "!ic ack 1").await;
        let (reply, _) = room.say("ops", "!ic incidents").await;
        let lines: Vec<&str> = reply.lines().collect();
        assert_eq!(lines[0], "Open incidents (2):");
        assert!(lines[1].starts_with("#2 cdn down — TRIGGERED, assigned to Alice Smith, 0 s ago: https://pd.example/incidents/Q2"), "{reply}");
        assert!(
            lines[2].starts_with("#1 db down — ACKNOWLEDGED, acknowledged by icbot"),
            "{reply}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pagerduty_hanging_is_answered_within_the_deadline() {
        let room = room("inc-hang/");
        room.paged_from("ops", "db down").await;
        room.pd.set_mode(FakeMode::Hangs);
        for command in ["!ic ack 1", "!ic resolve", "!ic note x", "!ic incidents"] {
            let (reply, took) = room.say("ops", command).await;
            assert!(took <= LOOKUP, "{command}: {took:?}");
            assert!(reply.contains("(timeout)"), "{command}: {reply}");
        }
        assert!(room.pd.status_writes.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_without_an_answer_is_not_confirmed_and_not_sent_again() {
        let room = room("inc-held/");
        room.paged_from("ops", "db down").await;
        room.pd.set_mode(FakeMode::HoldsWrites);
        let (reply, took) = room.say("ops", "!ic resolve 1 fixed").await;
        assert!(took <= LOOKUP, "{took:?}");
        assert!(
            reply.starts_with("⚠ NOT CONFIRMED: the bot asked PagerDuty to resolve #1, "),
            "{reply}"
        );
        assert!(reply.contains("It was not sent again"), "{reply}");
        assert!(reply.contains("https://pd.example/incidents/Q1"), "{reply}");
        room.pd.wait_for_writes(1, Duration::from_secs(1)).await;
        let audit = room.audit_lines();
        assert_eq!(audit[0].outcome, IncidentOutcome::NotConfirmed);
    }

    #[tokio::test(start_paused = true)]
    async fn each_refusal_reads_differently() {
        let target = IncidentState {
            id: "Q1".into(),
            number: 1,
            title: "db down".into(),
            status: IncidentStatus::Triggered,
            html_url: "https://pd/Q1".into(),
            created_at: None,
            assigned: vec![],
            acknowledged_by: vec![],
        };
        let alice = Actor {
            from: Some("alice@example.com".into()),
            name: "Alice Smith".into(),
        };
        let read = |e: PagerDutyError| answer(&Change::Ack, &target, &alice, Some(&e)).0.plain();
        assert!(read(PagerDutyError::Forbidden {
            message: "Access Denied".into()
        })
        .starts_with(
            "⚠ PagerDuty refused: Alice Smith may not acknowledge #1 (403: Access Denied)"
        ));
        assert!(read(PagerDutyError::NotFound)
            .starts_with("PagerDuty has no incident #1 any more (404)"));
        assert!(read(PagerDutyError::RateLimited { retry_after: None })
            .starts_with("⚠ PagerDuty rate limited the bot (429): #1 was NOT changed"));
        assert!(
            read(PagerDutyError::Transport("connect failed".into())).starts_with("⚠ NOT CONFIRMED")
        );
        assert!(read(PagerDutyError::Rejected {
            status: 401,
            message: "Invalid Credentials".into()
        })
        .starts_with("⚠ PagerDuty refused to acknowledge #1: "));
        let done = answer(&Change::Ack, &target, &alice, None).0.plain();
        assert_eq!(
            done,
            "Acknowledged #1 db down — by Alice Smith: https://pd/Q1"
        );
    }
}
