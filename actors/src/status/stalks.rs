//! The stalks actor: the set of stalking channels and the supervisor of their stalk actors.
//!
//! It owns the set (channel, where to post, since when), saved to `stalks.json` through the [`StateStore`] and
//! restored at start, so a bot restarted mid-incident keeps stalking the same channels (a corrupt file is
//! logged and ignored). The set also lives in [`KeptStalks`], created once at wiring and outside this actor
//! with what each channel was last told (each channel is one [`StalkedChannel`], shared with its stalk): a
//! restarted stalks actor (a crash) resumes from that memory, never from a state file that may be stale (an
//! unwritable state dir), and no channel is told the same thing twice. The file is read only by the first stalks actor of a process. Saves are coalesced: a change marks the set dirty and a `Flush` message
//! [`SAVE_DELAY`] later writes it (compact JSON) once for every change made meanwhile; `post_stop` and a
//! requested crash flush too. So a change is on disk within [`SAVE_DELAY`] or at stop, and 10,000 stalks in
//! a burst cost a few writes instead of 10,000 rewrites of a growing file. It spawns one [`StalkActor`] per channel, linked to itself and named
//! [`ActorNames::stalk`]; a stalk that fails is restarted under the same name after a backoff delay ([`Restarts`]),
//! with the [`StalkedChannel`] the supervisor keeps for it, so the channel is not told the same thing twice. A stalk
//! ended by `!status unstalk` just ends. A stalk over its restart budget (the same [`RestartPolicy`] as the
//! root's children) is published as failing through [`KeptStalks`], which readiness reads.
//!
//! It hears every poll result of the status actor as its [`PollSubscribers`] ([`KeptStalks::subscribers`],
//! wired by the root; listening while any stalk actor runs) and hands each, shared, to its running stalk
//! actors.
//!
//! With several replicas ([`SharedStalks`]) the set lives in the coordination database instead of the file,
//! and only the leader runs stalk actors: see [`leadership`].
//!
//! Supervised by the root; registered as [`ActorNames::stalks`]. Talks to: its stalk actors, the status actor
//! (a stalk's start-up check), the state store, the coordination (shared set).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::chat::ChatTarget;
use crate::deadline::Deadline;
use crate::metric_names;
use crate::ports::{ChatOut, StateStore};
use crate::reply::Reply;
use crate::status::actor::{PollSubscribers, StatusMessage};
use crate::status::format::{
    already_stalking_reply, not_stalking_reply, now_stalking_reply, unstalked_reply,
};
use crate::status::stalk::{StalkActor, StalkArgs, StalkMessage, StalkedChannel};
use crate::status::system_state::{StatusCheck, SystemState};
use crate::supervision::ask::{ask_if_running, tell};
use crate::supervision::backoff::RestartPolicy;
use crate::supervision::child::{Failure, Restarts};
use crate::supervision::names::ActorNames;

mod leadership;

pub use leadership::{SharedStalks, PAUSED, RESUMED};

/// The state file holding the set of stalking channels.
pub const STALKS_FILE: &str = "stalks.json";
/// The longest a change to the set waits before it is saved; every change within it shares one save.
pub const SAVE_DELAY: Duration = Duration::from_millis(100);

pub struct StalksActor;

#[derive(Clone)]
pub struct StalksArgs {
    pub names: ActorNames,
    pub chat: Arc<dyn ChatOut>,
    pub store: Arc<dyn StateStore>,
    pub policy: RestartPolicy,
    /// The set as it outlives this actor; the same handle for every restart.
    pub kept: KeptStalks,
    /// Several replicas: the set is shared through the coordination, and only the leader stalks.
    pub shared: Option<SharedStalks>,
}

/// The stalking channels and what each was last told, kept outside the stalks actor so that a restarted one
/// resumes them from memory. Also, published for readiness and tests, the restarts of every stalk actor that
/// has failed, and for the status actor how many stalk actors run. Cloning shares.
#[derive(Clone)]
pub struct KeptStalks {
    inner: Arc<Mutex<Kept>>,
    restarts: Arc<watch::Sender<BTreeMap<String, StalkRestarts>>>,
    /// Stalk actors running (the stalks actor's index), so the status actor polls only for someone.
    running: Arc<AtomicUsize>,
}

/// A stalk actor that has failed at least once, as the stalks actor publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StalkRestarts {
    pub restarts: u64,
    pub running: bool,
    /// Over its restart budget (the backoff keeps trying).
    pub failing: bool,
}

#[derive(Default)]
struct Kept {
    /// The state file was read (by the first stalks actor); from then on memory is the truth.
    loaded: bool,
    channels: BTreeSet<StalkedChannel>,
}

impl Default for KeptStalks {
    fn default() -> Self {
        KeptStalks {
            inner: Arc::default(),
            restarts: Arc::new(watch::channel(BTreeMap::new()).0),
            running: Arc::default(),
        }
    }
}

impl KeptStalks {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channels to resume: the ones in memory, or (the first time only) the ones `load` reads.
    fn resume(&self, load: impl FnOnce() -> Vec<SavedStalk>) -> Vec<StalkedChannel> {
        let mut kept = self.lock();
        if !kept.loaded {
            kept.loaded = true;
            for saved in load() {
                if !kept.channels.contains(saved.target.channel.as_str()) {
                    kept.channels
                        .insert(StalkedChannel::new(saved.target, saved.since));
                }
            }
        }
        kept.channels.iter().cloned().collect()
    }

    fn insert(&self, channel: StalkedChannel) {
        self.lock().channels.replace(channel);
    }

    fn remove(&self, channel: &str) {
        self.lock().channels.remove(channel);
        self.restarts
            .send_if_modified(|all| all.remove(channel).is_some());
    }

    fn publish(&self, channel: &str, restarts: StalkRestarts) {
        self.restarts
            .send_if_modified(|all| all.insert(channel.to_string(), restarts) != Some(restarts));
    }

    /// Every stalk actor that has failed, by channel, as the stalks actor publishes it after each change.
    pub fn restarts(&self) -> watch::Receiver<BTreeMap<String, StalkRestarts>> {
        self.restarts.subscribe()
    }

