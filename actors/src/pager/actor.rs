//! The pager: opens the PagerDuty incident, asks the others to respond, and reports per person.
//!
//! Child of the root supervisor, registered as `pager`. Each page runs in its own task, so one slow page never
//! holds up another, and within the deadline it is given: when the deadline comes first, the outcome says what
//! was confirmed so far and everyone else is "not confirmed", so the room calls them by hand.
//!
//! Intent, act, outcome: a page appends its `started` record to the audit log ([`audit`](crate::pager::audit)) before its first
//! PagerDuty write, creates the incident with an `incident_key` PagerDuty honours (a retried create never opens
//! a second incident), and appends its outcome before it is returned. A repeat of a recent page of the same
//! people is answered with the first page instead of a second incident ([`dedup`](crate::pager::dedup)), unless `again`; a
//! repeat of a page whose outcome was never recorded (the bot died mid-page) is answered as such, with the
//! incident found by its key or the phones to call. The recent-pages table is shared with the wiring, so it
//! outlives a pager crash; page tasks record their finish in it directly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::cache::oncall::UserId;
use crate::deadline::{Deadline, REPLY_MARGIN};
use crate::metric_names;
use crate::pager::audit::{AuditLog, AuditRecord};
use crate::pager::dedup::{RecentPages, SharedRecentPages};
use crate::pager::page::{
    self, PageKey, PageOutcome, PageRequest, PersonResult, PriorPage, PriorState,
};
use crate::ports::{
    Coordination, Incident, NewIncident, PageClaim, PageClaimed, PagerDutyApi, PagerDutyError,
};

pub use crate::pager::audit::AUDIT_FILE;

/// PagerDuty adds at most 300 users as responders in one request; more take more requests.
const MAX_TARGETS_PER_REQUEST: usize = 300;
/// PagerDuty allows at most 500 unique responders on an incident: a page reaches at most this many people,
/// the first in schedule order, and says who else was not paged.
pub const MAX_PAGE_TARGETS: usize = 500;

pub struct PagerActor;

#[derive(Clone)]
pub struct PagerArgs {
    pub pagerduty: Arc<dyn PagerDutyApi>,
    /// The page audit log, shared with the command context.
    pub audit: Arc<AuditLog>,
    /// The recent pages (dedup window inside), made once at wiring: it outlives pager restarts.
    pub recent: SharedRecentPages,
    /// The bot's PagerDuty login: its user is the requester of responder requests.
    pub from_email: String,
    /// Other replicas paging the same people: a page claims its window there first (bounded by
    /// [`CLAIM_WAIT`]; on failure the page goes out, deduplicated on this replica only).
    pub coordination: Arc<dyn Coordination>,
}

/// The longest a page waits on the other replicas' dedup claim before it goes out anyway.
pub const CLAIM_WAIT: Duration = Duration::from_millis(750);

pub enum PagerMessage {
    /// Page, answering by the deadline whatever PagerDuty does: PagerDuty is cut off [`REPLY_MARGIN`] before
    /// it, to audit the outcome and hand it back.
    Page(PageRequest, Deadline, RpcReplyPort<PageOutcome>),
    /// The last outcome, for operators.
    LastOutcome(RpcReplyPort<Option<PageOutcome>>),
    /// The last [`RECENT_OUTCOMES`] outcomes, newest first, for the status page.
    RecentOutcomes(RpcReplyPort<Vec<PageOutcome>>),
    /// A page task finished (bookkeeping for operators; the dedup table already has it).
    Finished(Box<PageOutcome>),
    /// Chaos: fail inside the actor, as a bug would.
    Crash,
}

pub struct PagerState {
    pagerduty: Arc<dyn PagerDutyApi>,
    audit: Arc<AuditLog>,
    from_email: String,
    /// The bot's own user id, looked up once.
    requester: Arc<tokio::sync::Mutex<Option<UserId>>>,
    last: Option<PageOutcome>,
    /// The last outcomes, newest first (since this actor started).
    outcomes: VecDeque<PageOutcome>,
    recent: SharedRecentPages,
    coordination: Arc<dyn Coordination>,
}

/// How many outcomes the pager keeps for operators.
pub const RECENT_OUTCOMES: usize = 10;

impl Actor for PagerActor {
    type Msg = PagerMessage;
    type State = PagerState;
    type Arguments = PagerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PagerArgs,
    ) -> Result<PagerState, ActorProcessingErr> {
        {
            // Once per process: a restarted pager keeps the live table, pages in flight included.
            let mut recent = lock(&args.recent);
            if !recent.is_restored() {
                let since = SystemTime::now()
                    .checked_sub(recent.window())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                recent.restore(args.audit.recent(since));
            }
        }
        Ok(PagerState {
            pagerduty: args.pagerduty,
            audit: args.audit,
            from_email: args.from_email,
            requester: Arc::new(tokio::sync::Mutex::new(None)),
            last: None,
            outcomes: VecDeque::new(),
            recent: args.recent,
            coordination: args.coordination,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PagerMessage::Page(request, deadline, reply) => {
                state.page(myself, request, deadline, reply)
            }
            PagerMessage::LastOutcome(reply) => {
                let _ = reply.send(state.last.clone());
            }
            PagerMessage::RecentOutcomes(reply) => {
                let _ = reply.send(state.outcomes.iter().cloned().collect());
            }
            PagerMessage::Finished(outcome) => state.finished(*outcome),
            PagerMessage::Crash => return Err("crash requested (chaos)".into()),
        }
        Ok(())
    }
}

