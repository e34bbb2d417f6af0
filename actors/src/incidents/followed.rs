//! [`Followed`]: one incident whose card the bot keeps true. Shared by the follower and the
//! `Coordination` port (several replicas share the followed set); it imports neither.

use serde::{Deserialize, Serialize};

use crate::chat::MessageRef;
use crate::reply::Reply;

/// One incident followed: its card's message, and the reply the card was posted with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followed {
    pub message: MessageRef,
    /// The page reply as posted; its card holds the status the card shows now.
    pub reply: Reply,
}

impl Followed {
    /// The incident's PagerDuty id; `None` for a reply without a card (never followed).
    pub fn incident_id(&self) -> Option<&str> {
        self.reply.card.as_ref().map(|c| c.incident_id.as_str())
    }
}
