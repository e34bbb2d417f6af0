//! Asking a named actor that may be restarting: look it up in the registry, call it, and if it is not there
//! (its supervisor is restarting it) look again until the deadline.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, MessagingErr, RpcReplyPort};

use crate::deadline::Deadline;

/// How often to look again for an actor that is being restarted.
const RETRY_EVERY: Duration = Duration::from_millis(25);

/// Why an ask got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("{0} did not answer in time")]
    Timeout(&'static str),
    #[error("{0} is not running (restarting?)")]
    Unavailable(&'static str),
}

/// Calls the actor registered as `name` and waits for the answer until `deadline`. `what` names it in errors.
pub async fn ask<M, R>(
    name: &str,
    what: &'static str,
    deadline: Deadline,
    build: impl Fn(RpcReplyPort<R>) -> M,
) -> Result<R, AskError>
where
    M: Message,
    R: Send + 'static,
{
    loop {
        let left = deadline.remaining();
        if left.is_zero() {
            return Err(AskError::Unavailable(what));
        }
        if let Some(actor) = ActorRef::<M>::where_is(name) {
            match actor.call(&build, Some(left)).await {
                Ok(CallResult::Success(r)) => return Ok(r),
                Ok(CallResult::Timeout) => return Err(AskError::Timeout(what)),
                // It died while handling the call, or before reading it: look again.
                Ok(CallResult::SenderError)
                | Err(MessagingErr::SendErr(_))
                | Err(MessagingErr::ChannelClosed) => {}
                Err(MessagingErr::InvalidActorType) => return Err(AskError::Unavailable(what)),
            }
        }
        tokio::time::sleep(RETRY_EVERY.min(deadline.remaining())).await;
    }
}
