//! The pager: opens the PagerDuty incident, asks the others to respond, and reports per person.
//!
//! Child of the root supervisor, registered as `pager`. Each page runs in its own task, so one slow page never
//! holds up another, and within the deadline it is given: when the deadline comes first, the outcome says what
//! was confirmed so far and everyone else is "not confirmed", so the room calls them by hand. Every outcome is
//! appended to the audit log ([`page_audit`]) before it is returned. A repeat of a recent page of the same
//! people is answered with the first page instead of a second incident ([`page_dedup`]), unless `again`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::chat::ChatTarget;
use crate::metric_names;
use crate::oncall::{Person, UserId};
use crate::page_audit;
use crate::page_dedup::{self, PriorPage, RecentPages};
use crate::ports::{Incident, NewIncident, PagerDutyApi, PagerDutyError, StateStore};

pub use crate::page_audit::AUDIT_FILE;

/// How long before its deadline a page stops waiting on PagerDuty, to leave time to answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);
/// PagerDuty adds at most 300 users as responders in one request; more take more requests.
const MAX_TARGETS_PER_REQUEST: usize = 300;
/// PagerDuty allows at most 500 unique responders on an incident: a page reaches at most this many people,
/// the first in schedule order, and says who else was not paged.
pub const MAX_PAGE_TARGETS: usize = 500;

pub struct PagerActor;

pub struct PagerArgs {
    pub pagerduty: Arc<dyn PagerDutyApi>,
    pub store: Arc<dyn StateStore>,
    /// The bot's PagerDuty login: its user is the requester of responder requests.
    pub from_email: String,
    /// A page of the same people within this window answers with the first one.
    pub dedup_window: Duration,
}

/// One person to page, and in which role (the schedule they are on call for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageTarget {
    pub person: Person,
    pub role: Option<String>,
}

/// A page to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageRequest {
    /// Chat user who asked.
    pub requested_by: String,
    pub reply_to: ChatTarget,
    /// Whom, in words: "the Incident Commanders", "the responders", "Alice Smith".
    pub audience: String,
    /// The first target gets the incident assigned; the rest are asked to respond.
    pub targets: Vec<PageTarget>,
    pub message: Option<String>,
    /// Page even if the same people were paged within the dedup window.
    pub again: bool,
}

impl PageRequest {
    /// The incident title: the message, or who asked and where.
    pub fn title(&self) -> String {
        match &self.message {
            Some(m) => format!("{m} (paged by {} via icbot)", self.requested_by),
            None => format!(
                "{} paged {} from #{} via icbot",
                self.requested_by, self.audience, self.reply_to.channel
            ),
        }
    }
}

/// What happened to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonResult {
    /// The incident is assigned to them: PagerDuty notifies them.
    Assigned,
    /// A responder request went out to them.
    Requested,
    /// Not confirmed: call them by hand.
    NotConfirmed,
    /// Not paged again: a page of the same people is recent (see `duplicate_of`).
    AlreadyPaged,
}

/// The answer to a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    pub request: PageRequest,
    pub incident: Option<Incident>,
    pub results: Vec<(PageTarget, PersonResult)>,
    /// What failed, in words for the room; `None` when everyone is confirmed.
    pub failure: Option<String>,
    pub at: SystemTime,
    /// Not sent: this earlier page of the same people stands.
    pub duplicate_of: Option<PriorPage>,
}

impl PageOutcome {
    /// Everything failed before PagerDuty confirmed anything (or the pager could not be reached at all).
    pub fn unconfirmed(request: PageRequest, failure: String) -> Self {
        let results = request
            .targets
            .iter()
            .map(|t| (t.clone(), PersonResult::NotConfirmed))
            .collect();
        PageOutcome {
            request,
            incident: None,
            results,
            failure: Some(failure),
            at: SystemTime::now(),
            duplicate_of: None,
        }
    }

    /// Not sent, because `prior` paged the same people moments ago.
    pub fn duplicate(request: PageRequest, prior: PriorPage) -> Self {
        let results = request
            .targets
            .iter()
            .map(|t| (t.clone(), PersonResult::AlreadyPaged))
            .collect();
        PageOutcome {
            incident: prior.incident.clone(),
            request,
            results,
            failure: None,
            at: SystemTime::now(),
            duplicate_of: Some(prior),
        }
    }

    pub fn everyone_confirmed(&self) -> bool {
        self.failure.is_none()
            && self
                .results
                .iter()
                .all(|(_, r)| *r != PersonResult::NotConfirmed)
    }

    pub fn not_confirmed(&self) -> impl Iterator<Item = &PageTarget> {
        self.results
            .iter()
            .filter(|(_, r)| *r == PersonResult::NotConfirmed)
            .map(|(t, _)| t)
    }
}

pub enum PagerMessage {
    /// Page, answering by `deadline` whatever PagerDuty does.
    Page(PageRequest, Instant, RpcReplyPort<PageOutcome>),
    /// The last outcome, for operators.
    LastOutcome(RpcReplyPort<Option<PageOutcome>>),
    /// The last [`RECENT_OUTCOMES`] outcomes, newest first, for the status page.
    RecentOutcomes(RpcReplyPort<Vec<PageOutcome>>),
    /// A page task finished (bookkeeping).
    Finished(Box<PageOutcome>),
    /// Chaos: fail inside the actor, as a bug would.
    Crash,
}

