//! Configuration: a TOML file, then `ICBOT_<SECTION>__<KEY>` environment overrides, then checks.
//!
//! Secrets never live in the file: they come only from the environment (see [`Secrets`]) and are
//! [`SecretString`]s, redacted from `Debug` and never logged.
//!
//! Layout: this file holds the settings and the entry points; [`reading`] turns text and environment into a
//! [`Config`] collecting every problem, [`checks`] says what makes a readable config unusable, [`problem`]
//! names each problem's key and origin (line or variable), [`duration`] owns the one duration form,
//! [`announce`] the on-call awareness sections (`[[announce]]`, `[display]`).

pub mod announce;
pub mod checks;
pub mod duration;
pub mod problem;
pub mod reading;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use icbot_actors::cache::oncall::ScheduleRef;
use secrecy::{ExposeSecret, SecretString};

use crate::ha::settings::{DatabaseUrl, HaSettings, StateBackend};
use crate::slack::{
    SlackMode, SlackSecrets, SlackSettings, APP_TOKEN_VAR, BOT_TOKEN_VAR, SIGNING_SECRET_VAR,
};
use serde::Deserialize;

pub use checks::http_url;
pub use problem::{Origin, Problem};

/// `api_url` value that starts the bundled stub in-process with its demo data.
pub const EMBEDDED: &str = "embedded";

/// The whole file. Unknown keys are errors that name the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub chat: ChatConfig,
    #[serde(default)]
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
    pub incidents: IncidentsSettings,
    #[serde(default)]
    pub access: AccessSettings,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub admin: AdminSettings,
    /// Read when `[state] backend = "postgres"`.
    #[serde(default)]
    pub ha: HaSettings,
    /// `[[announce]]`: where handoffs are announced.
    #[serde(default)]
    pub announce: Vec<announce::AnnounceSetting>,
    /// `[[user_groups]]`: Slack user groups kept to the people on call.
    #[serde(default)]
    pub user_groups: Vec<announce::UserGroupSetting>,
    #[serde(default)]
    pub display: announce::DisplaySettings,
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
    /// A second page of the same people within this window answers with the first page (`--again` pages
    /// anyway); `"0s"` turns it off.
    #[serde(
        default = "defaults::dedup_window",
        deserialize_with = "duration::deserialize"
    )]
    pub dedup_window: Duration,
    /// The page audit log (`pages.jsonl`) is rotated to `pages.jsonl.1` before an append would take it past
    /// this size; one previous file is kept.
    #[serde(default = "defaults::audit_max_bytes")]
    pub audit_max_bytes: u64,
}

impl Default for PagerSettings {
    fn default() -> Self {
        PagerSettings {
            dedup_window: defaults::dedup_window(),
            audit_max_bytes: defaults::audit_max_bytes(),
        }
    }
}

/// `[incidents]`: following the incidents the bot paged, to keep their cards true.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSettings {
    /// How often the open incidents are listed (one `GET /incidents` for all the incidents followed; none
    /// while none is followed). At least one second.
    #[serde(
        default = "defaults::incidents_poll_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub poll_interval: Duration,
}

impl Default for IncidentsSettings {
    fn default() -> Self {
        IncidentsSettings {
            poll_interval: defaults::incidents_poll_interval(),
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
    /// The longest `!ic cover` (a PagerDuty schedule override), such as `"12h"`.
    #[serde(
        default = "defaults::max_cover",
        deserialize_with = "duration::deserialize"
    )]
    pub max_cover: Duration,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            page_channels: Vec::new(),
            allow_dm: true,
            admins: Vec::new(),
            max_cover: defaults::max_cover(),
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
    /// How often stalking channels are checked (one check for all).
    #[serde(
        default = "defaults::poll_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub poll_interval: Duration,
    /// Bound on one check.
    #[serde(
        default = "defaults::check_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub check_timeout: Duration,
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
            poll_interval: defaults::poll_interval(),
            check_timeout: defaults::check_timeout(),
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
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub label: String,
}

