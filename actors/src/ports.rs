//! The port traits: the only way the core talks to the world.
//!
//! `src/` implements them over HTTP (PagerDuty, Slack, monitoring) and the file system; tests implement them in
//! memory. Every method here may fail with a typed error that the actors turn into an answer, never a crash.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::cache::oncall::{OnCallEntry, OnCallSnapshot, Person, UserId};
use crate::chat::{ChatTarget, MessageRef};
use crate::incidents::followed::Followed;
pub use crate::pager::page::Incident;
use crate::pager::page::PriorPage;
use crate::reply::Reply;
use crate::status::system_state::{Posted, ProbeError, StatusReport};

/// What went wrong talking to PagerDuty: one variant per thing the caller does differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagerDutyError {
    /// 429: PagerDuty asked us to slow down, possibly saying for how long.
    #[error("PagerDuty rate limited the bot (429)")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other non-success status, with PagerDuty's own message.
    #[error("PagerDuty rejected the request ({status}: {message})")]
    Rejected { status: u16, message: String },
    /// No answer within the request timeout.
    #[error("PagerDuty did not answer in time (timeout)")]
    Timeout,
    /// Connection refused, reset, DNS, TLS...
    #[error("cannot reach PagerDuty ({0})")]
    Transport(String),
    /// An answer that is not the JSON we expect.
    #[error("PagerDuty sent an unreadable answer ({0})")]
    Malformed(String),
    /// `POST /incidents` with the `incident_key` of an incident still open: nothing new was created. The
    /// incident, when it could be found by its key.
    #[error("PagerDuty already has an open incident for this page")]
    AlreadyOpen { incident: Option<Incident> },
    /// 404 on an incident write: no such incident.
    #[error("PagerDuty has no such incident (404)")]
    NotFound,
    /// The incident was resolved before this write reached it (PagerDuty's 400 "Incident Already Resolved").
    #[error("the incident is already resolved")]
    AlreadyResolved,
    /// 403: the acting user may not do this (a read-only or observer user, or a token without write access).
    #[error("PagerDuty refused: not allowed (403: {message})")]
    Forbidden { message: String },
}

impl PagerDutyError {
    /// Whether the request may have been carried out although no answer said so (a timeout, a cut
    /// connection): a write that failed this way is "not confirmed", never sent again blindly.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            PagerDutyError::Timeout | PagerDutyError::Transport(_) | PagerDutyError::Malformed(_)
        )
    }
}

pub use crate::incidents::status::IncidentStatus;

/// An incident as a listing shows it: who it is assigned to and who acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentState {
    pub id: String,
    pub number: u64,
    pub title: String,
    pub status: IncidentStatus,
    pub html_url: String,
    /// When it was opened, when PagerDuty said.
    #[serde(default)]
    pub created_at: Option<SystemTime>,
    /// Names of the people it is assigned to now.
    #[serde(default)]
    pub assigned: Vec<String>,
    /// Names of the people who acknowledged it.
    #[serde(default)]
    pub acknowledged_by: Vec<String>,
}

/// What `POST /incidents` needs from the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    pub title: String,
    /// Free text for the incident body: who asked, where, the message.
    pub details: String,
    /// The one person the incident is assigned to.
    pub assignee: UserId,
    /// PagerDuty's idempotency key: while an incident with this key is open on the service, a create with
    /// the same key opens nothing new (it answers [`PagerDutyError::AlreadyOpen`]).
    #[serde(default)]
    pub incident_key: Option<String>,
}

/// One page of [`PagerDutyApi::users_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersPage {
    pub people: Vec<Person>,
    /// The offset of the next page, or `None` when this was the last.
    pub next_offset: Option<usize>,
}

/// A schedule override: `user` on call in a schedule from `start` to `end`, whoever the rotation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOverride {
    pub id: String,
    pub user: UserId,
    pub start: SystemTime,
    pub end: SystemTime,
}

