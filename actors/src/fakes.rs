//! In-memory fakes of the ports, for the core's unit tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::chat::ChatTarget;
use crate::oncall::{OnCallEntry, Person, Phone, UserId};
use crate::ports::{ChatError, ChatOut, Incident, NewIncident, PagerDutyApi, PagerDutyError};
use crate::reply::Reply;

/// How the fake PagerDuty behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FakeMode {
    #[default]
    Works,
    Fails(PagerDutyError),
    /// Never answers.
    Hangs,
}

/// PagerDuty in memory: schedule `P` (alice), `S` (bob and carol), `T` (nobody); carol has no phone.
pub struct FakePagerDuty {
    people: Vec<Person>,
    entries: Vec<OnCallEntry>,
    mode: Mutex<FakeMode>,
    user_lookups: AtomicUsize,
    on_call_requests: AtomicUsize,
    pub incidents: Mutex<Vec<NewIncident>>,
    pub responder_requests: Mutex<Vec<(String, UserId, Vec<UserId>)>>,
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
            entries,
            mode: Mutex::new(FakeMode::Works),
            user_lookups: AtomicUsize::new(0),
            on_call_requests: AtomicUsize::new(0),
            incidents: Mutex::new(Vec::new()),
            responder_requests: Mutex::new(Vec::new()),
        }
    }

    pub fn fail_with(&self, error: Option<PagerDutyError>) {
        self.set_mode(error.map_or(FakeMode::Works, FakeMode::Fails));
    }

    pub fn set_mode(&self, mode: FakeMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn user_lookups(&self) -> usize {
        self.user_lookups.load(Ordering::SeqCst)
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
        }
    }
}

#[async_trait]
impl PagerDutyApi for FakePagerDuty {
    async fn on_calls(&self, schedule_ids: &[String]) -> Result<Vec<OnCallEntry>, PagerDutyError> {
        self.on_call_requests.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        Ok(self
            .entries
            .iter()
            .filter(|e| schedule_ids.contains(&e.schedule_id))
            .cloned()
            .collect())
    }

    async fn user(&self, id: &UserId) -> Result<Person, PagerDutyError> {
        self.user_lookups.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
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

    async fn create_incident(&self, incident: &NewIncident) -> Result<Incident, PagerDutyError> {
        self.gate().await?;
        let mut all = self.incidents.lock().unwrap();
        all.push(incident.clone());
        let n = all.len() as u64;
        Ok(Incident {
            id: format!("Q{n}"),
            number: n,
            html_url: format!("https://pd.example/incidents/Q{n}"),
        })
    }

    async fn request_responders(
        &self,
        incident_id: &str,
        requester: &UserId,
        targets: &[UserId],
        _message: &str,
    ) -> Result<(), PagerDutyError> {
        self.gate().await?;
        self.responder_requests.lock().unwrap().push((
            incident_id.to_string(),
            requester.clone(),
            targets.to_vec(),
        ));
        Ok(())
    }
}

/// A chat that records every post and lets a test await them.
pub struct RecordingChat {
    tx: mpsc::UnboundedSender<(ChatTarget, Reply)>,
}

impl RecordingChat {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<(ChatTarget, Reply)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (RecordingChat { tx }, rx)
    }
}

#[async_trait]
impl ChatOut for RecordingChat {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        let _ = self.tx.send((to.clone(), reply.clone()));
        Ok(())
    }
}
