//! In-memory fakes of the ports for the actors' unit tests: PagerDuty with demo people, a settable probe that
//! counts its calls, and a chat that records posts and lets a test await them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use std::time::SystemTime;
use tokio::sync::Notify;

use crate::cache::oncall::{OnCallEntry, Person, Phone, UserId};
use crate::ports::{
    Incident, IncidentState, IncidentStatus, NewIncident, PagerDutyApi, PagerDutyError, UsersPage,
};

use crate::chat::{ChatTarget, MessageRef};
use crate::ports::{ChatError, ChatOut, StatusProbe};
use crate::reply::Reply;
use crate::status::system_state::{Level, ProbeError, StatusReport};

/// A report at `level` with a summary naming it.
pub fn report(level: Level) -> Result<StatusReport, ProbeError> {
    Ok(StatusReport {
        level,
        summary: format!("fake {level}"),
        firing: vec![],
    })
}

pub fn healthy() -> Result<StatusReport, ProbeError> {
    report(Level::Normal)
}

/// A probe returning whatever the test set, after an optional delay (tokio time), counting calls.
pub struct FakeProbe {
    result: Mutex<Result<StatusReport, ProbeError>>,
    delay: Mutex<Option<Duration>>,
    calls: AtomicUsize,
}

impl FakeProbe {
    pub fn new(result: Result<StatusReport, ProbeError>) -> Arc<Self> {
        Arc::new(FakeProbe {
            result: Mutex::new(result),
            delay: Mutex::new(None),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn set(&self, result: Result<StatusReport, ProbeError>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = result;
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) = Some(delay);
    }

    /// Never answers (a day, in tokio time).
    pub fn hang(&self) {
        self.set_delay(Duration::from_secs(86_400));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl StatusProbe for FakeProbe {
    async fn check(&self) -> Result<StatusReport, ProbeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.result
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A chat that records every post. `panic_next` makes the next post panic, as a buggy adapter would.
/// `tracking()` makes it hand out message references (`ts-1`, `ts-2`...) and record edits, as Slack would.
#[derive(Default)]
pub struct RecordingChat {
    posts: Mutex<Vec<(ChatTarget, Reply)>>,
    posted: Notify,
    panic_next: AtomicBool,
    tracking: AtomicBool,
    /// Posts are recorded, then never answered (a chat that hangs after delivering).
    hang: AtomicBool,
    /// Every `update` call, oldest first.
    pub updates: Mutex<Vec<(MessageRef, Reply)>>,
}

impl RecordingChat {
    pub fn new() -> Arc<Self> {
        Arc::new(RecordingChat::default())
    }

    /// The plain text of every post to `channel`, oldest first.
    pub fn posts_to(&self, channel: &str) -> Vec<String> {
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(to, _)| to.channel == channel)
            .map(|(_, reply)| reply.plain())
            .collect()
    }

    /// A chat whose posts can be edited.
    pub fn tracking() -> Arc<Self> {
        let chat = RecordingChat::default();
        chat.tracking.store(true, Ordering::SeqCst);
        Arc::new(chat)
    }

    /// The posts in the thread of `message`, as plain text.
    pub fn thread_of(&self, message: &MessageRef) -> Vec<String> {
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(to, _)| {
                to.channel == message.channel && to.thread.as_ref() == Some(&message.ts)
            })
            .map(|(_, reply)| reply.plain())
            .collect()
    }

    /// Waits (tokio time, at most an hour) until `n` edits were made, and returns them.
    pub async fn wait_for_updates(&self, n: usize) -> Vec<(MessageRef, Reply)> {
        let wait = async {
            loop {
                let posted = self.posted.notified();
                let updates = self
                    .updates
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                if updates.len() >= n {
                    return updates;
                }
                posted.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(3600), wait)
            .await
            .unwrap_or_else(|_| panic!("expected {n} updates"))
    }

    pub fn total(&self) -> usize {
        self.posts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn panic_next(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    /// From now on every post is recorded and then never answered.
    pub fn hang_posts(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }

    /// Waits (in tokio time, at most an hour) until `channel` has at least `n` posts, and returns them.
    pub async fn wait_for(&self, channel: &str, n: usize) -> Vec<String> {
        let wait = async {
            loop {
                let posted = self.posted.notified();
                let posts = self.posts_to(channel);
                if posts.len() >= n {
                    return posts;
                }
                posted.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(3600), wait).await {
            Ok(posts) => posts,
            Err(_) => panic!(
                "expected {n} posts to {channel}, got {:?}",
                self.posts_to(channel)
            ),
        }
    }

    /// Waits until `n` posts were made in total.
    pub async fn wait_for_total(&self, n: usize) {
        let wait = async {
            loop {
                let posted = self.posted.notified();
                if self.total() >= n {
                    return;
                }
                posted.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3600), wait)
            .await
            .is_err()
        {
            panic!("expected {n} posts in total, got {}", self.total());
        }
    }
}

#[async_trait]
impl ChatOut for RecordingChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("fake chat adapter bug");
        }
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((to.clone(), reply.clone()));
        self.posted.notify_waiters();
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn post_tracked(
        &self,
        to: &ChatTarget,
        reply: &Reply,
    ) -> Result<Option<MessageRef>, ChatError> {
        self.post(to, reply).await?;
        if !self.tracking.load(Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(Some(MessageRef {
            channel: to.channel.clone(),
            ts: format!("ts-{}", self.total()),
        }))
    }

    async fn update(&self, message: &MessageRef, reply: &Reply) -> Result<(), ChatError> {
        self.updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((message.clone(), reply.clone()));
        self.posted.notify_waiters();
        Ok(())
    }
}

/// A status write as the fake saw it: incident id, new status, resolution, `From`.
pub type StatusWrite = (String, IncidentStatus, Option<String>, Option<String>);

/// How the fake PagerDuty behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FakeMode {
    #[default]
    Works,
    Fails(PagerDutyError),
    /// Never answers.
    Hangs,
    /// Writes (incident creates, responder requests) wait until [`FakePagerDuty::release`].
    HoldsWrites,
}

/// People per page of the fake's user list.
pub const FAKE_USERS_PAGE: usize = 100;

/// PagerDuty in memory: schedule `P` (alice), `S` (bob and carol), `T` (nobody); carol has no phone.
pub struct FakePagerDuty {
    people: Vec<Person>,
    entries: Mutex<Vec<OnCallEntry>>,
    mode: Mutex<FakeMode>,
    user_lookups: AtomicUsize,
    user_list_requests: AtomicUsize,
    on_call_requests: AtomicUsize,
    /// Users whose lookups fail (500) while PagerDuty otherwise works.
    failing_users: Mutex<Vec<UserId>>,
    pub incidents: Mutex<Vec<NewIncident>>,
    pub responder_requests: Mutex<Vec<(String, UserId, Vec<UserId>)>>,
    /// Every incident created, as a listing shows it; status writes change it.
    pub states: Mutex<Vec<IncidentState>>,
    /// Each status write: incident id, new status, resolution, `From`.
    pub status_writes: Mutex<Vec<StatusWrite>>,
    /// Each note: incident id, text, `From`.
    pub notes: Mutex<Vec<(String, String, Option<String>)>>,
    /// Opened when held writes may go on.
    released: tokio::sync::watch::Sender<bool>,
    /// How many writes arrived (held or not).
    writes: tokio::sync::watch::Sender<usize>,
}

impl FakePagerDuty {
    pub fn demo() -> Self {
        let mut alice = Person::new("alice", "Alice Smith", "alice@example.com");
        alice.phones.push(Phone {
            country_code: Some(1),
            number: "5550101".into(),
        });
        let mut bob = Person::new("bob", "Bob Jones", "bob@example.com");
        bob.phones.push(Phone {
            country_code: Some(44),
            number: "7700900123".into(),
        });
        let carol = Person::new("carol", "Carol White", "carol@example.com");
        let bot = Person::new("icbot", "icbot", "icbot@example.com");
        let entry = |schedule: &str, p: &Person, level: u32| OnCallEntry {
            schedule_id: schedule.into(),
            user: Person::new(p.id.0.clone(), p.name.clone(), p.email.clone()),
            escalation_level: level,
            end: None,
        };
        let entries = vec![
            entry("P", &alice, 1),
            entry("S", &bob, 1),
            entry("S", &carol, 1),
        ];
        FakePagerDuty {
            people: vec![alice, bob, carol, bot],
            entries: Mutex::new(entries),
            mode: Mutex::new(FakeMode::Works),
            user_lookups: AtomicUsize::new(0),
            user_list_requests: AtomicUsize::new(0),
            on_call_requests: AtomicUsize::new(0),
            failing_users: Mutex::new(Vec::new()),
            incidents: Mutex::new(Vec::new()),
            responder_requests: Mutex::new(Vec::new()),
            states: Mutex::new(Vec::new()),
            status_writes: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            released: tokio::sync::watch::channel(false).0,
            writes: tokio::sync::watch::channel(0).0,
        }
    }

    /// Lets held writes go on (see [`FakeMode::HoldsWrites`]).
    pub fn release(&self) {
        self.set_mode(FakeMode::Works);
        self.released.send_replace(true);
    }

    /// Waits until `n` writes arrived (held or not), at most `within`.
    pub async fn wait_for_writes(&self, n: usize, within: Duration) {
        let mut writes = self.writes.subscribe();
        tokio::time::timeout(within, writes.wait_for(|w| *w >= n))
            .await
            .expect("the writes reached the fake PagerDuty")
            .expect("the fake is alive");
    }

    fn incident(n: usize) -> Incident {
        Incident {
            id: format!("Q{n}"),
            number: n as u64,
            html_url: format!("https://pd.example/incidents/Q{n}"),
        }
    }

    /// From now on, `people` (ids of the demo people, in escalation order) are on call in `schedule`.
    pub fn set_on_call(&self, schedule: &str, people: &[&str]) {
        let mut entries = self.entries.lock().unwrap();
        entries.retain(|e| e.schedule_id != schedule);
        for id in people {
            let p = self
                .people
                .iter()
                .find(|p| p.id.0 == *id)
                .expect("a demo person");
            entries.push(OnCallEntry {
                schedule_id: schedule.into(),
                user: Person::new(p.id.0.clone(), p.name.clone(), p.email.clone()),
                escalation_level: 1,
                end: None,
            });
        }
    }

    pub fn fail_with(&self, error: Option<PagerDutyError>) {
        self.set_mode(error.map_or(FakeMode::Works, FakeMode::Fails));
    }

    pub fn set_mode(&self, mode: FakeMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Lookups of this user fail with a 500 from now on.
    pub fn fail_user(&self, id: &str) {
        self.failing_users.lock().unwrap().push(UserId(id.into()));
    }

    pub fn user_lookups(&self) -> usize {
        self.user_lookups.load(Ordering::SeqCst)
    }

    /// Pages of the user list served ([`PagerDutyApi::users_page`]).
    pub fn user_list_requests(&self) -> usize {
        self.user_list_requests.load(Ordering::SeqCst)
    }

    /// Adds `n` people `crowd<i>`, each with a phone, all on call in schedule `C`.
    pub fn with_crowd(mut self, n: usize) -> Self {
        for i in 0..n {
            let mut p = Person::new(
                format!("crowd{i}"),
                format!("Crowd {i}"),
                format!("crowd{i}@example.com"),
            );
            p.phones.push(Phone {
                country_code: Some(1),
                number: format!("555{i:04}"),
            });
            self.entries.get_mut().unwrap().push(OnCallEntry {
                schedule_id: "C".into(),
                user: Person::new(p.id.0.clone(), p.name.clone(), p.email.clone()),
                escalation_level: 1,
                end: None,
            });
            self.people.push(p);
        }
        self
    }

    pub fn on_call_requests(&self) -> usize {
        self.on_call_requests.load(Ordering::SeqCst)
    }

    async fn gate(&self) -> Result<(), PagerDutyError> {
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            FakeMode::Works => Ok(()),
            FakeMode::Fails(e) => Err(e),
            FakeMode::Hangs => std::future::pending().await,
            FakeMode::HoldsWrites => Ok(()),
        }
    }

    /// The gate of writes: also holds them in [`FakeMode::HoldsWrites`].
    async fn write_gate(&self) -> Result<(), PagerDutyError> {
        self.writes.send_modify(|w| *w += 1);
        let held = *self.mode.lock().unwrap() == FakeMode::HoldsWrites;
        if held {
            let mut released = self.released.subscribe();
            let _ = released.wait_for(|r| *r).await;
        }
        self.gate().await
    }
}

#[async_trait]
impl PagerDutyApi for FakePagerDuty {
    async fn on_calls(&self, schedule_ids: &[String]) -> Result<Vec<OnCallEntry>, PagerDutyError> {
        self.on_call_requests.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| schedule_ids.contains(&e.schedule_id))
            .cloned()
            .collect())
    }

    async fn user(&self, id: &UserId) -> Result<Person, PagerDutyError> {
        self.user_lookups.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        if self.failing_users.lock().unwrap().contains(id) {
            return Err(PagerDutyError::Rejected {
                status: 500,
                message: "Internal Server Error".into(),
            });
        }
        let mut p =
            self.people
                .iter()
                .find(|p| &p.id == id)
                .cloned()
                .ok_or(PagerDutyError::Rejected {
                    status: 404,
                    message: "not found".into(),
                })?;
        p.contacts_fetched_at = Some(SystemTime::now());
        Ok(p)
    }

    async fn find_users(&self, query: &str) -> Result<Vec<Person>, PagerDutyError> {
        self.gate().await?;
        let q = query.to_lowercase();
        Ok(self
            .people
            .iter()
            .filter(|p| p.name.to_lowercase().contains(&q) || p.email.to_lowercase().contains(&q))
            .cloned()
            .collect())
    }

    /// Pages of [`FAKE_USERS_PAGE`] people; a user whose lookups fail (`fail_user`) is left out of the list.
    async fn users_page(&self, offset: usize) -> Result<UsersPage, PagerDutyError> {
        self.user_list_requests.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        let failing = self.failing_users.lock().unwrap().clone();
        let listed: Vec<&Person> = self
            .people
            .iter()
            .filter(|p| !failing.contains(&p.id))
            .collect();
        let now = SystemTime::now();
        let people = listed
            .iter()
            .skip(offset)
            .take(FAKE_USERS_PAGE)
            .map(|p| Person {
                contacts_fetched_at: Some(now),
                ..(*p).clone()
            })
            .collect::<Vec<_>>();
        let end = offset + people.len();
        Ok(UsersPage {
            next_offset: (end < listed.len()).then_some(end),
            people,
        })
    }

    async fn create_incident(&self, incident: &NewIncident) -> Result<Incident, PagerDutyError> {
        self.write_gate().await?;
        let mut all = self.incidents.lock().unwrap();
        // PagerDuty opens nothing new for the key of an open incident (all the fake's incidents are open).
        if let Some(key) = &incident.incident_key {
            if let Some(i) = all
                .iter()
                .position(|i| i.incident_key.as_ref() == Some(key))
            {
                return Err(PagerDutyError::AlreadyOpen {
                    incident: Some(Self::incident(i + 1)),
                });
            }
        }
        all.push(incident.clone());
        let created = Self::incident(all.len());
        let assignee = self.people.iter().find(|p| p.id == incident.assignee);
        self.states.lock().unwrap().push(IncidentState {
            id: created.id.clone(),
            number: created.number,
            title: incident.title.clone(),
            status: IncidentStatus::Triggered,
            html_url: created.html_url.clone(),
            created_at: Some(SystemTime::now()),
            assigned: assignee.map(|p| p.name.clone()).into_iter().collect(),
            acknowledged_by: Vec::new(),
        });
        Ok(created)
    }

    async fn find_incident(&self, incident_key: &str) -> Result<Option<Incident>, PagerDutyError> {
        self.gate().await?;
        let all = self.incidents.lock().unwrap();
        Ok(all
            .iter()
            .position(|i| i.incident_key.as_deref() == Some(incident_key))
            .map(|i| Self::incident(i + 1)))
    }

    async fn request_responders(
        &self,
        incident_id: &str,
        requester: &UserId,
        targets: &[UserId],
        _message: &str,
    ) -> Result<(), PagerDutyError> {
        self.write_gate().await?;
        self.responder_requests.lock().unwrap().push((
            incident_id.to_string(),
            requester.clone(),
            targets.to_vec(),
        ));
        Ok(())
    }

    async fn open_incidents(&self) -> Result<Vec<IncidentState>, PagerDutyError> {
        self.gate().await?;
        Ok(self
            .states
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.status != IncidentStatus::Resolved)
            .cloned()
            .collect())
    }

    async fn set_incident_status(
        &self,
        incident_id: &str,
        status: IncidentStatus,
        resolution: Option<&str>,
        from: Option<&str>,
    ) -> Result<IncidentState, PagerDutyError> {
        self.write_gate().await?;
        self.status_writes.lock().unwrap().push((
            incident_id.to_string(),
            status,
            resolution.map(String::from),
            from.map(String::from),
        ));
        let mut states = self.states.lock().unwrap();
        let state = states
            .iter_mut()
            .find(|i| i.id == incident_id)
            .ok_or(PagerDutyError::NotFound)?;
        if state.status == IncidentStatus::Resolved {
            return Err(PagerDutyError::AlreadyResolved);
        }
        state.status = status;
        let actor = from
            .and_then(|email| self.people.iter().find(|p| p.email == email))
            .map_or("icbot".to_string(), |p| p.name.clone());
        if status == IncidentStatus::Acknowledged {
            state.acknowledged_by.push(actor);
        }
        Ok(state.clone())
    }

    async fn add_note(
        &self,
        incident_id: &str,
        text: &str,
        from: Option<&str>,
    ) -> Result<(), PagerDutyError> {
        self.write_gate().await?;
        if !self
            .states
            .lock()
            .unwrap()
            .iter()
            .any(|i| i.id == incident_id)
        {
            return Err(PagerDutyError::NotFound);
        }
        self.notes.lock().unwrap().push((
            incident_id.to_string(),
            text.to_string(),
            from.map(String::from),
        ));
        Ok(())
    }
}

/// Several replicas, as one of them sees it: the test sets the leader term and the shared snapshot (or
/// makes the database unreachable), and reads what was shared.
#[derive(Default)]
pub struct FakeCoordination {
    term: std::sync::Mutex<Option<crate::ports::LeaderTerm>>,
    shared: std::sync::Mutex<Option<crate::cache::oncall::OnCallSnapshot>>,
    unreachable: std::sync::atomic::AtomicBool,
    /// What a page claim finds: `None` claims, `Some` is a page another replica sent.
    pub prior_page: std::sync::Mutex<Option<crate::pager::page::PriorPage>>,
    /// Every claimed page settled, with its incident (`None`: released).
    pub settled: std::sync::Mutex<Vec<(crate::ports::PageClaim, Option<Incident>)>>,
    /// The shared page audit: each (page id, event) once, as the database's unique key keeps it.
    pub audit: std::sync::Mutex<Vec<crate::ports::PageAuditEntry>>,
    /// Woken after each audit write.
    pub audit_written: tokio::sync::Notify,
    /// The followed incidents every replica shares.
    pub followed: std::sync::Mutex<Vec<crate::incidents::followed::Followed>>,
    /// Every snapshot shared, with the term it was shared in.
    pub shares: std::sync::Mutex<
        Vec<(
            crate::ports::LeaderTerm,
            crate::cache::oncall::OnCallSnapshot,
        )>,
    >,
    /// The role is unknown (the database unreachable), whatever the term says.
    role_unknown: std::sync::atomic::AtomicBool,
    /// The stalking set is shared (as with PostgreSQL): [`FakeCoordination::sharing_stalks`].
    shares_stalks: std::sync::atomic::AtomicBool,
    /// The shared stalking set, by channel.
    pub stalk_rows: std::sync::Mutex<std::collections::BTreeMap<String, crate::ports::SharedStalk>>,
    /// Every stalk post recorded (not refused), with its term.
    pub stalk_records: std::sync::Mutex<
        Vec<(
            crate::ports::LeaderTerm,
            String,
            crate::status::system_state::Posted,
        )>,
    >,
}

impl FakeCoordination {
    pub fn set_term(&self, term: Option<crate::ports::LeaderTerm>) {
        *self.term.lock().unwrap() = term;
    }

    pub fn set_shared(&self, snapshot: Option<crate::cache::oncall::OnCallSnapshot>) {
        *self.shared.lock().unwrap() = snapshot;
    }

    pub fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::SeqCst);
    }

