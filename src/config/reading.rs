//! Reading a configuration: TOML text, then `ICBOT_<SECTION>__<KEY>` overrides, then deprecated keys, then
//! the typed [`Config`], collecting every problem on the way instead of stopping at the first.
//!
//! Each problem names its key (through `serde_path_to_error`) and where the value came from: the line of
//! the file (from the spans of `toml`'s own parser) or the environment variable that set it. A key whose
//! value cannot be read is reported, dropped (its default applies), and reading goes on, so one run lists
//! them all.

use serde_path_to_error::Segment;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::duration::{self, KEYS};
use super::problem::{Origin, Origins, Problem};
use super::Config;

/// Prefix of environment overrides: `ICBOT_PAGERDUTY__PAGE_DEADLINE=5s`.
pub const ENV_PREFIX: &str = "ICBOT_";

/// What reading found.
#[derive(Debug)]
pub struct Reading {
    /// The configuration, with defaults where a key could not be read; `None` when the text is not TOML.
    pub config: Option<Config>,
    /// Every key that could not be read, located.
    pub problems: Vec<Problem>,
    /// Deprecated forms that were read anyway, located.
    pub warnings: Vec<Problem>,
    pub origins: Origins,
}

/// Reads `text` with the overrides in `env` (other variables are ignored).
pub fn read(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Reading {
    let mut reading = Reading {
        config: None,
        problems: Vec::new(),
        warnings: Vec::new(),
        origins: Origins::default(),
    };
    let (document, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for error in syntax {
            let line = error.span().map_or(1, |s| line_of(text, s.start));
            reading.problems.push(Problem {
                key: String::new(),
                message: format!("not valid TOML: {}", error.message().trim()),
                origin: Origin::Line(line),
            });
        }
        return reading;
    }
    index_lines(text, "", document.get_ref(), &mut reading.origins);
    let mut table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            reading.problems.push(Problem {
                key: String::new(),
                message: format!("not valid TOML: {}", e.message().trim()),
                origin: Origin::Line(line),
            });
            return reading;
        }
    };
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    env.sort();
    for (var, value) in env {
        if let Err(problem) = apply_override(&mut table, &var, &value, &mut reading.origins) {
            reading.problems.push(problem);
        }
    }
    read_durations(&mut table, &mut reading);
    reading.config = deserialize(table, &mut reading);
    let origins = &reading.origins;
    reading.problems = std::mem::take(&mut reading.problems)
        .into_iter()
        .map(|p| origins.locate(p))
        .collect();
    reading.warnings = std::mem::take(&mut reading.warnings)
        .into_iter()
        .map(|p| origins.locate(p))
        .collect();
    reading
}

/// Deserializes, and for each key that fails: reports it, drops it, and tries again, so every bad key is
/// reported in one run.
fn deserialize(mut table: toml::Table, reading: &mut Reading) -> Option<Config> {
    // Each round drops one key; a file has far fewer bad keys than this.
    for _ in 0..256 {
        let value = toml::Value::Table(table.clone());
        match serde_path_to_error::deserialize::<_, Config>(value) {
            Ok(config) => return Some(config),
            Err(e) => {
                let path = path_text(e.path());
                reading
                    .problems
                    .push(Problem::new(path, e.inner().message().trim().to_string()));
                if !remove(&mut table, e.path().iter().collect::<Vec<_>>().as_slice()) {
                    return None;
                }
            }
        }
    }
    None
}

/// A path as the operator writes it: `pagerduty.ic_schedules[0].id`.
fn path_text(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        "(file)".to_string()
    } else {
        out
    }
}

/// Removes the value at `path`; false when there is none (nothing to drop: reading cannot go on).
fn remove(table: &mut toml::Table, path: &[&Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here = Here::Table(table);
    for segment in parents {
        here = match (here, segment) {
            (Here::Table(t), Segment::Map { key }) => match t.get_mut(key.as_str()) {
                Some(v) => Here::of(v),
                None => return false,
            },
            (Here::Array(a), Segment::Seq { index }) => match a.get_mut(*index) {
                Some(v) => Here::of(v),
                None => return false,
            },
            _ => return false,
        };
    }
    match (here, last) {
        (Here::Table(t), Segment::Map { key }) => t.remove(key.as_str()).is_some(),
        (Here::Array(a), Segment::Seq { index }) if *index < a.len() => {
            a.remove(*index);
            true
        }
        _ => false,
    }
}

enum Here<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
    Other,
}

