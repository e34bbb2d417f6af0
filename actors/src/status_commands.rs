//! `!status`, `!status stalk`, `!status unstalk`: asked of the `status` and `stalks` actors.

use tokio::time::Instant;

use crate::chat::InboundMessage;
use crate::command::Command;
use crate::names::ActorNames;
use crate::reply::Reply;

pub async fn run(
    _names: &ActorNames,
    _msg: &InboundMessage,
    _command: &Command,
    _deadline: Instant,
) -> Reply {
    Reply::text("!status is not wired yet")
}
