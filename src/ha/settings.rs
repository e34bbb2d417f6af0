//! `[state] backend` and `[ha]`: where shared state lives, and the lease timings of several replicas on one
//! PostgreSQL. `DATABASE_URL` is a secret read from the environment only ([`DatabaseUrl`]), never from the
//! file; its `Debug` is redacted and no error message repeats it.
//!
//! Durations are seconds (`10`, `1.5`) or a number with a unit (`"10s"`, `"500ms"`, `"2m"`), as in `[slack]`.
//! Bad values are reported by [`problems`], each naming its key, like the rest of `icbot check-config`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The environment variable that holds the connection string.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";

/// `[state] backend`: files in `[state] dir` (one replica, the default), or PostgreSQL (several replicas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    #[default]
    Files,
    Postgres,
}

/// `[ha]`, read only when `[state] backend = "postgres"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaSettings {
    /// How long a leader's lease lasts after each renewal, by the database's clock.
    #[serde(default = "defaults::lease")]
    pub lease: DurationSetting,
    /// How often the leader renews (and a follower tries to take over); default a third of `lease`.
    #[serde(default)]
    pub renew_every: Option<DurationSetting>,
    /// The longest any one database statement may take before it is abandoned (and its connection dropped).
    #[serde(default = "defaults::statement_timeout")]
    pub statement_timeout: DurationSetting,
}

impl Default for HaSettings {
    fn default() -> Self {
        HaSettings {
            lease: defaults::lease(),
            renew_every: None,
            statement_timeout: defaults::statement_timeout(),
        }
    }
}

mod defaults {
    use super::DurationSetting;

    pub fn lease() -> DurationSetting {
        DurationSetting::Text("10s".into())
    }
    pub fn statement_timeout() -> DurationSetting {
        DurationSetting::Text("2s".into())
    }
}

/// A duration as written in the file: text with a unit, or a number of seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DurationSetting {
    Text(String),
    Number(f64),
}

impl DurationSetting {
    fn parse(&self, key: &str) -> Result<Duration, String> {
        match self {
            DurationSetting::Text(text) => parse_duration(text)
                .map_err(|why| format!("{key}: {text:?} is not a duration ({why})")),
            DurationSetting::Number(n) => Duration::try_from_secs_f64(*n)
                .map_err(|_| format!("{key}: {n} is not a number of seconds")),
        }
    }
}

/// The lease timings, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaTimings {
    pub lease: Duration,
    pub renew_every: Duration,
    pub statement_timeout: Duration,
}

impl HaSettings {
    /// The timings, or every problem with them (each naming its key).
    pub fn timings(&self) -> Result<HaTimings, Vec<String>> {
        let mut problems = Vec::new();
        let mut read = |key: &str, setting: &DurationSetting| {
            setting
                .parse(key)
                .map_err(|p| problems.push(p))
                .unwrap_or_default()
        };
        let lease = read("ha.lease", &self.lease);
        let renew_every = self
            .renew_every
            .as_ref()
            .map(|r| read("ha.renew_every", r))
            .unwrap_or(lease / 3);
        let statement_timeout = read("ha.statement_timeout", &self.statement_timeout);
        if !problems.is_empty() {
            return Err(problems);
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&lease) {
            problems.push(format!("ha.lease: {lease:?} must be between 1s and 1h"));
        }
        if renew_every.is_zero() || renew_every > lease / 2 {
            problems.push(format!(
                "ha.renew_every: {renew_every:?} must be above 0 and at most half of ha.lease ({lease:?}), so that a \
                 leader can retry before it steps down at two thirds of the lease"
            ));
        }
        if statement_timeout.is_zero() || statement_timeout > Duration::from_secs(60) {
            problems.push(format!(
                "ha.statement_timeout: {statement_timeout:?} must be above 0 and at most 60s"
            ));
        }
        if problems.is_empty() {
            Ok(HaTimings {
                lease,
                renew_every,
                statement_timeout,
            })
        } else {
            Err(problems)
        }
    }
}

/// `"10s"`, `"1500ms"`, `"2m"`, `"1h"`, `"0.5s"`.
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("it needs a unit: ms, s, m or h")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "it should start with a number")?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err("the unit should be ms, s, m or h"),
    };
    Duration::try_from_secs_f64(number * scale).map_err(|_| "it is out of range")
}