    /// Several replicas sharing their stalks, starting with this role.
    pub fn sharing_stalks(role: crate::ports::ReplicaRole) -> Arc<FakeCoordination> {
        let fake = Arc::new(FakeCoordination::default());
        fake.shares_stalks.store(true, Ordering::SeqCst);
        fake.set_role(role);
        fake
    }

    /// The role: a leader term, another leader, or unknown.
    pub fn set_role(&self, role: crate::ports::ReplicaRole) {
        use crate::ports::ReplicaRole;
        self.set_term(match role {
            ReplicaRole::Leader(term) => Some(term),
            _ => None,
        });
        self.role_unknown
            .store(role == ReplicaRole::Unknown, Ordering::SeqCst);
    }

    fn reachable(&self) -> Result<(), crate::ports::CoordinationError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(crate::ports::CoordinationError::Unreachable("fake".into()));
        }
        Ok(())
    }

    /// The shared page audit once it holds at least `n` records.
    pub async fn wait_for_audit(&self, n: usize) -> Vec<crate::ports::PageAuditEntry> {
        loop {
            let written = self.audit_written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            {
                let audit = self.audit.lock().unwrap();
                if audit.len() >= n {
                    return audit.clone();
                }
            }
            written.await;
        }
    }
}

#[async_trait::async_trait]
impl crate::ports::Coordination for FakeCoordination {
    fn leader_term(&self) -> Option<crate::ports::LeaderTerm> {
        *self.term.lock().unwrap()
    }

