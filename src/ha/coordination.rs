//! The core's [`Coordination`] port over PostgreSQL: the leader term is this replica's lease epoch while it
//! leads, and the shared on-call snapshot is `icbot_oncall_snapshot` (written fenced by that epoch, read by
//! every replica), the page dedup claims are `icbot_page_dedup`, the page audit `icbot_page_audit`, the
//! followed incident cards `icbot_followed_incident` and the stalking channels `icbot_stalk` (any replica
//! adds, the leader writes fenced). Every call is bounded by the statement timeout, so a replica whose
//! database is unreachable gets an error in time and carries on from memory.

use async_trait::async_trait;
use icbot_actors::cache::oncall::OnCallSnapshot;
use icbot_actors::chat::ChatTarget;
use icbot_actors::incidents::followed::Followed;
use icbot_actors::pager::page::{PriorPage, PriorState};
use icbot_actors::ports::{
    Coordination, CoordinationError, Incident, LeaderTerm, PageAuditEntry, PageClaim, PageClaimed,
    ReplicaRole, SharedStalk, StalkAdded,
};
use icbot_actors::status::system_state::Posted;

use super::fence::{Fence, FencedWrite};
use super::followed_incidents::{self, FollowedRow};
use super::lease::{Epoch, Role, LEADER_LEASE};
use super::oncall_snapshot;
use super::page_audit;
use super::page_dedup::{self, Claim};
use super::replica::Replica;
use super::stalks::{self, Added};

/// One replica's side of the shared state.
#[derive(Debug, Clone)]
pub struct PostgresCoordination {
    replica: Replica,
}

impl PostgresCoordination {
    pub fn new(replica: Replica) -> PostgresCoordination {
        PostgresCoordination { replica }
    }
}

fn unreachable(e: impl std::fmt::Display) -> CoordinationError {
    CoordinationError::Unreachable(e.to_string())
}

#[async_trait]
impl Coordination for PostgresCoordination {
    fn leader_term(&self) -> Option<LeaderTerm> {
        self.replica.fence().map(|f| LeaderTerm(f.epoch().0))
    }

    async fn shared_snapshot(&self) -> Result<Option<OnCallSnapshot>, CoordinationError> {
        let Some(stored) = oncall_snapshot::load(self.replica.database())
            .await
            .map_err(unreachable)?
        else {
            return Ok(None);
        };
        match serde_json::from_value(stored.snapshot) {
            Ok(snapshot) => Ok(Some(snapshot)),
            Err(e) => {
                // A snapshot this release cannot read (written by a newer one): as if there were none.
                tracing::warn!(error = %e, epoch = %stored.epoch, "the shared on-call snapshot is unreadable; ignoring it");
                Ok(None)
            }
        }
    }

    async fn share_snapshot(
        &self,
        term: LeaderTerm,
        snapshot: &OnCallSnapshot,
    ) -> Result<(), CoordinationError> {
        let json = serde_json::to_value(snapshot).map_err(unreachable)?;
        let fence = Fence::new(LEADER_LEASE, Epoch(term.0));
        match oncall_snapshot::save(self.replica.database(), &fence, &json, snapshot.taken_at)
            .await
            .map_err(unreachable)?
        {
            FencedWrite::Written { .. } => Ok(()),
            FencedWrite::Refused => Err(CoordinationError::NotLeader),
        }
    }

    async fn claim_page(&self, claim: &PageClaim) -> Result<PageClaimed, CoordinationError> {
        let replica = self.replica.replica().to_string();
        let row = page_dedup::PageClaim {
            dedup_key: &claim.dedup_key,
            page_id: &claim.page_id,
            requested_by: &claim.requested_by,
            channel: &claim.channel,
            replica: &replica,
            window: claim.window,
        };
        match page_dedup::claim(self.replica.database(), &row)
            .await
            .map_err(unreachable)?
        {
            Claim::Claimed => Ok(PageClaimed::Claimed),
            Claim::Repeat(prior) => Ok(PageClaimed::AlreadyPaged(PriorPage {
                requested_by: prior.requested_by,
                channel: prior.channel,
                at: prior.started_at,
                incident: prior
                    .incident
                    .and_then(|json| serde_json::from_value::<Incident>(json).ok()),
                page_id: Some(prior.page_id),
                incident_key: None,
                state: PriorState::Recorded,
            })),
        }
    }

    async fn settle_page(
        &self,
        claim: &PageClaim,
        incident: Option<&Incident>,
    ) -> Result<(), CoordinationError> {
        let db = self.replica.database();
        match incident {
            Some(incident) => {
                let json = serde_json::to_value(incident).map_err(unreachable)?;
                page_dedup::settle(db, &claim.dedup_key, &claim.page_id, &json)
                    .await
                    .map_err(unreachable)?;
            }
            None => {
                page_dedup::release(db, &claim.dedup_key, &claim.page_id)
                    .await
                    .map_err(unreachable)?;
            }
        }
        Ok(())
    }

