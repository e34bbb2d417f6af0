//! Running one command: what each `!ic` command does, with which actor, within which deadline.
//!
//! Everything here runs in the command's own task (spawned by the gateway), so a slow PagerDuty holds up only
//! the command that waits on it. Each function returns the reply; none returns an error: a failure is an
//! answer to report.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use crate::cache::directory::UserQuery;
use crate::cache::directory::{resolve, Resolution, Unresolved};
use crate::cache::oncall::{OnCallSnapshot, Person, Roster};
use crate::cache::schedule_cache::{CacheView, ScheduleCacheMessage};
use crate::chat::InboundMessage;
use crate::commands::access::AccessPolicy;
use crate::commands::admin as admin_commands;
use crate::commands::cover::{self, CoverBook, CoverContext, Covered};
use crate::commands::format;
use crate::commands::incident_audit::IncidentAudit;
use crate::commands::incidents::{self, Change, IncidentsContext};
use crate::commands::parse::{Command, PageOptions};
use crate::commands::status as status_commands;
use crate::deadline::{Deadline, REPLY_MARGIN};
use crate::local_time::ReaderZone;
use crate::pager::actor::PagerMessage;
use crate::pager::audit::{AuditLog, AuditRecord};
use crate::pager::page::{PageOutcome, PageRequest, PageTarget, Targeting};
use crate::ports::{ChatOut, PagerDutyApi};
use crate::reply::{Reply, Span};
use crate::supervision::ask::{ask, tell};
use crate::supervision::chaos::CrashFn;
use crate::supervision::names::ActorNames;

/// How long each kind of command may take to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `!ic`, `!ic responders`, `!ic who`, and `!ic incidents`, `ack`, `resolve`, `note`.
    pub lookup: Duration,
    /// Every `!ic page ...`.
    pub page: Duration,
    /// `!status` (stalk and unstalk too).
    pub status: Duration,
}

impl Deadlines {
    pub fn of(&self, command: &Command) -> Duration {
        match command {
            c if c.is_page() => self.page,
            Command::Status | Command::Stalk | Command::Unstalk => self.status,
            _ => self.lookup,
        }
    }

    /// The longest: how long a shutdown waits for replies in flight.
    pub fn longest(&self) -> Duration {
        self.lookup.max(self.page).max(self.status)
    }
}

/// What every command may use. Outlives gateway restarts.
pub struct CommandContext {
    pub names: ActorNames,
    pub chat: Arc<dyn ChatOut>,
    pub pagerduty: Arc<dyn PagerDutyApi>,
    pub deadlines: Deadlines,
    /// Where paging is allowed, and whether DMs are answered.
    pub access: AccessPolicy,
    /// `[admin] chaos`: how `!ic crash` crashes an actor, when drills are on.
    pub chaos: Option<CrashFn>,
    /// The page audit log, for the replies to pages that the pager could not make, and for "the incident
    /// this channel paged last".
    pub audit: Option<Arc<AuditLog>>,
    /// Where `!ic incidents`, `ack`, `resolve` and `note` are recorded.
    pub incident_audit: Option<Arc<IncidentAudit>>,
    /// The schedule overrides `!ic cover` made, for `cancel`.
    pub covers: CoverBook,
    /// The last view the cache gave, used while the cache restarts.
    last_view: Mutex<Option<CacheView>>,
    /// `[display] time_zone`: times for readers whose chat does not say their own zone.
    pub display_zone: ReaderZone,
}

impl CommandContext {
    pub fn new(
        names: ActorNames,
        chat: Arc<dyn ChatOut>,
        pagerduty: Arc<dyn PagerDutyApi>,
        deadlines: Deadlines,
    ) -> Self {
        CommandContext {
            names,
            chat,
            pagerduty,
            deadlines,
            access: AccessPolicy::default(),
            chaos: None,
            audit: None,
            incident_audit: None,
            covers: CoverBook::default(),
            last_view: Mutex::new(None),
            display_zone: ReaderZone::utc(),
        }
    }

    /// The same context showing times in `zone` to readers whose own zone is not known.
    pub fn with_display_zone(mut self, zone: ReaderZone) -> Self {
        self.display_zone = zone;
        self
    }

