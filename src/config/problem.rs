//! A problem (or a deprecation warning) found in a configuration, and where the offending value came from:
//! a line of the file, an `ICBOT_<SECTION>__<KEY>` environment variable, or a missing secret.

use std::collections::HashMap;
use std::fmt;

/// One thing wrong with a configuration, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key as written: `pagerduty.page_deadline`, `pagerduty.ic_schedules[0].id`; a variable name for a
    /// missing secret; empty for a TOML syntax error (then only the line says where).
    pub key: String,
    /// What is wrong, for a person.
    pub message: String,
    pub origin: Origin,
}

/// Where the offending value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not known (a missing key, or a configuration built without its text).
    Unknown,
    /// This line of the file (1-based).
    Line(usize),
    /// Not in the file; its section starts at this line (a missing key).
    InSection { section: String, line: usize },
    /// An environment override: the variable and its value.
    Env { var: String, value: String },
    /// A secret variable (the key is the variable's name); never shows a value.
    Secret,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            message: message.into(),
            origin: Origin::Unknown,
        }
    }

    /// A secret variable that is missing: `PAGERDUTY_TOKEN is not set: ...`.
    pub fn secret(var: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: var.into(),
            message: message.into(),
            origin: Origin::Secret,
        }
    }

    /// Whether this problem is about `path` or something under it.
    pub fn is_under(&self, path: &str) -> bool {
        self.key == path
            || self
                .key
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Secret => write!(f, "{} {}", self.key, self.message),
            Origin::Env { var, value } => {
                write!(f, "{var}={}: {}: {}", shown(value), self.key, self.message)
            }
            Origin::Line(line) if self.key.is_empty() => {
                write!(f, "line {line}: {}", self.message)
            }
            Origin::Line(line) => write!(f, "{} (line {line}): {}", self.key, self.message),
            Origin::InSection { section, line } => write!(
                f,
                "{} ([{section}] at line {line}): {}",
                self.key, self.message
            ),
            Origin::Unknown => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// An environment value as echoed in a problem: cut, so a huge value cannot flood the output.
fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    icbot_actors::truncate::truncate(value, 80)
}

/// Where each key's value came from, by its path (`pagerduty.page_deadline`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// The line of each key in the file.
    pub lines: HashMap<String, usize>,
    /// Keys set by environment overrides: the variable and its value.
    pub env: HashMap<String, (String, String)>,
    /// Keys read under another name (a deprecated `*_secs` key): the path as read, to the path as written.
    pub written_as: HashMap<String, String>,
}

impl Origins {
    /// The path as the operator wrote it.
    pub fn written(&self, path: &str) -> String {
        self.written_as
            .get(path)
            .cloned()
            .unwrap_or_else(|| path.to_string())
    }

    /// `problem` with the key as written and its origin filled in.
    pub fn locate(&self, mut problem: Problem) -> Problem {
        if problem.origin != Origin::Unknown {
            return problem;
        }
        let written = self.written(&problem.key);
        if let Some((var, value)) = self.env.get(&written) {
            problem.origin = Origin::Env {
                var: var.clone(),
                value: value.clone(),
            };
        } else if let Some(line) = self.lines.get(&written) {
            problem.origin = Origin::Line(*line);
        } else if let Some((section, line)) = written
            .rsplit_once('.')
            .and_then(|(section, _)| Some((section, self.lines.get(section)?)))
        {
            problem.origin = Origin::InSection {
                section: section.to_string(),
                line: *line,
            };
        }
        problem.key = written;
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_key_and_origin() {
        let p = Problem::new("pagerduty.page_deadline", "invalid duration");
        assert_eq!(p.to_string(), "pagerduty.page_deadline: invalid duration");
        let mut origins = Origins::default();
        origins.lines.insert("pagerduty.page_deadline".into(), 12);
        assert_eq!(
            origins.locate(p.clone()).to_string(),
            "pagerduty.page_deadline (line 12): invalid duration"
        );
        origins.env.insert(
            "pagerduty.page_deadline".into(),
            ("ICBOT_PAGERDUTY__PAGE_DEADLINE".into(), "abc".into()),
        );
        assert_eq!(
            origins.locate(p).to_string(),
            "ICBOT_PAGERDUTY__PAGE_DEADLINE=abc: pagerduty.page_deadline: invalid duration"
        );
        origins.lines.insert("pagerduty".into(), 3);
        assert_eq!(
            origins
                .locate(Problem::new("pagerduty.from_email", "missing"))
                .to_string(),
            "pagerduty.from_email ([pagerduty] at line 3): missing"
        );
        assert_eq!(
            Problem::secret("PAGERDUTY_TOKEN", "is not set").to_string(),
            "PAGERDUTY_TOKEN is not set"
        );
    }

    #[test]
    fn under_matches_the_key_and_its_children_only() {
        let p = Problem::new("pagerduty.ic_schedules[0].id", "x");
        assert!(p.is_under("pagerduty.ic_schedules"));
        assert!(p.is_under("pagerduty"));
        assert!(!p.is_under("pager"));
    }
}
