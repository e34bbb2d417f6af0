//! What the stub serves: users with their contact methods, schedules with who is on call, services,
//! monitoring alerts and the Statuspage status. Loaded from JSON (see `demo.json`) or built in code.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The demo data, embedded in the binary.
const DEMO_JSON: &str = include_str!("demo.json");

/// Everything the stub serves. Fields are public so tests can build large data sets in code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StubData {
    /// Services incidents may be opened on (`POST /incidents` rejects any other service id).
    #[serde(default)]
    pub services: Vec<StubService>,
    /// Every user, the bot's own included.
    #[serde(default)]
    pub users: Vec<StubUser>,
    /// Schedules, each with the people on call in it right now.
    #[serde(default)]
    pub schedules: Vec<StubSchedule>,
    /// Alerts firing at start, besides the `Watchdog` heartbeat the stub always serves.
    #[serde(default)]
    pub alerts: Vec<StubAlert>,
    /// The Statuspage status at start.
    #[serde(default)]
    pub statuspage: StubStatuspage,
}

/// A PagerDuty service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubService {
    pub id: String,
    pub name: String,
}

/// A PagerDuty user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubUser {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub contact_methods: Vec<StubContact>,
}

/// One contact method of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubContact {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ContactKind,
    /// e.g. "Mobile", "Work".
    pub label: String,
    /// Digits without the country code for phone and SMS; the address for email; the device for push.
    pub address: String,
    /// Phone and SMS only, e.g. 1 or 44.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<u32>,
}

/// The kind of a contact method, named as PagerDuty's `type` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactKind {
    #[serde(rename = "phone_contact_method")]
    Phone,
    #[serde(rename = "sms_contact_method")]
    Sms,
    #[serde(rename = "email_contact_method")]
    Email,
    #[serde(rename = "push_notification_contact_method")]
    Push,
}

impl ContactKind {
    /// PagerDuty's `type` for a full contact method object.
    pub fn type_name(self) -> &'static str {
        match self {
            ContactKind::Phone => "phone_contact_method",
            ContactKind::Sms => "sms_contact_method",
            ContactKind::Email => "email_contact_method",
            ContactKind::Push => "push_notification_contact_method",
        }
    }
}

/// A schedule and who is on call in it now (possibly several people, possibly nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubSchedule {
    pub id: String,
    pub name: String,
    /// The escalation policy that uses this schedule; when absent, one is derived:
    /// id `E` + the schedule id, named after the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_policy: Option<StubEscalationPolicy>,
    #[serde(default)]
    pub on_call: Vec<StubOnCall>,
}

impl StubSchedule {
    /// The escalation policy, given or derived.
    pub fn policy(&self) -> StubEscalationPolicy {
        self.escalation_policy
            .clone()
            .unwrap_or_else(|| StubEscalationPolicy {
                id: format!("E{}", self.id),
                name: format!("{} policy", self.name),
            })
    }
}

/// An escalation policy reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubEscalationPolicy {
    pub id: String,
    pub name: String,
}

/// One person on call in a schedule.
///
/// `start` and `end` are either RFC 3339 timestamps, served as written, or offsets from the moment the
/// stub started: `now`, `+12h`, `-3d`, `+90m`. An absent `start` is served as the stub's start time; an
/// absent `end` as `null` (on call until further notice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubOnCall {
    pub user_id: String,
    #[serde(default = "first_level")]
    pub escalation_level: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

fn first_level() -> u32 {
    1
}

/// A firing alert, as set by `POST /_alerts` or in the data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubAlert {
    pub alertname: String,
    pub severity: String,
    /// More labels (e.g. `service`, `instance`); `alertname` and `severity` win over these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl StubAlert {
    pub fn new(alertname: &str, severity: &str) -> StubAlert {
        StubAlert {
            alertname: alertname.to_owned(),
            severity: severity.to_owned(),
            labels: BTreeMap::new(),
        }
    }
}

/// What `GET /api/v2/status.json` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubStatuspage {
    /// `none`, `minor`, `major`, `critical` or `maintenance`.
    pub indicator: String,
    pub description: String,
}

impl Default for StubStatuspage {
    fn default() -> Self {
        StubStatuspage {
            indicator: "none".into(),
            description: "All Systems Operational".into(),
        }
    }
}

impl StubData {
    /// The bundled demo data (`src/stub/demo.json`); the ids are listed in the module doc of `stub`.
    pub fn demo() -> StubData {
        // The file is embedded and covered by a test: failing to parse it is a build defect.
        StubData::from_json(DEMO_JSON).expect("the embedded demo.json is valid stub data")
    }

    /// Parses stub data from JSON in the shape of `demo.json`.
    pub fn from_json(s: &str) -> Result<StubData, serde_json::Error> {
        serde_json::from_str(s)
    }

    pub fn user(&self, id: &str) -> Option<&StubUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&StubService> {
        self.services.iter().find(|s| s.id == id)
    }
}

/// Renders an on-call `start`/`end` value: RFC 3339 as is, or an offset from `origin`.
pub(super) fn render_time(value: &str, origin: SystemTime) -> String {
    match parse_offset(value) {
        Some(offset) if offset >= 0 => rfc3339(origin + Duration::from_secs(offset.unsigned_abs())),
        Some(offset) => rfc3339(
            origin
                .checked_sub(Duration::from_secs(offset.unsigned_abs()))
                .unwrap_or(UNIX_EPOCH),
        ),
        None => value.to_owned(),
    }
}

/// `now`, `+12h`, `-3d`, `+90m` as signed seconds; anything else is not an offset.
fn parse_offset(value: &str) -> Option<i64> {
    if value == "now" {
        return Some(0);
    }
    let (sign, rest) = match value.as_bytes().first()? {
        b'+' => (1, &value[1..]),
        b'-' => (-1, &value[1..]),
        _ => return None,
    };
    let unit = match rest.chars().last()? {
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let amount: i64 = rest[..rest.len() - 1].parse().ok()?;
    amount.checked_mul(unit).map(|secs| sign * secs)
}

/// A UTC RFC 3339 timestamp with second precision, e.g. `2025-11-26T01:28:00Z`.
pub(super) fn rfc3339(time: SystemTime) -> String {
    icbot_actors::utc::rfc3339(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_parses_and_references_known_users() {
        let data = StubData::demo();
        assert!(data.users.len() >= 10);
        for schedule in &data.schedules {
            for on_call in &schedule.on_call {
                assert!(
                    data.user(&on_call.user_id).is_some(),
                    "{} in {}",
                    on_call.user_id,
                    schedule.id
                );
            }
        }
        assert!(data.service("PSVC001").is_some());
    }

    #[test]
    fn demo_data_round_trips_through_json() {
        let data = StubData::demo();
        let json = serde_json::to_string(&data).unwrap();
        assert_eq!(StubData::from_json(&json).unwrap(), data);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
    }

    #[test]
    fn offsets_render_relative_to_the_origin() {
        let origin = UNIX_EPOCH + Duration::from_secs(86400);
        assert_eq!(render_time("now", origin), "1970-01-02T00:00:00Z");
        assert_eq!(render_time("+36h", origin), "1970-01-03T12:00:00Z");
        assert_eq!(render_time("-1d", origin), "1970-01-01T00:00:00Z");
        assert_eq!(render_time("+90m", origin), "1970-01-02T01:30:00Z");
        assert_eq!(
            render_time("2030-01-01T00:00:00Z", origin),
            "2030-01-01T00:00:00Z"
        );
    }
}
