//! Commands: chat text to a [`parse::Command`], the gateway that runs each one within its deadline, and the
//! replies.
//!
//! - [`parse`]: chat text to [`parse::Command`], and the help generated from it.
//! - [`gateway`]: the gateway actor: inbound message to command to reply, delivered with a receipt so a gateway
//!   crash loses none; [`in_flight`] counts what is still to be answered.
//! - [`run`]: what each `!ic` command does, with which actor, within which deadline; [`status`] the `!status`
//!   ones, [`admin`] the admins' `!ic refresh` and `!ic crash`.
//! - [`incidents`]: `!ic incidents`, `ack`, `resolve`, `note` (after the page), recorded in
//!   [`incident_audit`].
//! - [`cover`]: `!ic cover <schedule> [duration]` and `... cancel`, PagerDuty schedule overrides.
//! - [`access`]: where paging is allowed, whether DMs are answered, who is an admin.
//! - [`format`]: the `!ic` replies, as [`crate::reply::Reply`] documents.
//!
//! Asks `cache`, `pager` and `status` for what a command needs; never the reverse.

pub mod access;
pub mod admin;
#[cfg(test)]
mod answers_in_time;
pub mod cover;
pub mod format;
pub mod gateway;
pub mod in_flight;
pub mod incident_audit;
pub mod incidents;
pub mod parse;
pub mod run;
pub mod status;
