//! The module's one command filter. It sees every command as it arrives, before the
//! server looks the command up or checks ACLs, and does three things:
//!
//! - forgets the previous command's stamp (`FRESH`, below);
//! - on a primary, appends the time stamp (`stamp.rs`) to `RL.CHECK` and `RL.MCHECK`,
//!   and the time stamp with a freshly drawn lease id to `RL.ACQUIRE`, replacing one a
//!   client sent, so the command can replicate as itself;
//! - notices `CONFIG RESETSTAT` (`resetstat.rs`).
//!
//! It runs for every command the server executes, RL or not, so the common case is
//! kept to one store, one argument count and two comparisons: a command with fewer
//! arguments than the smallest stamped command (GET, INCR, DEL, SET key value, EXPIRE,
//! EXEC, ...) reads no argument, and only two-argument commands read their name (the
//! `CONFIG RESETSTAT` test), starting with its length and first byte. The figures are
//! in docs/benchmarks.md ("Command filter cost", `benches/filter_cost.py`).

use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use redis_module::raw;

use crate::clock::{Clock, ModuleClock};
use crate::commands::{MIN_STAMPED_ARGC, STAMPED};
use crate::stamp;

/// Registers the filter; false if the server refused it.
///
/// # Safety
/// `ctx` is the module's load context.
pub unsafe fn register(ctx: *mut raw::RedisModuleCtx) -> bool {
    // SAFETY: the API pointers are written once by RedisModule_Init, then only read.
    let (Some(register), Some(count), Some(get), Some(ptr_len)) = (unsafe {
        (
            raw::RedisModule_RegisterCommandFilter,
            raw::RedisModule_CommandFilterArgsCount,
            raw::RedisModule_CommandFilterArgGet,
            raw::RedisModule_StringPtrLen,
        )
    }) else {
        return false;
    };
    // SAFETY: set once, at load, before the filter can run; read by the filter only.
    unsafe {
        API = Api {
            count,
            get,
            ptr_len,
        };
    }
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

/// The three API functions every filtered command may call, copied out of
/// `redis_module::raw` at registration: a direct load with no `Option` test, which the
/// filter would otherwise pay on every command.
#[derive(Clone, Copy)]
struct Api {
    count: unsafe extern "C" fn(*mut raw::RedisModuleCommandFilterCtx) -> c_int,
    get: unsafe extern "C" fn(
        *mut raw::RedisModuleCommandFilterCtx,
        c_int,
    ) -> *mut raw::RedisModuleString,
    ptr_len: unsafe extern "C" fn(
        *const raw::RedisModuleString,
        *mut usize,
    ) -> *const std::os::raw::c_char,
}

/// Before registration: no arguments (the filter is not registered yet anyway).
unsafe extern "C" fn no_args(_: *mut raw::RedisModuleCommandFilterCtx) -> c_int {
    0
}
unsafe extern "C" fn no_arg(
    _: *mut raw::RedisModuleCommandFilterCtx,
    _: c_int,
) -> *mut raw::RedisModuleString {
    std::ptr::null_mut()
}
unsafe extern "C" fn no_ptr(
    _: *const raw::RedisModuleString,
    _: *mut usize,
) -> *const std::os::raw::c_char {
    std::ptr::null()
}

static mut API: Api = Api {
    count: no_args,
    get: no_arg,
    ptr_len: no_ptr,
};

/// The stamp the filter put on the command it saw last, or `NONE`: the filter's hand-off
/// to the handler (a filter has no other channel to the command it rewrites).
///
/// Invariant: FRESH is `NONE`, or the stamp this filter put on the last command it saw.
/// The filter's first act, for every command it sees (whatever its name or argument
/// count, stamped or not, RL or not), is the store that resets FRESH; `take_fresh`
/// forgets it. So a handler that finds its own stamp here runs for the very command the
/// filter saw last, with no other command filtered in between, and may evaluate at the
/// stamp without reading the clock again. In particular a check queued in `MULTI` and
/// run at `EXEC` is never fresh: `EXEC` passes the filter and resets FRESH first, so the
/// check is evaluated at EXEC's clock and propagates as its effect (`RL.APPLY`). Commands
/// the server runs without a filter pass (the ones queued in MULTI, AOF replay) cannot
/// set FRESH, and any command that does pass clears what an earlier, refused command
/// left. Commands and filters run on the main thread only, hence the relaxed atomics.
///
/// Pinned by python-tests/test_filter.py; keep the reset the filter's first statement.
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

/// `CONFIG RESETSTAT`'s argument count.
const RESETSTAT_ARGC: c_int = 2;

/// The filter. The common path is outside the panic guard on purpose: it is a store, an
/// API call and comparisons, none of which can panic, and `catch_unwind` costs a call
/// through a function pointer on every command.
unsafe extern "C" fn filter(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    FRESH.store(NONE, Relaxed);
    // SAFETY: Redis passes a live filter context; API was set before registration.
    let argc = unsafe { (API.count)(fctx) };
    if argc >= MIN_STAMPED_ARGC {
        // SAFETY: as above; `argc` is the context's count.
        unsafe { maybe_stamp(fctx, argc) }
    } else if argc == RESETSTAT_ARGC {
        // SAFETY: as above; the context has two arguments.
        unsafe { maybe_resetstat(fctx) }
    }
}

/// Argument `i` of the filtered command (empty if the server has none there).
///
/// # Safety
/// `fctx` is the live filter context; the slice lives until the filter returns and
/// no argument is replaced meanwhile.
#[inline(always)]
unsafe fn arg<'a>(fctx: *mut raw::RedisModuleCommandFilterCtx, i: c_int) -> &'a [u8] {
    // SAFETY: API was set before registration and is never written again.
    let Api { get, ptr_len, .. } = unsafe { API };
    // SAFETY: fctx is live and `i` below its count (the caller's contract).
    let s = unsafe { get(fctx, i) };
    if s.is_null() {
        return &[];
    }
    let mut n = 0usize;
    // SAFETY: s is the live argument string; StringPtrLen only reads it.
    let p = unsafe { ptr_len(s, &mut n) };
    if p.is_null() {
        &[]
    } else {
        // SAFETY: the server's buffer of `n` bytes, alive until the filter returns
        // (the caller's contract: no argument is replaced meanwhile).
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }
    }
}