/// The PostgreSQL connection string, from `DATABASE_URL`: a URL (`postgres://user:pass@host/db?sslmode=require`)
/// or libpq's `key=value` form. A secret: `Debug` shows only that it is set.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([REDACTED])")
    }
}

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(SecretString::from(url.into()))
    }

    /// `DATABASE_URL` from the process environment; unset or blank is `None`.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        get(DATABASE_URL_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(Self::new)
    }

    /// The client configuration. libpq's `sslmode=verify-full` and `verify-ca` are accepted as `require`, which
    /// here always verifies the server's certificate and name (see `tls`). The error never repeats the URL.
    pub fn parse(&self) -> Result<tokio_postgres::Config, String> {
        let text = self
            .0
            .expose_secret()
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let config = tokio_postgres::Config::from_str(&text).map_err(|e| {
            format!(
                "{DATABASE_URL_VAR} is not a PostgreSQL connection string: {}",
                super::database::causes(&e)
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(format!("{DATABASE_URL_VAR} names no host"));
        }
        Ok(config)
    }
}

/// Everything wrong with `[state] backend`, `[ha]` and `DATABASE_URL` for running, each naming its key.
pub fn problems(
    backend: StateBackend,
    ha: &HaSettings,
    database_url: Option<&DatabaseUrl>,
) -> Vec<String> {
    if backend != StateBackend::Postgres {
        return Vec::new();
    }
    let mut problems = ha.timings().err().unwrap_or_default();
    match database_url {
        None => problems.push(format!(
            "{DATABASE_URL_VAR} is not set: needed for state.backend = \"postgres\""
        )),
        Some(url) => problems.extend(url.parse().err()),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn renew_every_defaults_to_a_third_of_the_lease() {
        let t = HaSettings::default().timings().unwrap();
        assert_eq!(t.lease, Duration::from_secs(10));
        assert_eq!(t.renew_every, Duration::from_secs(10) / 3);
        assert_eq!(t.statement_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_timings_name_their_key() {
        let ha = HaSettings {
            lease: DurationSetting::Number(-10.0),
            ..HaSettings::default()
        };
        let problems = ha.timings().unwrap_err();
        assert!(problems[0].starts_with("ha.lease: -10"), "{problems:?}");
        let ha = HaSettings {
            lease: DurationSetting::Text("10 parsecs".into()),
            ..HaSettings::default()
        };
        let problems = ha.timings().unwrap_err();
        assert!(
            problems[0].starts_with("ha.lease: \"10 parsecs\""),
            "{problems:?}"
        );
        let ha = HaSettings {
            lease: DurationSetting::Number(6.0),
            ..HaSettings::default()
        };
        assert_eq!(ha.timings().unwrap().lease, Duration::from_secs(6));

        let ha = HaSettings {
            renew_every: Some(DurationSetting::Text("6s".into())),
            ..HaSettings::default()
        };
        let problems = ha.timings().unwrap_err();
        assert!(problems[0].starts_with("ha.renew_every"), "{problems:?}");
    }

    #[test]
    fn files_backend_needs_no_database() {
        assert!(problems(StateBackend::Files, &HaSettings::default(), None).is_empty());
    }

    #[test]
    fn postgres_backend_needs_a_usable_database_url() {
        let problems_with = |url: Option<&str>| {
            problems(
                StateBackend::Postgres,
                &HaSettings::default(),
                url.map(DatabaseUrl::new).as_ref(),
            )
        };
        let missing = problems_with(None);
        assert!(
            missing[0].starts_with("DATABASE_URL is not set"),
            "{missing:?}"
        );
        let bad = problems_with(Some("postgres://icbot:hunter2@db/icbot?sslmode=sometimes"));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].starts_with("DATABASE_URL is not a PostgreSQL"),
            "{bad:?}"
        );
        assert!(!bad[0].contains("hunter2"), "{bad:?}");
        assert!(bad[0].contains("sslmode"), "the reason is given: {bad:?}");
        assert!(
            problems_with(Some("postgres://icbot:hunter2@db/icbot?sslmode=require")).is_empty()
        );
        assert!(problems_with(Some("postgres://icbot@db/icbot?sslmode=verify-full")).is_empty());
        assert!(problems_with(Some("host=db user=icbot sslmode=require")).is_empty());
    }

    #[test]
    fn database_url_debug_is_redacted() {
        let url = DatabaseUrl::new("postgres://icbot:hunter2@db/icbot");
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }
}
