//! Configuration: a TOML file, then `ICBOT_<SECTION>__<KEY>` environment overrides, then checks.
//!
//! Secrets never live in the file: they come only from the environment (see [`Secrets`]) and are
//! [`SecretString`]s, redacted from `Debug` and never logged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use icbot_actors::oncall::ScheduleRef;
use secrecy::{ExposeSecret, SecretString};

use crate::ha::settings::{self as ha_settings, DatabaseUrl, HaSettings, StateBackend};
use crate::slack::{
    SlackMode, SlackSecrets, SlackSettings, APP_TOKEN_VAR, BOT_TOKEN_VAR, SIGNING_SECRET_VAR,
};
use serde::Deserialize;

/// `api_url` value that starts the bundled stub in-process with its demo data.
pub const EMBEDDED: &str = "embedded";

/// The whole file. Unknown keys are errors that name the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub chat: ChatConfig,
    pub pagerduty: PagerDutySettings,
    #[serde(default)]
    pub status: StatusSettings,
    #[serde(default)]
    pub stub: StubSettings,
    #[serde(default)]
    pub slack: SlackSettings,
    #[serde(default)]
    pub pager: PagerSettings,
    #[serde(default)]
    pub access: AccessSettings,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub admin: AdminSettings,
    /// Read when `[state] backend = "postgres"`.
    #[serde(default)]
    pub ha: HaSettings,
}

/// The admin HTTP server: health, readiness, the live actor tree, metrics, chaos drills.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Where it listens, such as "127.0.0.1:9464"; port 0 picks a free one; "" turns the server off.
    #[serde(default = "defaults::admin_listen")]
    pub listen: String,
    /// Allow `POST /actors/{name}/crash` (chaos drills). Off by default: anyone who reaches the port could
    /// crash actors.
    #[serde(default)]
    pub chaos: bool,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: defaults::admin_listen(),
            chaos: false,
        }
    }
}

impl AdminSettings {
    /// The address to listen on, `None` when the server is off.
    pub fn listen_addr(&self) -> Option<&str> {
        Some(self.listen.trim()).filter(|l| !l.is_empty())
    }
}

/// The smallest `[pager] audit_max_bytes`: a few hundred records.
pub const MIN_AUDIT_BYTES: u64 = 64 * 1024;

/// `[pager]`: how pages behave.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerSettings {
    /// A second page of the same people within this window answers with the first page (`--again` pages anyway).
    #[serde(default = "defaults::dedup_window")]
    pub dedup_window_secs: f64,
    /// The page audit log (`pages.jsonl`) is rotated to `pages.jsonl.1` before an append would take it past
    /// this size; one previous file is kept.
    #[serde(default = "defaults::audit_max_bytes")]
    pub audit_max_bytes: u64,
}

impl Default for PagerSettings {
    fn default() -> Self {
        PagerSettings {
            dedup_window_secs: defaults::dedup_window(),
            audit_max_bytes: defaults::audit_max_bytes(),
        }
    }
}

/// `[access]`: where paging is allowed, whether DMs are answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    /// Channels where paging commands work (Slack channel ids such as `C0123ABC`; `console` on the console).
    /// Empty: any channel.
    #[serde(default)]
    pub page_channels: Vec<String>,
    #[serde(default = "defaults::allow_dm")]
    pub allow_dm: bool,
    /// Chat user ids who may use the admin commands (`!ic refresh`, `!ic crash`): Slack member ids such as
    /// `U0123ABC`, `console` on the console. Empty: nobody.
    #[serde(default)]
    pub admins: Vec<String>,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            page_channels: Vec::new(),
            allow_dm: true,
            admins: Vec::new(),
        }
    }
}

/// Where `!status` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StatusSource {
    /// The embedded stub's Alertmanager-compatible `/api/v2/alerts` (alerts set with `POST /_alerts`).
    #[default]
    Embedded,
    Alertmanager,
    Statuspage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSettings {
    #[serde(default)]
    pub source: StatusSource,
    /// Base URL of Alertmanager or the Statuspage page (without `/api/v2/...`); unused for `embedded`.
    #[serde(default)]
    pub url: String,
    #[serde(default = "defaults::poll_interval")]
    pub poll_interval_secs: f64,
    #[serde(default = "defaults::check_timeout")]
    pub check_timeout_secs: f64,
    #[serde(default = "defaults::critical_severities")]
    pub critical_severities: Vec<String>,
    #[serde(default = "defaults::ignore_alerts")]
    pub ignore_alerts: Vec<String>,
}

