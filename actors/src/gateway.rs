//! The gateway: every inbound chat message becomes a [`Command`], handled in its own task by the actor that
//! owns it, and answered within the command's deadline.
//!
//! Child of the root supervisor, registered as `gateway`. Chat adapters (console, Slack) hand messages to a
//! [`GatewayHandle`], which finds the gateway in the registry and waits for it while it restarts. The gateway
//! asks `schedule_cache`, `pager`, `status` and `stalks` by name (see [`crate::ask`]), and posts replies
//! through [`ChatOut`], each cut to [`MAX_REPLY_CHARS`]. A command that is not ours is ignored; one of ours typed wrongly gets a one-line hint.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::chat::InboundMessage;
use crate::command::Command;
use crate::commands::{run_command, CommandContext};
use crate::in_flight::{InFlight, InFlightGuard};
use crate::metric_names;
use crate::names::ActorNames;
use crate::ports::ChatOut;
use crate::reply::{Reply, MAX_REPLY_CHARS};
use crate::status_commands;

/// How long a reply may take to post before the gateway gives up on it (the chat adapter retries inside).
const POST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a message waits for a restarting gateway before it is dropped with an error log.
const DELIVER_PATIENCE: Duration = Duration::from_secs(30);

pub struct GatewayActor;

pub struct GatewayArgs {
    pub context: Arc<CommandContext>,
}

pub enum GatewayMessage {
    /// A chat message, counted in flight until answered.
    Inbound(InboundMessage, InFlightGuard),
    /// Chaos: fail inside the actor, as a bug would.
    Crash,
}

pub struct GatewayState {
    context: Arc<CommandContext>,
}

impl Actor for GatewayActor {
    type Msg = GatewayMessage;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<GatewayState, ActorProcessingErr> {
        Ok(GatewayState {
            context: args.context,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GatewayMessage::Inbound(msg, guard) => state.inbound(msg, guard),
            GatewayMessage::Crash => return Err("crash requested (chaos)".into()),
        }
        Ok(())
    }
}

impl GatewayState {
    fn inbound(&self, msg: InboundMessage, guard: InFlightGuard) {
        let command = match Command::parse(&msg.text) {
            Ok(None) => return,
            Ok(Some(command)) => match self.context.access.check(&msg, &command) {
                Ok(()) => Ok(command),
                Err(refusal) => {
                    tracing::info!(user = %msg.user, channel = %msg.reply_to.channel, command = command.name(), "refused by [access]");
                    Err(refusal)
                }
            },
            Err(hint) => {
                tracing::info!(user = %msg.user, channel = %msg.reply_to.channel, hint = %hint, "bad command");
                Err(Reply::text(hint.0))
            }
        };
        let sent = command
            .as_ref()
            .ok()
            .and_then(|c| status_commands::send_in_order(&self.context.names, &msg, c));
        let context = self.context.clone();
        let name = command.as_ref().map(Command::name).unwrap_or("invalid");
        let span = tracing::info_span!(
            "command",
            name,
            user = %msg.user,
            channel = %msg.reply_to.channel
        );
        let task = async move {
            let started = Instant::now();
            let (reply, outcome) = match command {
                Ok(command) => {
                    let reply = run_command(&context, &msg, command, sent).await;
                    let outcome = if reply.alert { "alert" } else { "ok" };
                    (reply, outcome)
                }
                Err(hint) => (hint, "invalid"),
            };
            metric_names::command_answered(name, outcome, started.elapsed());
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                alert = reply.alert,
                "answered"
            );
            let reply = reply.bounded(MAX_REPLY_CHARS);
            post(context.chat.as_ref(), &msg, &reply).await;
            drop(guard);
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
    }
}

async fn post(chat: &dyn ChatOut, msg: &InboundMessage, reply: &Reply) {
    match tokio::time::timeout(POST_TIMEOUT, chat.post(&msg.reply_to, reply)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, reply = %reply.plain(), "could not post a reply"),
        Err(_) => tracing::error!(reply = %reply.plain(), "posting a reply timed out"),
    }
}

/// What chat adapters hold: delivers messages to the gateway in order, waiting for it while it restarts, and
/// counts them in flight until answered.
#[derive(Clone)]
pub struct GatewayHandle {
    tx: mpsc::UnboundedSender<(InboundMessage, InFlightGuard)>,
    in_flight: InFlight,
}

impl GatewayHandle {
    /// Starts the forwarding task on the current runtime.
    pub fn new(names: &ActorNames, in_flight: InFlight) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(InboundMessage, InFlightGuard)>();
        let name = names.gateway();
        tokio::spawn(async move {
            while let Some((msg, guard)) = rx.recv().await {
                forward(&name, msg, guard).await;
            }
        });
        GatewayHandle { tx, in_flight }
    }

    /// Hands one message to the gateway.
    pub fn deliver(&self, msg: InboundMessage) {
        self.send(msg, self.in_flight.enter());
    }

    /// Hands one message to the gateway; the receiver resolves once it is done: answered (the reply
    /// posted), ignored (not a command), or given up. An adapter that prints replies in input order waits on
    /// it, so a message that gets no reply never holds up the ones after it.
    pub fn deliver_noted(&self, msg: InboundMessage) -> oneshot::Receiver<()> {
        let (guard, done) = self.in_flight.enter_noted();
        self.send(msg, guard);
        done
    }

    fn send(&self, msg: InboundMessage, guard: InFlightGuard) {
        if self.tx.send((msg, guard)).is_err() {
            tracing::error!("gateway forwarder stopped; message dropped");
        }
    }

    /// Waits until every delivered message is answered, at most `within`.
    pub async fn drain(&self, within: Duration) -> bool {
        self.in_flight.drained(within).await
    }
}

async fn forward(name: &str, mut msg: InboundMessage, mut guard: InFlightGuard) {
    let give_up = Instant::now() + DELIVER_PATIENCE;
    loop {
        if let Some(gateway) = ActorRef::<GatewayMessage>::where_is(name) {
            match gateway.cast(GatewayMessage::Inbound(msg, guard)) {
                Ok(()) => return,
                Err(ractor::MessagingErr::SendErr(GatewayMessage::Inbound(m, g))) => {
                    (msg, guard) = (m, g)
                }
                Err(_) => {
                    tracing::error!("gateway refused a message; dropped");
                    return;
                }
            }
        }
        if Instant::now() >= give_up {
            tracing::error!(text = %msg.text, "gateway not running for too long; message dropped");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
