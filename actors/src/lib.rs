//! icbot's core: what the bot knows and does, with no HTTP in it.
//!
//! The world comes in through the port traits in [`ports`]; the crate `icbot` implements them over PagerDuty,
//! Slack, monitoring and the file system, and tests implement them in memory.
//!
//! Layout, the domain:
//! - [`command`]: chat text to [`command::Command`], and the help generated from it.
//! - [`chat`]: an inbound message and where its reply goes.
//! - [`oncall`]: people, phones, schedules and the [`oncall::OnCallSnapshot`].
//! - [`directory`]: which person a user means by `<user>`.
//! - [`system_state`]: what monitoring says (NORMAL, DEGRADED, CRITICAL, or unable to check).
//! - [`reply`]: a reply as lines of spans, rendered by each chat adapter; [`format`] builds the `!ic` ones,
//!   [`status_format`] the `!status` ones.
//! - [`ports`]: the traits the core talks to the world through, and their error types.
//! - [`state_store`]: state files written atomically, and an in-memory store for tests; [`store_health`]
//!   counts and publishes failed state writes.
//!
//! The supervision tree:
//! - [`root`]: the root supervisor; restarts any failed child with [`backoff`] (and its restart budget),
//!   counts restarts.
//! - [`gateway`]: inbound message to command to reply, delivered with a receipt so a gateway crash loses
//!   none; [`commands`] runs each command within its deadline,
//!   [`status_commands`] the `!status` ones; [`in_flight`] counts what is still to be answered.
//! - [`schedule_cache`]: on-call snapshots refreshed from PagerDuty, persisted, served at once.
//! - [`pager`]: pages and per-person outcomes; [`page_audit`] the write-ahead audit log, [`page_dedup`] repeats
//!   (a table made at wiring, so it outlives the pager).
//! - [`status`]: the one prober of monitoring; publishes each poll to the stalks.
//! - [`stalks`]: the stalking channels (saved across process restarts, kept in memory across its own in
//!   [`stalks::KeptStalks`]), supervisor of one [`stalk`] actor per channel.
//! - [`access`]: where paging is allowed, whether DMs are answered, who is an admin; [`admin_commands`]
//!   the admins' `!ic refresh` and `!ic crash`.
//! - [`chaos`]: crashing a named actor on purpose, for drills.
//! - [`utc`]: calendar times for people and APIs.
//! - [`ask`]: calling a named actor that may be restarting; [`names`]: the registry names of a tree.
//! - [`metric_names`]: every metric the bot exports, its labels, and who emits it.
//! - `fakes` (tests only): in-memory PagerDuty, probe and chat; `hostile_input` (tests only): property tests
//!   of the parser and every formatter over hostile text.

pub mod access;
pub mod admin_commands;
pub mod ask;
pub mod backoff;
pub mod chaos;
pub mod chat;
pub mod command;
pub mod commands;
pub mod directory;
pub mod format;
pub mod gateway;
pub mod in_flight;
pub mod metric_names;
pub mod names;
pub mod oncall;
pub mod page_audit;
pub mod page_dedup;
pub mod pager;
pub mod ports;
pub mod reply;
pub mod root;
pub mod schedule_cache;
pub mod stalk;
pub mod stalks;
pub mod state_store;
pub mod status;
pub mod status_commands;
pub mod status_format;
pub mod store_health;
pub mod system_state;
pub mod utc;

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod hostile_input;
