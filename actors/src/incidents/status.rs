//! [`IncidentStatus`]: where an incident is in its life. Shared by the port (PagerDuty's answers), the reply's
//! card and the follower; it imports nothing, so every one of them may use it.

use serde::{Deserialize, Serialize};

/// Where an incident is in its life, as PagerDuty names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    /// PagerDuty's word for it: `triggered`, `acknowledged`, `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// PagerDuty's word read back; `None` for anything else.
    pub fn parse(word: &str) -> Option<IncidentStatus> {
        match word {
            "triggered" => Some(IncidentStatus::Triggered),
            "acknowledged" => Some(IncidentStatus::Acknowledged),
            "resolved" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }
}

impl std::fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
