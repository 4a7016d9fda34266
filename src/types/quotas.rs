//! Interned quotas: keys share a handful of quotas (one per rule, per tier, per
//! policy), so a key stores a 4-byte id into this table instead of its three u64s.
//!
//! Each [`QuotaId`] owns one reference to its entry; dropping it releases it and the
//! entry is forgotten with its last reference. The table sits behind a mutex because
//! Redis may free values on a background thread (`FLUSHALL ASYNC`, lazy free).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::algorithms::Quota;

/// A reference to an interned quota.
#[derive(Debug, PartialEq, Eq)]
pub struct QuotaId(u32);

struct Table {
    /// Each id's quota and reference count (0: a free slot).
    slots: Vec<(Quota, u32)>,
    index: HashMap<Quota, u32, ahash::RandomState>,
    free: Vec<u32>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<Table>> {
    // A panic elsewhere cannot leave the table half-written: every change below is
    // completed before the guard drops.
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Interns `q`, or `None` when every id is taken (the caller stores it wide).
pub fn intern(q: Quota) -> Option<QuotaId> {
    let mut guard = table();
    let t = guard.get_or_insert_with(|| Table {
        slots: Vec::new(),
        index: HashMap::with_hasher(ahash::RandomState::new()),
        free: Vec::new(),
    });
    if let Some(&id) = t.index.get(&q) {
        let refs = &mut t.slots[id as usize].1;
        *refs = refs.checked_add(1)?;
        return Some(QuotaId(id));
    }
    let id = match t.free.pop() {
        Some(id) => {
            t.slots[id as usize] = (q, 1);
            id
        }
        None => {
            let id = u32::try_from(t.slots.len()).ok()?;
            t.slots.push((q, 1));
            id
        }
    };
    t.index.insert(q, id);
    Some(QuotaId(id))
}

impl QuotaId {
    /// The quota.
    pub fn get(&self) -> Quota {
        let guard = table();
        // A live id always has its slot: it holds a reference to it.
        guard
            .as_ref()
            .map(|t| t.slots[self.0 as usize].0)
            .expect("interned quota")
    }

    /// Another reference to the same quota (`None` if its count would overflow).
    pub fn share(&self) -> Option<QuotaId> {
        let mut guard = table();
        let t = guard.as_mut()?;
        let refs = &mut t.slots[self.0 as usize].1;
        *refs = refs.checked_add(1)?;
        Some(QuotaId(self.0))
    }
}

impl Drop for QuotaId {
    fn drop(&mut self) {
        let mut guard = table();
        let Some(t) = guard.as_mut() else { return };
        let (q, refs) = &mut t.slots[self.0 as usize];
        *refs -= 1;
        if *refs == 0 {
            let q = *q;
            t.index.remove(&q);
            t.free.push(self.0);
        }
    }
}

/// Distinct quotas in use (RL.STATS-style introspection and tests).
pub fn distinct() -> usize {
    table().as_ref().map_or(0, |t| t.index.len())
}

/// Bytes the table occupies, shared by every key (reported once, not per key).
pub fn table_bytes() -> usize {
    table().as_ref().map_or(0, |t| {
        t.slots.capacity() * std::mem::size_of::<(Quota, u32)>()
            + t.index.capacity() * (std::mem::size_of::<(Quota, u32)>() + 1)
            + t.free.capacity() * 4
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(q: &Quota) -> u32 {
        let guard = table();
        let t = guard.as_ref().unwrap();
        t.index.get(q).map_or(0, |&id| t.slots[id as usize].1)
    }

    #[test]
    fn equal_quotas_share_an_id_until_the_last_reference_goes() {
        // A quota no other test uses (tests run in parallel on the one table).
        let q = Quota::new(7, 1234, 987_654_321).unwrap();
        let a = intern(q).unwrap();
        let b = intern(q).unwrap();
        let c = a.share().unwrap();
        assert_eq!((a.0, b.0, c.0), (a.0, a.0, a.0));
        assert_eq!(c.get(), q);
        assert_eq!(refs(&q), 3);
        drop((a, b));
        assert_eq!(c.get(), q);
        drop(c);
        assert_eq!(refs(&q), 0);
        let other = intern(Quota::new(8, 1234, 987_654_321).unwrap()).unwrap();
        assert_eq!(other.get().limit(), 8);
    }
}