/// `[pagerduty]`. Required keys default to empty here so that a missing one is reported with the others
/// (by [`checks`]) instead of stopping the reading.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySettings {
    /// `https://api.pagerduty.com`, `https://api.eu.pagerduty.com`, a stub's URL, or `embedded`.
    #[serde(default)]
    pub api_url: String,
    /// The bot's PagerDuty login email: `From` on writes, and how the bot finds its own user.
    #[serde(default)]
    pub from_email: String,
    /// The service incidents are opened on.
    #[serde(default)]
    pub service_id: String,
    #[serde(
        default = "defaults::request_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub request_timeout: Duration,
    #[serde(
        default = "defaults::connect_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub connect_timeout: Duration,
    #[serde(
        default = "defaults::refresh_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub refresh_interval: Duration,
    #[serde(
        default = "defaults::page_deadline",
        deserialize_with = "duration::deserialize"
    )]
    pub page_deadline: Duration,
    /// Deadline of `!ic`, `!ic responders`, `!ic who`.
    #[serde(
        default = "defaults::lookup_deadline",
        deserialize_with = "duration::deserialize"
    )]
    pub lookup_deadline: Duration,
    #[serde(default = "defaults::max_rate_limit_retries")]
    pub max_rate_limit_retries: u32,
    #[serde(default)]
    pub ic_schedules: Vec<ScheduleSetting>,
    #[serde(default)]
    pub responder_schedules: Vec<ScheduleSetting>,
}

impl Default for PagerDutySettings {
    fn default() -> Self {
        PagerDutySettings {
            api_url: String::new(),
            from_email: String::new(),
            service_id: String::new(),
            request_timeout: defaults::request_timeout(),
            connect_timeout: defaults::connect_timeout(),
            refresh_interval: defaults::refresh_interval(),
            page_deadline: defaults::page_deadline(),
            lookup_deadline: defaults::lookup_deadline(),
            max_rate_limit_retries: defaults::max_rate_limit_retries(),
            ic_schedules: Vec::new(),
            responder_schedules: Vec::new(),
        }
    }
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
    use std::time::Duration;

    pub fn request_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(3)
    }
    pub fn refresh_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn page_deadline() -> Duration {
        Duration::from_secs(10)
    }
    pub fn lookup_deadline() -> Duration {
        Duration::from_secs(5)
    }
    pub fn max_cover() -> Duration {
        icbot_actors::commands::access::DEFAULT_MAX_COVER
    }

    pub fn max_rate_limit_retries() -> u32 {
        2
    }
    pub fn poll_interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn incidents_poll_interval() -> Duration {
        icbot_actors::incidents::follower::DEFAULT_POLL_INTERVAL
    }
    pub fn check_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn critical_severities() -> Vec<String> {
        vec!["critical".into(), "page".into()]
    }
    pub fn ignore_alerts() -> Vec<String> {
        vec!["Watchdog".into()]
    }
    pub fn dedup_window() -> Duration {
        Duration::from_secs(120)
    }
    pub fn audit_max_bytes() -> u64 {
        icbot_actors::pager::audit::DEFAULT_MAX_BYTES
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

    /// Every Slack secret `mode` needs that is not set, one problem each.
    pub fn missing_slack(&self, mode: SlackMode) -> Vec<Problem> {
        let set = |var: &str| self.slack.iter().any(|(k, _)| *k == var);
        let mut missing = Vec::new();
        if !set(BOT_TOKEN_VAR) {
            missing.push(Problem::secret(
                BOT_TOKEN_VAR,
                "is not set (needed for the Slack adapter)",
            ));
        }
        let (var, why) = match mode {
            SlackMode::Socket => (
                APP_TOKEN_VAR,
                "is not set (needed for [slack] mode = \"socket\")",
            ),
            SlackMode::Events => (
                SIGNING_SECRET_VAR,
                "is not set (needed for [slack] mode = \"events\")",
            ),
        };
        if !set(var) {
            missing.push(Problem::secret(var, why));
        }
        missing
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

/// Everything `check-config` and start-up say about a configuration.
#[derive(Debug)]
pub struct Report {
    /// The configuration, when it could be read at all (it may still have problems).
    pub config: Option<Config>,
    /// Every problem, each naming its key and where it was set; the bot cannot run while there is one.
    pub problems: Vec<Problem>,
    /// Deprecated forms that were read anyway.
    pub warnings: Vec<Problem>,
}

impl Report {
    /// The configuration when it has no problem.
    pub fn usable(self) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
        match self.config {
            Some(config) if self.problems.is_empty() => Ok((config, self.warnings)),
            _ => Err(self.problems),
        }
    }
}

impl Config {
    /// Reads `path`, applies `ICBOT_<SECTION>__<KEY>` overrides from the process environment, and parses.
    /// Only reading problems are errors here; see [`Config::check`] for everything.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = read_file(path)?;
        Self::parse(&text, std::env::vars()).with_context(|| format!("in {}", path.display()))
    }

    /// Parses TOML text with the given environment's overrides. The error lists every key that could not be
    /// read; [`Config::problems`] then says what else is wrong.
    pub fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let reading = reading::read(text, env);
        match reading.config {
            Some(config) if reading.problems.is_empty() => Ok(config),
            _ => Err(anyhow::anyhow!("{}", list(&reading.problems))),
        }
    }

    /// Everything wrong with `text` under `env` and `secrets`, in one run: TOML syntax, keys that cannot be
    /// read, missing keys, URLs, durations, addresses and secrets, each with its key and origin.
    pub fn check(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        secrets: &Secrets,
    ) -> Report {
        let reading = reading::read(text, env);
        let mut problems = reading.problems;
        if let Some(config) = &reading.config {
            let unreadable: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
            for problem in checks::problems(config, secrets) {
                let located = reading.origins.locate(problem);
                // A key already reported as unreadable fell back to its default: do not blame it twice.
                if !unreadable
                    .iter()
                    .any(|k| !k.is_empty() && located.is_under(k))
                {
                    problems.push(located);
                }
            }
        }
        Report {
            config: reading.config,
            problems,
            warnings: reading.warnings,
        }
    }

    /// [`Config::check`] of a file with the process environment.
    pub fn check_file(path: &Path, secrets: &Secrets) -> anyhow::Result<Report> {
        let text = read_file(path)?;
        Ok(Self::check(&text, std::env::vars(), secrets))
    }

    /// Whether the embedded stub must run (for PagerDuty, monitoring, or both).
    pub fn needs_stub(&self) -> bool {
        self.pagerduty.is_embedded() || self.status.source == StatusSource::Embedded
    }

    /// Everything wrong with this configuration for running, each naming its key; empty when it can run.
    pub fn problems(&self, secrets: &Secrets) -> Vec<String> {
        checks::problems(self, secrets)
            .iter()
            .map(Problem::to_string)
            .collect()
    }
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (pass --config PATH; the repository's config.toml runs the demo)",
            path.display()
        )
    })
}

