//! What makes a readable configuration unusable: missing required keys, URLs the clients cannot parse,
//! durations out of range, addresses that are not addresses, and missing secrets. Each check names its key.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::problem::Problem;
use super::{ChatAdapter, Config, Secrets, StatusSource, EMBEDDED, MIN_AUDIT_BYTES};
use crate::ha::settings as ha_settings;
use crate::slack::SlackMode;

/// The longest any duration may be: a day.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Every problem of `config` with `secrets`, in file order, each naming its key.
pub fn problems(config: &Config, secrets: &Secrets) -> Vec<Problem> {
    let mut out = Vec::new();
    pagerduty(config, secrets, &mut out);
    status(config, &mut out);
    addresses(config, &mut out);
    slack(config, secrets, &mut out);
    super::announce::problems(config, &mut out);
    let dedup = config.pager.dedup_window;
    if dedup > MAX_DURATION {
        out.push(Problem::new(
            "pager.dedup_window",
            format!(
                "{} is more than a day (\"0s\" turns deduplication off)",
                fmt(dedup)
            ),
        ));
    }
    positive("access.max_cover", config.access.max_cover, &mut out);
    if config.pager.audit_max_bytes < MIN_AUDIT_BYTES {
        out.push(Problem::new(
            "pager.audit_max_bytes",
            format!(
                "{} is too small to hold the records of one dedup window; use at least {MIN_AUDIT_BYTES} (default {})",
                config.pager.audit_max_bytes,
                icbot_actors::pager::audit::DEFAULT_MAX_BYTES
            ),
        ));
    }
    for problem in ha_settings::problems(
        config.state.backend,
        &config.ha,
        secrets.database_url.as_ref(),
    ) {
        // The HA checks say "key: what", or "DATABASE_URL is not set: ..." for the missing secret.
        out.push(match problem.strip_prefix(ha_settings::DATABASE_URL_VAR) {
            Some(rest) => Problem::secret(ha_settings::DATABASE_URL_VAR, rest.trim_start()),
            None => match problem.split_once(": ") {
                Some((key, message)) => Problem::new(key, message),
                None => Problem::new("", problem),
            },
        });
    }
    out
}

/// An http(s) URL exactly as the HTTP clients parse it (`url`, which reqwest uses): the error says why not.
pub fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?} is not an http(s) URL (scheme {:?})",
            url.scheme()
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

fn pagerduty(config: &Config, secrets: &Secrets, out: &mut Vec<Problem>) {
    let pd = &config.pagerduty;
    if pd.api_url.trim().is_empty() {
        out.push(Problem::new(
            "pagerduty.api_url",
            format!("missing: \"https://api.pagerduty.com\" (EU: \"https://api.eu.pagerduty.com\"), a stub's URL, or \"{EMBEDDED}\""),
        ));
    } else if !pd.is_embedded() {
        if let Err(e) = http_url(&pd.api_url) {
            out.push(Problem::new(
                "pagerduty.api_url",
                format!("{e}; use \"https://api.pagerduty.com\", a stub's URL or \"{EMBEDDED}\""),
            ));
        }
        if secrets.pagerduty_token.is_none() {
            out.push(Problem::secret(
                "PAGERDUTY_TOKEN",
                format!(
                    "is not set: needed for pagerduty.api_url = {:?} (only \"{EMBEDDED}\" runs without it)",
                    pd.api_url
                ),
            ));
        }
    }
    if pd.from_email.trim().is_empty() {
        out.push(Problem::new(
            "pagerduty.from_email",
            "missing: the bot's PagerDuty login email",
        ));
    } else if !pd.from_email.contains('@') {
        out.push(Problem::new(
            "pagerduty.from_email",
            format!("{:?} is not an email address", pd.from_email),
        ));
    }
    if pd.service_id.trim().is_empty() {
        out.push(Problem::new(
            "pagerduty.service_id",
            "missing: the PagerDuty service incidents are opened on",
        ));
    }
    if pd.ic_schedules.is_empty() {
        out.push(Problem::new(
            "pagerduty.ic_schedules",
            "empty; list at least one [[pagerduty.ic_schedules]] with id and label",
        ));
    }
    for (key, list) in [
        ("pagerduty.ic_schedules", &pd.ic_schedules),
        ("pagerduty.responder_schedules", &pd.responder_schedules),
    ] {
        for (i, s) in list.iter().enumerate() {
            if s.id.trim().is_empty() || s.label.trim().is_empty() {
                out.push(Problem::new(
                    format!("{key}[{i}]"),
                    "id and label must not be empty",
                ));
            }
        }
    }
    for (key, value) in [
        ("pagerduty.request_timeout", pd.request_timeout),
        ("pagerduty.connect_timeout", pd.connect_timeout),
        ("pagerduty.refresh_interval", pd.refresh_interval),
        ("pagerduty.lookup_deadline", pd.lookup_deadline),
    ] {
        positive(key, value, out);
    }
    if pd.page_deadline <= Duration::from_secs(1) || pd.page_deadline > MAX_DURATION {
        out.push(Problem::new(
            "pagerduty.page_deadline",
            format!(
                "{} must leave time to answer: use more than 1s (and at most a day)",
                fmt(pd.page_deadline)
            ),
        ));
    }
}

