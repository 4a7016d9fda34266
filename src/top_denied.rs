//! The most-denied keys in bounded memory: a space-saving sketch of at most
//! `ratelimit.top-denied-keys` entries. A key that is denied more often than any
//! tracked key's error bound is always in it; counts are exact for keys that stayed
//! tracked and over-estimate by at most `error` otherwise. Key names are kept only
//! here (first 256 bytes), shown only by RL.STATS, never logged.

use std::cell::RefCell;
use std::collections::HashMap;

/// The longest key prefix kept per entry.
pub const MAX_KEY_BYTES: usize = 256;

/// One tracked key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key (at most [`MAX_KEY_BYTES`]).
    pub key: Box<[u8]>,
    /// Denied checks counted for it (an upper bound).
    pub denied: u64,
    /// How much of `denied` may belong to the key it replaced.
    pub error: u64,
}

/// A space-saving sketch.
#[derive(Debug, Default)]
pub struct TopDenied {
    capacity: usize,
    entries: Vec<Entry>,
    // aHash, keyed at random per process: key names crafted to collide cannot degrade
    // the index, at about the cost of the word hasher it replaced (docs/benchmarks.md).
    index: HashMap<Box<[u8]>, usize, ahash::RandomState>,
}

impl TopDenied {
    /// A sketch of `capacity` entries (0 tracks nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Counts one denied check on `key`.
    pub fn record(&mut self, key: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let key = &key[..key.len().min(MAX_KEY_BYTES)];
        if let Some(&i) = self.index.get(key) {
            self.entries[i].denied += 1;
            return;
        }
        let entry = |denied, error| Entry {
            key: key.into(),
            denied,
            error,
        };
        if self.entries.len() < self.capacity {
            self.index.insert(key.into(), self.entries.len());
            self.entries.push(entry(1, 0));
            return;
        }
        // Replace the least-denied entry; the newcomer inherits its count as error.
        let Some((i, min)) = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.denied)
        else {
            return;
        };
        let min = min.denied;
        self.index.remove(&self.entries[i].key);
        self.index.insert(key.into(), i);
        self.entries[i] = entry(min + 1, min);
    }

    /// The tracked keys, most denied first.
    pub fn top(&self) -> Vec<Entry> {
        let mut v = self.entries.clone();
        v.sort_by(|a, b| b.denied.cmp(&a.denied).then_with(|| a.key.cmp(&b.key)));
        v
    }

    /// Forgets everything; keeps `capacity`.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    /// Changes the capacity, forgetting everything if it changed.
    pub fn set_capacity(&mut self, capacity: usize) {
        if capacity != self.capacity {
            *self = Self::new(capacity);
        }
    }
}

thread_local! {
    static TOP: RefCell<TopDenied> = RefCell::new(TopDenied::new(0));
}

/// Counts a denied check on `key` in the module-wide sketch, sized as configured.
pub fn record(key: &[u8]) {
    let capacity = crate::config::top_denied_keys();
    TOP.with(|t| {
        let mut t = t.borrow_mut();
        t.set_capacity(capacity);
        t.record(key);
    });
}

/// The module-wide most-denied keys.
pub fn top() -> Vec<Entry> {
    TOP.with(|t| {
        let mut t = t.borrow_mut();
        t.set_capacity(crate::config::top_denied_keys());
        t.top()
    })
}

/// Clears the module-wide sketch (`RL.STATS RESET`).
pub fn clear() {
    TOP.with(|t| t.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_heavy_hitters_with_bounded_entries() {
        let mut t = TopDenied::new(3);
        for (key, n) in [("a", 50), ("b", 30), ("c", 20)] {
            (0..n).for_each(|_| t.record(key.as_bytes()));
        }
        // A long tail of one-off keys: 300 denials over 3 entries, so a key with more
        // than 100 is guaranteed its place, with an exact count if never evicted.
        for i in 0..100 {
            t.record(format!("tail{i}").as_bytes());
            t.record(b"a");
        }
        let top = t.top();
        assert_eq!(top.len(), 3);
        assert_eq!(
            (&*top[0].key, top[0].denied, top[0].error),
            (&b"a"[..], 150, 0)
        );
        assert!(top[1..].iter().all(|e| e.denied - e.error <= 30));
        assert!(t.entries.len() <= 3 && t.index.len() <= 3);
    }

    #[test]
    fn long_keys_are_cut_and_zero_capacity_tracks_nothing() {
        let mut t = TopDenied::new(2);
        t.record(&[7u8; 1000]);
        assert_eq!(t.top()[0].key.len(), MAX_KEY_BYTES);
        let mut off = TopDenied::new(0);
        off.record(b"k");
        assert!(off.top().is_empty());
    }
}
