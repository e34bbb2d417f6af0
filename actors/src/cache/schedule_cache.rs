//! The schedule cache: who is on call, refreshed from PagerDuty on a timer, served from memory.
//!
//! Child of the root supervisor, registered as `schedule_cache`. It talks to PagerDuty through
//! [`PagerDutyApi`] and persists each good snapshot through [`StateStore`] as `oncall.json`, which it loads at
//! start so a bot restarted while PagerDuty is down still answers. Commands never wait on a refresh: `Get`
//! answers with the last snapshot at once; only while no snapshot exists yet and the first refresh is running
//! does a `Get` wait for it (the caller bounds that wait by its own deadline).
//!
//! A refresh in which some contact lookups failed is *partial*: the snapshot is served (those people keep the
//! phones fetched before, or none), and the facts, `icbot_oncall_refreshes_total{result="partial"}` and the
//! `icbot_oncall_failed_lookups` gauge say how many failed. While there is no snapshot at all (cold start with
//! PagerDuty down), a failed refresh is retried after [`COLD_RETRY_FIRST`], doubling up to the refresh
//! interval, so `!ic` is fresh within seconds of PagerDuty coming back.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metric_names;
use crate::utc;

use crate::cache::announcer::Announcer;
use crate::cache::handoff::handoffs;
use crate::cache::oncall::{
    human_age, OnCallEntry, OnCallSnapshot, Person, ScheduleOnCall, ScheduleRef, UserId,
};
use crate::cache::user_groups::UserGroupSync;
use crate::ports::{Coordination, PagerDutyApi, PagerDutyError, StateStore};

/// The state file of the last good snapshot.
pub const SNAPSHOT_FILE: &str = "oncall.json";
/// The first retry after a failed refresh while there is no snapshot; it doubles up to the refresh interval.
pub const COLD_RETRY_FIRST: Duration = Duration::from_secs(1);

pub struct ScheduleCacheActor;

#[derive(Clone)]
pub struct ScheduleCacheArgs {
    pub pagerduty: Arc<dyn PagerDutyApi>,
    pub store: Arc<dyn StateStore>,
    pub incident_commanders: Vec<ScheduleRef>,
    pub responders: Vec<ScheduleRef>,
    pub refresh_interval: Duration,
    /// A whole refresh (every page of on-calls and every contact lookup) gives up after this long.
    pub refresh_timeout: Duration,
    /// Contact methods fetched longer ago than this are fetched again.
    pub contacts_ttl: Duration,
    /// Contact lookups in flight at once.
    pub contact_concurrency: usize,
    /// Where the cache publishes its [`CacheFacts`] after every change, for operators and readiness.
    pub facts: watch::Sender<CacheFacts>,
    /// Whether this replica asks PagerDuty (the leader, or one alone) or takes the leader's snapshot.
    pub coordination: Arc<dyn Coordination>,
    /// Posts the handoffs between each good snapshot and the one before (`[[announce]]`); `None`: silent.
    pub announcer: Option<Announcer>,
    /// Sets `[[user_groups]]` to the people on call after each good refresh; `None`: no groups.
    pub user_groups: Option<UserGroupSync>,
}

/// What operators see of the cache, published on a `watch` so reading it never waits on the actor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheFacts {
    /// When the snapshot served now was taken (from PagerDuty or the state file); `None` while there is none.
    pub snapshot_taken_at: Option<SystemTime>,
    /// The snapshot came from the state file and no refresh has succeeded since.
    pub from_state_file: bool,
    /// The last refresh that finished, `None` before the first.
    pub last_refresh: Option<RefreshResult>,
}

/// How the last refresh ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshResult {
    /// A snapshot came of it (possibly partial).
    pub ok: bool,
    /// Some contact lookups failed: those people's phones may be out of date or missing.
    pub partial: bool,
    /// How many contact lookups failed.
    pub failed_lookups: usize,
    pub at: SystemTime,
    /// Why it failed or is partial, in words ("PagerDuty unreachable (timeout)").
    pub error: Option<String>,
}

/// A refresh that failed: what and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFailure {
    pub error: PagerDutyError,
    pub at: SystemTime,
}

/// What a command reads: the last snapshot and how trustworthy it is.
#[derive(Debug, Clone)]
pub struct CacheView {
    pub snapshot: Option<Arc<OnCallSnapshot>>,
    /// Set while the most recent refresh failed.
    pub last_failure: Option<RefreshFailure>,
    pub refresh_interval: Duration,
    /// The snapshot was read from the state file and PagerDuty has not answered since the start.
    pub from_state_file: bool,
    /// The configured schedules, for answers when there is no snapshot at all.
    pub incident_commanders: Vec<ScheduleRef>,
    pub responders: Vec<ScheduleRef>,
}

impl CacheView {
    /// `None` while the data is fresh; otherwise one line saying why it may be out of date and its age, such as
    /// "PagerDuty unreachable (timeout); on-call as of 7 min ago".
    pub fn staleness_note(&self, now: SystemTime) -> Option<String> {
        let snapshot = self.snapshot.as_ref()?;
        let age = snapshot.age(now);
        match &self.last_failure {
            Some(f) => Some(format!(
                "{}; on-call as of {} ago",
                failure_text(&f.error),
                human_age(age)
            )),
            None if self.from_state_file => Some(format!(
                "PagerDuty not reached yet since the bot started; on-call as of {} ago (saved state)",
                human_age(age)
            )),
            None if age > self.refresh_interval * 2 => Some(format!(
                "on-call data not refreshed lately; as of {} ago",
                human_age(age)
            )),
            None => None,
        }
    }
}