    /// The status actor's subscribers: the stalks actor registered under `names`, listening while any of its
    /// stalk actors runs.
    pub fn subscribers(&self, names: &ActorNames) -> Arc<dyn PollSubscribers> {
        Arc::new(StalksSubscribers {
            stalks: names.stalks(),
            running: self.running.clone(),
        })
    }

    /// The channels whose stalk actor is over its restart budget, for readiness.
    pub fn failing(&self) -> Vec<String> {
        self.restarts
            .borrow()
            .iter()
            .filter(|(_, r)| r.failing)
            .map(|(channel, _)| channel.clone())
            .collect()
    }
}

/// The stalks actor as the status actor's [`PollSubscribers`].
struct StalksSubscribers {
    /// Its name in the registry: the same for every restart of it.
    stalks: String,
    running: Arc<AtomicUsize>,
}

impl PollSubscribers for StalksSubscribers {
    fn listening(&self) -> bool {
        self.running.load(Ordering::Relaxed) > 0
            && ractor::registry::where_is(self.stalks.clone()).is_some()
    }

    fn publish(&self, check: StatusCheck) {
        if let Err(e) = tell(
            &self.stalks,
            "the stalks actor",
            StalksMessage::Published(check),
        ) {
            tracing::debug!(error = %e, "poll result not handed to the stalks");
        }
    }
}

pub enum StalksMessage {
    /// `!status stalk` in this target's channel: "now stalking" (the stalk posts the current state itself) or
    /// "already stalking since ...".
    Stalk(ChatTarget, RpcReplyPort<Reply>),
    /// `!status unstalk` in this channel: stops its stalk, or says there is none.
    Unstalk(String, RpcReplyPort<Reply>),
    /// Every stalking channel, by channel name.
    List(RpcReplyPort<Vec<StalkInfo>>),
    /// A poll result from the status actor: handed to every running stalk actor.
    Published(StatusCheck),
    /// Chaos: fail the actor (and with it every stalk actor), for supervision tests and drills.
    Crash,
    /// Internal: restart the stalk actor of this channel after its backoff delay.
    Restart(String),
    /// Internal: save the set if it changed since the last save ([`SAVE_DELAY`] after the first change).
    Flush,
    /// Internal: a quiet period after a restart, see whether this channel's stalk is healthy again.
    Recheck(String),
    /// Internal, shared set only: look at this replica's role (see [`leadership`]).
    RoleCheck,
    /// Tests: the index of running stalk actors (channel to actor id), or how it disagrees with the channels.
    #[cfg(test)]
    Index(RpcReplyPort<Result<BTreeMap<String, String>, String>>),
}

/// One stalking channel, for the admin endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct StalkInfo {
    pub target: ChatTarget,
    pub since: SystemTime,
    /// Times its stalk actor failed and was restarted.
    pub restarts: u64,
    /// Why and when its stalk actor last ended without `!status unstalk`.
    pub last_failure: Option<Failure>,
    /// Over its restart budget (the backoff keeps trying).
    pub failing: bool,
    /// ractor's id of the running stalk actor; `None` while a restart is pending.
    pub actor_id: Option<String>,
    pub last_posted: Option<SystemState>,
}

/// `stalks.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SavedStalks {
    stalks: Vec<SavedStalk>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedStalk {
    target: ChatTarget,
    since: SystemTime,
}

/// A stalking channel's stalk actor (`None` while a restart is pending), and its restarts from its first
/// failure on (`None` until then: most never fail, and a fresh record is what they would hold).
#[derive(Default)]
struct StalkRun {
    actor: Option<ActorRef<StalkMessage>>,
    restarts: Option<Box<Restarts>>,
}

pub struct StalksState {
    names: ActorNames,
    chat: Arc<dyn ChatOut>,
    store: Arc<dyn StateStore>,
    policy: RestartPolicy,
    /// Every stalking channel (the same [`StalkedChannel`]s as in `kept`, keyed by channel name).
    channels: BTreeMap<StalkedChannel, StalkRun>,
    /// The channel of every running stalk actor, by actor id: a stalk's end (a supervision event that
    /// carries only the id) finds its channel in O(1), not by a scan of `channels`. Kept in step with each
    /// `StalkRun::actor`: set when one is spawned, removed when it ends or is unstalked.
    by_actor: HashMap<ActorId, StalkedChannel>,
    kept: KeptStalks,
    /// Changed since the last save.
    dirty: bool,
    /// A `Flush` is on its way.
    flush_pending: bool,
    /// With a shared set: this replica's leadership as the stalks see it.
    leadership: Option<leadership::Leadership>,
}

impl Actor for StalksActor {
    type Msg = StalksMessage;
    type State = StalksState;
    type Arguments = StalksArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StalksMessage>,
        args: StalksArgs,
    ) -> Result<StalksState, ActorProcessingErr> {
        let mut state = StalksState {
            names: args.names,
            chat: args.chat,
            store: args.store,
            policy: args.policy,
            channels: BTreeMap::new(),
            by_actor: HashMap::new(),
            kept: args.kept,
            dirty: false,
            flush_pending: false,
            leadership: args.shared.map(leadership::Leadership::new),
        };
        state.count_running();
        if state.leadership.is_some() {
            // The set is in the database; the leader takes it at its first role check.
            myself.send_message(StalksMessage::RoleCheck)?;
            return Ok(state);
        }
        for channel in state.kept.resume(|| state.load()) {
            state.add(channel.clone());
            state.start(&myself, channel.name()).await;
        }
        if !state.channels.is_empty() {
            tracing::info!(channels = state.channels.len(), "resumed stalking");
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<StalksMessage>,
        message: StalksMessage,
        state: &mut StalksState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StalksMessage::Stalk(target, reply) => {
                let answer = match state.leadership {
                    Some(_) => state.shared_stalk(&myself, target).await,
                    None => state.stalk(&myself, target).await,
                };
                let _ = reply.send(answer);
            }
            StalksMessage::Unstalk(channel, reply) => {
                let answer = match state.leadership {
                    Some(_) => state.shared_unstalk(&channel).await,
                    None => state.unstalk(&myself, &channel),
                };
                let _ = reply.send(answer);
            }
            StalksMessage::RoleCheck => {
                state.role_check(&myself).await;
                StalksState::next_role_check(&myself);
            }
            StalksMessage::List(reply) => {
                let _ = reply.send(state.list());
            }
            StalksMessage::Published(check) => state.publish(check),
            StalksMessage::Restart(channel) => state.restart(&myself, &channel).await,
            StalksMessage::Recheck(channel) => state.recheck(&channel),
            StalksMessage::Flush => {
                state.flush_pending = false;
                state.flush();
            }
            #[cfg(test)]
            StalksMessage::Index(reply) => {
                let _ = reply.send(state.checked_index());
            }
            StalksMessage::Crash => {
                // A failed actor gets no `post_stop`: save what changed before failing.
                state.flush();
                return Err("stalks actor crash requested (chaos)".into());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<StalksMessage>,
        state: &mut StalksState,
    ) -> Result<(), ActorProcessingErr> {
        state.flush();
        state.kept.running.store(0, Ordering::Relaxed);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<StalksMessage>,
        event: SupervisionEvent,
        state: &mut StalksState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(child, error) => {
                state.child_ended(&myself, child.get_id(), &error.to_string());
            }
            SupervisionEvent::ActorTerminated(child, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped".to_string());
                state.child_ended(&myself, child.get_id(), &reason);
            }
            _ => {}
        }
        Ok(())
    }
}

