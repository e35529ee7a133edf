//! The queries of a run that are running now, and whether the run was cancelled: what Ctrl-C
//! stops, for every engine.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Running {
    ids: Mutex<BTreeSet<String>>,
    cancelled: AtomicBool,
}

impl Running {
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Marks the run cancelled: no query starts after this; the ids of those running, to stop.
    pub fn cancel(&self) -> Vec<String> {
        self.cancelled.store(true, Ordering::SeqCst);
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn track(&self, id: &str, on: bool) {
        let mut r = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            r.insert(id.to_string());
        } else {
            r.remove(id);
        }
    }
}
