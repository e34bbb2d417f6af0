//! Gathering what the admin endpoints show: the live tree from ractor's registry, restarts and failures from
//! the supervisors, and each actor's own facts.
//!
//! Reads come from what the actors publish (`watch` channels: the root's [`ChildHealth`], the cache's
//! [`CacheFacts`], the state writes' [`StoreHealth`], chat connected; the stalks' [`KeptStalks`]) and never
//! wait. The few facts only an actor holds (the pager's last page,
//! the status actor's last check, the stalking channels) are asked of it with [`ASK_TIMEOUT`]; an actor that
//! is restarting or slow shows as such instead of holding up the answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use icbot_actors::deadline::Deadline;
use icbot_actors::supervision::ask::{ask_if_running, AskError};
use icbot_actors::supervision::names::ActorNames;

use crate::ha::{HaFacts, Replica};
use crate::instance::Instance;
use icbot_actors::cache::schedule_cache::CacheFacts;
use icbot_actors::cache::user_groups::UserGroupFacts;
use icbot_actors::pager::actor::PagerMessage;
use icbot_actors::pager::page::PageOutcome;
use icbot_actors::root::{Child, ChildHealth};
use icbot_actors::state_store::watched::{StoreHealth, WriteFailure};
use icbot_actors::status::actor::StatusMessage;
use icbot_actors::status::stalks::{KeptStalks, StalkInfo, StalksMessage};
use icbot_actors::status::system_state::StatusCheck;
use icbot_actors::status::system_state::SystemState;
use icbot_actors::supervision::child::Failure;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::{ActorCell, ActorStatus, Message, RpcReplyPort};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

/// The longest any admin answer waits on one actor.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the admin server reads from. Cheap to clone.
#[derive(Clone)]
pub struct AdminSources {
    pub names: ActorNames,
    /// The root's children, as it publishes them after every change.
    pub health: watch::Receiver<Vec<ChildHealth>>,
    /// The on-call cache's facts, as it publishes them.
    pub cache: watch::Receiver<CacheFacts>,
    /// The `[[user_groups]]` sync's facts, when groups are configured.
    pub user_groups: Option<watch::Receiver<UserGroupFacts>>,
    /// Failed state writes, as the store layer publishes them.
    pub store: watch::Receiver<StoreHealth>,
    /// The stalking channels, and which stalk actors are over their restart budget.
    pub stalks: KeptStalks,
    /// Whether the chat adapter is connected; the adapter sends on the other end (console: always true).
    pub chat_connected: watch::Receiver<bool>,
    /// `POST /actors/{name}/crash` allowed.
    pub chaos: bool,
    /// The Prometheus recorder's handle, `None` when another recorder owns the process.
    pub metrics: Option<PrometheusHandle>,
    /// Set when the bot starts shutting down: not ready any more.
    pub stopping: Arc<AtomicBool>,
    /// `ICBOT_ADMIN_TOKEN`: when set, the write endpoints want `Authorization: Bearer <token>`. Never shown.
    pub admin_token: Option<SecretString>,
    /// Which bot this is; every answer says it (the `icbot-instance` header).
    pub instance: Instance,
    /// This replica's coordination, with `[state] backend = "postgres"`.
    pub ha: Option<Replica>,
    /// Page audit records waiting in the local spool for the database (`backend = "postgres"`).
    pub page_audit_spooled: Option<watch::Receiver<usize>>,
}

/// `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// What is not ready, one sentence each; empty when ready.
    pub not_ready: Vec<String>,
    /// What works but worse than it should, one sentence each: the bot still answers (200 if nothing is in
    /// `not_ready`). A stalk actor over its restart budget; a state file whose latest write failed.
    #[serde(default)]
    pub degraded: Vec<String>,
    pub tree_up: bool,
    pub chat_connected: bool,
    pub has_snapshot: bool,
    /// Children of the root over their restart budget (each makes the bot not ready).
    pub failing: Vec<String>,
    /// Which bot answers: pid and start time (absent from bots before this field).
    #[serde(default)]
    pub instance: Option<Instance>,
}