impl StalksState {
    async fn stalk(&mut self, myself: &ActorRef<StalksMessage>, target: ChatTarget) -> Reply {
        // The stalk's posts answer no message: only this reply answers the `!status stalk`.
        let target = target.for_posts();
        if let Some((existing, _)) = self.channels.get_key_value(target.channel.as_str()) {
            return already_stalking_reply(existing.since);
        }
        let channel = StalkedChannel::new(target, SystemTime::now());
        self.kept.insert(channel.clone());
        self.add(channel.clone());
        self.changed(myself);
        self.start(myself, channel.name()).await;
        tracing::info!(channel = %channel.name(), "stalking");
        now_stalking_reply()
    }

    fn unstalk(&mut self, myself: &ActorRef<StalksMessage>, channel: &str) -> Reply {
        let Some((stalk, run)) = self.channels.remove_entry(channel) else {
            return not_stalking_reply();
        };
        self.kept.remove(channel);
        if let Some(actor) = &run.actor {
            // Its end arrives later, as a supervision event for an id no longer indexed: ignored.
            self.by_actor.remove(&actor.get_id());
            self.count_running();
            actor.stop(Some("unstalked".to_string()));
        }
        self.count_active();
        self.changed(myself);
        tracing::info!(channel = %channel, "unstalked");
        unstalked_reply(stalk.since)
    }

    fn list(&self) -> Vec<StalkInfo> {
        let now = Instant::now();
        self.channels
            .iter()
            .map(|(channel, run)| {
                let restarts = run.restarts.as_deref();
                StalkInfo {
                    target: channel.target.clone(),
                    since: channel.since,
                    restarts: restarts.map_or(0, Restarts::count),
                    last_failure: restarts.and_then(Restarts::last_failure).cloned(),
                    failing: restarts.is_some_and(|r| r.failing(now)),
                    actor_id: run.actor.as_ref().map(|a| a.get_id().to_string()),
                    last_posted: channel.last_posted().map(|posted| posted.state.clone()),
                }
            })
            .collect()
    }

    /// Hands a poll result, shared, to every running stalk actor.
    fn publish(&self, check: StatusCheck) {
        let check = Arc::new(check);
        for (channel, run) in &self.channels {
            let Some(actor) = &run.actor else { continue };
            if let Err(e) = actor.send_message(StalkMessage::Published(check.clone())) {
                tracing::debug!(error = %e, channel = %channel.name(), "stalk gone before a poll result");
            }
        }
    }

    async fn restart(&mut self, myself: &ActorRef<StalksMessage>, channel: &str) {
        match self.channels.get(channel) {
            Some(run) if run.actor.is_none() => {
                tracing::info!(channel = %channel, "restarting stalk");
                self.start(myself, channel).await;
            }
            // Unstalked meanwhile, or already running again.
            _ => {}
        }
    }

    /// A stalk actor ended without `!status unstalk` (those were removed from `channels` first): restart it
    /// after its backoff delay.
    fn child_ended(&mut self, myself: &ActorRef<StalksMessage>, id: ActorId, reason: &str) {
        let Some(channel) = self.by_actor.remove(&id) else {
            return;
        };
        self.count_running();
        let policy = self.policy;
        let Some(run) = self
            .channels
            .get_mut(channel.name())
            .filter(|run| run.actor.as_ref().is_some_and(|a| a.get_id() == id))
        else {
            return;
        };
        tracing::warn!(error = %reason, channel = %channel.name(), "stalk actor ended");
        run.actor = None;
        run.restarts(policy).record(reason.to_string());
        self.schedule_restart(myself, channel.name());
    }

    fn schedule_restart(&mut self, myself: &ActorRef<StalksMessage>, channel: &str) {
        let name = self.names.stalk(channel);
        let policy = self.policy;
        let Some(run) = self.channels.get_mut(channel) else {
            return;
        };
        let delay = run.restarts(policy).down(&name, Instant::now());
        self.publish_restarts(channel);
        let channel = channel.to_string();
        myself.send_after(delay, move || StalksMessage::Restart(channel));
    }

    /// A quiet period after a restart: a stalk that stayed up is no longer failing.
    fn recheck(&mut self, channel: &str) {
        self.publish_restarts(channel);
    }

    /// Publishes the restarts of a channel's stalk actor that has failed (the others are not published).
    fn publish_restarts(&self, channel: &str) {
        let Some(run) = self.channels.get(channel) else {
            return;
        };
        let Some(restarts) = run.restarts.as_deref().filter(|r| r.count() > 0) else {
            return;
        };
        let restarts = StalkRestarts {
            restarts: restarts.count(),
            running: run.actor.is_some(),
            failing: restarts.failing(Instant::now()),
        };
        self.kept.publish(channel, restarts);
    }

