//! The versioned binary encoding of a [`Limiter`], used for RDB, DUMP/RESTORE, the
//! digest, and the replicated `RL.APPLY` payload.
//!
//! Every field read back is validated before it is trusted: a corrupt payload is an
//! error, never a panic, a giant allocation, or a state the algorithms cannot compute.

use crate::algorithms::gcra::{Gcra, MAX_TAT};
use crate::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use crate::algorithms::{Algorithm, Quota};
use crate::types::{Limiter, State};

/// Encoding version 1: `version u8, algorithm u8, limit u64, period_ms u64, burst u64`,
/// then TOKEN_BUCKET `tokens i128, updated_ms u64` or GCRA `tat u128`; little-endian.
pub const ENC_V1: u8 = 1;
/// The version this build writes (and the newest it reads).
pub const ENC_LATEST: u8 = ENC_V1;

const HEADER: usize = 2 + 3 * 8;
/// The longest encoding, in bytes.
pub const MAX_LEN: usize = HEADER + 16 + 8;

/// Why a payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty, truncated, or with trailing bytes.
    Length,
    /// Written by a newer (or unknown) encoding version.
    Version(u8),
    /// An unknown algorithm byte.
    Algorithm,
    /// A quota field outside `1..=i64::MAX`.
    Quota,
    /// A state value outside what the algorithm can hold.
    State,
}

/// A stack buffer holding one encoding.
pub struct Encoded {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl Encoded {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Encodes `l` with the latest version, without allocating.
pub fn encode(l: &Limiter) -> Encoded {
    let mut buf = [0u8; MAX_LEN];
    buf[0] = ENC_LATEST;
    buf[1] = l.algorithm() as u8;
    buf[2..10].copy_from_slice(&l.quota.limit().to_le_bytes());
    buf[10..18].copy_from_slice(&l.quota.period_ms().to_le_bytes());
    buf[18..26].copy_from_slice(&l.quota.burst().to_le_bytes());
    let len = match l.state {
        State::TokenBucket(s) => {
            buf[26..42].copy_from_slice(&s.tokens.to_le_bytes());
            buf[42..50].copy_from_slice(&s.updated_ms.to_le_bytes());
            50
        }
        State::Gcra(s) => {
            buf[26..42].copy_from_slice(&s.tat.to_le_bytes());
            42
        }
    };
    Encoded { buf, len }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u128_at(b: &[u8], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    u128::from_le_bytes(a)
}

/// Decodes and validates one encoding.
pub fn decode(b: &[u8]) -> Result<Limiter, DecodeError> {
    let version = *b.first().ok_or(DecodeError::Length)?;
    if version != ENC_V1 {
        return Err(DecodeError::Version(version));
    }
    if b.len() < HEADER {
        return Err(DecodeError::Length);
    }
    let algorithm = Algorithm::from_u8(b[1]).ok_or(DecodeError::Algorithm)?;
    let quota = Quota::new(u64_at(b, 2), u64_at(b, 10), u64_at(b, 18)).ok_or(DecodeError::Quota)?;
    let want = match algorithm {
        Algorithm::TokenBucket => HEADER + 24,
        Algorithm::Gcra => HEADER + 16,
    };
    if b.len() != want {
        return Err(DecodeError::Length);
    }
    let state = match algorithm {
        Algorithm::TokenBucket => {
            let tokens = u128_at(b, 26) as i128;
            let updated_ms = u64_at(b, 42);
            let cap = i128::from(quota.burst()) * i128::from(quota.period_ms());
            if !(MIN_TOKENS..=cap).contains(&tokens) || updated_ms > i64::MAX as u64 {
                return Err(DecodeError::State);
            }
            State::TokenBucket(TokenBucket { tokens, updated_ms })
        }
        Algorithm::Gcra => {
            let tat = u128_at(b, 26);
            if tat > MAX_TAT {
                return Err(DecodeError::State);
            }
            State::Gcra(Gcra { tat })
        }
    };
    Ok(Limiter { quota, state })
}
