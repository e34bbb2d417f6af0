//! Supervision: how children are restarted and when one is failing, and how one actor finds and calls another
//! that may be restarting. The machinery, not the tree: the root supervisor that knows every child is
//! [`crate::root`], and the stalks actor supervises its stalks with the same [`child`] records.
//!
//! - [`child`]: one supervised child's record: failures, restart backoff and budget.
//! - [`backoff`]: the restart policy: backoff delays and the restart budget.
//! - [`chaos`]: crashing a named actor on purpose, for drills.
//! - [`ask`]: the one way to call a named actor (that may be restarting): `ask` by a deadline,
//!   `ask_if_running`, `tell`.
//! - [`names`]: the registry names of one tree.
//!
//! Imports no other folder: every folder may use it.

pub mod ask;
pub mod backoff;
pub mod chaos;
pub mod child;
pub mod names;
