//! icbot: the edges of the incident-response ChatOps bot (CLI, config, HTTP clients, chat, stub).
//!
//! Layout:
//! - `pagerduty`: the PagerDuty REST API v2 client, the core's `PagerDutyApi` over HTTP.
//! - `slack`: the Slack chat adapter: replies via the Web API, commands via Socket Mode or the Events API.
//! - `stub`: the bundled PagerDuty and monitoring stub server, for demos, chaos drills and tests.

pub mod pagerduty;
pub mod slack;
pub mod stub;