/// `GET /actors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeFacts {
    pub readiness: Readiness,
    /// The state writes: failures and the files behind on disk.
    #[serde(default)]
    pub state: StateFacts,
    /// Every actor of the tree, parents before their children: the root, its children, the stalk actors.
    pub actors: Vec<ActorFacts>,
    /// This replica's role in the leader lease, the holder, the epoch and the last renewal; absent with
    /// `[state] backend = "files"`.
    #[serde(default)]
    pub ha: Option<HaFacts>,
}

/// One actor in `GET /actors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorFacts {
    /// Its name in ractor's registry.
    pub name: String,
    /// ractor's id of the running instance.
    pub id: Option<String>,
    /// `running`, `starting`, `stopping`..., `not running` (being restarted), or `failing` (over budget).
    pub status: String,
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub restarts: u64,
    /// Over its restart budget (more than 5 failures in a row without a quiet minute up); the supervisor
    /// keeps trying.
    pub failing: bool,
    pub last_failure: Option<FailureFacts>,
    /// What this actor knows that operators care about (differs per actor).
    pub facts: BTreeMap<String, Value>,
}

/// The state writes in `GET /actors`: the [`StoreHealth`] (`write_failures` counts
/// `icbot_state_write_failures_total`, all files), the last failure's time as [`Moment`].
pub type StateFacts = StoreHealth<Moment>;

/// The last failed state write in `GET /actors`.
pub type WriteFailureFacts = WriteFailure<Moment>;

/// A time as `GET /actors` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    /// Seconds since the Unix epoch.
    pub at_unix: u64,
    pub age_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureFacts {
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub at_unix: u64,
    pub age_secs: u64,
}

impl AdminSources {
    /// `/readyz`: the tree is up, chat is connected, the cache holds a snapshot, and no child is over budget.
    /// Degraded (still ready): a stalk actor over budget, a state file whose latest write failed.
    pub fn readiness(&self) -> Readiness {
        let root = ractor::registry::where_is(self.names.root());
        let tree_up = root.is_some_and(|r| r.get_status() == ActorStatus::Running);
        let chat_connected = *self.chat_connected.borrow();
        let has_snapshot = self.cache.borrow().snapshot_taken_at.is_some();
        let failing: Vec<String> = self
            .health
            .borrow()
            .iter()
            .filter(|h| h.failing)
            .map(|h| h.name.clone())
            .collect();
        let mut not_ready = Vec::new();
        if self.stopping.load(Ordering::Relaxed) {
            not_ready.push("shutting down".to_string());
        }
        if !tree_up {
            not_ready.push("the supervision tree is not running".to_string());
        }
        if !chat_connected {
            not_ready.push("the chat adapter is not connected".to_string());
        }
        if !has_snapshot {
            not_ready.push(
                "the on-call cache has no snapshot yet (neither from PagerDuty nor the state file)"
                    .to_string(),
            );
        }
        for name in &failing {
            not_ready.push(format!(
                "{name} is failing: over its restart budget (restarts continue with backoff)"
            ));
        }
        let mut degraded = Vec::new();
        for channel in self.stalks.failing() {
            degraded.push(format!(
                "{} is failing: over its restart budget (restarts continue with backoff)",
                self.names.stalk(&channel)
            ));
        }
        if let Some(ha) = self.ha.as_ref().map(Replica::facts) {
            if ha.role == "unknown" {
                degraded.push(format!(
                    "coordination: role unknown ({}); no leader work on this replica, commands answer from memory",
                    ha.role_detail.unwrap_or_default()
                ));
            }
        }
        let store = self.store.borrow().clone();
        for file in &store.failing_files {
            let why = store
                .last_write_failure
                .as_ref()
                .filter(|f| &f.file == file)
                .map(|f| format!(" ({})", f.error))
                .unwrap_or_default();
            degraded.push(format!(
                "state file {file}: the latest write failed{why}; on disk it is behind until a write succeeds"
            ));
        }
        Readiness {
            ready: not_ready.is_empty(),
            not_ready,
            degraded,
            tree_up,
            chat_connected,
            has_snapshot,
            failing,
            instance: Some(self.instance.clone()),
        }
    }

