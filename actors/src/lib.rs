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
//! - [`status`]: the status actor, the one prober of monitoring; publishes each poll to the stalks.
//! - [`stalks`]: the set of stalking channels (saved across restarts) and the supervisor of their stalk actors.
//! - [`stalk`]: one channel's stalk actor, posting each change of the system state.
//! - [`status_format`]: system states as replies (`!status`, stalk posts, stalk answers).
//! - `fakes` (tests only): a settable probe and a recording chat for the actors' unit tests.

pub mod backoff;
pub mod chat;
pub mod command;
#[cfg(test)]
mod fakes;
pub mod names;
pub mod oncall;
pub mod ports;
pub mod reply;
pub mod stalk;
pub mod stalks;
pub mod state_store;
pub mod status;
pub mod status_format;
pub mod system_state;
