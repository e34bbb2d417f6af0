//! Status: what monitoring says, and the channels that follow it.
//!
//! - [`actor`]: the one prober of monitoring; publishes each poll to the stalks.
//! - [`system_state`]: NORMAL, DEGRADED, CRITICAL, or unable to check.
//! - [`stalks`]: the stalking channels (saved across process restarts, kept in memory across its own in
//!   [`stalks::KeptStalks`]), supervisor of one [`stalk`] actor per channel.
//! - [`format`]: the `!status` replies and stalk posts.
//! - [`leader_gate`]: with several replicas, what a stalk checks before and records after each post.

pub mod actor;
pub mod format;
pub mod leader_gate;
pub mod stalk;
pub mod stalks;
pub mod system_state;