fn lock(recent: &SharedRecentPages) -> std::sync::MutexGuard<'_, RecentPages> {
    recent.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new page id: the time in milliseconds and a counter, unique within the process and across restarts.
fn new_page_id(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{millis:x}-{n:x}")
}

/// The `incident_key` of a page: the same for every page of the same people in the same dedup window (so a
/// retried create finds the incident open), distinct for `--again` (a new incident) and when dedup is off.
pub fn incident_key(
    key: &PageKey,
    at: SystemTime,
    window: Duration,
    again: bool,
    page_id: &str,
) -> String {
    // FNV-1a: short, and the same in every build (std's hasher promises neither).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in key {
        for b in id.0.bytes().chain([0]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let window = window.as_secs();
    if again || window == 0 {
        format!("icbot-{hash:016x}-{page_id}")
    } else {
        format!("icbot-{hash:016x}-{}", secs - secs % window)
    }
}

impl PagerState {
    fn page(
        &mut self,
        myself: ActorRef<PagerMessage>,
        request: PageRequest,
        deadline: Deadline,
        reply: RpcReplyPort<PageOutcome>,
    ) {
        let key = page::key(request.targets.iter().map(|t| &t.person.id));
        let now = SystemTime::now();
        let page_id = new_page_id(now);
        let stop_at = deadline.reserve(REPLY_MARGIN);
        if !request.again {
            let prior = lock(&self.recent).prior(&key, now).cloned();
            if let Some(prior) = prior {
                tracing::info!(first_by = %prior.requested_by, state = ?prior.state, "same people paged moments ago; not paging again");
                let (api, audit, recent) = (
                    self.pagerduty.clone(),
                    self.audit.clone(),
                    self.recent.clone(),
                );
                tokio::spawn(async move {
                    let prior = find_unknown_incident(api, &recent, &key, prior, stop_at).await;
                    let mut outcome = PageOutcome::duplicate(request, prior);
                    outcome.page_id = Some(page_id);
                    audit.outcome(&outcome);
                    let _ = reply.send(outcome);
                });
                return;
            }
        }
        let window = lock(&self.recent).window();
        let incident_key = incident_key(&key, now, window, request.again, &page_id);
        if !request.targets.is_empty() {
            let prior = PriorPage {
                requested_by: request.requested_by.clone(),
                channel: request.reply_to.channel.clone(),
                at: now,
                incident: None,
                page_id: Some(page_id.clone()),
                incident_key: Some(incident_key.clone()),
                state: PriorState::Recorded,
            };
            lock(&self.recent).started(key.clone(), prior);
        }
        let api = self.pagerduty.clone();
        let audit = self.audit.clone();
        let recent = self.recent.clone();
        let from_email = self.from_email.clone();
        let requester = self.requester.clone();
        let coordination = self.coordination.clone();
        let claim =
            (!request.again && !window.is_zero() && !request.targets.is_empty()).then(|| {
                PageClaim {
                    dedup_key: key
                        .iter()
                        .map(|id| id.0.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    page_id: page_id.clone(),
                    requested_by: request.requested_by.clone(),
                    channel: request.reply_to.channel.clone(),
                    window,
                }
            });
        let span = tracing::info_span!("page", audience = %request.audience, targets = request.targets.len(), page_id = %page_id);
        let task = async move {
            let claimed = match &claim {
                Some(claim) => {
                    match claim_across_replicas(coordination.as_ref(), claim, stop_at).await {
                        Some(prior) => {
                            // Another replica paged them first: answer with its page, and remember it here.
                            lock(&recent).started(key.clone(), prior.clone());
                            let mut outcome = PageOutcome::duplicate(request, prior);
                            outcome.page_id = Some(page_id);
                            audit.outcome(&outcome);
                            let _ = reply.send(outcome);
                            return;
                        }
                        None => true,
                    }
                }
                None => false,
            };
            metrics::counter!(metric_names::PAGES_ATTEMPTED_TOTAL).increment(1);
            let started = AuditRecord::started(&request, &page_id, &key, &incident_key, now);
            let sent = Sent {
                api,
                audit: audit.clone(),
                from_email: &from_email,
                requester: &requester,
                started,
                incident_key: incident_key.clone(),
            };
            let mut outcome = page(sent, request, stop_at).await;
            outcome.page_id = Some(page_id.clone());
            outcome.incident_key = Some(incident_key);
            audit.outcome(&outcome);
            // Straight into the shared table: the pager that started this page may have died since.
            lock(&recent).finished(&key, &page_id, outcome.incident.clone());
            let counted = if outcome.everyone_confirmed() {
                metric_names::PAGES_CONFIRMED_TOTAL
            } else {
                metric_names::PAGES_FALLBACK_TOTAL
            };
            metrics::counter!(counted).increment(1);
            let _ = myself.cast(PagerMessage::Finished(Box::new(outcome.clone())));
            let incident = outcome.incident.clone();
            if reply.send(outcome).is_err() {
                // The gateway gave up waiting and answered with its own fallback; the audit log has this one.
                tracing::warn!("page outcome arrived after the gateway's deadline");
            }
            // After the reply: the other replicas learn the incident (or that the window is free again).
            if let (true, Some(claim)) = (claimed, &claim) {
                if let Err(e) = coordination.settle_page(claim, incident.as_ref()).await {
                    tracing::warn!(error = %e, "the other replicas were not told this page's outcome");
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
    }
}

impl PagerState {
    fn finished(&mut self, outcome: PageOutcome) {
        self.outcomes.push_front(outcome.clone());
        self.outcomes.truncate(RECENT_OUTCOMES);
        self.last = Some(outcome);
    }
}

/// Claims the page's window on every replica, waiting at most [`CLAIM_WAIT`] (and never past `stop_at`):
/// the earlier page when another replica paged the same people first, `None` when this page may go out,
/// also when the claim could not be made in time (then deduplicated on this replica only, and logged).
async fn claim_across_replicas(
    coordination: &dyn Coordination,
    claim: &PageClaim,
    stop_at: Deadline,
) -> Option<PriorPage> {
    let wait = Deadline::after(CLAIM_WAIT).until(stop_at);
    match wait.timeout(coordination.claim_page(claim)).await {
        Ok(Ok(PageClaimed::Claimed)) => None,
        Ok(Ok(PageClaimed::AlreadyPaged(prior))) => {
            tracing::info!(first_by = %prior.requested_by, channel = %prior.channel,
                "same people paged moments ago through another replica; not paging again");
            Some(prior)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "page dedup across replicas unavailable; paging, deduplicated on this replica only");
            None
        }
        Err(_) => {
            tracing::warn!(wait_ms = CLAIM_WAIT.as_millis() as u64,
                "page dedup across replicas did not answer in time; paging, deduplicated on this replica only");
            None
        }
    }
}

/// An earlier page whose outcome is unknown (the bot restarted mid-page): its incident, looked up in
/// PagerDuty by its `incident_key` until `stop_at`, and remembered when found.
async fn find_unknown_incident(
    api: Arc<dyn PagerDutyApi>,
    recent: &SharedRecentPages,
    key: &PageKey,
    mut prior: PriorPage,
    stop_at: Deadline,
) -> PriorPage {
    if prior.state != PriorState::OutcomeUnknown || prior.incident.is_some() {
        return prior;
    }
    let Some(incident_key) = prior.incident_key.clone() else {
        return prior;
    };
    match stop_at.timeout(api.find_incident(&incident_key)).await {
        Ok(Ok(Some(incident))) => {
            lock(recent).found(key, incident.clone());
            prior.incident = Some(incident);
        }
        Ok(Ok(None)) => {
            tracing::warn!(%incident_key, "an earlier page's outcome is unknown and PagerDuty has no incident for it")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, %incident_key, "cannot look up an earlier page's incident")
        }
        Err(_) => {
            tracing::warn!(%incident_key, "looking up an earlier page's incident timed out")
        }
    }
    prior
}

/// What a page confirmed so far; read when the deadline cuts it short.
#[derive(Default)]
struct Progress {
    incident: Option<Incident>,
    assigned: bool,
    /// How many of the targets after the first a responder request has confirmed.
    requested: usize,
    error: Option<String>,
    /// PagerDuty already had an open incident with this page's `incident_key`.
    already_open: Option<Option<Incident>>,
}

/// What a page task sends with.
struct Sent<'a> {
    api: Arc<dyn PagerDutyApi>,
    audit: Arc<AuditLog>,
    from_email: &'a str,
    requester: &'a tokio::sync::Mutex<Option<UserId>>,
    /// Appended before the first PagerDuty write.
    started: AuditRecord,
    incident_key: String,
}

async fn page(sent: Sent<'_>, request: PageRequest, stop_at: Deadline) -> PageOutcome {
    if request.targets.is_empty() {
        return PageOutcome::unconfirmed(request, "nobody to page".to_string());
    }
    let progress = Mutex::new(Progress::default());
    let work = async {
        // Write-ahead, off the runtime's threads and within the deadline like the rest of the page.
        let (audit, started) = (sent.audit.clone(), sent.started.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || audit.append(&started)).await {
            tracing::error!(error = %e, "writing the page's started record failed");
        }
        run_page(
            sent.api.as_ref(),
            sent.from_email,
            sent.requester,
            &request,
            &sent.incident_key,
            &progress,
        )
        .await
    };
    let timed_out = stop_at.timeout(work).await.is_err();
    let p = progress.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(incident) = p.already_open {
        tracing::info!(incident = ?incident.as_ref().map(|i| &i.id), "PagerDuty already has this page's incident open; not paging again");
        let prior = PriorPage {
            requested_by: request.requested_by.clone(),
            channel: request.reply_to.channel.clone(),
            at: SystemTime::now(),
            incident,
            page_id: None,
            incident_key: Some(sent.incident_key.clone()),
            state: PriorState::OpenInPagerDuty,
        };
        return PageOutcome::duplicate(request, prior);
    }
    let failure = match (timed_out, p.error) {
        (_, Some(e)) => Some(e),
        (true, None) => Some("PagerDuty did not answer in time (timeout)".to_string()),
        (false, None) => None,
    };
    let failure = match request.targets.len().checked_sub(MAX_PAGE_TARGETS) {
        Some(over) if over > 0 => {
            let capped = format!(
                "PagerDuty takes at most {MAX_PAGE_TARGETS} people on one incident, so the other {over} were not paged"
            );
            Some(match failure {
                Some(f) => format!("{f}; {capped}"),
                None => capped,
            })
        }
        _ => failure,
    };
    let results = request
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let confirmed = if i == 0 { p.assigned } else { i <= p.requested };
            let r = match (i, confirmed) {
                (0, true) => PersonResult::Assigned,
                (_, true) => PersonResult::Requested,
                _ => PersonResult::NotConfirmed,
            };
            (t.clone(), r)
        })
        .collect();
    let outcome = PageOutcome {
        request,
        incident: p.incident,
        results,
        failure,
        at: SystemTime::now(),
        duplicate_of: None,
        page_id: None,
        incident_key: None,
    };
    match &outcome.failure {
        None => {
            tracing::info!(incident = ?outcome.incident.as_ref().map(|i| &i.id), "page confirmed")
        }
        Some(f) => {
            tracing::warn!(failure = %f, incident = ?outcome.incident.as_ref().map(|i| &i.id), "page not confirmed")
        }
    }
    outcome
}

