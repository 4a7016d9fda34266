//! `RL.RESET key [key ...]`: removes limiters, leaves other keys alone.

use std::os::raw::c_longlong;

use redis_module::raw;

use super::Arg;
use crate::error::Error;
use crate::key::{Key, Slot};

/// Deletes each key that holds a limiter; replies how many were removed and
/// propagates a `DEL` of exactly those keys.
pub fn reset(ctx: *mut raw::RedisModuleCtx, args: &[Arg]) -> Result<(), Error> {
    if args.is_empty() {
        return Err(Error::WrongArity);
    }
    let mut removed: Vec<*mut raw::RedisModuleString> = Vec::new();
    for name in args {
        let mut key = Key::open(ctx, name.0);
        if let Ok(Slot::Limiter(_)) = key.slot() {
            key.delete();
            removed.push(name.0);
        }
    }
    // SAFETY: ctx is the running command's; "v" takes an array of strings and its length.
    unsafe {
        if !removed.is_empty() {
            raw::RedisModule_Replicate.unwrap()(
                ctx,
                c"DEL".as_ptr(),
                c"v".as_ptr(),
                removed.as_ptr(),
                removed.len(),
            );
        }
        raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, removed.len() as c_longlong);
    }
    Ok(())
}
