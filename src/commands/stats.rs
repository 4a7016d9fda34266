//! `RL.STATS [RESET]` and `RL.METRICS`: module-wide counters and latency percentiles
//! since load.

use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::stats::{report, Value};

/// Replies the counters and percentiles (a flat name/value list on RESP2, a map on
/// RESP3), or with `RESET` clears them and replies OK.
pub fn stats(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    match args {
        [] => {}
        [sub] if sub.as_ref().eq_ignore_ascii_case(b"RESET") => {
            crate::stats::reset_all();
            ctx.reply_simple(c"OK");
            return Ok(());
        }
        [_] => return Err(Error::UnknownSubcommand),
        _ => return Err(Error::WrongArity),
    }
    let top = crate::top_denied::top();
    reply_report(ctx, 1);
    // The most-denied keys: [[key, denied, error], ...], most denied first.
    ctx.reply_bulk(b"top_denied_keys");
    ctx.reply_array(top.len());
    for e in top {
        ctx.reply_array(3);
        ctx.reply_bulk(&e.key);
        ctx.reply_i64(e.denied.min(i64::MAX as u64) as i64);
        ctx.reply_i64(e.error.min(i64::MAX as u64) as i64);
    }
    Ok(())
}

/// `RL.METRICS`: RL.STATS's counters and percentiles without the most-denied key names,
/// and with no RESET form, for monitoring users that must neither see nor clear them.
pub fn metrics(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    if !args.is_empty() {
        return Err(Error::WrongArity);
    }
    reply_report(ctx, 0);
    Ok(())
}

/// Starts a name/value reply of the report's fields and `extra` more pairs (written by
/// the caller after), and writes the report's fields.
fn reply_report(ctx: Ctx, extra: usize) {
    let fields = report();
    let resp3 = ctx.is_resp3();
    ctx.reply_pairs(fields.len() + extra);
    for (name, value) in fields {
        ctx.reply_bulk(name.as_bytes());
        match value {
            Value::Count(v) => ctx.reply_i64(v.min(i64::MAX as u64) as i64),
            // A typed double on RESP3; on RESP2 a bulk string with 3 decimals (ns).
            Value::Micros(v) if resp3 => ctx.reply_double(v),
            Value::Micros(v) => ctx.reply_bulk(format!("{v:.3}").as_bytes()),
            Value::Text(t) => ctx.reply_bulk(t.as_bytes()),
        }
    }
}
