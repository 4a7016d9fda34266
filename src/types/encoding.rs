//! The versioned encodings of a [`Limiter`].
//!
//! Every field read back is validated before it is trusted: a corrupt payload is an
//! error, never a panic, a giant allocation, or a state the algorithms cannot compute.
//! Every path that loads a value (RDB, RESTORE, RL.APPLY, AOF) goes through the same
//! checks, among them: a SLIDING_LOG never holds more units than its own limit (what
//! the commands keep, and what RL.APPLY refuses to create).
//!
//! Version 3 (written by this build): one buffer of LEB128 varints (7 bits a byte, low
//! first). RDB saves it as one string (type encoding version 2, the body without its
//! version byte); its byte form (DUMP's string, `RL.APPLY`, the digest) starts with
//! the version byte `3`. The body:
//! `header`, limit, period (in the header's unit), [burst], admitted, [denied], state;
//! `header` = algorithm (bits 0-2) | period unit << 3 (0 ms, 1 s, 2 min, 3 h) |
//! 32 when burst = limit (not stored) | 64 when denied = 0 (not stored) | 128 when
//! blocked_until_ms follows the totals (BLOCK; algorithm 0 only with it: a key holding
//! just a block, quota 1, 1, 1 and no state) | 256 for a policy key (algorithm bits
//! 0); any higher bit is refused (room for later fields). States:
//! TOKEN_BUCKET: capacity - tokens (u128, never negative), updated_ms;
//! GCRA: tat (u128);
//! FIXED_WINDOW: window_start_ms / period_ms, count;
//! SLIDING_WINDOW: window_start_ms / period_ms, previous, current;
//! SLIDING_LOG: n, base_ms, then n offsets, each as the gap from the one before
//! (the first from 0);
//! LEASES: n, then per lease id, expires_at_ms, units (sorted by expiry then id);
//! CALENDAR: the window's spec (`Calendar::pack`), window_start_ms, count;
//! POLICY: version, shadow_denied, the name's length then its bytes, the number of
//! limits (1 to 8), then per limit 0 (no state yet) or 1 followed by that limit's own
//! body (any check algorithm, or a block; never a policy); limit and period are the
//! first limit's.
//! A token bucket of 100 per hour takes 14 bytes, a GCRA key 11, a fixed window 8.
//!
//! Version 2 (0.1.0; read only): a sequence of u64 words, saved one by one in RDB
//! (type encoding version 1) and as little-endian bytes elsewhere:
//! `w0 = 2 | algorithm << 8`, limit, period_ms, burst, admitted, denied, then
//! TOKEN_BUCKET: tokens (i128, low word first), updated_ms;
//! GCRA: tat (u128, low word first);
//! FIXED_WINDOW: window_start_ms, count;
//! SLIDING_WINDOW: window_start_ms, previous, current;
//! SLIDING_LOG: base_ms, n, then n u32 offsets packed two per word (low half first);
//! LEASES (algorithm 6): n, then per lease id, expires_at_ms, units (sorted by expiry
//! then id); limit is the quota's limit, period_ms the last acquire's lease_ms,
//! burst = limit.
//!
//! CALENDAR (algorithm 7, development builds of 0.2.0): the window's spec
//! (`Calendar::pack`: unit | (offset_min + 1080) << 8), window_start_ms, count; period_ms
//! is the unit's nominal length. BLOCK (development builds of 0.2.0): bit 16 of w0 set means one more word,
//! blocked_until_ms, right after the totals; algorithm byte 0 (only with that bit) is a
//! key holding just a block: quota words 1, 1, 1 and no state words.
//!
//! POLICY (algorithm 8, added without a version bump as LEASES was): version,
//! shadow_denied, the name's length then its bytes packed eight to a word (low byte
//! first, zero padded), the number of limits (1 to 8), then per limit 0 (no state
//! yet) or 1 followed by that limit's own encoding (any check algorithm, or a block);
//! limit and period_ms are the first limit's, burst = limit.
//!
//! Version 1 (0.1.0 development builds; read only): TOKEN_BUCKET or GCRA without the
//! totals; its byte form (`RL.APPLY` payloads) had a 2-byte header.

use std::collections::VecDeque;

use crate::algorithms::calendar::{Calendar, CalendarWindow};
use crate::algorithms::fixed_window::FixedWindow;
use crate::algorithms::gcra::{Gcra, MAX_TAT};
use crate::algorithms::leases::{Lease, Leases, MAX_LEASES};
use crate::algorithms::sliding_log::{SlidingLog, MAX_PERIOD_MS, MAX_UNITS};
use crate::algorithms::sliding_window::SlidingWindow;
use crate::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use crate::algorithms::{Algorithm, Quota};
use crate::policy::{valid_name, MAX_LIMITS, MAX_NAME};
use crate::types::limiter::{Limiter, State, Totals};
use crate::types::multi::Multi;

