//! State kept as one JSON file: read back at start, where a missing file is nothing to restore and a corrupt
//! or unreadable one is logged and ignored, never fatal.

use serde::de::DeserializeOwned;

use crate::ports::StateStore;

/// The state in `file`, or `None` when there is none, or it is unreadable or corrupt (logged, then ignored).
pub fn load_json<T: DeserializeOwned>(store: &dyn StateStore, file: &str) -> Option<T> {
    match store.load(file) {
        Ok(None) => None,
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!(error = %e, file, "state file is corrupt; ignoring it");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, file, "cannot read state file; ignoring it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_store::MemoryStateStore;

    #[test]
    fn a_missing_or_corrupt_file_is_none_and_a_good_one_is_read() {
        let store = MemoryStateStore::new();
        assert_eq!(load_json::<Vec<u32>>(&store, "s.json"), None);
        store.save("s.json", b"[1, 2").unwrap();
        assert_eq!(load_json::<Vec<u32>>(&store, "s.json"), None);
        store.save("s.json", b"[1, 2]").unwrap();
        assert_eq!(load_json::<Vec<u32>>(&store, "s.json"), Some(vec![1, 2]));
    }
}
