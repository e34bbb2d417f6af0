//! PagerDuty's JSON as serde structs: only the fields the bot uses, every optional field tolerated missing
//! or null, unknown fields ignored. Also the mapping from these to the core's domain types.
//!
//! Lists are read as raw JSON values and then entry by entry, so one odd entry is skipped with a warning
//! instead of failing the whole answer.

use std::time::SystemTime;

use icbot_actors::cache::oncall::{OnCallEntry, Person, Phone, UserId};
use icbot_actors::ports::{Incident, IncidentState, IncidentStatus};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` read as the type's default (serde's `default` covers only a missing field).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------------------
// Answers

/// `GET /oncalls`: one page.
#[derive(Debug, Deserialize)]
pub(crate) struct OnCallsPage {
    pub oncalls: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub more: bool,
}

/// One on-call entry.
#[derive(Debug, Deserialize)]
pub(crate) struct OnCallWire {
    #[serde(default)]
    pub user: Option<UserWire>,
    #[serde(default)]
    pub schedule: Option<ReferenceWire>,
    #[serde(default)]
    pub escalation_level: Option<u32>,
    #[serde(default)]
    pub end: Option<String>,
}

/// Any `*_reference` object; only its id matters.
#[derive(Debug, Deserialize)]
pub(crate) struct ReferenceWire {
    pub id: String,
}

/// A user, full (`include[]=users`, `GET /users/{id}`) or a reference (only `id` and `summary`).
#[derive(Debug, Deserialize)]
pub(crate) struct UserWire {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Full objects with `include[]=contact_methods`, references otherwise.
    #[serde(default, deserialize_with = "null_as_default")]
    pub contact_methods: Vec<Value>,
}

/// `GET /users/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserEnvelope {
    pub user: UserWire,
}

/// `GET /users` (a search with `query=`, or one page of the whole list).
#[derive(Debug, Deserialize)]
pub(crate) struct UsersPage {
    pub users: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub more: bool,
}

/// A phone or SMS contact method; other kinds are ignored.
#[derive(Debug, Deserialize)]
struct ContactMethodWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default, deserialize_with = "lenient_country_code")]
    country_code: Option<u32>,
}

/// `country_code` is a number in PagerDuty's answers; accept `"44"` or `"+44"` too, and read anything
/// else as unknown rather than failing the user.
fn lenient_country_code<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().trim_start_matches('+').parse().ok(),
        _ => None,
    })
}

/// `POST /incidents`.
#[derive(Debug, Deserialize)]
pub(crate) struct IncidentEnvelope {
    pub incident: IncidentWire,
}

/// `GET /incidents?incident_key=..`, and `GET /incidents?statuses[]=..` (entries read one by one: see
/// [`IncidentsListPage`]).
#[derive(Debug, Deserialize)]
pub(crate) struct IncidentsPage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub incidents: Vec<IncidentWire>,
}

/// `GET /incidents?statuses[]=..&service_ids[]=..`: one page, entries as raw values so an odd one is skipped.
#[derive(Debug, Deserialize)]
pub(crate) struct IncidentsListPage {
    #[serde(default, deserialize_with = "null_as_default")]
    pub incidents: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub more: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IncidentWire {
    pub id: String,
    pub incident_number: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub html_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub title: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub assignments: Vec<AssignmentWire>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub acknowledgements: Vec<AcknowledgementWire>,
}

/// One of an incident's `assignments`.
#[derive(Debug, Deserialize)]
pub(crate) struct AssignmentWire {
    #[serde(default)]
    pub assignee: Option<UserWire>,
}

/// One of an incident's `acknowledgements`.
#[derive(Debug, Deserialize)]
pub(crate) struct AcknowledgementWire {
    #[serde(default)]
    pub acknowledger: Option<UserWire>,
}

/// PagerDuty's error body: `{"error": {"message", "code", "errors": [..]}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<Value>,
}