pub struct PagerState {
    pagerduty: Arc<dyn PagerDutyApi>,
    store: Arc<dyn StateStore>,
    from_email: String,
    /// The bot's own user id, looked up once.
    requester: Arc<tokio::sync::Mutex<Option<UserId>>>,
    last: Option<PageOutcome>,
    /// The last outcomes, newest first (since this actor started).
    outcomes: VecDeque<PageOutcome>,
    recent: RecentPages,
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
        let mut recent = RecentPages::new(args.dedup_window);
        let since = SystemTime::now()
            .checked_sub(args.dedup_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        recent.restore(page_audit::sent_since(args.store.as_ref(), since));
        Ok(PagerState {
            pagerduty: args.pagerduty,
            store: args.store,
            from_email: args.from_email,
            requester: Arc::new(tokio::sync::Mutex::new(None)),
            last: None,
            outcomes: VecDeque::new(),
            recent,
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

impl PagerState {
    fn page(
        &mut self,
        myself: ActorRef<PagerMessage>,
        request: PageRequest,
        deadline: Instant,
        reply: RpcReplyPort<PageOutcome>,
    ) {
        let key = page_dedup::key(request.targets.iter().map(|t| &t.person.id));
        let now = SystemTime::now();
        if !request.again {
            if let Some(prior) = self.recent.prior(&key, now).cloned() {
                tracing::info!(first_by = %prior.requested_by, "same people paged moments ago; not paging again");
                let outcome = PageOutcome::duplicate(request, prior);
                page_audit::append(self.store.as_ref(), &outcome);
                let _ = reply.send(outcome);
                return;
            }
        }
        if !request.targets.is_empty() {
            self.recent
                .started(key, &request.requested_by, &request.reply_to.channel, now);
        }
        let api = self.pagerduty.clone();
        let store = self.store.clone();
        let from_email = self.from_email.clone();
        let requester = self.requester.clone();
        let span = tracing::info_span!("page", audience = %request.audience, targets = request.targets.len());
        let task = async move {
            let stop_at = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
            metrics::counter!(metric_names::PAGES_ATTEMPTED_TOTAL).increment(1);
            let outcome = page(api, &from_email, &requester, request, stop_at).await;
            page_audit::append(store.as_ref(), &outcome);
            let counted = if outcome.everyone_confirmed() {
                metric_names::PAGES_CONFIRMED_TOTAL
            } else {
                metric_names::PAGES_FALLBACK_TOTAL
            };
            metrics::counter!(counted).increment(1);
            let _ = myself.cast(PagerMessage::Finished(Box::new(outcome.clone())));
            if reply.send(outcome).is_err() {
                // The gateway gave up waiting and answered with its own fallback; the audit log has this one.
                tracing::warn!("page outcome arrived after the gateway's deadline");
            }
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
    }
}

impl PagerState {
    fn finished(&mut self, outcome: PageOutcome) {
        if outcome.duplicate_of.is_none() {
            let key = page_dedup::key(outcome.request.targets.iter().map(|t| &t.person.id));
            self.recent.finished(&key, outcome.incident.clone());
        }
        self.outcomes.push_front(outcome.clone());
        self.outcomes.truncate(RECENT_OUTCOMES);
        self.last = Some(outcome);
    }
}

/// What a page confirmed so far; read when the deadline cuts it short.
#[derive(Default)]
struct Progress {
    incident: Option<Incident>,
    assigned: bool,
    /// How many of the targets after the first a responder request has confirmed.
    requested: usize,
    error: Option<String>,
}

async fn page(
    api: Arc<dyn PagerDutyApi>,
    from_email: &str,
    requester: &tokio::sync::Mutex<Option<UserId>>,
    request: PageRequest,
    stop_at: Instant,
) -> PageOutcome {
    if request.targets.is_empty() {
        return PageOutcome::unconfirmed(request, "nobody to page".to_string());
    }
    let progress = Mutex::new(Progress::default());
    let work = run_page(api.as_ref(), from_email, requester, &request, &progress);
    let timed_out = tokio::time::timeout_at(stop_at, work).await.is_err();
    let p = progress.into_inner().unwrap_or_else(|e| e.into_inner());
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
    use crate::state_store::MemoryStateStore;

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
        }
    }

    async fn spawn(pd: Arc<FakePagerDuty>, store: Arc<MemoryStateStore>) -> ActorRef<PagerMessage> {
        let args = PagerArgs {
            pagerduty: pd,
            store,
            from_email: "icbot@example.com".into(),
            dedup_window: Duration::from_secs(120),
        };
        Actor::spawn(None, PagerActor, args).await.unwrap().0
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
        let log = String::from_utf8(store.load(AUDIT_FILE).unwrap().unwrap()).unwrap();
        assert_eq!(
            log.lines().count(),
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
        let deadline = Instant::now() + within;
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
        assert_eq!(log.lines().count(), 1);
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
}
