//! Slack events seen by any replica of several (`[state] backend = "postgres"`). Slack sends an event again
//! when it thinks the first delivery was not acknowledged (an Events API retry, a Socket Mode envelope sent
//! again), and with several replicas the second delivery may reach another one. Before delivering a command,
//! the inbound route asks [`SeenEvents`] whether some replica handled its `event_id` already. One replica
//! alone needs none: its memory of recent ids ([`super::inbound`]) is enough.
//!
//! The question never costs a command: it waits at most [`SEEN_WAIT`], and an error or a late answer
//! delivers the command (handled twice at worst, never lost).

use std::time::Duration;

use async_trait::async_trait;

/// The longest a command waits for the answer before it is delivered anyway.
pub const SEEN_WAIT: Duration = Duration::from_millis(750);

/// Which Slack events some replica handled.
#[async_trait]
pub trait SeenEvents: Send + Sync + 'static {
    /// True when no replica handled `event_id` yet: this replica handles it now. The error says why the
    /// replicas could not be asked (it never contains a secret).
    async fn first_sighting(&self, event_id: &str) -> Result<bool, String>;
}
