//! Chat messages in and the address replies go to, the same for the console and Slack.

use serde::{Deserialize, Serialize};

/// Where a reply goes: a channel, and the thread when the command was typed in one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatTarget {
    pub channel: String,
    pub thread: Option<String>,
    /// The inbound message this answers, numbered by an adapter that prints replies in input order (the
    /// console); `None` for posts that answer no message (a stalk's) and for adapters that do not number.
    /// Never saved: a number means something only to the adapter's current run.
    #[serde(skip)]
    pub answers: Option<u64>,
}

impl ChatTarget {
    pub fn channel(channel: impl Into<String>) -> Self {
        ChatTarget {
            channel: channel.into(),
            thread: None,
            answers: None,
        }
    }

    /// The same place, for posts that answer no message (a stalk keeps posting long after the command).
    pub fn for_posts(&self) -> ChatTarget {
        ChatTarget {
            answers: None,
            ..self.clone()
        }
    }
}

/// A message somebody typed, as the chat adapter hands it to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Where to answer.
    pub reply_to: ChatTarget,
    /// The chat user id of who typed it (`console` on the console).
    pub user: String,
    /// The raw text, not yet parsed.
    pub text: String,
    /// A direct message rather than a channel.
    pub direct: bool,
}

/// A message the bot posted, as the platform can find it again to edit it (Slack: channel and `ts`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

impl MessageRef {
    /// Where a reply in this message's thread goes.
    pub fn thread(&self) -> ChatTarget {
        ChatTarget {
            channel: self.channel.clone(),
            thread: Some(self.ts.clone()),
            answers: None,
        }
    }
}
