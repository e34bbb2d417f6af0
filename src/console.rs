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

/// The most of one line the console keeps (64 KiB); the rest of a longer line is dropped, with a log line, so
/// a line without a newline cannot grow without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line of console input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLine {
    /// The line without its `\n` (or `\r\n`), decoded lossily: invalid UTF-8 becomes U+FFFD.
    pub text: String,
    /// Bytes dropped past [`MAX_LINE_BYTES`]; 0 for a line that fit.
    pub cut_bytes: usize,
    /// Some bytes were not valid UTF-8.
    pub lossy: bool,
}

/// Reads lines until end of input, handing each to the gateway. Bad bytes and over-long lines are decoded
/// lossily or cut (and logged), never the end of input: only end of input (or a read error) returns; the
/// caller then waits for the replies in flight.
pub async fn read_lines(mut input: impl AsyncBufRead + Unpin, gateway: &GatewayHandle) {
    loop {
        match next_line(&mut input, MAX_LINE_BYTES).await {
            Ok(Some(line)) => {
                if line.cut_bytes > 0 {
                    tracing::warn!(
                        kept_bytes = MAX_LINE_BYTES,
                        cut_bytes = line.cut_bytes,
                        "console line longer than 64 KiB: cut"
                    );
                }
                if line.lossy {
                    tracing::warn!("console line is not valid UTF-8: bad bytes read as U+FFFD");
                }
                gateway.deliver(InboundMessage {
                    reply_to: ChatTarget::channel(CONSOLE),
                    user: CONSOLE.to_string(),
                    text: line.text,
                    direct: false,
                });
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stdin; stopping input");
                return;
            }
        }
    }
}

/// The next line of `input`, at most `max` bytes of it kept; `Ok(None)` at end of input. A last line without
/// a newline counts as a line.
pub async fn next_line(
    input: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<ConsoleLine>> {
    let mut kept = Vec::new();
    let mut cut_bytes = 0;
    let mut read_any = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            if !read_any {
                return Ok(None);
            }
            break;
        }
        read_any = true;
        let (chunk, used, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], at + 1, true),
            None => (buf, buf.len(), false),
        };
        let take = chunk.len().min(max - kept.len());
        kept.extend_from_slice(&chunk[..take]);
        cut_bytes += chunk.len() - take;
        input.consume(used);
        if ended {
            break;
        }
    }
    if cut_bytes == 0 && kept.last() == Some(&b'\r') {
        kept.pop();
    }
    let text = String::from_utf8_lossy(&kept);
    let lossy = matches!(text, std::borrow::Cow::Owned(_));
    Ok(Some(ConsoleLine {
        text: text.into_owned(),
        cut_bytes,
        lossy,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(bytes: &[u8], max: usize) -> Vec<ConsoleLine> {
        // A small buffer, so lines span several reads.
        let mut input = tokio::io::BufReader::with_capacity(7, bytes);
        let mut lines = Vec::new();
        while let Some(line) = next_line(&mut input, max).await.expect("reads") {
            lines.push(line);
        }
        lines
    }

    fn line(text: &str) -> ConsoleLine {
        ConsoleLine {
            text: text.into(),
            cut_bytes: 0,
            lossy: false,
        }
    }

    #[tokio::test]
    async fn bad_bytes_are_replaced_and_reading_goes_on() {
        let lines = lines_of(b"caf\xe9 \xff\n!ic\r\nlast", 1024).await;
        assert_eq!(
            lines,
            vec![
                ConsoleLine {
                    text: "caf\u{fffd} \u{fffd}".into(),
                    cut_bytes: 0,
                    lossy: true,
                },
                line("!ic"),
                line("last"),
            ]
        );
    }

    #[tokio::test]
    async fn a_long_line_is_cut_at_the_limit_and_the_next_line_is_whole() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\n!ic\n");
        let lines = lines_of(&input, 30).await;
        assert_eq!(
            lines,
            vec![
                ConsoleLine {
                    text: "x".repeat(30),
                    cut_bytes: 70,
                    lossy: false,
                },
                line("!ic"),
            ]
        );
        assert!(lines_of(b"", 30).await.is_empty());
    }
}
