//! The one way an actor (or a command's task) calls another by its registry name:
//! - [`ask`]: a request that wants an answer by a [`Deadline`]; while the actor is not there (its supervisor
//!   is restarting it) it looks again until the deadline.
//! - [`ask_if_running`]: the same, but only of the actor running now: "not running" is itself the answer.
//! - [`tell`]: a message that wants no answer, to the actor running now.
//!
//! None of them retries an actor that answered, or failed, on its own terms: retries of the outside world live
//! in the adapters (the PagerDuty client, the chat adapters), never on top of them.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, MessagingErr, RpcReplyPort};

use crate::deadline::Deadline;

/// How often to look again for an actor that is being restarted.
const RETRY_EVERY: Duration = Duration::from_millis(25);

/// Why an ask got no answer, or a tell was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("{0} did not answer in time")]
    Timeout(&'static str),
    #[error("{0} is not running (restarting?)")]
    Unavailable(&'static str),
}

/// How one call went.
enum Called<R> {
    Answered(R),
    TimedOut,
    /// Not registered, or it died before answering.
    Gone,
    /// Registered under that name with another message type: a wiring bug, not worth waiting for.
    WrongType,
}

async fn call_once<M, R>(
    name: &str,
    deadline: Deadline,
    build: impl FnOnce(RpcReplyPort<R>) -> M,
) -> Called<R>
where
    M: Message,
    R: Send + 'static,
{
    let Some(actor) = ActorRef::<M>::where_is(name) else {
        return Called::Gone;
    };
    // Bounded by the deadline's own instant (not a duration from now), so an ask ending at the same
    // deadline as its caller's backstop answers first: the caller's answer, not its "did not finish".
    match deadline.timeout(actor.call(build, None)).await {
        Err(_) | Ok(Ok(CallResult::Timeout)) => Called::TimedOut,
        Ok(Ok(CallResult::Success(r))) => Called::Answered(r),
        Ok(Ok(CallResult::SenderError))
        | Ok(Err(MessagingErr::SendErr(_)))
        | Ok(Err(MessagingErr::ChannelClosed)) => Called::Gone,
        Ok(Err(MessagingErr::InvalidActorType)) => Called::WrongType,
    }
}

/// Calls the actor registered as `name` and waits for the answer until `deadline`; while it is not there, or
/// dies before answering, looks again. `what` names it in errors.
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
        if deadline.has_passed() {
            return Err(AskError::Unavailable(what));
        }
        match call_once(name, deadline, &build).await {
            Called::Answered(r) => return Ok(r),
            Called::TimedOut => return Err(AskError::Timeout(what)),
            Called::WrongType => return Err(AskError::Unavailable(what)),
            Called::Gone => {}
        }
        tokio::time::sleep(RETRY_EVERY.min(deadline.remaining())).await;
    }
}

/// Calls the actor registered as `name` if it is running now, and waits for the answer until `deadline`.
pub async fn ask_if_running<M, R>(
    name: &str,
    what: &'static str,
    deadline: Deadline,
    build: impl FnOnce(RpcReplyPort<R>) -> M,
) -> Result<R, AskError>
where
    M: Message,
    R: Send + 'static,
{
    match call_once(name, deadline, build).await {
        Called::Answered(r) => Ok(r),
        Called::TimedOut => Err(AskError::Timeout(what)),
        Called::Gone | Called::WrongType => Err(AskError::Unavailable(what)),
    }
}

/// Sends `message` to the actor registered as `name` if it is running now; no answer is awaited.
pub fn tell<M: Message>(name: &str, what: &'static str, message: M) -> Result<(), AskError> {
    ActorRef::<M>::where_is(name)
        .ok_or(AskError::Unavailable(what))?
        .cast(message)
        .map_err(|_| AskError::Unavailable(what))
}

#[cfg(test)]
mod tests {
    use ractor::{Actor, ActorProcessingErr};

    use super::*;

    /// Answers `Double(n)` with `2 n`, ignores `Hold` (keeping its reply port), counts `Note`s.
    struct Doubler;

    enum DoublerMessage {
        Double(u32, RpcReplyPort<u32>),
        Hold(RpcReplyPort<u32>),
        Note(tokio::sync::mpsc::UnboundedSender<()>),
    }

    impl Actor for Doubler {
        type Msg = DoublerMessage;
        type State = Vec<RpcReplyPort<u32>>;
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<DoublerMessage>,
            _args: (),
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(Vec::new())
        }

        async fn handle(
            &self,
            _myself: ActorRef<DoublerMessage>,
            message: DoublerMessage,
            held: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            match message {
                DoublerMessage::Double(n, reply) => {
                    let _ = reply.send(2 * n);
                }
                DoublerMessage::Hold(reply) => held.push(reply),
                DoublerMessage::Note(seen) => {
                    let _ = seen.send(());
                }
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ask_waits_for_an_actor_that_starts_late_and_ask_if_running_does_not() {
        let name = "ask-tests/late";
        let deadline = Deadline::after(Duration::from_secs(5));
        let not_yet = ask_if_running(name, "the doubler", deadline, |r| {
            DoublerMessage::Double(1, r)
        })
        .await;
        assert_eq!(not_yet, Err(AskError::Unavailable("the doubler")));
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Actor::spawn(Some(name.into()), Doubler, ())
                .await
                .unwrap()
                .0
        });
        let answer = ask(name, "the doubler", deadline, |r| {
            DoublerMessage::Double(21, r)
        })
        .await;
        assert_eq!(answer, Ok(42));
        late.await.unwrap().stop(None);
    }

    #[tokio::test(start_paused = true)]
    async fn ask_gives_up_at_the_deadline() {
        let name = "ask-tests/holds";
        let (doubler, _) = Actor::spawn(Some(name.into()), Doubler, ()).await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = ask(
            name,
            "the doubler",
            Deadline::after(Duration::from_secs(2)),
            DoublerMessage::Hold,
        )
        .await;
        assert_eq!(answer, Err(AskError::Timeout("the doubler")));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let nobody = ask(
            "ask-tests/nobody",
            "nobody",
            Deadline::after(Duration::from_secs(1)),
            DoublerMessage::Hold,
        )
        .await;
        assert_eq!(nobody, Err(AskError::Unavailable("nobody")));
        doubler.stop(None);
    }

    #[tokio::test]
    async fn tell_reaches_a_running_actor_and_says_when_there_is_none() {
        let name = "ask-tests/tell";
        let (seen, mut noted) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(
            tell(name, "the doubler", DoublerMessage::Note(seen.clone())),
            Err(AskError::Unavailable("the doubler"))
        );
        let (doubler, _) = Actor::spawn(Some(name.into()), Doubler, ()).await.unwrap();
        tell(name, "the doubler", DoublerMessage::Note(seen)).unwrap();
        noted.recv().await.expect("told");
        doubler.stop(None);
    }
}