    /// The zone `chat_user` reads times in: theirs when the chat says (Slack's `tz`, cached by the adapter),
    /// else `[display] time_zone`. Asked by `by`; a failure or an unknown name falls back.
    async fn reader_zone(&self, chat_user: &str, by: Deadline) -> ReaderZone {
        match by.timeout(self.chat.time_zone_of(chat_user)).await {
            Ok(Ok(Some(name))) => ReaderZone::named(&name).unwrap_or_else(|e| {
                tracing::warn!(user = %chat_user, error = %e, "chat user's time zone unknown; using [display] time_zone");
                self.display_zone.clone()
            }),
            Ok(Ok(None)) => self.display_zone.clone(),
            Ok(Err(e)) => {
                tracing::warn!(user = %chat_user, error = %e, "cannot read the chat user's time zone; using [display] time_zone");
                self.display_zone.clone()
            }
            Err(_) => self.display_zone.clone(),
        }
    }

    /// The same context, auditing the page replies it makes itself in `audit`.
    pub fn with_audit(mut self, audit: Arc<AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same context, recording incident commands in `audit`.
    pub fn with_incident_audit(mut self, audit: Arc<IncidentAudit>) -> Self {
        self.incident_audit = Some(audit);
        self
    }

    fn audit(&self, record: &AuditRecord) {
        match &self.audit {
            Some(audit) => audit.append(record),
            None => tracing::warn!("no page audit log to record a page reply in"),
        }
    }

    /// The same context with these access rules.
    pub fn with_access(mut self, access: AccessPolicy) -> Self {
        self.access = access;
        self
    }

    /// The same context with chaos drills on (`Some(crate::root::crash)`) or off.
    pub fn with_chaos(mut self, chaos: Option<CrashFn>) -> Self {
        self.chaos = chaos;
        self
    }

    /// What the incident commands use, with `snapshot` for who is who.
    fn incidents(&self, snapshot: Option<Arc<OnCallSnapshot>>) -> IncidentsContext<'_> {
        IncidentsContext {
            pagerduty: self.pagerduty.as_ref(),
            chat: self.chat.as_ref(),
            snapshot,
            page_audit: self.audit.as_deref(),
            audit: self.incident_audit.as_deref(),
        }
    }

    /// The on-call snapshot, asked within a quarter of what is left of `deadline` (the rest is PagerDuty's).
    async fn snapshot(&self, deadline: Deadline) -> Option<Arc<OnCallSnapshot>> {
        let within = Deadline::after(deadline.remaining() / 4);
        self.view(within).await.and_then(|v| v.snapshot)
    }

    /// The cache's view, asked by `by`; the last copy when the cache cannot answer.
    async fn view(&self, by: Deadline) -> Option<CacheView> {
        match ask(
            &self.names.schedule_cache(),
            "the on-call cache",
            by,
            ScheduleCacheMessage::Get,
        )
        .await
        {
            Ok(view) => {
                *self.last_view.lock().unwrap_or_else(|e| e.into_inner()) = Some(view.clone());
                Some(view)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no answer from the schedule cache; using the gateway's copy");
                self.last_view
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            }
        }
    }