pub use crate::types::encoding_v3::{decode_body, encode_body};

/// Encoding version 1 (read only).
pub const ENC_V1: u8 = 1;
/// Encoding version 2 (0.1.0; read only).
pub const ENC_V2: u8 = 2;
/// Encoding version 3, written by this build.
pub const ENC_V3: u8 = 3;
/// Bit of a version 2 header word: a blocked_until_ms word follows the totals.
const FLAG_BLOCKED: u64 = 1 << 16;

/// Why a payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty, truncated, or with trailing bytes.
    Length,
    /// Written by a newer (or unknown) encoding version.
    Version(u8),
    /// An unknown algorithm byte.
    Algorithm,
    /// A quota field outside what the algorithm accepts.
    Quota,
    /// A state value outside what the algorithm can hold.
    State,
}

/// Bytes with room for any fixed-size encoding inline; only logs spill to the heap.
pub struct Bytes {
    inline: [u8; 104],
    len: usize,
    heap: Vec<u8>,
}

impl Default for Bytes {
    fn default() -> Self {
        Self {
            inline: [0; 104],
            len: 0,
            heap: Vec::new(),
        }
    }
}

impl Bytes {
    /// Appends raw bytes.
    pub fn extend(&mut self, b: &[u8]) {
        if self.heap.is_empty() && self.len + b.len() <= self.inline.len() {
            self.inline[self.len..self.len + b.len()].copy_from_slice(b);
            self.len += b.len();
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.inline[..self.len]);
            }
            self.heap.extend_from_slice(b);
        }
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        if self.heap.is_empty() && self.len < self.inline.len() {
            self.inline[self.len] = byte;
            self.len += 1;
        } else {
            self.extend(&[byte]);
        }
    }

    /// Appends a little-endian word.
    pub fn push_word(&mut self, w: u64) {
        self.extend(&w.to_le_bytes());
    }

    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
}

/// Emits the version 2 word form of `l` (what 0.1.0 saved; kept to test the loader
/// of old payloads).
pub fn encode_words(l: &Limiter, mut out: impl FnMut(u64)) {
    let algorithm = l.algorithm().map_or(0, |a| a as u64);
    let blocked = l.blocked_until_ms != 0 || l.algorithm().is_none();
    out(u64::from(ENC_V2) | algorithm << 8 | (u64::from(blocked) * FLAG_BLOCKED));
    for w in [
        l.quota.limit(),
        l.quota.period_ms(),
        l.quota.burst(),
        l.totals.admitted,
        l.totals.denied,
    ] {
        out(w);
    }
    if blocked {
        out(l.blocked_until_ms);
    }
    match &l.state {
        State::Blocked => {}
        State::Calendar(s) => {
            out(s.calendar.pack());
            out(s.start_ms);
            out(s.count);
        }
        State::TokenBucket(s) => {
            out(s.tokens as u64);
            out((s.tokens >> 64) as u64);
            out(s.updated_ms);
        }
        State::Gcra(s) => {
            out(s.tat as u64);
            out((s.tat >> 64) as u64);
        }
        State::FixedWindow(s) => {
            out(s.start_ms);
            out(s.count);
        }
        State::SlidingWindow(s) => {
            out(s.start_ms);
            out(s.previous);
            out(s.current);
        }
        State::SlidingLog(log) => {
            let (base, offsets) = log.parts();
            out(base);
            out(offsets.len() as u64);
            let mut it = offsets.iter();
            while let Some(&lo) = it.next() {
                let hi = it.next().copied().unwrap_or(0);
                out(u64::from(lo) | u64::from(hi) << 32);
            }
        }
        State::Leases(s) => {
            out(s.parts().len() as u64);
            for l in s.parts() {
                out(l.id);
                out(l.expires_at_ms);
                out(l.units);
            }
        }
        State::Policy(m) => {
            out(m.version);
            out(m.shadow_denied);
            out(m.policy.len() as u64);
            for chunk in m.policy.chunks(8) {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                out(u64::from_le_bytes(w));
            }
            out(m.parts.len() as u64);
            for part in &m.parts {
                match part {
                    None => out(0),
                    Some(p) => {
                        out(1);
                        encode_nested(p, &mut out);
                    }
                }
            }
        }
    }
}

/// A policy key's limit, encoded through one non-generic instance (no recursion of
/// generic instances).
fn encode_nested(l: &Limiter, out: &mut dyn FnMut(u64)) {
    encode_words(l, out);
}

