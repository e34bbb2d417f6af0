//! The on-call awareness settings: `[[announce]]` (where handoffs are announced), `[[user_groups]]` (Slack
//! groups kept to the people on call) and `[display]` (the time zone of times shown on the console and in
//! announcements), their checks, and the rules they make for the core.

use icbot_actors::cache::announcer::AnnounceRule;
use icbot_actors::cache::oncall::ScheduleRef;
use icbot_actors::cache::user_groups::UserGroupRule;
use icbot_actors::chat::ChatTarget;
use icbot_actors::local_time::ReaderZone;
use serde::Deserialize;

use super::problem::Problem;
use super::{ChatAdapter, Config};

/// The `channel` that means the console.
pub const CONSOLE_CHANNEL: &str = "console";

/// One `[[announce]]` entry: announce handoffs of `schedules` in `channel`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceSetting {
    /// A Slack channel id (`C0123ABC`), or `console`.
    #[serde(default)]
    pub channel: String,
    /// Schedule labels or ids from `[pagerduty]`; empty: the IC schedules.
    #[serde(default)]
    pub schedules: Vec<String>,
}

/// One `[[user_groups]]` entry: keep the Slack user group `handle` set to who is on call for `schedules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGroupSetting {
    /// The group's handle, with or without `@`: `ic-oncall`. The group must exist in Slack.
    #[serde(default)]
    pub handle: String,
    /// Schedule labels or ids from `[pagerduty]`; empty: the IC schedules.
    #[serde(default)]
    pub schedules: Vec<String>,
}

/// `[display]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplaySettings {
    /// IANA time zone of times shown on the console and in announcements. Slack readers see their own.
    #[serde(default = "utc")]
    pub time_zone: String,
}

impl Default for DisplaySettings {
    fn default() -> Self {
        DisplaySettings { time_zone: utc() }
    }
}

fn utc() -> String {
    "UTC".into()
}

impl DisplaySettings {
    /// The configured zone; UTC when the name is not known (check-config reports it).
    pub fn zone(&self) -> ReaderZone {
        ReaderZone::named(&self.time_zone).unwrap_or_default()
    }
}

/// Every configured schedule, IC ones first.
fn schedules(config: &Config) -> Vec<ScheduleRef> {
    let pd = &config.pagerduty;
    let mut all = pd.ic_schedule_refs();
    all.extend(pd.responder_schedule_refs());
    all
}

/// The schedule a label or id names (labels case-insensitive).
fn find<'a>(all: &'a [ScheduleRef], name: &str) -> Option<&'a ScheduleRef> {
    let name = name.trim();
    all.iter()
        .find(|s| s.id == name)
        .or_else(|| all.iter().find(|s| s.label.eq_ignore_ascii_case(name)))
}

/// The announce rules for the core, schedules resolved to ids (names that resolve to nothing are dropped:
/// check-config reports them).
pub fn announce_rules(config: &Config) -> Vec<AnnounceRule> {
    let all = schedules(config);
    config
        .announce
        .iter()
        .map(|a| AnnounceRule {
            target: ChatTarget::channel(a.channel.trim()),
            schedule_ids: if a.schedules.is_empty() {
                config
                    .pagerduty
                    .ic_schedule_refs()
                    .into_iter()
                    .map(|s| s.id)
                    .collect()
            } else {
                a.schedules
                    .iter()
                    .filter_map(|n| find(&all, n))
                    .map(|s| s.id.clone())
                    .collect()
            },
        })
        .collect()
}

/// The ids of the schedules `names` names, or the IC schedules when empty.
fn schedule_ids(config: &Config, names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return config
            .pagerduty
            .ic_schedule_refs()
            .into_iter()
            .map(|s| s.id)
            .collect();
    }
    let all = schedules(config);
    names
        .iter()
        .filter_map(|n| find(&all, n))
        .map(|s| s.id.clone())
        .collect()
}

/// The user group rules for the core.
pub fn user_group_rules(config: &Config) -> Vec<UserGroupRule> {
    config
        .user_groups
        .iter()
        .map(|g| UserGroupRule {
            handle: g.handle.trim().trim_start_matches('@').to_string(),
            schedule_ids: schedule_ids(config, &g.schedules),
        })
        .collect()
}

