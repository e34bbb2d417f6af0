//! Console chat: each stdin line is a message from user `console` in channel `console`; replies go to stdout
//! as plain text, each followed by a blank line. Logs go to stderr (or, typed at a terminal, to a file),
//! never here.
//!
//! Replies come out in the order of the lines they answer, whatever order the commands finish in: each line
//! gets a number (carried in [`ChatTarget::answers`]), and a reply waits until every earlier line is done
//! (answered, or ignored as not a command). With piped input each reply starts with the line it answers
//! (`> !ic`), so a transcript reads in order. Posts that answer no line (a stalk's) are printed as they come.
//! Typed at a terminal, a banner says what this is and a prompt asks for the next line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use icbot_actors::chat::{ChatTarget, InboundMessage};
use icbot_actors::commands::gateway::GatewayHandle;
use icbot_actors::ports::{ChatError, ChatOut};
use icbot_actors::reply::Reply;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The console's user and channel.
pub const CONSOLE: &str = "console";

/// What the prompt (typed at a terminal) and the echo of a line (piped input) start with.
pub const PROMPT: &str = "> ";

/// How the console shows a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsoleStyle {
    /// Piped input: each reply starts with the line it answers (`> !ic`).
    pub echo: bool,
    /// Typed at a terminal: a prompt whenever every line so far is answered.
    pub prompt: bool,
}

impl ConsoleStyle {
    /// Input typed at a terminal.
    pub fn interactive() -> Self {
        ConsoleStyle {
            echo: false,
            prompt: true,
        }
    }

    /// Input from a pipe or a file.
    pub fn piped() -> Self {
        ConsoleStyle {
            echo: true,
            prompt: false,
        }
    }
}

/// Replies to a writer (stdout for the bot), in the order of the lines they answer, never interleaved.
pub struct ConsoleChat<W> {
    transcript: Mutex<Transcript<W>>,
    style: ConsoleStyle,
    numbered: AtomicU64,
}

/// What is printed and what waits.
struct Transcript<W> {
    out: W,
    /// The next line whose replies may be printed.
    next: u64,
    /// Lines not printed yet, by number.
    waiting: BTreeMap<u64, Line>,
}

/// One input line and the replies it got so far.
struct Line {
    text: String,
    replies: Vec<Reply>,
    /// Answered, ignored or given up: nothing more will come for it.
    done: bool,
}

impl ConsoleChat<tokio::io::Stdout> {
    pub fn stdout(style: ConsoleStyle) -> Self {
        Self::new(tokio::io::stdout(), style)
    }
}

