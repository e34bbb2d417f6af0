//! Chat user groups that are always the people on call: after each good refresh, each `[[user_groups]]`
//! group is set to the chat users on call for its schedules.
//!
//! Not an actor: the schedule cache hands it each good snapshot, and it outlives the cache's restarts (one per
//! bot). Syncs run one at a time, in order. People are matched by email through [`UserGroupsApi`]
//! (`users.lookupByEmail`, answers cached for [`LOOKUP_TTL`]); the group is updated only when its membership
//! differs from the last one set, which is saved in `user_groups.json` so a restart does not update again.
//! People the chat does not know are published in [`UserGroupFacts`] (shown in `/actors`) and logged once. A
//! group that would be empty keeps its last members (Slack refuses empty groups), and the log says so once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cache::oncall::OnCallSnapshot;
use crate::ports::{StateStore, UserGroupsApi};

/// The state file of each group's members as last set.
pub const MEMBERS_FILE: &str = "user_groups.json";
/// How long an email's chat user (or its absence) is remembered.
pub const LOOKUP_TTL: Duration = Duration::from_secs(3600);

/// One `[[user_groups]]` entry, its schedules resolved to PagerDuty ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroupRule {
    /// The group's handle, without `@`: `ic-oncall`.
    pub handle: String,
    pub schedule_ids: Vec<String>,
}

/// What operators see of the user groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserGroupFacts {
    /// Each group's members (chat user ids) as last set.
    pub members: BTreeMap<String, Vec<String>>,
    /// On-call people the chat has no user for, by email (or name when PagerDuty has no email).
    pub not_in_chat: Vec<String>,
    /// The last failure to update a group, in words.
    pub last_error: Option<String>,
    /// Syncs finished since the start.
    pub syncs: u64,
}

/// Keeps the groups in step. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct UserGroupSync {
    api: Arc<dyn UserGroupsApi>,
    store: Arc<dyn StateStore>,
    rules: Arc<Vec<UserGroupRule>>,
    state: Arc<tokio::sync::Mutex<SyncState>>,
    facts: watch::Sender<UserGroupFacts>,
}

#[derive(Default)]
struct SyncState {
    /// Each group's members as last set (from the state file at start).
    members: BTreeMap<String, BTreeSet<String>>,
    /// email -> chat user id, with when it was asked.
    lookups: HashMap<String, (Instant, Option<String>)>,
    /// Who was already logged as missing from the chat.
    logged_missing: BTreeSet<String>,
    /// Groups already logged as keeping their members for want of anyone on call.
    logged_empty: BTreeSet<String>,
}

impl UserGroupSync {
    pub fn new(
        api: Arc<dyn UserGroupsApi>,
        store: Arc<dyn StateStore>,
        rules: Vec<UserGroupRule>,
    ) -> Self {
        let members = load_members(store.as_ref());
        let facts = watch::channel(UserGroupFacts {
            members: members
                .iter()
                .map(|(h, m)| (h.clone(), m.iter().cloned().collect()))
                .collect(),
            ..UserGroupFacts::default()
        })
        .0;
        UserGroupSync {
            api,
            store,
            rules: Arc::new(rules),
            state: Arc::new(tokio::sync::Mutex::new(SyncState {
                members,
                ..SyncState::default()
            })),
            facts,
        }
    }

    pub fn facts(&self) -> watch::Receiver<UserGroupFacts> {
        self.facts.subscribe()
    }

    /// Syncs the groups to `snapshot` in the background, after any sync still running.
    pub fn sync(&self, snapshot: Arc<OnCallSnapshot>) {
        let me = self.clone();
        tokio::spawn(async move { me.sync_now(&snapshot).await });
    }

