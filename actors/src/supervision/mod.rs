//! Supervision: the root of the tree, how children are restarted and when one is failing, and how one actor
//! finds and calls another that may be restarting.
//!
//! - [`root`]: the root supervisor; spawns every child, restarts any that fails.
//! - [`backoff`]: the restart policy: backoff delays and the restart budget.
//! - [`chaos`]: crashing a named actor on purpose, for drills.
//! - [`ask`]: the one way to call a named actor (that may be restarting): `ask` by a deadline,
//!   `ask_if_running`, `tell`.
//! - [`names`]: the registry names of one tree.
//!
//! Talks to every other folder only through the actors it spawns.

pub mod ask;
pub mod backoff;
pub mod chaos;
pub mod names;
pub mod root;