/// Creates the incident for the first target and, in parallel, finds the bot's user id; then asks the rest (up
/// to [`MAX_PAGE_TARGETS`] in all) to respond, [`MAX_TARGETS_PER_REQUEST`] per request, in order. Records each
/// step in `progress` as it is confirmed.
async fn run_page(
    api: &dyn PagerDutyApi,
    from_email: &str,
    requester: &tokio::sync::Mutex<Option<UserId>>,
    request: &PageRequest,
    incident_key: &str,
    progress: &Mutex<Progress>,
) {
    let record =
        |f: &dyn Fn(&mut Progress)| f(&mut progress.lock().unwrap_or_else(|e| e.into_inner()));
    let primary = &request.targets[0];
    let others: Vec<UserId> = request.targets[1..request.targets.len().min(MAX_PAGE_TARGETS)]
        .iter()
        .map(|t| t.person.id.clone())
        .collect();
    let new = NewIncident {
        title: request.title(),
        details: details(request),
        assignee: primary.person.id.clone(),
        incident_key: Some(incident_key.to_string()),
    };
    let needs_requester = !others.is_empty();
    let (created, requester_id) = tokio::join!(api.create_incident(&new), async {
        if needs_requester {
            Some(requester_id(api, from_email, requester).await)
        } else {
            None
        }
    });
    let incident = match created {
        Ok(incident) => incident,
        Err(PagerDutyError::AlreadyOpen { incident }) => {
            // An earlier try of this very page got through: never page its people twice.
            record(&|p| p.already_open = Some(incident.clone()));
            return;
        }
        Err(e) => {
            record(&|p| p.error = Some(format!("could not create the incident: {e}")));
            return;
        }
    };
    record(&|p| {
        p.incident = Some(incident.clone());
        p.assigned = true;
    });
    let Some(requester_id) = requester_id else {
        return;
    };
    let requester_id = match requester_id {
        Ok(id) => id,
        Err(e) => {
            record(&|p| {
                p.error = Some(format!(
                    "incident created, but adding responders failed: {e}"
                ))
            });
            return;
        }
    };
    let message = request.message.clone().unwrap_or_else(|| request.title());
    for batch in others.chunks(MAX_TARGETS_PER_REQUEST) {
        match api
            .request_responders(&incident.id, &requester_id, batch, &message)
            .await
        {
            Ok(()) => record(&|p| p.requested += batch.len()),
            Err(e) => {
                record(&|p| {
                    p.error = Some(format!(
                        "incident created, but adding responders failed: {e}"
                    ))
                });
                return;
            }
        }
    }
}

