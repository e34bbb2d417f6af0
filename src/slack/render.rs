//! A [`Reply`] as Slack mrkdwn.
//!
//! Every piece of text from outside (names, messages, PagerDuty titles, URLs) is escaped: Slack reads only
//! `&`, `<` and `>` as control characters, so escaping those three is what stops `<!channel>`, `<@U123>` and
//! `<http://evil|ok>` typed by somebody from becoming a ping or a disguised link. Markup comes only from the
//! spans: `*strong*`, `` `code` ``, `<tel:..|..>` and `<url|label>`.

use icbot_actors::reply::{IncidentCard, Reply, Span};
use slack_morphism::prelude::{
    SlackActionBlockElement, SlackActionsBlock, SlackBlock, SlackBlockButtonElement,
    SlackBlockButtonStyle, SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText,
    SlackHeaderBlock, SlackSectionBlock,
};

/// Shown in front of a reply about a failure.
pub const ALERT_PREFIX: &str = ":rotating_light: ";

/// The mrkdwn text of a reply, one Slack line per reply line.
pub fn mrkdwn(reply: &Reply) -> String {
    let mut out = String::new();
    if reply.alert {
        out.push_str(ALERT_PREFIX);
    }
    for (i, line) in reply.lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for span in line {
            push_span(&mut out, span);
        }
    }
    out
}

fn push_span(out: &mut String, span: &Span) {
    match span {
        Span::Text(t) => out.push_str(&escape(t)),
        Span::Strong(t) if t.is_empty() => {}
        Span::Strong(t) => {
            out.push('*');
            out.push_str(&escape(t));
            out.push('*');
        }
        Span::Code(t) if t.is_empty() => {}
        Span::Code(t) => {
            // A backtick cannot be escaped inside inline code; a look-alike keeps the span whole.
            out.push('`');
            out.push_str(&escape(&t.replace('`', "\u{02CB}")));
            out.push('`');
        }
        Span::Phone(phone) => push_link(out, &phone.tel_uri(), &phone.display()),
        Span::Link { url, label } if is_web_url(url) => push_link(out, url, label),
        // Anything else between `<` and `|` is Slack markup (`<!channel|x>` pings): shown as text instead.
        Span::Link { url, label } if label == url => out.push_str(&escape(url)),
        Span::Link { url, label } => {
            out.push_str(&escape(label));
            out.push_str(" (");
            out.push_str(&escape(url));
            out.push(')');
        }
    }
}

/// The most characters of a header block (Slack refuses more than 150).
const HEADER_MAX: usize = 150;

/// A reply with a card as Block Kit: a header with the number and title, the status, one section per person
/// with their outcome and `tel:` links, a link to the incident, and the buttons the status allows. `None`
/// for a reply without a card (plain mrkdwn text). The text of the message stays [`mrkdwn`], the fallback
/// notifications show.
pub fn card_blocks(reply: &Reply) -> Option<Vec<SlackBlock>> {
    let card: &IncidentCard = reply.card.as_ref()?;
    let mut header = format!("#{} {}", card.number, card.title);
    if header.chars().count() > HEADER_MAX {
        header = header.chars().take(HEADER_MAX - 1).collect::<String>() + "…";
    }
    let section = |text: String| {
        SlackBlock::Section(
            SlackSectionBlock::new()
                .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text))),
        )
    };
    let mut blocks = vec![SlackBlock::Header(SlackHeaderBlock::new(
        SlackBlockPlainText::new(header).into(),
    ))];
    let mut status = String::new();
    push_span(&mut status, &Span::Strong(card.status_line()));
    status.push_str(" · ");
    push_span(
        &mut status,
        &Span::Link {
            url: card.html_url.clone(),
            label: format!("incident #{}", card.number),
        },
    );
    blocks.push(section(status));
    for row in &card.rows {
        let mut line = String::new();
        push_span(
            &mut line,
            &Span::Text(format!("{} — {}", row.name, row.outcome)),
        );
        for phone in &row.phones {
            line.push(' ');
            push_span(&mut line, &Span::Phone(phone.clone()));
        }
        blocks.push(section(line));
    }
    let buttons: Vec<SlackActionBlockElement> = card
        .actions()
        .into_iter()
        .map(|action| {
            let button = SlackBlockButtonElement::new(
                SlackBlockPlainText::new(action.label().to_string()).into(),
            )
            .with_action_id(action.action_id().into())
            .with_value(card.number.to_string());
            let button = match action {
                icbot_actors::reply::CardAction::Resolve => {
                    button.with_style(SlackBlockButtonStyle::Primary)
                }
                icbot_actors::reply::CardAction::Acknowledge => button,
            };
            SlackActionBlockElement::Button(button)
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(SlackBlock::Actions(SlackActionsBlock::new(buttons)));
    }
    Some(blocks)
}

