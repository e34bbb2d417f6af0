//! icbot's core: what the bot knows and does, with no HTTP in it.
//!
//! The world comes in through the port traits in [`ports`]; the crate `icbot` implements them over PagerDuty,
//! Slack, monitoring and the file system, and tests implement them in memory.
//!
//! Layout, one folder per owner (each folder's `mod.rs` says what it owns and whom it talks to). Folders import
//! each other one way only, and no module imports one that imports it back (`layout_test` fails otherwise):
//! - [`supervision`]: the machinery every supervisor uses: one child's failures, restart backoff and budget,
//!   chaos drills by name, the registry names, and [`supervision::ask`] for calling an actor that may be
//!   restarting. It imports no other folder.
//! - [`commands`]: chat text to a command, the gateway that runs each one within its deadline, access rules,
//!   and the replies (the `!ic` ones in [`commands::format`]).
//! - [`cache`]: the schedule cache actor, the on-call snapshot and the directory of people, and what follows a
//!   good refresh: handoff announcements and chat user groups kept to the people on call.
//! - [`pager`]: what a page is, the pager actor, the write-ahead page audit log and repeat detection.
//! - [`status`]: the monitoring prober, the stalks supervisor and its stalk actors, the `!status` replies.
//! - [`incidents`]: after the page, the actor that follows the bot's incidents and keeps their cards true.
//! - [`state_store`]: state files written atomically, an in-memory store for tests, failed-write accounting.
//!
//! At the top, the root that knows every folder, and what every folder shares:
//! - [`root`]: the root supervisor, registered as `icbot`: spawns every child, restarts any that fails, and
//!   crashes one on purpose for a chaos drill.
//! - [`chat`]: an inbound message and where its reply goes.
//! - [`deadline`]: a command's deadline, carried from the chat message to the PagerDuty call, and the one
//!   margin kept back to answer.
//! - [`reply`]: a reply as lines of spans, rendered by each chat adapter.
//! - [`ports`]: the traits the core talks to the world through, and their error types.
//! - [`metric_names`]: every metric the bot exports, its labels, and who emits it.
//! - [`truncate`]: cutting text by characters, for echoes, logs and error messages.
//! - [`utc`]: calendar times for people and APIs.
//! - [`local_time`]: shift ends and starts in the reader's time zone, relative to now.
//! - `fakes` (tests only): in-memory PagerDuty, probe and chat; `hostile_input` (tests only): property tests
//!   of the parser and every formatter over hostile text; `layout_test` (tests only): no import circles.

pub mod cache;
pub mod chat;
pub mod commands;
pub mod deadline;
pub mod incidents;
pub mod local_time;
pub mod metric_names;
pub mod pager;
pub mod ports;
pub mod reply;
pub mod root;
pub mod state_store;
pub mod status;
pub mod supervision;
pub mod truncate;
pub mod utc;

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod hostile_input;
#[cfg(test)]
mod layout_test;