fn status(config: &Config, out: &mut Vec<Problem>) {
    let st = &config.status;
    if st.source != StatusSource::Embedded {
        let source = format!("{:?}", st.source).to_lowercase();
        if st.url.trim().is_empty() {
            out.push(Problem::new(
                "status.url",
                format!("missing: needed for status.source = \"{source}\""),
            ));
        } else if let Err(e) = http_url(&st.url) {
            out.push(Problem::new(
                "status.url",
                format!("{e} (needed for status.source = \"{source}\")"),
            ));
        }
    }
    positive("status.poll_interval", st.poll_interval, out);
    positive("status.check_timeout", st.check_timeout, out);
}

fn addresses(config: &Config, out: &mut Vec<Problem>) {
    if config.needs_stub() && config.stub.listen.parse::<SocketAddr>().is_err() {
        out.push(Problem::new(
            "stub.listen",
            format!(
                "{:?} is not an address such as 127.0.0.1:0",
                config.stub.listen
            ),
        ));
    }
    if let Some(listen) = config.admin.listen_addr() {
        if listen.parse::<SocketAddr>().is_err() {
            out.push(Problem::new(
                "admin.listen",
                format!("{listen:?} is not an address such as 127.0.0.1:9464 (\"\" turns the admin server off)"),
            ));
        }
    }
}

fn slack(config: &Config, secrets: &Secrets, out: &mut Vec<Problem>) {
    if config.chat.adapter != ChatAdapter::Slack {
        return;
    }
    for missing in secrets.missing_slack(config.slack.mode) {
        out.push(missing);
    }
    if let Err(e) = http_url(&config.slack.api_url) {
        out.push(Problem::new("slack.api_url", e));
    }
    if config.slack.mode == SlackMode::Events && config.slack.listen.parse::<SocketAddr>().is_err()
    {
        out.push(Problem::new(
            "slack.listen",
            format!(
                "{:?} is not an address such as 0.0.0.0:3000",
                config.slack.listen
            ),
        ));
    }
    positive("slack.post_timeout", config.slack.post_timeout, out);
}

fn positive(key: &str, value: Duration, out: &mut Vec<Problem>) {
    if value.is_zero() || value > MAX_DURATION {
        out.push(Problem::new(
            key,
            format!(
                "{} must be above 0 and at most a day, such as \"5s\"",
                fmt(value)
            ),
        ));
    }
}

fn fmt(d: Duration) -> String {
    format!("\"{}\"", super::duration::format(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_the_clients_parse_them() {
        assert!(http_url("https://api.pagerduty.com").is_ok());
        assert!(http_url("http://127.0.0.1:8080/").is_ok());
        let space = http_url("https://api.pagerduty com/").unwrap_err();
        assert!(space.contains("is not a URL"), "{space}");
        assert!(http_url("ftp://example.com")
            .unwrap_err()
            .contains("http(s)"));
        assert!(http_url("localhost:9464").is_err());
        assert!(http_url("api.pagerduty.com").is_err());
    }
}
