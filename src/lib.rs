//! icbot: the edges of the incident-response ChatOps bot (CLI, config, HTTP clients, chat, stub).
//!
//! Layout:
//! - `pagerduty`: the PagerDuty REST API v2 client, the core's `PagerDutyApi` over HTTP.
//! - `stub`: the bundled PagerDuty and monitoring stub server, for demos, chaos drills and tests.

pub mod pagerduty;
pub mod stub;