    async fn shared_snapshot(
        &self,
    ) -> Result<Option<crate::cache::oncall::OnCallSnapshot>, crate::ports::CoordinationError> {
        self.reachable()?;
        Ok(self.shared.lock().unwrap().clone())
    }

    async fn share_snapshot(
        &self,
        term: crate::ports::LeaderTerm,
        snapshot: &crate::cache::oncall::OnCallSnapshot,
    ) -> Result<(), crate::ports::CoordinationError> {
        self.reachable()?;
        self.shares.lock().unwrap().push((term, snapshot.clone()));
        Ok(())
    }

    async fn claim_page(
        &self,
        _claim: &crate::ports::PageClaim,
    ) -> Result<crate::ports::PageClaimed, crate::ports::CoordinationError> {
        self.reachable()?;
        match self.prior_page.lock().unwrap().clone() {
            Some(prior) => Ok(crate::ports::PageClaimed::AlreadyPaged(prior)),
            None => Ok(crate::ports::PageClaimed::Claimed),
        }
    }

    async fn settle_page(
        &self,
        claim: &crate::ports::PageClaim,
        incident: Option<&Incident>,
    ) -> Result<(), crate::ports::CoordinationError> {
        self.settled
            .lock()
            .unwrap()
            .push((claim.clone(), incident.cloned()));
        Ok(())
    }

