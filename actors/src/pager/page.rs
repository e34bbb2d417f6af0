//! What a page is: the request (whom, why, from where), the outcome per person, and the earlier page a
//! request would repeat. Owned here so the pager, its audit log, its repeat detection and the replies all read
//! the same types without importing each other.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cache::oncall::{Person, UserId};
use crate::chat::ChatTarget;

/// The incident PagerDuty created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub number: u64,
    pub html_url: String,
}

/// One person to page, and in which role (the schedule they are on call for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageTarget {
    pub person: Person,
    pub role: Option<String>,
}

/// How the user named whom to page: what a repeat of the page types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Targeting {
    /// `!ic page`
    IncidentCommanders,
    /// `!ic page responders`
    Responders,
    /// `!ic page @a @b`: the people themselves.
    People,
}

/// A page to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageRequest {
    /// Chat user who asked.
    pub requested_by: String,
    pub reply_to: ChatTarget,
    /// Whom, in words: "the Incident Commanders", "the responders", "Alice Smith".
    pub audience: String,
    /// The first target gets the incident assigned; the rest are asked to respond.
    pub targets: Vec<PageTarget>,
    pub message: Option<String>,
    /// Page even if the same people were paged within the dedup window.
    pub again: bool,
    pub targeting: Targeting,
}

impl PageRequest {
    /// The incident title: the message, or who asked and where.
    pub fn title(&self) -> String {
        match &self.message {
            Some(m) => format!("{m} (paged by {} via icbot)", self.requested_by),
            None => format!(
                "{} paged {} from #{} via icbot",
                self.requested_by, self.audience, self.reply_to.channel
            ),
        }
    }
}

/// What happened to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonResult {
    /// The incident is assigned to them: PagerDuty notifies them.
    Assigned,
    /// A responder request went out to them.
    Requested,
    /// Not confirmed: call them by hand.
    NotConfirmed,
    /// Not paged again: a page of the same people is recent (see `duplicate_of`).
    AlreadyPaged,
}

/// The answer to a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    pub request: PageRequest,
    pub incident: Option<Incident>,
    pub results: Vec<(PageTarget, PersonResult)>,
    /// What failed, in words for the room; `None` when everyone is confirmed.
    pub failure: Option<String>,
    pub at: SystemTime,
    /// Not sent: this earlier page of the same people stands.
    pub duplicate_of: Option<PriorPage>,
    /// The page's id in the audit log (its `started` record carries it too); `None` for a fallback made
    /// without the pager.
    pub page_id: Option<String>,
    /// The idempotency key the incident was created with.
    pub incident_key: Option<String>,
}

impl PageOutcome {
    /// Everything failed before PagerDuty confirmed anything (or the pager could not be reached at all).
    pub fn unconfirmed(request: PageRequest, failure: String) -> Self {
        let results = request
            .targets
            .iter()
            .map(|t| (t.clone(), PersonResult::NotConfirmed))
            .collect();
        PageOutcome {
            request,
            incident: None,
            results,
            failure: Some(failure),
            at: SystemTime::now(),
            duplicate_of: None,
            page_id: None,
            incident_key: None,
        }
    }

    /// Not sent, because `prior` paged the same people moments ago.
    pub fn duplicate(request: PageRequest, prior: PriorPage) -> Self {
        let results = request
            .targets
            .iter()
            .map(|t| (t.clone(), PersonResult::AlreadyPaged))
            .collect();
        PageOutcome {
            incident: prior.incident.clone(),
            request,
            results,
            failure: None,
            at: SystemTime::now(),
            duplicate_of: Some(prior),
            page_id: None,
            incident_key: None,
        }
    }

    pub fn everyone_confirmed(&self) -> bool {
        self.failure.is_none()
            && self
                .results
                .iter()
                .all(|(_, r)| *r != PersonResult::NotConfirmed)
    }

    pub fn not_confirmed(&self) -> impl Iterator<Item = &PageTarget> {
        self.results
            .iter()
            .filter(|(_, r)| *r == PersonResult::NotConfirmed)
            .map(|(t, _)| t)
    }
}

/// What is known of the earlier page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorState {
    /// In flight (no incident yet), or finished with its incident.
    #[default]
    Recorded,
    /// Started before the bot restarted and never recorded its outcome: whether PagerDuty got it is unknown.
    OutcomeUnknown,
    /// PagerDuty refused a second incident with the same `incident_key`: one is open already.
    OpenInPagerDuty,
}

/// The earlier page a request would repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorPage {
    pub requested_by: String,
    pub channel: String,
    #[serde(with = "crate::pager::page::page_time")]
    pub at: SystemTime,
    /// `None` while that page is still in flight, or when its outcome is unknown and no incident was found.
    pub incident: Option<Incident>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
    /// The idempotency key its incident was (or would have been) created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_key: Option<String>,
    #[serde(default)]
    pub state: PriorState,
}

/// Who a page went to, in a form that ignores order and repeats.
pub type PageKey = Vec<UserId>;

pub fn key<'a>(ids: impl IntoIterator<Item = &'a UserId>) -> PageKey {
    let mut key: Vec<UserId> = ids.into_iter().cloned().collect();
    key.sort();
    key.dedup();
    key
}

/// `at` as an RFC 3339 string (`2026-11-26T01:43:05.123Z`); reads that, and the `{"secs_since_epoch": ..,
/// "nanos_since_epoch": ..}` of lines written before.
pub mod page_time {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::utc;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&utc::rfc3339_millis(*t))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Epoch {
            secs_since_epoch: u64,
            #[serde(default)]
            nanos_since_epoch: u32,
        },
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        match Written::deserialize(d)? {
            Written::Text(text) => utc::parse_rfc3339(&text)
                .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}"))),
            Written::Epoch {
                secs_since_epoch,
                nanos_since_epoch,
            } => Ok(UNIX_EPOCH + Duration::new(secs_since_epoch, nanos_since_epoch)),
        }
    }
}
