//! `RL.STATS`: module-wide counters since load.

use redis_module::raw;

use super::{is_resp3, reply_name, Arg};
use crate::error::Error;

/// Replies the counters: a flat name/value list on RESP2, a map on RESP3.
pub fn stats(ctx: *mut raw::RedisModuleCtx, args: &[Arg]) -> Result<(), Error> {
    if !args.is_empty() {
        return Err(Error::WrongArity);
    }
    let counters = crate::stats::snapshot();
    let n = counters.len() as std::os::raw::c_long;
    // SAFETY: ctx is the running command's context.
    unsafe {
        if is_resp3(ctx) {
            raw::RedisModule_ReplyWithMap.unwrap()(ctx, n);
        } else {
            raw::RedisModule_ReplyWithArray.unwrap()(ctx, 2 * n);
        }
        for (name, value) in counters {
            reply_name(ctx, name.as_bytes());
            raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, value.min(i64::MAX as u64) as i64);
        }
    }
    Ok(())
}
