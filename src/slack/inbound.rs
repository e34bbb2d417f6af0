//! Slack message events to the gateway: which messages are commands for the bot, and where to answer them.
//!
//! Delivered: a person's message (no subtype, or `thread_broadcast`) whose text starts with `!`. Ignored: the
//! bot's own messages, other bots (`bot_id` set, `bot_message`), edits (`message_changed`), deletions
//! (`message_deleted`), joins and every other subtype, and an event Slack sends a second time (same
//! `event_id`, as after a missed acknowledgement; with several replicas, also one that another replica
//! handled, through [`SeenEvents`]). The reply goes to the thread when the command was typed in
//! one, otherwise to the channel; `channel_type = "im"` marks a direct message. The text is unescaped (Slack
//! sends a typed `&`, `<`, `>` as entities), so a page message reaches PagerDuty as it was typed.
//!
//! Slash commands: `/ic <args>` and `/status <args>` become the messages `!ic <args>` and `!status <args>` from
//! the person who typed them, answered in their channel; they need no `channels:history`. Any other command
//! is logged and ignored.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use icbot_actors::chat::{ChatTarget, InboundMessage};
use icbot_actors::commands::gateway::GatewayHandle;
use icbot_actors::reply::{ACK_ACTION_ID, RESOLVE_ACTION_ID};
use slack_morphism::prelude::*;

use super::client::BotIdentity;
use super::render;
use super::seen_events::{SeenEvents, SEEN_WAIT};

/// A press of a card button as the command it stands for; `None` for any other action or one without a
/// user, channel or incident number.
pub fn button_to_inbound(event: &SlackInteractionBlockActionsEvent) -> Option<InboundMessage> {
    let action = event.actions.as_ref()?.first()?;
    let verb = match action.action_id.to_string().as_str() {
        ACK_ACTION_ID => "ack",
        RESOLVE_ACTION_ID => "resolve",
        _ => return None,
    };
    let number: u64 = action.value.as_deref()?.trim().parse().ok()?;
    let user = event.user.as_ref()?.id.to_string();
    let (channel, card_ts) = match &event.container {
        SlackInteractionActionContainer::Message(m) => (
            m.channel_id
                .as_ref()
                .map(|c| c.to_string())
                .or_else(|| event.channel.as_ref().map(|c| c.id.to_string()))?,
            Some(m.message_ts.to_string()),
        ),
        _ => (event.channel.as_ref()?.id.to_string(), None),
    };
    Some(InboundMessage {
        reply_to: ChatTarget {
            channel,
            thread: card_ts,
            answers: None,
        },
        user,
        text: format!("!ic {verb} {number}"),
        direct: false,
    })
}

/// The slash commands the bot answers, and the message prefix each stands for.
pub const SLASH_COMMANDS: [(&str, &str); 2] = [("/ic", "!ic"), ("/status", "!status")];

/// A slash command as the message it stands for (`/ic ack 1` from U1 in C1 is `!ic ack 1` from U1 in C1,
/// answered in C1); `None` for a command the bot does not own.
pub fn slash_to_inbound(event: &SlackCommandEvent) -> Option<InboundMessage> {
    let command = event.command.to_string();
    let (_, prefix) = SLASH_COMMANDS
        .iter()
        .find(|(slash, _)| command.trim() == *slash)?;
    let args = event.text.as_deref().map(str::trim).unwrap_or_default();
    let text = if args.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix} {}", render::unescape(args))
    };
    let channel = event.channel_id.to_string();
    Some(InboundMessage {
        direct: channel.starts_with('D'),
        reply_to: ChatTarget::channel(channel),
        user: event.user_id.to_string(),
        text,
    })
}

/// How many recent event ids are remembered to drop redeliveries.
const REMEMBERED_EVENTS: usize = 1024;

/// Where inbound messages go, and what to leave out. Shared by Socket Mode and the Events API.
pub struct InboundRoute {
    gateway: GatewayHandle,
    me: BotIdentity,
    recent: Mutex<RecentEvents>,
    /// With several replicas: the events some replica handled already.
    seen: Option<Arc<dyn SeenEvents>>,
}

impl InboundRoute {
    pub fn new(gateway: GatewayHandle, me: BotIdentity) -> Self {
        InboundRoute {
            gateway,
            me,
            recent: Mutex::new(RecentEvents::default()),
            seen: None,
        }
    }

    /// Several replicas: a command is delivered only when no replica handled its event already.
    pub fn with_seen_events(mut self, seen: Option<Arc<dyn SeenEvents>>) -> Self {
        self.seen = seen;
        self
    }

