//! Durations in the configuration: one form, humantime strings such as `"10s"`, `"500ms"`, `"2m"`, `"1h 30m"`.
//!
//! The old forms are still read for one release, with a deprecation warning naming the new form (see
//! [`super::reading`]): `*_secs` number keys (`page_deadline_secs = 10`) and bare numbers of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration key of the file, and the `*_secs` key it replaces (read for one release).
#[derive(Debug, Clone, Copy)]
pub struct DurationKey {
    pub section: &'static str,
    pub key: &'static str,
    pub legacy: Option<&'static str>,
}

const fn key(section: &'static str, key: &'static str, legacy: &'static str) -> DurationKey {
    DurationKey {
        section,
        key,
        legacy: Some(legacy),
    }
}

/// Every duration key of the file.
pub const KEYS: &[DurationKey] = &[
    key("pagerduty", "request_timeout", "request_timeout_secs"),
    key("pagerduty", "connect_timeout", "connect_timeout_secs"),
    key("pagerduty", "refresh_interval", "refresh_interval_secs"),
    key("pagerduty", "page_deadline", "page_deadline_secs"),
    key("pagerduty", "lookup_deadline", "lookup_deadline_secs"),
    key("status", "poll_interval", "poll_interval_secs"),
    key("status", "check_timeout", "check_timeout_secs"),
    key("pager", "dedup_window", "dedup_window_secs"),
    DurationKey {
        section: "slack",
        key: "post_timeout",
        legacy: None,
    },
    DurationKey {
        section: "slack",
        key: "per_channel_interval",
        legacy: None,
    },
];

/// Parses `"10s"`, `"500ms"`, `"2m"`, `"1h 30m"`; the error is what the operator reads after the key.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!(
            "invalid duration {text:?}: write a number and a unit, such as \"10s\", \"500ms\" or \"2m\""
        )
    })
}

/// A number of seconds (the deprecated form) as a duration.
pub fn from_seconds(seconds: f64) -> Result<Duration, String> {
    if seconds.is_finite() && seconds >= 0.0 {
        Duration::try_from_secs_f64(seconds).map_err(|e| format!("{seconds}: {e}"))
    } else {
        Err(format!(
            "{seconds} is not a duration: write a number and a unit, such as \"10s\""
        ))
    }
}

/// The humantime form of `d`, as the file should say it: `"10s"`, `"1s 500ms"`.
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// `#[serde(deserialize_with = "duration::deserialize")]`: a humantime string; a bare number of seconds is
/// still read (the reader warns that it is deprecated).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let raw = Raw::deserialize(d).map_err(|_: D::Error| {
        serde::de::Error::custom(
            "not a duration: write a number and a unit, such as \"10s\", \"500ms\" or \"2m\"",
        )
    })?;
    match raw {
        Raw::Seconds(s) => from_seconds(s),
        Raw::Text(t) => parse(&t),
    }
    .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_strings_parse() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse("ten")
            .unwrap_err()
            .contains("invalid duration \"ten\""));
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::from_millis(200),
            Duration::from_millis(1500),
            Duration::from_secs(120),
        ] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }

    #[test]
    fn seconds_must_be_finite_and_not_negative() {
        assert_eq!(from_seconds(1.5), Ok(Duration::from_millis(1500)));
        assert!(from_seconds(-1.0).is_err());
        assert!(from_seconds(f64::NAN).is_err());
    }
}
