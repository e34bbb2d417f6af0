//! `[slack]` settings and the Slack secrets, which come only from the environment.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// How Slack's events reach the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackMode {
    /// A WebSocket the bot opens to Slack (`apps.connections.open`, app token): no public URL needed.
    Socket,
    /// Slack POSTs events to `[slack] listen` at `/slack/events` (signing secret).
    Events,
}

impl fmt::Display for SlackMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlackMode::Socket => "socket",
            SlackMode::Events => "events",
        })
    }
}

/// The `[slack]` section. Durations are humantime strings (`"500ms"`, `"10s"`, `"2m"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    pub mode: SlackMode,
    /// The Web API base URL, no trailing slash. A fake Slack may be `http://`.
    pub api_url: String,
    /// Where the Events API listener binds (events mode only).
    pub listen: String,
    /// Bound on each Slack Web API call.
    #[serde(deserialize_with = "crate::config::duration::deserialize")]
    pub post_timeout: Duration,
    /// At most one message per channel per this interval (Slack allows about one a second per channel).
    #[serde(deserialize_with = "crate::config::duration::deserialize")]
    pub per_channel_interval: Duration,
}

impl Default for SlackSettings {
    fn default() -> Self {
        SlackSettings {
            mode: SlackMode::Socket,
            api_url: "https://slack.com/api".to_string(),
            listen: "0.0.0.0:3000".to_string(),
            post_timeout: Duration::from_secs(10),
            per_channel_interval: Duration::from_secs(1),
        }
    }
}

/// The Slack secrets. `Debug` shows `[REDACTED]` for each.
#[derive(Debug, Clone)]
pub struct SlackSecrets {
    /// `SLACK_BOT_TOKEN` (`xoxb-...`): every Web API call.
    pub bot_token: SecretString,
    /// `SLACK_APP_TOKEN` (`xapp-...`, `connections:write`): Socket Mode only.
    pub app_token: Option<SecretString>,
    /// `SLACK_SIGNING_SECRET`: verifies Events API requests.
    pub signing_secret: Option<SecretString>,
}

pub const BOT_TOKEN_VAR: &str = "SLACK_BOT_TOKEN";
pub const APP_TOKEN_VAR: &str = "SLACK_APP_TOKEN";
pub const SIGNING_SECRET_VAR: &str = "SLACK_SIGNING_SECRET";

impl SlackSecrets {
    /// Reads the secrets `mode` needs from the environment; the error names the missing variable.
    pub fn from_env(mode: SlackMode) -> Result<SlackSecrets, String> {
        Self::from_lookup(mode, |name| std::env::var(name).ok())
    }

    /// As [`SlackSecrets::from_env`], with any source of variables (tests). Empty counts as not set.
    pub fn from_lookup(
        mode: SlackMode,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SlackSecrets, String> {
        let get = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from)
        };
        let missing = |name: &str, why: &str| format!("{name} is not set ({why})");
        let bot_token = get(BOT_TOKEN_VAR)
            .ok_or_else(|| missing(BOT_TOKEN_VAR, "needed for the Slack adapter"))?;
        let app_token = get(APP_TOKEN_VAR);
        let signing_secret = get(SIGNING_SECRET_VAR);
        match mode {
            SlackMode::Socket if app_token.is_none() => Err(missing(
                APP_TOKEN_VAR,
                "needed for [slack] mode = \"socket\"",
            )),
            SlackMode::Events if signing_secret.is_none() => Err(missing(
                SIGNING_SECRET_VAR,
                "needed for [slack] mode = \"events\"",
            )),
            _ => Ok(SlackSecrets {
                bot_token,
                app_token,
                signing_secret,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_fill_an_empty_section() {
        let s: SlackSettings = toml::from_str("").unwrap();
        assert_eq!(s, SlackSettings::default());
    }

    #[test]
    fn durations_take_humantime_strings() {
        let s: SlackSettings = toml::from_str(
            "mode = \"events\"\npost_timeout = \"500ms\"\nper_channel_interval = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(s.mode, SlackMode::Events);
        assert_eq!(s.post_timeout, Duration::from_millis(500));
        assert_eq!(s.per_channel_interval, Duration::from_secs(2));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<SlackSettings>("tokn = \"x\"").is_err());
    }

    #[test]
    fn missing_app_token_is_named_for_socket_mode() {
        let env = |name: &str| (name == BOT_TOKEN_VAR).then(|| "xoxb-1".to_string());
        let err = SlackSecrets::from_lookup(SlackMode::Socket, env).unwrap_err();
        assert_eq!(
            err,
            "SLACK_APP_TOKEN is not set (needed for [slack] mode = \"socket\")"
        );
    }

    #[test]
    fn missing_signing_secret_is_named_for_events_mode() {
        let env = |name: &str| (name == BOT_TOKEN_VAR).then(|| "xoxb-1".to_string());
        let err = SlackSecrets::from_lookup(SlackMode::Events, env).unwrap_err();
        assert!(err.starts_with("SLACK_SIGNING_SECRET is not set"), "{err}");
    }

    #[test]
    fn debug_redacts_every_secret() {
        let env = |name: &str| Some(format!("secret-value-of-{name}"));
        let secrets = SlackSecrets::from_lookup(SlackMode::Socket, env).unwrap();
        assert_eq!(
            secrets.bot_token.expose_secret(),
            "secret-value-of-SLACK_BOT_TOKEN"
        );
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
    }
}