impl Default for StatusSettings {
    fn default() -> Self {
        StatusSettings {
            source: StatusSource::default(),
            url: String::new(),
            poll_interval_secs: defaults::poll_interval(),
            check_timeout_secs: defaults::check_timeout(),
            critical_severities: defaults::critical_severities(),
            ignore_alerts: defaults::ignore_alerts(),
        }
    }
}

/// The embedded stub, started when `pagerduty.api_url = "embedded"` or `status.source = "embedded"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubSettings {
    /// Where it listens; port 0 picks a free one (logged at start). Set a port to drive drills with curl.
    #[serde(default = "defaults::stub_listen")]
    pub listen: String,
}

impl Default for StubSettings {
    fn default() -> Self {
        StubSettings {
            listen: defaults::stub_listen(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChatAdapter {
    /// stdin lines in, replies on stdout.
    #[default]
    Console,
    /// Slack, in `[slack] mode` (Socket Mode or the Events API).
    Slack,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    #[serde(default)]
    pub adapter: ChatAdapter,
}

/// One schedule in `[[pagerduty.ic_schedules]]` or `[[pagerduty.responder_schedules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSetting {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySettings {
    /// `https://api.pagerduty.com`, `https://api.eu.pagerduty.com`, a stub's URL, or `embedded`.
    pub api_url: String,
    /// The bot's PagerDuty login email: `From` on writes, and how the bot finds its own user.
    pub from_email: String,
    /// The service incidents are opened on.
    pub service_id: String,
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout_secs: f64,
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout_secs: f64,
    #[serde(default = "defaults::refresh_interval")]
    pub refresh_interval_secs: f64,
    #[serde(default = "defaults::page_deadline")]
    pub page_deadline_secs: f64,
    /// Deadline of `!ic`, `!ic responders`, `!ic who`.
    #[serde(default = "defaults::lookup_deadline")]
    pub lookup_deadline_secs: f64,
    #[serde(default = "defaults::max_rate_limit_retries")]
    pub max_rate_limit_retries: u32,
    #[serde(default)]
    pub ic_schedules: Vec<ScheduleSetting>,
    #[serde(default)]
    pub responder_schedules: Vec<ScheduleSetting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `files` (one replica, the default) or `postgres` (several replicas on `DATABASE_URL`, see `[ha]`).
    #[serde(default)]
    pub backend: StateBackend,
    /// Where state files live (created if missing). Relative paths are relative to the working directory.
    #[serde(default = "defaults::state_dir")]
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackend::default(),
            dir: defaults::state_dir(),
        }
    }
}

mod defaults {
    use std::path::PathBuf;

    pub fn request_timeout() -> f64 {
        5.0
    }
    pub fn connect_timeout() -> f64 {
        3.0
    }
    pub fn refresh_interval() -> f64 {
        60.0
    }
    pub fn page_deadline() -> f64 {
        10.0
    }
    pub fn lookup_deadline() -> f64 {
        5.0
    }
    pub fn max_rate_limit_retries() -> u32 {
        2
    }
    pub fn poll_interval() -> f64 {
        30.0
    }
    pub fn check_timeout() -> f64 {
        5.0
    }
    pub fn critical_severities() -> Vec<String> {
        vec!["critical".into(), "page".into()]
    }
    pub fn ignore_alerts() -> Vec<String> {
        vec!["Watchdog".into()]
    }
    pub fn dedup_window() -> f64 {
        120.0
    }
    pub fn audit_max_bytes() -> u64 {
        icbot_actors::page_audit::DEFAULT_MAX_BYTES
    }
    pub fn allow_dm() -> bool {
        true
    }
    pub fn stub_listen() -> String {
        "127.0.0.1:0".into()
    }
    pub fn admin_listen() -> String {
        "127.0.0.1:9464".into()
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("state")
    }
}

/// Seconds from the file as a `Duration`; the checks reject non-positive values first.
pub fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

impl PagerDutySettings {
    pub fn is_embedded(&self) -> bool {
        self.api_url.trim() == EMBEDDED
    }