    /// Handles one interaction: a press of a card's Acknowledge or Resolve button becomes the command
    /// `!ic ack <n>` or `!ic resolve <n>` from the person who pressed it, answered in the card's thread.
    /// Anything else is ignored. Returns at once.
    pub fn handle_interaction(&self, event: &SlackInteractionEvent) {
        let SlackInteractionEvent::BlockActions(event) = event else {
            return;
        };
        if let Some(msg) = button_to_inbound(event) {
            tracing::info!(user = %msg.user, channel = %msg.reply_to.channel, command = %msg.text, "Slack button pressed");
            self.gateway.deliver(msg);
        }
    }

    /// Handles one slash command: `/ic` and `/status` become the command they stand for, from the person
    /// who typed it, answered in their channel; any other command is logged and ignored. Returns at once, so
    /// the caller can acknowledge within Slack's three seconds.
    pub fn handle_command(&self, event: &SlackCommandEvent) {
        match slash_to_inbound(event) {
            Some(msg) => {
                tracing::info!(user = %msg.user, channel = %msg.reply_to.channel, command = %event.command, "Slack slash command");
                self.gateway.deliver(msg);
            }
            None => {
                tracing::warn!(command = %event.command, "Slack slash command the bot does not own; ignored")
            }
        }
    }

    /// Handles one pushed event: delivers it to the gateway when it is a command. Returns at once.
    pub fn handle(&self, callback: &SlackPushEventCallback) {
        let SlackEventCallbackBody::Message(event) = &callback.event else {
            return;
        };
        let Some(msg) = to_inbound(event, &self.me) else {
            return;
        };
        let first_time = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(callback.event_id.to_string());
        if !first_time {
            tracing::info!(event_id = %callback.event_id, "Slack event seen before; ignored");
            return;
        }
        tracing::debug!(user = %msg.user, channel = %msg.reply_to.channel, "Slack command received");
        let Some(seen) = self.seen.clone() else {
            self.gateway.deliver(msg);
            return;
        };
        // Several replicas: ask in the background, so the event is acknowledged at once.
        let gateway = self.gateway.clone();
        let event_id = callback.event_id.to_string();
        tokio::spawn(async move {
            match tokio::time::timeout(SEEN_WAIT, seen.first_sighting(&event_id)).await {
                Ok(Ok(true)) => gateway.deliver(msg),
                Ok(Ok(false)) => {
                    tracing::info!(event_id = %event_id, "Slack event handled by another replica; ignored")
                }
                Ok(Err(e)) => {
                    tracing::warn!(event_id = %event_id, error = %e, "cannot ask the other replicas about a Slack event; handling it");
                    gateway.deliver(msg);
                }
                Err(_) => {
                    tracing::warn!(event_id = %event_id, "the other replicas did not answer about a Slack event in time; handling it");
                    gateway.deliver(msg);
                }
            }
        });
    }
}

/// The message the gateway should see, or `None` when the bot ignores this event.
pub fn to_inbound(event: &SlackMessageEvent, me: &BotIdentity) -> Option<InboundMessage> {
    match &event.subtype {
        None | Some(SlackMessageEventType::ThreadBroadcast) => {}
        Some(_) => return None,
    }
    if event.hidden == Some(true) || event.sender.bot_id.is_some() {
        return None;
    }
    let user = event.sender.user.as_ref()?.to_string();
    if user == me.user_id {
        return None;
    }
    let text = event.content.as_ref()?.text.as_ref()?;
    if !text.trim_start().starts_with('!') {
        return None;
    }
    let channel = event.origin.channel.as_ref()?.to_string();
    let direct = event
        .origin
        .channel_type
        .as_ref()
        .is_some_and(|t| t.0 == "im");
    Some(InboundMessage {
        reply_to: ChatTarget {
            channel,
            thread: event.origin.thread_ts.as_ref().map(|t| t.to_string()),
            answers: None,
        },
        user,
        text: render::unescape(text),
        direct,
    })
}

