//! Running one command: what each `!ic` command does, with which actor, within which deadline.
//!
//! Everything here runs in the command's own task (spawned by the gateway), so a slow PagerDuty holds up only
//! the command that waits on it. Each function returns the reply; none returns an error: a failure is an
//! answer to report.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::access::AccessPolicy;
use crate::admin_commands;
use crate::ask::ask;
use crate::chat::InboundMessage;
use crate::command::{Command, PageOptions, UserQuery};
use crate::directory::{resolve, Resolution};
use crate::format;
use crate::names::ActorNames;
use crate::oncall::{OnCallSnapshot, Person, Roster};
use crate::pager::{PageOutcome, PageRequest, PageTarget, PagerMessage};
use crate::ports::{ChatOut, PagerDutyApi};
use crate::reply::{Reply, Span};
use crate::schedule_cache::{CacheView, ScheduleCacheMessage};
use crate::status_commands;

/// Time kept back from a deadline to format and post the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(200);

/// How long each kind of command may take to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `!ic`, `!ic responders`, `!ic who`.
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
    /// `[admin] chaos`: whether `!ic crash` may crash actors.
    pub chaos: bool,
    /// The last view the cache gave, used while the cache restarts.
    last_view: Mutex<Option<CacheView>>,
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
            chaos: false,
            last_view: Mutex::new(None),
        }
    }

    /// The same context with these access rules.
    pub fn with_access(mut self, access: AccessPolicy) -> Self {
        self.access = access;
        self
    }

    /// The same context with chaos drills on or off.
    pub fn with_chaos(mut self, chaos: bool) -> Self {
        self.chaos = chaos;
        self
    }

    /// The cache's view, asked within `within`; the last copy when the cache cannot answer.
    async fn view(&self, within: Duration) -> Option<CacheView> {
        match ask(
            &self.names.schedule_cache(),
            "the on-call cache",
            within,
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
}

/// Runs `command` for `msg` and returns the reply, always within the command's deadline. `sent` is the answer
/// of a command the gateway already sent in order (see [`status_commands::send_in_order`]).
pub async fn run_command(
    ctx: &CommandContext,
    msg: &InboundMessage,
    command: Command,
    sent: Option<status_commands::SentCommand>,
) -> Reply {
    let deadline = Instant::now() + ctx.deadlines.of(&command);
    let name = command.name();
    let work = async {
        match command {
            Command::IncidentCommanders => listing(ctx, Roster::IncidentCommanders, deadline).await,
            Command::Responders => listing(ctx, Roster::Responders, deadline).await,
            Command::PageIncidentCommanders(opts) => {
                page_roster(ctx, msg, Roster::IncidentCommanders, opts, deadline).await
            }
            Command::PageResponders(opts) => {
                page_roster(ctx, msg, Roster::Responders, opts, deadline).await
            }
            Command::Who(query) => who(ctx, query, deadline).await,
            Command::PageUser(query, opts) => page_user(ctx, msg, query, opts, deadline).await,
            Command::Help => format::help(),
            Command::Refresh => admin_commands::refresh(&ctx.names, deadline).await,
            Command::Crash(actor) => admin_commands::crash(&ctx.names, &actor, ctx.chaos),
            Command::Status | Command::Stalk | Command::Unstalk => {
                status_commands::run(&ctx.names, msg, &command, sent, deadline).await
            }
        }
    };
    // Each path answers by its deadline on its own; this is the backstop for a path that does not.
    match tokio::time::timeout_at(deadline + ANSWER_MARGIN, work).await {
        Ok(reply) => reply,
        Err(_) => {
            tracing::error!(command = name, "command overran its deadline");
            Reply::text(format!(
                "⚠ `{name}` did not finish in time; try again, or use PagerDuty directly."
            ))
            .alerting()
        }
    }
}

fn until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(ANSWER_MARGIN)
}

async fn listing(ctx: &CommandContext, roster: Roster, deadline: Instant) -> Reply {
    match ctx.view(until(deadline)).await {
        Some(view) => format::on_call_listing(&view, roster, SystemTime::now()),
        None => format::cache_unavailable(),
    }
}