    /// What the cover commands use: the configured schedules, who is who, and the caller's time zone.
    async fn cover_context(&self, msg: &InboundMessage, deadline: Deadline) -> CoverContext<'_> {
        let within = Deadline::after(deadline.remaining() / 4);
        let (view, zone) = tokio::join!(self.view(within), self.reader_zone(&msg.user, within));
        let (snapshot, schedules) = match view {
            Some(v) => (
                v.snapshot,
                v.incident_commanders
                    .into_iter()
                    .chain(v.responders)
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        CoverContext {
            pagerduty: self.pagerduty.as_ref(),
            chat: self.chat.as_ref(),
            snapshot,
            schedules,
            book: &self.covers,
            zone,
            max_cover: self.access.max_cover,
        }
    }

    /// After a cover changed who is on call: the cache refreshes now, so `!ic` shows it. A refresh that
    /// fails is said under the reply (the cover itself stands).
    async fn refreshed(&self, covered: Covered, deadline: Deadline) -> Reply {
        if !covered.changed {
            return covered.reply;
        }
        let refreshed = ask(
            &self.names.schedule_cache(),
            "the on-call cache",
            deadline,
            ScheduleCacheMessage::RefreshNow,
        )
        .await;
        let problem = match refreshed {
            Ok(Ok(())) => return covered.reply,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(error = %problem, "refresh after a cover failed");
        Reply::text(format!(
            "{}\n(The on-call list is not refreshed yet: {problem}.)",
            covered.reply.plain()
        ))
    }

    /// By when a page must have looked up whom to page: as `!ic who` would, within the lookup deadline, so the
    /// rest of the page deadline is PagerDuty's; never after `answer_by`.
    fn page_lookups_by(&self, answer_by: Deadline) -> Deadline {
        answer_by.until(Deadline::after(self.deadlines.lookup))
    }
}

/// Runs `command` for `msg` and returns the reply, always within the command's deadline less [`REPLY_MARGIN`]
/// (kept back to post the reply). `sent` is the answer of a command the gateway already sent in order (see
/// [`status_commands::send_in_order`]).
pub async fn run_command(
    ctx: &CommandContext,
    msg: &InboundMessage,
    command: Command,
    sent: Option<status_commands::SentCommand>,
) -> Reply {
    let deadline = Deadline::after(ctx.deadlines.of(&command));
    // Every step below answers by then; what is after it is for posting the reply.
    let deadline = deadline.reserve(REPLY_MARGIN);
    let name = command.name();
    let page = page_in_words(&command);
    let work = async {
        match command {
            Command::IncidentCommanders => {
                listing(ctx, msg, Roster::IncidentCommanders, deadline).await
            }
            Command::Responders => listing(ctx, msg, Roster::Responders, deadline).await,
            Command::PageIncidentCommanders(opts) => {
                page_roster(ctx, msg, Roster::IncidentCommanders, opts, deadline).await
            }
            Command::PageResponders(opts) => {
                page_roster(ctx, msg, Roster::Responders, opts, deadline).await
            }
            Command::Who(query) => who(ctx, query, deadline).await,
            Command::PageUsers(queries, opts) => {
                page_users(ctx, msg, queries, opts, deadline).await
            }
            Command::Help => format::help(),
            Command::Refresh => admin_commands::refresh(&ctx.names, deadline).await,
            Command::Crash(actor) => admin_commands::crash(&ctx.names, &actor, ctx.chaos),
            Command::Status | Command::Stalk | Command::Unstalk => {
                status_commands::run(&ctx.names, msg, &command, sent, deadline).await
            }
            Command::Incidents => incidents::list(&ctx.incidents(None), msg, deadline).await,
            Command::Ack { number } => {
                let snapshot = ctx.snapshot(deadline).await;
                incidents::change(&ctx.incidents(snapshot), msg, number, Change::Ack, deadline)
                    .await
            }
            Command::Resolve { number, note } => {
                let snapshot = ctx.snapshot(deadline).await;
                let change = Change::Resolve { note };
                incidents::change(&ctx.incidents(snapshot), msg, number, change, deadline).await
            }
            Command::Cover { schedule, length } => {
                let cover_ctx = ctx.cover_context(msg, deadline).await;
                let covered =
                    cover::cover(&cover_ctx, &msg.user, &schedule, length, deadline).await;
                ctx.refreshed(covered, deadline).await
            }
            Command::CancelCover { schedule } => {
                let cover_ctx = ctx.cover_context(msg, deadline).await;
                let covered = cover::cancel(&cover_ctx, &msg.user, &schedule, deadline).await;
                ctx.refreshed(covered, deadline).await
            }
            Command::Note { number, text } => {
                let snapshot = ctx.snapshot(deadline).await;
                let change = Change::Note { text };
                incidents::change(&ctx.incidents(snapshot), msg, number, change, deadline).await
            }
        }
    };
    // Each path answers by its deadline on its own; this is the backstop for a path that does not.
    match deadline.timeout(work).await {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!(command = name, "command overran its deadline");
            if let Some((audience, message)) = page {
                // Whatever the page did, its reply is this one: audit it like any other.
                let failure = format!("`{name}` did not finish in time");
                ctx.audit(&AuditRecord::unanswered(msg, audience, message, failure));
            }
            Reply::text(format!(
                "⚠ `{name}` did not finish in time; try again, or use PagerDuty directly."
            ))
            .alerting()
        }
    }
}

/// A page command's audience and message, for the audit record of a reply made without the page's outcome.
fn page_in_words(command: &Command) -> Option<(String, Option<String>)> {
    match command {
        Command::PageIncidentCommanders(o) => {
            Some(("the Incident Commanders".into(), o.message.clone()))
        }
        Command::PageResponders(o) => Some(("the responders".into(), o.message.clone())),
        Command::PageUsers(queries, o) => {
            let named: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
            Some((named.join(" "), o.message.clone()))
        }
        _ => None,
    }
}

async fn listing(
    ctx: &CommandContext,
    msg: &InboundMessage,
    roster: Roster,
    deadline: Deadline,
) -> Reply {
    // The reader's zone is asked alongside the cache, for at most half the time left: times in the display
    // zone beat no answer.
    let zone_by = Deadline::after(deadline.remaining() / 2).until(deadline);
    let (view, zone) = tokio::join!(ctx.view(deadline), ctx.reader_zone(&msg.user, zone_by));
    match view {
        Some(view) => format::on_call_listing(&view, roster, SystemTime::now(), &zone),
        None => format::cache_unavailable(),
    }
}

async fn page_roster(
    ctx: &CommandContext,
    msg: &InboundMessage,
    roster: Roster,
    opts: PageOptions,
    deadline: Deadline,
) -> Reply {
    let Some(view) = ctx.view(ctx.page_lookups_by(deadline)).await else {
        return format::cache_unavailable();
    };
    let Some(snapshot) = view.snapshot.clone() else {
        let mut reply = format::no_on_call_data(&view, roster);
        reply.line(vec![crate::reply::strong("Nobody was paged.")]);
        return reply;
    };
    let targets: Vec<PageTarget> = snapshot
        .on_call(roster)
        .into_iter()
        .map(|p| PageTarget {
            person: p.clone(),
            role: role_in(&snapshot, roster, p),
        })
        .collect();
    if targets.is_empty() {
        return format::nobody_to_page(roster);
    }
    let audience = match roster {
        Roster::IncidentCommanders => "the Incident Commanders",
        Roster::Responders => "the responders",
    };
    let targeting = match roster {
        Roster::IncidentCommanders => Targeting::IncidentCommanders,
        Roster::Responders => Targeting::Responders,
    };
    let request = page_request(msg, audience.to_string(), targets, opts, targeting);
    let outcome = send_page(ctx, request, deadline).await;
    format::page_outcome(&outcome, view.staleness_note(SystemTime::now()))
}

/// Pages everyone named, in one incident (the first named is assigned, the others asked to respond). Each one
/// is looked up first, all at once, by [`CommandContext::page_lookups_by`]; if any is unknown or ambiguous,
/// nobody is paged and the reply says why for each.
async fn page_users(
    ctx: &CommandContext,
    msg: &InboundMessage,
    queries: Vec<UserQuery>,
    opts: PageOptions,
    deadline: Deadline,
) -> Reply {
    let lookup_by = ctx.page_lookups_by(deadline);
    let named = queries.len();
    let (found, snapshot, staleness) = find_people(ctx, queries, lookup_by).await;
    let mut people: Vec<Person> = Vec::new();
    let mut problems: Vec<(UserQuery, Unresolved)> = Vec::new();
    for (query, result) in found {
        match result {
            // Named twice in different ways (a name and an email): paged once.
            Ok(person) if people.iter().any(|p| p.id == person.id) => {}
            Ok(person) => people.push(person),
            Err(why) => problems.push((query, why)),
        }
    }
    if let [(query, why)] = problems.as_slice() {
        if named == 1 {
            return format::unresolved_one(query, why);
        }
    }
    if !problems.is_empty() {
        tracing::info!(
            named,
            unresolved = problems.len(),
            "page refused: not everyone named was found"
        );
        return format::unresolved_people(named, &problems);
    }
    let audience = format::named_audience(&people);
    let targets = people
        .into_iter()
        .map(|person| {
            let role = snapshot
                .as_ref()
                .map(|s| s.schedules_of(&person.id).join(", "))
                .filter(|r| !r.is_empty());
            PageTarget { person, role }
        })
        .collect();
    let request = page_request(msg, audience, targets, opts, Targeting::People);
    let outcome = send_page(ctx, request, deadline).await;
    format::page_outcome(&outcome, staleness)
}

fn page_request(
    msg: &InboundMessage,
    audience: String,
    targets: Vec<PageTarget>,
    opts: PageOptions,
    targeting: Targeting,
) -> PageRequest {
    PageRequest {
        requested_by: msg.user.clone(),
        reply_to: msg.reply_to.clone(),
        audience,
        targets,
        message: opts.message,
        again: opts.again,
        targeting,
    }
}

/// Asks the pager; when the pager cannot answer (restarting, stuck), the outcome is "not confirmed" for
/// everyone, so the reply still lists the phones, and it is audited here (the pager never saw it, or its own
/// record comes too late for this reply).
async fn send_page(ctx: &CommandContext, request: PageRequest, deadline: Deadline) -> PageOutcome {
    let asked = ask(&ctx.names.pager(), "the pager", deadline, |reply| {
        PagerMessage::Page(request.clone(), deadline, reply)
    })
    .await;
    match asked {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "pager did not answer; falling back to phone numbers");
            let outcome = PageOutcome::unconfirmed(request, e.to_string());
            ctx.audit(&AuditRecord::of(&outcome));
            outcome
        }
    }
}