/// PagerDuty's REST API v2, as much of it as the bot uses. The implementation owns base URL, token, `From`
/// header, timeouts and the bounded 429 retries.
#[async_trait]
pub trait PagerDutyApi: Send + Sync + 'static {
    /// Everyone on call now in these schedules (`GET /oncalls`, every page), users as references.
    async fn on_calls(&self, schedule_ids: &[String]) -> Result<Vec<OnCallEntry>, PagerDutyError>;

    /// One user with their phone numbers (`GET /users/{id}?include[]=contact_methods`).
    async fn user(&self, id: &UserId) -> Result<Person, PagerDutyError>;

    /// PagerDuty's fuzzy user search (`GET /users?query=`), with phone numbers. The caller filters.
    async fn find_users(&self, query: &str) -> Result<Vec<Person>, PagerDutyError>;

    /// One page of every user in the account, with their phone numbers
    /// (`GET /users?include[]=contact_methods&limit=100&offset=`): one request for up to 100 people, where
    /// [`Self::user`] is one request per person.
    async fn users_page(&self, offset: usize) -> Result<UsersPage, PagerDutyError>;

    /// `POST /incidents` on the configured service, urgency high. A create with the key of an open
    /// incident answers [`PagerDutyError::AlreadyOpen`] with that incident.
    async fn create_incident(&self, incident: &NewIncident) -> Result<Incident, PagerDutyError>;

    /// The incident opened with this `incident_key` (`GET /incidents?incident_key=..`), if any.
    async fn find_incident(&self, incident_key: &str) -> Result<Option<Incident>, PagerDutyError>;

    /// One `POST /incidents/{id}/responder_requests` asking all `targets` to join.
    async fn request_responders(
        &self,
        incident_id: &str,
        requester: &UserId,
        targets: &[UserId],
        message: &str,
    ) -> Result<(), PagerDutyError>;

    /// The open incidents (triggered or acknowledged) on the configured service, every page of
    /// `GET /incidents?statuses[]=triggered&statuses[]=acknowledged&service_ids[]=..`, in PagerDuty's order.
    async fn open_incidents(&self) -> Result<Vec<IncidentState>, PagerDutyError>;

    /// `PUT /incidents/{id}` to `status` (acknowledged or resolved), with a resolution note when resolving.
    /// `from` is the acting PagerDuty user's email; `None` acts as the bot (`from_email`). Never retried
    /// after a timeout: the caller reports the write as not confirmed.
    async fn set_incident_status(
        &self,
        incident_id: &str,
        status: IncidentStatus,
        resolution: Option<&str>,
        from: Option<&str>,
    ) -> Result<IncidentState, PagerDutyError>;

    /// `POST /incidents/{id}/notes`, as `from` (or the bot).
    async fn add_note(
        &self,
        incident_id: &str,
        text: &str,
        from: Option<&str>,
    ) -> Result<(), PagerDutyError>;

    /// `POST /schedules/{id}/overrides`: `user` on call in the schedule from `start` to `end` (UTC). Never
    /// retried after a timeout: the caller reports it as not confirmed. Implementations without schedule
    /// writes refuse.
    async fn create_override(
        &self,
        _schedule_id: &str,
        _user: &UserId,
        _start: SystemTime,
        _end: SystemTime,
    ) -> Result<ScheduleOverride, PagerDutyError> {
        Err(no_schedule_writes())
    }

    /// The overrides in force in a schedule at some time between `since` and `until`
    /// (`GET /schedules/{id}/overrides?since=..&until=..`).
    async fn overrides(
        &self,
        _schedule_id: &str,
        _since: SystemTime,
        _until: SystemTime,
    ) -> Result<Vec<ScheduleOverride>, PagerDutyError> {
        Err(no_schedule_writes())
    }

    /// `DELETE /schedules/{id}/overrides/{override_id}`.
    async fn delete_override(
        &self,
        _schedule_id: &str,
        _override_id: &str,
    ) -> Result<(), PagerDutyError> {
        Err(no_schedule_writes())
    }
}

