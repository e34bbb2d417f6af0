//! What the status page (`GET /`) shows, gathered at once: the tree and readiness (as `/actors`), the
//! on-call cache's facts, who is on call now per schedule, the last pages, each child's failure history and
//! the stalking channels. The actors are asked concurrently, each for at most
//! [`ASK_TIMEOUT`](super::facts::ASK_TIMEOUT); the cache's
//! snapshot is asked for only when one exists, so the page never waits on PagerDuty.

use std::sync::Arc;
use std::time::SystemTime;

use icbot_actors::cache::oncall::OnCallSnapshot;
use icbot_actors::cache::schedule_cache::{CacheFacts, CacheView, ScheduleCacheMessage};
use icbot_actors::pager::actor::PagerMessage;
use icbot_actors::pager::page::PageOutcome;
use icbot_actors::root::ChildHealth;

use super::facts::{ask, ActorAnswers, AdminSources, Asked, TreeFacts};
use crate::instance::Instance;

/// Everything the status page renders.
pub struct StatusView {
    pub now: SystemTime,
    pub instance: Instance,
    pub tree: TreeFacts,
    pub answers: ActorAnswers,
    pub cache: CacheFacts,
    /// The snapshot served now; `None` while there is none (then it is not asked for).
    pub snapshot: Option<Asked<Arc<OnCallSnapshot>>>,
    /// The last pages, newest first.
    pub pages: Asked<Vec<PageOutcome>>,
    pub health: Vec<ChildHealth>,
}

impl AdminSources {
    /// Gathers the status page's facts. Waits at most one ask timeout (the asks run at once).
    pub async fn status_view(&self) -> StatusView {
        let cache = self.cache.borrow().clone();
        let has_snapshot = cache.snapshot_taken_at.is_some();
        let (cache_name, pager_name) = (self.names.schedule_cache(), self.names.pager());
        let snapshot = async {
            if !has_snapshot {
                return None;
            }
            let view: Asked<CacheView> =
                ask::<ScheduleCacheMessage, _>(&cache_name, ScheduleCacheMessage::Get).await;
            Some(match view {
                Asked::Answer(view) => match view.snapshot {
                    Some(snapshot) => Asked::Answer(snapshot),
                    // A snapshot was published but this view has none: as good as slow.
                    None => Asked::Slow,
                },
                Asked::NotRunning => Asked::NotRunning,
                Asked::Slow => Asked::Slow,
            })
        };
        let (answers, snapshot, pages) = tokio::join!(
            self.ask_actors(),
            snapshot,
            ask::<PagerMessage, _>(&pager_name, PagerMessage::RecentOutcomes),
        );
        let tree = self.tree_from(&answers);
        StatusView {
            now: SystemTime::now(),
            instance: self.instance.clone(),
            tree,
            answers,
            cache,
            snapshot,
            pages,
            health: self.health.borrow().clone(),
        }
    }
}
