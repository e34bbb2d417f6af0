//! A stalk actor: one channel stalking the system state.
//!
//! At start it is told the current state (its supervisor asks the status actor) and posts it (or, when the
//! status actor is not there, "UNABLE TO CHECK STATUS (status checker restarting)"); then its supervisor hands
//! it every poll result the status actor publishes, and it posts only when the state differs from the last
//! post ([`SystemState::differs_from`](crate::status::system_state::SystemState::differs_from)). A restarted stalk that knows the last post stays silent until the
//! state differs.
//!
//! What the channel was last told lives in its [`StalkedChannel`], shared with the supervisor, so it outlives
//! the stalk's restarts. Supervised by the stalks actor; registered as [`ActorNames::stalk`]. Hears from its
//! supervisor (poll results, and the answer to the start-up `Check` it asks the status actor for); talks to the
//! chat.
//!
//! With several replicas it runs on the leader only and carries its term's [`LeaderGate`]: the role is
//! checked right before each post, and each post is recorded in the coordination database, fenced by the
//! term; once a record is refused the stalk posts nothing more.
//!
//! [`ActorNames::stalk`]: crate::supervision::names::ActorNames::stalk

use std::borrow::Borrow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::chat::ChatTarget;
use crate::ports::ChatOut;
use crate::reply::{Reply, MAX_REPLY_CHARS};
use crate::status::format::{change_reply, checker_unavailable_reply};
use crate::status::leader_gate::LeaderGate;
use crate::status::system_state::{Posted, StatusCheck};

/// How long the stalk waits for one chat post. The adapter goes on with it (and its own retries) after that.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// One stalking channel: where its stalk posts, since when, and what the channel was last told (the check
/// posted: its state, first seen at its `checked_at`).
#[derive(Debug)]
pub struct Stalking {
    pub target: ChatTarget,
    /// When the channel started stalking.
    pub since: SystemTime,
    last_posted: Mutex<Option<Arc<StatusCheck>>>,
}

impl Stalking {
    /// The check the channel was last told, if any.
    pub fn last_posted(&self) -> Option<Arc<StatusCheck>> {
        self.last_posted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn posted(&self, check: Arc<StatusCheck>) {
        *self.last_posted.lock().unwrap_or_else(|p| p.into_inner()) = Some(check);
    }
}

/// A stalking channel ([`Stalking`]) as its stalk actor, the stalks actor's records and
/// [`KeptStalks`](crate::status::stalks::KeptStalks) share it: one allocation per channel, so a restarted
/// stalk does not repeat its last post. Compared, ordered and borrowed as its channel name, so it is its own
/// key in sets and maps of channels. Cloning shares.
#[derive(Debug, Clone)]
pub struct StalkedChannel(Arc<Stalking>);

impl StalkedChannel {
    /// A channel stalking from `since`, told nothing yet. `target` is where its posts go.
    pub fn new(target: ChatTarget, since: SystemTime) -> Self {
        Self::told(target, since, None)
    }

    /// A channel stalking from `since` that was last told `last_posted` (by another replica, or by this one
    /// when it led before).
    pub fn told(target: ChatTarget, since: SystemTime, last_posted: Option<StatusCheck>) -> Self {
        StalkedChannel(Arc::new(Stalking {
            target,
            since,
            last_posted: Mutex::new(last_posted.map(Arc::new)),
        }))
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.0.target.channel
    }
}

impl std::ops::Deref for StalkedChannel {
    type Target = Stalking;