    fn add(&mut self, channel: StalkedChannel) {
        self.channels.insert(channel, StalkRun::default());
        self.count_active();
    }

    fn count_active(&self) {
        metrics::gauge!(metric_names::STALKS_ACTIVE).set(self.channels.len() as f64);
    }

    /// Tells the status actor (through [`KeptStalks::subscribers`]) how many stalk actors run.
    fn count_running(&self) {
        self.kept
            .running
            .store(self.by_actor.len(), Ordering::Relaxed);
    }

    /// Spawns the stalk actor of a channel in `channels`. If that fails (its name still held by a stalk that
    /// is stopping), tries again after the backoff delay.
    async fn start(&mut self, myself: &ActorRef<StalksMessage>, channel: &str) {
        let Some((stalked, _)) = self.channels.get_key_value(channel) else {
            return;
        };
        let stalked = stalked.clone();
        let args = StalkArgs {
            channel: stalked.clone(),
            chat: self.chat.clone(),
            leader: self.leadership.as_ref().and_then(|l| l.gate()),
        };
        let spawned = Actor::spawn_linked(
            Some(self.names.stalk(channel)),
            StalkActor,
            args,
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((actor, _)) => {
                ask_current_state(self.names.status(), actor.clone());
                if let Some(run) = self.channels.get_mut(channel) {
                    self.by_actor.insert(actor.get_id(), stalked);
                    run.actor = Some(actor);
                    if let Some(restarts) = run.restarts.as_deref_mut() {
                        restarts.started(Instant::now());
                        if restarts.count() > 0 {
                            let quiet = self.policy.quiet_reset + Duration::from_millis(10);
                            let again = channel.to_string();
                            myself.send_after(quiet, move || StalksMessage::Recheck(again));
                        }
                    }
                    self.count_running();
                }
                self.publish_restarts(channel);
            }
            Err(e) => {
                tracing::warn!(error = %e, channel = %channel, "cannot start stalk actor");
                self.schedule_restart(myself, channel);
            }
        }
    }

    /// `by_actor` as channel to actor id, if it is exactly the running stalk actors of `channels`.
    #[cfg(test)]
    fn checked_index(&self) -> Result<BTreeMap<String, String>, String> {
        let running: BTreeMap<String, String> = self
            .channels
            .iter()
            .filter_map(|(channel, run)| {
                let actor = run.actor.as_ref()?;
                Some((channel.name().to_string(), actor.get_id().to_string()))
            })
            .collect();
        let indexed: BTreeMap<String, String> = self
            .by_actor
            .iter()
            .map(|(id, channel)| (channel.name().to_string(), id.to_string()))
            .collect();
        if indexed.len() != self.by_actor.len() || indexed != running {
            return Err(format!("index {:?} but running {running:?}", self.by_actor));
        }
        Ok(indexed)
    }

    fn load(&self) -> Vec<SavedStalk> {
        crate::state_store::json::load_json::<SavedStalks>(self.store.as_ref(), STALKS_FILE)
            .map(|saved| saved.stalks)
            .unwrap_or_default()
    }

    /// Marks the set changed and makes sure a `Flush` comes within [`SAVE_DELAY`].
    fn changed(&mut self, myself: &ActorRef<StalksMessage>) {
        self.dirty = true;
        if !self.flush_pending {
            self.flush_pending = true;
            myself.send_after(SAVE_DELAY, || StalksMessage::Flush);
        }
    }

    /// Saves the set if it changed since the last save. A failed save leaves it dirty: the next change or the
    /// stop tries again.
    fn flush(&mut self) {
        if self.dirty {
            self.dirty = !self.save();
        }
    }

    /// Writes the whole set; false (logged) when it could not.
    fn save(&self) -> bool {
        let saved = SavedStalks {
            stalks: self
                .channels
                .keys()
                .map(|channel| SavedStalk {
                    target: channel.target.clone(),
                    since: channel.since,
                })
                .collect(),
        };
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| self.store.save(STALKS_FILE, &bytes));
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, file = STALKS_FILE, "cannot save stalks file");
                false
            }
        }
    }
}

impl StalkRun {
    /// Its restarts, recorded from now on.
    fn restarts(&mut self, policy: RestartPolicy) -> &mut Restarts {
        self.restarts
            .get_or_insert_with(|| Box::new(Restarts::new(policy)))
    }
}

/// How long a starting stalk waits for the status actor's answer. The status actor answers within
/// [`crate::status::actor::answered_within`] of its `check_timeout`, so this only bounds a wedged one.
pub const STATUS_ANSWER_WAIT: Duration = Duration::from_secs(60);

