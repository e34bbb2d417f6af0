//! Console chat: each stdin line is a message from user `console` in channel `console`; replies go to stdout
//! as plain text, each followed by a blank line. Logs go to stderr, never here.

use async_trait::async_trait;
use icbot_actors::chat::{ChatTarget, InboundMessage};
use icbot_actors::gateway::GatewayHandle;
use icbot_actors::ports::{ChatError, ChatOut};
use icbot_actors::reply::Reply;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The console's user and channel.
pub const CONSOLE: &str = "console";

/// Replies to a writer (stdout for the bot), one at a time so replies never interleave.
pub struct ConsoleChat<W> {
    out: Mutex<W>,
}

impl ConsoleChat<tokio::io::Stdout> {
    pub fn stdout() -> Self {
        ConsoleChat {
            out: Mutex::new(tokio::io::stdout()),
        }
    }
}

impl<W> ConsoleChat<W> {
    pub fn new(out: W) -> Self {
        ConsoleChat {
            out: Mutex::new(out),
        }
    }
}

#[async_trait]
impl<W: AsyncWrite + Unpin + Send + 'static> ChatOut for ConsoleChat<W> {
    async fn post(&self, _to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        let mut text = reply.plain();
        text.push_str("\n\n");
        let mut out = self.out.lock().await;
        out.write_all(text.as_bytes())
            .await
            .map_err(|e| ChatError::Failed(e.to_string()))?;
        out.flush()
            .await
            .map_err(|e| ChatError::Failed(e.to_string()))
    }
}

/// Reads lines until end of input, handing each to the gateway. Returns at end of input (or a read error);
/// the caller then waits for the replies in flight.
pub async fn read_lines(input: impl AsyncBufRead + Unpin, gateway: &GatewayHandle) {
    let mut lines = input.lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => gateway.deliver(InboundMessage {
                reply_to: ChatTarget::channel(CONSOLE),
                user: CONSOLE.to_string(),
                text: line,
                direct: false,
            }),
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stdin; stopping input");
                return;
            }
        }
    }
}
