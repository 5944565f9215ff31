//! The keyed requests running in this process: one attempt per `Idempotency-Key` at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The keys whose requests run in this process.
#[derive(Default)]
pub(crate) struct Attempts(Mutex<HashSet<String>>);

/// A key's request running in this process; the key is free again when it is dropped.
pub(crate) struct Attempt {
    attempts: Arc<Attempts>,
    key: String,
}

impl Attempt {
    pub(crate) fn begin(attempts: &Arc<Attempts>, key: &str) -> Option<Attempt> {
        let mut running = attempts.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        running.insert(key.to_owned()).then(|| Attempt { attempts: attempts.clone(), key: key.to_owned() })
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.attempts.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&self.key);
    }
}
