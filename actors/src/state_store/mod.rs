//! [`StateStore`] implementations: files in `[state] dir` for the bot, memory for tests; [`watched`] counts
//! and publishes failed state writes; [`json`] reads a JSON state file back, ignoring a corrupt one; [`jsonl`]
//! appends to a JSON-lines log rotated by size (the audit logs).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::ports::StateStore;

pub mod json;
pub mod jsonl;
pub mod watched;

/// Files in one directory; saves write `name.tmp` then rename it over `name`.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// Creates the directory if needed.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(FileStateStore { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl StateStore for FileStateStore {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `.name.tmp`, syncs it, renames it over `name`, then syncs the directory so the rename itself
    /// survives a power cut. Any failure removes the temporary file: a failed save leaves no litter.
    fn save(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, self.dir.join(name))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::File::open(&self.dir)?.sync_all()
    }

    fn append_line(&self, name: &str, line: &str) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(self.dir.join(name))?;
        let mut buf = String::with_capacity(line.len() + 2);
        // A crash mid-append leaves a last line without its newline: end it, so this line stands alone.
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                buf.push('\n');
            }
        }
        buf.push_str(line.trim_end_matches('\n'));
        buf.push('\n');
        f.write_all(buf.as_bytes())?;
        f.sync_data()
    }

    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        match fs::metadata(self.dir.join(name)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn load_tail(&self, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let mut f = match fs::File::open(self.dir.join(name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let from = len.saturating_sub(max);
        f.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::with_capacity(usize::try_from(len - from).unwrap_or(0));
        f.take(max).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    fn rotate(&self, name: &str) -> io::Result<()> {
        match fs::rename(self.dir.join(name), self.dir.join(format!("{name}.1"))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// State kept in memory: for tests, and for a bot run without a state directory.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    files: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for MemoryStateStore {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned())
    }

    fn save(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    fn append_line(&self, name: &str, line: &str) -> io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let file = files.entry(name.to_string()).or_default();
        if file.last().is_some_and(|b| *b != b'\n') {
            file.push(b'\n');
        }
        file.extend_from_slice(line.trim_end_matches('\n').as_bytes());
        file.push(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icbot-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn file_store_round_trips_and_replaces() {
        let dir = temp_dir("roundtrip");
        let store = FileStateStore::open(&dir).unwrap();
        assert_eq!(store.load("x.json").unwrap(), None);
        store.save("x.json", b"one").unwrap();
        store.save("x.json", b"two").unwrap();
        assert_eq!(store.load("x.json").unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!dir.join(".x.json.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_save_removes_its_temporary_file() {
        let dir = temp_dir("failed-save");
        let store = FileStateStore::open(&dir).unwrap();
        // A directory where the file should be: the temporary file is written, the rename fails (even as root).
        fs::create_dir_all(dir.join("x.json").join("inside")).unwrap();
        let err = store.save("x.json", b"one").unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(
            !dir.join(".x.json.tmp").exists(),
            "the temporary file of a failed save is removed"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_store_appends_lines() {
        let dir = temp_dir("append");
        let store = FileStateStore::open(&dir).unwrap();
        store.append_line("log", "a").unwrap();
        store.append_line("log", "b\n").unwrap();
        assert_eq!(store.load("log").unwrap().as_deref(), Some(&b"a\nb\n"[..]));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_append_after_a_torn_line_starts_on_a_fresh_line() {
        let dir = temp_dir("torn");
        let store = FileStateStore::open(&dir).unwrap();
        fs::write(dir.join("log"), b"{\"whole\":1}\n{\"cut\":").unwrap();
        store.append_line("log", "{\"next\":2}").unwrap();
        let text = String::from_utf8(store.load("log").unwrap().unwrap()).unwrap();
        assert_eq!(text, "{\"whole\":1}\n{\"cut\":\n{\"next\":2}\n");
        let memory = MemoryStateStore::new();
        memory.save("log", b"{\"cut\":").unwrap();
        memory.append_line("log", "{}").unwrap();
        assert_eq!(memory.load("log").unwrap().unwrap(), b"{\"cut\":\n{}\n");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_store_reads_a_tail_and_rotates() {
        let dir = temp_dir("tail");
        let store = FileStateStore::open(&dir).unwrap();
        assert_eq!(store.load_tail("log", 4).unwrap(), None);
        assert_eq!(store.size("log").unwrap(), None);
        store.append_line("log", "one").unwrap();
        store.append_line("log", "two").unwrap();
        assert_eq!(store.size("log").unwrap(), Some(8));
        assert_eq!(store.load_tail("log", 4).unwrap().unwrap(), b"two\n");
        assert_eq!(store.load_tail("log", 100).unwrap().unwrap(), b"one\ntwo\n");
        store.rotate("log").unwrap();
        assert_eq!(store.load("log").unwrap(), None);
        assert_eq!(store.load("log.1").unwrap().unwrap(), b"one\ntwo\n");
        store.append_line("log", "three").unwrap();
        store.rotate("log").unwrap();
        assert_eq!(
            store.load("log.1").unwrap().unwrap(),
            b"three\n",
            "one previous file kept"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
