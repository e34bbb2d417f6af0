//! A reply as a small document, so each chat adapter renders it its own way: plain text on the console,
//! mrkdwn with `tel:` links and escaping on Slack.

use crate::oncall::Phone;

/// One piece of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Text as is. Adapters escape it.
    Text(String),
    /// Emphasised text: labels, states.
    Strong(String),
    /// A phone number; Slack renders a `tel:` link.
    Phone(Phone),
    /// A link with its label.
    Link { url: String, label: String },
    /// A command the reader can type, such as `!ic page`.
    Code(String),
}

/// A reply: lines of spans. `alert` marks a reply about a failure (page not confirmed, unable to check), which
/// adapters may render louder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<Vec<Span>>,
    pub alert: bool,
}

impl Reply {
    pub fn new() -> Self {
        Reply::default()
    }

    /// A one-line reply of plain text.
    pub fn text(text: impl Into<String>) -> Self {
        let mut r = Reply::new();
        r.line(vec![Span::Text(text.into())]);
        r
    }

    pub fn line(&mut self, spans: Vec<Span>) -> &mut Self {
        self.lines.push(spans);
        self
    }

    pub fn alerting(mut self) -> Self {
        self.alert = true;
        self
    }

    /// Plain text, one line per line: what the console prints and what tests read.
    pub fn plain(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            for span in line {
                match span {
                    Span::Text(t) | Span::Strong(t) | Span::Code(t) => out.push_str(t),
                    Span::Phone(p) => out.push_str(&p.display()),
                    Span::Link { url, label } if label == url => out.push_str(url),
                    Span::Link { url, label } => {
                        out.push_str(label);
                        out.push_str(" (");
                        out.push_str(url);
                        out.push(')');
                    }
                }
            }
        }
        out
    }
}

/// Short constructors for building lines.
pub fn text(t: impl Into<String>) -> Span {
    Span::Text(t.into())
}

pub fn strong(t: impl Into<String>) -> Span {
    Span::Strong(t.into())
}

pub fn code(t: impl Into<String>) -> Span {
    Span::Code(t.into())
}