/// "PagerDuty unreachable (timeout)", "PagerDuty rejected the request (401: ...)"...
pub fn failure_text(e: &PagerDutyError) -> String {
    match e {
        PagerDutyError::Timeout => "PagerDuty unreachable (timeout)".to_string(),
        PagerDutyError::Transport(why) => format!("PagerDuty unreachable ({why})"),
        other => other.to_string(),
    }
}

pub enum ScheduleCacheMessage {
    /// The current view; waits only while there is no snapshot and the first refresh runs.
    Get(RpcReplyPort<CacheView>),
    /// Timer tick: start a refresh unless one is running.
    Refresh,
    /// Refresh now (or join the refresh running) and answer when it is done: for operators and tests.
    RefreshNow(RpcReplyPort<Result<(), PagerDutyError>>),
    /// A refresh task finished.
    RefreshDone(Result<Refreshed, PagerDutyError>),
    /// People found outside the schedules (`!ic who` searches), so later lookups are local.
    Learn(Vec<Person>),
    /// Chaos: fail inside the actor, as a bug would.
    Crash,
}

pub struct ScheduleCacheState {
    args: Arc<ScheduleCacheArgs>,
    snapshot: Option<Arc<OnCallSnapshot>>,
    last_failure: Option<RefreshFailure>,
    refreshing: bool,
    /// `Get`s parked until the first snapshot exists.
    waiting: Vec<RpcReplyPort<CacheView>>,
    /// `RefreshNow`s waiting for the running refresh.
    refresh_waiters: Vec<RpcReplyPort<Result<(), PagerDutyError>>>,
    /// People learned outside the schedules.
    learned: BTreeMap<UserId, Person>,
    /// The snapshot came from the state file, not from PagerDuty since the start.
    from_state_file: bool,
    /// The next retry after a failed refresh while there is no snapshot.
    cold_retry: Duration,
}

/// What a refresh brought: the snapshot, and how many contact lookups failed in it.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub snapshot: OnCallSnapshot,
    pub failed_lookups: usize,
    /// The error of one failed lookup, to say why.
    pub lookup_error: Option<PagerDutyError>,
}

impl Actor for ScheduleCacheActor {
    type Msg = ScheduleCacheMessage;
    type State = ScheduleCacheState;
    type Arguments = ScheduleCacheArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ScheduleCacheArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let snapshot = load_snapshot(args.store.as_ref()).map(Arc::new);
        if let Some(s) = &snapshot {
            tracing::info!(
                age_secs = s.age(SystemTime::now()).as_secs(),
                "loaded on-call snapshot from state file"
            );
        }
        myself.send_interval(args.refresh_interval, || ScheduleCacheMessage::Refresh);
        myself.cast(ScheduleCacheMessage::Refresh)?;
        let state = ScheduleCacheState {
            args: Arc::new(args),
            last_failure: None,
            refreshing: false,
            waiting: Vec::new(),
            refresh_waiters: Vec::new(),
            learned: BTreeMap::new(),
            from_state_file: snapshot.is_some(),
            snapshot,
            cold_retry: COLD_RETRY_FIRST,
        };
        // A restarted cache keeps the last refresh result it published: it says more than "none yet".
        let last_refresh = state.args.facts.borrow().last_refresh.clone();
        state.args.facts.send_replace(CacheFacts {
            snapshot_taken_at: state.snapshot.as_ref().map(|s| s.taken_at),
            from_state_file: state.from_state_file,
            last_refresh,
        });
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ScheduleCacheMessage::Get(reply) => state.get(reply),
            ScheduleCacheMessage::Refresh => state.start_refresh(myself),
            ScheduleCacheMessage::RefreshNow(reply) => {
                state.refresh_waiters.push(reply);
                state.start_refresh(myself);
            }
            ScheduleCacheMessage::RefreshDone(result) => state.refresh_done(&myself, result),
            ScheduleCacheMessage::Learn(people) => state.learn(people),
            ScheduleCacheMessage::Crash => return Err("crash requested (chaos)".into()),
        }
        Ok(())
    }
}

impl ScheduleCacheState {
    fn view(&self) -> CacheView {
        let snapshot = match (&self.snapshot, self.learned.is_empty()) {
            (Some(s), false) => {
                let mut with_learned = (**s).clone();
                for (id, p) in &self.learned {
                    with_learned
                        .people
                        .entry(id.clone())
                        .or_insert_with(|| p.clone());
                }
                Some(Arc::new(with_learned))
            }
            (s, _) => s.clone(),
        };
        CacheView {
            snapshot,
            last_failure: self.last_failure.clone(),
            refresh_interval: self.args.refresh_interval,
            from_state_file: self.from_state_file,
            incident_commanders: self.args.incident_commanders.clone(),
            responders: self.args.responders.clone(),
        }
    }

    fn get(&mut self, reply: RpcReplyPort<CacheView>) {
        if self.snapshot.is_none() && self.last_failure.is_none() {
            self.waiting.push(reply);
        } else {
            let _ = reply.send(self.view());
        }
    }

    fn start_refresh(&mut self, myself: ActorRef<ScheduleCacheMessage>) {
        if self.refreshing {
            tracing::debug!("refresh still running; tick skipped");
            return;
        }
        self.refreshing = true;
        let args = self.args.clone();
        let known = self
            .snapshot
            .as_ref()
            .map(|s| s.people.clone())
            .unwrap_or_default();
        let ours = self.snapshot.clone();
        tokio::spawn(async move {
            let result = match tokio::time::timeout(
                args.refresh_timeout,
                refresh_as_replica(&args, known, ours),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(PagerDutyError::Timeout),
            };
            // The actor may have been restarted meanwhile; then this result is simply dropped.
            let _ = myself.cast(ScheduleCacheMessage::RefreshDone(result));
        });
    }