/// A policy key's limit, decoded through one non-generic instance.
fn decode_nested(next: &mut dyn FnMut() -> Option<u64>) -> Result<Limiter, DecodeError> {
    decode_words(next)
}

/// A policy key's limit as decoded, in either version: its own state (any check
/// algorithm), or a limit holding only its block.
pub(crate) fn policy_part(part: Limiter) -> Result<Limiter, DecodeError> {
    if part
        .algorithm()
        .is_none_or(|a| Algorithm::CHECKS.contains(&a))
    {
        Ok(part)
    } else {
        Err(DecodeError::Algorithm)
    }
}

/// Decodes a policy key's state (after the common fields).
fn decode_multi(word: &mut dyn FnMut() -> Result<u64, DecodeError>) -> Result<Multi, DecodeError> {
    let version = word()?;
    let shadow_denied = word()?;
    let len = word()?;
    if len == 0 || len > MAX_NAME as u64 {
        return Err(DecodeError::State);
    }
    let mut name = Vec::with_capacity(len as usize);
    while (name.len() as u64) < len {
        let bytes = word()?.to_le_bytes();
        let take = ((len as usize) - name.len()).min(8);
        if bytes[take..].iter().any(|&b| b != 0) {
            return Err(DecodeError::State);
        }
        name.extend_from_slice(&bytes[..take]);
    }
    if !valid_name(&name) {
        return Err(DecodeError::State);
    }
    let n = word()?;
    if n == 0 || n > MAX_LIMITS as u64 {
        return Err(DecodeError::State);
    }
    let mut parts = Vec::with_capacity(n as usize);
    for _ in 0..n {
        parts.push(match word()? {
            0 => None,
            1 => Some(policy_part(decode_nested(&mut || word().ok())?)?),
            _ => return Err(DecodeError::State),
        });
    }
    Ok(Multi {
        policy: name.into(),
        version,
        shadow_denied,
        parts,
    })
}

/// The latest encoding of `l` as bytes: the version byte, then the body.
pub fn encode(l: &Limiter) -> Bytes {
    encode_with(|b| encode_body(l, b))
}

/// [`encode`] with the body written by `encode_body` (a stored value's own bytes).
pub fn encode_with(encode_body: impl FnOnce(&mut Bytes)) -> Bytes {
    let mut b = Bytes::default();
    b.extend(&[ENC_V3]);
    encode_body(&mut b);
    b
}