    pub fn ic_schedule_refs(&self) -> Vec<ScheduleRef> {
        self.ic_schedules
            .iter()
            .map(|s| ScheduleRef {
                id: s.id.clone(),
                label: s.label.clone(),
            })
            .collect()
    }

    pub fn responder_schedule_refs(&self) -> Vec<ScheduleRef> {
        self.responder_schedules
            .iter()
            .map(|s| ScheduleRef {
                id: s.id.clone(),
                label: s.label.clone(),
            })
            .collect()
    }
}

/// Secrets, from the environment only.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `PAGERDUTY_TOKEN`.
    pub pagerduty_token: Option<SecretString>,
    /// `ICBOT_ADMIN_TOKEN`: when set, `POST /actors/{name}/crash` needs `Authorization: Bearer <it>`.
    pub admin_token: Option<SecretString>,
    /// `SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`, `SLACK_SIGNING_SECRET`, by variable name.
    slack: Vec<(&'static str, SecretString)>,
    /// `DATABASE_URL`, for `[state] backend = "postgres"`.
    pub database_url: Option<DatabaseUrl>,
}

const SLACK_VARS: [&str; 3] = [BOT_TOKEN_VAR, APP_TOKEN_VAR, SIGNING_SECRET_VAR];

/// The environment variable of the admin server's token for its write endpoints (the crash drill).
pub const ADMIN_TOKEN_VAR: &str = "ICBOT_ADMIN_TOKEN";

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |set: bool| if set { "[REDACTED]" } else { "unset" };
        let mut d = f.debug_struct("Secrets");
        d.field("pagerduty_token", &shown(self.pagerduty_token.is_some()));
        d.field(ADMIN_TOKEN_VAR, &shown(self.admin_token.is_some()));
        d.field("DATABASE_URL", &shown(self.database_url.is_some()));
        for var in SLACK_VARS {
            d.field(var, &shown(self.slack.iter().any(|(k, _)| *k == var)));
        }
        d.finish()
    }
}

impl Secrets {
    /// Reads the secrets from the process environment; empty values count as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let secret = |k: &str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from)
        };
        let slack = SLACK_VARS
            .into_iter()
            .filter_map(|k| secret(k).map(|v| (k, v)))
            .collect();
        Secrets {
            pagerduty_token: secret("PAGERDUTY_TOKEN"),
            admin_token: secret(ADMIN_TOKEN_VAR),
            slack,
            database_url: DatabaseUrl::from_lookup(&get),
        }
    }

    /// The Slack secrets `mode` needs; the error names the missing variable.
    pub fn slack(&self, mode: SlackMode) -> Result<SlackSecrets, String> {
        SlackSecrets::from_lookup(mode, |name| {
            self.slack
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.expose_secret().to_string())
        })
    }
}