    fn deref(&self) -> &Stalking {
        &self.0
    }
}

impl Borrow<str> for StalkedChannel {
    fn borrow(&self) -> &str {
        self.name()
    }
}

impl PartialEq for StalkedChannel {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for StalkedChannel {}

impl PartialOrd for StalkedChannel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StalkedChannel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

pub struct StalkActor;

pub struct StalkArgs {
    pub channel: StalkedChannel,
    pub chat: Arc<dyn ChatOut>,
    /// Several replicas: the leader term this stalk posts in. `None` for one replica.
    pub leader: Option<Arc<LeaderGate>>,
}

pub enum StalkMessage {
    /// A poll result from the status actor, shared by every stalk (handed over by the stalks actor).
    Published(Arc<StatusCheck>),
    /// The answer to the start-up `Check` (asked by the stalks actor); `None` when the status actor could not be
    /// asked.
    Current(Option<Arc<StatusCheck>>),
    /// Chaos: fail the actor, for supervision tests and drills.
    Crash,
}

pub struct StalkState {
    channel: StalkedChannel,
    chat: Arc<dyn ChatOut>,
    leader: Option<Arc<LeaderGate>>,
    /// The newest check considered, so a late start-up answer never overrides a newer poll result.
    newest: Option<SystemTime>,
}

impl Actor for StalkActor {
    type Msg = StalkMessage;
    type State = StalkState;
    type Arguments = StalkArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<StalkMessage>,
        args: StalkArgs,
    ) -> Result<StalkState, ActorProcessingErr> {
        Ok(StalkState {
            channel: args.channel,
            chat: args.chat,
            leader: args.leader,
            newest: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<StalkMessage>,
        message: StalkMessage,
        state: &mut StalkState,
    ) -> Result<(), ActorProcessingErr> {
        // The work is boxed: ractor keeps each actor's message loop, with room for its largest `handle`
        // future, allocated for the actor's whole life. Boxed, the few hundred bytes of a post in flight are
        // allocated only while one is, not once per stalking channel.
        match message {
            StalkMessage::Published(check) | StalkMessage::Current(Some(check)) => {
                Box::pin(state.consider(check)).await
            }
            StalkMessage::Current(None) => Box::pin(state.status_unavailable()).await,
            StalkMessage::Crash => return Err("stalk actor crash requested (chaos)".into()),
        }
        Ok(())
    }
}

impl StalkState {
    async fn consider(&mut self, check: Arc<StatusCheck>) {
        if self.newest.is_some_and(|newest| check.checked_at < newest) {
            return;
        }
        self.newest = Some(check.checked_at);
        let reply = match self.channel.last_posted() {
            None => change_reply(None, &check, self.channel.since),
            Some(last) if last.state.differs_from(&check.state) => {
                change_reply(Some(&last.state), &check, last.checked_at)
            }
            Some(_) => return,
        };
        if !self.leads() {
            return;
        }
        if self.post(&reply).await {
            self.channel.posted(check.clone());
            if let Some(gate) = &self.leader {
                let posted = Posted {
                    state: check.state.clone(),
                    since: check.checked_at,
                };
                gate.record(self.channel.name(), &posted).await;
            }
        }
    }

    async fn status_unavailable(&mut self) {
        if self.channel.last_posted().is_none() && self.leads() {
            self.post(&checker_unavailable_reply()).await;
        }
    }

    /// One replica always may post; of several, the leader of this stalk's term only, asked right now.
    fn leads(&self) -> bool {
        let leads = self.leader.as_ref().is_none_or(|gate| gate.may_post());
        if !leads {
            tracing::info!(channel = %self.channel.name(), "not the leader: not posting");
        }
        leads
    }

    /// Posts once: the chat adapter retries inside, and a stalk retrying on top of it could post twice. True
    /// when the post went out or may still (the adapter is still on it after [`POST_TIMEOUT`]); false when the
    /// adapter gave up, so the next poll tells the channel again. A failure is logged, never fatal.
    async fn post(&self, reply: &Reply) -> bool {
        let reply = &reply.clone().bounded(MAX_REPLY_CHARS);
        let target = &self.channel.target;
        let channel = &target.channel;
        match tokio::time::timeout(POST_TIMEOUT, self.chat.post(target, reply)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, channel = %channel, "stalk post failed; the next poll tells the channel again");
                false
            }
            Err(_) => {
                tracing::warn!(channel = %channel, "stalk post still with the chat adapter; not posting it again");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::RecordingChat;
    use crate::status::system_state::{Level, StatusReport, SystemState};
    use crate::supervision::names::ActorNames;

    fn check(level: Level) -> StatusCheck {
        StatusCheck {
            state: SystemState::Known(StatusReport {
                level,
                summary: String::new(),
                firing: vec![],
            }),
            checked_at: SystemTime::now(),
        }
    }

    async fn start(prefix: &str, chat: Arc<dyn ChatOut>) -> ActorRef<StalkMessage> {
        let names = ActorNames::with_prefix(prefix);
        let (actor, _) = Actor::spawn(
            Some(names.stalk("c")),
            StalkActor,
            StalkArgs {
                channel: StalkedChannel::new(ChatTarget::channel("c"), SystemTime::now()),
                chat,
                leader: None,
            },
        )
        .await
        .expect("stalk starts");
        // What its supervisor does once it runs.
        crate::status::stalks::ask_current_state(names.status(), actor.clone());
        actor
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_status_actor_it_says_unable_then_posts_the_first_result() {
        let chat = RecordingChat::new();
        let actor = start("stalk-nostatus/", chat.clone()).await;
        let posts = chat.wait_for("c", 1).await;
        assert_eq!(
            posts[0],
            "UNABLE TO CHECK STATUS (status checker restarting)"
        );
        actor
            .send_message(StalkMessage::Published(Arc::new(check(Level::Normal))))
            .expect("send");
        let posts = chat.wait_for("c", 2).await;
        assert!(posts[1].starts_with("System state: NORMAL"), "{posts:?}");
        actor.stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_check_never_overrides_a_newer_one() {
        let chat = RecordingChat::new();
        let actor = start("stalk-order/", chat.clone()).await;
        chat.wait_for("c", 1).await;
        let old = check(Level::Critical);
        let mut new = check(Level::Normal);
        new.checked_at = old.checked_at + Duration::from_secs(1);
        actor
            .send_message(StalkMessage::Published(Arc::new(new)))
            .expect("send");
        chat.wait_for("c", 2).await;
        actor
            .send_message(StalkMessage::Current(Some(Arc::new(old))))
            .expect("send");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(chat.posts_to("c").len(), 2);
        actor.stop(None);
    }

    /// A chat whose posts all fail (after its own retries, as an adapter's final failure), counting them.
    #[derive(Default)]
    struct FailingChat {
        attempts: std::sync::atomic::AtomicUsize,
        tried: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl ChatOut for FailingChat {
        async fn post(
            &self,
            _to: &ChatTarget,
            _reply: &Reply,
        ) -> Result<(), crate::ports::ChatError> {
            self.attempts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.tried.notify_one();
            Err(crate::ports::ChatError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_post_is_not_sent_again_by_the_stalk() {
        let chat = Arc::new(FailingChat::default());
        let actor = start("stalk-no-retry/", chat.clone()).await;
        // The start-up post ("unable to check"): one attempt.
        chat.tried.notified().await;
        actor
            .send_message(StalkMessage::Published(Arc::new(check(Level::Critical))))
            .expect("send");
        chat.tried.notified().await;
        // Long past any retry wait: still one attempt per post.
        tokio::time::sleep(POST_TIMEOUT * 3).await;
        assert_eq!(
            chat.attempts.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "each post tried once; the adapter does the retries"
        );
        actor.stop(None);
    }

    /// ractor keeps room for a message in each actor's message loop for the actor's whole life: once per
    /// stalking channel. A poll result travels shared (`Arc`), so that room is two words, not a whole check.
    #[test]
    fn a_stalk_message_is_two_words() {
        assert!(
            std::mem::size_of::<StalkMessage>() <= 2 * std::mem::size_of::<usize>(),
            "{} bytes",
            std::mem::size_of::<StalkMessage>()
        );
    }
}

#[cfg(test)]
mod leader_tests {
    use super::*;
    use crate::fakes::{FakeCoordination, RecordingChat};
    use crate::ports::{LeaderTerm, ReplicaRole};
    use crate::status::system_state::{Level, StatusReport, SystemState};
    use crate::supervision::names::ActorNames;

    fn check(level: Level, at: SystemTime) -> Arc<StatusCheck> {
        Arc::new(StatusCheck {
            state: SystemState::Known(StatusReport {
                level,
                summary: String::new(),
                firing: vec![],
            }),
            checked_at: at,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalk_posts_only_while_its_term_leads_and_records_each_post() {
        let coordination = FakeCoordination::sharing_stalks(ReplicaRole::Follower);
        let chat = RecordingChat::new();
        let names = ActorNames::with_prefix("stalk-gate/");
        let (actor, _) = Actor::spawn(
            Some(names.stalk("c")),
            StalkActor,
            StalkArgs {
                channel: StalkedChannel::new(ChatTarget::channel("c"), SystemTime::now()),
                chat: chat.clone(),
                leader: Some(LeaderGate::new(coordination.clone(), LeaderTerm(1))),
            },
        )
        .await
        .expect("stalk starts");
        let t0 = SystemTime::now();
        // Another replica leads: the role is checked right before the post, and nothing goes out.
        actor
            .send_message(StalkMessage::Published(check(Level::Critical, t0)))
            .expect("send");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(chat.posts_to("c").is_empty());
        assert!(coordination.stalk_records.lock().unwrap().is_empty());

        coordination.set_role(ReplicaRole::Leader(LeaderTerm(1)));
        actor
            .send_message(StalkMessage::Published(check(
                Level::Critical,
                t0 + Duration::from_secs(1),
            )))
            .expect("send");
        let posts = chat.wait_for("c", 1).await;
        assert!(posts[0].starts_with("System state: CRITICAL"), "{posts:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let records = coordination.stalk_records.lock().unwrap().clone();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, LeaderTerm(1));
        actor.stop(None);
    }
}