    /// Syncs the groups to `snapshot` and returns when done.
    pub async fn sync_now(&self, snapshot: &OnCallSnapshot) {
        let mut state = self.state.lock().await;
        let mut not_in_chat = BTreeSet::new();
        let mut last_error = None;
        for rule in self.rules.iter() {
            let on_call = on_call_for(snapshot, &rule.schedule_ids);
            let mut wanted = BTreeSet::new();
            let mut lookup_failed = false;
            for (email, name) in on_call {
                match self.chat_user(&mut state, &email).await {
                    Ok(Some(id)) => {
                        wanted.insert(id);
                    }
                    Ok(None) => {
                        let who = if email.is_empty() { name } else { email };
                        if state.logged_missing.insert(who.clone()) {
                            tracing::warn!(person = %who, group = %rule.handle, "on call but not found in the chat by email; left out of the user group");
                        }
                        not_in_chat.insert(who);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, group = %rule.handle, "cannot look up an on-call person in the chat; group left as it is");
                        last_error = Some(format!("@{}: lookup failed ({e})", rule.handle));
                        lookup_failed = true;
                        break;
                    }
                }
            }
            if lookup_failed {
                continue;
            }
            if wanted.is_empty() {
                if state.logged_empty.insert(rule.handle.clone()) {
                    tracing::warn!(group = %rule.handle, "nobody on call is in the chat; the user group keeps its last members (Slack refuses empty groups)");
                }
                continue;
            }
            state.logged_empty.remove(&rule.handle);
            if state.members.get(&rule.handle) == Some(&wanted) {
                continue;
            }
            let users: Vec<String> = wanted.iter().cloned().collect();
            match self.api.set_members(&rule.handle, &users).await {
                Ok(()) => {
                    tracing::info!(group = %rule.handle, members = ?users, "user group set to the people on call");
                    state.members.insert(rule.handle.clone(), wanted);
                    save_members(self.store.as_ref(), &state.members);
                }
                Err(e) => {
                    tracing::warn!(error = %e, group = %rule.handle, "cannot update the user group");
                    last_error = Some(format!("@{}: update failed ({e})", rule.handle));
                }
            }
        }
        // People back in the chat may be logged again if they go missing later.
        state.logged_missing.retain(|who| not_in_chat.contains(who));
        let syncs = self.facts.borrow().syncs + 1;
        self.facts.send_replace(UserGroupFacts {
            syncs,
            members: state
                .members
                .iter()
                .map(|(h, m)| (h.clone(), m.iter().cloned().collect()))
                .collect(),
            not_in_chat: not_in_chat.into_iter().collect(),
            last_error,
        });
    }

    async fn chat_user(
        &self,
        state: &mut SyncState,
        email: &str,
    ) -> Result<Option<String>, crate::ports::ChatError> {
        if email.is_empty() {
            return Ok(None);
        }
        let key = email.to_lowercase();
        if let Some((at, id)) = state.lookups.get(&key) {
            if at.elapsed() < LOOKUP_TTL {
                return Ok(id.clone());
            }
        }
        let id = self.api.user_by_email(email).await?;
        state.lookups.insert(key, (Instant::now(), id.clone()));
        Ok(id)
    }
}

/// (email, name) of everyone on call in these schedules, each once, in schedule order.
fn on_call_for(snapshot: &OnCallSnapshot, schedule_ids: &[String]) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    snapshot
        .incident_commanders
        .iter()
        .chain(&snapshot.responders)
        .filter(|s| schedule_ids.contains(&s.schedule.id))
        .flat_map(|s| s.people.iter())
        .filter(|id| seen.insert((*id).clone()))
        .filter_map(|id| snapshot.person(id))
        .map(|p| (p.email.trim().to_string(), p.name.clone()))
        .collect()
}

fn load_members(store: &dyn StateStore) -> BTreeMap<String, BTreeSet<String>> {
    match store.load(MEMBERS_FILE) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, file = MEMBERS_FILE, "state file is corrupt; ignoring it");
            BTreeMap::new()
        }),
        Ok(None) => BTreeMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, file = MEMBERS_FILE, "cannot read state file; ignoring it");
            BTreeMap::new()
        }
    }
}

