//! Stalks shared by several replicas (`[state] backend = "postgres"`, [`Coordination::shares_stalks`]).
//!
//! The stalking set and what each channel was last told live in the coordination database. `!status stalk` and
//! `unstalk` on any replica write it there and answer. Only the leader runs stalk actors: every
//! [`ROLE_CHECK_EVERY`] the stalks actor looks at its role (no database), and while it leads it takes the set
//! from the database on becoming leader and every `sync_every` (the status poll interval), with `last_posted`,
//! so a stalk started on a follower is picked up within one poll and a new leader tells only the next change.
//! Its stalks check the role right before each post and record each post fenced by the term
//! ([`LeaderGate`]); a refused record means the tenure is over, and every stalk of that term stops posting.
//!
//! A leader that loses its lease because the database cannot be reached (role unknown for [`PAUSE_AFTER`])
//! tells each channel it was stalking once that updates are paused, and once that they resumed when it
//! leads again or sees another leader.
//!
//! A child of the stalks actor's module: it works on that actor's state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::time::Instant;

use super::{StalksMessage, StalksState};
use crate::chat::ChatTarget;
use crate::ports::{
    Coordination, CoordinationError, LeaderTerm, ReplicaRole, SharedStalk, StalkAdded,
};
use crate::reply::Reply;
use crate::status::format::{
    already_stalking_reply, not_stalking_reply, now_stalking_reply, unstalked_reply,
};
use crate::status::leader_gate::LeaderGate;
use crate::status::stalk::StalkedChannel;
use crate::status::stalk::POST_TIMEOUT;
use crate::status::system_state::{Posted, StatusCheck};

/// How often the stalks actor looks at its role. No database: the role is what the lease keeper last said.
pub const ROLE_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long the role must stay unknown before a leader that lost it tells its channels updates are paused: a
/// leader woken from a pause is unknown for a moment before it sees the new leader, and must say nothing.
pub const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// What the room is told when leader work pauses and resumes.
pub const PAUSED: &str = "status updates paused: coordination database unreachable";
pub const RESUMED: &str = "status updates resumed";
/// The longest the stalks actor waits for its paused / resumed posts (they go on after it): in the usual case
/// they are out before the stalks of a new term post, so the room reads "resumed" before the next change.
pub const TELL_WAIT: Duration = Duration::from_secs(1);

/// The shared stalks' settings, when the coordination shares them.
#[derive(Clone)]
pub struct SharedStalks {
    pub coordination: Arc<dyn Coordination>,
    /// How often the leader takes the set from the database (the status poll interval).
    pub sync_every: Duration,
}

impl SharedStalks {
    /// `Some` when `coordination` shares the stalking set (several replicas), `None` for one replica.
    pub fn of(coordination: Arc<dyn Coordination>, sync_every: Duration) -> Option<SharedStalks> {
        coordination.shares_stalks().then_some(SharedStalks {
            coordination,
            sync_every,
        })
    }
}

/// The stalks actor's view of the leadership.
pub(super) struct Leadership {
    shared: SharedStalks,
    /// The gate of the term the running stalks belong to; `None` while not leading.
    gate: Option<Arc<LeaderGate>>,
    /// When the set was last taken from the database in this term.
    synced_at: Option<Instant>,
    /// Lost the lease to an unknown role at this time, stalking these channels: told "paused" once the role
    /// stays unknown for [`PAUSE_AFTER`].
    lost: Option<(Instant, Vec<ChatTarget>)>,
    /// The channels told "paused", to be told "resumed".
    paused: Vec<ChatTarget>,
    /// What this replica last told each channel when it stopped leading: a post it could not record (the
    /// database was unreachable) is not repeated when it leads again.
    told: BTreeMap<String, Posted>,
}

impl Leadership {
    pub(super) fn new(shared: SharedStalks) -> Leadership {
        Leadership {
            shared,
            gate: None,
            synced_at: None,
            lost: None,
            paused: Vec::new(),
            told: BTreeMap::new(),
        }
    }

    /// The gate new stalk actors carry.
    pub(super) fn gate(&self) -> Option<Arc<LeaderGate>> {
        self.gate.clone()
    }
}

impl StalksState {
    /// Schedules the next role check.
    pub(super) fn next_role_check(myself: &ActorRef<StalksMessage>) {
        myself.send_after(ROLE_CHECK_EVERY, || StalksMessage::RoleCheck);
    }

