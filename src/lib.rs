//! icbot: the edges of the incident-response ChatOps bot. The core (commands, actors, port traits) is the
//! crate `icbot-actors`; this crate implements its ports over the world and wires the bot together.
//!
//! Layout:
//! - `admin`: the admin HTTP server: health, readiness, the live actor tree, Prometheus metrics, chaos.
//! - `cli`: the command line (`run`, `check-config`, `stub`); `main.rs` only calls it.
//! - `config`: the TOML file, `ICBOT_<SECTION>__<KEY>` overrides, secrets from the environment, checks that
//!   name every problem's key and line.
//! - `app`: builds the ports from the config and starts the supervision tree.
//! - `ha`: several replicas on one PostgreSQL: the coordination database, leader lease, fenced writes.
//! - `health`: `icbot health`, the admin server's readiness and tree in a terminal.
//! - `html`: HTML escaping for the pages icbot serves.
//! - `instance`: which bot this is (pid, start time), and the state dir lock: one bot per state dir.
//! - `console`: console chat (stdin in, stdout out, replies in input order).
//! - `crypto`: the process's rustls crypto provider (ring), installed once.
//! - `monitoring`: the `!status` probes (Alertmanager, Statuspage), the core's `StatusProbe` over HTTP.
//! - `pagerduty`: the PagerDuty REST API v2 client, the core's `PagerDutyApi` over HTTP.
//! - `slack`: the Slack chat adapter: replies via the Web API, commands via Socket Mode or the Events API.
//! - `stub`: the bundled PagerDuty and monitoring stub server, for demos, chaos drills and tests.
//! - `telemetry`: logging: stderr (colours only on a terminal), or a file for interactive console sessions.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod crypto;
pub mod ha;
pub mod health;
pub mod html;
pub mod instance;
pub mod monitoring;
pub mod pagerduty;
pub mod slack;
pub mod stub;
pub mod telemetry;
