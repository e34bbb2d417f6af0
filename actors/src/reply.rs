//! A reply as a small document, so each chat adapter renders it its own way: plain text on the console,
//! mrkdwn with `tel:` links and escaping on Slack.

use serde::{Deserialize, Serialize};

use crate::cache::oncall::Phone;
use crate::incidents::status::IncidentStatus;

/// The most a reply may cost when posted, in [`Reply::cost`] units (characters, escaping counted at its worst).
/// Slack cuts a message's text at 40,000 characters and advises far less; 12,000 keeps a whole reply readable
/// and posted in one message, even when an account has thousands of people on call.
pub const MAX_REPLY_CHARS: usize = 12_000;

/// One piece of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
/// adapters may render louder. `card`: a page's incident, which an adapter that can (Slack) shows as a live
/// card with buttons; the lines stay the text fallback, so notifications and the console read the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub lines: Vec<Vec<Span>>,
    pub alert: bool,
    #[serde(default)]
    pub card: Option<Box<IncidentCard>>,
}

/// The action id of a card's Acknowledge button; its value is the incident number.
pub const ACK_ACTION_ID: &str = "icbot_ack";
/// The action id of a card's Resolve button; its value is the incident number.
pub const RESOLVE_ACTION_ID: &str = "icbot_resolve";

/// A page's incident as a live card: what it is, where it stands, and who was paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCard {
    pub incident_id: String,
    pub number: u64,
    pub title: String,
    pub html_url: String,
    pub status: IncidentStatus,
    /// Who acknowledged it, as PagerDuty names them.
    #[serde(default)]
    pub acknowledged_by: Vec<String>,
    /// One row per person paged.
    pub rows: Vec<CardRow>,
}

/// One person on a card: their page outcome and phones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRow {
    pub name: String,
    pub outcome: String,
    pub phones: Vec<Phone>,
}

/// A button on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Acknowledge,
    Resolve,
}

impl CardAction {
    pub fn action_id(self) -> &'static str {
        match self {
            CardAction::Acknowledge => ACK_ACTION_ID,
            CardAction::Resolve => RESOLVE_ACTION_ID,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CardAction::Acknowledge => "Acknowledge",
            CardAction::Resolve => "Resolve",
        }
    }
}

impl IncidentCard {
    /// The buttons its status allows: both while triggered, Resolve once acknowledged, none once resolved.
    pub fn actions(&self) -> Vec<CardAction> {
        match self.status {
            IncidentStatus::Triggered => vec![CardAction::Acknowledge, CardAction::Resolve],
            IncidentStatus::Acknowledged => vec![CardAction::Resolve],
            IncidentStatus::Resolved => vec![],
        }
    }

    /// `Status: ACKNOWLEDGED by Alice Moreau`.
    pub fn status_line(&self) -> String {
        let status = self.status.as_str().to_uppercase();
        match self.status {
            IncidentStatus::Acknowledged if !self.acknowledged_by.is_empty() => {
                format!("Status: {status} by {}", self.acknowledged_by.join(", "))
            }
            _ => format!("Status: {status}"),
        }
    }
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

    /// An upper bound of the characters any adapter renders for this reply: the plain text, with `&`, `<`
    /// and `>` counted as the five characters Slack's escaping may make of them, plus room for markup.
    pub fn cost(&self) -> usize {
        self.lines.iter().map(|l| line_cost(l) + 1).sum()
    }

