//! A [`Reply`] as Slack mrkdwn.
//!
//! Every piece of text from outside (names, messages, PagerDuty titles, URLs) is escaped: Slack reads only
//! `&`, `<` and `>` as control characters, so escaping those three is what stops `<!channel>`, `<@U123>` and
//! `<http://evil|ok>` typed by somebody from becoming a ping or a disguised link. Markup comes only from the
//! spans: `*strong*`, `` `code` ``, `<tel:..|..>` and `<url|label>`.

use icbot_actors::reply::{Reply, Span};

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
        Span::Link { url, label } => push_link(out, url, label),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use icbot_actors::oncall::Phone;
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
}