/// Only `http(s)://` URLs become links.
fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `<url|label>`. A `|` in the URL would end it early, so it is percent-encoded; the label may hold any text.
fn push_link(out: &mut String, url: &str, label: &str) {
    out.push('<');
    out.push_str(&escape(&url.replace('|', "%7C")));
    out.push('|');
    out.push_str(&escape(label));
    out.push('>');
}

/// Escapes Slack's three control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes Slack's escaping of message text: events carry a typed `&`, `<` and `>` as entities. Real mentions
/// and links (`<@U123>`, `<mailto:..>`) arrive as markup and are left alone.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use icbot_actors::cache::oncall::Phone;
    use icbot_actors::reply::{code, strong, text};

    fn one_line(spans: Vec<Span>) -> String {
        let mut reply = Reply::new();
        reply.line(spans);
        mrkdwn(&reply)
    }

    fn phone(country_code: Option<u32>, number: &str) -> Phone {
        Phone {
            country_code,
            number: number.to_string(),
        }
    }

    #[test]
    fn channel_ping_in_text_is_escaped() {
        assert_eq!(
            one_line(vec![text("hi <!channel> and <!here>")]),
            "hi &lt;!channel&gt; and &lt;!here&gt;"
        );
    }

    #[test]
    fn user_mention_in_a_name_is_escaped() {
        assert_eq!(one_line(vec![strong("<@U123>")]), "*&lt;@U123&gt;*");
    }

    #[test]
    fn fake_link_in_a_message_is_escaped() {
        assert_eq!(
            one_line(vec![text("see <http://evil|ok>")]),
            "see &lt;http://evil|ok&gt;"
        );
    }

    #[test]
    fn ampersand_is_escaped_once() {
        assert_eq!(
            one_line(vec![text("R&D &amp; ops")]),
            "R&amp;D &amp;amp; ops"
        );
    }

    #[test]
    fn strong_and_code_are_marked_up() {
        assert_eq!(
            one_line(vec![strong("CRITICAL"), text(" try "), code("!ic page")]),
            "*CRITICAL* try `!ic page`"
        );
    }

    #[test]
    fn code_with_markup_inside_stays_one_span() {
        assert_eq!(one_line(vec![code("a`<b>")]), "`a\u{02CB}&lt;b&gt;`");
    }

    #[test]
    fn phone_is_a_tel_link() {
        let p = phone(Some(44), "1234 567");
        let expected = format!("<{}|{}>", p.tel_uri(), p.display());
        assert_eq!(one_line(vec![Span::Phone(p)]), expected);
        assert!(expected.starts_with("<tel:+44"), "{expected}");
    }

    #[test]
    fn link_url_and_label_are_escaped() {
        let link = Span::Link {
            url: "https://pd.example/incidents/1?a=1&b=2|x".to_string(),
            label: "<!channel> #1".to_string(),
        };
        assert_eq!(
            one_line(vec![link]),
            "<https://pd.example/incidents/1?a=1&amp;b=2%7Cx|&lt;!channel&gt; #1>"
        );
    }

    #[test]
    fn a_link_that_is_not_a_web_url_is_plain_text() {
        let link = |url: &str| Span::Link {
            url: url.to_string(),
            label: "incident".to_string(),
        };
        assert_eq!(
            one_line(vec![link("!channel")]),
            "incident (!channel)",
            "no <!channel|..> ping"
        );
        assert_eq!(one_line(vec![link("@U123")]), "incident (@U123)");
        assert_eq!(
            one_line(vec![link("HTTPS://pd.example/1")]),
            "<HTTPS://pd.example/1|incident>"
        );
    }

    #[test]
    fn lines_are_joined_and_alert_prefixes_the_first() {
        let mut reply = Reply::new();
        reply.line(vec![text("page not confirmed")]);
        reply.line(vec![text("call them")]);
        let reply = reply.alerting();
        assert_eq!(
            mrkdwn(&reply),
            ":rotating_light: page not confirmed\ncall them"
        );
    }

    #[test]
    fn plain_reply_has_no_prefix() {
        assert_eq!(mrkdwn(&Reply::text("ok")), "ok");
    }

    #[test]
    fn unescape_undoes_escape() {
        for typed in ["a & b <eu>", "&lt; typed literally", "<@U1> & <#C1>"] {
            assert_eq!(unescape(&escape(typed)), typed);
        }
        assert_eq!(unescape("<@U1> &amp;lt;"), "<@U1> &lt;");
    }

    mod hostile {
        //! Property tests: whatever text the spans hold, the only markup in the output is the renderer's own.

        use super::*;
        use proptest::prelude::*;

        fn fragment() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("<!channel>".to_string()),
                Just("<!here|here>".to_string()),
                Just("<@U123ABC>".to_string()),
                Just("<#C0001|general>".to_string()),
                Just("<http://evil.example|click me>".to_string()),
                Just("&lt;!channel&gt; &amp;".to_string()),
                Just("\u{202E}evil\u{202C} محمد 👩‍🚒".to_string()),
                Just("\0\r\n\t\x1b[31m`*_~|".to_string()),
                Just("http://x".to_string()),
                any::<String>(),
            ]
        }

        fn hostile() -> impl Strategy<Value = String> {
            prop::collection::vec(fragment(), 0..6).prop_map(|parts| parts.concat())
        }

        fn span() -> impl Strategy<Value = Span> {
            prop_oneof![
                hostile().prop_map(Span::Text),
                hostile().prop_map(Span::Strong),
                hostile().prop_map(Span::Code),
                (prop::option::of(0u32..1000), hostile()).prop_map(|(country_code, number)| {
                    Span::Phone(Phone {
                        country_code,
                        number,
                    })
                }),
                (hostile(), hostile()).prop_map(|(url, label)| Span::Link { url, label }),
            ]
        }

        fn reply() -> impl Strategy<Value = Reply> {
            (
                prop::collection::vec(prop::collection::vec(span(), 0..5), 0..6),
                any::<bool>(),
            )
                .prop_map(|(lines, alert)| Reply {
                    lines,
                    alert,
                    card: None,
                })
        }

        /// How many links the renderer itself makes: every phone, and links to web URLs.
        fn own_links(reply: &Reply) -> usize {
            reply
                .lines
                .iter()
                .flatten()
                .filter(|s| match s {
                    Span::Phone(_) => true,
                    Span::Link { url, .. } => is_web_url(url),
                    _ => false,
                })
                .count()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn only_the_renderers_own_links_are_markup(reply in reply()) {
                let out = mrkdwn(&reply);
                prop_assert_eq!(out.matches('<').count(), own_links(&reply), "{}", out);
                prop_assert_eq!(out.matches('>').count(), own_links(&reply), "{}", out);
                for (i, _) in out.match_indices('<') {
                    let rest = &out[i + 1..];
                    let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
                    prop_assert!(
                        lower.starts_with("tel:") || lower.starts_with("http://") || lower.starts_with("https://"),
                        "{}", out
                    );
                }
            }

            #[test]
            fn a_bounded_reply_renders_under_slacks_limit(reply in reply(), times in 1usize..2_000) {
                let mut big = Reply::new();
                for _ in 0..times {
                    for line in &reply.lines {
                        big.line(line.clone());
                    }
                }
                let out = mrkdwn(&big.bounded(icbot_actors::reply::MAX_REPLY_CHARS));
                prop_assert!(out.chars().count() <= icbot_actors::reply::MAX_REPLY_CHARS + ALERT_PREFIX.len());
            }
        }
    }
}