fn no_schedule_writes() -> PagerDutyError {
    PagerDutyError::Rejected {
        status: 501,
        message: "this PagerDuty connection does not change schedules".into(),
    }
}

/// A chat platform refused or failed a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("chat rate limited")]
    RateLimited { retry_after: Option<Duration> },
    #[error("chat call timed out")]
    Timeout,
    #[error("chat call failed: {0}")]
    Failed(String),
}

/// Where replies go: the console, Slack, or a test's recorder.
#[async_trait]
pub trait ChatOut: Send + Sync + 'static {
    /// Posts one reply. Implementations queue, pace and retry as their platform needs.
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError>;

    /// Posts one reply and says where it is, for a platform that can edit it later (Slack); `None` where
    /// messages cannot be edited (the console).
    async fn post_tracked(
        &self,
        to: &ChatTarget,
        reply: &Reply,
    ) -> Result<Option<MessageRef>, ChatError> {
        self.post(to, reply).await.map(|()| None)
    }

    /// Replaces a message posted with [`ChatOut::post_tracked`] (Slack `chat.update`).
    async fn update(&self, _message: &MessageRef, _reply: &Reply) -> Result<(), ChatError> {
        Ok(())
    }

    /// The email address behind a chat user id (a Slack mention), when the platform can tell.
    async fn email_of(&self, _chat_user: &str) -> Result<Option<String>, ChatError> {
        Ok(None)
    }

    /// The IANA time zone a chat user reads times in (Slack's `users.info` `tz`), when the platform can
    /// tell; `None` means the bot's `[display] time_zone`.
    async fn time_zone_of(&self, _chat_user: &str) -> Result<Option<String>, ChatError> {
        Ok(None)
    }
}

/// Chat user groups kept in step with who is on call (Slack's `@ic-oncall`).
#[async_trait]
pub trait UserGroupsApi: Send + Sync + 'static {
    /// The chat user id with this email (`users.lookupByEmail`); `Ok(None)` when the chat has nobody with it.
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError>;

    /// Replaces the members of the group with this handle (`usergroups.users.update`); an error names a
    /// handle the chat does not know.
    async fn set_members(&self, handle: &str, users: &[String]) -> Result<(), ChatError>;
}

/// The one question asked of monitoring.
#[async_trait]
pub trait StatusProbe: Send + Sync + 'static {
    /// The overall state now. The implementation applies its own timeout.
    async fn check(&self) -> Result<StatusReport, ProbeError>;
}

/// Small state files that must outlive a crash or a restart: written atomically, read back at start.
pub trait StateStore: Send + Sync + 'static {
    /// The saved bytes, `Ok(None)` when nothing was saved yet.
    fn load(&self, name: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Replaces the saved bytes atomically (no reader ever sees half a file).
    fn save(&self, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Appends one line (the page audit log). The line always starts on a fresh line: a last line left
    /// unfinished by a crash is ended first, so the new one is never glued onto it.
    fn append_line(&self, name: &str, line: &str) -> std::io::Result<()>;

    /// The file's size in bytes, `Ok(None)` when it does not exist.
    fn size(&self, name: &str) -> std::io::Result<Option<u64>> {
        Ok(self.load(name)?.map(|b| b.len() as u64))
    }

    /// At most the last `max` bytes of the file, `Ok(None)` when it does not exist. A store that can seek
    /// reads only those.
    fn load_tail(&self, name: &str, max: u64) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.load(name)?.map(|bytes| {
            let from = bytes
                .len()
                .saturating_sub(usize::try_from(max).unwrap_or(usize::MAX));
            bytes[from..].to_vec()
        }))
    }

    /// Moves the file to `<name>.1`, replacing the previous one: the next append starts a new file.
    fn rotate(&self, name: &str) -> std::io::Result<()> {
        if let Some(bytes) = self.load(name)? {
            self.save(&format!("{name}.1"), &bytes)?;
        }
        self.save(name, &[])
    }
}

