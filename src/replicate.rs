//! How an evaluated check becomes a deterministic effect for replicas and the AOF.
//!
//! The primary evaluates a check once, with its own clock, and propagates the result
//! as `RL.APPLY key payload`. A replica or an AOF replay applies it as is, whatever its
//! own clock says, so digests match and a replay never extends a window. Payloads are
//! one binary argument, a whole number of little-endian words:
//!
//! - **replace**: the value's encoding (first byte = encoding version) then the key's
//!   absolute expiry in Unix ms (0 leaves the TTL alone). Sent for admitted checks on
//!   fixed-size algorithms and written by AOF rewrites.
//! - **deny** (`0x81`, cost): a denied check on an existing key; only its denied total grows.
//! - **append** (`0x82`, limit, period_ms, expired, at_ms, cost, expire): an admitted
//!   SLIDING_LOG check, sent as the change rather than the whole log.
//!
//! - **lease acquire** (`0x83`, limit, lease_ms, now_ms, id, expires_at_ms, units,
//!   expire), **lease release** (`0x84`, now_ms, id, expire) and **lease renew**
//!   (`0x85`, now_ms, id, expires_at_ms, expire): a lease write ([`Step`]) made by
//!   RL.ACQUIRE, RL.RELEASE or RL.RENEW. Those commands are never propagated verbatim:
//!   an acquire draws a random id, which a replica must not draw again.
//!
//! - **block** (`0x86`, cost, until_ms, expire): a denied check with `BLOCK ms`, or
//!   RL.BLOCK (cost 0): the denied total grows by cost and the key is blocked until
//!   until_ms (a missing key is created holding only the block).
//!
//! A denied check on a missing key without BLOCK changes nothing and propagates nothing.

use crate::algorithms::leases::{Lease, Op, Step};
use crate::algorithms::sliding_log::{Append, MAX_PERIOD_MS, MAX_UNITS};
use crate::algorithms::Quota;
use crate::types::encoding::{self, Bytes, DecodeError};
use crate::types::limiter::Limiter;

const OP_DENY: u64 = 0x81;
const OP_APPEND: u64 = 0x82;
const OP_LEASE_ACQUIRE: u64 = 0x83;
const OP_LEASE_RELEASE: u64 = 0x84;
const OP_LEASE_RENEW: u64 = 0x85;
const OP_BLOCK: u64 = 0x86;

/// A decoded `RL.APPLY` payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Store this value, with this absolute expiry (0: leave the TTL alone).
    Replace(Limiter, i64),
    /// Count units denied on an existing key.
    Deny(u64),
    /// Count units denied and block the key until a Unix ms, then expire at the last.
    Block {
        /// Units denied.
        cost: u64,
        /// When the block ends.
        until_ms: u64,
        /// The key's new absolute expiry (0: leave the TTL alone).
        expire_at_ms: i64,
    },
    /// Apply an admitted log check under `quota`, then expire at `expire_at_ms`.
    Append {
        /// The check's quota.
        quota: Quota,
        /// What to do to the log.
        append: Append,
        /// The key's new absolute expiry.
        expire_at_ms: i64,
    },
    /// Apply a lease step (an acquire's quota replaces the key's), then expire at
    /// `expire_at_ms`.
    Lease {
        /// An acquire's limit and lease_ms; `None` for release and renew.
        quota: Option<Quota>,
        /// The step.
        step: Step,
        /// The key's new absolute expiry (0: leave the TTL alone).
        expire_at_ms: i64,
    },
}

/// Packs a whole value and its absolute expiry (`0`: leave the TTL alone).
pub fn pack_replace(l: &Limiter, expire_at_ms: i64) -> Bytes {
    pack_replace_with(|b| encoding::encode_body(l, b), expire_at_ms)
}

/// [`pack_replace`] of a value whose body `encode_body` writes (a stored value's own
/// bytes, `Stored::encode_body_into`).
pub fn pack_replace_with(encode_body: impl FnOnce(&mut Bytes), expire_at_ms: i64) -> Bytes {
    let mut b = encoding::encode_with(encode_body);
    b.extend(&expire_at_ms.to_le_bytes());
    b
}

fn words<const N: usize>(w: [u64; N]) -> Bytes {
    let mut b = Bytes::default();
    w.into_iter().for_each(|w| b.push_word(w));
    b
}

/// Packs a denied check on an existing key.
pub fn pack_deny(cost: u64) -> Bytes {
    words([OP_DENY, cost])
}

/// Packs a block (with the units a denied check counts).
pub fn pack_block(cost: u64, until_ms: u64, expire_at_ms: i64) -> Bytes {
    words([OP_BLOCK, cost, until_ms, expire_at_ms as u64])
}

