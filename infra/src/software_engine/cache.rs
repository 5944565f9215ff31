//! A bounded cache of decrypted keys: the least recently used one is dropped when it is full, so
//! a process that has signed with many CAs does not keep every one of their keys in memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// How many decrypted keys an engine keeps; a miss costs one file read and one AES-GCM open.
pub(crate) const CAPACITY: usize = 256;

pub(crate) struct KeyCache<K, V> {
    capacity: usize,
    inner: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    map: HashMap<K, (Arc<V>, u64)>,
    /// Bumped on every use; an entry's stamp says when it was last used.
    clock: u64,
}

impl<K: Hash + Eq + Clone, V> KeyCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        KeyCache { capacity: capacity.max(1), inner: Mutex::new(Entries { map: HashMap::new(), clock: 0 }) }
    }

    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        entries.map.get_mut(key).map(|(value, used)| {
            *used = now;
            value.clone()
        })
    }

    pub(crate) fn insert(&self, key: K, value: Arc<V>) {
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        if entries.map.len() >= self.capacity && !entries.map.contains_key(&key) {
            // A linear scan over at most CAPACITY entries, far cheaper than the miss that follows.
            let oldest = entries.map.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.map.remove(&oldest);
            }
        }
        entries.map.insert(key, (value, now));
    }

    pub(crate) fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        // The map stays consistent whatever a panicking holder was doing: each change is one call.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_at_most_its_capacity_dropping_the_least_recently_used() {
        let cache = KeyCache::new(3);
        for key in 0..3 {
            cache.insert(key, Arc::new(key));
        }
        assert!(cache.get(&0).is_some());
        cache.insert(3, Arc::new(3));
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&1).is_none(), "1 was the least recently used");
        assert!(cache.get(&0).is_some() && cache.get(&2).is_some() && cache.get(&3).is_some());
        cache.insert(3, Arc::new(30));
        assert_eq!((cache.len(), *cache.get(&3).unwrap()), (3, 30));
        cache.remove(&0);
        assert_eq!(cache.len(), 2);
    }
}