/// Asks the status actor for a stalk's current state in a task, so neither the stalk nor this supervisor
/// waits, and sends the answer to the stalk as [`StalkMessage::Current`]. Called once each stalk runs.
pub(crate) fn ask_current_state(status_name: String, back: ActorRef<StalkMessage>) {
    tokio::spawn(async move {
        let deadline = Deadline::after(STATUS_ANSWER_WAIT);
        let asked = ask_if_running(
            &status_name,
            "the status actor",
            deadline,
            StatusMessage::Check,
        )
        .await;
        let current = match asked {
            Ok(check) => Some(Arc::new(check)),
            Err(e) => {
                tracing::warn!(error = %e, status = %status_name, "no current state for a stalk");
                None
            }
        };
        if back.send_message(StalkMessage::Current(current)).is_err() {
            tracing::debug!("stalk gone before the status actor answered");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fakes::{healthy, report, FakeProbe, RecordingChat};
    use crate::state_store::MemoryStateStore;
    use crate::status::actor::{StatusActor, StatusArgs, StatusMessage};
    use crate::status::system_state::{Level, ProbeError};

    const POLL: Duration = Duration::from_secs(30);

    /// A status actor and a stalks actor under one name prefix.
    struct Tree {
        names: ActorNames,
        probe: Arc<FakeProbe>,
        chat: Arc<RecordingChat>,
        store: Arc<MemoryStateStore>,
        status: ActorRef<StatusMessage>,
        stalks: ActorRef<StalksMessage>,
    }

    impl Tree {
        async fn start(prefix: &str) -> Tree {
            Tree::start_with(prefix, Arc::new(MemoryStateStore::new())).await
        }

        async fn start_with(prefix: &str, store: Arc<MemoryStateStore>) -> Tree {
            let names = ActorNames::with_prefix(prefix);
            let kept = KeptStalks::new();
            let (status, probe) = start_status(&names, &kept).await;
            let chat = RecordingChat::new();
            let stalks = spawn_stalks_keeping(&names, chat.clone(), store.clone(), kept)
                .await
                .0;
            Tree {
                names,
                probe,
                chat,
                store,
                status,
                stalks,
            }
        }

        async fn stalk(&self, channel: &str) -> String {
            ractor::call_t!(
                self.stalks,
                StalksMessage::Stalk,
                1_000,
                ChatTarget::channel(channel)
            )
            .expect("stalks answers")
            .plain()
        }

        async fn unstalk(&self, channel: &str) -> String {
            ractor::call_t!(
                self.stalks,
                StalksMessage::Unstalk,
                1_000,
                channel.to_string()
            )
            .expect("stalks answers")
            .plain()
        }

        async fn list(&self) -> Vec<StalkInfo> {
            ractor::call_t!(self.stalks, StalksMessage::List, 1_000).expect("stalks answers")
        }

        fn stop(&self) {
            self.stalks.stop(None);
            self.status.stop(None);
        }
    }

    /// A status actor probing a healthy fake every [`POLL`].
    /// A status actor publishing to the stalks actor that keeps `kept`.
    async fn start_status(
        names: &ActorNames,
        kept: &KeptStalks,
    ) -> (ActorRef<StatusMessage>, Arc<FakeProbe>) {
        let probe = FakeProbe::new(healthy());
        let (status, _) = Actor::spawn(
            Some(names.status()),
            StatusActor,
            StatusArgs {
                probe: probe.clone(),
                poll_interval: POLL,
                check_timeout: Duration::from_secs(5),
                fresh_for: Duration::from_secs(5),
                subscribers: kept.subscribers(names),
            },
        )
        .await
        .expect("status starts");
        (status, probe)
    }

    async fn spawn_stalks(
        names: &ActorNames,
        chat: Arc<RecordingChat>,
        store: Arc<MemoryStateStore>,
    ) -> ActorRef<StalksMessage> {
        spawn_stalks_keeping(names, chat, store, KeptStalks::new())
            .await
            .0
    }

    /// A stalks actor with the `kept` set, as the root spawns (and respawns) it.
    async fn spawn_stalks_keeping(
        names: &ActorNames,
        chat: Arc<RecordingChat>,
        store: Arc<dyn StateStore>,
        kept: KeptStalks,
    ) -> (ActorRef<StalksMessage>, tokio::task::JoinHandle<()>) {
        Actor::spawn(
            Some(names.stalks()),
            StalksActor,
            StalksArgs {
                names: names.clone(),
                chat,
                store,
                policy: RestartPolicy::default(),
                kept,
                shared: None,
            },
        )
        .await
        .expect("stalks starts")
    }

    // Sleeps across poll ticks end half an interval off them: a tick and a sleep ending at the same tokio
    // instant wake in no set order.

    /// Lets every actor work through its queue (paused time only moves when all are idle).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn stalk_posts_at_once_then_only_on_changes() {
        let tree = Tree::start("stalks-changes/").await;
        assert!(tree.stalk("ops").await.starts_with("Now stalking"));
        let posts = tree.chat.wait_for("ops", 1).await;
        assert!(posts[0].starts_with("System state: NORMAL"), "{posts:?}");

        tokio::time::sleep(POLL * 10 + POLL / 2).await;
        assert_eq!(tree.chat.posts_to("ops").len(), 1, "silent while unchanged");
        assert_eq!(
            tree.probe.calls(),
            11,
            "one probe at start, one per interval"
        );

        tree.probe.set(report(Level::Critical));
        let posts = tree.chat.wait_for("ops", 2).await;
        assert!(
            posts[1].starts_with("System state changed from NORMAL to CRITICAL"),
            "{posts:?}"
        );

        tree.probe.set(Err(ProbeError::Status(503)));
        let posts = tree.chat.wait_for("ops", 3).await;
        assert!(
            posts[2].starts_with("System state changed from CRITICAL to UNABLE TO CHECK STATUS"),
            "{posts:?}"
        );

        tree.probe.set(Err(ProbeError::Timeout));
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(
            tree.chat.posts_to("ops").len(),
            3,
            "unknown to unknown is no change"
        );

        tree.probe.set(report(Level::Degraded));
        let posts = tree.chat.wait_for("ops", 4).await;
        assert!(
            posts[3].starts_with("System state changed from UNABLE TO CHECK STATUS to DEGRADED"),
            "{posts:?}"
        );
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn second_stalk_in_a_channel_says_already_stalking() {
        let tree = Tree::start("stalks-twice/").await;
        tree.stalk("ops").await;
        let again = tree.stalk("ops").await;
        assert!(
            again.starts_with("Already stalking in this channel since "),
            "{again}"
        );
        tree.chat.wait_for("ops", 1).await;
        settle().await;
        assert_eq!(tree.chat.posts_to("ops").len(), 1);
        assert_eq!(tree.list().await.len(), 1);
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn unstalk_stops_one_channel_and_leaves_the_other() {
        let tree = Tree::start("stalks-two/").await;
        tree.stalk("a").await;
        tree.stalk("b").await;
        tree.chat.wait_for("a", 1).await;
        tree.chat.wait_for("b", 1).await;

        let answer = tree.unstalk("a").await;
        assert!(
            answer.starts_with("Stopped stalking in this channel"),
            "{answer}"
        );
        settle().await;
        assert!(ractor::registry::where_is(tree.names.stalk("a")).is_none());

        tree.probe.set(report(Level::Degraded));
        tree.chat.wait_for("b", 2).await;
        assert_eq!(tree.chat.posts_to("a").len(), 1);
        let listed: Vec<_> = tree
            .list()
            .await
            .into_iter()
            .map(|s| s.target.channel)
            .collect();
        assert_eq!(listed, vec!["b".to_string()]);
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn no_stalk_left_no_poll() {
        let tree = Tree::start("stalks-last/").await;
        tokio::time::sleep(POLL * 2 + POLL / 2).await;
        assert_eq!(tree.probe.calls(), 0, "no stalk yet: no poll");
        tree.stalk("ops").await;
        tree.chat.wait_for("ops", 1).await;
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(
            tree.probe.calls(),
            3,
            "the start-up check, then one per interval"
        );
        tree.unstalk("ops").await;
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(tree.probe.calls(), 3, "no stalk left: no poll");
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn unstalk_without_a_stalk_says_so() {
        let tree = Tree::start("stalks-none/").await;
        assert_eq!(
            tree.unstalk("ops").await,
            "Not stalking in this channel. Start with !status stalk."
        );
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_channels_cost_one_probe_per_interval() {
        let tree = Tree::start("stalks-many/").await;
        for i in 0..1000 {
            tree.stalk(&format!("c{i}")).await;
        }
        tree.chat.wait_for_total(1000).await;
        let at_start = tree.probe.calls();
        assert!(at_start <= 2, "start-up checks share probes: {at_start}");

        tree.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL * 3 + POLL / 2).await;
        assert_eq!(tree.probe.calls(), at_start + 3);
        tree.chat.wait_for_total(2000).await;
        assert!(tree.chat.posts_to("c999")[1].contains("NORMAL to CRITICAL"));
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashed_stalk_is_restarted_without_repeating_its_post() {
        let tree = Tree::start("stalks-crash/").await;
        tree.stalk("ops").await;
        tree.chat.wait_for("ops", 1).await;
        let first = ractor::registry::where_is(tree.names.stalk("ops")).expect("stalk runs");

        first.send_message(StalkMessage::Crash).expect("send crash");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = ractor::registry::where_is(tree.names.stalk("ops")).expect("restarted");
        assert_ne!(first.get_id(), second.get_id());
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(tree.chat.posts_to("ops").len(), 1, "no duplicate post");
        let info = tree.list().await;
        assert_eq!(info[0].restarts, 1);
        let failure = info[0]
            .last_failure
            .as_ref()
            .expect("the crash is remembered");
        assert!(failure.reason.contains("crash"), "{failure:?}");
        assert!(!info[0].failing);
        assert_eq!(info[0].actor_id, Some(second.get_id().to_string()));
        assert!(matches!(info[0].last_posted, Some(SystemState::Known(_))));

        tree.probe.set(report(Level::Degraded));
        let posts = tree.chat.wait_for("ops", 2).await;
        assert!(posts[1].contains("NORMAL to DEGRADED"), "{posts:?}");
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn the_actor_index_follows_crashes_restarts_and_unstalks() {
        let tree = Tree::start("stalks-index/").await;
        let index = || async {
            ractor::call_t!(tree.stalks, StalksMessage::Index, 1_000)
                .expect("stalks answers")
                .expect("the index agrees with the channels")
        };
        let running = |channel: &str| {
            ractor::registry::where_is(tree.names.stalk(channel)).map(|a| a.get_id().to_string())
        };
        for channel in ["a", "b", "c"] {
            tree.stalk(channel).await;
            tree.chat.wait_for(channel, 1).await;
        }
        assert_eq!(index().await.len(), 3);

        // A stalk crashed twice: each restart is found by the index and indexed under its new id.
        for _ in 0..2 {
            let before = running("a").expect("a runs");
            ractor::registry::where_is(tree.names.stalk("a"))
                .expect("a runs")
                .send_message(StalkMessage::Crash)
                .expect("send crash");
            settle().await;
            assert_eq!(index().await.get("a"), None, "a ended, not yet restarted");
            tokio::time::sleep(Duration::from_secs(30)).await;
            let after = running("a").expect("a restarted");
            assert_ne!(before, after);
            assert_eq!(index().await.get("a"), Some(&after));
        }

        // Unstalk and stalk again at once: the old actor's end must not count against the new one.
        tree.unstalk("b").await;
        tree.stalk("b").await;
        settle().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let b = running("b").expect("b runs again");
        assert_eq!(index().await.get("b"), Some(&b));
        let listed = tree.list().await;
        let info_b = listed.iter().find(|s| s.target.channel == "b").unwrap();
        assert_eq!(info_b.last_failure, None, "{info_b:?}");

        // A stalk that crashed and was unstalked before its restart stays gone.
        ractor::registry::where_is(tree.names.stalk("c"))
            .expect("c runs")
            .send_message(StalkMessage::Crash)
            .expect("send crash");
        settle().await;
        tree.unstalk("c").await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(running("c"), None);
        let index = index().await;
        assert_eq!(
            index.keys().cloned().collect::<Vec<_>>(),
            vec!["a".to_string(), "b".to_string()]
        );
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_post_restarts_the_stalk_which_then_posts() {
        let tree = Tree::start("stalks-panic/").await;
        tree.stalk("ops").await;
        tree.chat.wait_for("ops", 1).await;
        let first = ractor::registry::where_is(tree.names.stalk("ops")).expect("stalk runs");

        tree.chat.panic_next();
        tree.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL + Duration::from_secs(1)).await;
        let second = ractor::registry::where_is(tree.names.stalk("ops")).expect("restarted");
        assert_ne!(first.get_id(), second.get_id());
        // The panicked post never went out, so the restarted stalk makes it, once.
        let posts = tree.chat.wait_for("ops", 2).await;
        assert!(posts[1].contains("NORMAL to CRITICAL"), "{posts:?}");
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(tree.chat.posts_to("ops").len(), 2);
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_restarted_stalks_actor_resumes_the_saved_channels() {
        let store = Arc::new(MemoryStateStore::new());
        let tree = Tree::start_with("stalks-resume/", store.clone()).await;
        tree.stalk("a").await;
        tree.stalk("b").await;
        tree.stalk("gone").await;
        tree.unstalk("gone").await;
        let before = tree.list().await;

        tree.stalks
            .stop_and_wait(None, Some(Duration::from_secs(1)))
            .await
            .expect("stalks stops");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(ractor::registry::where_is(tree.names.stalk("a")).is_none());

        let chat = RecordingChat::new();
        let stalks = spawn_stalks(&tree.names, chat.clone(), tree.store.clone()).await;
        let after: Vec<StalkInfo> =
            ractor::call_t!(stalks, StalksMessage::List, 1_000).expect("stalks answers");
        let channels = |v: &[StalkInfo]| {
            v.iter()
                .map(|s| (s.target.clone(), s.since))
                .collect::<Vec<_>>()
        };
        assert_eq!(channels(&after), channels(&before));
        assert_eq!(after.len(), 2);
        chat.wait_for("a", 1).await;
        chat.wait_for("b", 1).await;
        assert!(ractor::registry::where_is(tree.names.stalk("a")).is_some());
        stalks.stop(None);
        tree.status.stop(None);
    }

    /// A store that counts saves of each file.
    #[derive(Default)]
    struct CountingStore {
        files: MemoryStateStore,
        saves: std::sync::Mutex<BTreeMap<String, usize>>,
    }

    impl CountingStore {
        fn saves(&self, name: &str) -> usize {
            self.saves.lock().unwrap().get(name).copied().unwrap_or(0)
        }

        fn saved_channels(&self) -> Vec<String> {
            let bytes = self.files.load(STALKS_FILE).expect("load").expect("saved");
            let saved: SavedStalks = serde_json::from_slice(&bytes).expect("valid json");
            saved.stalks.into_iter().map(|s| s.target.channel).collect()
        }
    }

    impl StateStore for CountingStore {
        fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
            self.files.load(name)
        }

        fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
            *self
                .saves
                .lock()
                .unwrap()
                .entry(name.to_string())
                .or_default() += 1;
            self.files.save(name, bytes)
        }

        fn append_line(&self, name: &str, line: &str) -> std::io::Result<()> {
            self.files.append_line(name, line)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_saved_once_within_the_save_delay_and_at_stop() {
        let names = ActorNames::with_prefix("stalks-coalesce/");
        let store = Arc::new(CountingStore::default());
        let (stalks, _) = Actor::spawn(
            Some(names.stalks()),
            StalksActor,
            StalksArgs {
                names: names.clone(),
                chat: RecordingChat::new(),
                store: store.clone(),
                policy: RestartPolicy::default(),
                kept: KeptStalks::new(),
                shared: None,
            },
        )
        .await
        .expect("stalks starts");
        let change = |msg: fn(String, RpcReplyPort<Reply>) -> StalksMessage, channel: String| {
            let stalks = stalks.clone();
            async move {
                ractor::call_t!(stalks, msg, 1_000, channel).expect("stalks answers");
            }
        };
        let stalk = |c: String, reply| StalksMessage::Stalk(ChatTarget::channel(c), reply);

        let started = Instant::now();
        for i in 0..200 {
            change(stalk, format!("c{i}")).await;
        }
        change(StalksMessage::Unstalk, "c0".to_string()).await;
        assert!(
            started.elapsed() < SAVE_DELAY,
            "the burst fits in one delay"
        );
        assert_eq!(store.saves(STALKS_FILE), 0, "nothing saved yet");

        tokio::time::sleep(SAVE_DELAY + Duration::from_millis(1)).await;
        assert_eq!(store.saves(STALKS_FILE), 1, "201 changes, one save");
        assert_eq!(store.saved_channels().len(), 199);
        let text = store.files.load(STALKS_FILE).unwrap().unwrap();
        assert!(!text.contains(&b'\n'), "compact JSON");

        tokio::time::sleep(SAVE_DELAY * 10).await;
        assert_eq!(store.saves(STALKS_FILE), 1, "no change, no save");

        change(StalksMessage::Unstalk, "c1".to_string()).await;
        stalks
            .stop_and_wait(None, Some(Duration::from_secs(1)))
            .await
            .expect("stalks stops");
        assert_eq!(store.saves(STALKS_FILE), 2, "the last change saved at stop");
        assert_eq!(store.saved_channels().len(), 198);
        assert!(!store.saved_channels().contains(&"c1".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_corrupt_stalks_file_is_ignored() {
        let store = Arc::new(MemoryStateStore::new());
        store.save(STALKS_FILE, b"{not json").expect("save");
        let tree = Tree::start_with("stalks-corrupt/", store).await;
        assert!(tree.list().await.is_empty());
        tree.stalk("ops").await;
        assert_eq!(tree.list().await.len(), 1);
        tokio::time::sleep(SAVE_DELAY + Duration::from_millis(1)).await;
        let saved = tree.store.load(STALKS_FILE).expect("load").expect("saved");
        assert!(serde_json::from_slice::<SavedStalks>(&saved).is_ok());
        tree.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_status_actor_down_a_new_stalk_says_unable_to_check() {
        let names = ActorNames::with_prefix("stalks-nostatus/");
        let chat = RecordingChat::new();
        let stalks = spawn_stalks(&names, chat.clone(), Arc::new(MemoryStateStore::new())).await;
        ractor::call_t!(
            stalks,
            StalksMessage::Stalk,
            1_000,
            ChatTarget::channel("ops")
        )
        .expect("stalks answers");
        let posts = chat.wait_for("ops", 1).await;
        assert_eq!(
            posts[0],
            "UNABLE TO CHECK STATUS (status checker restarting)"
        );
        stalks.stop(None);
    }

    /// A state dir that cannot be written (full, read-only): saves fail, reads work.
    #[derive(Default)]
    struct UnwritableDisk {
        files: MemoryStateStore,
    }

    impl StateStore for UnwritableDisk {
        fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
            self.files.load(name)
        }
        fn save(&self, _name: &str, _bytes: &[u8]) -> std::io::Result<()> {
            Err(std::io::Error::other("Read-only file system"))
        }
        fn append_line(&self, _name: &str, _line: &str) -> std::io::Result<()> {
            Err(std::io::Error::other("Read-only file system"))
        }
    }

    async fn stalk_in(stalks: &ActorRef<StalksMessage>, channel: &str) -> String {
        ractor::call_t!(
            stalks,
            StalksMessage::Stalk,
            1_000,
            ChatTarget::channel(channel)
        )
        .expect("stalks answers")
        .plain()
    }

    /// Crashes the stalks actor (its stalk actors go with it) and spawns it again with the same arguments,
    /// as the root does.
    async fn crash_and_respawn(
        names: &ActorNames,
        stalks: (ActorRef<StalksMessage>, tokio::task::JoinHandle<()>),
        chat: Arc<RecordingChat>,
        store: Arc<dyn StateStore>,
        kept: &KeptStalks,
    ) -> ActorRef<StalksMessage> {
        let (actor, ended) = stalks;
        actor
            .send_message(StalksMessage::Crash)
            .expect("send crash");
        ended.await.expect("stalks ends");
        settle().await;
        spawn_stalks_keeping(names, chat, store, kept.clone())
            .await
            .0
    }

    const CHANNELS: [&str; 3] = ["a", "b", "c"];

    #[tokio::test(start_paused = true)]
    async fn a_crashed_stalks_actor_keeps_every_channel_when_the_state_dir_is_unwritable() {
        let names = ActorNames::with_prefix("stalks-unwritable/");
        let kept = KeptStalks::new();
        let (status, probe) = start_status(&names, &kept).await;
        let chat = RecordingChat::new();
        let store: Arc<dyn StateStore> = Arc::new(UnwritableDisk::default());
        let first = spawn_stalks_keeping(&names, chat.clone(), store.clone(), kept.clone()).await;
        for channel in CHANNELS {
            assert!(stalk_in(&first.0, channel)
                .await
                .starts_with("Now stalking"));
            chat.wait_for(channel, 1).await;
        }
        // The save fails: nothing on disk.
        tokio::time::sleep(SAVE_DELAY * 2).await;
        assert_eq!(store.load(STALKS_FILE).unwrap(), None);

        let stalks = crash_and_respawn(&names, first, chat.clone(), store, &kept).await;
        let listed: Vec<_> = ractor::call_t!(stalks, StalksMessage::List, 1_000)
            .expect("stalks answers")
            .into_iter()
            .map(|s| s.target.channel)
            .collect();
        assert_eq!(listed, CHANNELS, "still stalking every channel");
        // And every channel is told the next change.
        probe.set(report(Level::Critical));
        for channel in CHANNELS {
            let posts = chat.wait_for(channel, 2).await;
            assert!(posts[1].contains("NORMAL to CRITICAL"), "{posts:?}");
        }
        stalks.stop(None);
        status.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashed_stalks_actor_does_not_repeat_the_last_post_in_any_channel() {
        let names = ActorNames::with_prefix("stalks-norepeat/");
        let kept = KeptStalks::new();
        let (status, probe) = start_status(&names, &kept).await;
        let chat = RecordingChat::new();
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
        let first = spawn_stalks_keeping(&names, chat.clone(), store.clone(), kept.clone()).await;
        for channel in CHANNELS {
            stalk_in(&first.0, channel).await;
            let posts = chat.wait_for(channel, 1).await;
            assert!(posts[0].starts_with("System state: NORMAL"), "{posts:?}");
        }

        let stalks = crash_and_respawn(&names, first, chat.clone(), store, &kept).await;
        // Polls come and go with nothing new to say.
        tokio::time::sleep(POLL * 2 + POLL / 2).await;
        for channel in CHANNELS {
            assert_eq!(chat.posts_to(channel).len(), 1, "no repeat in {channel}");
            assert!(
                ractor::registry::where_is(names.stalk(channel)).is_some(),
                "{channel} is stalked again"
            );
        }
        // The next change is told once, from what the channel was last told.
        probe.set(report(Level::Degraded));
        for channel in CHANNELS {
            let posts = chat.wait_for(channel, 2).await;
            assert!(posts[1].contains("NORMAL to DEGRADED"), "{posts:?}");
        }
        stalks.stop(None);
        status.stop(None);
    }

    /// The root's policy, for a stalk actor crashed each time it comes back: published failing at the sixth
    /// failure (what readiness reads), healthy again once it stays up a quiet minute.
    #[tokio::test(start_paused = true)]
    async fn a_stalk_in_a_crash_loop_is_published_failing_then_healthy_after_a_quiet_minute() {
        let names = ActorNames::with_prefix("stalks-budget/");
        let kept = KeptStalks::new();
        let (status, _probe) = start_status(&names, &kept).await;
        let chat = RecordingChat::new();
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
        let (stalks, _) = spawn_stalks_keeping(&names, chat.clone(), store, kept.clone()).await;
        stalk_in(&stalks, "ops").await;
        chat.wait_for("ops", 1).await;
        let mut published = kept.restarts();
        for n in 1..=6u64 {
            if n > 1 {
                let back = published.wait_for(|all| {
                    all.get("ops")
                        .is_some_and(|r| r.running && r.restarts == n - 1)
                });
                tokio::time::timeout(Duration::from_secs(60), back)
                    .await
                    .expect("restarted")
                    .unwrap();
            }
            ractor::registry::where_is(names.stalk("ops"))
                .expect("stalk runs")
                .send_message(StalkMessage::Crash)
                .expect("send crash");
            let down = published.wait_for(|all| all.get("ops").is_some_and(|r| r.restarts == n));
            let seen = tokio::time::timeout(Duration::from_secs(60), down)
                .await
                .expect("failure published")
                .unwrap()["ops"];
            assert_eq!(seen.failing, n == 6, "after {n} failures");
            assert_eq!(kept.failing().len(), usize::from(n == 6));
        }
        let healthy = published.wait_for(|all| all["ops"].running && !all["ops"].failing);
        tokio::time::timeout(Duration::from_secs(120), healthy)
            .await
            .expect("healthy again")
            .unwrap();
        assert!(kept.failing().is_empty());
        assert_eq!(
            chat.posts_to("ops").len(),
            1,
            "no post repeated across restarts"
        );
        stalks.stop(None);
        status.stop(None);
    }
}