    /// The reply cut to whole lines that cost at most `max_chars` in all, ending with "…and N more lines
    /// (truncated)" when lines were dropped. A first line longer than the whole budget is itself cut, so the
    /// reply never comes out empty. `alert` is kept.
    pub fn bounded(mut self, max_chars: usize) -> Reply {
        if self.cost() <= max_chars {
            return self;
        }
        // Room for the note at the end, whatever N is.
        let budget = max_chars.saturating_sub(TRUNCATION_NOTE_COST);
        let lines = std::mem::take(&mut self.lines);
        let total = lines.len();
        let mut used = 0;
        for line in lines {
            let cost = line_cost(&line) + 1;
            if used + cost <= budget {
                used += cost;
                self.lines.push(line);
            } else {
                if self.lines.is_empty() {
                    self.lines.push(cut_line(line, budget));
                }
                break;
            }
        }
        let dropped = total - self.lines.len();
        let note = match dropped {
            0 => "…(truncated)".to_string(),
            1 => "…and 1 more line (truncated)".to_string(),
            n => format!("…and {n} more lines (truncated)"),
        };
        self.lines.push(vec![Span::Text(note)]);
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

/// What [`Reply::bounded`] keeps for its closing note: "…and N more lines (truncated)" with any N.
const TRUNCATION_NOTE_COST: usize = 64;

/// Characters of `text` once escaped at worst (`&` becomes `&amp;`).
fn text_cost(text: &str) -> usize {
    text.chars()
        .map(|c| if matches!(c, '&' | '<' | '>') { 5 } else { 1 })
        .sum()
}

fn span_cost(span: &Span) -> usize {
    match span {
        Span::Text(t) => text_cost(t),
        // `*strong*`, `` `code` ``.
        Span::Strong(t) | Span::Code(t) => text_cost(t) + 2,
        // `<tel:+..|+cc number>`: the number twice, and the markup.
        Span::Phone(p) => 2 * text_cost(&p.display()) + 8,
        Span::Link { url, label } => 3 * text_cost(url) + text_cost(label) + 3,
    }
}

fn line_cost(line: &[Span]) -> usize {
    line.iter().map(span_cost).sum()
}

/// The spans of `line` that fit in `budget`; the first text that does not fit is cut and ends with `…`.
fn cut_line(line: Vec<Span>, budget: usize) -> Vec<Span> {
    let mut out = Vec::new();
    let mut used = 0;
    for span in line {
        let cost = span_cost(&span);
        if used + cost <= budget {
            used += cost;
            out.push(span);
            continue;
        }
        let room = budget.saturating_sub(used + 3);
        let cut = |t: &str| {
            let mut kept = String::new();
            let mut spent = 0;
            for c in t.chars() {
                spent += text_cost(c.encode_utf8(&mut [0; 4]));
                if spent > room {
                    break;
                }
                kept.push(c);
            }
            kept.push('…');
            kept
        };
        match span {
            Span::Text(t) => out.push(Span::Text(cut(&t))),
            Span::Strong(t) => out.push(Span::Strong(cut(&t))),
            Span::Code(t) => out.push(Span::Code(cut(&t))),
            Span::Phone(_) | Span::Link { .. } => {}
        }
        break;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(lines: usize) -> Reply {
        let mut reply = Reply::new();
        for i in 0..lines {
            reply.line(vec![text(format!("line {i:04} of the reply")), strong("!")]);
        }
        reply
    }

    #[test]
    fn a_reply_within_the_bound_is_unchanged() {
        let reply = numbered(10);
        assert_eq!(reply.clone().bounded(MAX_REPLY_CHARS), reply);
    }

    #[test]
    fn a_long_reply_keeps_whole_lines_and_says_how_many_were_dropped() {
        let bounded = numbered(5_000).bounded(1_000);
        assert!(bounded.cost() <= 1_000, "{}", bounded.cost());
        let plain = bounded.plain();
        let lines: Vec<&str> = plain.lines().collect();
        let kept = lines.len() - 1;
        assert!(kept > 10, "{plain}");
        for (i, line) in lines[..kept].iter().enumerate() {
            assert_eq!(*line, format!("line {i:04} of the reply!"));
        }
        assert_eq!(
            lines[kept],
            format!("…and {} more lines (truncated)", 5_000 - kept)
        );
    }

    #[test]
    fn a_first_line_longer_than_the_bound_is_cut_itself() {
        let mut reply = Reply::text("x".repeat(1_000_000));
        reply.line(vec![text("second")]);
        let bounded = reply.alerting().bounded(500);
        assert!(bounded.alert);
        assert!(bounded.cost() <= 500, "{}", bounded.cost());
        let plain = bounded.plain();
        assert!(plain.starts_with("xxxx"), "{plain}");
        assert!(
            plain.ends_with("…\n…and 1 more line (truncated)"),
            "{plain}"
        );
    }

    #[test]
    fn escaping_counts_at_its_worst() {
        let angle = Reply::text("<".repeat(100));
        assert_eq!(angle.cost(), 501);
        let bounded = Reply::text("<!channel> ".repeat(10_000)).bounded(1_000);
        assert!(bounded.cost() <= 1_000);
    }
}
