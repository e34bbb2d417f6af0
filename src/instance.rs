//! Which bot this is, and the state dir lock that makes it the only one on its state dir.
//!
//! An [`Instance`] is the process id and the start time; the admin server answers with it (the
//! `icbot-instance` header on every answer, `instance` in `/readyz`), so `icbot health` can confirm it talks
//! to the bot it means. [`StateLock`] holds an OS advisory lock on `<state dir>/icbot.lock` for the bot's
//! whole run (`kill -9` releases it with the process) and writes the instance into the file: a second bot
//! on the same state dir refuses to start, naming the first.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The lock file, in the state dir.
pub const LOCK_FILE: &str = "icbot.lock";

/// The HTTP header every admin answer carries: [`Instance::id`].
pub const INSTANCE_HEADER: &str = "icbot-instance";

/// This bot: its process and when it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub pid: u32,
    /// Milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// `<pid>-<started_unix_ms>`: different for every start, even of the same pid.
    pub id: String,
}

impl Instance {
    /// This process, starting now.
    pub fn now() -> Instance {
        let pid = std::process::id();
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Instance {
            pid,
            started_unix_ms,
            id: format!("{pid}-{started_unix_ms}"),
        }
    }

    /// The pid of an instance id (`<pid>-<ms>`).
    pub fn pid_of(id: &str) -> Option<u32> {
        id.split_once('-')?.0.parse().ok()
    }
}

/// Why a state dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another icbot ({holder}) is running on the state dir {dir}: {file} is locked; stop it, or give this one another [state] dir")]
    Held {
        dir: PathBuf,
        file: PathBuf,
        holder: String,
    },
    #[error("cannot lock {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock on a state dir; dropping it (or the process ending, however) releases it.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Locks `dir` (created if missing) for `instance`, and writes the instance into the lock file.
    pub fn acquire(dir: &Path, instance: &Instance) -> Result<StateLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            file: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = match read_lock_file(dir) {
                    Some(held) => format!("pid {}", held.pid),
                    None => "pid unknown".to_string(),
                };
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    file: path,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        write!(file, "pid={}\ninstance={}\n", instance.pid, instance.id).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(StateLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a lock file says: the pid and instance of the bot that last locked it (which may have exited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub instance: Option<String>,
}

/// Reads `<dir>/icbot.lock`; `None` when there is none or it says nothing usable.
pub fn read_lock_file(dir: &Path) -> Option<LockHolder> {
    let text = std::fs::read_to_string(dir.join(LOCK_FILE)).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
    };
    Some(LockHolder {
        pid: field("pid")?.parse().ok()?,
        instance: field("instance"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icbot-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_naming_the_first() {
        let dir = temp_dir("second");
        let first = Instance::now();
        let held = StateLock::acquire(&dir, &first).expect("first lock");
        assert_eq!(
            read_lock_file(&dir),
            Some(LockHolder {
                pid: first.pid,
                instance: Some(first.id.clone())
            })
        );
        let err = StateLock::acquire(&dir, &Instance::now()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("another icbot (pid {}) is running", first.pid)),
            "{text}"
        );
        drop(held);
        StateLock::acquire(&dir, &Instance::now()).expect("free again once released");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_pid_is_read_back_from_an_instance_id() {
        let i = Instance::now();
        assert_eq!(Instance::pid_of(&i.id), Some(std::process::id()));
        assert_eq!(Instance::pid_of("nonsense"), None);
    }
}
