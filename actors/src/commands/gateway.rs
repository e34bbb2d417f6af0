//! The gateway: every inbound chat message becomes a [`Command`], handled in its own task by the actor that
//! owns it, and answered within the command's deadline.
//!
//! Child of the root supervisor, registered as `gateway`. Chat adapters (console, Slack) hand messages to a
//! [`GatewayHandle`], which finds the gateway in the registry and waits for it while it restarts. Delivery is
//! acknowledged: each [`Delivery`] carries a receipt the gateway signs once it has taken the message (its
//! command task spawned). The handle keeps every message handed over but not yet taken, in order; when the
//! gateway dies with messages in its mailbox (a crash drops the mailbox), the handle hands them over again,
//! in order, to the restarted gateway. A message the gateway died while taking, [`MAX_HANDOVERS`] times, is
//! dropped with an error log, `icbot_chat_messages_dropped_total{reason}` and a short reply to its author;
//! so is one that finds no gateway for [`DELIVER_PATIENCE`]. Nothing is dropped silently. The gateway
//! asks `schedule_cache`, `pager`, `status` and `stalks` by name (see [`crate::supervision::ask`]), and posts replies
//! through [`ChatOut`], each cut to [`MAX_REPLY_CHARS`]. A command that is not ours is ignored; one of ours typed wrongly gets a one-line hint.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::chat::InboundMessage;
use crate::commands::in_flight::{InFlight, InFlightGuard};
use crate::commands::parse::Command;
use crate::commands::run::{run_command, CommandContext};
use crate::commands::status as status_commands;
use crate::incidents::follower::{Followed, IncidentsMessage};
use crate::metric_names;
use crate::ports::ChatOut;
use crate::reply::{Reply, MAX_REPLY_CHARS};
use crate::supervision::names::ActorNames;

/// How long a reply may take to post before the gateway gives up on it (the chat adapter retries inside).
const POST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long messages wait for a restarting gateway before they are dropped (logged, counted, answered).
pub const DELIVER_PATIENCE: Duration = Duration::from_secs(30);
/// How many gateways may die while taking one message before it is dropped as the likely cause.
pub const MAX_HANDOVERS: u32 = 3;
/// How often the handle looks in the registry for a gateway while there is none.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

pub struct GatewayActor;

#[derive(Clone)]
pub struct GatewayArgs {
    pub context: Arc<CommandContext>,
}

pub enum GatewayMessage {
    /// A chat message from the [`GatewayHandle`]: open it, handle it, sign its receipt.
    Inbound(Delivery),
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
            GatewayMessage::Inbound(delivery) => {
                let (msg, guard, receipt) = delivery.open();
                state.inbound(msg, guard);
                receipt.taken();
            }
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
            post_reply(&context, &msg, &reply).await;
            drop(guard);
        };
        tokio::spawn(tracing::Instrument::instrument(task, span));
    }
}

/// Posts a reply; one with an incident card is posted so that it can be edited, and the `incidents` actor is
/// told to follow it.
async fn post_reply(context: &CommandContext, msg: &InboundMessage, reply: &Reply) {
    let chat = context.chat.as_ref();
    if reply.card.is_some() {
        match tokio::time::timeout(POST_TIMEOUT, chat.post_tracked(&msg.reply_to, reply)).await {
            Ok(Ok(Some(message))) => {
                let follower = ActorRef::<IncidentsMessage>::where_is(context.names.incidents());
                let followed = Box::new(Followed {
                    message,
                    reply: reply.clone(),
                });
                match follower.map(|f| f.cast(IncidentsMessage::Follow(followed))) {
                    Some(Ok(())) => {}
                    _ => tracing::warn!("the incidents actor is not running; this card will not follow its incident"),
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, reply = %reply.plain(), "could not post a reply")
            }
            Err(_) => tracing::error!(reply = %reply.plain(), "posting a reply timed out"),
        }
        return;
    }
    post(chat, msg, reply).await;
}

async fn post(chat: &dyn ChatOut, msg: &InboundMessage, reply: &Reply) {
    match tokio::time::timeout(POST_TIMEOUT, chat.post(&msg.reply_to, reply)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, reply = %reply.plain(), "could not post a reply"),
        Err(_) => tracing::error!(reply = %reply.plain(), "posting a reply timed out"),
    }
}

