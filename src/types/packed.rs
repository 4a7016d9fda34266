//! How a limiter lives in memory as a key's value: in 32 bytes, the allocator's
//! 32-byte class (the state in two words, the quota as an interned id, the totals
//! in 32 bits each); a short SLIDING_LOG in 32 bytes plus one exactly sized buffer
//! of its times; a policy key as its compact encoding (version 3's body) in one
//! buffer; or boxed whole when a field does not fit that (long logs, leases, large
//! policy keys, totals above 4 billion, a token count beyond i64, a block). Packing
//! is exact: a value unpacks to the very [`Limiter`] it was packed from, so the
//! algorithms never see the difference.

use std::borrow::Cow;

use crate::algorithms::calendar::{Calendar, CalendarWindow};
use crate::algorithms::fixed_window::FixedWindow;
use crate::algorithms::gcra::Gcra;
use crate::algorithms::sliding_log::SlidingLog;
use crate::algorithms::sliding_window::SlidingWindow;
use crate::algorithms::token_bucket::TokenBucket;
use crate::algorithms::Algorithm;
use crate::types::encoding::Bytes;
use crate::types::encoding_v3::{decode_body, encode_body};
use crate::types::limiter::{Limiter, State, Totals};
use crate::types::quotas::{intern, QuotaId};

/// A fixed-size algorithm's value in 29 bytes. In C order, so the algorithm byte
/// (whose unused values tell the variants of [`Packed`] apart) sits after the 24
/// bytes a [`SmallLog`] uses.
#[derive(Debug)]
#[repr(C)]
pub struct Fixed {
    state: [u64; 2],
    quota: QuotaId,
    admitted: u32,
    denied: u32,
    algorithm: Algorithm,
}

/// Units a log may hold and stay packed. A packed log is copied out and back on
/// every update, which costs nothing at this length; a longer log is boxed whole,
/// where its ring buffer is updated in place.
pub const SMALL_LOG: usize = 64;

/// A SLIDING_LOG of at most [`SMALL_LOG`] units in 24 bytes and one buffer of
/// 12 + 4 x units bytes (a one-unit log's buffer takes the allocator's 16-byte class).
#[derive(Debug)]
#[repr(C)]
pub struct SmallLog {
    /// The base time (low half, high half), the denied total, then the offsets,
    /// oldest first.
    buf: Box<[u32]>,
    quota: QuotaId,
    admitted: u32,
}

/// Where a [`SmallLog`]'s offsets start in its buffer.
const LOG_HEAD: usize = 3;

/// The largest policy key kept encoded. A policy key is decoded and encoded again on
/// every check, which costs less than the copies its boxed form needs as long as it
/// is small; one with long logs among its limits is boxed whole.
pub const SMALL_POLICY: usize = 256;

/// A limiter value as stored.
#[derive(Debug)]
pub enum Packed {
    /// Packed in 32 bytes.
    Fixed(Fixed),
    /// A short log: 32 bytes and its times.
    Log(SmallLog),
    /// A policy key: 32 bytes and its encoding (a two-limit key's takes 30 to 48).
    Policy(Box<[u8]>),
    /// Everything else.
    Wide(Box<Limiter>),
}

/// A policy key's encoding, when it is small enough to keep encoded.
fn encode_policy(l: &Limiter) -> Option<Box<[u8]>> {
    if !matches!(l.state, State::Policy(_)) {
        return None;
    }
    let mut b = Bytes::default();
    encode_body(l, &mut b);
    (b.as_bytes().len() <= SMALL_POLICY).then(|| b.as_bytes().into())
}

/// A kept encoding, decoded. It was encoded here from a valid value, so it decodes;
/// were it ever not to, the check fails with an error reply (the command's panic
/// guard) rather than inventing a state.
fn decode_policy(b: &[u8]) -> Limiter {
    decode_body(b).expect("a policy key's own encoding decodes")
}

// The value's own allocation: 32 bytes (the allocator's 32-byte class).
const _: () = assert!(std::mem::size_of::<Packed>() <= 32);