    fn refresh_done(
        &mut self,
        myself: &ActorRef<ScheduleCacheMessage>,
        result: Result<Refreshed, PagerDutyError>,
    ) {
        self.refreshing = false;
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        for waiter in self.refresh_waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
        match result {
            Ok(Refreshed {
                snapshot,
                failed_lookups,
                lookup_error,
            }) => {
                let on_call: usize = snapshot
                    .incident_commanders
                    .iter()
                    .chain(&snapshot.responders)
                    .map(|s| s.people.len())
                    .sum();
                let partial = failed_lookups > 0;
                let why = lookup_error
                    .map(|e| format!(" ({})", failure_text(&e)))
                    .unwrap_or_default();
                let error = partial.then(|| {
                    format!("{failed_lookups} contact lookup(s) failed{why}; their phones may be out of date")
                });
                if partial {
                    tracing::warn!(
                        on_call,
                        people = snapshot.people.len(),
                        failed_lookups,
                        "on-call refreshed, partially: contact lookups failed"
                    );
                } else {
                    tracing::info!(on_call, people = snapshot.people.len(), "on-call refreshed");
                }
                // Write-ahead: the announcements are recorded, then the snapshot that makes them old news is
                // saved, and only then are they posted (see `announcer`).
                // Background work, the leader's alone: other replicas keep their baseline in step but say
                // nothing, so several replicas announce and set the groups once.
                let leads = self.args.coordination.leader_term().is_some();
                let announcements = match (&self.args.announcer, &self.snapshot) {
                    (Some(announcer), Some(previous)) if leads => {
                        let changed = handoffs(previous, &snapshot);
                        if !changed.is_empty() {
                            tracing::info!(handoffs = changed.len(), "on-call changed");
                        }
                        Some((announcer, announcer.intend(&changed, SystemTime::now())))
                    }
                    _ => None,
                };
                save_snapshot(self.args.store.as_ref(), &snapshot);
                if let Some((announcer, batch)) = announcements {
                    announcer.post(batch);
                }
                let label = if partial { "partial" } else { "ok" };
                metrics::counter!(metric_names::ONCALL_REFRESHES_TOTAL, "result" => label)
                    .increment(1);
                metrics::gauge!(metric_names::ONCALL_FAILED_LOOKUPS).set(failed_lookups as f64);
                self.args.facts.send_replace(CacheFacts {
                    snapshot_taken_at: Some(snapshot.taken_at),
                    from_state_file: false,
                    last_refresh: Some(RefreshResult {
                        ok: true,
                        partial,
                        failed_lookups,
                        at: SystemTime::now(),
                        error,
                    }),
                });
                let snapshot = Arc::new(snapshot);
                if let Some(groups) = self.args.user_groups.as_ref().filter(|_| leads) {
                    groups.sync(snapshot.clone());
                }
                self.snapshot = Some(snapshot);
                self.last_failure = None;
                self.from_state_file = false;
                self.cold_retry = COLD_RETRY_FIRST;
            }
            Err(error) => {
                tracing::warn!(error = %error, have_snapshot = self.snapshot.is_some(), "on-call refresh failed");
                metrics::counter!(metric_names::ONCALL_REFRESHES_TOTAL, "result" => "failed")
                    .increment(1);
                let at = SystemTime::now();
                let text = failure_text(&error);
                self.args.facts.send_modify(|facts| {
                    facts.last_refresh = Some(RefreshResult {
                        ok: false,
                        partial: false,
                        failed_lookups: 0,
                        at,
                        error: Some(text),
                    })
                });
                self.last_failure = Some(RefreshFailure { error, at });
                if self.snapshot.is_none() {
                    // Nothing to answer from: try again soon rather than a whole interval later.
                    let retry = self.cold_retry;
                    self.cold_retry = (retry * 2).min(self.args.refresh_interval);
                    tracing::info!(
                        retry_ms = retry.as_millis() as u64,
                        "no on-call snapshot yet; retrying the refresh"
                    );
                    myself.send_after(retry, || ScheduleCacheMessage::Refresh);
                }
            }
        }
        let view = self.view();
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(view.clone());
        }
    }

    fn learn(&mut self, people: Vec<Person>) {
        for p in people {
            self.learned.insert(p.id.clone(), p);
        }
    }
}

/// One refresh, as one replica of several ([`Coordination`]): the leader asks PagerDuty and shares what it
/// got (fenced by the term it had when it started); any other replica takes the shared snapshot instead, so
/// PagerDuty's rate limit is spent once. A replica that cannot read a shared snapshot (none yet, or the
/// database is unreachable and so nobody leads) asks PagerDuty itself: the on-call data stays fresh.
async fn refresh_as_replica(
    args: &ScheduleCacheArgs,
    known: BTreeMap<UserId, Person>,
    ours: Option<Arc<OnCallSnapshot>>,
) -> Result<Refreshed, PagerDutyError> {
    let coordination = args.coordination.as_ref();
    if let Some(term) = coordination.leader_term() {
        let refreshed = refresh(args, known).await?;
        if let Err(e) = coordination.share_snapshot(term, &refreshed.snapshot).await {
            tracing::warn!(error = %e, "on-call snapshot not shared with the other replicas");
        }
        return Ok(refreshed);
    }
    match coordination.shared_snapshot().await {
        Ok(Some(shared)) => {
            // Ours is newer when this replica asked PagerDuty itself while nobody led: keep it until the
            // leader shares a newer one.
            let snapshot = match ours {
                Some(ours) if ours.taken_at > shared.taken_at => {
                    tracing::debug!("the shared on-call snapshot is older than ours; keeping ours");
                    (*ours).clone()
                }
                _ => {
                    tracing::debug!("on-call snapshot taken from the leader's");
                    shared
                }
            };
            Ok(Refreshed {
                snapshot,
                failed_lookups: 0,
                lookup_error: None,
            })
        }
        Ok(None) => {
            tracing::info!("no shared on-call snapshot yet; refreshing from PagerDuty");
            refresh(args, known).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the shared on-call snapshot; refreshing from PagerDuty");
            refresh(args, known).await
        }
    }
}