    fn role(&self) -> crate::ports::ReplicaRole {
        use crate::ports::ReplicaRole;
        if self.role_unknown.load(Ordering::SeqCst) {
            return ReplicaRole::Unknown;
        }
        match self.leader_term() {
            Some(term) => ReplicaRole::Leader(term),
            None => ReplicaRole::Follower,
        }
    }

    fn shares_stalks(&self) -> bool {
        self.shares_stalks.load(Ordering::SeqCst)
    }

    async fn stalks(
        &self,
    ) -> Result<Vec<crate::ports::SharedStalk>, crate::ports::CoordinationError> {
        self.reachable()?;
        Ok(self.stalk_rows.lock().unwrap().values().cloned().collect())
    }

    async fn add_stalk(
        &self,
        target: &crate::chat::ChatTarget,
    ) -> Result<crate::ports::StalkAdded, crate::ports::CoordinationError> {
        self.reachable()?;
        let mut rows = self.stalk_rows.lock().unwrap();
        if let Some(row) = rows.get(&target.channel) {
            return Ok(crate::ports::StalkAdded::Already { since: row.since });
        }
        let since = std::time::SystemTime::now();
        rows.insert(
            target.channel.clone(),
            crate::ports::SharedStalk {
                target: target.clone(),
                since,
                last_posted: None,
            },
        );
        Ok(crate::ports::StalkAdded::Added { since })
    }

