//! Append-only logs of one JSON object per line (the page and incident audit logs), rotated by size into
//! `<name>.1`. Appends are serialized so that a rotation never races another append, and start on a fresh
//! line even after a torn one (the [`StateStore`]'s `append_line`). A failure to write is logged loudly and
//! never fatal: the reply it records matters more.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::ports::StateStore;

/// One JSON-lines log in a [`StateStore`].
pub struct JsonLines {
    store: Arc<dyn StateStore>,
    name: &'static str,
    /// What the log is, in words for the log lines: "page audit log".
    what: &'static str,
    max_bytes: u64,
    writing: Mutex<()>,
}

impl JsonLines {
    /// The log `name` in `store`, rotated before an append would take it past `max_bytes`.
    pub fn new(
        store: Arc<dyn StateStore>,
        name: &'static str,
        what: &'static str,
        max_bytes: u64,
    ) -> Self {
        JsonLines {
            store,
            name,
            what,
            max_bytes: max_bytes.max(1),
            writing: Mutex::new(()),
        }
    }

    /// Where the log is kept, for reading it back.
    pub fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }

    /// Appends `record` as one line, rotating first when the line would take the file past its size.
    pub fn append<T: Serialize>(&self, record: &T) {
        let (file, what) = (self.name, self.what);
        let line = match serde_json::to_string(record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, file, "cannot encode a record of the {what}");
                return;
            }
        };
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        match self.store.size(file) {
            // The new line and maybe a newline ending a torn last line.
            Ok(Some(size)) if size > 0 && size + line.len() as u64 + 2 > self.max_bytes => {
                match self.store.rotate(file) {
                    Ok(()) => tracing::info!(file, size, "{what} rotated"),
                    Err(e) => tracing::error!(error = %e, file, "cannot rotate the {what}"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, file, "cannot size the {what}"),
        }
        if let Err(e) = self.store.append_line(file, &line) {
            tracing::error!(error = %e, file, "cannot append to the {what}");
        }
    }
}
