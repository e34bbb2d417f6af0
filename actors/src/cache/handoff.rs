//! Handoffs: who took over which schedule between two good snapshots, and the line that announces it.
//!
//! A pure diff, so the cases that matter (nothing changed, a person changed, a rotation went empty, a
//! schedule new to the config, phones that changed but people that did not) are unit tests, not timing. The
//! posting, and making sure nothing is posted twice, is [`super::announcer`]'s.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::cache::oncall::{OnCallSnapshot, Person, ScheduleOnCall, ScheduleRef, UserId};
use crate::local_time::ReaderZone;
use crate::reply::{strong, text, Reply, Span};

/// The people on call for one schedule changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub schedule: ScheduleRef,
    /// Who was on call, in the previous snapshot's order.
    pub before: Vec<Person>,
    /// Who is on call now, lowest escalation level first; empty when nobody is.
    pub after: Vec<Person>,
    /// When the first of the new people hands over in turn; `None` when open-ended or unknown.
    pub until: Option<SystemTime>,
}

/// Every schedule whose set of people on call differs between `previous` and `next`, in `next`'s order (IC
/// schedules first). Only the set of people counts: a new order or new phones are not a handoff. A schedule
/// missing from `previous` (just configured) has nothing to compare with and is no handoff either.
pub fn handoffs(previous: &OnCallSnapshot, next: &OnCallSnapshot) -> Vec<Handoff> {
    let before_of = |id: &str| -> Option<&ScheduleOnCall> {
        previous
            .incident_commanders
            .iter()
            .chain(&previous.responders)
            .find(|s| s.schedule.id == id)
    };
    next.incident_commanders
        .iter()
        .chain(&next.responders)
        .filter_map(|now| {
            let was = before_of(&now.schedule.id)?;
            let set = |s: &ScheduleOnCall| s.people.iter().cloned().collect::<BTreeSet<UserId>>();
            if set(was) == set(now) {
                return None;
            }
            Some(Handoff {
                schedule: now.schedule.clone(),
                before: people(previous, &was.people),
                after: people(next, &now.people),
                until: now.next_handover(),
            })
        })
        .collect()
}

/// The people behind `ids`; one the snapshot lacks (it should not happen) shows as its id.
fn people(snapshot: &OnCallSnapshot, ids: &[UserId]) -> Vec<Person> {
    ids.iter()
        .map(|id| {
            snapshot
                .person(id)
                .cloned()
                .unwrap_or_else(|| Person::new(id.0.clone(), id.0.clone(), ""))
        })
        .collect()
}

impl Handoff {
    /// `IC Primary: Alice Moreau → Bongani Dlamini, until Thu 18:00 UTC (in 3 h)`, then each new person's
    /// phones; or `Nobody on call for IC Shadow (was Chen Wei)`, marked as an alert because that needs fixing.
    pub fn announcement(&self, zone: &ReaderZone, now: SystemTime) -> Reply {
        let label = &self.schedule.label;
        let mut reply = Reply::new();
        if self.after.is_empty() {
            reply.line(vec![
                text("Nobody on call for "),
                strong(label.clone()),
                text(format!(" (was {})", names(&self.before))),
            ]);
            return reply.alerting();
        }
        let mut first = vec![
            strong(format!("{label}:")),
            text(format!(" {} → ", names(&self.before))),
            strong(names(&self.after)),
        ];
        if let Some(until) = self.until {
            first.push(text(format!(", until {}", zone.when(until, now))));
        }
        reply.line(first);
        for person in &self.after {
            let mut line = vec![text(format!("{}: ", person.name))];
            if person.phones.is_empty() {
                line.push(text("no phone in PagerDuty"));
            }
            for (i, phone) in person.phones.iter().enumerate() {
                if i > 0 {
                    line.push(text(", "));
                }
                line.push(Span::Phone(phone.clone()));
            }
            reply.line(line);
        }
        reply
    }
}