    /// One role check: stop stalking when leadership is lost, tell paused / resumed, take the set from the
    /// database when leading.
    pub(super) async fn role_check(&mut self, myself: &ActorRef<StalksMessage>) {
        let Some(leadership) = self.leadership.as_mut() else {
            return;
        };
        let role = leadership.shared.coordination.role();
        let now = Instant::now();
        if let Some(gate) = leadership.gate.clone() {
            let still = role == ReplicaRole::Leader(gate.term()) && gate.may_post();
            if !still {
                leadership.gate = None;
                leadership.synced_at = None;
                let targets: Vec<ChatTarget> =
                    self.channels.keys().map(|c| c.target.clone()).collect();
                for channel in self.channels.keys() {
                    if let Some(told) = channel.last_posted() {
                        let posted = Posted {
                            state: told.state.clone(),
                            since: told.checked_at,
                        };
                        leadership.told.insert(channel.name().to_string(), posted);
                    }
                }
                if role == ReplicaRole::Unknown {
                    leadership.lost = Some((now, targets));
                }
                tracing::info!(role = ?role, "no longer the leader: stalks stop");
                self.stop_all();
            }
        }
        let Some(leadership) = self.leadership.as_mut() else {
            return;
        };
        let mut tell = Vec::new();
        match role {
            ReplicaRole::Unknown => {
                if let Some((at, _)) = &leadership.lost {
                    if now.duration_since(*at) >= PAUSE_AFTER {
                        let (_, targets) = leadership.lost.take().unwrap_or((now, Vec::new()));
                        tell.extend(targets.iter().map(|t| (t.clone(), PAUSED)));
                        leadership.paused.extend(targets);
                    }
                }
            }
            ReplicaRole::Follower | ReplicaRole::Leader(_) => {
                leadership.lost = None;
                tell.extend(leadership.paused.drain(..).map(|t| (t, RESUMED)));
            }
        }
        self.tell_all(tell).await;
        if let ReplicaRole::Leader(term) = role {
            let Some(leadership) = self.leadership.as_mut() else {
                return;
            };
            let due = match (&leadership.gate, leadership.synced_at) {
                (None, _) | (_, None) => true,
                (Some(_), Some(at)) => now.duration_since(at) >= leadership.shared.sync_every,
            };
            if leadership.gate.is_none() {
                tracing::info!(term = term.0, "leading: taking the stalking channels over");
                leadership.gate = Some(LeaderGate::new(
                    leadership.shared.coordination.clone(),
                    term,
                ));
            }
            if due {
                self.sync(myself, term).await;
            }
        }
    }