/// The label of the first schedule in `roster` this person is on call in.
fn role_in(snapshot: &OnCallSnapshot, roster: Roster, person: &Person) -> Option<String> {
    snapshot
        .roster(roster)
        .iter()
        .find(|s| s.people.contains(&person.id))
        .map(|s| s.schedule.label.clone())
}

async fn who(ctx: &CommandContext, query: UserQuery, deadline: Deadline) -> Reply {
    let (mut found, snapshot, staleness) = find_people(ctx, vec![query], deadline).await;
    let Some((query, result)) = found.pop() else {
        return format::cache_unavailable();
    };
    match result {
        Ok(person) => {
            let mut card = format::who_card(&person, snapshot.as_deref());
            // "On call now" from cached data says how old that data is, as `!ic` does.
            if let Some(note) = staleness {
                card.lines
                    .insert(0, vec![Span::Strong("⚠ ".into()), Span::Text(note)]);
            }
            card
        }
        Err(why) => format::unresolved_one(&query, &why),
    }
}

/// Each query (as the user typed it) with the person it means or why none; the snapshot and its staleness.
type Found = (
    Vec<(UserQuery, Result<Person, Unresolved>)>,
    Option<Arc<OnCallSnapshot>>,
    Option<String>,
);

/// The people the queries mean, all looked up at once by `deadline`: mentions turned into emails, then the
/// known people, then PagerDuty's search (filtered exactly) for those not known. Each step takes what the one
/// before it left.
async fn find_people(ctx: &CommandContext, queries: Vec<UserQuery>, deadline: Deadline) -> Found {
    let emails = join_all(queries.iter().map(|q| async move {
        match q {
            UserQuery::Mention(id) => mention_to_email(ctx, id, deadline).await,
            other => Ok(other.clone()),
        }
    }))
    .await;
    let view = ctx.view(deadline).await;
    let snapshot = view.as_ref().and_then(|v| v.snapshot.clone());
    let staleness = view
        .as_ref()
        .and_then(|v| v.staleness_note(SystemTime::now()));
    let results = join_all(emails.into_iter().map(|email| {
        let snapshot = snapshot.clone();
        async move {
            let query = email?;
            if let Some(s) = &snapshot {
                match resolve(&query, s.people.values()) {
                    Resolution::Found(p) => return Ok(p),
                    Resolution::Ambiguous(c) => return Err(Unresolved::Ambiguous(c)),
                    Resolution::NotFound => {}
                }
            }
            search_person(ctx, &query, deadline).await
        }
    }))
    .await;
    let found = queries.into_iter().zip(results).collect();
    (found, snapshot, staleness)
}