    async fn remove_stalk(
        &self,
        channel: &str,
    ) -> Result<Option<std::time::SystemTime>, crate::ports::CoordinationError> {
        self.reachable()?;
        Ok(self
            .stalk_rows
            .lock()
            .unwrap()
            .remove(channel)
            .map(|r| r.since))
    }

    async fn record_stalk_post(
        &self,
        term: crate::ports::LeaderTerm,
        channel: &str,
        posted: &crate::status::system_state::Posted,
    ) -> Result<(), crate::ports::CoordinationError> {
        self.reachable()?;
        if self.leader_term() != Some(term) {
            return Err(crate::ports::CoordinationError::NotLeader);
        }
        if let Some(row) = self.stalk_rows.lock().unwrap().get_mut(channel) {
            row.last_posted = Some(posted.clone());
        }
        self.stalk_records
            .lock()
            .unwrap()
            .push((term, channel.to_string(), posted.clone()));
        Ok(())
    }

    async fn record_page_audit(
        &self,
        entries: &[crate::ports::PageAuditEntry],
    ) -> Result<(), crate::ports::CoordinationError> {
        self.reachable()?;
        let mut audit = self.audit.lock().unwrap();
        for entry in entries {
            let seen = audit
                .iter()
                .any(|e| e.page_id == entry.page_id && e.kind == entry.kind);
            if !seen {
                audit.push(entry.clone());
            }
        }
        drop(audit);
        self.audit_written.notify_waiters();
        Ok(())
    }