impl<'a> Here<'a> {
    fn of(value: &'a mut toml::Value) -> Here<'a> {
        match value {
            toml::Value::Table(t) => Here::Table(t),
            toml::Value::Array(a) => Here::Array(a),
            _ => Here::Other,
        }
    }
}

/// `ICBOT_PAGERDUTY__PAGE_DEADLINE=5s` sets `[pagerduty] page_deadline = "5s"`. Values parse as TOML
/// (numbers, booleans, arrays) and fall back to a string.
fn apply_override(
    table: &mut toml::Table,
    var: &str,
    value: &str,
    origins: &mut Origins,
) -> Result<(), Problem> {
    let Some(path) = var.strip_prefix(ENV_PREFIX) else {
        return Ok(());
    };
    let Some((section, field)) = path.split_once("__") else {
        return Ok(());
    };
    let (section, field) = (section.to_lowercase(), field.to_lowercase());
    if section.is_empty() || field.is_empty() {
        return Ok(());
    }
    let key = format!("{section}.{field}");
    origins
        .env
        .insert(key.clone(), (var.to_string(), value.to_string()));
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(Problem {
            key,
            message: format!("[{section}] is not a section"),
            origin: Origin::Env {
                var: var.to_string(),
                value: value.to_string(),
            },
        });
    };
    section_table.insert(field, parsed);
    Ok(())
}

/// The deprecated duration forms: a `*_secs` key becomes its new key (warned), both set is a problem, and a
/// bare number of seconds is read (warned).
fn read_durations(table: &mut toml::Table, reading: &mut Reading) {
    for k in KEYS {
        let Some(toml::Value::Table(section)) = table.get_mut(k.section) else {
            continue;
        };
        let new_path = format!("{}.{}", k.section, k.key);
        if let Some(legacy) = k.legacy {
            let old_path = format!("{}.{legacy}", k.section);
            if let Some(old) = section.remove(legacy) {
                let old_from_env = reading.origins.env.contains_key(&old_path);
                let new_from_env = reading.origins.env.contains_key(&new_path);
                if section.contains_key(k.key) && old_from_env == new_from_env {
                    reading.problems.push(Problem::new(
                        old_path,
                        format!(
                            "both {legacy} (deprecated) and {} are set; keep {} only",
                            k.key, k.key
                        ),
                    ));
                    continue;
                }
                if section.contains_key(k.key) && new_from_env {
                    // The file's old key, overridden by the environment's new one.
                    reading.warnings.push(Problem::new(
                        old_path,
                        format!("deprecated, and overridden by the environment's {}", k.key),
                    ));
                    continue;
                }
                if let Some(d) = seconds_of(&old).and_then(|s| duration::from_seconds(s).ok()) {
                    reading.warnings.push(Problem::new(
                        old_path.clone(),
                        format!(
                            "deprecated, and read for this release only: write {} = \"{}\"",
                            k.key,
                            duration::format(d)
                        ),
                    ));
                }
                section.insert(k.key.to_string(), old);
                reading.origins.written_as.insert(new_path, old_path);
                continue;
            }
        }
        if let Some(value) = section.get(k.key) {
            if let Some(Ok(d)) = seconds_of(value).map(duration::from_seconds) {
                reading.warnings.push(Problem::new(
                    new_path,
                    format!(
                        "a bare number of seconds is deprecated: write {} = \"{}\"",
                        k.key,
                        duration::format(d)
                    ),
                ));
            }
        }
    }
}

fn seconds_of(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Records the line of every key under `prefix`.
fn index_lines(text: &str, prefix: &str, table: &DeTable<'_>, origins: &mut Origins) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        origins
            .lines
            .insert(path.clone(), line_of(text, key.span().start));
        index_value(text, &path, value, origins);
    }
}

fn index_value(text: &str, path: &str, value: &Spanned<DeValue<'_>>, origins: &mut Origins) {
    match value.get_ref() {
        DeValue::Table(t) => index_lines(text, path, t, origins),
        DeValue::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                origins
                    .lines
                    .insert(item_path.clone(), line_of(text, item.span().start));
                index_value(text, &item_path, item, origins);
            }
        }
        _ => {}
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
