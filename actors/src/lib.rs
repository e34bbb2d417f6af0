//! icbot's core: what the bot knows and does, with no HTTP in it.
//!
//! The world comes in through the port traits in [`ports`]; the crate `icbot` implements them over PagerDuty,
//! Slack, monitoring and the file system, and tests implement them in memory.
//!
//! Layout, one folder per owner (each folder's `mod.rs` says what it owns and whom it talks to):
//! - [`supervision`]: the root supervisor, the restart policy and budget, chaos drills, the registry names,
//!   and [`supervision::ask`] for calling an actor that may be restarting.
//! - [`commands`]: chat text to a command, the gateway that runs each one within its deadline, access rules,
//!   and the replies (the `!ic` ones in [`commands::format`]).
//! - [`cache`]: the schedule cache actor, the on-call snapshot and the directory of people.
//! - [`pager`]: the pager actor, the write-ahead page audit log and repeat detection.
//! - [`status`]: the monitoring prober, the stalks supervisor and its stalk actors, the `!status` replies.
//! - [`incidents`]: after the page, the actor that follows the bot's incidents and keeps their cards true.
//! - [`state_store`]: state files written atomically, an in-memory store for tests, failed-write accounting.
//!
//! At the top, what every folder shares:
//! - [`chat`]: an inbound message and where its reply goes.
//! - [`ports`]: the traits the core talks to the world through, and their error types.
//! - [`metric_names`]: every metric the bot exports, its labels, and who emits it.
//! - [`utc`]: calendar times for people and APIs.
//! - `fakes` (tests only): in-memory PagerDuty, probe and chat; `hostile_input` (tests only): property tests
//!   of the parser and every formatter over hostile text.

pub mod cache;
pub mod chat;
pub mod commands;
pub mod incidents;
pub mod metric_names;
pub mod pager;
pub mod ports;
pub mod state_store;
pub mod status;
pub mod supervision;
pub mod utc;

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod hostile_input;