fn save_members(store: &dyn StateStore, members: &BTreeMap<String, BTreeSet<String>>) {
    let result = serde_json::to_vec(members)
        .map_err(std::io::Error::other)
        .and_then(|bytes| store.save(MEMBERS_FILE, &bytes));
    if let Err(e) = result {
        tracing::warn!(error = %e, file = MEMBERS_FILE, "cannot save the user groups' members");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::{Person, ScheduleOnCall, ScheduleRef};
    use crate::ports::ChatError;
    use crate::state_store::MemoryStateStore;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::time::SystemTime;

    #[derive(Default)]
    struct FakeGroups {
        users: Mutex<HashMap<String, String>>,
        lookups: Mutex<usize>,
        updates: Mutex<Vec<(String, Vec<String>)>>,
    }

    #[async_trait]
    impl UserGroupsApi for FakeGroups {
        async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError> {
            *self.lookups.lock().unwrap() += 1;
            Ok(self.users.lock().unwrap().get(email).cloned())
        }
        async fn set_members(&self, handle: &str, users: &[String]) -> Result<(), ChatError> {
            self.updates
                .lock()
                .unwrap()
                .push((handle.into(), users.to_vec()));
            Ok(())
        }
    }

    fn fake() -> Arc<FakeGroups> {
        let f = FakeGroups::default();
        f.users.lock().unwrap().extend([
            ("a@x".to_string(), "UA".to_string()),
            ("b@x".into(), "UB".into()),
        ]);
        Arc::new(f)
    }

    fn snapshot(primary: &[&str]) -> OnCallSnapshot {
        let people = [
            Person::new("A", "Ana", "a@x"),
            Person::new("B", "Bo", "b@x"),
            Person::new("C", "Cy", "c@x"),
        ];
        OnCallSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            incident_commanders: vec![ScheduleOnCall::new(
                ScheduleRef {
                    id: "P".into(),
                    label: "Primary".into(),
                },
                primary
                    .iter()
                    .map(|id| people.iter().find(|p| p.id.0 == *id).unwrap().id.clone())
                    .collect(),
            )],
            responders: vec![],
            people: people.iter().map(|p| (p.id.clone(), p.clone())).collect(),
        }
    }

    fn rules() -> Vec<UserGroupRule> {
        vec![UserGroupRule {
            handle: "ic-oncall".into(),
            schedule_ids: vec!["P".into()],
        }]
    }

    #[tokio::test]
    async fn the_group_is_updated_only_when_membership_changes_and_lookups_are_cached() {
        let api = fake();
        let store = Arc::new(MemoryStateStore::new());
        let sync = UserGroupSync::new(api.clone(), store.clone(), rules());
        sync.sync_now(&snapshot(&["A"])).await;
        sync.sync_now(&snapshot(&["A"])).await;
        sync.sync_now(&snapshot(&["A", "B"])).await;
        assert_eq!(
            *api.updates.lock().unwrap(),
            vec![
                ("ic-oncall".to_string(), vec!["UA".to_string()]),
                (
                    "ic-oncall".to_string(),
                    vec!["UA".to_string(), "UB".to_string()]
                ),
            ]
        );
        assert_eq!(*api.lookups.lock().unwrap(), 2, "each email asked once");

        // A restart knows what it set last: no update for the same people.
        let again = UserGroupSync::new(api.clone(), store, rules());
        again.sync_now(&snapshot(&["B", "A"])).await;
        assert_eq!(api.updates.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn people_missing_from_the_chat_are_listed_and_an_empty_group_keeps_its_members() {
        let api = fake();
        let sync = UserGroupSync::new(api.clone(), Arc::new(MemoryStateStore::new()), rules());
        sync.sync_now(&snapshot(&["A", "C"])).await;
        let facts = sync.facts().borrow().clone();
        assert_eq!(facts.not_in_chat, ["c@x"]);
        assert_eq!(facts.members["ic-oncall"], ["UA"]);

        sync.sync_now(&snapshot(&["C"])).await;
        sync.sync_now(&snapshot(&[])).await;
        assert_eq!(api.updates.lock().unwrap().len(), 1, "never emptied");
        assert_eq!(sync.facts().borrow().members["ic-oncall"], ["UA"]);
    }
}
