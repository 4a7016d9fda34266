//! `RL.RESET key [key ...]`: removes limiters, leaves other keys alone.

use super::{Call, Done};
use crate::ctx::Arg;
use crate::error::Error;
use crate::reply::Reply;
use crate::types::key::{Key, Slot};

/// Deletes each key that holds a limiter; replies how many were removed and
/// propagates a `DEL` of exactly those keys.
pub fn reset(call: &Call) -> Result<Done, Error> {
    let ctx = call.ctx;
    let mut removed: Vec<&Arg> = Vec::new();
    for name in call.args {
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
    Ok(Reply::Int(removed.len() as i64).into())
}
