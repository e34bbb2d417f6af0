//! A stalk actor: one channel stalking the system state.
//!
//! It owns what the channel was last told. At start it asks the status actor for the current state and posts
//! it (or, when the status actor is not there, "UNABLE TO CHECK STATUS (status checker restarting)"); then it
//! receives every poll result from the stalks actor (which alone is in the status actor's process group
//! [`crate::status::actor::subscribers_group`]: a group membership per stalk cost ~0.5 KiB each) and posts
//! only when the state differs from the last post ([`SystemState::differs_from`]). A restarted stalk that knows the
//! last post stays silent until the state differs.
//!
//! Supervised by the stalks actor, which keeps [`LastPosted`] across restarts; registered as
//! [`ActorNames::stalk`]. Talks to: the status actor (one `Check` at start), the chat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::chat::ChatTarget;
use crate::commands::reply::{Reply, MAX_REPLY_CHARS};
use crate::ports::{ChatError, ChatOut};
use crate::status::actor::{StatusCheck, StatusMessage};
use crate::status::format::{change_reply, checker_unavailable_reply};
use crate::status::system_state::SystemState;
use crate::supervision::names::ActorNames;

/// How long one chat post may take before it counts as failed.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a starting stalk waits for the status actor's answer. The status actor answers within its
/// `check_timeout` plus [`crate::status::actor::ANSWER_MARGIN`], so this only bounds a wedged one.
pub const STATUS_ANSWER_WAIT: Duration = Duration::from_secs(60);

/// The longest a rate-limited post waits before its one retry.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What the channel was last told, and when that state was first seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub state: SystemState,
    pub since: SystemTime,
}

/// Shared between a stalk actor and its supervisor, so a restarted stalk does not repeat its last post.
pub type LastPosted = Arc<Mutex<Option<Posted>>>;

pub struct StalkActor;

pub struct StalkArgs {
    pub target: ChatTarget,
    /// When the channel started stalking.
    pub since: SystemTime,
    pub names: ActorNames,
    pub chat: Arc<dyn ChatOut>,
    pub last_posted: LastPosted,
}

pub enum StalkMessage {
    /// A poll result from the status actor, handed on by the stalks actor.
    Published(StatusCheck),
    /// Internal: the answer to the start-up `Check`; `None` when the status actor could not be asked.
    Current(Option<StatusCheck>),
    /// Chaos: fail the actor, for supervision tests and drills.
    Crash,
}

pub struct StalkState {
    target: ChatTarget,
    since: SystemTime,
    chat: Arc<dyn ChatOut>,
    last_posted: LastPosted,
    /// The newest check considered, so a late start-up answer never overrides a newer poll result.
    newest: Option<SystemTime>,
}

impl Actor for StalkActor {
    type Msg = StalkMessage;
    type State = StalkState;
    type Arguments = StalkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StalkMessage>,
        args: StalkArgs,
    ) -> Result<StalkState, ActorProcessingErr> {
        ask_current_state(args.names.status(), myself);
        Ok(StalkState {
            target: args.target,
            since: args.since,
            chat: args.chat,
            last_posted: args.last_posted,
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

/// Asks the status actor for the current state in a task, so the stalk stays responsive, and sends the answer
/// back as [`StalkMessage::Current`].
fn ask_current_state(status_name: String, back: ActorRef<StalkMessage>) {
    tokio::spawn(async move {
        let current = match ractor::registry::where_is(status_name.clone()) {
            None => None,
            Some(status) => {
                let asked =
                    ractor::rpc::call(&status, StatusMessage::Check, Some(STATUS_ANSWER_WAIT))
                        .await;
                match asked {
                    Ok(CallResult::Success(check)) => Some(check),
                    Ok(_) => {
                        tracing::warn!(status = %status_name, "status actor did not answer a stalk");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, status = %status_name, "cannot ask the status actor");
                        None
                    }
                }
            }
        };
        if back.send_message(StalkMessage::Current(current)).is_err() {
            tracing::debug!("stalk gone before the status actor answered");
        }
    });
}

impl StalkState {
    async fn consider(&mut self, check: StatusCheck) {
        if self.newest.is_some_and(|newest| check.checked_at < newest) {
            return;
        }
        self.newest = Some(check.checked_at);
        let reply = match self.last_posted() {
            None => change_reply(None, &check, self.since),
            Some(last) if last.state.differs_from(&check.state) => {
                change_reply(Some(&last.state), &check, last.since)
            }
            Some(_) => return,
        };
        if self.post(&reply).await {
            *self.last_posted.lock().unwrap_or_else(|p| p.into_inner()) = Some(Posted {
                state: check.state,
                since: check.checked_at,
            });
        }
    }

    async fn status_unavailable(&mut self) {
        if self.last_posted().is_none() {
            self.post(&checker_unavailable_reply()).await;
        }
    }

    fn last_posted(&self) -> Option<Posted> {
        self.last_posted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Posts with a timeout, retrying once. A failure is logged, never fatal.
    async fn post(&self, reply: &Reply) -> bool {
        let reply = &reply.clone().bounded(MAX_REPLY_CHARS);
        let channel = &self.target.channel;
        for attempt in 1..=2 {
            match tokio::time::timeout(POST_TIMEOUT, self.chat.post(&self.target, reply)).await {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, channel = %channel, attempt, "stalk post failed");
                    if let ChatError::RateLimited {
                        retry_after: Some(wait),
                    } = e
                    {
                        tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
                    }
                }
                Err(_) => {
                    tracing::warn!(channel = %channel, attempt, "stalk post timed out");
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::RecordingChat;
    use crate::status::system_state::{Level, StatusReport};

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

    async fn start(prefix: &str, chat: Arc<RecordingChat>) -> ActorRef<StalkMessage> {
        let names = ActorNames::with_prefix(prefix);
        let (actor, _) = Actor::spawn(
            Some(names.stalk("c")),
            StalkActor,
            StalkArgs {
                target: ChatTarget::channel("c"),
                since: SystemTime::now(),
                names,
                chat,
                last_posted: LastPosted::default(),
            },
        )
        .await
        .expect("stalk starts");
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
            .send_message(StalkMessage::Published(check(Level::Normal)))
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
            .send_message(StalkMessage::Published(new))
            .expect("send");
        chat.wait_for("c", 2).await;
        actor
            .send_message(StalkMessage::Current(Some(old)))
            .expect("send");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(chat.posts_to("c").len(), 2);
        actor.stop(None);
    }
}
