//! Incidents after the page: the `incidents` actor follows every incident whose page card the bot posted,
//! until it is resolved, and keeps the card true whoever changed the incident (a button, a command, or
//! PagerDuty's own app).
//!
//! - [`follower`]: the actor. One `GET /incidents` per `[incidents] poll_interval` for all the incidents it
//!   follows; a change of status or of who acknowledged updates the card in place (`ChatOut::update`) and
//!   posts one line in its thread on acknowledge and resolve. Its followed set is saved through the
//!   `StateStore` on every change (`incidents_followed.json`), so it survives a restart and its own crash.
//!
//! - [`followed`]: [`followed::Followed`], a card followed, shared by the follower and the port.
//!
//! - [`status`]: [`status::IncidentStatus`], shared by the port, the card and the follower.
//!
//! Told to follow by the gateway (`commands`) when a page reply with a card is posted; talks to PagerDuty and
//! the chat through the ports. Supervised by the root.

pub mod followed;
pub mod follower;
pub mod status;
