//! Page deduplication: a second page of the same people within the window answers with the first page's
//! incident and who asked, instead of opening a second incident. `--again` pages anyway. A page still in
//! flight counts; a page that failed does not (paging again is then the right thing).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::oncall::UserId;
use crate::page_audit::AuditRecord;
use crate::ports::Incident;

/// The earlier page a request would repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorPage {
    pub requested_by: String,
    pub channel: String,
    pub at: SystemTime,
    /// `None` while that page is still in flight.
    pub incident: Option<Incident>,
}

/// Who a page went to, in a form that ignores order and repeats.
pub type PageKey = Vec<UserId>;

pub fn key<'a>(ids: impl IntoIterator<Item = &'a UserId>) -> PageKey {
    let mut key: Vec<UserId> = ids.into_iter().cloned().collect();
    key.sort();
    key.dedup();
    key
}

/// Recent pages by who they went to.
#[derive(Debug, Default)]
pub struct RecentPages {
    window: Duration,
    pages: HashMap<PageKey, PriorPage>,
}

impl RecentPages {
    pub fn new(window: Duration) -> Self {
        RecentPages {
            window,
            pages: HashMap::new(),
        }
    }

    /// Seeds from the audit log (pages sent before a restart).
    pub fn restore(&mut self, records: impl IntoIterator<Item = AuditRecord>) {
        for r in records.into_iter().filter(|r| r.incident.is_some()) {
            let prior = PriorPage {
                requested_by: r.requested_by,
                channel: r.channel,
                at: r.at,
                incident: r.incident,
            };
            self.pages
                .insert(key(r.results.iter().map(|(id, _, _)| id)), prior);
        }
    }

    /// The page within the window that a page of `key` at `now` would repeat.
    pub fn prior(&self, key: &PageKey, now: SystemTime) -> Option<&PriorPage> {
        if self.window.is_zero() {
            return None;
        }
        self.pages
            .get(key)
            .filter(|p| now.duration_since(p.at).unwrap_or_default() <= self.window)
    }

    /// A page of `key` was sent; until it finishes, a repeat is answered as "in flight".
    pub fn started(&mut self, key: PageKey, requested_by: &str, channel: &str, now: SystemTime) {
        self.prune(now);
        let prior = PriorPage {
            requested_by: requested_by.to_string(),
            channel: channel.to_string(),
            at: now,
            incident: None,
        };
        self.pages.insert(key, prior);
    }

    /// The page of `key` finished: remember its incident, or forget it when none was created.
    pub fn finished(&mut self, key: &PageKey, incident: Option<Incident>) {
        match incident {
            Some(incident) => {
                if let Some(p) = self.pages.get_mut(key) {
                    p.incident = Some(incident);
                }
            }
            None => {
                self.pages.remove(key);
            }
        }
    }

    fn prune(&mut self, now: SystemTime) {
        let window = self.window;
        self.pages
            .retain(|_, p| now.duration_since(p.at).unwrap_or_default() <= window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> PageKey {
        key(list
            .iter()
            .map(|s| UserId(s.to_string()))
            .collect::<Vec<_>>()
            .iter())
    }

    fn incident() -> Incident {
        Incident {
            id: "Q1".into(),
            number: 1,
            html_url: "https://pd/Q1".into(),
        }
    }

    #[test]
    fn order_and_repeats_do_not_matter() {
        assert_eq!(ids(&["b", "a", "b"]), ids(&["a", "b"]));
    }

    #[test]
    fn a_repeat_within_the_window_is_found_in_flight_and_after() {
        let t = SystemTime::now();
        let mut recent = RecentPages::new(Duration::from_secs(120));
        recent.started(ids(&["a", "b"]), "dana", "ops", t);
        let prior = recent
            .prior(&ids(&["b", "a"]), t + Duration::from_secs(5))
            .unwrap();
        assert_eq!(prior.requested_by, "dana");
        assert!(prior.incident.is_none(), "in flight");
        recent.finished(&ids(&["a", "b"]), Some(incident()));
        assert_eq!(
            recent
                .prior(&ids(&["a", "b"]), t + Duration::from_secs(60))
                .unwrap()
                .incident,
            Some(incident())
        );
        assert!(
            recent
                .prior(&ids(&["a", "b"]), t + Duration::from_secs(121))
                .is_none(),
            "window over"
        );
        assert!(recent.prior(&ids(&["a"]), t).is_none(), "other people");
    }

    #[test]
    fn a_failed_page_is_forgotten() {
        let t = SystemTime::now();
        let mut recent = RecentPages::new(Duration::from_secs(120));
        recent.started(ids(&["a"]), "dana", "ops", t);
        recent.finished(&ids(&["a"]), None);
        assert!(recent.prior(&ids(&["a"]), t).is_none());
    }
}