/// One refresh: every page of on-calls for all schedules, then contact methods for people not known or stale.
async fn refresh(
    args: &ScheduleCacheArgs,
    known: BTreeMap<UserId, Person>,
) -> Result<Refreshed, PagerDutyError> {
    let ids: Vec<String> = args
        .incident_commanders
        .iter()
        .chain(&args.responders)
        .map(|s| s.id.clone())
        .collect::<Vec<_>>();
    let entries = args.pagerduty.on_calls(&ids).await?;
    let taken_at = SystemTime::now();

    let mut people: BTreeMap<UserId, Person> = BTreeMap::new();
    let mut to_fetch = Vec::new();
    for e in &entries {
        if people.contains_key(&e.user.id) {
            continue;
        }
        let cached = known.get(&e.user.id).filter(|p| {
            p.contacts_fetched_at
                .and_then(|at| taken_at.duration_since(at).ok())
                .is_some_and(|age| age < args.contacts_ttl)
        });
        match cached {
            Some(p) => {
                let mut p = p.clone();
                // Names and emails come fresh with every on-call answer.
                if !e.user.name.is_empty() {
                    p.name = e.user.name.clone();
                }
                if !e.user.email.is_empty() {
                    p.email = e.user.email.clone();
                }
                people.insert(p.id.clone(), p);
            }
            None => {
                to_fetch.push(e.user.id.clone());
                // Until the lookup answers, keep what we knew (phones from an older fetch beat none).
                let fallback = known
                    .get(&e.user.id)
                    .cloned()
                    .unwrap_or_else(|| e.user.clone());
                people.insert(e.user.id.clone(), fallback);
            }
        }
    }

    // A lookup that failed, or whose task died, leaves that person as they were: counted as failed.
    let mut failed_lookups = to_fetch.len();
    let mut lookup_error = None;
    for (id, fetched) in fetch_contacts(args, to_fetch).await {
        match fetched {
            Ok(person) => {
                people.insert(id, person);
                failed_lookups -= 1;
            }
            Err(error) => {
                tracing::warn!(error = %error, user = %id, "contact methods lookup failed");
                lookup_error = Some(error);
            }
        }
    }

    Ok(Refreshed {
        snapshot: OnCallSnapshot {
            taken_at,
            incident_commanders: group(&args.incident_commanders, &entries),
            responders: group(&args.responders, &entries),
            people,
        },
        failed_lookups,
        lookup_error,
    })
}

/// From this many people to fetch, their contacts come from pages of the user list (100 people a request)
/// rather than one `GET /users/{id}` each. Below it, per-person lookups (in parallel) are fewer requests.
pub const LIST_USERS_FROM: usize = 20;

/// Contacts for `ids`: with many people, pages of the whole user list first, stopping once everyone is
/// found; then one lookup per person still missing (not in the list, or the listing failed). The list is read
/// for at most one page per [`LIST_PAGE_PER_PEOPLE`] people, so in an account much larger than the people on
/// call the worst case is bounded (1.5 requests per person) rather than a walk over every user.
async fn fetch_contacts(
    args: &ScheduleCacheArgs,
    ids: Vec<UserId>,
) -> Vec<(UserId, Result<Person, PagerDutyError>)> {
    let mut results = Vec::with_capacity(ids.len());
    let mut missing: HashSet<UserId> = ids.iter().cloned().collect();
    if ids.len() >= LIST_USERS_FROM {
        let max_pages = ids.len() / LIST_PAGE_PER_PEOPLE;
        let mut offset = Some(0);
        let mut pages = 0;
        while let Some(at) = offset {
            if missing.is_empty() || pages >= max_pages {
                break;
            }
            pages += 1;
            match args.pagerduty.users_page(at).await {
                Ok(page) => {
                    for person in page.people {
                        if missing.remove(&person.id) {
                            results.push((person.id.clone(), Ok(person)));
                        }
                    }
                    offset = page.next_offset;
                }
                Err(error) => {
                    tracing::warn!(error = %error, offset = at, "listing users failed; looking the rest up one by one");
                    break;
                }
            }
        }
        tracing::debug!(
            pages,
            found = results.len(),
            missing = missing.len(),
            "contacts from the user list"
        );
    }
    let rest: Vec<UserId> = ids.into_iter().filter(|id| missing.contains(id)).collect();
    results.extend(look_up_each(args, rest).await);
    results
}

/// The user list is read for at most one page per this many people to find.
pub const LIST_PAGE_PER_PEOPLE: usize = 2;

/// Contact lookups with at most `contact_concurrency` in flight; each user once.
async fn look_up_each(
    args: &ScheduleCacheArgs,
    ids: Vec<UserId>,
) -> Vec<(UserId, Result<Person, PagerDutyError>)> {
    let mut results = Vec::with_capacity(ids.len());
    let mut queue = ids.into_iter();
    let mut running = JoinSet::new();
    let limit = args.contact_concurrency.max(1);
    loop {
        while running.len() < limit {
            let Some(id) = queue.next() else { break };
            let api = args.pagerduty.clone();
            running.spawn(async move {
                let r = api.user(&id).await;
                (id, r)
            });
        }
        match running.join_next().await {
            Some(Ok(done)) => results.push(done),
            Some(Err(e)) => tracing::warn!(error = %e, "contact lookup task failed"),
            None => break,
        }
    }
    results
}

