//! The `incidents` actor: follows the incidents the bot paged until they are resolved, and keeps their cards
//! true. Supervised by the root; told to follow by the gateway; asks PagerDuty for the open incidents once per
//! poll interval for all of them (none while it follows nothing); edits cards and posts thread lines through
//! the chat port.
//!
//! Several replicas (the `Coordination` port): each shares the cards it posts; only the leader polls, reading
//! the shared set first (so it follows cards any replica posted, and carries on where the last leader
//! stopped), checks it still leads right before each edit, and records each change fenced by its term. Two
//! replicas never both post a thread line for one change. A card that could not be shared (database
//! unreachable) is kept here (and in [`UNSHARED_FILE`]) and shared again at each poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

pub use crate::incidents::followed::Followed;
use crate::ports::{
    ChatOut, Coordination, CoordinationError, IncidentState, IncidentStatus, LeaderTerm,
    PagerDutyApi, StateStore,
};
use crate::reply::{strong, text, Reply};

/// The followed set's file in the state directory.
pub const FOLLOWED_FILE: &str = "incidents_followed.json";
/// With several replicas: the cards posted here not shared yet (the database was unreachable).
pub const UNSHARED_FILE: &str = "incidents_unshared.json";
/// `[incidents] poll_interval` by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// The shortest poll interval used, whatever the configuration says.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Bound on one chat edit or thread post.
const CHAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one read or write of the shared followed set.
const SHARE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct IncidentsActor;

#[derive(Clone)]
pub struct IncidentsArgs {
    pub pagerduty: Arc<dyn PagerDutyApi>,
    pub chat: Arc<dyn ChatOut>,
    pub store: Arc<dyn StateStore>,
    pub poll_interval: Duration,
    /// Who leads, and the followed set the replicas share.
    pub coordination: Arc<dyn Coordination>,
}

pub enum IncidentsMessage {
    /// Follow this card's incident (sent by the gateway after posting a page reply with a card).
    Follow(Box<Followed>),
    /// Ask PagerDuty once and bring every card up to date (the timer sends it).
    Poll,
    /// How many incidents are followed, for tests and operators.
    Count(ractor::RpcReplyPort<usize>),
    /// Chaos drills: fail on purpose.
    Crash,
}

pub struct IncidentsState {
    args: IncidentsArgs,
    /// By incident id.
    followed: BTreeMap<String, Followed>,
    /// Cards posted here that could not be shared yet, by incident id; saved in [`UNSHARED_FILE`] while
    /// there are any, so a restart shares them too.
    unshared: BTreeMap<String, Followed>,
    unshared_on_disk: bool,
    timer: JoinHandle<()>,
}

impl Actor for IncidentsActor {
    type Msg = IncidentsMessage;
    type State = IncidentsState;
    type Arguments = IncidentsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: IncidentsArgs,
    ) -> Result<IncidentsState, ActorProcessingErr> {
        let followed = load(args.store.as_ref(), FOLLOWED_FILE);
        let unshared = load(args.store.as_ref(), UNSHARED_FILE);
        let every = args.poll_interval.max(MIN_POLL_INTERVAL);
        let timer = myself.send_interval(every, || IncidentsMessage::Poll);
        tracing::info!(
            followed = followed.len(),
            poll_ms = every.as_millis() as u64,
            "following incidents"
        );
        Ok(IncidentsState {
            args,
            followed,
            unshared_on_disk: !unshared.is_empty(),
            unshared,
            timer,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut IncidentsState,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut IncidentsState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            IncidentsMessage::Follow(followed) => state.follow(*followed).await,
            IncidentsMessage::Poll => state.poll().await,
            IncidentsMessage::Count(reply) => {
                let _ = reply.send(state.followed.len());
            }
            IncidentsMessage::Crash => {
                return Err("chaos drill: incidents crashed on purpose".into())
            }
        }
        Ok(())
    }
}

impl IncidentsState {
    async fn follow(&mut self, followed: Followed) {
        let Some(card) = &followed.reply.card else {
            return;
        };
        tracing::info!(incident = card.number, channel = %followed.message.channel, "following an incident card");
        let id = card.incident_id.clone();
        self.followed.insert(id.clone(), followed.clone());
        self.save();
        self.unshared.insert(id, followed);
        self.share_unshared().await;
    }

