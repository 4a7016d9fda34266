//! Thin command handlers, one file per command family, and what they share: the
//! panic guard around every handler and the decision reply.

pub mod apply;
pub mod check;
pub mod inspect;
pub mod mcheck;
pub mod peek;
pub mod reset;
pub mod stats;
#[cfg(feature = "test-hooks")]
pub mod testhook;
pub mod throttle;

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use redis_module::raw;

use crate::algorithms::Decision;
use crate::command::Command;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::{config, latency};

/// A command body: gets the arguments after the command name, writes its whole reply
/// on success and nothing on error.
pub type Handler = fn(Ctx, &[Arg]) -> Result<(), Error>;

/// Set by a handler replaying a check from the primary or the AOF; read by `run`.
/// Commands run on the server's main thread only.
static REPLAY: AtomicBool = AtomicBool::new(false);

/// Marks the running command as a replay, counted in RL.STATS as an `apply` call.
pub fn count_as_replay() {
    REPLAY.store(true, Relaxed);
}

/// Runs a handler behind `catch_unwind` and turns errors and panics into error replies.
///
/// # Safety
/// The arguments must be those Redis passed to a command callback.
pub unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    handler: Handler,
    cmd: Option<Command>,
) -> c_int {
    let ctx = Ctx::new(ctx);
    // A server asking RL.MCHECK where its keys are (cluster routing, ACL) is not a
    // call: neither counted nor timed.
    let cmd = cmd.filter(|&c| c != Command::Mcheck || !ctx.is_keys_position_request());
    let start = cmd
        .filter(|_| config::latency_tracking())
        .map(|c| (c, crate::stopwatch::start()));
    let result = catch_unwind(AssertUnwindSafe(|| {
        // A CONFIG RESETSTAT that ran since the last command clears the counters first.
        crate::resetstat::settle();
        let all: &[Arg] = if argv.is_null() || argc < 1 {
            &[]
        } else {
            // SAFETY: Redis passes argc valid strings; Arg is repr(transparent).
            std::slice::from_raw_parts(argv.cast::<Arg>(), argc as usize)
        };
        match all.split_first() {
            Some((_, args)) => handler(ctx, args),
            None => Err(Error::WrongArity),
        }
    }));
    // A check replayed from the primary or the AOF is an applied effect here.
    let replay = REPLAY.load(Relaxed);
    if replay {
        REPLAY.store(false, Relaxed);
    }
    let as_counted = |c: Command| if replay { Command::Apply } else { c };
    if let Some((cmd, start)) = start {
        latency::record(as_counted(cmd), crate::stopwatch::elapsed_ns(start));
    }
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(Error::Panic),
    };
    if let Some(cmd) = cmd.map(as_counted) {
        crate::stats::record_call(cmd, error.is_some());
    }
    if let Some(e) = error {
        match e {
            Error::WrongArity => ctx.reply_wrong_arity(),
            e => ctx.reply_error(e.message()),
        }
    }
    raw::REDISMODULE_OK as c_int
}

/// The five reply fields, in RESP2 order.
pub const DECISION_FIELDS: [&str; 5] = [
    "allowed",
    "limit",
    "remaining",
    "retry_after_ms",
    "reset_after_ms",
];

/// Replies a decision: a five-integer array on RESP2, a map on RESP3.
pub fn reply_decision(ctx: Ctx, d: &Decision) {
    reply_decision_fields(ctx, d, ctx.is_resp3());
}

/// Replies a decision as a map (`as_map`) or as a five-integer array.
pub fn reply_decision_fields(ctx: Ctx, d: &Decision, as_map: bool) {
    let values = [
        i64::from(d.allowed),
        d.limit.min(i64::MAX as u64) as i64,
        d.remaining.min(i64::MAX as u64) as i64,
        d.retry_after_ms,
        d.reset_after_ms,
    ];
    if as_map {
        ctx.reply_map(values.len());
        for (name, v) in DECISION_FIELDS.iter().zip(values) {
            ctx.reply_bulk(name.as_bytes());
            ctx.reply_i64(v);
        }
    } else {
        ctx.reply_array(values.len());
        for v in values {
            ctx.reply_i64(v);
        }
    }
}