/// The tenure of this replica as the leader, carried by every leader-only write (a fencing token): a write
/// of a tenure that is over is refused. Taken when the work is decided, not when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderTerm(pub i64);

/// Why shared state could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinationError {
    /// The coordination database did not answer, or failed.
    #[error("coordination database unreachable ({0})")]
    Unreachable(String),
    /// The tenure that decided the write is over: nothing was written.
    #[error("no longer the leader: the write was refused")]
    NotLeader,
    /// This coordination does not share that state (one replica keeps its own).
    #[error("not shared between replicas")]
    NotShared,
}

/// Several replicas of the bot: which one does the background work (the leader), and the state they
/// share. One replica alone ([`SingleReplica`], `[state] backend = "files"`) is always the leader and shares
/// nothing; `src/ha` implements it over PostgreSQL.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// This replica's leader term now; `None` while another replica leads or nobody knows (the database is
    /// unreachable). Never waits.
    fn leader_term(&self) -> Option<LeaderTerm>;

    /// The on-call snapshot the leader shared, `Ok(None)` when none is shared.
    async fn shared_snapshot(&self) -> Result<Option<OnCallSnapshot>, CoordinationError>;

    /// Shares the snapshot the leader fetched during `term`.
    async fn share_snapshot(
        &self,
        term: LeaderTerm,
        snapshot: &OnCallSnapshot,
    ) -> Result<(), CoordinationError>;

    /// Claims the dedup window of a page about to go out, on every replica: the page goes out only when
    /// claimed; a live claim of the same people answers with that page. Any replica, leader or not.
    async fn claim_page(&self, claim: &PageClaim) -> Result<PageClaimed, CoordinationError>;

    /// A claimed page finished: its incident, for the repeats that follow; `None` (it failed) gives the
    /// window up, so paging again is possible at once.
    async fn settle_page(
        &self,
        claim: &PageClaim,
        incident: Option<&Incident>,
    ) -> Result<(), CoordinationError>;

    /// Writes page audit records to the audit every replica shares, in one go; an entry whose page id and
    /// kind are there already is left alone, so replaying a local spool twice is harmless. Any replica.
    async fn record_page_audit(&self, entries: &[PageAuditEntry]) -> Result<(), CoordinationError>;

    /// The incidents followed on behalf of every replica (each card with the state it last showed);
    /// `Ok(None)` when nothing is shared (one replica: its own set is the whole truth).
    async fn followed_incidents(&self) -> Result<Option<Vec<Followed>>, CoordinationError>;

    /// Shares the card this replica just posted, for whichever replica leads to follow. Any replica.
    async fn follow_incident(&self, followed: &Followed) -> Result<(), CoordinationError>;

    /// Records what a followed card shows now, as decided in `term` (leader only, fenced); `resolved`
    /// stops following it.
    async fn record_followed(
        &self,
        term: LeaderTerm,
        followed: &Followed,
        resolved: bool,
    ) -> Result<(), CoordinationError>;

    /// This replica's role now, telling "another replica leads" from "nobody knows" (the coordination
    /// database unreachable). Never waits.
    fn role(&self) -> ReplicaRole {
        match self.leader_term() {
            Some(term) => ReplicaRole::Leader(term),
            None => ReplicaRole::Follower,
        }
    }

    /// Whether the stalking channels are shared by the replicas: then the stalk methods below hold them and
    /// only the leader stalks. Otherwise (one replica) the stalks actor keeps its own set in `stalks.json`.
    fn shares_stalks(&self) -> bool {
        false
    }

    /// Every stalking channel, with what it was last told.
    async fn stalks(&self) -> Result<Vec<SharedStalk>, CoordinationError> {
        Err(CoordinationError::NotShared)
    }

    /// `!status stalk` on any replica: starts stalking `target.channel`, or says since when it already is.
    async fn add_stalk(&self, _target: &ChatTarget) -> Result<StalkAdded, CoordinationError> {
        Err(CoordinationError::NotShared)
    }

    /// `!status unstalk` on any replica: since when the channel was stalking, `None` when it was not.
    async fn remove_stalk(&self, _channel: &str) -> Result<Option<SystemTime>, CoordinationError> {
        Err(CoordinationError::NotShared)
    }

    /// Records what the leader of `term` just told a stalking channel, so that a new leader tells only the
    /// next change. [`CoordinationError::NotLeader`]: the tenure is over, stop posting.
    async fn record_stalk_post(
        &self,
        _term: LeaderTerm,
        _channel: &str,
        _posted: &Posted,
    ) -> Result<(), CoordinationError> {
        Err(CoordinationError::NotShared)
    }
}

