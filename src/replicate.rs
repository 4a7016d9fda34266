//! How an evaluated check becomes a deterministic effect for replicas and the AOF.
//!
//! The primary evaluates a check once, with its own clock. What it propagates is the
//! result: `RL.APPLY key payload`, where the payload is the limiter's encoding followed
//! by the key's absolute expiry (8 bytes, little-endian Unix ms; 0 leaves the TTL as it
//! is). A replica or an AOF replay stores that state as is, whatever its own clock says,
//! so digests match and a replay never extends a window. Denied checks change nothing
//! and propagate nothing.

use crate::types::encoding::{self, DecodeError, MAX_LEN};
use crate::types::Limiter;

/// The longest `RL.APPLY` payload.
pub const MAX_PAYLOAD: usize = MAX_LEN + 8;

/// A stack-allocated `RL.APPLY` payload.
pub struct Payload {
    buf: [u8; MAX_PAYLOAD],
    len: usize,
}

impl Payload {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Packs a limiter and its absolute expiry (`0`: leave the TTL alone).
pub fn pack(l: &Limiter, expire_at_ms: i64) -> Payload {
    let enc = encoding::encode(l);
    let enc = enc.as_bytes();
    let mut buf = [0u8; MAX_PAYLOAD];
    buf[..enc.len()].copy_from_slice(enc);
    buf[enc.len()..enc.len() + 8].copy_from_slice(&expire_at_ms.to_le_bytes());
    Payload {
        buf,
        len: enc.len() + 8,
    }
}

/// Unpacks and validates a payload: the limiter and its expiry (`0`: leave the TTL).
pub fn unpack(b: &[u8]) -> Result<(Limiter, i64), DecodeError> {
    let split = b.len().checked_sub(8).ok_or(DecodeError::Length)?;
    let limiter = encoding::decode(&b[..split])?;
    let mut at = [0u8; 8];
    at.copy_from_slice(&b[split..]);
    let expire_at_ms = i64::from_le_bytes(at);
    if expire_at_ms < 0 {
        return Err(DecodeError::State);
    }
    Ok((limiter, expire_at_ms))
}

/// Propagates `RL.APPLY key payload` for a stored limiter and its absolute expiry.
#[cfg(feature = "module")]
pub fn replicate_apply(
    ctx: crate::ctx::Ctx,
    key: &crate::ctx::Arg,
    l: &Limiter,
    expire_at_ms: i64,
) {
    ctx.replicate_key_buffer(c"RL.APPLY", key, pack(l, expire_at_ms).as_bytes());
}