/// The entries of each configured schedule, in config order, each person once, lowest escalation level first.
fn group(schedules: &[ScheduleRef], entries: &[OnCallEntry]) -> Vec<ScheduleOnCall> {
    schedules
        .iter()
        .map(|schedule| {
            let mut mine: Vec<&OnCallEntry> = entries
                .iter()
                .filter(|e| e.schedule_id == schedule.id)
                .collect();
            mine.sort_by_key(|e| e.escalation_level);
            let mut seen = HashSet::new();
            let mut shift_ends = BTreeMap::new();
            let people = mine
                .into_iter()
                .filter(|e| seen.insert(e.user.id.clone()))
                .map(|e| {
                    if let Some(end) = e.end.as_deref().and_then(utc::parse_rfc3339) {
                        shift_ends.insert(e.user.id.clone(), end);
                    }
                    e.user.id.clone()
                })
                .collect();
            ScheduleOnCall {
                schedule: schedule.clone(),
                people,
                shift_ends,
            }
        })
        .collect()
}

fn load_snapshot(store: &dyn StateStore) -> Option<OnCallSnapshot> {
    crate::state_store::json::load_json(store, SNAPSHOT_FILE)
}

fn save_snapshot(store: &dyn StateStore, snapshot: &OnCallSnapshot) {
    let result = serde_json::to_vec(snapshot)
        .map_err(std::io::Error::other)
        .and_then(|bytes| store.save(SNAPSHOT_FILE, &bytes));
    if let Err(e) = result {
        tracing::warn!(error = %e, file = SNAPSHOT_FILE, "cannot save on-call snapshot");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::announcer::AnnounceRule;
    use crate::chat::ChatTarget;
    use crate::fakes::{FakePagerDuty, RecordingChat};
    use crate::local_time::ReaderZone;
    use crate::state_store::MemoryStateStore;

    fn args(pd: Arc<FakePagerDuty>, store: Arc<MemoryStateStore>) -> ScheduleCacheArgs {
        ScheduleCacheArgs {
            pagerduty: pd,
            store,
            incident_commanders: vec![
                ScheduleRef {
                    id: "P".into(),
                    label: "Primary".into(),
                },
                ScheduleRef {
                    id: "S".into(),
                    label: "Shadow".into(),
                },
            ],
            responders: vec![ScheduleRef {
                id: "T".into(),
                label: "Team".into(),
            }],
            refresh_interval: Duration::from_secs(60),
            refresh_timeout: Duration::from_secs(20),
            contacts_ttl: Duration::from_secs(3600),
            contact_concurrency: 4,
            facts: watch::channel(CacheFacts::default()).0,
            coordination: Arc::new(crate::ports::SingleReplica),
            announcer: None,
            user_groups: None,
        }
    }

    async fn get(cache: &ActorRef<ScheduleCacheMessage>) -> CacheView {
        ractor::call_t!(cache, ScheduleCacheMessage::Get, 5_000).expect("cache answers")
    }

    fn announcing(
        pd: Arc<FakePagerDuty>,
        store: Arc<MemoryStateStore>,
        chat: Arc<RecordingChat>,
    ) -> ScheduleCacheArgs {
        let mut a = args(pd, store.clone());
        a.announcer = Some(Announcer::new(
            chat,
            store,
            vec![AnnounceRule {
                target: ChatTarget::channel("ops"),
                schedule_ids: vec!["P".into(), "S".into(), "T".into()],
            }],
            ReaderZone::utc(),
        ));
        a
    }

    async fn refresh_now(cache: &ActorRef<ScheduleCacheMessage>) -> Result<(), PagerDutyError> {
        ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000).unwrap()
    }

    #[tokio::test]
    async fn handoffs_are_announced_once_and_failures_and_restarts_announce_nothing() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let chat = RecordingChat::new();
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            announcing(pd.clone(), store.clone(), chat.clone()),
        )
        .await
        .unwrap();
        get(&cache).await;
        assert_eq!(refresh_now(&cache).await, Ok(()));
        assert_eq!(
            chat.total(),
            0,
            "the first snapshot and an unchanged one announce nothing"
        );

        pd.set_on_call("P", &["bob"]);
        pd.set_on_call("S", &[]);
        assert_eq!(refresh_now(&cache).await, Ok(()));
        let posts = chat.wait_for("ops", 2).await;
        assert_eq!(
            posts,
            [
                "Primary: Alice Smith → Bob Jones\nBob Jones: +44 7700900123",
                "Nobody on call for Shadow (was Bob Jones, Carol White)"
            ]
        );

        // A failed refresh is not a change; the refresh after it compares with the last good snapshot.
        pd.fail_with(Some(PagerDutyError::Timeout));
        assert!(refresh_now(&cache).await.is_err());
        pd.fail_with(None);
        assert_eq!(refresh_now(&cache).await, Ok(()));
        cache.stop(None);
        h.await.unwrap();

        // A restart compares with the saved snapshot: nothing new, nothing said.
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            announcing(pd.clone(), store.clone(), chat.clone()),
        )
        .await
        .unwrap();
        assert_eq!(refresh_now(&cache).await, Ok(()));
        // A change while the bot was down is announced by the first refresh after it.
        cache.stop(None);
        h.await.unwrap();
        pd.set_on_call("T", &["carol"]);
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            announcing(pd.clone(), store.clone(), chat.clone()),
        )
        .await
        .unwrap();
        let posts = chat.wait_for("ops", 3).await;
        assert_eq!(
            posts[2],
            "Team: nobody → Carol White\nCarol White: no phone in PagerDuty"
        );
        assert_eq!(refresh_now(&cache).await, Ok(()));
        assert_eq!(chat.total(), 3, "each change once");
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn the_leader_asks_pagerduty_and_shares_with_its_term() {
        use crate::fakes::FakeCoordination;
        use crate::ports::LeaderTerm;
        let pd = Arc::new(FakePagerDuty::demo());
        let coordination = Arc::new(FakeCoordination::default());
        coordination.set_term(Some(LeaderTerm(7)));
        let mut a = args(pd.clone(), Arc::new(MemoryStateStore::new()));
        a.coordination = coordination.clone();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000)
            .unwrap()
            .unwrap();
        assert!(pd.on_call_requests() >= 1);
        let shares = coordination.shares.lock().unwrap().clone();
        assert!(!shares.is_empty(), "the leader shares what it fetched");
        assert!(shares.iter().all(|(term, _)| *term == LeaderTerm(7)));
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn a_follower_takes_the_shared_snapshot_and_never_asks_pagerduty() {
        use crate::fakes::FakeCoordination;
        let leader_pd = Arc::new(FakePagerDuty::demo());
        let shared = refresh(
            &args(leader_pd, Arc::new(MemoryStateStore::new())),
            BTreeMap::new(),
        )
        .await
        .unwrap()
        .snapshot;
        let pd = Arc::new(FakePagerDuty::demo());
        let coordination = Arc::new(FakeCoordination::default());
        coordination.set_shared(Some(shared.clone()));
        let mut a = args(pd.clone(), Arc::new(MemoryStateStore::new()));
        a.coordination = coordination.clone();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        let view = get(&cache).await;
        assert_eq!(view.snapshot.expect("a snapshot").taken_at, shared.taken_at);
        ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000)
            .unwrap()
            .unwrap();
        assert_eq!(pd.on_call_requests(), 0, "PagerDuty is the leader's to ask");
        assert_eq!(pd.user_lookups(), 0);
        assert!(
            coordination.shares.lock().unwrap().is_empty(),
            "a follower shares nothing"
        );
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn without_a_leader_or_a_database_a_replica_asks_pagerduty_itself() {
        use crate::fakes::FakeCoordination;
        let pd = Arc::new(FakePagerDuty::demo());
        let coordination = Arc::new(FakeCoordination::default());
        coordination.set_unreachable(true);
        let mut a = args(pd.clone(), Arc::new(MemoryStateStore::new()));
        a.coordination = coordination.clone();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        assert!(get(&cache).await.snapshot.is_some());
        assert!(pd.on_call_requests() >= 1, "on-call data stays fresh");
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn a_follower_takes_the_leader_s_handoff_silently() {
        use crate::fakes::FakeCoordination;
        let leader_pd = Arc::new(FakePagerDuty::demo());
        let before = refresh(
            &args(leader_pd.clone(), Arc::new(MemoryStateStore::new())),
            BTreeMap::new(),
        )
        .await
        .unwrap()
        .snapshot;
        leader_pd.set_on_call("P", &["bob"]);
        let after = refresh(
            &args(leader_pd, Arc::new(MemoryStateStore::new())),
            BTreeMap::new(),
        )
        .await
        .unwrap()
        .snapshot;
        let coordination = Arc::new(FakeCoordination::default());
        coordination.set_shared(Some(before));
        let chat = RecordingChat::new();
        let mut a = announcing(
            Arc::new(FakePagerDuty::demo()),
            Arc::new(MemoryStateStore::new()),
            chat.clone(),
        );
        a.coordination = coordination.clone();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        get(&cache).await;
        coordination.set_shared(Some(after));
        assert_eq!(refresh_now(&cache).await, Ok(()));
        let view = get(&cache).await;
        assert_eq!(
            view.snapshot.unwrap().incident_commanders[0].people,
            vec![UserId("bob".into())],
            "the follower serves the handoff"
        );
        assert_eq!(chat.total(), 0, "and leaves announcing it to the leader");
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn first_get_waits_for_the_first_refresh() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, args(pd.clone(), store.clone()))
            .await
            .unwrap();
        let view = get(&cache).await;
        let snap = view.snapshot.clone().expect("a snapshot");
        assert_eq!(
            snap.incident_commanders[0].people,
            vec![UserId("alice".into())]
        );
        assert_eq!(
            snap.incident_commanders[1].people.len(),
            2,
            "two shadows at once"
        );
        assert!(
            snap.responders[0].people.is_empty(),
            "nobody on call in Team"
        );
        assert_eq!(snap.people[&UserId("alice".into())].phones.len(), 1);
        assert!(view.staleness_note(SystemTime::now()).is_none());
        assert!(
            store.load(SNAPSHOT_FILE).unwrap().is_some(),
            "snapshot saved"
        );
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn facts_are_published_on_refreshes_and_restarts() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let a = args(pd.clone(), store.clone());
        let mut facts = a.facts.subscribe();
        assert_eq!(*facts.borrow(), CacheFacts::default());
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        let after_first = facts
            .wait_for(|f| f.last_refresh.is_some())
            .await
            .unwrap()
            .clone();
        assert!(after_first.snapshot_taken_at.is_some());
        assert!(!after_first.from_state_file);
        assert!(after_first.last_refresh.as_ref().unwrap().ok);

        pd.fail_with(Some(PagerDutyError::Timeout));
        cache.cast(ScheduleCacheMessage::Refresh).unwrap();
        let failed = facts
            .wait_for(|f| f.last_refresh.as_ref().is_some_and(|r| !r.ok))
            .await
            .unwrap()
            .clone();
        assert_eq!(failed.snapshot_taken_at, after_first.snapshot_taken_at);
        let error = failed.last_refresh.unwrap().error.unwrap();
        assert_eq!(error, "PagerDuty unreachable (timeout)");
        cache.stop(None);
        h.await.unwrap();

        // A new cache on the same store publishes the state file's snapshot before any refresh answers.
        let mut again = args(pd, store);
        again.facts = watch::channel(CacheFacts::default()).0;
        let facts = again.facts.subscribe();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, again).await.unwrap();
        assert!(facts.borrow().snapshot_taken_at.is_some());
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn failed_refresh_keeps_the_snapshot_and_says_so() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, args(pd.clone(), store))
            .await
            .unwrap();
        get(&cache).await;
        pd.fail_with(Some(PagerDutyError::Timeout));
        let refreshed = ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000).unwrap();
        assert!(refreshed.is_err());
        let view = get(&cache).await;
        assert!(view.snapshot.is_some());
        let note = view.staleness_note(SystemTime::now()).unwrap();
        assert!(
            note.starts_with("PagerDuty unreachable (timeout); on-call as of"),
            "{note}"
        );
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn refresh_now_answers_when_the_refresh_is_done() {
        let pd = Arc::new(FakePagerDuty::demo());
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            args(pd.clone(), Arc::new(MemoryStateStore::new())),
        )
        .await
        .unwrap();
        get(&cache).await;
        pd.fail_with(Some(PagerDutyError::Timeout));
        let r = ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000).unwrap();
        assert_eq!(r, Err(PagerDutyError::Timeout));
        assert!(
            get(&cache).await.last_failure.is_some(),
            "the view shows the failure at once"
        );
        pd.fail_with(None);
        assert_eq!(
            ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000).unwrap(),
            Ok(())
        );
        assert!(get(&cache).await.last_failure.is_none());
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn restart_with_pagerduty_down_answers_from_the_state_file() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, args(pd.clone(), store.clone()))
            .await
            .unwrap();
        get(&cache).await;
        cache.stop(None);
        h.await.unwrap();

        pd.fail_with(Some(PagerDutyError::Transport("connection refused".into())));
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, args(pd.clone(), store))
            .await
            .unwrap();
        let view = get(&cache).await;
        assert!(view.snapshot.is_some(), "answered from the state file");
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn corrupt_state_file_is_ignored() {
        let pd = Arc::new(FakePagerDuty::demo());
        let store = Arc::new(MemoryStateStore::new());
        store.save(SNAPSHOT_FILE, b"{ not json").unwrap();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, args(pd, store))
            .await
            .unwrap();
        assert!(get(&cache).await.snapshot.is_some());
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn no_snapshot_and_pagerduty_down_answers_with_the_error() {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.fail_with(Some(PagerDutyError::Timeout));
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            args(pd, Arc::new(MemoryStateStore::new())),
        )
        .await
        .unwrap();
        let view = get(&cache).await;
        assert!(view.snapshot.is_none());
        assert_eq!(view.last_failure.unwrap().error, PagerDutyError::Timeout);
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn contacts_are_fetched_once_per_person_and_reused_while_fresh() {
        let pd = Arc::new(FakePagerDuty::demo());
        let (cache, h) = Actor::spawn(
            None,
            ScheduleCacheActor,
            args(pd.clone(), Arc::new(MemoryStateStore::new())),
        )
        .await
        .unwrap();
        get(&cache).await;
        let first = pd.user_lookups();
        assert_eq!(first, 3, "alice, bob, carol once each");
        let refreshed = ractor::call_t!(cache, ScheduleCacheMessage::RefreshNow, 5_000).unwrap();
        assert_eq!(refreshed, Ok(()));
        assert_eq!(pd.on_call_requests(), 2);
        assert_eq!(pd.user_lookups(), first, "fresh contacts reused");
        cache.stop(None);
        h.await.unwrap();
    }

    /// `args` with schedule `C` (the fake's crowd) as a responder schedule.
    fn crowd_args(pd: Arc<FakePagerDuty>) -> ScheduleCacheArgs {
        let mut a = args(pd, Arc::new(MemoryStateStore::new()));
        a.responders.push(ScheduleRef {
            id: "C".into(),
            label: "Crowd".into(),
        });
        a
    }

    #[tokio::test]
    async fn many_people_come_from_pages_of_the_user_list_with_their_phones() {
        // 250 in the crowd, alice, bob, carol: 253 to fetch, 3 pages of the list, no lookups by id.
        let pd = Arc::new(FakePagerDuty::demo().with_crowd(250));
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, crowd_args(pd.clone()))
            .await
            .unwrap();
        let snapshot = get(&cache).await.snapshot.expect("a snapshot");
        assert_eq!(pd.user_list_requests(), 3);
        assert_eq!(pd.user_lookups(), 0);
        assert_eq!(snapshot.people.len(), 253);
        let last = &snapshot.people[&UserId("crowd249".into())];
        assert_eq!(last.phones[0].number, "5550249");
        assert!(last.contacts_fetched_at.is_some());
        assert_eq!(
            snapshot.people[&UserId("bob".into())].phones[0].number,
            "7700900123"
        );
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn a_person_missing_from_the_user_list_is_looked_up_by_id() {
        // The fake leaves a failing user out of its list: the cache falls back to the lookup, which fails,
        // and the refresh says so, as before.
        let pd = Arc::new(FakePagerDuty::demo().with_crowd(30));
        pd.fail_user("crowd7");
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, crowd_args(pd.clone()))
            .await
            .unwrap();
        let view = get(&cache).await;
        assert_eq!(pd.user_list_requests(), 1);
        assert_eq!(pd.user_lookups(), 1, "only crowd7, by id");
        let snapshot = view.snapshot.expect("a snapshot all the same");
        assert_eq!(snapshot.people.len(), 33);
        assert!(snapshot.people[&UserId("crowd7".into())].phones.is_empty());
        assert_eq!(snapshot.people[&UserId("crowd8".into())].phones.len(), 1);
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test]
    async fn when_listing_users_fails_everyone_is_looked_up_by_id() {
        let pd = Arc::new(FakePagerDuty::demo().with_crowd(30));
        let a = crowd_args(pd.clone());
        // Only the list fails: the fake's gate is shared, so fail it through a wrapper.
        let a = ScheduleCacheArgs {
            pagerduty: Arc::new(ListFails(pd.clone())),
            ..a
        };
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        let snapshot = get(&cache).await.snapshot.expect("a snapshot");
        assert_eq!(pd.user_lookups(), 33);
        assert_eq!(snapshot.people[&UserId("crowd29".into())].phones.len(), 1);
        cache.stop(None);
        h.await.unwrap();
    }

    /// The fake, with `users_page` failing.
    struct ListFails(Arc<FakePagerDuty>);

    #[async_trait::async_trait]
    impl PagerDutyApi for ListFails {
        async fn on_calls(&self, ids: &[String]) -> Result<Vec<OnCallEntry>, PagerDutyError> {
            self.0.on_calls(ids).await
        }
        async fn user(&self, id: &UserId) -> Result<Person, PagerDutyError> {
            self.0.user(id).await
        }
        async fn find_users(&self, query: &str) -> Result<Vec<Person>, PagerDutyError> {
            self.0.find_users(query).await
        }
        async fn users_page(
            &self,
            _offset: usize,
        ) -> Result<crate::ports::UsersPage, PagerDutyError> {
            Err(PagerDutyError::Timeout)
        }
        async fn create_incident(
            &self,
            incident: &crate::ports::NewIncident,
        ) -> Result<crate::ports::Incident, PagerDutyError> {
            self.0.create_incident(incident).await
        }
        async fn find_incident(
            &self,
            key: &str,
        ) -> Result<Option<crate::ports::Incident>, PagerDutyError> {
            self.0.find_incident(key).await
        }
        async fn request_responders(
            &self,
            incident_id: &str,
            requester: &UserId,
            targets: &[UserId],
            message: &str,
        ) -> Result<(), PagerDutyError> {
            self.0
                .request_responders(incident_id, requester, targets, message)
                .await
        }
        async fn open_incidents(&self) -> Result<Vec<crate::ports::IncidentState>, PagerDutyError> {
            self.0.open_incidents().await
        }
        async fn set_incident_status(
            &self,
            incident_id: &str,
            status: crate::ports::IncidentStatus,
            resolution: Option<&str>,
            from: Option<&str>,
        ) -> Result<crate::ports::IncidentState, PagerDutyError> {
            self.0
                .set_incident_status(incident_id, status, resolution, from)
                .await
        }
        async fn add_note(
            &self,
            incident_id: &str,
            text: &str,
            from: Option<&str>,
        ) -> Result<(), PagerDutyError> {
            self.0.add_note(incident_id, text, from).await
        }
    }

    #[tokio::test]
    async fn a_refresh_with_failed_contact_lookups_is_partial_and_says_how_many() {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.fail_user("bob");
        let a = args(pd.clone(), Arc::new(MemoryStateStore::new()));
        let mut facts = a.facts.subscribe();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        let view = get(&cache).await;
        let snapshot = view.snapshot.expect("a snapshot all the same");
        assert_eq!(snapshot.people[&UserId("alice".into())].phones.len(), 1);
        let refreshed = facts
            .wait_for(|f| f.last_refresh.is_some())
            .await
            .unwrap()
            .clone()
            .last_refresh
            .unwrap();
        assert!(refreshed.ok && refreshed.partial, "{refreshed:?}");
        assert_eq!(refreshed.failed_lookups, 1);
        let error = refreshed.error.expect("says why");
        assert!(
            error.starts_with("1 contact lookup(s) failed (PagerDuty rejected the request (500"),
            "{error}"
        );
        cache.stop(None);
        h.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_snapshot_a_failed_refresh_is_retried_within_seconds_of_pagerduty_coming_back()
    {
        let pd = Arc::new(FakePagerDuty::demo());
        pd.fail_with(Some(PagerDutyError::Transport("connection refused".into())));
        let a = args(pd.clone(), Arc::new(MemoryStateStore::new()));
        let mut facts = a.facts.subscribe();
        let (cache, h) = Actor::spawn(None, ScheduleCacheActor, a).await.unwrap();
        facts
            .wait_for(|f| f.last_refresh.as_ref().is_some_and(|r| !r.ok))
            .await
            .unwrap();
        // PagerDuty is down for the first 2.5 s of the bot's life (the scenario, in paused time).
        tokio::time::sleep(Duration::from_millis(2500)).await;
        pd.fail_with(None);
        let back = tokio::time::Instant::now();
        tokio::time::timeout(
            Duration::from_secs(600),
            facts.wait_for(|f| f.snapshot_taken_at.is_some()),
        )
        .await
        .expect("a snapshot at last")
        .unwrap();
        let waited = back.elapsed();
        assert!(
            waited <= Duration::from_secs(1),
            "fresh {waited:?} after PagerDuty came back (refresh interval 60 s)"
        );
        assert_eq!(pd.on_call_requests(), 3, "tried at 0 s, 1 s, then 3 s");
        // With a snapshot, back to the interval: no more retries.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(pd.on_call_requests(), 3);
        cache.stop(None);
        h.await.unwrap();
    }
}
