//! One supervised child's record, shared by every supervisor in the tree (the root and the stalks actor):
//! its failures, its restart backoff and budget, and the one error line when it goes over budget.

use std::time::SystemTime;

use serde::Serialize;

/// One failure of a child: why, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub at: SystemTime,
}

/// The one error line for a child crossing its restart budget (every failure has its own line too).
pub(crate) fn over_budget(actor: &str, streak: u32) {
    tracing::error!(
        actor = %actor,
        consecutive_failures = streak,
        "over restart budget: failing; restarts go on with backoff"
    );
}