    /// The snapshot's age now, `None` without a snapshot.
    pub fn snapshot_age(&self) -> Option<Duration> {
        let taken = self.cache.borrow().snapshot_taken_at?;
        Some(SystemTime::now().duration_since(taken).unwrap_or_default())
    }

    /// `/actors`: the whole tree. Waits at most [`ASK_TIMEOUT`] (the three asks run at once).
    pub async fn tree(&self) -> TreeFacts {
        let asked = self.ask_actors().await;
        self.tree_from(&asked)
    }

    /// What only the actors know, asked of them at once (at most [`ASK_TIMEOUT`]).
    pub async fn ask_actors(&self) -> ActorAnswers {
        let names = &self.names;
        let (pager_name, status_name, stalks_name) =
            (names.pager(), names.status(), names.stalks());
        let (pager, status, stalks) = tokio::join!(
            ask::<PagerMessage, _>(&pager_name, PagerMessage::LastOutcome),
            ask::<StatusMessage, _>(&status_name, StatusMessage::LastCheck),
            ask::<StalksMessage, _>(&stalks_name, StalksMessage::List),
        );
        ActorAnswers {
            pager,
            status,
            stalks,
        }
    }

    /// The tree from answers already had.
    pub fn tree_from(&self, asked: &ActorAnswers) -> TreeFacts {
        let names = &self.names;
        let ActorAnswers {
            pager,
            status,
            stalks,
        } = asked;
        let health = self.health.borrow().clone();
        let now = SystemTime::now();
        let root_name = names.root();
        let root_cell = ractor::registry::where_is(root_name.clone());
        let mut actors = vec![ActorFacts {
            name: root_name.clone(),
            id: root_cell.as_ref().map(|c| c.get_id().to_string()),
            status: status_word(root_cell.as_ref(), false),
            parent: None,
            children: child_names(root_cell.as_ref()),
            restarts: 0,
            failing: false,
            last_failure: None,
            facts: BTreeMap::new(),
        }];
        for child in Child::ALL {
            let name = child.name(names);
            let cell = ractor::registry::where_is(name.clone());
            let h = health.iter().find(|h| h.child == child);
            let failing = h.is_some_and(|h| h.failing);
            let facts = match child {
                Child::ScheduleCache => self.cache_facts(now),
                Child::Pager => pager_facts(pager, now),
                Child::Status => status_facts(status, now),
                Child::Stalks => stalks_facts(stalks, now),
                Child::Incidents => BTreeMap::new(),
                Child::Gateway => BTreeMap::from([(
                    "chat_connected".into(),
                    json!(*self.chat_connected.borrow()),
                )]),
            };
            actors.push(ActorFacts {
                id: cell.as_ref().map(|c| c.get_id().to_string()),
                status: status_word(cell.as_ref(), failing),
                parent: Some(root_name.clone()),
                children: child_names(cell.as_ref()),
                restarts: h.map_or(0, |h| h.restarts),
                failing,
                last_failure: h
                    .and_then(|h| h.last_failure.as_ref())
                    .map(|f| failure(f, now)),
                facts,
                name,
            });
        }
        actors.extend(self.stalk_actors(stalks, now));
        TreeFacts {
            readiness: self.readiness(),
            state: self.state_facts(now),
            actors,
            ha: self.ha.as_ref().map(Replica::facts),
        }
    }

    fn state_facts(&self, now: SystemTime) -> StateFacts {
        self.store.borrow().clone().told(|at| Moment {
            at_unix: unix(at),
            age_secs: age(at, now),
        })
    }

    fn cache_facts(&self, now: SystemTime) -> BTreeMap<String, Value> {
        let cache = self.cache.borrow().clone();
        let mut facts = BTreeMap::new();
        facts.insert(
            "snapshot_age_secs".into(),
            json!(cache.snapshot_taken_at.map(|t| age(t, now))),
        );
        facts.insert(
            "snapshot_from_state_file".into(),
            json!(cache.from_state_file),
        );
        facts.insert(
            "last_refresh".into(),
            match cache.last_refresh {
                None => Value::Null,
                Some(r) => json!({
                    "ok": r.ok,
                    "result": match (r.ok, r.partial) {
                        (false, _) => "failed",
                        (true, true) => "partial",
                        (true, false) => "ok",
                    },
                    "failed_lookups": r.failed_lookups,
                    "age_secs": age(r.at, now),
                    "error": r.error,
                }),
            },
        );
        if let Some(groups) = &self.user_groups {
            facts.insert("user_groups".into(), json!(*groups.borrow()));
        }
        facts
    }