    /// Takes the set from the database and runs exactly its channels.
    async fn sync(&mut self, myself: &ActorRef<StalksMessage>, term: LeaderTerm) {
        let Some(leadership) = self.leadership.as_ref() else {
            return;
        };
        let coordination = leadership.shared.coordination.clone();
        let shared = match coordination.stalks().await {
            Ok(shared) => shared,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stalking channels; trying again");
                return;
            }
        };
        // The role may have changed during the read: the next check deals with it.
        if coordination.leader_term() != Some(term) {
            return;
        }
        if let Some(leadership) = self.leadership.as_mut() {
            leadership.synced_at = Some(Instant::now());
        }
        let wanted: BTreeMap<String, SharedStalk> = shared
            .into_iter()
            .map(|s| (s.target.channel.clone(), s))
            .collect();
        let gone: Vec<String> = self
            .channels
            .keys()
            .filter(|c| !wanted.contains_key(c.name()))
            .map(|c| c.name().to_string())
            .collect();
        for channel in gone {
            self.stop_channel(&channel);
            tracing::info!(channel = %channel, "unstalked on another replica");
        }
        let mut told = self
            .leadership
            .as_mut()
            .map(|l| std::mem::take(&mut l.told))
            .unwrap_or_default();
        for (channel, stalk) in wanted {
            if self.channels.contains_key(channel.as_str()) {
                continue;
            }
            // The newer of what the database says and what this replica told the channel itself.
            let last_posted = match (stalk.last_posted, told.remove(&channel)) {
                (Some(db), Some(mine)) if mine.since > db.since => Some(mine),
                (None, Some(mine)) => Some(mine),
                (db, _) => db,
            };
            let last_posted = last_posted.map(|p| StatusCheck {
                state: p.state,
                checked_at: p.since,
            });
            self.add(StalkedChannel::told(stalk.target, stalk.since, last_posted));
            self.start(myself, &channel).await;
        }
    }

    /// `!status stalk` with a shared set: written to the database by this replica, whatever its role. The
    /// leader starts the stalk at once; otherwise the leader picks it up at its next poll.
    pub(super) async fn shared_stalk(
        &mut self,
        myself: &ActorRef<StalksMessage>,
        target: ChatTarget,
    ) -> Reply {
        let Some(leadership) = self.leadership.as_ref() else {
            return not_shared();
        };
        let coordination = leadership.shared.coordination.clone();
        let target = target.for_posts();
        match coordination.add_stalk(&target).await {
            Ok(StalkAdded::Added { since }) => {
                tracing::info!(channel = %target.channel, "stalking (shared)");
                if leadership.gate.is_some() && !self.channels.contains_key(target.channel.as_str())
                {
                    let channel = target.channel.clone();
                    self.add(StalkedChannel::new(target, since));
                    self.start(myself, &channel).await;
                }
                now_stalking_reply()
            }
            Ok(StalkAdded::Already { since }) => already_stalking_reply(since),
            Err(e) => {
                tracing::warn!(error = %e, channel = %target.channel, "cannot start a shared stalk");
                Reply::text(format!(
                    "⚠ Could not start stalking: {}. Try again.",
                    why(&e)
                ))
                .alerting()
            }
        }
    }

    /// `!status unstalk` with a shared set: removed from the database; the leader stops the stalk at once if
    /// it is this replica, else at its next poll.
    pub(super) async fn shared_unstalk(&mut self, channel: &str) -> Reply {
        let Some(leadership) = self.leadership.as_ref() else {
            return not_shared();
        };
        match leadership.shared.coordination.remove_stalk(channel).await {
            Ok(Some(since)) => {
                self.stop_channel(channel);
                tracing::info!(channel = %channel, "unstalked (shared)");
                unstalked_reply(since)
            }
            Ok(None) => not_stalking_reply(),
            Err(e) => {
                tracing::warn!(error = %e, channel = %channel, "cannot stop a shared stalk");
                Reply::text(format!(
                    "⚠ Could not stop stalking: {}. Try again.",
                    why(&e)
                ))
                .alerting()
            }
        }
    }

    /// Stops every stalk actor and forgets the channels (the database keeps them).
    fn stop_all(&mut self) {
        let channels: Vec<String> = self.channels.keys().map(|c| c.name().to_string()).collect();
        for channel in channels {
            self.stop_channel(&channel);
        }
    }

    /// Stops a channel's stalk actor, if any, and forgets the channel.
    fn stop_channel(&mut self, channel: &str) {
        let Some(run) = self.channels.remove(channel) else {
            return;
        };
        self.kept.remove(channel);
        if let Some(actor) = &run.actor {
            // Its end arrives later, as a supervision event for an id no longer indexed: ignored.
            self.by_actor.remove(&actor.get_id());
            self.count_running();
            actor.stop(Some("no longer stalked here".to_string()));
        }
        self.count_active();
    }

    /// Posts one line about the updates themselves to each channel, all at once, and waits for them at most
    /// [`TELL_WAIT`]: a slow chat does not hold up the stalks actor (its commands keep answering), and the
    /// posts go on in the background. A failure is logged.
    async fn tell_all(&self, tell: Vec<(ChatTarget, &'static str)>) {
        let posts: Vec<_> = tell
            .into_iter()
            .map(|(target, text)| {
                let chat = self.chat.clone();
                tokio::spawn(async move {
                    let reply = Reply::text(text);
                    match tokio::time::timeout(POST_TIMEOUT, chat.post(&target, &reply)).await {
                        Ok(Ok(())) => tracing::info!(channel = %target.channel, "{text}"),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, channel = %target.channel, "cannot post: {text}")
                        }
                        Err(_) => {
                            tracing::warn!(channel = %target.channel, "post still with the chat adapter: {text}")
                        }
                    }
                })
            })
            .collect();
        let all = async {
            for post in posts {
                let _ = post.await;
            }
        };
        let _ = tokio::time::timeout(TELL_WAIT, all).await;
    }
}