/// The last few event ids, oldest forgotten first.
#[derive(Default)]
struct RecentEvents {
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentEvents {
    /// True when `id` was not seen recently.
    fn insert(&mut self, id: String) -> bool {
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED_EVENTS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> BotIdentity {
        BotIdentity {
            user_id: "UBOT".into(),
            bot_id: Some("BBOT".into()),
        }
    }

    fn event(value: serde_json::Value) -> SlackMessageEvent {
        serde_json::from_value(value).expect("a message event")
    }

    fn command(extra: serde_json::Value) -> SlackMessageEvent {
        let mut base = json!({
            "type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
            "text": "!ic oncall", "ts": "1700000000.000100"
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        event(base)
    }

    #[test]
    fn channel_command_answers_top_level() {
        let msg = to_inbound(&command(json!({})), &me()).unwrap();
        assert_eq!(
            msg,
            InboundMessage {
                reply_to: ChatTarget::channel("C1"),
                user: "U1".into(),
                text: "!ic oncall".into(),
                direct: false,
            }
        );
    }

    #[test]
    fn threaded_command_answers_in_the_thread() {
        let msg = to_inbound(&command(json!({"thread_ts": "1699.0001"})), &me()).unwrap();
        assert_eq!(msg.reply_to.thread.as_deref(), Some("1699.0001"));
    }

    #[test]
    fn thread_broadcast_is_a_command() {
        let msg = to_inbound(
            &command(json!({"subtype": "thread_broadcast", "thread_ts": "1699.0001"})),
            &me(),
        );
        assert!(msg.is_some());
    }

    #[test]
    fn direct_message_is_marked_direct() {
        let msg = to_inbound(
            &command(json!({"channel": "D1", "channel_type": "im"})),
            &me(),
        )
        .unwrap();
        assert!(msg.direct);
    }

    #[test]
    fn own_messages_are_ignored() {
        assert_eq!(to_inbound(&command(json!({"user": "UBOT"})), &me()), None);
    }

    #[test]
    fn bots_are_ignored() {
        assert_eq!(
            to_inbound(&command(json!({"bot_id": "BOTHER"})), &me()),
            None
        );
        assert_eq!(
            to_inbound(&command(json!({"subtype": "bot_message"})), &me()),
            None
        );
    }

    #[test]
    fn edits_and_deletions_are_ignored() {
        let edit = command(json!({
            "subtype": "message_changed", "hidden": true,
            "message": {"type": "message", "user": "U1", "text": "!ic page", "ts": "1.2"}
        }));
        assert_eq!(to_inbound(&edit, &me()), None);
        let deletion =
            command(json!({"subtype": "message_deleted", "hidden": true, "deleted_ts": "1.2"}));
        assert_eq!(to_inbound(&deletion, &me()), None);
    }

    #[test]
    fn other_subtypes_and_chatter_are_ignored() {
        assert_eq!(
            to_inbound(&command(json!({"subtype": "channel_join"})), &me()),
            None
        );
        assert_eq!(
            to_inbound(&command(json!({"subtype": "something_new"})), &me()),
            None
        );
        assert_eq!(to_inbound(&command(json!({"text": "lunch?"})), &me()), None);
    }

    #[test]
    fn escaped_text_arrives_as_typed() {
        let msg = to_inbound(
            &command(json!({"text": "!ic page <@U9> db &amp; cache &lt;eu&gt;"})),
            &me(),
        )
        .unwrap();
        assert_eq!(msg.text, "!ic page <@U9> db & cache <eu>");
    }

    fn slash(command: &str, channel: &str, text: &str) -> SlackCommandEvent {
        serde_json::from_value(json!({
            "team_id": "T1", "channel_id": channel, "user_id": "U1", "command": command, "text": text,
            "response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": "1.2.3"
        }))
        .expect("a slash command")
    }

    #[test]
    fn slash_commands_are_the_bang_commands_answered_in_the_channel() {
        assert_eq!(
            slash_to_inbound(&slash("/ic", "C1", "ack 1")),
            Some(InboundMessage {
                reply_to: ChatTarget::channel("C1"),
                user: "U1".into(),
                text: "!ic ack 1".into(),
                direct: false,
            })
        );
        let status = slash_to_inbound(&slash("/status", "C1", "  ")).unwrap();
        assert_eq!(status.text, "!status");
        let escaped =
            slash_to_inbound(&slash("/ic", "C1", "page <@U9|bob> db &amp; cache")).unwrap();
        assert_eq!(escaped.text, "!ic page <@U9|bob> db & cache");
    }

    #[test]
    fn slash_command_in_a_direct_message_is_marked_direct() {
        assert!(slash_to_inbound(&slash("/ic", "D1", "")).unwrap().direct);
    }

    #[test]
    fn other_slash_commands_are_not_ours() {
        assert_eq!(slash_to_inbound(&slash("/weather", "C1", "ic")), None);
        assert_eq!(slash_to_inbound(&slash("/icx", "C1", "")), None);
    }

    #[test]
    fn recent_events_drop_repeats_and_forget_the_oldest() {
        let mut recent = RecentEvents::default();
        assert!(recent.insert("E1".into()));
        assert!(!recent.insert("E1".into()));
        for i in 0..REMEMBERED_EVENTS {
            recent.insert(format!("X{i}"));
        }
        assert!(recent.insert("E1".into()));
    }
}
