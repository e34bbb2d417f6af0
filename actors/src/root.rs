//! The root of the supervision tree, registered as `icbot`.
//!
//! It spawns its children linked in `pre_start` and owns their restarts: a child that fails (an `Err` from a
//! handler, a panic) or stops on its own is spawned again under the same name after a backoff (100 ms doubling
//! to 30 s, reset after a quiet minute), each restart logged with the reason and counted. A child over its
//! restart budget is reported as failing while the backoff keeps trying. The root never stops because a
//! child did.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use tokio::time::Instant;

use crate::backoff::{RestartBackoff, RestartPolicy};
use crate::gateway::{GatewayActor, GatewayArgs};
use crate::names::ActorNames;
use crate::pager::{PagerActor, PagerArgs};
use crate::schedule_cache::{ScheduleCacheActor, ScheduleCacheArgs};

/// The children, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Child {
    ScheduleCache,
    Pager,
    Gateway,
}

impl Child {
    pub const ALL: [Child; 3] = [Child::ScheduleCache, Child::Pager, Child::Gateway];

    pub fn name(self, names: &ActorNames) -> String {
        match self {
            Child::ScheduleCache => names.schedule_cache(),
            Child::Pager => names.pager(),
            Child::Gateway => names.gateway(),
        }
    }
}

pub struct RootActor;

/// Everything needed to spawn (and respawn) each child.
pub struct RootArgs {
    pub names: ActorNames,
    pub policy: RestartPolicy,
    pub schedule_cache: Arc<dyn Fn() -> ScheduleCacheArgs + Send + Sync>,
    pub pager: Arc<dyn Fn() -> PagerArgs + Send + Sync>,
    pub gateway: Arc<dyn Fn() -> GatewayArgs + Send + Sync>,
}

/// What operators see of one child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildHealth {
    pub child: Child,
    pub name: String,
    /// ractor's id of the running actor, when it runs.
    pub actor_id: Option<String>,
    pub running: bool,
    pub restarts: u64,
    pub last_failure: Option<Failure>,
    /// Over its restart budget: more than the policy allows in the window.
    pub failing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub at: SystemTime,
}

pub enum RootMessage {
    /// Spawn this child again (sent after its backoff).
    Restart(Child),
    /// The children's health, for operators.
    Health(RpcReplyPort<Vec<ChildHealth>>),
}

struct ChildRecord {
    cell: Option<ActorCell>,
    backoff: RestartBackoff,
    last_failure: Option<Failure>,
}

pub struct RootState {
    args: RootArgs,
    children: BTreeMap<Child, ChildRecord>,
}

impl Actor for RootActor {
    type Msg = RootMessage;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut state = RootState {
            children: BTreeMap::new(),
            args,
        };
        for child in Child::ALL {
            state.children.insert(
                child,
                ChildRecord {
                    cell: None,
                    backoff: RestartBackoff::new(state.args.policy),
                    last_failure: None,
                },
            );
            // A child that cannot even start at boot is an error worth failing the start for.
            let cell = state.spawn(child, myself.get_cell()).await?;
            state.record(child).cell = Some(cell);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMessage::Restart(child) => state.restart(myself, child).await,
            RootMessage::Health(reply) => {
                let _ = reply.send(state.health());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                state.child_down(&myself, &cell, format!("failed: {error}"));
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                state.child_down(&myself, &cell, format!("stopped: {reason}"));
            }
            _ => {}
        }
        Ok(())
    }
}

impl RootState {
    fn record(&mut self, child: Child) -> &mut ChildRecord {
        self.children
            .get_mut(&child)
            .expect("every child has a record from pre_start")
    }

