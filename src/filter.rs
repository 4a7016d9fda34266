//! The module's one command filter. It sees every command as it arrives, before the
//! server looks the command up or checks ACLs, and does two things:
//!
//! - on a primary, appends the time stamp (`stamp.rs`) to `RL.CHECK` and `RL.MCHECK`,
//!   replacing one a client sent, so the command can replicate as itself;
//! - notices `CONFIG RESETSTAT` (`resetstat.rs`).
//!
//! It costs every other command an argument count and a length comparison.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use redis_module::raw;

use crate::clock::{Clock, ModuleClock};
use crate::commands::STAMPED;
use crate::stamp;

/// Registers the filter; false if the server refused it.
///
/// # Safety
/// `ctx` is the module's load context.
pub unsafe fn register(ctx: *mut raw::RedisModuleCtx) -> bool {
    // SAFETY: the API pointers are written once by RedisModule_Init, then only read.
    let Some(register) = (unsafe { raw::RedisModule_RegisterCommandFilter }) else {
        return false;
    };
    // SAFETY: ctx is the load context (the caller's contract).
    let registered = unsafe {
        register(
            ctx,
            Some(filter),
            raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
        )
    };
    !registered.is_null()
}

/// The stamp the filter put on the command it saw last, or `NONE`. Every command resets
/// it as it arrives, so a handler finding its own stamp here knows it runs right after
/// its filter pass (not, say, at the EXEC of a MULTI it was queued in) and can evaluate
/// at the stamp without reading the clock again. Commands run on the main thread only.
static FRESH: AtomicU64 = AtomicU64::new(NONE);
const NONE: u64 = u64::MAX;

/// Whether `stamp` is the one the filter put on the command now running; forgets it.
pub fn take_fresh(stamp: u64) -> bool {
    let fresh = FRESH.load(Relaxed);
    if fresh != NONE {
        FRESH.store(NONE, Relaxed);
    }
    fresh == stamp
}

unsafe extern "C" fn filter(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    crate::panic::guard((), || {
        // SAFETY: Redis passes a live filter context; these functions exist whenever
        // RegisterCommandFilter does (Redis 5+).
        let (count, get, len) = unsafe {
            (
                raw::RedisModule_CommandFilterArgsCount.unwrap(),
                raw::RedisModule_CommandFilterArgGet.unwrap(),
                raw::RedisModule_StringPtrLen.unwrap(),
            )
        };
        // SAFETY: as above; positions are below the count.
        unsafe {
            FRESH.store(NONE, Relaxed);
            let argc = count(fctx);
            if argc < 2 {
                return;
            }
            let arg = |i| {
                let mut n = 0usize;
                let p = len(get(fctx, i), &mut n);
                if p.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(p.cast::<u8>(), n)
                }
            };
            let name = arg(0);
            if argc == 2
                && name.eq_ignore_ascii_case(b"config")
                && arg(1).eq_ignore_ascii_case(b"resetstat")
            {
                crate::resetstat::mark_pending();
            } else if STAMPED
                .iter()
                .any(|&(cmd, min)| argc >= min && name.eq_ignore_ascii_case(cmd))
                && !is_replica()
            {
                let last = stamp::looks_like_stamp(arg(argc - 1));
                put_stamp(fctx, argc, last);
            }
        }
    })
}

/// Whether this server replicates from a primary: then RL commands come stamped by the
/// primary (or are refused as writes), and the filter must leave them as they are.
fn is_replica() -> bool {
    // SAFETY: a null context is allowed; the flags then describe the server only.
    let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(std::ptr::null_mut()) };
    flags as u32 & raw::REDISMODULE_CTX_FLAGS_SLAVE != 0
}

/// Appends the stamp, or replaces the last argument when it is in the stamp's form.
///
/// # Safety
/// `fctx` is the live filter context and `argc` its argument count.
unsafe fn put_stamp(fctx: *mut raw::RedisModuleCommandFilterCtx, argc: c_int, replace: bool) {
    let now = ModuleClock.now_ms().min(i64::MAX as u64);
    let mut buf = [0; stamp::MAX_LEN];
    let text = stamp::format(now, &mut buf);
    // SAFETY: the API pointers exist with the filter API (Redis 5+); fctx is live and
    // argc its count (the caller's contract). A string without a context is not
    // auto-freed: the command's argv takes ownership of it.
    unsafe {
        let s = raw::RedisModule_CreateString.unwrap()(
            std::ptr::null_mut(),
            text.as_ptr().cast(),
            text.len(),
        );
        if replace {
            raw::RedisModule_CommandFilterArgReplace.unwrap()(fctx, argc - 1, s);
        } else {
            raw::RedisModule_CommandFilterArgInsert.unwrap()(fctx, argc, s);
        }
    }
    FRESH.store(now, Relaxed);
}