impl Config {
    /// Reads `path`, applies `ICBOT_<SECTION>__<KEY>` overrides from the process environment, and parses.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, std::env::vars()).with_context(|| format!("in {}", path.display()))
    }

    /// Parses TOML text with the given environment's overrides.
    pub fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        for (key, value) in env {
            apply_override(&mut table, &key, &value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message().trim()))?;
        Ok(config)
    }

    /// Whether the embedded stub must run (for PagerDuty, monitoring, or both).
    pub fn needs_stub(&self) -> bool {
        self.pagerduty.is_embedded() || self.status.source == StatusSource::Embedded
    }

    /// Everything wrong with this configuration for running, each naming its key; empty when it can run.
    pub fn problems(&self, secrets: &Secrets) -> Vec<String> {
        let mut problems = Vec::new();
        let pd = &self.pagerduty;
        if !pd.is_embedded() {
            if !(pd.api_url.starts_with("https://") || pd.api_url.starts_with("http://")) {
                problems.push(format!(
                    "pagerduty.api_url: {:?} is neither an http(s) URL nor \"{EMBEDDED}\"",
                    pd.api_url
                ));
            }
            if secrets.pagerduty_token.is_none() {
                problems.push(format!(
                    "PAGERDUTY_TOKEN is not set: needed for pagerduty.api_url = {:?} (only \"{EMBEDDED}\" runs without it)",
                    pd.api_url
                ));
            }
        }
        if !pd.from_email.contains('@') {
            problems.push(format!(
                "pagerduty.from_email: {:?} is not an email address",
                pd.from_email
            ));
        }
        if pd.service_id.trim().is_empty() {
            problems.push("pagerduty.service_id: empty".to_string());
        }
        if pd.ic_schedules.is_empty() {
            problems.push("pagerduty.ic_schedules: empty; list at least one [[pagerduty.ic_schedules]] with id and label".into());
        }
        for (key, list) in [
            ("pagerduty.ic_schedules", &pd.ic_schedules),
            ("pagerduty.responder_schedules", &pd.responder_schedules),
        ] {
            for (i, s) in list.iter().enumerate() {
                if s.id.trim().is_empty() || s.label.trim().is_empty() {
                    problems.push(format!("{key}[{i}]: id and label must not be empty"));
                }
            }
        }
        for (key, value) in [
            ("pagerduty.request_timeout_secs", pd.request_timeout_secs),
            ("pagerduty.connect_timeout_secs", pd.connect_timeout_secs),
            ("pagerduty.refresh_interval_secs", pd.refresh_interval_secs),
            ("pagerduty.page_deadline_secs", pd.page_deadline_secs),
            ("pagerduty.lookup_deadline_secs", pd.lookup_deadline_secs),
        ] {
            if !(value.is_finite() && value > 0.0 && value < 86_400.0) {
                problems.push(format!(
                    "{key}: {value} must be a number of seconds above 0"
                ));
            }
        }
        let st = &self.status;
        if st.source != StatusSource::Embedded
            && !(st.url.starts_with("https://") || st.url.starts_with("http://"))
        {
            problems.push(format!(
                "status.url: {:?} is not an http(s) URL (needed for status.source = {:?})",
                st.url, st.source
            ));
        }
        for (key, value) in [
            ("status.poll_interval_secs", st.poll_interval_secs),
            ("status.check_timeout_secs", st.check_timeout_secs),
        ] {
            if !(value.is_finite() && value > 0.0 && value < 86_400.0) {
                problems.push(format!(
                    "{key}: {value} must be a number of seconds above 0"
                ));
            }
        }
        if self.needs_stub() && self.stub.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "stub.listen: {:?} is not an address such as 127.0.0.1:0",
                self.stub.listen
            ));
        }
        if self.chat.adapter == ChatAdapter::Slack {
            if let Err(missing) = secrets.slack(self.slack.mode) {
                problems.push(missing);
            }
            if self.slack.mode == SlackMode::Events
                && self.slack.listen.parse::<std::net::SocketAddr>().is_err()
            {
                problems.push(format!(
                    "slack.listen: {:?} is not an address such as 0.0.0.0:3000",
                    self.slack.listen
                ));
            }
        }
        let dedup = self.pager.dedup_window_secs;
        if !(dedup.is_finite() && (0.0..86_400.0).contains(&dedup)) {
            problems.push(format!(
                "pager.dedup_window_secs: {dedup} must be 0 (off) or more seconds"
            ));
        }
        if self.pager.audit_max_bytes < MIN_AUDIT_BYTES {
            problems.push(format!(
                "pager.audit_max_bytes: {} is too small to hold the records of one dedup window; use at least {MIN_AUDIT_BYTES} (default {})",
                self.pager.audit_max_bytes,
                defaults::audit_max_bytes()
            ));
        }
        if let Some(listen) = self.admin.listen_addr() {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                problems.push(format!(
                    "admin.listen: {listen:?} is not an address such as 127.0.0.1:9464 (\"\" turns the admin server off)"
                ));
            }
        }
        problems.extend(ha_settings::problems(
            self.state.backend,
            &self.ha,
            secrets.database_url.as_ref(),
        ));
        if pd.page_deadline_secs <= 1.0 {
            problems.push(
                "pagerduty.page_deadline_secs: must leave time to answer; use more than 1".into(),
            );
        }
        problems
    }
}