impl ErrorBody {
    /// `message: error; error`, or whichever part there is; `None` when there is nothing to say.
    pub fn describe(&self) -> Option<String> {
        let details: Vec<String> = self
            .errors
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        let message = self.message.as_deref().filter(|m| !m.is_empty());
        match (message, details.is_empty()) {
            (Some(m), true) => Some(m.to_string()),
            (Some(m), false) => Some(format!("{m}: {}", details.join("; "))),
            (None, false) => Some(details.join("; ")),
            (None, true) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/// Any reference we send: `{"id", "type"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Reference<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `POST /incidents` body.
#[derive(Debug, Serialize)]
pub(crate) struct CreateIncident<'a> {
    pub incident: NewIncidentWire<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewIncidentWire<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'a str,
    pub service: Reference<'a>,
    pub urgency: &'static str,
    pub assignments: [Assignment<'a>; 1],
    pub body: IncidentBody<'a>,
    /// PagerDuty opens no second incident with the key of an open one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_key: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Assignment<'a> {
    pub assignee: Reference<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IncidentBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub details: &'a str,
}

impl<'a> CreateIncident<'a> {
    pub fn new(
        title: &'a str,
        details: &'a str,
        service_id: &'a str,
        assignee: &'a str,
        incident_key: Option<&'a str>,
    ) -> Self {
        CreateIncident {
            incident: NewIncidentWire {
                kind: "incident",
                title,
                service: Reference {
                    id: service_id,
                    kind: "service_reference",
                },
                urgency: "high",
                assignments: [Assignment {
                    assignee: Reference {
                        id: assignee,
                        kind: "user_reference",
                    },
                }],
                body: IncidentBody {
                    kind: "incident_body",
                    details,
                },
                incident_key,
            },
        }
    }
}

/// `PUT /incidents/{id}` body: a status change, with the resolution note when resolving.
#[derive(Debug, Serialize)]
pub(crate) struct UpdateIncident<'a> {
    pub incident: IncidentUpdate<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct IncidentUpdate<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<&'a str>,
}

impl<'a> UpdateIncident<'a> {
    pub fn new(status: IncidentStatus, resolution: Option<&'a str>) -> Self {
        UpdateIncident {
            incident: IncidentUpdate {
                kind: "incident_reference",
                status: status.as_str(),
                resolution: resolution.filter(|_| status == IncidentStatus::Resolved),
            },
        }
    }
}

/// `POST /incidents/{id}/notes` body.
#[derive(Debug, Serialize)]
pub(crate) struct NewNote<'a> {
    pub note: NoteContent<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NoteContent<'a> {
    pub content: &'a str,
}

/// `POST /incidents/{id}/responder_requests` body.
#[derive(Debug, Serialize)]
pub(crate) struct ResponderRequest<'a> {
    pub requester_id: &'a str,
    pub message: &'a str,
    pub responder_request_targets: Vec<ResponderTarget<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResponderTarget<'a> {
    pub responder_request_target: Reference<'a>,
}