/// Decodes one value from a stream of words (`None`: the stream ended).
pub fn decode_words(mut next: impl FnMut() -> Option<u64>) -> Result<Limiter, DecodeError> {
    let mut word = || next().ok_or(DecodeError::Length);
    let head = word()?;
    let (version, algo) = ((head & 0xff) as u8, (head >> 8) & 0xff);
    let blocked = version == ENC_V2 && head & FLAG_BLOCKED != 0;
    if head >> 16 & !(FLAG_BLOCKED >> 16) != 0
        || (head & FLAG_BLOCKED != 0 && !blocked)
        || !(version == ENC_V1 || version == ENC_V2)
    {
        return Err(DecodeError::Version(version));
    }
    let algorithm = match Algorithm::from_u8(algo as u8) {
        Some(a) => Some(a),
        None if algo == 0 && blocked => None,
        None => return Err(DecodeError::Algorithm),
    };
    if version == ENC_V1 && !algorithm.is_some_and(Algorithm::has_burst) {
        return Err(DecodeError::Algorithm);
    }
    let quota = Quota::new(word()?, word()?, word()?).ok_or(DecodeError::Quota)?;
    if !algorithm.is_some_and(Algorithm::has_burst) && quota.burst() != quota.limit() {
        return Err(DecodeError::Quota);
    }
    let totals = if version == ENC_V1 {
        Totals::default()
    } else {
        Totals {
            admitted: word()?,
            denied: word()?,
        }
    };
    let blocked_until_ms = if blocked { word()? } else { 0 };
    if blocked_until_ms > i64::MAX as u64 {
        return Err(DecodeError::State);
    }
    let Some(algorithm) = algorithm else {
        if quota != Quota::new(1, 1, 1).ok_or(DecodeError::Quota)? {
            return Err(DecodeError::Quota);
        }
        return Ok(Limiter::blocked_only(blocked_until_ms, totals));
    };
    let small = |v: u64| {
        if v <= i64::MAX as u64 {
            Ok(v)
        } else {
            Err(DecodeError::State)
        }
    };
    let aligned = |start: u64| {
        if start <= i64::MAX as u64 && start.is_multiple_of(quota.period_ms()) {
            Ok(start)
        } else {
            Err(DecodeError::State)
        }
    };
    let state = match algorithm {
        Algorithm::Calendar => {
            let calendar = Calendar::unpack(word()?).ok_or(DecodeError::State)?;
            if quota.period_ms() != calendar.nominal_ms() {
                return Err(DecodeError::Quota);
            }
            let start_ms = small(word()?)?;
            if calendar.window(start_ms).0 != start_ms {
                return Err(DecodeError::State);
            }
            State::Calendar(CalendarWindow {
                calendar,
                start_ms,
                count: small(word()?)?,
            })
        }
        Algorithm::TokenBucket => {
            let tokens = (u128::from(word()?) | u128::from(word()?) << 64) as i128;
            let updated_ms = small(word()?)?;
            let cap = i128::from(quota.burst()) * i128::from(quota.period_ms());
            if !(MIN_TOKENS..=cap).contains(&tokens) {
                return Err(DecodeError::State);
            }
            State::TokenBucket(TokenBucket { tokens, updated_ms })
        }
        Algorithm::Gcra => {
            let tat = u128::from(word()?) | u128::from(word()?) << 64;
            if tat > MAX_TAT {
                return Err(DecodeError::State);
            }
            State::Gcra(Gcra { tat })
        }
        Algorithm::FixedWindow => State::FixedWindow(FixedWindow {
            start_ms: aligned(word()?)?,
            count: small(word()?)?,
        }),
        Algorithm::SlidingWindow => State::SlidingWindow(SlidingWindow {
            start_ms: aligned(word()?)?,
            previous: small(word()?)?,
            current: small(word()?)?,
        }),
        Algorithm::SlidingLog => {
            if quota.period_ms() > MAX_PERIOD_MS || quota.limit() > MAX_UNITS {
                return Err(DecodeError::Quota);
            }
            let base = small(word()?)?;
            let n = word()?;
            if n > MAX_UNITS {
                return Err(DecodeError::State);
            }
            // Grown as words arrive: a lying `n` cannot make us allocate ahead.
            let mut offsets = VecDeque::new();
            while (offsets.len() as u64) < n {
                let w = word()?;
                offsets.push_back(w as u32);
                if (offsets.len() as u64) < n {
                    offsets.push_back((w >> 32) as u32);
                } else if w >> 32 != 0 {
                    return Err(DecodeError::State);
                }
            }
            let log = SlidingLog::from_parts(base, offsets).ok_or(DecodeError::State)?;
            State::SlidingLog(within_limit(log, &quota)?)
        }
        Algorithm::Leases => {
            let n = word()?;
            if n > MAX_LEASES {
                return Err(DecodeError::State);
            }
            // Grown as words arrive: a lying `n` cannot make us allocate ahead.
            let mut held = Vec::new();
            while (held.len() as u64) < n {
                held.push(Lease {
                    id: word()?,
                    expires_at_ms: word()?,
                    units: word()?,
                });
            }
            held.shrink_to_fit();
            let leases = Leases::from_parts(held).ok_or(DecodeError::State)?;
            // What the commands keep: never more units held than the last limit.
            if leases.held_units(0) > quota.limit() {
                return Err(DecodeError::State);
            }
            State::Leases(leases)
        }
        Algorithm::Policy => State::Policy(Box::new(decode_multi(&mut word)?)),
    };
    Ok(Limiter {
        quota,
        totals,
        state,
        blocked_until_ms,
    })
}

/// A log holding at most its limit's units (what every check and RL.APPLY keeps).
fn within_limit(log: SlidingLog, quota: &Quota) -> Result<SlidingLog, DecodeError> {
    if log.len() as u64 > quota.limit() {
        return Err(DecodeError::State);
    }
    Ok(log)
}

/// Decodes one value from bytes: version 3 (version byte, body), the version 2 word
/// form, or the version 1 byte form (whose header is two bytes, `1, algorithm`).
pub fn decode(b: &[u8]) -> Result<Limiter, DecodeError> {
    let (head, body) = match b.first() {
        None => return Err(DecodeError::Length),
        Some(&ENC_V3) => return decode_body(&b[1..]),
        Some(&ENC_V1) if b.len() >= 2 => (u64::from(b[0]) | u64::from(b[1]) << 8, &b[2..]),
        Some(_) if b.len() >= 8 => (le_word(&b[..8]), &b[8..]),
        Some(_) => return Err(DecodeError::Length),
    };
    if !body.len().is_multiple_of(8) {
        return Err(DecodeError::Length);
    }
    let mut words = std::iter::once(head).chain(body.chunks_exact(8).map(le_word));
    let l = decode_words(|| words.next())?;
    if words.next().is_some() {
        return Err(DecodeError::Length);
    }
    Ok(l)
}

/// The little-endian word in the first 8 bytes of `c`.
pub(crate) fn le_word(c: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    u64::from_le_bytes(a)
}