/// What is wrong with `[[announce]]`, `[[user_groups]]` and `[display]`, each naming its key.
pub fn problems(config: &Config, out: &mut Vec<Problem>) {
    if let Err(e) = ReaderZone::named(&config.display.time_zone) {
        out.push(Problem::new("display.time_zone", e));
    }
    let all = schedules(config);
    // Each name in `key.schedules` must be a schedule of [pagerduty].
    let unknown_schedules = |key: &str, names: &[String], out: &mut Vec<Problem>| {
        for (j, name) in names.iter().enumerate() {
            if find(&all, name).is_none() {
                let known: Vec<String> = all.iter().map(|s| format!("{:?}", s.label)).collect();
                out.push(Problem::new(
                    format!("{key}.schedules[{j}]"),
                    format!(
                        "{name:?} is not a schedule in [pagerduty]; use a label or id: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    };
    for (i, g) in config.user_groups.iter().enumerate() {
        let handle = g.handle.trim().trim_start_matches('@');
        if handle.is_empty() || handle.contains(char::is_whitespace) {
            out.push(Problem::new(
                format!("user_groups[{i}].handle"),
                format!(
                    "{:?} is not a Slack user group handle such as \"ic-oncall\"",
                    g.handle
                ),
            ));
        }
        if config.chat.adapter != ChatAdapter::Slack {
            out.push(Problem::new(
                format!("user_groups[{i}].handle"),
                "user groups need [chat] adapter = \"slack\"",
            ));
        }
        unknown_schedules(&format!("user_groups[{i}]"), &g.schedules, out);
    }
    for (i, a) in config.announce.iter().enumerate() {
        let channel = a.channel.trim();
        if channel.is_empty() {
            out.push(Problem::new(
                format!("announce[{i}].channel"),
                "missing: a Slack channel id such as \"C0123ABC\", or \"console\"",
            ));
        } else if channel == CONSOLE_CHANNEL && config.chat.adapter == ChatAdapter::Slack {
            out.push(Problem::new(
                format!("announce[{i}].channel"),
                "\"console\" needs [chat] adapter = \"console\"; use a Slack channel id such as \"C0123ABC\"",
            ));
        }
        unknown_schedules(&format!("announce[{i}]"), &a.schedules, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secrets;

    const BASE: &str = r#"
[pagerduty]
api_url = "embedded"
from_email = "icbot@example.com"
service_id = "PSVC001"
ic_schedules = [ { id = "PIC0001", label = "IC Primary" }, { id = "PIC0003", label = "IC Shadow" } ]
responder_schedules = [ { id = "PTEAM01", label = "Payments" } ]
"#;

    fn shown(extra: &str) -> Vec<String> {
        let report = Config::check(&format!("{BASE}{extra}"), Vec::new(), &Secrets::default());
        report.problems.iter().map(ToString::to_string).collect()
    }

    fn config(extra: &str) -> Config {
        Config::parse(&format!("{BASE}{extra}"), Vec::new()).unwrap()
    }

    #[test]
    fn announce_defaults_to_the_ic_schedules_and_resolves_labels_and_ids() {
        let c = config(
            "[[announce]]\nchannel = \"console\"\n\n[[announce]]\nchannel = \"C1\"\nschedules = [\"payments\", \"PIC0003\"]\n",
        );
        let rules = announce_rules(&c);
        assert_eq!(rules[0].target.channel, "console");
        assert_eq!(rules[0].schedule_ids, ["PIC0001", "PIC0003"]);
        assert_eq!(rules[1].schedule_ids, ["PTEAM01", "PIC0003"]);
        assert!(shown("[[announce]]\nchannel = \"console\"\n").is_empty());
    }

    #[test]
    fn unknown_schedules_and_missing_channels_name_key_and_line() {
        let problems = shown("\n[[announce]]\nschedules = [\"IC Primary\", \"Nope\"]\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("announce[0].channel ([announce] at line")
                || problems[0].starts_with("announce[0].channel"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("announce[0].schedules[1]")
                && problems[1].contains("line 10")
                && problems[1].contains("\"Nope\" is not a schedule"),
            "{problems:?}"
        );
    }

    #[test]
    fn user_groups_need_a_handle_known_schedules_and_slack() {
        let c = config("[[user_groups]]\nhandle = \"@ic-oncall\"\n");
        let rules = user_group_rules(&c);
        assert_eq!(rules[0].handle, "ic-oncall");
        assert_eq!(rules[0].schedule_ids, ["PIC0001", "PIC0003"]);
        let problems = shown("[[user_groups]]\nhandle = \"\"\nschedules = [\"Nope\"]\n");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("user_groups[0].handle")
                    && p.contains("is not a Slack user group handle")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("user_groups[0].handle")
                    && p.contains("need [chat] adapter = \"slack\"")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("user_groups[0].schedules[0]")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_display_zone_must_be_an_iana_name() {
        assert!(shown("[display]\ntime_zone = \"Europe/Lisbon\"\n").is_empty());
        let problems = shown("[display]\ntime_zone = \"Lisbon\"\n");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("display.time_zone (line 9)")
                || problems[0].starts_with("display.time_zone"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("not a known IANA time zone"),
            "{problems:?}"
        );
        assert_eq!(config("").display.zone().name(), "UTC");
    }
}
