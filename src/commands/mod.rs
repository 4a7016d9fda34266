//! Thin command handlers, one file per command family, and what they share: the
//! panic guard, error replies and the decision reply.

pub mod apply;
pub mod check;
pub mod reset;
pub mod stats;

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::algorithms::Decision;
use crate::error::Error;

/// One command argument, readable in place as bytes.
#[repr(transparent)]
pub struct Arg(pub *mut raw::RedisModuleString);

impl AsRef<[u8]> for Arg {
    fn as_ref(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: the string is alive for the whole command; StringPtrLen does not allocate.
        unsafe {
            let p = raw::RedisModule_StringPtrLen.unwrap()(self.0, &mut len);
            std::slice::from_raw_parts(p.cast::<u8>(), len)
        }
    }
}

/// A command body: gets the arguments after the command name, writes its whole reply
/// on success, writes nothing on error.
pub type Handler = fn(*mut raw::RedisModuleCtx, &[Arg]) -> Result<(), Error>;

/// Runs a handler behind `catch_unwind` and turns errors and panics into error replies.
pub fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    handler: Handler,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let all: &[Arg] = if argv.is_null() || argc < 1 {
            &[]
        } else {
            // SAFETY: Redis passes argc valid strings; Arg is repr(transparent).
            unsafe { std::slice::from_raw_parts(argv.cast::<Arg>(), argc as usize) }
        };
        match all.split_first() {
            Some((_, args)) => handler(ctx, args),
            None => Err(Error::WrongArity),
        }
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => reply_error(ctx, e),
        Err(_) => reply_error(ctx, Error::Panic),
    }
    raw::REDISMODULE_OK as c_int
}

fn reply_error(ctx: *mut raw::RedisModuleCtx, e: Error) {
    crate::stats::record_error();
    // SAFETY: ctx is the running command's context.
    unsafe {
        if e == Error::WrongArity {
            raw::RedisModule_WrongArity.unwrap()(ctx);
        } else {
            raw::RedisModule_ReplyWithError.unwrap()(ctx, e.message().as_ptr());
        }
    }
}

/// Replies a field name as a bulk string.
pub fn reply_name(ctx: *mut raw::RedisModuleCtx, name: &[u8]) {
    // SAFETY: ctx is the running command's context; Redis copies the buffer.
    unsafe { raw::RedisModule_ReplyWithStringBuffer.unwrap()(ctx, name.as_ptr().cast(), name.len()) };
}

/// Whether the calling client speaks RESP3.
pub fn is_resp3(ctx: *mut raw::RedisModuleCtx) -> bool {
    // SAFETY: ctx is the running command's context.
    let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(ctx) } as u32;
    flags & raw::REDISMODULE_CTX_FLAGS_RESP3 != 0
}

/// The five reply fields, in RESP2 order.
pub const DECISION_FIELDS: [&std::ffi::CStr; 5] = [
    c"allowed",
    c"limit",
    c"remaining",
    c"retry_after_ms",
    c"reset_after_ms",
];

/// Replies a decision: a five-integer array on RESP2, a map on RESP3.
pub fn reply_decision(ctx: *mut raw::RedisModuleCtx, d: &Decision) {
    let values = [
        i64::from(d.allowed),
        d.limit.min(i64::MAX as u64) as i64,
        d.remaining.min(i64::MAX as u64) as i64,
        d.retry_after_ms,
        d.reset_after_ms,
    ];
    let resp3 = is_resp3(ctx);
    // SAFETY: ctx is the running command's context; the reply is written in one go.
    unsafe {
        if resp3 {
            raw::RedisModule_ReplyWithMap.unwrap()(ctx, 5);
        } else {
            raw::RedisModule_ReplyWithArray.unwrap()(ctx, 5);
        }
        for (name, v) in DECISION_FIELDS.iter().zip(values) {
            if resp3 {
                reply_name(ctx, name.to_bytes());
            }
            raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, v);
        }
    }
}
