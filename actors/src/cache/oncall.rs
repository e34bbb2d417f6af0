//! Domain types of who is on call: people, their phones, and the snapshot the schedule cache serves.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// A PagerDuty user id, such as `PABC123`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number from a phone or SMS contact method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Phone {
    /// Country calling code without the `+`; PagerDuty can omit it.
    pub country_code: Option<u32>,
    /// The digits as PagerDuty stores them.
    pub number: String,
}

impl Phone {
    /// `+<country code> <number>`, or the bare number when no country code is known.
    pub fn display(&self) -> String {
        match self.country_code {
            Some(cc) => format!("+{cc} {}", self.number),
            None => self.number.clone(),
        }
    }

    /// The number for a `tel:` URI: `+<cc><digits>` with everything but digits dropped.
    pub fn tel_uri(&self) -> String {
        let digits: String = self.number.chars().filter(char::is_ascii_digit).collect();
        match self.country_code {
            Some(cc) => format!("tel:+{cc}{digits}"),
            None => format!("tel:{digits}"),
        }
    }
}

/// A person the bot knows: a PagerDuty user and, once fetched, their phone numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// Phone numbers, deduplicated, in PagerDuty's order.
    pub phones: Vec<Phone>,
    /// When the contact methods were last fetched; `None` when only the user reference is known.
    pub contacts_fetched_at: Option<SystemTime>,
}

impl Person {
    /// A person from a user reference, contact methods not yet known.
    pub fn new(id: impl Into<String>, name: impl Into<String>, email: impl Into<String>) -> Self {
        Person {
            id: UserId(id.into()),
            name: name.into(),
            email: email.into(),
            phones: Vec::new(),
            contacts_fetched_at: None,
        }
    }
}

/// A schedule the bot is configured to watch, in config order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRef {
    pub id: String,
    /// What people call it: Primary, Backup, Shadow, Payments...
    pub label: String,
}

/// One row of `GET /oncalls`: somebody on call in a schedule now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallEntry {
    pub schedule_id: String,
    pub user: Person,
    pub escalation_level: u32,
    /// ISO 8601; `None` is a permanent on-call.
    pub end: Option<String>,
}

/// Who is on call in one schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOnCall {
    pub schedule: ScheduleRef,
    /// Everyone on call in it now, each once; empty when nobody is.
    pub people: Vec<UserId>,
    /// When each person's shift here ends; absent when open-ended (or saved before this was kept).
    #[serde(default)]
    pub shift_ends: BTreeMap<UserId, SystemTime>,
}

impl ScheduleOnCall {
    /// A schedule with these people on call, shift ends unknown.
    pub fn new(schedule: ScheduleRef, people: Vec<UserId>) -> Self {
        ScheduleOnCall {
            schedule,
            people,
            shift_ends: BTreeMap::new(),
        }
    }

    /// When the first of the people on call here hands over; `None` when every shift is open-ended.
    pub fn next_handover(&self) -> Option<SystemTime> {
        self.people
            .iter()
            .filter_map(|id| self.shift_ends.get(id))
            .min()
            .copied()
    }
}

/// Which group of schedules a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Roster {
    /// The Incident Commander schedules (`!ic`).
    IncidentCommanders,
    /// The service teams' schedules (`!ic responders`).
    Responders,
}

/// Everything one good refresh learned. Immutable once built; shared as `Arc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallSnapshot {
    /// When PagerDuty answered.
    pub taken_at: SystemTime,
    pub incident_commanders: Vec<ScheduleOnCall>,
    pub responders: Vec<ScheduleOnCall>,
    /// Everyone the cache has seen, by id, with contact details.
    pub people: BTreeMap<UserId, Person>,
}

impl OnCallSnapshot {
    pub fn roster(&self, roster: Roster) -> &[ScheduleOnCall] {
        match roster {
            Roster::IncidentCommanders => &self.incident_commanders,
            Roster::Responders => &self.responders,
        }
    }

    pub fn person(&self, id: &UserId) -> Option<&Person> {
        self.people.get(id)
    }

    /// Everyone on call in a roster, each once, in schedule order (the primary first).
    pub fn on_call(&self, roster: Roster) -> Vec<&Person> {
        let mut seen = std::collections::HashSet::new();
        self.roster(roster)
            .iter()
            .flat_map(|s| s.people.iter())
            .filter(|id| seen.insert(*id))
            .filter_map(|id| self.people.get(id))
            .collect()
    }

    /// The labels of the schedules this person is on call for now, IC schedules first.
    pub fn schedules_of(&self, id: &UserId) -> Vec<&str> {
        self.incident_commanders
            .iter()
            .chain(self.responders.iter())
            .filter(|s| s.people.contains(id))
            .map(|s| s.schedule.label.as_str())
            .collect()
    }

    /// How old the snapshot is at `now` (zero if the clock went backwards).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.taken_at).unwrap_or_default()
    }
}

/// A short human age: `12 s`, `7 min`, `3 h 5 min`, `2 d 4 h`.
pub fn human_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_with_country_code() {
        let p = Phone {
            country_code: Some(44),
            number: "7700 900123".into(),
        };
        assert_eq!(p.display(), "+44 7700 900123");
        assert_eq!(p.tel_uri(), "tel:+447700900123");
    }

    #[test]
    fn phone_without_country_code() {
        let p = Phone {
            country_code: None,
            number: "5550100".into(),
        };
        assert_eq!(p.display(), "5550100");
        assert_eq!(p.tel_uri(), "tel:5550100");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(human_age(Duration::from_secs(12)), "12 s");
        assert_eq!(human_age(Duration::from_secs(7 * 60 + 5)), "7 min");
        assert_eq!(
            human_age(Duration::from_secs(3 * 3600 + 5 * 60)),
            "3 h 5 min"
        );
        assert_eq!(
            human_age(Duration::from_secs(2 * 86_400 + 4 * 3600)),
            "2 d 4 h"
        );
    }

    #[test]
    fn on_call_lists_each_person_once_in_schedule_order() {
        let a = Person::new("A", "Alice", "a@x");
        let b = Person::new("B", "Bob", "b@x");
        let sched = |id: &str, people: Vec<&Person>| {
            ScheduleOnCall::new(
                ScheduleRef {
                    id: id.into(),
                    label: id.into(),
                },
                people.into_iter().map(|p| p.id.clone()).collect(),
            )
        };
        let snap = OnCallSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            incident_commanders: vec![sched("P", vec![&b]), sched("S", vec![&a, &b])],
            responders: vec![],
            people: [(a.id.clone(), a.clone()), (b.id.clone(), b.clone())].into(),
        };
        let names: Vec<_> = snap
            .on_call(Roster::IncidentCommanders)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["Bob", "Alice"]);
        assert_eq!(snap.schedules_of(&b.id), ["P", "S"]);
    }
}
