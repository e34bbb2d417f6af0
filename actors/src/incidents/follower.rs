//! The `incidents` actor: follows the incidents the bot paged until they are resolved, and keeps their cards
//! true. Supervised by the root; told to follow by the gateway; asks PagerDuty for the open incidents once per
//! poll interval for all of them (none while it follows nothing); edits cards and posts thread lines through
//! the chat port.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::chat::MessageRef;
use crate::ports::{ChatOut, IncidentState, IncidentStatus, PagerDutyApi, StateStore};
use crate::reply::{strong, text, Reply};

/// The followed set's file in the state directory.
pub const FOLLOWED_FILE: &str = "incidents_followed.json";
/// `[incidents] poll_interval` by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// The shortest poll interval used, whatever the configuration says.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Bound on one chat edit or thread post.
const CHAT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct IncidentsActor;

#[derive(Clone)]
pub struct IncidentsArgs {
    pub pagerduty: Arc<dyn PagerDutyApi>,
    pub chat: Arc<dyn ChatOut>,
    pub store: Arc<dyn StateStore>,
    pub poll_interval: Duration,
}

/// One incident followed: its card's message, and the reply the card was posted with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followed {
    pub message: MessageRef,
    /// The page reply as posted; its card holds the status the card shows now.
    pub reply: Reply,
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
        let followed = load(args.store.as_ref());
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
            IncidentsMessage::Follow(followed) => state.follow(*followed),
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
    fn follow(&mut self, followed: Followed) {
        let Some(card) = &followed.reply.card else {
            return;
        };
        tracing::info!(incident = card.number, channel = %followed.message.channel, "following an incident card");
        self.followed.insert(card.incident_id.clone(), followed);
        self.save();
    }

    /// One listing for every followed incident; each card whose incident changed is edited, with a thread line
    /// on acknowledge and resolve. An incident no longer open is resolved: its card says so and it is dropped.
    async fn poll(&mut self) {
        if self.followed.is_empty() {
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
            let now = open.iter().find(|i| i.id == id);
            if let Some(done) = self.bring_up_to_date(&id, now).await {
                changed = true;
                if done {
                    self.followed.remove(&id);
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
        let list: Vec<&Followed> = self.followed.values().collect();
        match serde_json::to_vec(&list) {
            Ok(bytes) => {
                if let Err(e) = self.args.store.save(FOLLOWED_FILE, &bytes) {
                    tracing::error!(error = %e, file = FOLLOWED_FILE, "cannot save the followed incidents");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode the followed incidents"),
        }
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

/// The followed set saved last; empty (with a warning) when the file is missing or unreadable.
fn load(store: &dyn StateStore) -> BTreeMap<String, Followed> {
    let bytes = match store.load(FOLLOWED_FILE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, file = FOLLOWED_FILE, "cannot read the followed incidents; following none");
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<Vec<Followed>>(&bytes) {
        Ok(list) => list
            .into_iter()
            .filter_map(|f| Some((f.reply.card.as_ref()?.incident_id.clone(), f)))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, file = FOLLOWED_FILE, "the followed incidents file is unreadable; following none");
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
            let args = IncidentsArgs {
                pagerduty: self.pd.clone(),
                chat: self.chat.clone(),
                store: self.store.clone(),
                poll_interval: POLL,
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
    async fn nothing_followed_asks_pagerduty_nothing() {
        let room = Room::new();
        let actor = room.spawn("follow-none/incidents").await;
        tokio::time::sleep(POLL * 4).await;
        assert_eq!(count(&actor).await, 0);
        assert!(room.chat.updates.lock().unwrap().is_empty());
        actor.stop(None);
    }
}
