//! icbot: the edges of the incident-response ChatOps bot (CLI, config, HTTP clients, chat, stub).
//!
//! Layout:
//! - `stub`: the bundled PagerDuty and monitoring stub server, for demos, chaos drills and tests.

pub mod stub;