async fn page_roster(
    ctx: &CommandContext,
    msg: &InboundMessage,
    roster: Roster,
    opts: PageOptions,
    deadline: Instant,
) -> Reply {
    // The snapshot must leave most of the deadline to PagerDuty.
    let Some(view) = ctx.view(until(deadline) / 3).await else {
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
    let request = page_request(msg, audience.to_string(), targets, opts);
    let outcome = send_page(ctx, request, deadline).await;
    format::page_outcome(&outcome, view.staleness_note(SystemTime::now()))
}

async fn page_user(
    ctx: &CommandContext,
    msg: &InboundMessage,
    query: UserQuery,
    opts: PageOptions,
    deadline: Instant,
) -> Reply {
    let lookup_by = Instant::now() + until(deadline) / 2;
    let (person, snapshot, staleness) = match find_person(ctx, query, lookup_by).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let role = snapshot
        .as_ref()
        .map(|s| s.schedules_of(&person.id).join(", "))
        .filter(|r| !r.is_empty());
    let audience = person.name.clone();
    let request = page_request(msg, audience, vec![PageTarget { person, role }], opts);
    let outcome = send_page(ctx, request, deadline).await;
    format::page_outcome(&outcome, staleness)
}

fn page_request(
    msg: &InboundMessage,
    audience: String,
    targets: Vec<PageTarget>,
    opts: PageOptions,
) -> PageRequest {
    PageRequest {
        requested_by: msg.user.clone(),
        reply_to: msg.reply_to.clone(),
        audience,
        targets,
        message: opts.message,
        again: opts.again,
    }
}

/// Asks the pager; when the pager cannot answer (restarting, stuck), the outcome is "not confirmed" for
/// everyone, so the reply still lists the phones.
async fn send_page(ctx: &CommandContext, request: PageRequest, deadline: Instant) -> PageOutcome {
    let within = deadline.saturating_duration_since(Instant::now());
    let asked = ask(&ctx.names.pager(), "the pager", within, |reply| {
        PagerMessage::Page(request.clone(), deadline, reply)
    })
    .await;
    match asked {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "pager did not answer; falling back to phone numbers");
            PageOutcome::unconfirmed(request, e.to_string())
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

async fn who(ctx: &CommandContext, query: UserQuery, deadline: Instant) -> Reply {
    match find_person(ctx, query, deadline).await {
        Ok((person, snapshot, staleness)) => {
            let mut card = format::who_card(&person, snapshot.as_deref());
            // "On call now" from cached data says how old that data is, as `!ic` does.
            if let Some(note) = staleness {
                card.lines
                    .insert(0, vec![Span::Strong("⚠ ".into()), Span::Text(note)]);
            }
            card
        }
        Err(reply) => reply,
    }
}

type Found = (Person, Option<Arc<OnCallSnapshot>>, Option<String>);

/// The person a query means: known people first, then PagerDuty's search, filtered exactly. `Err` is the reply
/// to give instead (ambiguous, unknown, lookup failed).
async fn find_person(
    ctx: &CommandContext,
    query: UserQuery,
    deadline: Instant,
) -> Result<Found, Reply> {
    let query = match query {
        UserQuery::Mention(id) => mention_to_email(ctx, &id, deadline).await?,
        q => q,
    };
    let view = ctx.view(until(deadline) / 2).await;
    let snapshot = view.as_ref().and_then(|v| v.snapshot.clone());
    let staleness = view
        .as_ref()
        .and_then(|v| v.staleness_note(SystemTime::now()));
    if let Some(s) = &snapshot {
        match resolve(&query, s.people.values()) {
            Resolution::Found(p) => return Ok((p, snapshot, staleness)),
            Resolution::Ambiguous(c) => return Err(format::ambiguous(&query, &c)),
            Resolution::NotFound => {}
        }
    }
    let text = match &query {
        UserQuery::Email(e) => e.clone(),
        UserQuery::Name(n) => n.clone(),
        UserQuery::Mention(m) => m.clone(),
    };
    let searched = tokio::time::timeout(until(deadline), ctx.pagerduty.find_users(&text)).await;
    let found = match searched {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return Err(format::not_found(&query, Some(e.to_string()))),
        Err(_) => {
            return Err(format::not_found(
                &query,
                Some("PagerDuty did not answer in time (timeout)".into()),
            ))
        }
    };
    match resolve(&query, &found) {
        Resolution::Found(p) => {
            if let Some(cache) =
                ractor::ActorRef::<ScheduleCacheMessage>::where_is(ctx.names.schedule_cache())
            {
                let _ = cache.cast(ScheduleCacheMessage::Learn(vec![p.clone()]));
            }
            Ok((p, snapshot, staleness))
        }
        Resolution::Ambiguous(c) => Err(format::ambiguous(&query, &c)),
        Resolution::NotFound => Err(format::not_found(&query, None)),
    }
}

async fn mention_to_email(
    ctx: &CommandContext,
    chat_user: &str,
    deadline: Instant,
) -> Result<UserQuery, Reply> {
    match tokio::time::timeout(until(deadline) / 2, ctx.chat.email_of(chat_user)).await {
        Ok(Ok(Some(email))) => Ok(UserQuery::Email(email.to_lowercase())),
        Ok(Ok(None)) => Err(Reply::text(
            "That chat user has no email the bot can see; use their email or name instead.",
        )),
        Ok(Err(e)) => Err(Reply::text(format!(
            "Could not look up that chat user ({e}); use their email or name instead."
        ))),
        Err(_) => Err(Reply::text(
            "Looking up that chat user timed out; use their email or name instead.",
        )),
    }
}