    async fn spawn(
        &self,
        child: Child,
        supervisor: ActorCell,
    ) -> Result<ActorCell, ractor::SpawnErr> {
        let name = Some(child.name(&self.args.names));
        let cell = match child {
            Child::ScheduleCache => Actor::spawn_linked(
                name,
                ScheduleCacheActor,
                (self.args.schedule_cache)(),
                supervisor,
            )
            .await?
            .0
            .get_cell(),
            Child::Pager => Actor::spawn_linked(name, PagerActor, (self.args.pager)(), supervisor)
                .await?
                .0
                .get_cell(),
            Child::Gateway => {
                Actor::spawn_linked(name, GatewayActor, (self.args.gateway)(), supervisor)
                    .await?
                    .0
                    .get_cell()
            }
        };
        tracing::info!(actor = %child.name(&self.args.names), id = %cell.get_id(), "started");
        Ok(cell)
    }

    /// A child failed or stopped: remember why, and schedule its restart after the backoff.
    fn child_down(&mut self, myself: &ActorRef<RootMessage>, cell: &ActorCell, reason: String) {
        let id = cell.get_id();
        let Some((&child, _)) = self
            .children
            .iter()
            .find(|(_, r)| r.cell.as_ref().is_some_and(|c| c.get_id() == id))
        else {
            return;
        };
        let now = Instant::now();
        let names = self.args.names.clone();
        let record = self.record(child);
        record.cell = None;
        record.last_failure = Some(Failure {
            reason: reason.clone(),
            at: SystemTime::now(),
        });
        let delay = record.backoff.on_failure(now);
        let restarts = record.backoff.restarts();
        let failing = record.backoff.over_budget(now);
        tracing::error!(
            actor = %child.name(&names),
            reason = %reason,
            restarts,
            failing,
            delay_ms = delay.as_millis() as u64,
            "child down; restarting after backoff"
        );
        myself.send_after(delay, move || RootMessage::Restart(child));
    }

    async fn restart(&mut self, myself: ActorRef<RootMessage>, child: Child) {
        if self.record(child).cell.is_some() {
            return;
        }
        match self.spawn(child, myself.get_cell()).await {
            Ok(cell) => self.record(child).cell = Some(cell),
            Err(e) => {
                let now = Instant::now();
                let record = self.record(child);
                record.last_failure = Some(Failure {
                    reason: format!("restart failed: {e}"),
                    at: SystemTime::now(),
                });
                let delay = record.backoff.on_failure(now);
                tracing::error!(actor = ?child, error = %e, delay_ms = delay.as_millis() as u64, "restart failed; trying again");
                myself.send_after(delay, move || RootMessage::Restart(child));
            }
        }
    }