/// One chat message handed to the gateway: the message, its count in flight until answered, and the receipt
/// the handle waits for.
pub struct Delivery {
    msg: InboundMessage,
    guard: InFlightGuard,
    opened: Arc<AtomicBool>,
    taken: oneshot::Sender<()>,
}

impl Delivery {
    /// Takes the message out. From now until [`Receipt::taken`], a gateway that dies counts as killed by it.
    pub fn open(self) -> (InboundMessage, InFlightGuard, Receipt) {
        self.opened.store(true, Ordering::SeqCst);
        (self.msg, self.guard, Receipt { taken: self.taken })
    }
}

/// Signed by the gateway once a message is taken (its command task spawned); dropped unsigned, it tells the
/// handle the message was lost with the gateway.
pub struct Receipt {
    taken: oneshot::Sender<()>,
}

impl Receipt {
    pub fn taken(self) {
        let _ = self.taken.send(());
    }
}

/// What chat adapters hold: delivers messages to the gateway in order, waiting for it while it restarts,
/// handing over again what a dying gateway lost, and counts them in flight until answered.
#[derive(Clone)]
pub struct GatewayHandle {
    tx: mpsc::UnboundedSender<(InboundMessage, InFlightGuard)>,
    in_flight: InFlight,
}

impl GatewayHandle {
    /// Starts the forwarding task on the current runtime. `chat` answers the authors of dropped messages.
    pub fn new(names: &ActorNames, in_flight: InFlight, chat: Arc<dyn ChatOut>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<(InboundMessage, InFlightGuard)>();
        let forwarder = Forwarder {
            name: names.gateway(),
            chat,
            pending: VecDeque::new(),
            gateway: None,
            dead: None,
            waiting_since: None,
        };
        tokio::spawn(forwarder.run(rx));
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
        if let Err(mpsc::error::SendError((msg, _))) = self.tx.send((msg, guard)) {
            metric_names::chat_messages_dropped("forwarder_stopped", 1);
            tracing::error!(
                user = %msg.user,
                channel = %msg.reply_to.channel,
                text = %preview(&msg.text),
                "gateway forwarder stopped; message dropped"
            );
        }
    }

    /// Waits until every delivered message is answered, at most `within`.
    pub async fn drain(&self, within: Duration) -> bool {
        self.in_flight.drained(within).await
    }
}

/// A message handed over (or waiting for a gateway) and not yet taken.
struct Pending {
    msg: InboundMessage,
    /// Counts it in flight while it is not taken; the gateway's own guard counts it from then on.
    held: InFlightGuard,
    /// Gateways that died while taking it.
    crashes: u32,
    opened: Arc<AtomicBool>,
    taken: oneshot::Receiver<()>,
}

/// The handle's task: one queue, in order; many messages handed over at once (pipelined), each kept until
/// the gateway signs its receipt.
struct Forwarder {
    name: String,
    chat: Arc<dyn ChatOut>,
    pending: VecDeque<Pending>,
    /// The gateway messages are handed to; `None` while there is none to hand to.
    gateway: Option<ActorRef<GatewayMessage>>,
    /// The instance that died last, which the registry may list for a moment more.
    dead: Option<ActorId>,
    /// Since when messages have been waiting for a gateway.
    waiting_since: Option<Instant>,
}