/// `Chen Wei, Dana Okafor`, or `nobody`.
fn names(people: &[Person]) -> String {
    if people.is_empty() {
        return "nobody".into();
    }
    people
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::Phone;
    use std::time::Duration;

    fn person(id: &str, name: &str) -> Person {
        Person::new(id, name, format!("{id}@example.com"))
    }

    fn schedule(id: &str, label: &str, people: &[&Person]) -> ScheduleOnCall {
        ScheduleOnCall::new(
            ScheduleRef {
                id: id.into(),
                label: label.into(),
            },
            people.iter().map(|p| p.id.clone()).collect(),
        )
    }

    fn snapshot(ics: Vec<ScheduleOnCall>, everyone: &[&Person]) -> OnCallSnapshot {
        OnCallSnapshot {
            taken_at: SystemTime::UNIX_EPOCH,
            incident_commanders: ics,
            responders: vec![],
            people: everyone
                .iter()
                .map(|p| (p.id.clone(), (*p).clone()))
                .collect(),
        }
    }

    #[test]
    fn the_same_people_are_no_handoff_even_reordered_or_with_new_phones() {
        let (a, b) = (person("A", "Ana Lima"), person("B", "Bo"));
        let before = snapshot(vec![schedule("P", "Primary", &[&a, &b])], &[&a, &b]);
        let mut a2 = a.clone();
        a2.phones.push(Phone {
            country_code: Some(1),
            number: "5550100".into(),
        });
        let after = snapshot(vec![schedule("P", "Primary", &[&b, &a2])], &[&a2, &b]);
        assert_eq!(handoffs(&before, &after), vec![]);
    }

    #[test]
    fn a_new_person_is_a_handoff_with_both_sides_and_the_end() {
        let (a, t) = (person("A", "Ana Lima"), person("T", "Tancredi Valderrama"));
        let before = snapshot(vec![schedule("P", "Primary IC", &[&a])], &[&a]);
        let mut now = schedule("P", "Primary IC", &[&t]);
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_320_800);
        now.shift_ends.insert(t.id.clone(), end);
        let after = snapshot(vec![now], &[&t]);
        let h = handoffs(&before, &after);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].before, vec![a]);
        assert_eq!(h[0].after, vec![t]);
        assert_eq!(h[0].until, Some(end));
    }

    #[test]
    fn an_emptied_rotation_is_a_handoff_and_a_filled_one_too() {
        let a = person("A", "Ana Lima");
        let full = snapshot(vec![schedule("S", "Shadow", &[&a])], &[&a]);
        let empty = snapshot(vec![schedule("S", "Shadow", &[])], &[]);
        let emptied = handoffs(&full, &empty);
        assert_eq!(emptied.len(), 1);
        assert!(emptied[0].after.is_empty());
        let filled = handoffs(&empty, &full);
        assert_eq!(filled.len(), 1);
        assert!(filled[0].before.is_empty());
    }

    #[test]
    fn a_schedule_new_to_the_config_is_no_handoff() {
        let a = person("A", "Ana Lima");
        let before = snapshot(vec![], &[]);
        let after = snapshot(vec![schedule("P", "Primary", &[&a])], &[&a]);
        assert_eq!(handoffs(&before, &after), vec![]);
    }

    #[test]
    fn the_announcement_names_both_sides_the_end_and_the_new_phone() {
        let a = person("A", "Ana Lima");
        let mut t = person("T", "Tancredi Valderrama");
        t.phones.push(Phone {
            country_code: Some(44),
            number: "7700 900123".into(),
        });
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_310_000); // Thu 15:00 UTC
        let h = Handoff {
            schedule: ScheduleRef {
                id: "P".into(),
                label: "Primary IC".into(),
            },
            before: vec![a],
            after: vec![t],
            until: Some(now + Duration::from_secs(3 * 3600)),
        };
        let text = h.announcement(&ReaderZone::utc(), now).plain();
        assert_eq!(
            text,
            "Primary IC: Ana Lima → Tancredi Valderrama, until 18:00 UTC (in 3 h)\n\
             Tancredi Valderrama: +44 7700 900123"
        );
    }

    #[test]
    fn an_empty_rotation_is_announced_loudly() {
        let h = Handoff {
            schedule: ScheduleRef {
                id: "S".into(),
                label: "Shadow".into(),
            },
            before: vec![person("C", "Chen Wei")],
            after: vec![],
            until: None,
        };
        let reply = h.announcement(&ReaderZone::utc(), SystemTime::UNIX_EPOCH);
        assert!(reply.alert);
        assert_eq!(reply.plain(), "Nobody on call for Shadow (was Chen Wei)");
    }
}
