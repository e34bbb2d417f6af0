//! `!status`, `!status stalk`, `!status unstalk`: asked of the `status` and `stalks` actors by name, answered
//! within the status deadline even while those actors restart.
//!
//! Stalk and unstalk change state, so the gateway sends them from its own handler, in arrival order
//! ([`send_in_order`]); only the wait for the answer runs in the command's task. `!status stalk` then
//! `!status unstalk` thus always apply in that order.

use crate::deadline::Deadline;
use tokio::sync::oneshot;

use crate::chat::InboundMessage;
use crate::commands::parse::Command;
use crate::reply::Reply;
use crate::status::actor::StatusMessage;
use crate::status::format::{self as status_format, UNABLE};
use crate::status::stalks::StalksMessage;
use crate::supervision::ask::{ask, tell};
use crate::supervision::names::ActorNames;

/// The answer to a command already sent to its actor.
pub type SentCommand = oneshot::Receiver<Reply>;

/// Sends stalk or unstalk to the `stalks` actor now, returning where its answer will come; `None` for other
/// commands, or when the actor is not running (the task then asks, waiting for it to come back).
pub fn send_in_order(
    names: &ActorNames,
    msg: &InboundMessage,
    command: &Command,
) -> Option<SentCommand> {
    let (tx, rx) = oneshot::channel();
    let message = match command {
        Command::Stalk => StalksMessage::Stalk(msg.reply_to.clone(), tx.into()),
        Command::Unstalk => StalksMessage::Unstalk(msg.reply_to.channel.clone(), tx.into()),
        _ => return None,
    };
    tell(&names.stalks(), "the stalk supervisor", message).ok()?;
    Some(rx)
}

/// Runs one of the `!status` commands by `deadline`, using the answer of an already `sent` one.
pub async fn run(
    names: &ActorNames,
    msg: &InboundMessage,
    command: &Command,
    sent: Option<SentCommand>,
    deadline: Deadline,
) -> Reply {
    if let Some(answer) = sent {
        match deadline.timeout(answer).await {
            Ok(Ok(reply)) => return reply,
            // The actor died before answering: ask again below, waiting for its restart.
            Ok(Err(_)) => tracing::warn!("stalks actor dropped a command; asking again"),
            Err(_) => {
                return Reply::text("⚠ The stalk supervisor did not answer in time. Try again.")
                    .alerting()
            }
        }
    }
    match command {
        Command::Status => match ask(
            &names.status(),
            "the status checker",
            deadline,
            StatusMessage::Check,
        )
        .await
        {
            Ok(check) => status_format::status_reply(&check),
            Err(e) => {
                tracing::error!(error = %e, "no answer from the status actor");
                Reply::text(format!("⚠ {UNABLE}: {e}")).alerting()
            }
        },
        Command::Stalk => {
            let target = msg.reply_to.clone();
            ask(&names.stalks(), "the stalk supervisor", deadline, |reply| {
                StalksMessage::Stalk(target.clone(), reply)
            })
            .await
            .unwrap_or_else(|e| {
                Reply::text(format!("⚠ Could not start stalking: {e}. Try again.")).alerting()
            })
        }
        Command::Unstalk => {
            let channel = msg.reply_to.channel.clone();
            ask(&names.stalks(), "the stalk supervisor", deadline, |reply| {
                StalksMessage::Unstalk(channel.clone(), reply)
            })
            .await
            .unwrap_or_else(|e| {
                Reply::text(format!("⚠ Could not stop stalking: {e}. Try again.")).alerting()
            })
        }
        other => {
            tracing::error!(command = other.name(), "not a status command");
            Reply::text("That is not a `!status` command.")
        }
    }
}