/// PagerDuty's search for one person the bot does not know yet; a person found is taught to the cache.
async fn search_person(
    ctx: &CommandContext,
    query: &UserQuery,
    deadline: Deadline,
) -> Result<Person, Unresolved> {
    let text = match query {
        UserQuery::Email(e) => e.clone(),
        UserQuery::Name(n) => n.clone(),
        UserQuery::Mention(m) => m.clone(),
    };
    let searched = deadline.timeout(ctx.pagerduty.find_users(&text)).await;
    let found = match searched {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            return Err(Unresolved::NotFound {
                search_failed: Some(e.to_string()),
            })
        }
        Err(_) => {
            return Err(Unresolved::NotFound {
                search_failed: Some("PagerDuty did not answer in time (timeout)".into()),
            })
        }
    };
    match resolve(query, &found) {
        Resolution::Found(p) => {
            let learn = ScheduleCacheMessage::Learn(vec![p.clone()]);
            if let Err(e) = tell(&ctx.names.schedule_cache(), "the on-call cache", learn) {
                tracing::debug!(error = %e, "the cache will find this person on its next refresh");
            }
            Ok(p)
        }
        Resolution::Ambiguous(c) => Err(Unresolved::Ambiguous(c)),
        Resolution::NotFound => Err(Unresolved::NotFound {
            search_failed: None,
        }),
    }
}

