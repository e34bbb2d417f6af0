//! End-to-end tests: the real tree, the real PagerDuty client and probes, against the bundled stub on
//! 127.0.0.1:0; and the real binary on the shipped config.

mod admin;
mod chat_admin;
mod console;
mod cover;
mod faults;
mod first_hour;
mod ha;
mod handoffs;
mod helpers;
mod ic_commands;
mod incidents;
mod odd_data;
mod pages;
mod process;
mod refresh_at_scale;
mod restarts;
mod status;
mod supervision;