impl Forwarder {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<(InboundMessage, InFlightGuard)>) {
        let mut open = true;
        while open || !self.pending.is_empty() {
            let handing_over = self.gateway.is_some() && !self.pending.is_empty();
            let waiting = self.gateway.is_none() && !self.pending.is_empty();
            tokio::select! {
                biased;
                taken = front_taken(&mut self.pending), if handing_over => match taken {
                    Ok(()) => {
                        self.pending.pop_front();
                    }
                    Err(_) => self.gateway_died(),
                },
                received = rx.recv(), if open => match received {
                    Some((msg, held)) => self.push(msg, held),
                    None => open = false,
                },
                () = tokio::time::sleep(LOOK_AGAIN), if waiting => self.look_for_gateway(),
            }
        }
    }

    fn push(&mut self, msg: InboundMessage, held: InFlightGuard) {
        let (_, taken) = oneshot::channel();
        self.pending.push_back(Pending {
            msg,
            held,
            crashes: 0,
            opened: Arc::new(AtomicBool::new(false)),
            taken,
        });
        match self.gateway.clone() {
            Some(gateway) => {
                let last = self.pending.back_mut().expect("just pushed");
                if !hand_over(&gateway, last) {
                    self.gateway_died();
                }
            }
            None => self.look_for_gateway(),
        }
    }

    /// The gateway died (a receipt dropped unsigned, or its mailbox closed): everything not taken was lost
    /// with it. Blame the message it was taking, if any, and hand the rest over to the next gateway.
    fn gateway_died(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            self.dead = Some(gateway.get_id());
        }
        // What it took before dying (signed receipts not yet read) is taken: never hand it over twice. It
        // takes in order, so those are the oldest.
        while self
            .pending
            .front_mut()
            .is_some_and(|p| p.taken.try_recv().is_ok())
        {
            self.pending.pop_front();
        }
        if let Some(front) = self.pending.front_mut() {
            if front.opened.load(Ordering::SeqCst) {
                front.crashes += 1;
                if front.crashes >= MAX_HANDOVERS {
                    let poison = self.pending.pop_front().expect("front exists");
                    self.drop_message(poison, "crashed_gateway");
                }
            }
        }
        tracing::warn!(
            pending = self.pending.len(),
            "gateway died with messages not taken; handing them over again once it is back"
        );
        self.look_for_gateway();
    }

    /// Finds a running gateway (not the one that just died) and hands it every pending message, in order. With
    /// none for [`DELIVER_PATIENCE`], drops the pending messages, each answered.
    fn look_for_gateway(&mut self) {
        let found = ActorRef::<GatewayMessage>::where_is(self.name.clone())
            .filter(|g| Some(g.get_id()) != self.dead);
        let Some(gateway) = found else {
            let since = *self.waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= DELIVER_PATIENCE {
                self.waiting_since = None;
                for lost in std::mem::take(&mut self.pending) {
                    self.drop_message(lost, "gateway_unavailable");
                }
            }
            return;
        };
        self.waiting_since = None;
        for pending in self.pending.iter_mut() {
            if !hand_over(&gateway, pending) {
                // Gone again already: wait for the next one.
                self.dead = Some(gateway.get_id());
                return;
            }
        }
        self.gateway = Some(gateway);
    }

    /// Gives up on a message: logged, counted, and its author told to try again (the reply counts in flight).
    fn drop_message(&self, lost: Pending, reason: &'static str) {
        let Pending { msg, held, .. } = lost;
        metric_names::chat_messages_dropped(reason, 1);
        let text = match reason {
            "crashed_gateway" => {
                tracing::error!(
                    reason,
                    handovers = MAX_HANDOVERS,
                    user = %msg.user,
                    channel = %msg.reply_to.channel,
                    text = %preview(&msg.text),
                    "the gateway died each time it took this message; message dropped"
                );
                "⚠ Sorry, the bot could not handle that message (it failed while taking it). Please try again."
            }
            _ => {
                tracing::error!(
                    reason,
                    patience_secs = DELIVER_PATIENCE.as_secs(),
                    user = %msg.user,
                    channel = %msg.reply_to.channel,
                    text = %preview(&msg.text),
                    "gateway not running for too long; message dropped"
                );
                "⚠ Sorry, the bot is restarting and could not take that message in time. Please try again."
            }
        };
        let chat = self.chat.clone();
        tokio::spawn(async move {
            post(chat.as_ref(), &msg, &Reply::text(text).alerting()).await;
            drop(held);
        });
    }
}

/// Waits for the receipt of the oldest message not taken (the gateway takes them in order).
async fn front_taken(pending: &mut VecDeque<Pending>) -> Result<(), oneshot::error::RecvError> {
    match pending.front_mut() {
        Some(front) => (&mut front.taken).await,
        None => std::future::pending().await,
    }
}

/// Casts one pending message to `gateway` with a fresh receipt; false when its mailbox is closed.
fn hand_over(gateway: &ActorRef<GatewayMessage>, pending: &mut Pending) -> bool {
    let (taken, receipt) = oneshot::channel();
    pending.taken = receipt;
    pending.opened = Arc::new(AtomicBool::new(false));
    let delivery = Delivery {
        msg: pending.msg.clone(),
        // Shares the message's done-note: a copy lost with a crashed gateway does not end the message.
        guard: pending.held.sibling(),
        opened: pending.opened.clone(),
        taken,
    };
    gateway.cast(GatewayMessage::Inbound(delivery)).is_ok()
}