    /// Shares the cards posted here that the other replicas do not know yet.
    async fn share_unshared(&mut self) {
        self.share_each().await;
        if !self.unshared.is_empty() || self.unshared_on_disk {
            save(self.args.store.as_ref(), UNSHARED_FILE, &self.unshared);
            self.unshared_on_disk = !self.unshared.is_empty();
        }
    }

    async fn share_each(&mut self) {
        let coordination = self.args.coordination.clone();
        let ids: Vec<String> = self.unshared.keys().cloned().collect();
        for id in ids {
            let Some(followed) = self.unshared.get(&id) else {
                continue;
            };
            match tokio::time::timeout(SHARE_TIMEOUT, coordination.follow_incident(followed)).await
            {
                Ok(Ok(())) => {
                    self.unshared.remove(&id);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, incident = %id, "cannot share the followed incident; trying again at the next poll");
                    return;
                }
                Err(_) => {
                    tracing::warn!(incident = %id, "sharing the followed incident timed out; trying again at the next poll");
                    return;
                }
            }
        }
    }

    /// Whether this replica still leads in `term`: checked right before each edit.
    fn leads(&self, term: LeaderTerm) -> bool {
        self.args.coordination.leader_term() == Some(term)
    }

    /// The leader's view of the followed set: the shared one, with the cards posted here not shared yet.
    /// False when it cannot be read (nothing is done this poll).
    async fn read_shared(&mut self) -> bool {
        let read =
            tokio::time::timeout(SHARE_TIMEOUT, self.args.coordination.followed_incidents()).await;
        let shared = match read {
            Ok(Ok(Some(shared))) => shared,
            Ok(Ok(None)) => return true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the followed incidents; cards unchanged until the next poll");
                return false;
            }
            Err(_) => {
                tracing::warn!(
                    "reading the followed incidents timed out; cards unchanged until the next poll"
                );
                return false;
            }
        };
        let mut followed: BTreeMap<String, Followed> = shared
            .into_iter()
            .filter_map(|f| Some((f.incident_id()?.to_string(), f)))
            .collect();
        for (id, f) in &self.unshared {
            followed.entry(id.clone()).or_insert_with(|| f.clone());
        }
        if followed != self.followed {
            self.followed = followed;
            self.save();
        }
        true
    }

    /// Records a change of a card for the other replicas, fenced by `term`. False when this replica no
    /// longer leads (the poll stops).
    async fn record(&self, term: LeaderTerm, followed: &Followed, resolved: bool) -> bool {
        let write = self
            .args
            .coordination
            .record_followed(term, followed, resolved);
        match tokio::time::timeout(SHARE_TIMEOUT, write).await {
            Ok(Ok(())) => true,
            Ok(Err(CoordinationError::NotLeader)) => {
                tracing::warn!("no longer the leader: stopped following incidents here");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot record the incident card's state for the other replicas");
                true
            }
            Err(_) => {
                tracing::warn!("recording the incident card's state timed out");
                true
            }
        }
    }

    /// One listing for every followed incident; each card whose incident changed is edited, with a thread line
    /// on acknowledge and resolve. An incident no longer open is resolved: its card says so and it is dropped.
    /// Only the leader does it.
    async fn poll(&mut self) {
        self.share_unshared().await;
        let Some(term) = self.args.coordination.leader_term() else {
            return;
        };
        if !self.read_shared().await || self.followed.is_empty() {
            return;
        }
        let every = self.args.poll_interval.max(MIN_POLL_INTERVAL);
        let open = match tokio::time::timeout(every, self.args.pagerduty.open_incidents()).await {
            Ok(Ok(open)) => open,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list the open incidents; cards unchanged until the next poll");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    "listing the open incidents timed out; cards unchanged until the next poll"
                );
                return;
            }
        };
        let mut changed = false;
        let ids: Vec<String> = self.followed.keys().cloned().collect();
        for id in ids {
            if !self.leads(term) {
                tracing::info!("no longer the leader: the incident cards are left to the new one");
                break;
            }
            let now = open.iter().find(|i| i.id == id);
            if let Some(done) = self.bring_up_to_date(&id, now).await {
                changed = true;
                let recorded = match self.followed.get(&id) {
                    Some(followed) => self.record(term, followed, done).await,
                    None => true,
                };
                if done {
                    self.followed.remove(&id);
                    self.unshared.remove(&id);
                }
                if !recorded {
                    break;
                }
            }
        }
        if changed {
            self.save();
        }
    }

    /// Edits one card if its incident changed. `Some(true)`: changed and resolved (stop following);
    /// `Some(false)`: changed; `None`: unchanged.
    async fn bring_up_to_date(&mut self, id: &str, now: Option<&IncidentState>) -> Option<bool> {
        let followed = self.followed.get_mut(id)?;
        let card = followed.reply.card.as_mut()?;
        let (status, acknowledged_by) = match now {
            Some(i) => (i.status, i.acknowledged_by.clone()),
            None => (IncidentStatus::Resolved, card.acknowledged_by.clone()),
        };
        if status == card.status && acknowledged_by == card.acknowledged_by {
            return None;
        }
        let status_changed = status != card.status;
        card.status = status;
        card.acknowledged_by = acknowledged_by;
        let number = card.number;
        let line = card.status_line();
        let reply = card_reply(&followed.reply);
        let message = followed.message.clone();
        let chat = self.args.chat.clone();
        match tokio::time::timeout(CHAT_TIMEOUT, chat.update(&message, &reply)).await {
            Ok(Ok(())) => tracing::info!(incident = number, %line, "incident card updated"),
            Ok(Err(e)) => {
                tracing::warn!(incident = number, error = %e, "cannot update the incident card")
            }
            Err(_) => tracing::warn!(incident = number, "updating the incident card timed out"),
        }
        if status_changed && status != IncidentStatus::Triggered {
            let mut thread_line = Reply::new();
            thread_line.line(vec![
                strong(format!("#{number}")),
                text(format!(" {}", line.replace("Status: ", ""))),
            ]);
            match tokio::time::timeout(CHAT_TIMEOUT, chat.post(&message.thread(), &thread_line))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(incident = number, error = %e, "cannot post the thread line")
                }
                Err(_) => tracing::warn!(incident = number, "posting the thread line timed out"),
            }
        }
        Some(status == IncidentStatus::Resolved)
    }

    fn save(&self) {
        save(self.args.store.as_ref(), FOLLOWED_FILE, &self.followed);
    }
}