    /// One entry per stalking channel, from the stalks actor's list (or, when it cannot answer, from the
    /// registry alone).
    fn stalk_actors(&self, stalks: &Asked<Vec<StalkInfo>>, now: SystemTime) -> Vec<ActorFacts> {
        let parent = self.names.stalks();
        match stalks {
            Asked::Answer(list) => list
                .iter()
                .map(|s| {
                    let name = self.names.stalk(&s.target.channel);
                    let cell = ractor::registry::where_is(name.clone());
                    let facts = BTreeMap::from([
                        ("channel".to_string(), json!(s.target.channel)),
                        ("since_age_secs".to_string(), json!(age(s.since, now))),
                        (
                            "last_posted".to_string(),
                            json!(s.last_posted.as_ref().map(SystemState::word)),
                        ),
                    ]);
                    ActorFacts {
                        id: cell.as_ref().map(|c| c.get_id().to_string()),
                        status: status_word(cell.as_ref(), s.failing),
                        parent: Some(parent.clone()),
                        children: vec![],
                        restarts: s.restarts,
                        failing: s.failing,
                        last_failure: s.last_failure.as_ref().map(|f| failure(f, now)),
                        facts,
                        name,
                    }
                })
                .collect(),
            _ => ractor::registry::where_is(parent.clone())
                .map(|c| c.get_children())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| {
                    let name = c.get_name()?;
                    Some(ActorFacts {
                        name,
                        id: Some(c.get_id().to_string()),
                        status: status_word(Some(&c), false),
                        parent: Some(parent.clone()),
                        children: vec![],
                        restarts: 0,
                        failing: false,
                        last_failure: None,
                        facts: BTreeMap::from([(
                            "note".to_string(),
                            json!("stalks did not answer; restarts unknown"),
                        )]),
                    })
                })
                .collect(),
        }
    }
}

/// The answers only actors have, for `/actors` and the status page.
#[derive(Debug)]
pub struct ActorAnswers {
    pub pager: Asked<Option<PageOutcome>>,
    pub status: Asked<Option<StatusCheck>>,
    pub stalks: Asked<Vec<StalkInfo>>,
}

/// An actor's answer, or why there is none.
#[derive(Debug)]
pub enum Asked<T> {
    Answer(T),
    /// Not in the registry: being restarted.
    NotRunning,
    /// Did not answer within [`ASK_TIMEOUT`].
    Slow,
}

impl<T> Asked<T> {
    /// Why there is no answer, in words; `None` when there is one.
    pub fn why_not(&self) -> Option<String> {
        match self {
            Asked::Answer(_) => None,
            Asked::NotRunning => Some("not running (restarting?)".to_string()),
            Asked::Slow => Some(format!(
                "did not answer within {} ms",
                ASK_TIMEOUT.as_millis()
            )),
        }
    }

    fn missing(&self) -> Option<Value> {
        match self {
            Asked::Answer(_) => None,
            Asked::NotRunning => Some(json!("not running (restarting?)")),
            Asked::Slow => Some(json!(format!(
                "did not answer within {} ms",
                ASK_TIMEOUT.as_millis()
            ))),
        }
    }
}

pub(super) async fn ask<M, R>(name: &str, build: impl FnOnce(RpcReplyPort<R>) -> M) -> Asked<R>
where
    M: Message,
    R: Send + 'static,
{
    match ask_if_running(name, "the actor", Deadline::after(ASK_TIMEOUT), build).await {
        Ok(r) => Asked::Answer(r),
        Err(AskError::Timeout(_)) => Asked::Slow,
        Err(AskError::Unavailable(_)) => Asked::NotRunning,
    }
}

