//! `GET /`: the status page, server-rendered HTML that refreshes itself every five seconds. No JavaScript;
//! readable on a phone. Every value from the tree is escaped.

use std::fmt::Write;
use std::time::Duration;

use icbot_actors::oncall::human_age;
use serde_json::Value;

use super::facts::{ActorFacts, TreeFacts};
pub use crate::html::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em;color:#222}\
table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}\
.ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}.muted{color:#777}\
code{font-size:.9em;word-break:break-all}";

/// The whole page.
pub fn render(tree: &TreeFacts) -> String {
    let mut html = String::with_capacity(8 * 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"5\">");
    let _ = write!(
        html,
        "<title>icbot</title><style>{STYLE}</style></head><body>"
    );
    let r = &tree.readiness;
    if r.ready {
        html.push_str("<h1>icbot <span class=\"ok\">ready</span></h1>");
    } else {
        html.push_str("<h1>icbot <span class=\"bad\">not ready</span></h1><ul>");
        for why in &r.not_ready {
            let _ = write!(html, "<li class=\"bad\">{}</li>", escape(why));
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Actors</h2><table><tr><th>actor</th><th>state</th><th>restarts</th><th>last failure</th></tr>");
    for actor in &tree.actors {
        row(&mut html, actor);
    }
    html.push_str("</table><h2>Facts</h2><table>");
    for actor in &tree.actors {
        for (key, value) in &actor.facts {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&actor.name),
                escape(key),
                escape(&fact_text(value))
            );
        }
    }
    html.push_str("</table><p class=\"muted\">JSON: <a href=\"/actors\">/actors</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/metrics\">/metrics</a></p></body></html>");
    html
}

fn row(html: &mut String, a: &ActorFacts) {
    let depth = match a.parent.as_deref() {
        None => 0,
        Some(p) if a.name.contains("stalk:") && p.ends_with("stalks") => 2,
        Some(_) => 1,
    };
    let indent = "&nbsp;&nbsp;".repeat(depth * 2);
    let class = if a.status == "running" { "ok" } else { "bad" };
    let failure = match &a.last_failure {
        None => "<span class=\"muted\">none</span>".to_string(),
        Some(f) => format!(
            "{} <span class=\"muted\">({} ago)</span>",
            escape(&f.reason),
            human_age(Duration::from_secs(f.age_secs))
        ),
    };
    let _ = write!(
        html,
        "<tr><td>{indent}{}<br><span class=\"muted\">{}</span></td><td class=\"{class}\">{}</td><td>{}</td><td>{failure}</td></tr>",
        escape(&a.name),
        escape(a.id.as_deref().unwrap_or("")),
        escape(&a.status),
        a.restarts
    );
}

/// A fact as one line: strings bare, anything else as compact JSON.
fn fact_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::admin::facts::{FailureFacts, Readiness};

    fn tree(name: &str, reason: &str) -> TreeFacts {
        TreeFacts {
            readiness: Readiness {
                ready: false,
                not_ready: vec!["the chat adapter is not connected".into()],
                tree_up: true,
                chat_connected: false,
                has_snapshot: true,
                failing: vec![],
                instance: None,
            },
            actors: vec![ActorFacts {
                name: name.into(),
                id: Some("0.7".into()),
                status: "running".into(),
                parent: Some("icbot".into()),
                children: vec![],
                restarts: 3,
                failing: false,
                last_failure: Some(FailureFacts {
                    reason: reason.into(),
                    at_unix: 0,
                    age_secs: 90,
                }),
                facts: BTreeMap::from([("channel".to_string(), json!(name))]),
            }],
        }
    }

    #[test]
    fn page_refreshes_fits_a_phone_and_shows_failures() {
        let html = render(&tree("stalk:ops", "failed: crash requested (chaos)"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("not ready"));
        assert!(html.contains("failed: crash requested (chaos)"));
        assert!(html.contains("(1 min ago)"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn everything_from_the_tree_is_escaped() {
        let html = render(&tree("stalk:<script>x</script>", "a \"b\" & 'c'"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("stalk:&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("a &quot;b&quot; &amp; &#39;c&#39;"));
    }
}