impl<'a> ResponderRequest<'a> {
    pub fn new(requester: &'a UserId, targets: &'a [UserId], message: &'a str) -> Self {
        ResponderRequest {
            requester_id: &requester.0,
            message,
            responder_request_targets: targets
                .iter()
                .map(|t| ResponderTarget {
                    responder_request_target: Reference {
                        id: &t.0,
                        kind: "user_reference",
                    },
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Mapping to the core's types

impl UserWire {
    /// The person, without phones (`contacts_fetched_at` stays `None`).
    pub fn into_reference_person(self) -> Person {
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .or(self.summary.filter(|s| !s.is_empty()))
            .unwrap_or_else(|| self.id.clone());
        Person::new(self.id, name, self.email.unwrap_or_default())
    }

    /// The person with the phones from their contact methods, fetched at `fetched_at`.
    pub fn into_person_with_phones(mut self, fetched_at: SystemTime) -> Person {
        let methods = std::mem::take(&mut self.contact_methods);
        let mut person = self.into_reference_person();
        person.phones = phones(&methods);
        person.contacts_fetched_at = Some(fetched_at);
        person
    }
}

/// Phone numbers from phone and SMS contact methods, in order, each (country code, digits) once.
pub(crate) fn phones(methods: &[Value]) -> Vec<Phone> {
    let mut seen = std::collections::HashSet::new();
    methods
        .iter()
        .filter_map(|m| ContactMethodWire::deserialize(m).ok())
        .filter(|m| {
            matches!(
                m.kind.as_str(),
                "phone_contact_method" | "sms_contact_method"
            )
        })
        .filter_map(|m| {
            let number = m.address?.trim().to_string();
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            seen.insert((m.country_code, digits)).then_some(Phone {
                country_code: m.country_code,
                number,
            })
        })
        .collect()
}

impl OnCallWire {
    /// The core's entry, or why this one is skipped.
    pub fn into_entry(self) -> Result<OnCallEntry, &'static str> {
        let schedule = self.schedule.ok_or("no schedule")?;
        let user = self.user.ok_or("no user")?;
        Ok(OnCallEntry {
            schedule_id: schedule.id,
            user: user.into_reference_person(),
            // PagerDuty always sends it; levels start at 1.
            escalation_level: self.escalation_level.unwrap_or(1),
            end: self.end.filter(|e| !e.is_empty()),
        })
    }
}

impl From<IncidentWire> for Incident {
    fn from(wire: IncidentWire) -> Self {
        Incident {
            id: wire.id,
            number: wire.incident_number,
            html_url: wire.html_url,
        }
    }
}

impl IncidentWire {
    /// The incident as a listing shows it, or why it is skipped (a status the bot does not know).
    pub fn into_state(self) -> Result<IncidentState, String> {
        let status = IncidentStatus::parse(&self.status)
            .ok_or_else(|| format!("unknown incident status {:?}", self.status))?;
        let names = |users: Vec<Option<UserWire>>| -> Vec<String> {
            let mut names: Vec<String> = Vec::new();
            for user in users.into_iter().flatten() {
                let name = user.into_reference_person().name;
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        Ok(IncidentState {
            id: self.id,
            number: self.incident_number,
            title: self.title,
            status,
            html_url: self.html_url,
            created_at: self
                .created_at
                .as_deref()
                .and_then(icbot_actors::utc::parse_rfc3339),
            assigned: names(self.assignments.into_iter().map(|a| a.assignee).collect()),
            acknowledged_by: names(
                self.acknowledgements
                    .into_iter()
                    .map(|a| a.acknowledger)
                    .collect(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_incident_reads_with_who_is_assigned_and_who_acknowledged() {
        let wire: IncidentWire = serde_json::from_value(json!({
            "id": "Q1", "incident_number": 7, "title": "db down", "status": "acknowledged",
            "html_url": "https://pd/Q1", "created_at": "2026-11-29T19:00:00Z",
            "assignments": [{"assignee": {"id": "P1", "summary": "Ada"}}],
            "acknowledgements": [{"acknowledger": {"id": "P2", "summary": "Bo"}},
                                 {"acknowledger": {"id": "P2", "summary": "Bo"}}],
        }))
        .unwrap();
        let state = wire.into_state().unwrap();
        assert_eq!(state.status, IncidentStatus::Acknowledged);
        assert_eq!(state.assigned, vec!["Ada".to_string()]);
        assert_eq!(state.acknowledged_by, vec!["Bo".to_string()]);
        assert!(state.created_at.is_some());
    }

    #[test]
    fn update_bodies_carry_the_resolution_only_when_resolving() {
        assert_eq!(
            serde_json::to_value(UpdateIncident::new(IncidentStatus::Resolved, Some("fixed")))
                .unwrap(),
            json!({"incident": {"type": "incident_reference", "status": "resolved", "resolution": "fixed"}})
        );
        assert_eq!(
            serde_json::to_value(UpdateIncident::new(IncidentStatus::Acknowledged, Some("x")))
                .unwrap(),
            json!({"incident": {"type": "incident_reference", "status": "acknowledged"}})
        );
    }

    #[test]
    fn phones_keep_order_dedupe_and_skip_other_kinds() {
        let methods = json!([
            {"type": "email_contact_method", "address": "a@example.com"},
            {"type": "phone_contact_method", "address": "5551234567", "country_code": 1},
            {"type": "sms_contact_method", "address": "5551234567", "country_code": 1},
            {"type": "sms_contact_method", "address": "7700900123", "country_code": "+44"},
            {"type": "phone_contact_method", "address": "0612345678"},
            {"type": "phone_contact_method_reference", "id": "PREF"},
            {"type": "push_notification_contact_method", "address": "iPhone"},
            {"type": "phone_contact_method", "address": ""},
            "not even an object"
        ]);
        let Value::Array(methods) = methods else {
            unreachable!()
        };
        assert_eq!(
            phones(&methods),
            vec![
                Phone {
                    country_code: Some(1),
                    number: "5551234567".into()
                },
                Phone {
                    country_code: Some(44),
                    number: "7700900123".into()
                },
                Phone {
                    country_code: None,
                    number: "0612345678".into()
                },
            ]
        );
    }

    #[test]
    fn same_number_with_different_country_codes_is_kept_twice() {
        let Value::Array(methods) = json!([
            {"type": "phone_contact_method", "address": "5551234567", "country_code": 1},
            {"type": "phone_contact_method", "address": "5551234567", "country_code": 44},
        ]) else {
            unreachable!()
        };
        assert_eq!(phones(&methods).len(), 2);
    }

    #[test]
    fn reference_user_takes_name_from_summary() {
        let user: UserWire =
            serde_json::from_value(json!({"id": "P1", "type": "user_reference", "summary": "Ada"}))
                .unwrap();
        assert_eq!(user.into_reference_person(), Person::new("P1", "Ada", ""));
    }

    #[test]
    fn on_call_without_schedule_is_skipped() {
        let entry: OnCallWire = serde_json::from_value(
            json!({"user": {"id": "P1", "summary": "Ada"}, "schedule": null, "escalation_level": 1}),
        )
        .unwrap();
        assert_eq!(entry.into_entry(), Err("no schedule"));
    }

    #[test]
    fn create_incident_body_shape() {
        let body = CreateIncident::new("Down", "details", "PSVC", "PUSER", Some("icbot-k"));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"incident": {
                "type": "incident",
                "title": "Down",
                "service": {"id": "PSVC", "type": "service_reference"},
                "urgency": "high",
                "assignments": [{"assignee": {"id": "PUSER", "type": "user_reference"}}],
                "body": {"type": "incident_body", "details": "details"},
                "incident_key": "icbot-k"
            }})
        );
    }
}

/// The one override of a `POST /schedules/{id}/overrides` answer: an array of `{"status", "override"}` (or,
/// from older accounts, `{"override": ..}`). `Err` is an unreadable answer; `Ok(Err)` PagerDuty refusing the
/// override within a 2xx answer.
pub(crate) fn override_of(
    answer: &serde_json::Value,
) -> Result<
    Result<icbot_actors::ports::ScheduleOverride, icbot_actors::ports::PagerDutyError>,
    String,
> {
    let item = match answer {
        serde_json::Value::Array(items) => items.first().ok_or("an empty list of overrides")?,
        other => other,
    };
    let status = item.get("status").and_then(|s| s.as_u64()).unwrap_or(201);
    if !(200..300).contains(&status) {
        let message = item
            .get("errors")
            .and_then(|e| e.as_array())
            .map(|e| {
                e.iter()
                    .filter_map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "override not created".into());
        return Ok(Err(icbot_actors::ports::PagerDutyError::Rejected {
            status: u16::try_from(status).unwrap_or(400),
            message,
        }));
    }
    let made = item.get("override").ok_or("no `override` in the answer")?;
    let text = |key: &str| made.get(key).and_then(|v| v.as_str());
    let time = |key: &str| {
        text(key)
            .and_then(icbot_actors::utc::parse_rfc3339)
            .ok_or(format!("override `{key}` is not a time"))
    };
    Ok(Ok(icbot_actors::ports::ScheduleOverride {
        id: text("id").ok_or("override without an id")?.to_string(),
        user: icbot_actors::cache::oncall::UserId(
            made.get("user")
                .and_then(|u| u.get("id"))
                .and_then(|v| v.as_str())
                .ok_or("override without a user")?
                .to_string(),
        ),
        start: time("start")?,
        end: time("end")?,
    }))
}

#[cfg(test)]
mod override_tests {
    use super::override_of;
    use icbot_actors::ports::PagerDutyError;
    use serde_json::json;

    #[test]
    fn an_override_is_read_from_the_array_answer() {
        let answer = json!([{ "status": 201, "override": {
            "id": "PO1", "start": "2026-11-29T21:00:00Z", "end": "2026-11-29T23:00:00Z",
            "user": { "id": "PUSR004", "type": "user_reference" } } }]);
        let made = override_of(&answer).unwrap().unwrap();
        assert_eq!(made.id, "PO1");
        assert_eq!(made.user.0, "PUSR004");
        assert_eq!(made.end.duration_since(made.start).unwrap().as_secs(), 7200);
    }

    #[test]
    fn a_refused_override_in_a_2xx_answer_is_a_rejection() {
        let answer = json!([{ "status": 400, "errors": ["User not found."] }]);
        assert_eq!(
            override_of(&answer).unwrap(),
            Err(PagerDutyError::Rejected {
                status: 400,
                message: "User not found.".into()
            })
        );
        assert!(override_of(&json!([])).is_err());
        assert!(override_of(&json!([{ "status": 201 }])).is_err());
    }
}