fn pager_facts(pager: &Asked<Option<PageOutcome>>, now: SystemTime) -> BTreeMap<String, Value> {
    let last = match pager {
        Asked::Answer(None) => json!(null),
        Asked::Answer(Some(o)) => {
            let confirmed = o.results.len() - o.not_confirmed().count();
            json!({
                "age_secs": age(o.at, now),
                "audience": o.request.audience,
                "incident_number": o.incident.as_ref().map(|i| i.number),
                "confirmed": confirmed,
                "not_confirmed": o.results.len() - confirmed,
                "failure": o.failure,
            })
        }
        other => other.missing().unwrap_or_default(),
    };
    BTreeMap::from([("last_page".to_string(), last)])
}

fn status_facts(status: &Asked<Option<StatusCheck>>, now: SystemTime) -> BTreeMap<String, Value> {
    let last = match status {
        Asked::Answer(None) => json!(null),
        Asked::Answer(Some(check)) => {
            let detail = match &check.state {
                SystemState::Known(r) => r.summary.clone(),
                SystemState::Unknown(e) => e.to_string(),
            };
            json!({
                "state": check.state.word(),
                "detail": detail,
                "age_secs": age(check.checked_at, now),
            })
        }
        other => other.missing().unwrap_or_default(),
    };
    BTreeMap::from([("last_check".to_string(), last)])
}

fn stalks_facts(stalks: &Asked<Vec<StalkInfo>>, now: SystemTime) -> BTreeMap<String, Value> {
    let channels = match stalks {
        Asked::Answer(list) => json!(list
            .iter()
            .map(|s| json!({
                "channel": s.target.channel,
                "since_unix": unix(s.since),
                "since_age_secs": age(s.since, now),
            }))
            .collect::<Vec<_>>()),
        other => other.missing().unwrap_or_default(),
    };
    BTreeMap::from([("channels".to_string(), channels)])
}

fn status_word(cell: Option<&ActorCell>, failing: bool) -> String {
    let word = match cell.map(ActorCell::get_status) {
        None => "not running",
        Some(ActorStatus::Unstarted) => "unstarted",
        Some(ActorStatus::Starting) => "starting",
        Some(ActorStatus::Running) => "running",
        Some(ActorStatus::Upgrading) => "upgrading",
        Some(ActorStatus::Draining) => "draining",
        Some(ActorStatus::Stopping) => "stopping",
        Some(ActorStatus::Stopped) => "stopped",
    };
    if failing {
        format!("failing ({word})")
    } else {
        word.to_string()
    }
}

fn child_names(cell: Option<&ActorCell>) -> Vec<String> {
    let mut names: Vec<String> = cell
        .map(ActorCell::get_children)
        .unwrap_or_default()
        .iter()
        .map(|c| c.get_name().unwrap_or_else(|| c.get_id().to_string()))
        .collect();
    names.sort();
    names
}

fn failure(f: &Failure, now: SystemTime) -> FailureFacts {
    FailureFacts {
        reason: f.reason.clone(),
        at_unix: unix(f.at),
        age_secs: age(f.at, now),
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn age(t: SystemTime, now: SystemTime) -> u64 {
    now.duration_since(t).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `state` in `GET /actors` is the store's health under the names operators (and `icbot health`) read.
    #[test]
    fn state_facts_keep_their_json_shape() {
        let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let health = StoreHealth {
            write_failures: 2,
            failing_files: ["pages.jsonl".to_string()].into(),
            last_write_failure: Some(WriteFailure {
                file: "pages.jsonl".into(),
                error: "Is a directory (os error 21)".into(),
                at,
            }),
        };
        let facts = health.told(|t| Moment {
            at_unix: unix(t),
            age_secs: age(t, at + Duration::from_secs(42)),
        });
        let json = serde_json::to_value(&facts).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "write_failures": 2,
                "failing_files": ["pages.jsonl"],
                "last_write_failure": {"file": "pages.jsonl", "error": "Is a directory (os error 21)",
                    "at_unix": 1_767_225_600, "age_secs": 42}
            })
        );
        let back: StateFacts = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, facts);
        let none: StateFacts = serde_json::from_value(serde_json::json!({
            "write_failures": 0, "failing_files": [], "last_write_failure": null
        }))
        .expect("no failure reads");
        assert_eq!(none, StateFacts::default());
    }
}