/// The state words of `s`, when they fit.
fn state_words(s: &State) -> Option<[u64; 2]> {
    Some(match s {
        State::TokenBucket(s) => [i64::try_from(s.tokens).ok()? as u64, s.updated_ms],
        State::Gcra(s) => [s.tat as u64, (s.tat >> 64) as u64],
        State::FixedWindow(s) => [s.start_ms, s.count],
        State::SlidingWindow(s) => [
            s.start_ms,
            u64::from(u32::try_from(s.previous).ok()?)
                | u64::from(u32::try_from(s.current).ok()?) << 32,
        ],
        State::Calendar(s) => [
            s.start_ms,
            u64::from(u32::try_from(s.count).ok()?)
                | u64::from(u32::try_from(s.calendar.pack()).ok()?) << 32,
        ],
        State::SlidingLog(_) | State::Leases(_) | State::Policy(_) | State::Blocked => return None,
    })
}

fn totals_words(t: &Totals) -> Option<(u32, u32)> {
    Some((
        u32::try_from(t.admitted).ok()?,
        u32::try_from(t.denied).ok()?,
    ))
}

impl Fixed {
    /// Packs `l`, reusing `quota` (which must hold `l.quota`) or interning it.
    fn pack(l: &Limiter, quota: Option<QuotaId>) -> Option<Self> {
        if l.blocked_until_ms != 0 {
            return None;
        }
        let algorithm = l.algorithm()?;
        let state = state_words(&l.state)?;
        let (admitted, denied) = totals_words(&l.totals)?;
        let quota = match quota {
            Some(q) => q,
            None => intern(l.quota)?,
        };
        Some(Self {
            state,
            quota,
            admitted,
            denied,
            algorithm,
        })
    }

    fn unpack(&self) -> Limiter {
        let [a, b] = self.state;
        let state = match self.algorithm {
            Algorithm::TokenBucket => State::TokenBucket(TokenBucket {
                tokens: i128::from(a as i64),
                updated_ms: b,
            }),
            Algorithm::Gcra => State::Gcra(Gcra {
                tat: u128::from(a) | u128::from(b) << 64,
            }),
            Algorithm::FixedWindow => State::FixedWindow(FixedWindow {
                start_ms: a,
                count: b,
            }),
            Algorithm::Calendar => State::Calendar(CalendarWindow {
                // Packed from a valid spec (state_words).
                calendar: Calendar::unpack(b >> 32).expect("a packed calendar spec"),
                start_ms: a,
                count: b & 0xffff_ffff,
            }),
            // Only the four algorithms above are ever packed.
            _ => State::SlidingWindow(SlidingWindow {
                start_ms: a,
                previous: b & 0xffff_ffff,
                current: b >> 32,
            }),
        };
        Limiter {
            quota: self.quota.get(),
            totals: Totals {
                admitted: u64::from(self.admitted),
                denied: u64::from(self.denied),
            },
            state,
            blocked_until_ms: 0,
        }
    }

    /// Stores `l`'s state and totals in place (its quota is this value's); whether
    /// they fit.
    fn store(&mut self, l: &Limiter) -> bool {
        if l.blocked_until_ms != 0 || l.algorithm() != Some(self.algorithm) {
            return false;
        }
        match (state_words(&l.state), totals_words(&l.totals)) {
            (Some(state), Some((admitted, denied))) => {
                self.state = state;
                self.admitted = admitted;
                self.denied = denied;
                true
            }
            _ => false,
        }
    }
}

impl SmallLog {
    /// Packs `l` when it is a log of at most `max` units, interning its quota.
    fn pack(l: &Limiter, max: usize) -> Option<Self> {
        let State::SlidingLog(log) = &l.state else {
            return None;
        };
        if l.blocked_until_ms != 0 || log.len() > max {
            return None;
        }
        let (admitted, denied) = totals_words(&l.totals)?;
        let quota = intern(l.quota)?;
        Some(Self {
            buf: Self::buffer(log, denied),
            quota,
            admitted,
        })
    }

    fn buffer(log: &SlidingLog, denied: u32) -> Box<[u32]> {
        let (base, offsets) = log.parts();
        let mut buf = Vec::with_capacity(LOG_HEAD + offsets.len());
        buf.extend([base as u32, (base >> 32) as u32, denied]);
        buf.extend(offsets.iter().copied());
        buf.into_boxed_slice()
    }