/// `ICBOT_PAGERDUTY__PAGE_DEADLINE_SECS=5` sets `[pagerduty] page_deadline_secs = 5`. Values parse as TOML
/// (numbers, booleans, arrays) and fall back to a string.
fn apply_override(table: &mut toml::Table, key: &str, value: &str) -> anyhow::Result<()> {
    let Some(path) = key.strip_prefix("ICBOT_") else {
        return Ok(());
    };
    let Some((section, field)) = path.split_once("__") else {
        return Ok(());
    };
    let (section, field) = (section.to_lowercase(), field.to_lowercase());
    if section.is_empty() || field.is_empty() {
        return Ok(());
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        anyhow::bail!("{key}: [{section}] is not a section");
    };
    section_table.insert(field, parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [pagerduty]
        api_url = "embedded"
        from_email = "icbot@example.com"
        service_id = "PSVC001"
        [[pagerduty.ic_schedules]]
        id = "PIC0001"
        label = "IC Primary"
    "#;

    fn no_env() -> Vec<(String, String)> {
        vec![]
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse(MINIMAL, no_env()).unwrap();
        assert_eq!(c.chat.adapter, ChatAdapter::Console);
        assert_eq!(c.pagerduty.page_deadline_secs, 10.0);
        assert_eq!(c.pagerduty.refresh_interval_secs, 60.0);
        assert_eq!(c.state.dir, PathBuf::from("state"));
        assert_eq!(c.status.source, StatusSource::Embedded);
        assert_eq!(c.status.poll_interval_secs, 30.0);
        assert_eq!(c.status.ignore_alerts, ["Watchdog"]);
        assert_eq!(c.pager.audit_max_bytes, 10_485_760);
        assert!(c.problems(&Secrets::default()).is_empty());
    }

    #[test]
    fn a_tiny_audit_log_limit_is_a_problem() {
        let text = format!("{MINIMAL}\n[pager]\naudit_max_bytes = 100\n");
        let c = Config::parse(&text, no_env()).unwrap();
        let problems = c.problems(&Secrets::default());
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("pager.audit_max_bytes")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let text = MINIMAL.replace("service_id", "colour = 1\nservice_id");
        let err = format!("{:#}", Config::parse(&text, no_env()).unwrap_err());
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn env_overrides_keys() {
        let env = vec![
            (
                "ICBOT_PAGERDUTY__PAGE_DEADLINE_SECS".to_string(),
                "3".to_string(),
            ),
            ("ICBOT_STATE__DIR".to_string(), "/var/lib/icbot".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::parse(MINIMAL, env).unwrap();
        assert_eq!(c.pagerduty.page_deadline_secs, 3.0);
        assert_eq!(c.state.dir, PathBuf::from("/var/lib/icbot"));
    }

    #[test]
    fn real_pagerduty_needs_a_token() {
        let text = MINIMAL.replace("\"embedded\"", "\"https://api.pagerduty.com\"");
        let c = Config::parse(&text, no_env()).unwrap();
        let problems = c.problems(&Secrets::default());
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("PAGERDUTY_TOKEN is not set")),
            "{problems:?}"
        );
        let secrets = Secrets::from_lookup(|k| (k == "PAGERDUTY_TOKEN").then(|| "tok".to_string()));
        assert!(c.problems(&secrets).is_empty());
    }

    #[test]
    fn empty_schedule_list_is_a_problem() {
        let text = MINIMAL.split("[[pagerduty.ic_schedules]]").next().unwrap();
        let c = Config::parse(text, no_env()).unwrap();
        assert!(c
            .problems(&Secrets::default())
            .iter()
            .any(|p| p.starts_with("pagerduty.ic_schedules")));
    }

    #[test]
    fn alertmanager_needs_a_url() {
        let text = format!("{MINIMAL}\n[status]\nsource = \"alertmanager\"\n");
        let c = Config::parse(&text, no_env()).unwrap();
        assert!(c
            .problems(&Secrets::default())
            .iter()
            .any(|p| p.starts_with("status.url")));
        let ok =
            format!("{MINIMAL}\n[status]\nsource = \"alertmanager\"\nurl = \"http://am:9093\"\n");
        assert!(Config::parse(&ok, no_env())
            .unwrap()
            .problems(&Secrets::default())
            .is_empty());
    }

    #[test]
    fn slack_needs_its_tokens_by_name() {
        let text = MINIMAL.replace(
            "[pagerduty]",
            "[chat]\nadapter = \"slack\"\n[slack]\nmode = \"socket\"\n[pagerduty]",
        );
        let c = Config::parse(&text, no_env()).unwrap();
        let problems = c.problems(&Secrets::default());
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SLACK_BOT_TOKEN is not set")),
            "{problems:?}"
        );
        let only_bot =
            Secrets::from_lookup(|k| (k == "SLACK_BOT_TOKEN").then(|| "xoxb-1".to_string()));
        let problems = c.problems(&only_bot);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SLACK_APP_TOKEN is not set")),
            "{problems:?}"
        );
        let both = Secrets::from_lookup(|k| k.starts_with("SLACK_").then(|| "x".to_string()));
        assert!(c.problems(&both).is_empty());
    }

    #[test]
    fn admin_defaults_to_loopback_without_chaos() {
        let c = Config::parse(MINIMAL, no_env()).unwrap();
        assert_eq!(c.admin.listen, "127.0.0.1:9464");
        assert_eq!(c.admin.listen_addr(), Some("127.0.0.1:9464"));
        assert!(!c.admin.chaos);
    }

    #[test]
    fn admin_can_be_turned_off_and_chaos_on() {
        let off = format!("{MINIMAL}\n[admin]\nlisten = \"\"\n");
        let c = Config::parse(&off, no_env()).unwrap();
        assert_eq!(c.admin.listen_addr(), None);
        assert!(c.problems(&Secrets::default()).is_empty());
        let env = vec![("ICBOT_ADMIN__CHAOS".to_string(), "true".to_string())];
        let c = Config::parse(MINIMAL, env).unwrap();
        assert!(c.admin.chaos);
    }

    #[test]
    fn admin_problems_name_their_key() {
        let bad = format!("{MINIMAL}\n[admin]\nlisten = \"localhost\"\n");
        let c = Config::parse(&bad, no_env()).unwrap();
        assert!(c
            .problems(&Secrets::default())
            .iter()
            .any(|p| p.starts_with("admin.listen")));
        let unknown = format!("{MINIMAL}\n[admin]\nport = 1\n");
        let err = format!("{:#}", Config::parse(&unknown, no_env()).unwrap_err());
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn state_backend_defaults_to_files_and_postgres_is_checked() {
        let c = Config::parse(MINIMAL, no_env()).unwrap();
        assert_eq!(c.state.backend, StateBackend::Files);
        let text = format!("{MINIMAL}\n[state]\nbackend = \"postgres\"\n[ha]\nlease = \"6s\"\n");
        let c = Config::parse(&text, no_env()).unwrap();
        assert_eq!(c.state.backend, StateBackend::Postgres);
        let problems = c.problems(&Secrets::default());
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("DATABASE_URL is not set")),
            "{problems:?}"
        );
        let secrets = Secrets::from_lookup(|k| {
            (k == "DATABASE_URL")
                .then(|| "postgres://icbot:hunter2@db/icbot?sslmode=require".into())
        });
        assert!(
            c.problems(&secrets).is_empty(),
            "{:?}",
            c.problems(&secrets)
        );
        let timings = c.ha.timings().unwrap();
        assert_eq!(timings.lease, Duration::from_secs(6));
        assert_eq!(timings.renew_every, Duration::from_secs(2));
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn ha_durations_can_be_overridden_and_are_checked() {
        let env = vec![
            ("ICBOT_STATE__BACKEND".to_string(), "postgres".to_string()),
            ("ICBOT_HA__LEASE".to_string(), "\"3 days\"".to_string()),
        ];
        let c = Config::parse(MINIMAL, env).unwrap();
        let secrets =
            Secrets::from_lookup(|k| (k == "DATABASE_URL").then(|| "postgres://db/icbot".into()));
        let problems = c.problems(&secrets);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("ha.lease: \"3 days\"")),
            "{problems:?}"
        );
        for (value, lease) in [("3s", 3), ("3", 3), ("1.5m", 90)] {
            let env = vec![("ICBOT_HA__LEASE".to_string(), value.to_string())];
            let c = Config::parse(MINIMAL, env).unwrap();
            assert_eq!(c.ha.timings().unwrap().lease, Duration::from_secs(lease));
        }
    }

    #[test]
    fn secrets_debug_is_redacted() {
        let s = Secrets::from_lookup(|_| Some("hunter2".to_string()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("REDACTED"));
        assert!(s.admin_token.is_some());
        assert!(
            shown.contains("ICBOT_ADMIN_TOKEN: \"[REDACTED]\""),
            "{shown}"
        );
    }

    #[test]
    fn shipped_config_is_valid() {
        let text = include_str!("../config.toml");
        let c = Config::parse(text, no_env()).unwrap();
        assert!(
            c.problems(&Secrets::default()).is_empty(),
            "{:?}",
            c.problems(&Secrets::default())
        );
    }
}