/// Packs an admitted SLIDING_LOG check.
pub fn pack_append(q: &Quota, a: &Append, expire_at_ms: i64) -> Bytes {
    words([
        OP_APPEND,
        q.limit(),
        q.period_ms(),
        a.expired,
        a.at_ms,
        a.cost,
        expire_at_ms as u64,
    ])
}

/// Packs a lease step: `quota` is given for an acquire.
pub fn pack_lease(quota: Option<&Quota>, step: &Step, expire_at_ms: i64) -> Bytes {
    let e = expire_at_ms as u64;
    match (step.op, quota) {
        (Op::Acquire(l), Some(q)) => words([
            OP_LEASE_ACQUIRE,
            q.limit(),
            q.period_ms(),
            step.now_ms,
            l.id,
            l.expires_at_ms,
            l.units,
            e,
        ]),
        // An acquire always carries its quota; without one it cannot be sent.
        (Op::Acquire(_), None) => Bytes::default(),
        (Op::Release { id }, _) => words([OP_LEASE_RELEASE, step.now_ms, id, e]),
        (Op::Renew { id, expires_at_ms }, _) => {
            words([OP_LEASE_RENEW, step.now_ms, id, expires_at_ms, e])
        }
    }
}

/// Unpacks and validates a payload.
pub fn unpack(b: &[u8]) -> Result<Effect, DecodeError> {
    let word = |i: usize| {
        b.get(8 * i..8 * i + 8)
            .map(encoding::le_word)
            .ok_or(DecodeError::Length)
    };
    let expire = |w: u64| i64::try_from(w).map_err(|_| DecodeError::State);
    match b.first().map(|&x| u64::from(x)) {
        None => Err(DecodeError::Length),
        Some(OP_DENY) if b.len() == 16 && word(0)? == OP_DENY => Ok(Effect::Deny(word(1)?)),
        Some(OP_BLOCK) if b.len() == 32 && word(0)? == OP_BLOCK => {
            let until_ms = word(2)?;
            if until_ms > i64::MAX as u64 {
                return Err(DecodeError::State);
            }
            Ok(Effect::Block {
                cost: word(1)?,
                until_ms,
                expire_at_ms: expire(word(3)?)?,
            })
        }
        Some(OP_APPEND) if b.len() == 56 && word(0)? == OP_APPEND => {
            let quota = Quota::new(word(1)?, word(2)?, word(1)?).ok_or(DecodeError::Quota)?;
            if quota.period_ms() > MAX_PERIOD_MS || quota.limit() > MAX_UNITS {
                return Err(DecodeError::Quota);
            }
            let append = Append {
                expired: word(3)?,
                at_ms: word(4)?,
                cost: word(5)?,
            };
            if append.cost == 0 || append.cost > quota.limit() || append.at_ms > i64::MAX as u64 {
                return Err(DecodeError::State);
            }
            Ok(Effect::Append {
                quota,
                append,
                expire_at_ms: expire(word(6)?)?,
            })
        }
        Some(OP_LEASE_ACQUIRE) if b.len() == 64 && word(0)? == OP_LEASE_ACQUIRE => {
            let quota = Quota::new(word(1)?, word(2)?, word(1)?).ok_or(DecodeError::Quota)?;
            let lease = Lease {
                id: word(4)?,
                expires_at_ms: word(5)?,
                units: word(6)?,
            };
            Ok(Effect::Lease {
                quota: Some(quota),
                step: Step {
                    now_ms: word(3)?,
                    op: Op::Acquire(lease),
                },
                expire_at_ms: expire(word(7)?)?,
            })
        }
        Some(OP_LEASE_RELEASE) if b.len() == 32 && word(0)? == OP_LEASE_RELEASE => {
            Ok(Effect::Lease {
                quota: None,
                step: Step {
                    now_ms: word(1)?,
                    op: Op::Release { id: word(2)? },
                },
                expire_at_ms: expire(word(3)?)?,
            })
        }
        Some(OP_LEASE_RENEW) if b.len() == 40 && word(0)? == OP_LEASE_RENEW => Ok(Effect::Lease {
            quota: None,
            step: Step {
                now_ms: word(1)?,
                op: Op::Renew {
                    id: word(2)?,
                    expires_at_ms: word(3)?,
                },
            },
            expire_at_ms: expire(word(4)?)?,
        }),
        Some(
            OP_DENY | OP_APPEND | OP_LEASE_ACQUIRE | OP_LEASE_RELEASE | OP_LEASE_RENEW | OP_BLOCK,
        ) => Err(DecodeError::Length),
        Some(_) => {
            let split = b.len().checked_sub(8).ok_or(DecodeError::Length)?;
            let limiter = encoding::decode(&b[..split])?;
            Ok(Effect::Replace(
                limiter,
                expire(encoding::le_word(&b[split..]))?,
            ))
        }
    }
}
