//! The gate of a stalk posting for the leader of several replicas: the role is checked right before each
//! post, and each post is recorded in the coordination database, fenced by the leader term, so a new leader
//! tells only the next change. One gate per term, shared by its stalks: once a record is refused (the
//! tenure is over) none of them posts again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::ports::{Coordination, CoordinationError, LeaderTerm};
use crate::status::system_state::Posted;

/// What every stalk of one leader term checks right before each post, and records after it. Shared by the
/// stalks of the term: once one record is refused, the term is over for all of them.
pub struct LeaderGate {
    coordination: Arc<dyn Coordination>,
    term: LeaderTerm,
    refused: AtomicBool,
}

impl LeaderGate {
    pub fn new(coordination: Arc<dyn Coordination>, term: LeaderTerm) -> Arc<LeaderGate> {
        Arc::new(LeaderGate {
            coordination,
            term,
            refused: AtomicBool::new(false),
        })
    }

    /// The term it posts in.
    pub fn term(&self) -> LeaderTerm {
        self.term
    }

    /// Whether this replica still leads in the gate's term.
    pub fn may_post(&self) -> bool {
        !self.refused.load(Ordering::SeqCst) && self.coordination.leader_term() == Some(self.term)
    }

    /// Records what `channel` was just told, fenced by the term. A refusal stops every post of the term; an
    /// unreachable database is logged (the post stands, only a new leader may repeat it).
    pub async fn record(&self, channel: &str, posted: &Posted) {
        match self
            .coordination
            .record_stalk_post(self.term, channel, posted)
            .await
        {
            Ok(()) => {}
            Err(CoordinationError::NotLeader) => {
                tracing::warn!(channel = %channel, term = self.term.0,
                    "stalk post record refused: no longer the leader; stalks stop posting");
                self.refused.store(true, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::warn!(error = %e, channel = %channel, "cannot record a stalk post");
            }
        }
    }
}