    async fn record_page_audit(&self, entries: &[PageAuditEntry]) -> Result<(), CoordinationError> {
        let replica = self.replica.replica().to_string();
        page_audit::insert(self.replica.database(), &replica, entries)
            .await
            .map_err(unreachable)?;
        Ok(())
    }

    async fn followed_incidents(&self) -> Result<Option<Vec<Followed>>, CoordinationError> {
        let rows = followed_incidents::load(self.replica.database())
            .await
            .map_err(unreachable)?;
        let mut all = Vec::with_capacity(rows.len());
        for json in rows {
            match serde_json::from_value::<Followed>(json) {
                Ok(followed) => all.push(followed),
                // A card this release cannot read (written by a newer one): left to a replica that can.
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable followed incident"),
            }
        }
        Ok(Some(all))
    }

    async fn follow_incident(&self, followed: &Followed) -> Result<(), CoordinationError> {
        let json = serde_json::to_value(followed).map_err(unreachable)?;
        let Some(row) = followed_row(followed, &json) else {
            return Ok(());
        };
        let replica = self.replica.replica().to_string();
        followed_incidents::follow(self.replica.database(), &replica, &row)
            .await
            .map_err(unreachable)
    }

    async fn record_followed(
        &self,
        term: LeaderTerm,
        followed: &Followed,
        resolved: bool,
    ) -> Result<(), CoordinationError> {
        let json = serde_json::to_value(followed).map_err(unreachable)?;
        let Some(row) = followed_row(followed, &json) else {
            return Ok(());
        };
        let fence = Fence::new(LEADER_LEASE, Epoch(term.0));
        let db = self.replica.database();
        let written = if resolved {
            followed_incidents::unfollow(db, &fence, row.incident_id, row.card_ts).await
        } else {
            followed_incidents::update(db, &fence, &row).await
        };
        match written.map_err(unreachable)? {
            FencedWrite::Written { .. } => Ok(()),
            FencedWrite::Refused => Err(CoordinationError::NotLeader),
        }
    }

    fn role(&self) -> ReplicaRole {
        if let Some(term) = self.leader_term() {
            return ReplicaRole::Leader(term);
        }
        match &*self.replica.role().borrow() {
            Role::Follower { .. } => ReplicaRole::Follower,
            // A leader past its renew deadline (a pause) is not one any more; nor does it know who is.
            Role::Leader { .. } | Role::Unknown(_) => ReplicaRole::Unknown,
        }
    }

    fn shares_stalks(&self) -> bool {
        true
    }

    async fn stalks(&self) -> Result<Vec<SharedStalk>, CoordinationError> {
        let rows = stalks::list(self.replica.database())
            .await
            .map_err(unreachable)?;
        let mut shared = Vec::with_capacity(rows.len());
        for row in rows {
            let Ok(target) = serde_json::from_value::<ChatTarget>(row.target) else {
                // A row this release cannot read (written by a newer one): not ours to stalk.
                tracing::warn!(channel = %row.channel, "unreadable stalk target; ignoring the channel");
                continue;
            };
            // An unreadable last post (a newer release's) is as if none: the channel is told the state.
            let last_posted = row
                .last_posted
                .and_then(|json| serde_json::from_value::<Posted>(json).ok());
            shared.push(SharedStalk {
                target,
                since: row.since,
                last_posted,
            });
        }
        Ok(shared)
    }

    async fn add_stalk(&self, target: &ChatTarget) -> Result<StalkAdded, CoordinationError> {
        let json = serde_json::to_value(target).map_err(unreachable)?;
        match stalks::add(self.replica.database(), &target.channel, &json)
            .await
            .map_err(unreachable)?
        {
            Added::New(since) => Ok(StalkAdded::Added { since }),
            Added::Already(since) => Ok(StalkAdded::Already { since }),
        }
    }

    async fn remove_stalk(
        &self,
        channel: &str,
    ) -> Result<Option<std::time::SystemTime>, CoordinationError> {
        stalks::remove(self.replica.database(), channel)
            .await
            .map_err(unreachable)
    }

    async fn record_stalk_post(
        &self,
        term: LeaderTerm,
        channel: &str,
        posted: &Posted,
    ) -> Result<(), CoordinationError> {
        let json = serde_json::to_value(posted).map_err(unreachable)?;
        let fence = Fence::new(LEADER_LEASE, Epoch(term.0));
        match stalks::record_post(self.replica.database(), &fence, channel, &json)
            .await
            .map_err(unreachable)?
        {
            FencedWrite::Written { .. } => Ok(()),
            FencedWrite::Refused => Err(CoordinationError::NotLeader),
        }
    }
}

/// A followed card as its row, `None` for a reply without a card.
fn followed_row<'a>(
    followed: &'a Followed,
    json: &'a serde_json::Value,
) -> Option<FollowedRow<'a>> {
    let card = followed.reply.card.as_ref()?;
    Some(FollowedRow {
        incident_id: &card.incident_id,
        channel: &followed.message.channel,
        card_ts: &followed.message.ts,
        followed: json,
        status: card.status.as_str(),
    })
}
