//! States this process has read from the log, kept to skip reading them again on the hot path.
//!
//! Two uses, both exact (docs/adr/0011): a state is brought up to date by reading only the
//! events after its version; or it is used as it is by a command that appends with a guard on
//! its stream, so that a stale state (changed by another process, or by another command here)
//! fails the guard and the command reads again: staleness costs a retry, never a wrong decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A state and the stream version it was read at.
pub(crate) struct Versioned<S> {
    pub state: S,
    pub version: u64,
}

/// At most `capacity` states by stream id; a full cache drops an arbitrary entry to make room.
pub(crate) struct ReadCache<S> {
    entries: Mutex<HashMap<String, Arc<Versioned<S>>>>,
    capacity: usize,
}

impl<S> ReadCache<S> {
    pub(crate) fn new(capacity: usize) -> Self {
        ReadCache { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    pub(crate) fn get(&self, stream_id: &str) -> Option<Arc<Versioned<S>>> {
        self.lock().get(stream_id).cloned()
    }

    pub(crate) fn put(&self, stream_id: String, entry: Arc<Versioned<S>>) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&stream_id) {
            let victim = entries.keys().next().cloned();
            victim.map(|k| entries.remove(&k));
        }
        entries.insert(stream_id, entry);
    }

    pub(crate) fn forget(&self, stream_id: &str) {
        self.lock().remove(stream_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Versioned<S>>>> {
        // A panic while holding the lock leaves a consistent map: every operation is one call.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &'static str, version: u64) -> Arc<Versioned<&'static str>> {
        Arc::new(Versioned { state, version })
    }

    #[test]
    fn a_put_state_is_got_until_forgotten() {
        let cache = ReadCache::new(4);
        cache.put("ca-a".into(), entry("active", 3));
        let got = cache.get("ca-a").expect("cached");
        assert_eq!((got.state, got.version), ("active", 3));
        cache.forget("ca-a");
        assert!(cache.get("ca-a").is_none());
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = ReadCache::new(2);
        for (i, id) in ["ca-a", "ca-b", "ca-c"].into_iter().enumerate() {
            cache.put(id.into(), entry("active", i as u64));
        }
        assert_eq!(cache.lock().len(), 2);
        assert!(cache.get("ca-c").is_some(), "the newest entry is kept");
        cache.put("ca-c".into(), entry("revoked", 9));
        assert_eq!(cache.lock().len(), 2, "replacing an entry evicts nothing");
        assert_eq!(cache.get("ca-c").map(|e| e.version), Some(9));
    }
}
