//! Handoff announcements: posts each [`Handoff`] of a good refresh to the channels whose `[[announce]]` rule
//! names its schedule, once.
//!
//! Not an actor: the schedule cache calls it from its publish path, and it outlives the cache's restarts (the
//! wiring makes one per bot). Once per change, never twice, rests on the order of writes, intent first:
//! 1. [`Announcer::intend`] records the announcements about to be made in `handoffs.pending.json`;
//! 2. the cache saves the new snapshot as `oncall.json`: from then on, a restart diffs against it, so this
//!    change is never found again;
//! 3. [`Announcer::post`] posts them (in order, one batch after the other) and clears them from the pending file.
//!
//! A crash between 2 and 3 leaves announcements that may or may not have been posted: the next start logs each
//! of them (a known unknown, the way `pages.jsonl` treats a page without its outcome) and does not post it
//! again. A crash before 2 finds the old snapshot at restart and announces the change then.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cache::handoff::Handoff;
use crate::chat::ChatTarget;
use crate::local_time::ReaderZone;
use crate::ports::{ChatOut, StateStore};
use crate::reply::Reply;

/// The state file of announcements decided but not yet known to be posted.
pub const PENDING_FILE: &str = "handoffs.pending.json";

/// One `[[announce]]` entry, its schedules resolved to PagerDuty ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRule {
    pub target: ChatTarget,
    pub schedule_ids: Vec<String>,
}

/// One announcement waiting to be posted, as the pending file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnnouncement {
    pub channel: String,
    /// The announcement as plain text: what the log says if its fate is unknown.
    pub text: String,
}

/// The announcements of one refresh, ready to post.
pub struct Batch {
    id: u64,
    posts: Vec<(ChatTarget, Reply)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }
}

/// Posts handoffs where the rules say. Cheap to clone; clones share the pending record and the posting order.
#[derive(Clone)]
pub struct Announcer {
    chat: Arc<dyn ChatOut>,
    store: Arc<dyn StateStore>,
    rules: Arc<Vec<AnnounceRule>>,
    zone: ReaderZone,
    /// Batches decided and not yet posted, by id; mirrored in [`PENDING_FILE`].
    pending: Arc<Mutex<BTreeMap<u64, Vec<PendingAnnouncement>>>>,
    /// Batches post one after the other, in the order they were decided (tokio's mutex is fair).
    order: Arc<tokio::sync::Mutex<()>>,
}

impl Announcer {
    /// An announcer for `rules`, times shown in `zone`. Logs, then forgets, announcements a previous run
    /// decided and may not have posted.
    pub fn new(
        chat: Arc<dyn ChatOut>,
        store: Arc<dyn StateStore>,
        rules: Vec<AnnounceRule>,
        zone: ReaderZone,
    ) -> Self {
        let announcer = Announcer {
            chat,
            store,
            rules: Arc::new(rules),
            zone,
            pending: Arc::new(Mutex::new(BTreeMap::new())),
            order: Arc::new(tokio::sync::Mutex::new(())),
        };
        announcer.recover();
        announcer
    }