/// The bot's own PagerDuty user id, found by its email once and remembered.
async fn requester_id(
    api: &dyn PagerDutyApi,
    from_email: &str,
    cache: &tokio::sync::Mutex<Option<UserId>>,
) -> Result<UserId, PagerDutyError> {
    let mut cached = cache.lock().await;
    if let Some(id) = cached.as_ref() {
        return Ok(id.clone());
    }
    let found = api.find_users(from_email).await?;
    let me = found
        .into_iter()
        .find(|p| p.email.eq_ignore_ascii_case(from_email))
        .ok_or_else(|| PagerDutyError::Rejected {
            status: 404,
            message: format!("no PagerDuty user with the bot's email {from_email}"),
        })?;
    *cached = Some(me.id.clone());
    Ok(me.id)
}

fn details(request: &PageRequest) -> String {
    let mut d = format!(
        "Paged by {} in #{} via icbot: {}.",
        request.requested_by, request.reply_to.channel, request.audience
    );
    if let Some(m) = &request.message {
        d.push_str("\n\n");
        d.push_str(m);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeMode, FakePagerDuty};

    use crate::cache::oncall::Person;
    use crate::chat::ChatTarget;
    use crate::pager::page::{PageTarget, PriorState, Targeting};
    use crate::ports::StateStore;
    use crate::state_store::MemoryStateStore;
    use tokio::time::Instant;

    fn target(id: &str, name: &str) -> PageTarget {
        PageTarget {
            person: Person::new(id, name, format!("{id}@example.com")),
            role: Some("Primary".into()),
        }
    }

    fn request(targets: Vec<PageTarget>) -> PageRequest {
        PageRequest {
            requested_by: "dana".into(),
            reply_to: ChatTarget::channel("ops"),
            audience: "the Incident Commanders".into(),
            targets,
            message: Some("checkout down".into()),
            again: false,
            targeting: Targeting::IncidentCommanders,
        }
    }

    /// A pager as a fresh process would start it: its own dedup table, read back from `store`.
    async fn spawn(pd: Arc<FakePagerDuty>, store: Arc<MemoryStateStore>) -> ActorRef<PagerMessage> {
        spawn_sharing(pd, store, RecentPages::shared(Duration::from_secs(120))).await
    }

    async fn spawn_sharing(
        pd: Arc<FakePagerDuty>,
        store: Arc<MemoryStateStore>,
        recent: SharedRecentPages,
    ) -> ActorRef<PagerMessage> {
        let args = PagerArgs {
            pagerduty: pd,
            audit: Arc::new(AuditLog::new(store, crate::pager::audit::DEFAULT_MAX_BYTES)),
            recent,
            from_email: "icbot@example.com".into(),
            coordination: Arc::new(crate::ports::SingleReplica),
        };
        Actor::spawn(None, PagerActor, args).await.unwrap().0
    }

    /// The outcome records of the audit log.
    fn outcomes(store: &MemoryStateStore) -> Vec<AuditRecord> {
        let log = String::from_utf8(store.load(AUDIT_FILE).unwrap().unwrap_or_default()).unwrap();
        log.lines()
            .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
            .filter(|r| r.event == crate::pager::audit::AuditEvent::Outcome)
            .collect()
    }

    async fn spawn_coordinated(
        pd: Arc<FakePagerDuty>,
        coordination: Arc<crate::fakes::FakeCoordination>,
    ) -> ActorRef<PagerMessage> {
        let args = PagerArgs {
            pagerduty: pd,
            audit: Arc::new(AuditLog::new(
                Arc::new(MemoryStateStore::new()),
                crate::pager::audit::DEFAULT_MAX_BYTES,
            )),
            recent: RecentPages::shared(Duration::from_secs(120)),
            from_email: "icbot@example.com".into(),
            coordination,
        };
        Actor::spawn(None, PagerActor, args).await.unwrap().0
    }

    #[tokio::test]
    async fn a_page_another_replica_sent_is_answered_with_that_page_and_not_sent_again() {
        let pd = Arc::new(FakePagerDuty::demo());
        let coordination = Arc::new(crate::fakes::FakeCoordination::default());
        *coordination.prior_page.lock().unwrap() = Some(PriorPage {
            requested_by: "erik".into(),
            channel: "war-room".into(),
            at: SystemTime::now(),
            incident: None,
            page_id: Some("elsewhere".into()),
            incident_key: None,
            state: PriorState::Recorded,
        });
        let pager = spawn_coordinated(pd.clone(), coordination.clone()).await;
        let people = || vec![target("alice", "Alice"), target("bob", "Bob")];
        let outcome = page_with(&pager, request(people()), Duration::from_secs(5)).await;
        let prior = outcome
            .duplicate_of
            .clone()
            .expect("deduplicated across replicas");
        assert_eq!(prior.requested_by, "erik");
        assert_eq!(prior.channel, "war-room");
        assert!(
            pd.incidents.lock().unwrap().is_empty(),
            "no second incident"
        );
        // Remembered here too: the next repeat on this replica needs no claim.
        *coordination.prior_page.lock().unwrap() = None;
        let again = page_with(&pager, request(people()), Duration::from_secs(5)).await;
        assert_eq!(
            again.duplicate_of.map(|p| p.requested_by).as_deref(),
            Some("erik")
        );
    }

    #[tokio::test]
    async fn a_claimed_page_settles_its_incident_and_an_unreachable_database_never_blocks_a_page() {
        let pd = Arc::new(FakePagerDuty::demo());
        let coordination = Arc::new(crate::fakes::FakeCoordination::default());
        let pager = spawn_coordinated(pd.clone(), coordination.clone()).await;
        let outcome = page_with(
            &pager,
            request(vec![target("alice", "Alice")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(outcome.duplicate_of.is_none());
        let incident = outcome.incident.clone().expect("an incident");
        let settled = async {
            loop {
                if let Some((claim, settled)) =
                    coordination.settled.lock().unwrap().first().cloned()
                {
                    return (claim, settled);
                }
                tokio::task::yield_now().await;
            }
        };
        let (claim, settled) = tokio::time::timeout(Duration::from_secs(5), settled)
            .await
            .expect("settled");
        assert_eq!(claim.dedup_key, "alice");
        assert_eq!(settled, Some(incident));

        coordination.set_unreachable(true);
        let outcome = page_with(
            &pager,
            request(vec![target("bob", "Bob")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(outcome.duplicate_of.is_none());
        assert!(
            outcome.incident.is_some(),
            "paged, deduplicated on this replica only"
        );
    }

    #[tokio::test]
    async fn a_repeat_answers_with_the_first_page_and_again_pages_anyway() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let pager = spawn(pd.clone(), store.clone()).await;
        let people = || vec![target("alice", "Alice"), target("bob", "Bob")];
        let first = page_with(&pager, request(people()), Duration::from_secs(5)).await;
        let mut second_req = request(people());
        second_req.requested_by = "erik".into();
        let second = page_with(&pager, second_req, Duration::from_secs(5)).await;
        let prior = second.duplicate_of.clone().expect("deduplicated");
        assert_eq!(prior.requested_by, "dana");
        assert_eq!(second.incident, first.incident);
        assert_eq!(pd.incidents.lock().unwrap().len(), 1, "no second incident");

        // The dedup memory survives a restart of the pager (read back from the audit log).
        pager.stop(None);
        let pager = spawn(pd.clone(), store.clone()).await;
        let third = page_with(&pager, request(people()), Duration::from_secs(5)).await;
        assert!(
            third.duplicate_of.is_some(),
            "still deduplicated after a restart"
        );

        let mut again = request(people());
        again.again = true;
        let forced = page_with(&pager, again, Duration::from_secs(5)).await;
        assert!(forced.duplicate_of.is_none());
        assert_eq!(
            pd.incidents.lock().unwrap().len(),
            2,
            "--again pages anyway"
        );
        assert_eq!(
            outcomes(&store).len(),
            4,
            "every request is audited, duplicates too"
        );
    }

    #[tokio::test]
    async fn a_huge_roster_is_paged_in_batches_up_to_pagerdutys_limit() {
        let pd = Arc::new(FakePagerDuty::demo());
        let pager = spawn(pd.clone(), Arc::new(MemoryStateStore::new())).await;
        let targets: Vec<PageTarget> = (0..700)
            .map(|i| target(&format!("U{i:04}"), &format!("Person {i}")))
            .collect();
        let outcome = page_with(&pager, request(targets), Duration::from_secs(5)).await;
        let batches: Vec<usize> = pd
            .responder_requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, targets)| targets.len())
            .collect();
        assert_eq!(batches, [300, 199], "the assignee and 499 responders");
        let confirmed = outcome
            .results
            .iter()
            .filter(|(_, r)| *r != PersonResult::NotConfirmed)
            .count();
        assert_eq!(confirmed, MAX_PAGE_TARGETS);
        assert_eq!(outcome.not_confirmed().count(), 200);
        assert_eq!(
            outcome.not_confirmed().next().unwrap().person.id.0,
            "U0500",
            "the first in schedule order are paged"
        );
        let failure = outcome.failure.expect("says who was not paged");
        assert!(
            failure.contains("at most 500") && failure.contains("other 200"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_failed_page_does_not_block_the_next() {
        let pd = Arc::new(FakePagerDuty::demo());
        let pager = spawn(pd.clone(), Arc::new(MemoryStateStore::new())).await;
        pd.fail_with(Some(PagerDutyError::Timeout));
        let failed = page_with(
            &pager,
            request(vec![target("alice", "Alice")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(failed.failure.is_some());
        pd.fail_with(None);
        // Let the pager take in the first page's end before the retry.
        let _ = ractor::call!(pager, PagerMessage::LastOutcome);
        let retry = page_with(
            &pager,
            request(vec![target("alice", "Alice")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(
            retry.duplicate_of.is_none() && retry.everyone_confirmed(),
            "{retry:?}"
        );
    }

    #[tokio::test]
    async fn recent_outcomes_are_kept_newest_first_and_bounded() {
        let pd = Arc::new(FakePagerDuty::demo());
        let pager = spawn(pd.clone(), Arc::new(MemoryStateStore::new())).await;
        for n in 0..RECENT_OUTCOMES + 2 {
            let mut req = request(vec![target("alice", "Alice")]);
            req.again = true;
            req.message = Some(format!("page {n}"));
            page_with(&pager, req, Duration::from_secs(5)).await;
        }
        // The last `Finished` is handled before this call: the mailbox is in order.
        let recent = ractor::call!(pager, PagerMessage::RecentOutcomes).unwrap();
        assert_eq!(recent.len(), RECENT_OUTCOMES);
        let messages: Vec<_> = recent
            .iter()
            .map(|o| o.request.message.clone().unwrap())
            .collect();
        assert_eq!(messages[0], format!("page {}", RECENT_OUTCOMES + 1));
        assert_eq!(messages[RECENT_OUTCOMES - 1], "page 2");
    }

    async fn page_with(
        pager: &ActorRef<PagerMessage>,
        req: PageRequest,
        within: Duration,
    ) -> PageOutcome {
        let deadline = Deadline::after(within);
        ractor::call!(pager, PagerMessage::Page, req, deadline).unwrap()
    }

    #[tokio::test]
    async fn assigns_the_first_and_requests_the_rest() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let pager = spawn(pd.clone(), store.clone()).await;
        let out = page_with(
            &pager,
            request(vec![target("alice", "Alice"), target("bob", "Bob")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(out.everyone_confirmed(), "{out:?}");
        assert_eq!(out.results[0].1, PersonResult::Assigned);
        assert_eq!(out.results[1].1, PersonResult::Requested);
        assert_eq!(
            pd.incidents.lock().unwrap()[0].assignee,
            UserId("alice".into())
        );
        let rr = pd.responder_requests.lock().unwrap().clone();
        assert_eq!(
            rr,
            vec![(
                "Q1".to_string(),
                UserId("icbot".into()),
                vec![UserId("bob".into())]
            )]
        );
        let log = String::from_utf8(store.load(AUDIT_FILE).unwrap().unwrap()).unwrap();
        assert_eq!(outcomes(&store).len(), 1);
        assert!(log.contains("\"requested_by\":\"dana\""), "{log}");
    }

    #[tokio::test]
    async fn a_failure_leaves_everyone_not_confirmed_with_the_reason() {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.fail_with(Some(PagerDutyError::RateLimited { retry_after: None }));
        let pager = spawn(pd, Arc::new(MemoryStateStore::new())).await;
        let out = page_with(
            &pager,
            request(vec![target("alice", "Alice"), target("bob", "Bob")]),
            Duration::from_secs(5),
        )
        .await;
        assert!(out.incident.is_none());
        assert_eq!(out.not_confirmed().count(), 2);
        assert!(out.failure.unwrap().contains("rate limited"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_pagerduty_is_answered_before_the_deadline() {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.set_mode(FakeMode::Hangs);
        let store = Arc::new(MemoryStateStore::new());
        let pager = spawn(pd, store.clone()).await;
        let start = Instant::now();
        let out = page_with(
            &pager,
            request(vec![target("alice", "Alice")]),
            Duration::from_secs(10),
        )
        .await;
        assert!(start.elapsed() <= Duration::from_secs(10));
        assert!(start.elapsed() >= Duration::from_secs(9));
        assert_eq!(
            out.failure.as_deref(),
            Some("PagerDuty did not answer in time (timeout)")
        );
        assert!(
            store.load(AUDIT_FILE).unwrap().is_some(),
            "the fallback is audited too"
        );
    }

    /// A store holding what a bot killed mid-page left: the `started` record of a page of `people`, no outcome.
    fn killed_mid_page(people: &[PageTarget], incident_key: &str) -> Arc<MemoryStateStore> {
        let store = Arc::new(MemoryStateStore::new());
        let req = request(people.to_vec());
        let key = page::key(req.targets.iter().map(|t| &t.person.id));
        let at = SystemTime::now() - Duration::from_secs(30);
        let started = AuditRecord::started(&req, "p-killed", &key, incident_key, at);
        store
            .append_line(AUDIT_FILE, &serde_json::to_string(&started).unwrap())
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_page_whose_outcome_was_lost_is_not_sent_again_and_its_incident_is_found_by_key() {
        let pd = Arc::new(FakePagerDuty::demo());
        let people = vec![target("alice", "Alice"), target("bob", "Bob")];
        // The killed bot's create did reach PagerDuty, with its key.
        pd.create_incident(&NewIncident {
            title: "db down".into(),
            details: String::new(),
            assignee: UserId("alice".into()),
            incident_key: Some("icbot-killed".into()),
        })
        .await
        .unwrap();
        let store = killed_mid_page(&people, "icbot-killed");
        let pager = spawn(pd.clone(), store.clone()).await;
        let out = page_with(&pager, request(people.clone()), Duration::from_secs(5)).await;
        let prior = out.duplicate_of.clone().expect("not paged again");
        assert_eq!(prior.state, PriorState::OutcomeUnknown);
        assert_eq!(prior.requested_by, "dana");
        assert_eq!(
            out.incident.as_ref().map(|i| i.number),
            Some(1),
            "found by its key"
        );
        assert_eq!(pd.incidents.lock().unwrap().len(), 1, "no second incident");
        assert!(pd.responder_requests.lock().unwrap().is_empty());
        let text = crate::commands::format::page_outcome(&out, None).plain();
        assert!(text.contains("did not record its outcome"), "{text}");
        assert!(text.contains("incident #1"), "{text}");
        assert!(text.contains("!ic page --again"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_outcome_without_an_incident_gives_the_phones_within_the_deadline() {
        let pd = Arc::new(FakePagerDuty::demo());
        let mut alice = target("alice", "Alice");
        alice.person.phones.push(crate::cache::oncall::Phone {
            country_code: Some(1),
            number: "5550101".into(),
        });
        let store = killed_mid_page(std::slice::from_ref(&alice), "icbot-never-created");
        let pager = spawn(pd.clone(), store).await;
        // PagerDuty never answers the lookup: the reply still comes by the deadline.
        pd.set_mode(FakeMode::Hangs);
        let start = Instant::now();
        let out = page_with(&pager, request(vec![alice]), Duration::from_secs(10)).await;
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            out.duplicate_of.as_ref().map(|p| p.state),
            Some(PriorState::OutcomeUnknown)
        );
        assert!(out.incident.is_none());
        let reply = crate::commands::format::page_outcome(&out, None);
        assert!(reply.alert);
        let text = reply.plain();
        assert!(text.contains("call them by hand"), "{text}");
        assert!(text.contains("Alice (Primary) — +1 5550101"), "{text}");
        assert!(
            pd.incidents.lock().unwrap().is_empty(),
            "never paged blindly"
        );
    }

    #[tokio::test]
    async fn a_create_pagerduty_already_has_open_is_answered_as_already_paged() {
        let pd = Arc::new(FakePagerDuty::demo());
        let people = || vec![target("alice", "Alice"), target("bob", "Bob")];
        let first = page_with(
            &spawn(pd.clone(), Arc::new(MemoryStateStore::new())).await,
            request(people()),
            Duration::from_secs(5),
        )
        .await;
        assert!(first.everyone_confirmed());
        // A bot whose audit log was lost pages the same people in the same window: same incident_key.
        let pager = spawn(pd.clone(), Arc::new(MemoryStateStore::new())).await;
        let second = page_with(&pager, request(people()), Duration::from_secs(5)).await;
        let prior = second.duplicate_of.clone().expect("already paged");
        assert_eq!(prior.state, PriorState::OpenInPagerDuty);
        assert_eq!(second.incident, first.incident, "with that incident's link");
        assert_eq!(pd.incidents.lock().unwrap().len(), 1, "no second incident");
        assert_eq!(
            pd.responder_requests.lock().unwrap().len(),
            1,
            "nobody asked to respond twice"
        );
        let mut again = request(people());
        again.again = true;
        let forced = page_with(&pager, again, Duration::from_secs(5)).await;
        assert!(
            forced.duplicate_of.is_none(),
            "--again opens a new incident"
        );
        let keys: Vec<Option<String>> = pd
            .incidents
            .lock()
            .unwrap()
            .iter()
            .map(|i| i.incident_key.clone())
            .collect();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0], keys[1]);
        assert!(keys
            .iter()
            .all(|k| k.as_deref().is_some_and(|k| k.starts_with("icbot-"))));
    }

    #[tokio::test]
    async fn the_started_record_is_written_before_pagerduty_is_asked() {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.set_mode(FakeMode::HoldsWrites);
        let store = Arc::new(MemoryStateStore::new());
        let pager = spawn(pd.clone(), store.clone()).await;
        let asked = pager.clone();
        let waiter = tokio::spawn(async move {
            page_with(
                &asked,
                request(vec![target("alice", "Alice")]),
                Duration::from_secs(5),
            )
            .await
        });
        pd.wait_for_writes(1, Duration::from_secs(5)).await;
        let log = String::from_utf8(store.load(AUDIT_FILE).unwrap().unwrap()).unwrap();
        let started: AuditRecord = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert_eq!(started.event, crate::pager::audit::AuditEvent::Started);
        assert_eq!(started.dedup_key, vec![UserId("alice".into())]);
        assert_eq!(started.requested_by, "dana");
        assert!(outcomes(&store).is_empty(), "no outcome yet");
        pd.release();
        let out = waiter.await.unwrap();
        assert_eq!(
            pd.incidents.lock().unwrap()[0].incident_key,
            started.incident_key,
            "the create carries the key the started record names"
        );
        let outcome = outcomes(&store).pop().expect("the outcome follows");
        assert_eq!(outcome.page_id, started.page_id, "tied by the page id");
        assert_eq!(out.page_id, started.page_id);
    }
}