    fn unpack(&self) -> Limiter {
        let base = u64::from(self.buf[0]) | u64::from(self.buf[1]) << 32;
        Limiter {
            quota: self.quota.get(),
            totals: Totals {
                admitted: u64::from(self.admitted),
                denied: u64::from(self.buf[2]),
            },
            state: State::SlidingLog(SlidingLog::from_packed(
                base,
                self.buf[LOG_HEAD..].iter().copied().collect(),
            )),
            blocked_until_ms: 0,
        }
    }

    /// Stores `l`'s log and totals in place (its quota is this value's); whether they
    /// fit.
    fn store(&mut self, l: &Limiter) -> bool {
        let State::SlidingLog(log) = &l.state else {
            return false;
        };
        if l.blocked_until_ms != 0 || log.len() > SMALL_LOG {
            return false;
        }
        let Some((admitted, denied)) = totals_words(&l.totals) else {
            return false;
        };
        self.buf = Self::buffer(log, denied);
        self.admitted = admitted;
        true
    }
}

impl Packed {
    /// Packs `l`: in 32 bytes when it fits, boxed otherwise.
    pub fn new(l: Limiter) -> Self {
        if let Some(f) = Fixed::pack(&l, None) {
            return Packed::Fixed(f);
        }
        if let Some(log) = SmallLog::pack(&l, SMALL_LOG) {
            return Packed::Log(log);
        }
        match encode_policy(&l) {
            Some(b) => Packed::Policy(b),
            None => Packed::Wide(Box::new(l)),
        }
    }

    /// Appends the value's encoding (`encoding_v3::encode_body`) to `out`: a policy
    /// key's kept bytes as they are, without decoding them; any other value encoded.
    pub fn encode_body_into(&self, out: &mut Bytes) {
        match self {
            Packed::Policy(b) => out.extend(b),
            _ => encode_body(&self.limiter(), out),
        }
    }

    /// The algorithm (`None`: a key holding just a block).
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self {
            Packed::Fixed(f) => Some(f.algorithm),
            Packed::Log(_) => Some(Algorithm::SlidingLog),
            Packed::Policy(_) => Some(Algorithm::Policy),
            Packed::Wide(l) => l.algorithm(),
        }
    }

    /// The limiter (a copy when packed, a borrow when boxed).
    pub fn limiter(&self) -> Cow<'_, Limiter> {
        match self {
            Packed::Fixed(f) => Cow::Owned(f.unpack()),
            Packed::Log(log) => Cow::Owned(log.unpack()),
            Packed::Policy(b) => Cow::Owned(decode_policy(b)),
            Packed::Wide(l) => Cow::Borrowed(l),
        }
    }

    /// Runs `f` on the limiter and stores what it leaves (in 32 bytes again when it
    /// fits).
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Limiter) -> R) -> R {
        match self {
            Packed::Wide(l) => {
                let r = f(l);
                if l.blocked_until_ms == 0 && state_words(&l.state).is_some() {
                    if let Some(fixed) = Fixed::pack(l, None) {
                        *self = Packed::Fixed(fixed);
                    }
                } else if let Some(log) = SmallLog::pack(l, SMALL_LOG / 2) {
                    // Only once it is well below the bound: a log hovering at the
                    // bound does not move back and forth on every check.
                    *self = Packed::Log(log);
                } else if let Some(b) = encode_policy(l) {
                    *self = Packed::Policy(b);
                }
                r
            }
            Packed::Log(log) => {
                let mut l = log.unpack();
                let quota = l.quota;
                let r = f(&mut l);
                if l.quota != quota || !log.store(&l) {
                    *self = Packed::new(l);
                }
                r
            }
            Packed::Policy(b) => {
                let mut l = decode_policy(b);
                let r = f(&mut l);
                *self = Packed::new(l);
                r
            }
            Packed::Fixed(fixed) => {
                let mut l = fixed.unpack();
                let quota = l.quota;
                let r = f(&mut l);
                if l.quota != quota || !fixed.store(&l) {
                    // A new quota, or a field that no longer fits: the old id is
                    // released when the old value is dropped here.
                    *self = Packed::new(l);
                }
                r
            }
        }
    }

    /// A copy with its own reference to the quota.
    pub fn duplicate(&self) -> Self {
        match self {
            Packed::Fixed(f) => match f.quota.share() {
                Some(quota) => Packed::Fixed(Fixed {
                    state: f.state,
                    quota,
                    admitted: f.admitted,
                    denied: f.denied,
                    algorithm: f.algorithm,
                }),
                None => Packed::Wide(Box::new(f.unpack())),
            },
            Packed::Log(log) => match log.quota.share() {
                Some(quota) => Packed::Log(SmallLog {
                    buf: log.buf.clone(),
                    quota,
                    admitted: log.admitted,
                }),
                None => Packed::Wide(Box::new(log.unpack())),
            },
            Packed::Policy(b) => Packed::Policy(b.clone()),
            Packed::Wide(l) => Packed::Wide(l.clone()),
        }
    }

    /// Whether the value is packed in 32 bytes.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Packed::Fixed(_))
    }

    /// Whether the value is a packed log.
    pub fn is_small_log(&self) -> bool {
        matches!(self, Packed::Log(_))
    }

    /// Bytes the allocator gives this value and what it owns (rounded up to the
    /// allocator's size classes), for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        let own = size_class(std::mem::size_of::<Packed>());
        match self {
            Packed::Fixed(_) => own,
            Packed::Log(log) => own + size_class(std::mem::size_of_val(&*log.buf)),
            Packed::Policy(b) => own + size_class(b.len()),
            Packed::Wide(l) => own + size_class(std::mem::size_of::<Limiter>()) + l.heap_bytes(),
        }
    }
}

