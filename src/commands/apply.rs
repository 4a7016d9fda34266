//! `RL.APPLY key payload`: stores an evaluated state (see `replicate.rs`).
//!
//! It is what the primary propagates, so replicas and AOF replays run it. Redis 7.0
//! has no internal-command flag, so clients can call it too: the payload is fully
//! validated and a bad one is refused without touching the key.

use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::unpack;

/// Validates the payload, stores the limiter with its absolute expiry, replies OK.
pub fn apply(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let [name, payload] = args else {
        return Err(Error::WrongArity);
    };
    let (limiter, expire_at) = unpack(payload.as_ref()).map_err(|_| Error::BadPayload)?;
    let mut key = Key::open(ctx, name);
    match key.slot()? {
        Slot::Empty => key.create(limiter)?,
        Slot::Limiter(current) => *current = limiter,
    }
    if expire_at > 0 {
        key.expire_at(expire_at);
    }
    // Keeps chained replicas and a replica's own AOF in step.
    ctx.replicate_verbatim();
    ctx.reply_simple(c"OK");
    Ok(())
}
