//! Page deduplication: a second page of the same people within the window answers with the first page's
//! incident and who asked, instead of opening a second incident. `--again` pages anyway. A page still in
//! flight counts; a page that failed does not (paging again is then the right thing); a page started before a
//! restart that never recorded its outcome counts as "outcome unknown" (never paged again blindly).
//!
//! The table ([`SharedRecentPages`]) is made once at wiring and handed to each pager it starts, so a pager
//! crash never loses it: the page tasks record their finish in it directly, whether or not the pager that
//! started them still runs. It is seeded once from the audit log ([`crate::pager::audit`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::pager::audit::{AuditEvent, AuditRecord};
use crate::pager::page::{PageKey, PriorPage, PriorState};
use crate::ports::Incident;

/// The recent-pages table as the pager and its page tasks share it.
pub type SharedRecentPages = Arc<Mutex<RecentPages>>;

/// Recent pages by who they went to.
#[derive(Debug, Default)]
pub struct RecentPages {
    window: Duration,
    pages: HashMap<PageKey, PriorPage>,
    restored: bool,
}

impl RecentPages {
    pub fn new(window: Duration) -> Self {
        RecentPages {
            window,
            pages: HashMap::new(),
            restored: false,
        }
    }

    /// A table to share between the wiring, the pager and its page tasks.
    pub fn shared(window: Duration) -> SharedRecentPages {
        Arc::new(Mutex::new(RecentPages::new(window)))
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether [`Self::restore`] already ran: a pager restarted in the same process keeps the live table.
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    /// Seeds from the audit log (oldest first): pages sent before a restart, and pages started whose outcome
    /// was never recorded.
    pub fn restore(&mut self, records: impl IntoIterator<Item = AuditRecord>) {
        self.restored = true;
        for r in records {
            let key = r.key();
            match r.event {
                AuditEvent::Started => {
                    let prior = PriorPage {
                        requested_by: r.requested_by,
                        channel: r.channel,
                        at: r.at,
                        incident: None,
                        page_id: r.page_id,
                        incident_key: r.incident_key,
                        state: PriorState::OutcomeUnknown,
                    };
                    self.pages.insert(key, prior);
                }
                AuditEvent::Outcome => {
                    // The outcome of a started page: recorded, whatever it was (PagerDuty having the
                    // incident open already included).
                    let same_page = r.page_id.is_some()
                        && self.pages.get(&key).map(|p| &p.page_id) == Some(&r.page_id);
                    let state = match &r.duplicate_of {
                        Some(d) if d.state == PriorState::OpenInPagerDuty => d.state,
                        _ => PriorState::Recorded,
                    };
                    match (r.incident, same_page) {
                        (Some(incident), true) => {
                            if let Some(p) = self.pages.get_mut(&key) {
                                p.incident = Some(incident);
                                p.state = state;
                            }
                        }
                        // A repeat answered with an earlier page: that page has its own records.
                        (_, false) if r.duplicate_of.is_some() => {}
                        (Some(incident), false) => {
                            let prior = PriorPage {
                                requested_by: r.requested_by,
                                channel: r.channel,
                                at: r.at,
                                incident: Some(incident),
                                page_id: r.page_id,
                                incident_key: r.incident_key,
                                state: PriorState::Recorded,
                            };
                            self.pages.insert(key, prior);
                        }
                        (None, true) => {
                            self.pages.remove(&key);
                        }
                        // A failure of another page (or a fallback the command made): nothing to forget.
                        (None, false) => {}
                    }
                }
            }
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
    pub fn started(&mut self, key: PageKey, prior: PriorPage) {
        self.prune(prior.at);
        self.pages.insert(key, prior);
    }

    /// The page `page_id` of `key` finished: remember its incident, or forget it when none was created. A
    /// later page of the same people (`--again`) is left alone.
    pub fn finished(&mut self, key: &PageKey, page_id: &str, incident: Option<Incident>) {
        let Some(p) = self.pages.get_mut(key) else {
            return;
        };
        if p.page_id.as_deref() != Some(page_id) {
            return;
        }
        match incident {
            Some(incident) => p.incident = Some(incident),
            None => {
                self.pages.remove(key);
            }
        }
    }

    /// The incident of an earlier page whose outcome is unknown, found in PagerDuty by its key.
    pub fn found(&mut self, key: &PageKey, incident: Incident) {
        if let Some(p) = self.pages.get_mut(key) {
            if p.state == PriorState::OutcomeUnknown && p.incident.is_none() {
                p.incident = Some(incident);
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
    use crate::cache::oncall::UserId;
    use crate::pager::page::key;

    fn ids(list: &[&str]) -> PageKey {
        key(list
            .iter()
            .map(|s| UserId(s.to_string()))
            .collect::<Vec<_>>()
            .iter())
    }

    fn prior(page_id: &str, at: SystemTime) -> PriorPage {
        PriorPage {
            requested_by: "dana".into(),
            channel: "ops".into(),
            at,
            incident: None,
            page_id: Some(page_id.into()),
            incident_key: None,
            state: PriorState::Recorded,
        }
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
        recent.started(ids(&["a", "b"]), prior("p1", t));
        let prior = recent
            .prior(&ids(&["b", "a"]), t + Duration::from_secs(5))
            .unwrap();
        assert_eq!(prior.requested_by, "dana");
        assert!(prior.incident.is_none(), "in flight");
        recent.finished(&ids(&["a", "b"]), "p1", Some(incident()));
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
        recent.started(ids(&["a"]), prior("p1", t));
        recent.finished(&ids(&["a"]), "p1", None);
        assert!(recent.prior(&ids(&["a"]), t).is_none());
    }

    #[test]
    fn an_earlier_page_finishing_leaves_a_later_one_alone() {
        let t = SystemTime::now();
        let mut recent = RecentPages::new(Duration::from_secs(120));
        recent.started(ids(&["a"]), prior("p1", t));
        recent.started(ids(&["a"]), prior("p2", t));
        recent.finished(&ids(&["a"]), "p1", None);
        assert_eq!(
            recent.prior(&ids(&["a"]), t).unwrap().page_id.as_deref(),
            Some("p2")
        );
    }

    fn record(event: AuditEvent, page_id: Option<&str>, incident: Option<Incident>) -> AuditRecord {
        AuditRecord {
            event,
            page_id: page_id.map(String::from),
            at: SystemTime::now(),
            requested_by: "dana".into(),
            channel: "ops".into(),
            audience: "Alice".into(),
            message: None,
            targets: vec![(UserId("a".into()), "A".into())],
            dedup_key: vec![],
            incident_key: Some("icbot-k".into()),
            incident,
            results: vec![],
            failure: None,
            fallback_shown: false,
            duplicate_of: None,
        }
    }

    #[test]
    fn a_started_page_without_its_outcome_is_restored_as_unknown() {
        let mut recent = RecentPages::new(Duration::from_secs(120));
        recent.restore([record(AuditEvent::Started, Some("p1"), None)]);
        let p = recent.prior(&ids(&["a"]), SystemTime::now()).unwrap();
        assert_eq!(p.state, PriorState::OutcomeUnknown);
        assert_eq!(p.incident_key.as_deref(), Some("icbot-k"));
        let mut with_outcome = RecentPages::new(Duration::from_secs(120));
        let mut outcome = record(AuditEvent::Outcome, Some("p1"), Some(incident()));
        outcome.targets.clear();
        outcome.results = vec![(
            UserId("a".into()),
            "A".into(),
            crate::pager::page::PersonResult::Assigned,
        )];
        with_outcome.restore([record(AuditEvent::Started, Some("p1"), None), outcome]);
        let p = with_outcome.prior(&ids(&["a"]), SystemTime::now()).unwrap();
        assert_eq!(p.state, PriorState::Recorded);
        assert_eq!(p.incident, Some(incident()));
    }

    #[test]
    fn a_page_pagerduty_had_open_already_is_not_restored_as_unknown() {
        let mut recent = RecentPages::new(Duration::from_secs(120));
        let mut outcome = record(AuditEvent::Outcome, Some("p1"), Some(incident()));
        outcome.targets.clear();
        outcome.results = vec![(
            UserId("a".into()),
            "A".into(),
            crate::pager::page::PersonResult::AlreadyPaged,
        )];
        outcome.duplicate_of = Some(PriorPage {
            state: PriorState::OpenInPagerDuty,
            incident: Some(incident()),
            ..prior("p1", SystemTime::now())
        });
        // And a repeat answered from the table, with no started record of its own: ignored.
        let mut repeat = outcome.clone();
        repeat.page_id = Some("p2".into());
        repeat.incident = None;
        recent.restore([
            record(AuditEvent::Started, Some("p1"), None),
            outcome,
            repeat,
        ]);
        let p = recent.prior(&ids(&["a"]), SystemTime::now()).unwrap();
        assert_eq!(p.state, PriorState::OpenInPagerDuty);
        assert_eq!(p.incident, Some(incident()));
    }
}