    fn recover(&self) {
        let left: BTreeMap<u64, Vec<PendingAnnouncement>> = match self.store.load(PENDING_FILE) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, file = PENDING_FILE, "state file is corrupt; ignoring it");
                BTreeMap::new()
            }),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, file = PENDING_FILE, "cannot read state file; ignoring it");
                BTreeMap::new()
            }
        };
        for announcement in left.values().flatten() {
            tracing::warn!(
                channel = %announcement.channel,
                text = %announcement.text,
                "handoff announcement may not have been posted (the bot stopped while announcing); not posting it again"
            );
        }
        self.save(&BTreeMap::new());
    }

    /// Step 1: the posts `handoffs` make under the rules, recorded as pending before anything else happens.
    pub fn intend(&self, handoffs: &[Handoff], now: SystemTime) -> Batch {
        let mut posts = Vec::new();
        for rule in self.rules.iter() {
            for h in handoffs
                .iter()
                .filter(|h| rule.schedule_ids.contains(&h.schedule.id))
            {
                posts.push((rule.target.clone(), h.announcement(&self.zone, now)));
            }
        }
        let id = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        if !posts.is_empty() {
            let record = posts
                .iter()
                .map(|(to, reply)| PendingAnnouncement {
                    channel: to.channel.clone(),
                    text: reply.plain(),
                })
                .collect();
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.insert(id, record);
            self.save(&pending);
        }
        Batch { id, posts }
    }

    /// Step 3: posts the batch in the background, after the batches before it, then clears it from the
    /// pending record. A post that fails is logged: announcing is best effort, paging is not.
    pub fn post(&self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _turn = me.order.lock().await;
            for (to, reply) in &batch.posts {
                match me.chat.post(to, reply).await {
                    Ok(()) => {
                        tracing::info!(channel = %to.channel, text = %reply.plain(), "handoff announced")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, channel = %to.channel, "cannot post a handoff announcement")
                    }
                }
            }
            let mut pending = me.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.remove(&batch.id);
            me.save(&pending);
        });
    }

    fn save(&self, pending: &BTreeMap<u64, Vec<PendingAnnouncement>>) {
        let result = serde_json::to_vec(pending)
            .map_err(std::io::Error::other)
            .and_then(|bytes| self.store.save(PENDING_FILE, &bytes));
        if let Err(e) = result {
            tracing::warn!(error = %e, file = PENDING_FILE, "cannot save pending handoff announcements");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::oncall::{Person, ScheduleRef};
    use crate::fakes::RecordingChat;
    use crate::state_store::MemoryStateStore;

    fn handoff(schedule: &str) -> Handoff {
        Handoff {
            schedule: ScheduleRef {
                id: schedule.into(),
                label: format!("Label {schedule}"),
            },
            before: vec![Person::new("A", "Ana Lima", "a@x")],
            after: vec![Person::new("T", "Tancredi Valderrama", "t@x")],
            until: None,
        }
    }

    fn rules() -> Vec<AnnounceRule> {
        vec![
            AnnounceRule {
                target: ChatTarget::channel("ops"),
                schedule_ids: vec!["P".into(), "S".into()],
            },
            AnnounceRule {
                target: ChatTarget::channel("payments"),
                schedule_ids: vec!["T".into()],
            },
        ]
    }

    #[tokio::test]
    async fn each_handoff_goes_to_the_channels_whose_rule_names_its_schedule() {
        let chat = Arc::new(RecordingChat::default());
        let store = Arc::new(MemoryStateStore::new());
        let a = Announcer::new(chat.clone(), store.clone(), rules(), ReaderZone::utc());
        let batch = a.intend(
            &[handoff("P"), handoff("T"), handoff("X")],
            SystemTime::now(),
        );
        a.post(batch);
        let ops = chat.wait_for("ops", 1).await;
        let payments = chat.wait_for("payments", 1).await;
        assert!(
            ops[0].starts_with("Label P: Ana Lima → Tancredi"),
            "{ops:?}"
        );
        assert!(payments[0].starts_with("Label T:"), "{payments:?}");
        assert_eq!(chat.total(), 2, "X is in no rule");
    }

    #[tokio::test]
    async fn intent_is_recorded_before_posting_and_a_restart_reports_it_without_posting() {
        let chat = Arc::new(RecordingChat::default());
        let store = Arc::new(MemoryStateStore::new());
        let a = Announcer::new(chat.clone(), store.clone(), rules(), ReaderZone::utc());
        // Decided, then the bot dies before posting (the batch is never handed to `post`).
        let _lost = a.intend(&[handoff("P")], SystemTime::now());
        let saved = store.load(PENDING_FILE).unwrap().expect("intent saved");
        let pending: BTreeMap<u64, Vec<PendingAnnouncement>> =
            serde_json::from_slice(&saved).unwrap();
        assert_eq!(pending.values().flatten().count(), 1);

        let again = Announcer::new(chat.clone(), store.clone(), rules(), ReaderZone::utc());
        let cleared: BTreeMap<u64, Vec<PendingAnnouncement>> =
            serde_json::from_slice(&store.load(PENDING_FILE).unwrap().unwrap()).unwrap();
        assert!(cleared.is_empty(), "reported once, then forgotten");
        // Nothing was posted by the restart; a later batch still posts.
        let batch = again.intend(&[handoff("S")], SystemTime::now());
        again.post(batch);
        let posts = chat.wait_for("ops", 1).await;
        assert_eq!(chat.total(), 1);
        assert!(posts[0].starts_with("Label S:"), "{posts:?}");
    }

    #[tokio::test]
    async fn a_posted_batch_is_cleared_from_the_pending_file() {
        let chat = Arc::new(RecordingChat::default());
        let store = Arc::new(MemoryStateStore::new());
        let a = Announcer::new(chat.clone(), store.clone(), rules(), ReaderZone::utc());
        let batch = a.intend(&[handoff("P")], SystemTime::now());
        a.post(batch);
        chat.wait_for("ops", 1).await;
        // The clearing follows the post in the same task: wait for it on the store.
        for _ in 0..1000 {
            let pending: BTreeMap<u64, Vec<PendingAnnouncement>> =
                serde_json::from_slice(&store.load(PENDING_FILE).unwrap().unwrap()).unwrap();
            if pending.is_empty() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the pending file still holds the posted batch");
    }
}
