//! What monitoring says: the overall state of the systems, and how a check can fail.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The overall level, worst last so that `max` picks the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Normal,
    Degraded,
    Critical,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Normal => "NORMAL",
            Level::Degraded => "DEGRADED",
            Level::Critical => "CRITICAL",
        })
    }
}

/// One firing alert, as much as a summary needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiringAlert {
    pub name: String,
    pub severity: String,
}

/// A successful check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub level: Level,
    /// One line: "2 critical, 1 warning: DiskFull, ApiDown, ..." or Statuspage's description.
    pub summary: String,
    pub firing: Vec<FiringAlert>,
}

/// Why a check could not tell the state. Reported loudly: it can be the incident itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProbeError {
    #[error("monitoring did not answer in time (timeout)")]
    Timeout,
    #[error("cannot reach monitoring ({0})")]
    Transport(String),
    #[error("monitoring answered HTTP {0}")]
    Status(u16),
    #[error("monitoring sent an unreadable answer ({0})")]
    Malformed(String),
}

/// What one check found: a level, or that it could not check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SystemState {
    Known(StatusReport),
    Unknown(ProbeError),
}

impl SystemState {
    /// The word users see: NORMAL, DEGRADED, CRITICAL or UNKNOWN.
    pub fn word(&self) -> String {
        match self {
            SystemState::Known(r) => r.level.to_string(),
            SystemState::Unknown(_) => "UNKNOWN".to_string(),
        }
    }

    /// Whether going from `self` to `next` is worth a stalk post: a level change, or losing or regaining the
    /// ability to check. Summaries changing within one level are not.
    pub fn differs_from(&self, next: &SystemState) -> bool {
        match (self, next) {
            (SystemState::Known(a), SystemState::Known(b)) => a.level != b.level,
            (SystemState::Unknown(_), SystemState::Unknown(_)) => false,
            _ => true,
        }
    }
}

impl From<Result<StatusReport, ProbeError>> for SystemState {
    fn from(r: Result<StatusReport, ProbeError>) -> Self {
        match r {
            Ok(report) => SystemState::Known(report),
            Err(e) => SystemState::Unknown(e),
        }
    }
}

/// One check's result and when it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusCheck {
    pub state: SystemState,
    pub checked_at: SystemTime,
}

/// What a stalking channel was last told, and when that state was first seen. Shared between replicas, so a
/// new leader tells only the next change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posted {
    pub state: SystemState,
    pub since: SystemTime,
}
