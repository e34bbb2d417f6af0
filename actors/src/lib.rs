//! icbot's core: what the bot knows and does, with no HTTP in it.
//!
//! The world comes in through the port traits in [`ports`]; the crate `icbot` implements them over PagerDuty,
//! Slack, monitoring and the file system, and tests implement them in memory.
//!
//! Layout:
//! - [`command`]: chat text to [`command::Command`], and the help generated from it.
//! - [`chat`]: an inbound message and where its reply goes.
//! - [`oncall`]: people, phones, schedules and the [`oncall::OnCallSnapshot`].
//! - [`system_state`]: what monitoring says (NORMAL, DEGRADED, CRITICAL, or unable to check).
//! - [`reply`]: a reply as lines of spans, rendered by each chat adapter.
//! - [`ports`]: the traits the core talks to the world through, and their error types.
//! - [`state_store`]: state files written atomically, and an in-memory store for tests.
//! - [`backoff`]: restart delays and budget for the supervisors.
//! - [`names`]: the registry names of a tree's actors.

pub mod backoff;
pub mod chat;
pub mod command;
pub mod directory;
pub mod format;
pub mod names;
pub mod oncall;
pub mod pager;
pub mod ports;
pub mod reply;
pub mod schedule_cache;
pub mod state_store;
pub mod system_state;

#[cfg(test)]
pub(crate) mod fakes;