/// The start of a message, for a log line.
fn preview(text: &str) -> std::borrow::Cow<'_, str> {
    crate::truncate::truncate(text, 80)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;
    use crate::chat::ChatTarget;
    use crate::fakes::RecordingChat;

    /// A gateway that answers `got: <text>` at once, and fails while taking `boom`, as a bug would.
    struct FlakyGateway;

    struct Flaky {
        chat: Arc<RecordingChat>,
        booms: Arc<AtomicU32>,
    }

    impl Actor for FlakyGateway {
        type Msg = GatewayMessage;
        type State = Flaky;
        type Arguments = Flaky;

        async fn pre_start(
            &self,
            _myself: ActorRef<GatewayMessage>,
            args: Flaky,
        ) -> Result<Flaky, ActorProcessingErr> {
            Ok(args)
        }

        async fn handle(
            &self,
            _myself: ActorRef<GatewayMessage>,
            message: GatewayMessage,
            state: &mut Flaky,
        ) -> Result<(), ActorProcessingErr> {
            if let GatewayMessage::Inbound(delivery) = message {
                let (msg, guard, receipt) = delivery.open();
                if msg.text == "boom" {
                    state.booms.fetch_add(1, Ordering::SeqCst);
                    return Err("boom".into());
                }
                let chat = state.chat.clone();
                tokio::spawn(async move {
                    let reply = Reply::text(format!("got: {}", msg.text));
                    let _ = chat.post(&msg.reply_to, &reply).await;
                    drop(guard);
                });
                receipt.taken();
            }
            Ok(())
        }
    }

    /// Runs a [`FlakyGateway`] under `name`, spawning it again each time it dies, as the root would.
    fn keep_running(
        name: String,
        chat: Arc<RecordingChat>,
        booms: Arc<AtomicU32>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let args = Flaky {
                    chat: chat.clone(),
                    booms: booms.clone(),
                };
                let (_, ended) = Actor::spawn(Some(name.clone()), FlakyGateway, args)
                    .await
                    .expect("gateway starts");
                let _ = ended.await;
            }
        })
    }

    fn said(text: &str) -> InboundMessage {
        InboundMessage {
            reply_to: ChatTarget::channel("ops"),
            user: "dana".into(),
            text: text.into(),
            direct: false,
        }
    }

    #[tokio::test]
    async fn a_message_that_kills_the_gateway_each_time_is_dropped_with_a_reply_after_three_tries()
    {
        let names = ActorNames::with_prefix("gateway-poison/");
        let chat = RecordingChat::new();
        let booms = Arc::new(AtomicU32::new(0));
        let gateways = keep_running(names.gateway(), chat.clone(), booms.clone());
        let handle = GatewayHandle::new(&names, InFlight::new(), chat.clone());
        for text in ["one", "boom", "two", "three"] {
            handle.deliver(said(text));
        }
        assert!(handle.drain(Duration::from_secs(10)).await);
        let mut posts = chat.posts_to("ops");
        posts.sort();
        assert_eq!(
            posts,
            vec![
                "got: one",
                "got: three",
                "got: two",
                "⚠ Sorry, the bot could not handle that message (it failed while taking it). Please try again.",
            ]
        );
        assert_eq!(
            booms.load(Ordering::SeqCst),
            MAX_HANDOVERS,
            "tried three times, no more"
        );
        gateways.abort();
        if let Some(g) = ractor::registry::where_is(names.gateway()) {
            g.stop(None);
        }
    }

    #[tokio::test]
    async fn the_in_flight_count_holds_while_a_message_waits_for_the_gateway() {
        let names = ActorNames::with_prefix("gateway-waits/");
        let chat = RecordingChat::new();
        let in_flight = InFlight::new();
        let handle = GatewayHandle::new(&names, in_flight.clone(), chat.clone());
        handle.deliver(said("early"));
        // No gateway yet: nothing answered, and a drain does not see a spurious zero.
        assert!(!handle.drain(Duration::from_millis(100)).await);
        assert_eq!(in_flight.current(), 1);
        let gateways = keep_running(names.gateway(), chat.clone(), Arc::default());
        assert!(handle.drain(Duration::from_secs(10)).await);
        assert_eq!(chat.posts_to("ops"), vec!["got: early"]);
        gateways.abort();
        if let Some(g) = ractor::registry::where_is(names.gateway()) {
            g.stop(None);
        }
    }
}
