//! The schedule cache: who is on call, from PagerDuty, kept in memory and on disk.
//!
//! - [`schedule_cache`]: the actor that refreshes on-call snapshots from PagerDuty, persists and serves them.
//! - [`oncall`]: people, phones, schedules and the [`oncall::OnCallSnapshot`].
//! - [`directory`]: which person a user means by `<user>`.
//! - [`handoff`]: who took over which schedule between two good snapshots (a pure diff), and its announcement;
//!   [`announcer`] posts them where `[[announce]]` says, once, write-ahead.
//! - [`user_groups`]: chat user groups set to the people on call after each good refresh.

pub mod announcer;
pub mod directory;
pub mod handoff;
pub mod oncall;
pub mod schedule_cache;
pub mod user_groups;
