//! `RL.STATS`: module-wide counters since load.

use crate::ctx::{Arg, Ctx};
use crate::error::Error;

/// Replies the counters: a flat name/value list on RESP2, a map on RESP3.
pub fn stats(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    if !args.is_empty() {
        return Err(Error::WrongArity);
    }
    let counters = crate::stats::snapshot();
    ctx.reply_pairs(counters.len());
    for (name, value) in counters {
        ctx.reply_bulk(name.as_bytes());
        ctx.reply_i64(value.min(i64::MAX as u64) as i64);
    }
    Ok(())
}