impl<W> ConsoleChat<W> {
    pub fn new(out: W, style: ConsoleStyle) -> Self {
        ConsoleChat {
            transcript: Mutex::new(Transcript {
                out,
                next: 0,
                waiting: BTreeMap::new(),
            }),
            style,
            numbered: AtomicU64::new(0),
        }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> ConsoleChat<W> {
    /// Prints `banner` (typed at a terminal: what this is, help, where logs go), then the prompt.
    pub async fn banner(&self, banner: &str) -> std::io::Result<()> {
        let mut t = self.transcript.lock().await;
        t.out.write_all(banner.as_bytes()).await?;
        if !banner.ends_with('\n') {
            t.out.write_all(b"\n").await?;
        }
        if self.style.prompt {
            t.out.write_all(PROMPT.as_bytes()).await?;
        }
        t.out.flush().await
    }

    /// Hands one line to the gateway, numbered so that its replies print in order.
    pub async fn submit(self: &Arc<Self>, gateway: &GatewayHandle, text: String) {
        let number = self.numbered.fetch_add(1, Ordering::SeqCst);
        self.transcript.lock().await.waiting.insert(
            number,
            Line {
                text: text.clone(),
                replies: Vec::new(),
                done: false,
            },
        );
        let done = gateway.deliver_noted(InboundMessage {
            reply_to: ChatTarget {
                answers: Some(number),
                ..ChatTarget::channel(CONSOLE)
            },
            user: CONSOLE.to_string(),
            text,
            direct: false,
        });
        let console = self.clone();
        tokio::spawn(async move {
            // Resolves (with an error: nothing is sent) once the gateway is done with the line.
            let _ = done.await;
            if let Err(e) = console.line_done(number).await {
                tracing::error!(error = %e, "cannot write to stdout");
            }
        });
    }

    /// Prints every reply still waiting, in order, answered or not: at exit, after the replies in flight
    /// were waited for.
    pub async fn finish(&self) -> std::io::Result<()> {
        let mut t = self.transcript.lock().await;
        for line in t.waiting.values_mut() {
            line.done = true;
        }
        self.flush(&mut t).await
    }

    async fn line_done(&self, number: u64) -> std::io::Result<()> {
        let mut t = self.transcript.lock().await;
        if let Some(line) = t.waiting.get_mut(&number) {
            line.done = true;
        }
        self.flush(&mut t).await
    }

    /// Prints the replies of every done line from `next` on, stopping at the first line not done.
    async fn flush(&self, t: &mut Transcript<W>) -> std::io::Result<()> {
        let mut printed = false;
        while t.waiting.first_key_value().is_some_and(|(_, l)| l.done) {
            let Some((number, line)) = t.waiting.pop_first() else {
                break;
            };
            t.next = number + 1;
            if line.replies.is_empty() {
                continue;
            }
            let mut text = String::new();
            if self.style.echo {
                text.push_str(PROMPT);
                text.push_str(&line.text);
                text.push('\n');
            }
            for reply in &line.replies {
                push_reply(&mut text, reply);
            }
            t.out.write_all(text.as_bytes()).await?;
            printed = true;
        }
        if printed {
            self.prompt_if_idle(t).await?;
            t.out.flush().await?;
        }
        Ok(())
    }

    async fn prompt_if_idle(&self, t: &mut Transcript<W>) -> std::io::Result<()> {
        if self.style.prompt && t.waiting.is_empty() {
            t.out.write_all(PROMPT.as_bytes()).await?;
        }
        Ok(())
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

fn push_reply(text: &mut String, reply: &Reply) {
    text.push_str(&reply.plain());
    text.push_str("\n\n");
}

#[async_trait]
impl<W: AsyncWrite + Unpin + Send + 'static> ChatOut for ConsoleChat<W> {
    async fn post(&self, to: &ChatTarget, reply: &Reply) -> Result<(), ChatError> {
        let mut t = self.transcript.lock().await;
        if let Some(line) = to.answers.and_then(|n| t.waiting.get_mut(&n)) {
            // Printed in turn, when its line and every earlier one are done.
            line.replies.push(reply.clone());
            return Ok(());
        }
        // A post that answers no waiting line (a stalk's): now. At a prompt, on a line of its own.
        let mut text = String::new();
        if self.style.prompt && t.waiting.is_empty() {
            text.push('\n');
        }
        push_reply(&mut text, reply);
        let failed = |e: std::io::Error| ChatError::Failed(e.to_string());
        t.out.write_all(text.as_bytes()).await.map_err(failed)?;
        self.prompt_if_idle(&mut t).await.map_err(failed)?;
        t.out.flush().await.map_err(failed)
    }
}

/// Reads lines until end of input, handing each to the gateway through `console`. Bad bytes and over-long
/// lines are decoded lossily or cut (and logged), never the end of input: only end of input (or a read error)
/// returns; the caller then waits for the replies in flight and calls [`ConsoleChat::finish`].
pub async fn read_lines<W: AsyncWrite + Unpin + Send + 'static>(
    mut input: impl AsyncBufRead + Unpin,
    console: &Arc<ConsoleChat<W>>,
    gateway: &GatewayHandle,
) {
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
                console.submit(gateway, line.text).await;
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

/// The banner of a session typed at a terminal.
pub fn banner(demo: bool, log_file: Option<&std::path::Path>) -> String {
    let what = if demo {
        "icbot, on its embedded demo (the bundled PagerDuty stub with demo data)"
    } else {
        "icbot, console chat"
    };
    let logs = match log_file {
        Some(file) => format!("Logs go to {} (warnings also here).", file.display()),
        None => "Logs go to stderr.".to_string(),
    };
    format!(
        "{what}.\nType a command such as !ic, !ic page or !status; !ic help lists them all. Ctrl-D quits.\n{logs}\n"
    )
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

    use tokio::io::AsyncReadExt;

    /// A console writing into a pipe whose other end the test reads.
    fn console(
        style: ConsoleStyle,
    ) -> (
        Arc<ConsoleChat<tokio::io::DuplexStream>>,
        tokio::io::DuplexStream,
    ) {
        let (out, read) = tokio::io::duplex(1 << 16);
        (Arc::new(ConsoleChat::new(out, style)), read)
    }

    fn numbered(n: u64) -> ChatTarget {
        ChatTarget {
            answers: Some(n),
            ..ChatTarget::channel(CONSOLE)
        }
    }

    async fn add(console: &ConsoleChat<tokio::io::DuplexStream>, n: u64, text: &str) {
        console.transcript.lock().await.waiting.insert(
            n,
            Line {
                text: text.into(),
                replies: vec![],
                done: false,
            },
        );
    }

    async fn read_now(read: &mut tokio::io::DuplexStream) -> String {
        let mut buf = vec![0; 1 << 16];
        match tokio::time::timeout(std::time::Duration::from_millis(50), read.read(&mut buf)).await
        {
            Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            _ => String::new(),
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
    async fn a_fast_reply_waits_for_the_slow_one_before_it() {
        let (console, mut read) = console(ConsoleStyle::piped());
        add(&console, 0, "!ic page").await;
        add(&console, 1, "!ic help").await;
        console
            .post(&numbered(1), &Reply::text("help"))
            .await
            .unwrap();
        console.line_done(1).await.unwrap();
        assert_eq!(read_now(&mut read).await, "", "held behind line 0");
        console
            .post(&numbered(0), &Reply::text("paged"))
            .await
            .unwrap();
        console.line_done(0).await.unwrap();
        assert_eq!(
            read_now(&mut read).await,
            "> !ic page\npaged\n\n> !ic help\nhelp\n\n"
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

    #[tokio::test]
    async fn an_ignored_line_holds_nothing_up_and_prints_nothing() {
        let (console, mut read) = console(ConsoleStyle::piped());
        add(&console, 0, "hello").await;
        add(&console, 1, "!ic").await;
        console
            .post(&numbered(1), &Reply::text("on call"))
            .await
            .unwrap();
        console.line_done(1).await.unwrap();
        console.line_done(0).await.unwrap();
        assert_eq!(read_now(&mut read).await, "> !ic\non call\n\n");
    }

    #[tokio::test]
    async fn posts_that_answer_no_line_print_at_once() {
        let (console, mut read) = console(ConsoleStyle::piped());
        add(&console, 0, "!ic page").await;
        console
            .post(&ChatTarget::channel(CONSOLE), &Reply::text("NORMAL"))
            .await
            .unwrap();
        assert_eq!(read_now(&mut read).await, "NORMAL\n\n");
    }

    #[tokio::test]
    async fn at_a_terminal_a_prompt_follows_the_replies_and_nothing_is_echoed() {
        let (console, mut read) = console(ConsoleStyle::interactive());
        console.banner("icbot.\n").await.unwrap();
        assert_eq!(read_now(&mut read).await, "icbot.\n> ");
        add(&console, 0, "!ic").await;
        console
            .post(&numbered(0), &Reply::text("on call"))
            .await
            .unwrap();
        console.line_done(0).await.unwrap();
        assert_eq!(read_now(&mut read).await, "on call\n\n> ");
    }

    #[tokio::test]
    async fn finish_prints_what_is_left_in_order() {
        let (console, mut read) = console(ConsoleStyle::piped());
        add(&console, 0, "!ic page").await;
        add(&console, 1, "!ic").await;
        console
            .post(&numbered(1), &Reply::text("on call"))
            .await
            .unwrap();
        console.finish().await.unwrap();
        assert_eq!(read_now(&mut read).await, "> !ic\non call\n\n");
    }

    #[test]
    fn the_banner_says_what_this_is_and_where_logs_go() {
        let b = banner(true, Some(std::path::Path::new("state/icbot.log")));
        assert!(b.contains("embedded demo"), "{b}");
        assert!(b.contains("!ic help"), "{b}");
        assert!(b.contains("state/icbot.log"), "{b}");
    }
}