    async fn followed_incidents(
        &self,
    ) -> Result<Option<Vec<crate::incidents::followed::Followed>>, crate::ports::CoordinationError>
    {
        self.reachable()?;
        Ok(Some(self.followed.lock().unwrap().clone()))
    }

    async fn follow_incident(
        &self,
        followed: &crate::incidents::followed::Followed,
    ) -> Result<(), crate::ports::CoordinationError> {
        self.reachable()?;
        let mut all = self.followed.lock().unwrap();
        all.retain(|f| f.incident_id() != followed.incident_id());
        all.push(followed.clone());
        Ok(())
    }

    async fn record_followed(
        &self,
        term: crate::ports::LeaderTerm,
        followed: &crate::incidents::followed::Followed,
        resolved: bool,
    ) -> Result<(), crate::ports::CoordinationError> {
        self.reachable()?;
        if self.leader_term() != Some(term) {
            return Err(crate::ports::CoordinationError::NotLeader);
        }
        let mut all = self.followed.lock().unwrap();
        if resolved {
            all.retain(|f| f.incident_id() != followed.incident_id());
        } else if let Some(f) = all
            .iter_mut()
            .find(|f| f.incident_id() == followed.incident_id())
        {
            *f = followed.clone();
        }
        Ok(())
    }
}