/// Why a stalk command failed, as the room reads it: short, with the database's own words left to the log.
fn why(e: &CoordinationError) -> &'static str {
    match e {
        CoordinationError::Unreachable(_) => "the coordination database is unreachable",
        CoordinationError::NotLeader | CoordinationError::NotShared => {
            "the stalking channels are not shared here"
        }
    }
}

fn not_shared() -> Reply {
    Reply::text("⚠ Stalks are not shared here. Try again.").alerting()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use ractor::Actor;

    use super::*;
    use crate::fakes::{healthy, report, FakeCoordination, FakeProbe, RecordingChat};
    use crate::state_store::MemoryStateStore;
    use crate::status::actor::{StatusActor, StatusArgs, StatusMessage};
    use crate::status::stalks::{KeptStalks, StalksActor, StalksArgs};
    use crate::status::system_state::{Level, SystemState};
    use crate::supervision::backoff::RestartPolicy;
    use crate::supervision::names::ActorNames;

    const POLL: Duration = Duration::from_secs(30);
    const LEADER: ReplicaRole = ReplicaRole::Leader(LeaderTerm(1));

    /// A status actor and a stalks actor sharing their set through a fake coordination.
    struct Replica {
        names: ActorNames,
        probe: Arc<FakeProbe>,
        chat: Arc<RecordingChat>,
        status: ActorRef<StatusMessage>,
        stalks: ActorRef<StalksMessage>,
    }

    impl Replica {
        async fn start(prefix: &str, coordination: Arc<FakeCoordination>) -> Replica {
            let names = ActorNames::with_prefix(prefix);
            let kept = KeptStalks::new();
            let probe = FakeProbe::new(healthy());
            let (status, _) = Actor::spawn(
                Some(names.status()),
                StatusActor,
                StatusArgs {
                    probe: probe.clone(),
                    poll_interval: POLL,
                    check_timeout: Duration::from_secs(5),
                    fresh_for: Duration::from_secs(5),
                    subscribers: kept.subscribers(&names),
                },
            )
            .await
            .expect("status starts");
            let chat = RecordingChat::new();
            let (stalks, _) = Actor::spawn(
                Some(names.stalks()),
                StalksActor,
                StalksArgs {
                    names: names.clone(),
                    chat: chat.clone(),
                    store: Arc::new(MemoryStateStore::new()),
                    policy: RestartPolicy::default(),
                    kept,
                    shared: SharedStalks::of(coordination.clone(), POLL),
                },
            )
            .await
            .expect("stalks starts");
            Replica {
                names,
                probe,
                chat,
                status,
                stalks,
            }
        }

        async fn say(
            &self,
            message: fn(String, ractor::RpcReplyPort<Reply>) -> StalksMessage,
            channel: &str,
        ) -> String {
            ractor::call_t!(self.stalks, message, 1_000, channel.to_string())
                .expect("stalks answers")
                .plain()
        }

        async fn stalk(&self, channel: &str) -> String {
            self.say(
                |c, r| StalksMessage::Stalk(ChatTarget::channel(c), r),
                channel,
            )
            .await
        }

        async fn unstalk(&self, channel: &str) -> String {
            self.say(StalksMessage::Unstalk, channel).await
        }

        fn running(&self, channel: &str) -> bool {
            ractor::registry::where_is(self.names.stalk(channel)).is_some()
        }

        fn stop(&self) {
            self.stalks.stop(None);
            self.status.stop(None);
        }
    }

    fn posted(level: Level) -> Posted {
        let check = report(level).expect("a report");
        Posted {
            state: SystemState::Known(check),
            since: SystemTime::now(),
        }
    }

    fn row(channel: &str, last: Option<Posted>) -> SharedStalk {
        SharedStalk {
            target: ChatTarget::channel(channel),
            since: SystemTime::now(),
            last_posted: last,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalk_on_a_follower_is_shared_and_the_follower_posts_nothing() {
        let coordination = FakeCoordination::sharing_stalks(ReplicaRole::Follower);
        let r = Replica::start("shared-follower/", coordination.clone()).await;
        assert!(r.stalk("ops").await.starts_with("Now stalking"));
        assert!(r.stalk("ops").await.starts_with("Already stalking"));
        assert!(coordination.stalk_rows.lock().unwrap().contains_key("ops"));
        r.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL * 3).await;
        assert!(r.chat.posts_to("ops").is_empty());
        assert!(!r.running("ops"));
        assert!(r
            .say(StalksMessage::Unstalk, "ops")
            .await
            .starts_with("Stopped stalking"));
        assert!(coordination.stalk_rows.lock().unwrap().is_empty());
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_leader_takes_the_set_and_tells_only_the_next_change() {
        let coordination = FakeCoordination::sharing_stalks(ReplicaRole::Follower);
        coordination
            .stalk_rows
            .lock()
            .unwrap()
            .insert("ops".into(), row("ops", Some(posted(Level::Normal))));
        let r = Replica::start("shared-takeover/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        assert!(!r.running("ops"), "a follower runs no stalk");

        coordination.set_role(LEADER);
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        assert!(r.running("ops"), "the leader stalks");
        // The old leader told NORMAL: nothing to say until it changes.
        tokio::time::sleep(POLL * 2).await;
        assert!(
            r.chat.posts_to("ops").is_empty(),
            "{:?}",
            r.chat.posts_to("ops")
        );

        r.probe.set(report(Level::Critical));
        let posts = r.chat.wait_for("ops", 1).await;
        assert!(posts[0].contains("NORMAL to CRITICAL"), "{posts:?}");
        let records = coordination.stalk_records.lock().unwrap().clone();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, LeaderTerm(1));
        assert_eq!(records[0].1, "ops");
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(r.chat.posts_to("ops").len(), 1, "told once");
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn the_leader_picks_up_a_stalk_started_on_another_replica_within_a_poll() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-pickup/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        // Another replica's `!status stalk`: a row appears.
        coordination
            .stalk_rows
            .lock()
            .unwrap()
            .insert("ops".into(), row("ops", None));
        let started = tokio::time::Instant::now();
        let posts = r.chat.wait_for("ops", 1).await;
        assert!(posts[0].starts_with("System state: NORMAL"), "{posts:?}");
        assert!(
            started.elapsed() <= POLL + ROLE_CHECK_EVERY,
            "{:?}",
            started.elapsed()
        );
        // And another replica's `!status unstalk`: the stalk stops at the next poll.
        coordination.stalk_rows.lock().unwrap().clear();
        tokio::time::sleep(POLL + ROLE_CHECK_EVERY).await;
        assert!(!r.running("ops"));
        r.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(r.chat.posts_to("ops").len(), 1);
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalk_started_on_the_leader_posts_at_once() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-leader/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        assert!(r.stalk("ops").await.starts_with("Now stalking"));
        let posts = r.chat.wait_for("ops", 1).await;
        assert!(posts[0].starts_with("System state: NORMAL"), "{posts:?}");
        assert_eq!(coordination.stalk_records.lock().unwrap().len(), 1);
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_database_unreachable_stalks_are_told_paused_once_then_resumed_once() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-paused/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        for channel in ["a", "b"] {
            r.stalk(channel).await;
            r.chat.wait_for(channel, 1).await;
        }
        // The lease cannot be renewed: the role turns unknown.
        coordination.set_unreachable(true);
        coordination.set_role(ReplicaRole::Unknown);
        for channel in ["a", "b"] {
            let posts = r.chat.wait_for(channel, 2).await;
            assert_eq!(posts[1], PAUSED);
        }
        r.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL * 4).await;
        for channel in ["a", "b"] {
            assert_eq!(
                r.chat.posts_to(channel).len(),
                2,
                "paused once, no change told"
            );
            assert!(!r.running(channel));
        }
        // The database is back and this replica leads again (a new term).
        coordination.set_unreachable(false);
        coordination.set_role(ReplicaRole::Leader(LeaderTerm(2)));
        for channel in ["a", "b"] {
            let posts = r.chat.wait_for(channel, 4).await;
            assert_eq!(posts[2], RESUMED, "{posts:?}");
            assert!(posts[3].contains("NORMAL to CRITICAL"), "{posts:?}");
        }
        tokio::time::sleep(POLL * 2).await;
        for channel in ["a", "b"] {
            assert_eq!(r.chat.posts_to(channel).len(), 4, "resumed once");
        }
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_database_unreachable_stalk_commands_say_so_in_short() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-unreachable-commands/", coordination.clone()).await;
        coordination.set_unreachable(true);
        for reply in [r.stalk("ops").await, r.unstalk("ops").await] {
            assert!(
                reply.contains("the coordination database is unreachable. Try again."),
                "{reply}"
            );
            assert!(
                !reply.contains("fake"),
                "the database's words stay in the log: {reply}"
            );
        }
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_that_hangs_on_paused_does_not_hold_up_the_stalk_commands() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-paused-hang/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        let channels: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        for channel in &channels {
            r.stalk(channel).await;
            r.chat.wait_for(channel, 1).await;
        }
        // Slack takes the posts and never answers; the lease cannot be renewed.
        r.chat.hang_posts();
        coordination.set_role(ReplicaRole::Unknown);
        for channel in &channels {
            assert_eq!(r.chat.wait_for(channel, 2).await[1], PAUSED);
        }
        let asked = Instant::now();
        let reply = ractor::call_t!(
            r.stalks,
            |c, reply| StalksMessage::Stalk(ChatTarget::channel(c), reply),
            60_000,
            "late".to_string()
        )
        .expect("stalks answers");
        assert!(
            asked.elapsed() <= TELL_WAIT,
            "answered after {:?}: {}",
            asked.elapsed(),
            reply.plain()
        );
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_that_could_not_be_recorded_is_not_repeated_when_this_replica_leads_again() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-unrecorded/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        r.stalk("ops").await;
        r.chat.wait_for("ops", 1).await;
        // The database goes away just before a change is posted: its record fails.
        coordination.set_unreachable(true);
        r.probe.set(report(Level::Critical));
        let posts = r.chat.wait_for("ops", 2).await;
        assert!(posts[1].contains("NORMAL to CRITICAL"), "{posts:?}");
        coordination.set_role(ReplicaRole::Unknown);
        assert_eq!(r.chat.wait_for("ops", 3).await[2], PAUSED);
        coordination.set_unreachable(false);
        coordination.set_role(ReplicaRole::Leader(LeaderTerm(2)));
        assert_eq!(r.chat.wait_for("ops", 4).await[3], RESUMED);
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(
            r.chat.posts_to("ops").len(),
            4,
            "{:?}",
            r.chat.posts_to("ops")
        );
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn resumed_is_told_when_another_replica_leads() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-resumed-follower/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        r.stalk("ops").await;
        r.chat.wait_for("ops", 1).await;
        coordination.set_role(ReplicaRole::Unknown);
        assert_eq!(r.chat.wait_for("ops", 2).await[1], PAUSED);
        coordination.set_role(ReplicaRole::Follower);
        assert_eq!(r.chat.wait_for("ops", 3).await[2], RESUMED);
        tokio::time::sleep(POLL * 2).await;
        assert_eq!(r.chat.posts_to("ops").len(), 3);
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_that_sees_another_leader_after_a_moment_of_unknown_says_nothing() {
        let coordination = FakeCoordination::sharing_stalks(LEADER);
        let r = Replica::start("shared-woken/", coordination.clone()).await;
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        r.stalk("ops").await;
        r.chat.wait_for("ops", 1).await;
        // Woken from a pause: unknown for a moment, then following the new leader.
        coordination.set_role(ReplicaRole::Unknown);
        tokio::time::sleep(ROLE_CHECK_EVERY * 2).await;
        coordination.set_role(ReplicaRole::Follower);
        r.probe.set(report(Level::Critical));
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(
            r.chat.posts_to("ops").len(),
            1,
            "{:?}",
            r.chat.posts_to("ops")
        );
        assert!(!r.running("ops"));
        r.stop();
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_record_ends_every_post_of_the_term() {
        let coordination = FakeCoordination::sharing_stalks(ReplicaRole::Leader(LeaderTerm(2)));
        let gate = LeaderGate::new(coordination.clone(), LeaderTerm(1));
        assert!(!gate.may_post(), "another term leads");
        coordination.set_role(ReplicaRole::Leader(LeaderTerm(1)));
        assert!(gate.may_post());
        coordination.set_role(ReplicaRole::Leader(LeaderTerm(2)));
        gate.record("ops", &posted(Level::Normal)).await;
        coordination.set_role(ReplicaRole::Leader(LeaderTerm(1)));
        assert!(!gate.may_post(), "a refused record ends the term for good");
    }
}