/// A replica's role, as leader work sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// This replica leads, in this term.
    Leader(LeaderTerm),
    /// Another replica leads.
    Follower,
    /// Nobody knows: the coordination database cannot be reached (or this replica is not ready yet).
    Unknown,
}

/// A stalking channel as the replicas share it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedStalk {
    /// Where its posts go.
    pub target: ChatTarget,
    /// When it started stalking.
    pub since: SystemTime,
    /// What the channel was last told, by whichever leader told it.
    pub last_posted: Option<Posted>,
}

/// What `!status stalk` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StalkAdded {
    /// Now stalking, since then.
    Added { since: SystemTime },
    /// Already stalking since then.
    Already { since: SystemTime },
}

/// One page audit record as the replicas share it ([`crate::pager::shared_audit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageAuditEntry {
    /// With `kind`, what makes the entry unique.
    pub page_id: String,
    /// `started` or `outcome`.
    pub kind: String,
    /// When it happened, by the replica that paged.
    #[serde(with = "crate::pager::page::page_time")]
    pub at: SystemTime,
    /// The record as `pages.jsonl` has it.
    pub record: serde_json::Value,
}

/// A page about to go out, as the other replicas must know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageClaim {
    /// Who is paged, in a form that ignores order and repeats.
    pub dedup_key: String,
    pub page_id: String,
    pub requested_by: String,
    pub channel: String,
    pub window: Duration,
}

/// What a page claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageClaimed {
    /// This page owns the window: send it.
    Claimed,
    /// The same people were paged moments ago, maybe through another replica: answer with that page.
    AlreadyPaged(PriorPage),
}

/// One replica alone: always the leader, nothing shared, no cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleReplica;

#[async_trait]
impl Coordination for SingleReplica {
    fn leader_term(&self) -> Option<LeaderTerm> {
        Some(LeaderTerm(0))
    }

    async fn shared_snapshot(&self) -> Result<Option<OnCallSnapshot>, CoordinationError> {
        Ok(None)
    }

    async fn share_snapshot(
        &self,
        _term: LeaderTerm,
        _snapshot: &OnCallSnapshot,
    ) -> Result<(), CoordinationError> {
        Ok(())
    }

    /// Alone, the pager's own dedup table is the whole truth.
    async fn claim_page(&self, _claim: &PageClaim) -> Result<PageClaimed, CoordinationError> {
        Ok(PageClaimed::Claimed)
    }

    async fn settle_page(
        &self,
        _claim: &PageClaim,
        _incident: Option<&Incident>,
    ) -> Result<(), CoordinationError> {
        Ok(())
    }

    /// Alone, `pages.jsonl` is the whole audit.
    async fn record_page_audit(
        &self,
        _entries: &[PageAuditEntry],
    ) -> Result<(), CoordinationError> {
        Ok(())
    }

    /// Alone, the follower's own set (`incidents_followed.json`) is the whole truth.
    async fn followed_incidents(&self) -> Result<Option<Vec<Followed>>, CoordinationError> {
        Ok(None)
    }

    async fn follow_incident(&self, _followed: &Followed) -> Result<(), CoordinationError> {
        Ok(())
    }

    async fn record_followed(
        &self,
        _term: LeaderTerm,
        _followed: &Followed,
        _resolved: bool,
    ) -> Result<(), CoordinationError> {
        Ok(())
    }
}
