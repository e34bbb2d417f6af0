//! Logging: `tracing`, filtered by `RUST_LOG` (default `info`), as text or, with `ICBOT_LOG_FORMAT=json`,
//! as JSON lines.
//!
//! Where logs go:
//! - [`Logs::Stderr`] (services, piped console input, every other command): everything on stderr. Text
//!   carries ANSI colours only when stderr is a terminal, so journald and files never store escape codes.
//! - [`Logs::Interactive`] (console chat typed at a terminal): everything to a file in the state dir, and
//!   only warnings and errors on stderr, so the replies stay readable.

use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The file interactive sessions log to, in the state dir.
pub const INTERACTIVE_LOG: &str = "icbot.log";

/// Where logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logs {
    /// Everything on stderr.
    Stderr,
    /// Everything to this file (appended), warnings and errors also on stderr.
    Interactive { file: PathBuf },
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber with logs on stderr; later calls do nothing.
pub fn init() {
    let _ = init_to(&Logs::Stderr);
}

/// Installs the global subscriber; later calls do nothing. Returns the log file in use: for
/// [`Logs::Interactive`], `None` when the file cannot be opened (then everything goes to stderr, and the
/// error says why).
pub fn init_to(logs: &Logs) -> Result<Option<PathBuf>, String> {
    let json = std::env::var("ICBOT_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let ansi = std::io::stderr().is_terminal();
    let (layers, result): (Vec<BoxedLayer>, _) = match logs {
        Logs::Stderr => (vec![stderr_layer(json, ansi, None)], Ok(None)),
        Logs::Interactive { file } => match open_log(file) {
            Ok(handle) => (
                vec![
                    stderr_layer(json, ansi, Some(LevelFilter::WARN)),
                    file_layer(json, handle),
                ],
                Ok(Some(file.clone())),
            ),
            Err(e) => (
                vec![stderr_layer(json, ansi, None)],
                Err(format!("cannot log to {}: {e}", file.display())),
            ),
        },
    };
    let _ = tracing_subscriber::registry().with(layers).try_init();
    result
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

fn stderr_layer(json: bool, ansi: bool, at_most: Option<LevelFilter>) -> BoxedLayer {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi && !json);
    let layer: BoxedLayer = if json {
        Box::new(layer.json().with_filter(filter()))
    } else {
        Box::new(layer.with_filter(filter()))
    };
    match at_most {
        Some(level) => Box::new(layer.with_filter(level)),
        None => layer,
    }
}

fn file_layer(json: bool, file: File) -> BoxedLayer {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(Mutex::new(file))
        .with_ansi(false);
    if json {
        Box::new(layer.json().with_filter(filter()))
    } else {
        Box::new(layer.with_filter(filter()))
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
