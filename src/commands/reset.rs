//! `RL.RESET key [key ...]`: removes limiters, leaves other keys alone.

use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};

/// Deletes each key that holds a limiter; replies how many were removed and
/// propagates a `DEL` of exactly those keys.
pub fn reset(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    if args.is_empty() {
        return Err(Error::WrongArity);
    }
    let mut removed: Vec<&Arg> = Vec::new();
    for name in args {
        let mut key = Key::open(ctx, name);
        if let Ok(Slot::Limiter(_)) = key.slot() {
            key.delete();
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        ctx.replicate_keys(c"DEL", &removed);
    }
    for name in &removed {
        ctx.notify(c"rl.reset", name);
    }
    ctx.reply_i64(removed.len() as i64);
    Ok(())
}