/// Runs every future at once in this task and returns their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(out) => *output = Some(out),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

async fn mention_to_email(
    ctx: &CommandContext,
    chat_user: &str,
    deadline: Deadline,
) -> Result<UserQuery, Unresolved> {
    match deadline.timeout(ctx.chat.email_of(chat_user)).await {
        Ok(Ok(Some(email))) => Ok(UserQuery::Email(email.to_lowercase())),
        Ok(Ok(None)) => Err(Unresolved::Mention(
            "That chat user has no email the bot can see; use their email or name instead.".into(),
        )),
        Ok(Err(e)) => Err(Unresolved::Mention(format!(
            "Could not look up that chat user ({e}); use their email or name instead."
        ))),
        Err(_) => Err(Unresolved::Mention(
            "Looking up that chat user timed out; use their email or name instead.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatTarget;
    use crate::fakes::{FakePagerDuty, RecordingChat};
    use crate::pager::actor::AUDIT_FILE;
    use crate::pager::audit::{AuditEvent, DEFAULT_MAX_BYTES};
    use crate::ports::StateStore;
    use crate::state_store::MemoryStateStore;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_page_the_pager_cannot_answer_is_still_audited() {
        // No tree at all: no cache, no pager (as while the pager restarts).
        let store = Arc::new(MemoryStateStore::new());
        let deadlines = Deadlines {
            lookup: Duration::from_secs(5),
            page: Duration::from_secs(10),
            status: Duration::from_secs(5),
        };
        let ctx = CommandContext::new(
            ActorNames::with_prefix("no-pager/"),
            RecordingChat::new(),
            Arc::new(FakePagerDuty::demo()),
            deadlines,
        )
        .with_audit(Arc::new(AuditLog::new(store.clone(), DEFAULT_MAX_BYTES)));
        let msg = InboundMessage {
            reply_to: ChatTarget::channel("ops"),
            user: "dana".into(),
            text: "!ic page @alice db down".into(),
            direct: false,
        };
        let command = Command::parse(&msg.text).unwrap().unwrap();
        let started = Instant::now();
        let reply = run_command(&ctx, &msg, command, None).await.plain();
        assert!(started.elapsed() <= deadlines.page - REPLY_MARGIN);
        assert!(
            reply.starts_with("⚠ PAGE NOT CONFIRMED for Alice Smith"),
            "{reply}"
        );
        assert!(reply.contains("+1 5550101"), "{reply}");
        let log = String::from_utf8(store.load(AUDIT_FILE).unwrap().expect("audited")).unwrap();
        let record: AuditRecord = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert_eq!(record.event, AuditEvent::Outcome);
        assert_eq!(record.requested_by, "dana");
        assert_eq!(record.channel, "ops");
        assert!(record.fallback_shown);
        assert!(record.failure.unwrap().contains("pager"));
        assert_eq!(record.results.len(), 1);
    }
}
