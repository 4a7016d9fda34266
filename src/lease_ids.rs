//! Where lease ids come from. A primary draws each id once: its command filter puts it
//! in RL.ACQUIRE's stamp (`stamp.rs`) so the command replicates as itself, or the
//! handler draws it when the command was not stamped just now (then the lease step
//! propagates as `RL.APPLY`). A replica or an AOF replay never draws: it takes the id
//! from the stamp.
//!
//! An id is SipHash (std's `RandomState`, keyed with 128 bits the OS gives once per
//! process) of a per-process counter. Without the key, a guess names a held lease with
//! probability at most (leases held) / 2^64.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// A fresh id (0 or one the key holds is possible, and rare: see [`candidates`]).
pub fn draw() -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    KEY.get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Relaxed))
}

/// The ids RL.ACQUIRE tries in turn until one is non-zero and not held by the key.
/// With a stamped id: that id, then a fixed bijective mix of the previous candidate, so
/// the primary and every replay of its command pick the same id from the same state.
/// Without one: fresh draws.
pub fn candidates(stamped: Option<u64>) -> impl FnMut() -> u64 {
    let mut next = stamped;
    move || match next {
        Some(id) => {
            next = Some(mix(id));
            id
        }
        None => draw(),
    }
}

/// SplitMix64's finaliser: a bijection on u64 that scatters neighbouring inputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A lease id as replied and stamped: 16 lowercase hexadecimal digits, formatted
/// without allocating.
pub fn hex(id: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_id_gives_the_same_candidates_every_time() {
        let run = || {
            let mut next = candidates(Some(0));
            (0..4).map(|_| next()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert_eq!(first[0], 0);
        assert!(first[1..].iter().all(|&id| id != 0));
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), first.len());
    }

    #[test]
    fn draws_differ() {
        let mut next = candidates(None);
        let (a, b) = (next(), next());
        assert_ne!(a, b);
    }

    #[test]
    fn hex_is_sixteen_lowercase_digits() {
        assert_eq!(&hex(0xab), b"00000000000000ab");
        assert_eq!(&hex(u64::MAX), b"ffffffffffffffff");
    }
}