    fn health(&self) -> Vec<ChildHealth> {
        let now = Instant::now();
        self.children
            .iter()
            .map(|(&child, r)| ChildHealth {
                child,
                name: child.name(&self.args.names),
                actor_id: r.cell.as_ref().map(|c| c.get_id().to_string()),
                running: r.cell.is_some(),
                restarts: r.backoff.restarts(),
                last_failure: r.last_failure.clone(),
                failing: r.backoff.over_budget(now),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::{ChatTarget, InboundMessage};
    use crate::commands::{CommandContext, Deadlines};
    use crate::fakes::{FakePagerDuty, RecordingChat};
    use crate::gateway::{GatewayHandle, GatewayMessage};
    use crate::in_flight::InFlight;
    use crate::oncall::ScheduleRef;
    use crate::pager::PagerMessage;
    use crate::ports::StateStore;
    use crate::reply::Reply;
    use crate::state_store::MemoryStateStore;
    use tokio::sync::mpsc::UnboundedReceiver;

    struct Tree {
        root: ActorRef<RootMessage>,
        handle: GatewayHandle,
        replies: UnboundedReceiver<(ChatTarget, Reply)>,
        names: ActorNames,
    }

    async fn tree(prefix: &str) -> Tree {
        let names = ActorNames::with_prefix(prefix);
        let pd = Arc::new(FakePagerDuty::demo());
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
        let (chat, replies) = RecordingChat::new();
        let deadlines = Deadlines {
            lookup: Duration::from_secs(5),
            page: Duration::from_secs(10),
            status: Duration::from_secs(5),
        };
        let context = Arc::new(CommandContext::new(
            names.clone(),
            Arc::new(chat),
            pd.clone(),
            deadlines,
        ));
        let (pd1, pd2, store1, store2) = (pd.clone(), pd.clone(), store.clone(), store.clone());
        let args = RootArgs {
            names: names.clone(),
            policy: RestartPolicy::default(),
            schedule_cache: Arc::new(move || ScheduleCacheArgs {
                pagerduty: pd1.clone(),
                store: store1.clone(),
                incident_commanders: vec![ScheduleRef {
                    id: "P".into(),
                    label: "Primary".into(),
                }],
                responders: vec![ScheduleRef {
                    id: "S".into(),
                    label: "Shadow".into(),
                }],
                refresh_interval: Duration::from_secs(60),
                refresh_timeout: Duration::from_secs(20),
                contacts_ttl: Duration::from_secs(3600),
                contact_concurrency: 4,
            }),
            pager: Arc::new(move || PagerArgs {
                pagerduty: pd2.clone(),
                store: store2.clone(),
                from_email: "icbot@example.com".into(),
            }),
            gateway: Arc::new(move || GatewayArgs {
                context: context.clone(),
            }),
        };
        let (root, _) = Actor::spawn(Some(names.root()), RootActor, args)
            .await
            .unwrap();
        let handle = GatewayHandle::new(&names, InFlight::new());
        Tree {
            root,
            handle,
            replies,
            names,
        }
    }

    impl Tree {
        async fn say(&mut self, text: &str) -> String {
            self.handle.deliver(InboundMessage {
                reply_to: ChatTarget::channel("ops"),
                user: "dana".into(),
                text: text.into(),
                direct: false,
            });
            self.replies.recv().await.unwrap().1.plain()
        }

        async fn health(&self, child: Child) -> ChildHealth {
            let all = ractor::call_t!(self.root, RootMessage::Health, 1000).unwrap();
            all.into_iter().find(|h| h.child == child).unwrap()
        }
    }

    #[tokio::test]
    async fn commands_are_answered_through_the_tree() {
        let mut t = tree("answers/").await;
        let out = t.say("!ic").await;
        assert!(out.contains("Primary: Alice Smith — +1 5550101"), "{out}");
        let out = t.say("!ic page db down").await;
        assert!(
            out.starts_with("Paged the Incident Commanders: incident #1"),
            "{out}"
        );
        let out = t.say("!ic who bob").await;
        assert!(out.contains("Bob Jones <bob@example.com>"), "{out}");
        assert!(out.contains("On call now: Shadow"), "{out}");
        let out = t.say("!ic bogus").await;
        assert!(out.contains("!ic help"), "{out}");
        t.root.stop(None);
    }

    #[tokio::test]
    async fn a_failed_child_is_restarted_and_the_next_command_answered() {
        let mut t = tree("restart/").await;
        t.say("!ic").await;
        for child in [Child::Pager, Child::Gateway, Child::ScheduleCache] {
            let name = child.name(&t.names);
            let before = t.health(child).await;
            let cell = ractor::registry::where_is(name.clone()).unwrap();
            match child {
                Child::Pager => cell.send_message(PagerMessage::Crash).unwrap(),
                Child::Gateway => cell.send_message(GatewayMessage::Crash).unwrap(),
                Child::ScheduleCache => cell
                    .send_message(crate::schedule_cache::ScheduleCacheMessage::Crash)
                    .unwrap(),
            }
            let out = t.say("!ic page").await;
            assert!(out.contains("Alice Smith"), "{child:?}: {out}");
            let after = t.health(child).await;
            assert_eq!(after.restarts, before.restarts + 1, "{child:?}");
            assert!(after
                .last_failure
                .unwrap()
                .reason
                .contains("crash requested"));
            assert!(
                ractor::registry::where_is(name).is_some(),
                "{child:?} is back"
            );
        }
        assert!(t.root.get_status() == ractor::ActorStatus::Running);
        t.root.stop(None);
    }
}