/// The size jemalloc (Redis's allocator) hands out for a request of `n` bytes: 8,
/// then multiples of 16 to 128, then four classes per doubling.
pub fn size_class(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let step = n.next_power_of_two() / 8;
            n.div_ceil(step) * step
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::Quota;

    fn tb(tokens: i128, admitted: u64) -> Limiter {
        Limiter {
            quota: Quota::new(100, 3_600_000, 100).unwrap(),
            totals: Totals {
                admitted,
                denied: 3,
            },
            state: State::TokenBucket(TokenBucket {
                tokens,
                updated_ms: 1_764_633_600_000,
            }),
            blocked_until_ms: 0,
        }
    }

    #[test]
    fn packs_exactly_and_goes_wide_only_when_a_field_does_not_fit() {
        let l = tb(-5, 7);
        let p = Packed::new(l.clone());
        assert!(p.is_fixed());
        assert_eq!(*p.limiter(), l);
        let blocked = Limiter {
            blocked_until_ms: 5,
            ..tb(0, 1)
        };
        let block_only = Limiter::blocked_only(9, Totals::default());
        for wide in [
            tb(i128::from(i64::MAX) + 1, 7),
            tb(0, 1 << 32),
            blocked,
            block_only,
        ] {
            let p = Packed::new(wide.clone());
            assert!(!p.is_fixed());
            assert_eq!(*p.limiter(), wide);
        }
    }

    #[test]
    fn updates_repack_and_a_copy_is_independent() {
        let mut p = Packed::new(tb(10, 1));
        p.update(|l| l.totals.admitted = u64::from(u32::MAX) + 1);
        assert!(!p.is_fixed());
        p.update(|l| l.totals.admitted = 2);
        assert!(p.is_fixed());
        p.update(|l| l.blocked_until_ms = 10);
        assert!(!p.is_fixed());
        assert_eq!(p.limiter().blocked_until_ms, 10);
        p.update(|l| l.blocked_until_ms = 0);
        assert!(p.is_fixed());
        let q = Quota::new(5, 1000, 5).unwrap();
        let copy = p.duplicate();
        p.update(|l| l.quota = q);
        assert_eq!(p.limiter().quota, q);
        assert_eq!(copy.limiter().quota.limit(), 100);
        assert_eq!(copy.limiter().totals.admitted, 2);
    }

    fn log(units: u32) -> Limiter {
        Limiter {
            quota: Quota::new(1000, 60_000, 1000).unwrap(),
            totals: Totals {
                admitted: u64::from(units),
                denied: 4,
            },
            state: State::SlidingLog(
                SlidingLog::from_parts(1_764_633_600_000, (0..units).collect()).unwrap(),
            ),
            blocked_until_ms: 0,
        }
    }

    #[test]
    fn a_short_log_packs_in_32_bytes_and_its_times_and_moves_wide_past_the_bound() {
        let one = Packed::new(log(1));
        assert!(one.is_small_log());
        assert_eq!(*one.limiter(), log(1));
        // 32 bytes, and 12 + 4 in the 16-byte class.
        assert_eq!(one.heap_bytes(), 48);
        let mut p = Packed::new(log(SMALL_LOG as u32));
        assert!(p.is_small_log());
        p.update(|l| *l = log(SMALL_LOG as u32 + 1));
        assert!(!p.is_small_log() && !p.is_fixed());
        assert_eq!(*p.limiter(), log(SMALL_LOG as u32 + 1));
        // Back only well below the bound.
        p.update(|l| *l = log(SMALL_LOG as u32 - 1));
        assert!(!p.is_small_log());
        p.update(|l| *l = log(SMALL_LOG as u32 / 2));
        assert!(p.is_small_log());
        let copy = p.duplicate();
        p.update(|l| l.totals.denied = 9);
        assert_eq!(p.limiter().totals.denied, 9);
        assert_eq!(*copy.limiter(), log(SMALL_LOG as u32 / 2));
        // A block, or totals past 32 bits, box it.
        p.update(|l| l.blocked_until_ms = 5);
        assert!(!p.is_small_log());
        p.update(|l| l.blocked_until_ms = 0);
        assert!(p.is_small_log());
        p.update(|l| l.totals.admitted = 1 << 32);
        assert!(!p.is_small_log());
        assert_eq!(p.limiter().totals.admitted, 1 << 32);
    }

    fn policy(parts: Vec<Option<Limiter>>) -> Limiter {
        Limiter {
            quota: Quota::new(100, 3_600_000, 100).unwrap(),
            totals: Totals {
                admitted: 2,
                denied: 0,
            },
            state: State::Policy(Box::new(crate::types::multi::Multi {
                policy: b"pro"[..].into(),
                version: 3,
                shadow_denied: 1,
                parts,
            })),
            blocked_until_ms: 0,
        }
    }

    #[test]
    fn a_policy_key_is_kept_encoded_unless_large() {
        let small = policy(vec![Some(tb(5, 2)), None]);
        let mut p = Packed::new(small.clone());
        assert!(matches!(p, Packed::Policy(_)));
        assert_eq!(*p.limiter(), small);
        assert!(p.heap_bytes() <= 32 + 48, "{}", p.heap_bytes());
        p.update(|l| l.totals.denied = 7);
        assert_eq!(p.limiter().totals.denied, 7);
        assert_eq!(*p.duplicate().limiter(), *p.limiter());
        // A long log among the limits: boxed whole.
        let mut long = log(1);
        long.state = State::SlidingLog(
            SlidingLog::from_parts(0, (0..200).map(|i| i * 100_000).collect()).unwrap(),
        );
        let large = policy(vec![Some(long), Some(tb(5, 2))]);
        let p = Packed::new(large.clone());
        assert!(matches!(p, Packed::Wide(_)));
        assert_eq!(*p.limiter(), large);
    }

    #[test]
    fn every_kind_encodes_as_its_limiter_does() {
        let mut long = log(1);
        long.state = State::SlidingLog(
            SlidingLog::from_parts(0, (0..200).map(|i| i * 100_000).collect()).unwrap(),
        );
        for l in [
            tb(5, 2),
            log(3),
            policy(vec![Some(tb(5, 2)), None]),
            policy(vec![Some(long), Some(tb(5, 2))]),
        ] {
            let (mut kept, mut fresh) = (Bytes::default(), Bytes::default());
            Packed::new(l.clone()).encode_body_into(&mut kept);
            encode_body(&l, &mut fresh);
            assert_eq!(kept.as_bytes(), fresh.as_bytes(), "{l:?}");
        }
    }

    #[test]
    fn size_classes() {
        let got: Vec<usize> = [1, 8, 9, 24, 32, 72, 88, 129, 200, 4000]
            .iter()
            .map(|&n| size_class(n))
            .collect();
        assert_eq!(got, [8, 8, 16, 32, 32, 80, 96, 160, 224, 4096]);
    }
}