/// Problems one per line, indented, for an error message.
pub fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
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
        assert_eq!(c.pagerduty.page_deadline, Duration::from_secs(10));
        assert_eq!(c.pagerduty.refresh_interval, Duration::from_secs(60));
        assert_eq!(c.state.dir, PathBuf::from("state"));
        assert_eq!(c.status.source, StatusSource::Embedded);
        assert_eq!(c.status.poll_interval, Duration::from_secs(30));
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
                "ICBOT_PAGERDUTY__PAGE_DEADLINE".to_string(),
                "3s".to_string(),
            ),
            ("ICBOT_STATE__DIR".to_string(), "/var/lib/icbot".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::parse(MINIMAL, env).unwrap();
        assert_eq!(c.pagerduty.page_deadline, Duration::from_secs(3));
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

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(text: &str, env: Vec<(String, String)>) -> Report {
        let secrets = Secrets::from_lookup(|k| (k == "PAGERDUTY_TOKEN").then(|| "tok".to_string()));
        Config::check(text, env, &secrets)
    }

    fn shown(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(Problem::to_string).collect()
    }

    #[test]
    fn a_type_error_names_section_key_and_line() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\nmax_rate_limit_retries = \"two\"",
        );
        let report = check(&text, no_env());
        let shown = shown(&report.problems);
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with(
                "pagerduty.max_rate_limit_retries (line 6): invalid type: string \"two\""
            ),
            "{shown:?}"
        );
    }

    #[test]
    fn a_bad_duration_names_its_key_and_line() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline = \"ten\"",
        );
        let shown = shown(&check(&text, no_env()).problems);
        assert_eq!(
            shown,
            ["pagerduty.page_deadline (line 6): invalid duration \"ten\": write a number and a unit, such as \"10s\", \"500ms\" or \"2m\""]
        );
    }

    #[test]
    fn a_missing_key_is_named_with_its_section() {
        let text = MINIMAL.replace("from_email = \"icbot@example.com\"", "");
        let shown = shown(&check(&text, no_env()).problems);
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("pagerduty.from_email ([pagerduty] at line 2): missing"),
            "{shown:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_in_one_run() {
        let text = r#"
            [chat]
            adapter = "slack"
            [pagerduty]
            api_url = "https://api.pagerduty com/"
            page_deadline = "ten"
            lookup_deadline = "soon"
            colour = "blue"
            [status]
            source = "alertmanager"
        "#;
        let report = Config::check(text, no_env(), &Secrets::default());
        let shown = shown(&report.problems);
        for expected in [
            "pagerduty.page_deadline (line 6): invalid duration \"ten\"",
            "pagerduty.lookup_deadline (line 7): invalid duration \"soon\"",
            "pagerduty.colour (line 8): unknown field `colour`",
            "pagerduty.api_url (line 5): \"https://api.pagerduty com/\" is not a URL",
            "PAGERDUTY_TOKEN is not set",
            "pagerduty.from_email ([pagerduty] at line 4): missing",
            "pagerduty.service_id ([pagerduty] at line 4): missing",
            "pagerduty.ic_schedules ([pagerduty] at line 4): empty",
            "status.url ([status] at line 9): missing",
            "SLACK_BOT_TOKEN is not set",
            "SLACK_APP_TOKEN is not set",
        ] {
            assert!(
                shown.iter().any(|p| p.starts_with(expected)),
                "{expected:?} not in {shown:#?}"
            );
        }
        assert!(
            !shown
                .iter()
                .any(|p| p.starts_with("pagerduty.page_deadline:")),
            "an unreadable key is not blamed twice: {shown:#?}"
        );
    }

    #[test]
    fn a_url_the_client_cannot_parse_fails_the_check() {
        let text = MINIMAL.replace("\"embedded\"", "\"https://api.pagerduty com/\"");
        let problems = shown(&check(&text, no_env()).problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("pagerduty.api_url (line 3): \"https://api.pagerduty com/\" is not a URL: invalid international domain name"),
            "{problems:?}"
        );
        let slack = format!(
            "{MINIMAL}\n[chat]\nadapter = \"slack\"\n[slack]\napi_url = \"slack.com/api\"\n"
        );
        let secrets = Secrets::from_lookup(|k| k.starts_with("SLACK_").then(|| "x".to_string()));
        let shown = shown(&Config::check(&slack, no_env(), &secrets).problems);
        assert!(
            shown
                .iter()
                .any(|p| p.starts_with("slack.api_url (line 13)")),
            "{shown:?}"
        );
    }

    #[test]
    fn a_bad_override_is_blamed_on_the_variable() {
        let report = check(MINIMAL, env(&[("ICBOT_PAGERDUTY__PAGE_DEADLINE", "abc")]));
        assert_eq!(
            shown(&report.problems),
            ["ICBOT_PAGERDUTY__PAGE_DEADLINE=abc: pagerduty.page_deadline: invalid duration \"abc\": write a number and a unit, such as \"10s\", \"500ms\" or \"2m\""]
        );
        let report = check(
            MINIMAL,
            env(&[("ICBOT_PAGERDUTY__API_URL", "https://api.pagerduty com/")]),
        );
        let shown = shown(&report.problems);
        assert!(
            shown[0].starts_with(
                "ICBOT_PAGERDUTY__API_URL=https://api.pagerduty com/: pagerduty.api_url: "
            ),
            "{shown:?}"
        );
        let report = check(MINIMAL, env(&[("ICBOT_PAGERDUTY__PAGE_DEADLNE", "5s")]));
        assert!(
            shown_has(
                &report.problems,
                "ICBOT_PAGERDUTY__PAGE_DEADLNE=5s: pagerduty.page_deadlne: unknown field"
            ),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn max_cover_defaults_to_12h_and_is_checked_with_key_and_line() {
        let c = Config::parse(MINIMAL, no_env()).unwrap();
        assert_eq!(c.access.max_cover, Duration::from_secs(12 * 3600));
        let set = check(
            &format!("{MINIMAL}\n[access]\nmax_cover = \"4h\"\n"),
            no_env(),
        );
        assert_eq!(
            set.config.unwrap().access.max_cover,
            Duration::from_secs(4 * 3600)
        );
        let bad = check(
            &format!("{MINIMAL}\n[access]\nmax_cover = \"soon\"\n"),
            no_env(),
        );
        assert!(
            shown_has(&bad.problems, "access.max_cover (line "),
            "{:?}",
            bad.problems
        );
        let zero = check(
            &format!("{MINIMAL}\n[access]\nmax_cover = \"0s\"\n"),
            no_env(),
        );
        assert!(
            shown_has(&zero.problems, "access.max_cover"),
            "{:?}",
            zero.problems
        );
    }

    fn shown_has(problems: &[Problem], prefix: &str) -> bool {
        problems.iter().any(|p| p.to_string().starts_with(prefix))
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = MINIMAL.replace("service_id = \"PSVC001\"", "service_id = PSVC001");
        let shown = shown(&check(&text, no_env()).problems);
        assert!(shown[0].starts_with("line 5: not valid TOML"), "{shown:?}");
    }

    #[test]
    fn secs_keys_are_read_with_a_deprecation_warning() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline_secs = 7.5",
        );
        let report = check(&text, no_env());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(
            shown(&report.warnings),
            ["pagerduty.page_deadline_secs (line 6): deprecated, and read for this release only: write page_deadline = \"7s 500ms\""]
        );
        let config = report.config.unwrap();
        assert_eq!(config.pagerduty.page_deadline, Duration::from_millis(7500));

        let report = check(
            MINIMAL,
            env(&[("ICBOT_PAGERDUTY__PAGE_DEADLINE_SECS", "6")]),
        );
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(
            shown_has(
                &report.warnings,
                "ICBOT_PAGERDUTY__PAGE_DEADLINE_SECS=6: pagerduty.page_deadline_secs: deprecated"
            ),
            "{:?}",
            report.warnings
        );
        assert_eq!(
            report.config.unwrap().pagerduty.page_deadline,
            Duration::from_secs(6)
        );
    }

    #[test]
    fn a_bad_secs_value_is_blamed_on_the_key_as_written() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline_secs = \"ten\"",
        );
        let shown = shown(&check(&text, no_env()).problems);
        assert!(
            shown[0].starts_with("pagerduty.page_deadline_secs (line 6): invalid duration \"ten\""),
            "{shown:?}"
        );
    }

    #[test]
    fn setting_both_the_old_and_the_new_key_is_a_problem() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline_secs = 5\npage_deadline = \"5s\"",
        );
        let shown = shown(&check(&text, no_env()).problems);
        assert_eq!(
            shown,
            ["pagerduty.page_deadline_secs (line 6): both page_deadline_secs (deprecated) and page_deadline are set; keep page_deadline only"]
        );
    }

    #[test]
    fn the_environment_s_new_key_overrides_the_file_s_old_one() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline_secs = 5",
        );
        let report = check(&text, env(&[("ICBOT_PAGERDUTY__PAGE_DEADLINE", "8s")]));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(
            shown_has(
                &report.warnings,
                "pagerduty.page_deadline_secs (line 6): deprecated, and overridden"
            ),
            "{:?}",
            report.warnings
        );
        assert_eq!(
            report.config.unwrap().pagerduty.page_deadline,
            Duration::from_secs(8)
        );
    }

    #[test]
    fn a_bare_number_of_seconds_is_read_with_a_warning() {
        let text = format!("{MINIMAL}\n[slack]\npost_timeout = 2\n");
        let report = check(&text, no_env());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(
            shown_has(&report.warnings, "slack.post_timeout (line 11): a bare number of seconds is deprecated: write post_timeout = \"2s\""),
            "{:?}",
            report.warnings
        );
        assert_eq!(
            report.config.unwrap().slack.post_timeout,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn out_of_range_durations_are_problems() {
        let text = MINIMAL.replace(
            "service_id = \"PSVC001\"",
            "service_id = \"PSVC001\"\npage_deadline = \"1s\"\nrequest_timeout = \"0s\"",
        );
        let shown = shown(&check(&text, no_env()).problems);
        assert!(
            shown
                .iter()
                .any(|p| p.starts_with("pagerduty.page_deadline (line 6): \"1s\" must leave time")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(
                |p| p.starts_with("pagerduty.request_timeout (line 7): \"0s\" must be above 0")
            ),
            "{shown:?}"
        );
    }
}