/// Saves a set of followed cards in `file`; a failure is logged, never fatal.
fn save(store: &dyn StateStore, file: &str, set: &BTreeMap<String, Followed>) {
    let list: Vec<&Followed> = set.values().collect();
    match serde_json::to_vec(&list) {
        Ok(bytes) => {
            if let Err(e) = store.save(file, &bytes) {
                tracing::error!(error = %e, file, "cannot save the followed incidents");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode the followed incidents"),
    }
}

/// The page reply with its card's status as the first line of the text fallback.
pub fn card_reply(original: &Reply) -> Reply {
    let mut reply = original.clone();
    if let Some(card) = &original.card {
        reply.lines.insert(0, vec![strong(card.status_line())]);
    }
    reply
}

/// The set of followed cards saved last in `file`; empty (with a warning) when the file is missing or
/// unreadable.
fn load(store: &dyn StateStore, file: &str) -> BTreeMap<String, Followed> {
    let bytes = match store.load(file) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, file, "cannot read the followed incidents; following none");
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<Vec<Followed>>(&bytes) {
        Ok(list) => list
            .into_iter()
            .filter_map(|f| Some((f.reply.card.as_ref()?.incident_id.clone(), f)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, file, "the followed incidents file is unreadable; following none");
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::UserId;
    use crate::chat::ChatTarget;
    use crate::fakes::{FakePagerDuty, RecordingChat};
    use crate::ports::NewIncident;
    use crate::reply::{CardRow, IncidentCard};
    use crate::state_store::MemoryStateStore;
    use tokio::time::Instant;

    const POLL: Duration = Duration::from_secs(15);

    struct Room {
        pd: Arc<FakePagerDuty>,
        chat: Arc<RecordingChat>,
        store: Arc<MemoryStateStore>,
    }

    impl Room {
        fn new() -> Room {
            Room {
                pd: Arc::new(FakePagerDuty::demo()),
                chat: RecordingChat::tracking(),
                store: Arc::new(MemoryStateStore::new()),
            }
        }

        async fn spawn(&self, name: &str) -> ActorRef<IncidentsMessage> {
            self.spawn_coordinated(name, Arc::new(crate::ports::SingleReplica))
                .await
        }

        async fn spawn_coordinated(
            &self,
            name: &str,
            coordination: Arc<dyn Coordination>,
        ) -> ActorRef<IncidentsMessage> {
            let args = IncidentsArgs {
                pagerduty: self.pd.clone(),
                chat: self.chat.clone(),
                store: self.store.clone(),
                poll_interval: POLL,
                coordination,
            };
            Actor::spawn(Some(name.into()), IncidentsActor, args)
                .await
                .unwrap()
                .0
        }

        /// A page's incident and its card, posted in #ops.
        async fn paged(&self) -> Followed {
            let incident = self
                .pd
                .create_incident(&NewIncident {
                    title: "db down".into(),
                    details: String::new(),
                    assignee: UserId("alice".into()),
                    incident_key: None,
                })
                .await
                .unwrap();
            let mut reply = Reply::text("Paged Alice Smith: incident #1");
            reply.card = Some(Box::new(IncidentCard {
                incident_id: incident.id,
                number: incident.number,
                title: "db down".into(),
                html_url: incident.html_url,
                status: IncidentStatus::Triggered,
                acknowledged_by: vec![],
                rows: vec![CardRow {
                    name: "Alice Smith".into(),
                    outcome: "✓ paged (incident assigned)".into(),
                    phones: vec![],
                }],
            }));
            let message = self
                .chat
                .post_tracked(&ChatTarget::channel("ops"), &reply)
                .await
                .unwrap()
                .unwrap();
            Followed { message, reply }
        }
    }

    async fn count(actor: &ActorRef<IncidentsMessage>) -> usize {
        ractor::call!(actor, IncidentsMessage::Count).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_made_in_pagerduty_shows_on_the_card_within_one_poll() {
        let room = Room::new();
        let actor = room.spawn("follow-ack/incidents").await;
        let followed = room.paged().await;
        actor
            .cast(IncidentsMessage::Follow(Box::new(followed.clone())))
            .unwrap();
        assert_eq!(count(&actor).await, 1);
        // As PagerDuty's own app would: Alice acknowledges.
        let acked_at = Instant::now();
        room.pd
            .set_incident_status(
                "Q1",
                IncidentStatus::Acknowledged,
                None,
                Some("alice@example.com"),
            )
            .await
            .unwrap();
        let updates = room.chat.wait_for_updates(1).await;
        assert!(acked_at.elapsed() <= POLL, "{:?}", acked_at.elapsed());
        let (message, card) = &updates[0];
        assert_eq!(message, &followed.message);
        let card_state = card.card.as_ref().unwrap();
        assert_eq!(card_state.status, IncidentStatus::Acknowledged);
        assert_eq!(card_state.acknowledged_by, vec!["Alice Smith".to_string()]);
        assert!(card
            .plain()
            .starts_with("Status: ACKNOWLEDGED by Alice Smith\nPaged Alice Smith"));
        assert_eq!(
            card_state.actions(),
            vec![crate::reply::CardAction::Resolve]
        );
        assert_eq!(
            room.chat.thread_of(&followed.message),
            vec!["#1 ACKNOWLEDGED by Alice Smith".to_string()]
        );
        // Nothing changes: no edit, no line.
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(room.chat.updates.lock().unwrap().len(), 1);
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_followed_set_survives_a_crash_and_a_resolve_ends_it() {
        let room = Room::new();
        let actor = room.spawn("follow-crash/incidents").await;
        let followed = room.paged().await;
        actor
            .cast(IncidentsMessage::Follow(Box::new(followed.clone())))
            .unwrap();
        assert_eq!(count(&actor).await, 1);
        actor.cast(IncidentsMessage::Crash).unwrap();
        while actor.get_status() != ractor::ActorStatus::Stopped {
            tokio::task::yield_now().await;
        }
        let again = room.spawn("follow-crash/incidents").await;
        assert_eq!(count(&again).await, 1, "read back from the state store");
        room.pd
            .set_incident_status("Q1", IncidentStatus::Resolved, Some("fixed"), None)
            .await
            .unwrap();
        let updates = room.chat.wait_for_updates(1).await;
        let card = updates[0].1.card.as_ref().unwrap();
        assert_eq!(card.status, IncidentStatus::Resolved);
        assert!(card.actions().is_empty(), "no buttons once resolved");
        assert_eq!(
            room.chat.thread_of(&followed.message),
            vec!["#1 RESOLVED".to_string()]
        );
        assert_eq!(count(&again).await, 0, "no longer followed");
        again.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_leader_follows_the_shared_cards_and_records_what_it_posted() {
        let room = Room::new();
        let coordination = Arc::new(crate::fakes::FakeCoordination::default());
        // A card another replica posted and shared; this replica follows nobody's but leads nothing yet.
        let followed = room.paged().await;
        coordination
            .follow_incident(&followed)
            .await
            .expect("shared");
        let actor = room
            .spawn_coordinated("follow-leader/incidents", coordination.clone())
            .await;
        room.pd
            .set_incident_status(
                "Q1",
                IncidentStatus::Acknowledged,
                None,
                Some("alice@example.com"),
            )
            .await
            .unwrap();
        tokio::time::sleep(POLL * 3).await;
        assert!(
            room.chat.updates.lock().unwrap().is_empty(),
            "a follower edits nothing"
        );
        assert!(room.chat.thread_of(&followed.message).is_empty());
        // It becomes the leader: it follows the shared card, posts one line, and records what it posted.
        coordination.set_term(Some(LeaderTerm(7)));
        room.chat.wait_for_updates(1).await;
        assert_eq!(
            room.chat.thread_of(&followed.message),
            vec!["#1 ACKNOWLEDGED by Alice Smith".to_string()]
        );
        let shared = coordination.followed.lock().unwrap().clone();
        assert_eq!(
            shared[0].reply.card.as_ref().unwrap().status,
            IncidentStatus::Acknowledged,
            "a new leader would carry on from here"
        );
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(room.chat.thread_of(&followed.message).len(), 1);
        // Another replica took over: a resolve is left to it.
        coordination.set_term(None);
        room.pd
            .set_incident_status("Q1", IncidentStatus::Resolved, Some("fixed"), None)
            .await
            .unwrap();
        tokio::time::sleep(POLL * 3).await;
        assert_eq!(room.chat.thread_of(&followed.message).len(), 1);
        assert_eq!(coordination.followed.lock().unwrap().len(), 1);
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_card_posted_while_the_database_is_unreachable_is_shared_when_it_returns() {
        let room = Room::new();
        let coordination = Arc::new(crate::fakes::FakeCoordination::default());
        coordination.set_unreachable(true);
        let actor = room
            .spawn_coordinated("follow-unshared/incidents", coordination.clone())
            .await;
        let followed = room.paged().await;
        actor
            .cast(IncidentsMessage::Follow(Box::new(followed.clone())))
            .unwrap();
        assert_eq!(count(&actor).await, 1, "followed here meanwhile");
        assert!(coordination.followed.lock().unwrap().is_empty());
        // A restart meanwhile forgets nothing.
        actor.cast(IncidentsMessage::Crash).unwrap();
        while actor.get_status() != ractor::ActorStatus::Stopped {
            tokio::task::yield_now().await;
        }
        let again = room
            .spawn_coordinated("follow-unshared/incidents", coordination.clone())
            .await;
        coordination.set_unreachable(false);
        tokio::time::sleep(POLL + Duration::from_secs(1)).await;
        assert_eq!(*coordination.followed.lock().unwrap(), vec![followed]);
        assert_eq!(
            room.store.load(UNSHARED_FILE).unwrap().as_deref(),
            Some(&b"[]"[..]),
            "nothing left to share"
        );
        again.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_followed_asks_pagerduty_nothing() {
        let room = Room::new();
        let actor = room.spawn("follow-none/incidents").await;
        tokio::time::sleep(POLL * 4).await;
        assert_eq!(count(&actor).await, 0);
        assert!(room.chat.updates.lock().unwrap().is_empty());
        actor.stop(None);
    }
}