/// `CONFIG RESETSTAT`: marks a reset pending (`resetstat.rs` settles it). Reached by
/// every two-argument command; the length and first byte turn away nearly all of them
/// (GET, INCR, DEL, EXISTS, TTL, ...) before any comparison of the whole name.
///
/// # Safety
/// `fctx` is the live filter context of a two-argument command.
#[inline(never)]
unsafe fn maybe_resetstat(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    // SAFETY: fctx is live with two arguments (the caller's contract).
    let name = unsafe { arg(fctx, 0) };
    if name.len() == 6
        && name[0] | 0x20 == b'c'
        && name.eq_ignore_ascii_case(b"config")
        // SAFETY: as above.
        && unsafe { arg(fctx, 1) }.eq_ignore_ascii_case(b"resetstat")
    {
        crate::resetstat::mark_pending();
    }
}

/// `RL.CHECK`, `RL.MCHECK` and `RL.ACQUIRE` on a primary: appends the stamp (or
/// replaces the client's).
///
/// # Safety
/// `fctx` is the live filter context and `argc` its argument count.
#[inline(never)]
unsafe fn maybe_stamp(fctx: *mut raw::RedisModuleCommandFilterCtx, argc: c_int) {
    // SAFETY: fctx is live with argc arguments (the caller's contract).
    let name = unsafe { arg(fctx, 0) };
    // The length and first byte turn away SET key value PX ms, HSET, ZADD, ...
    if !(8..=10).contains(&name.len()) || name[0] | 0x20 != b'r' {
        return;
    }
    crate::panic::guard((), || {
        let Some(&(_, how)) = STAMPED
            .iter()
            .find(|&&(cmd, how)| argc >= how.min_argc && name.eq_ignore_ascii_case(cmd))
        else {
            return;
        };
        if !is_replica() {
            // SAFETY: as for this function; the last position is below the count.
            unsafe {
                let last = stamp::looks_like_stamp(arg(fctx, argc - 1));
                put_stamp(fctx, argc, last, how.lease_id);
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

/// Appends the stamp (with a lease id drawn now when `lease_id`), or replaces the last
/// argument when it is in the stamp's form.
///
/// # Safety
/// `fctx` is the live filter context and `argc` its argument count.
unsafe fn put_stamp(
    fctx: *mut raw::RedisModuleCommandFilterCtx,
    argc: c_int,
    replace: bool,
    lease_id: bool,
) {
    let now = ModuleClock.now_ms().min(i64::MAX as u64);
    let (mut time, mut with_id) = ([0; stamp::MAX_LEN], [0; stamp::MAX_LEN_WITH_ID]);
    let text = if lease_id {
        stamp::format_with_id(now, crate::lease_ids::draw(), &mut with_id)
    } else {
        stamp::format(now, &mut time)
    };
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
