//! `RL.APPLY key payload`: applies an evaluated effect (see `replicate.rs`).
//!
//! It is what the primary propagates, so replicas and AOF replays run it. Redis 7.0
//! has no internal-command flag, so clients can call it too: the payload is fully
//! validated and a bad one is refused without touching the key.

use crate::algorithms::Algorithm;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::{unpack, Effect};
use crate::types::limiter::{apply as apply_change, Change};

/// Validates the payload, applies it with its absolute expiry, replies OK.
pub fn apply(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let [name, payload] = args else {
        return Err(Error::WrongArity);
    };
    let effect = unpack(payload.as_ref()).map_err(|_| Error::BadPayload)?;
    let mut key = Key::open(ctx, name);
    let expire_at = match effect {
        Effect::Replace(limiter, at) => {
            match key.slot()? {
                Slot::Empty => key.create(limiter)?,
                Slot::Limiter(current) => *current = limiter,
            }
            at
        }
        Effect::Deny(cost) => {
            if let Slot::Limiter(current) = key.slot()? {
                apply_change(Some(current), Change::Deny { cost });
            }
            0
        }
        Effect::Append {
            quota,
            append,
            expire_at_ms,
        } => {
            let change = Change::Append { quota, append };
            match key.slot()? {
                Slot::Empty => {
                    if let Some(new) = apply_change(None, change) {
                        key.create(new)?;
                    }
                }
                Slot::Limiter(l) if l.algorithm() == Algorithm::SlidingLog => {
                    apply_change(Some(l), change);
                }
                Slot::Limiter(_) => return Err(Error::AlgorithmMismatch),
            }
            expire_at_ms
        }
    };
    if expire_at > 0 {
        key.expire_at(expire_at);
    }
    // Keeps chained replicas and a replica's own AOF in step.
    ctx.replicate_verbatim();
    ctx.reply_simple(c"OK");
    Ok(())
}
