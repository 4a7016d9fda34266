//! redis-ratelimit: native, atomic rate limiting inside Redis.
//!
//! Follow one `RL.CHECK`: `filter.rs` (the primary's time stamp, `stamp.rs`) ->
//! `commands/check.rs` -> `args.rs` -> `algorithms/<algo>.rs` -> `types/limiter.rs`
//! (+ `replicate.rs`). This file is wiring only.

pub mod algorithms;
pub mod args;
pub mod clock;
pub mod command;
pub mod config;
pub mod error;
pub mod latency;
pub mod replicate;
pub mod stamp;
pub mod stats;
pub mod stopwatch;
pub mod top_denied;
pub mod types;

#[cfg(feature = "module")]
mod command_docs;
#[cfg(feature = "module")]
pub mod commands;
#[cfg(feature = "module")]
pub mod ctx;
#[cfg(feature = "module")]
mod filter;
#[cfg(feature = "module")]
mod info;
#[cfg(feature = "module")]
mod key;
#[cfg(feature = "module")]
mod panic;
#[cfg(feature = "module")]
mod resetstat;

/// The module version MODULE LIST reports: major * 10000 + minor * 100 + patch.
pub const MODULE_VERSION: i32 = 100;

#[cfg(feature = "module")]
mod entry {
    use std::ffi::CStr;
    use std::os::raw::c_int;

    use redis_module::{raw, redis_module, Context, RedisString, Status};

    use redis_module::configuration::ConfigurationFlags;

    use crate::commands::{
        apply, check, inspect, mcheck, peek, reset, run, stats, throttle, Handler,
    };
    use crate::config::{
        CELL_COMPAT, DENY_NOTIFICATIONS, LATENCY_TRACKING, SLIDING_LOG_MAX_LIMIT,
        SLIDING_LOG_MAX_LIMIT_DEFAULT, SLIDING_LOG_MAX_LIMIT_RANGE, TOP_DENIED_KEYS,
        TOP_DENIED_KEYS_DEFAULT, TOP_DENIED_KEYS_RANGE,
    };
    use crate::panic::{install_hook, log_warning};
    use crate::types::callbacks::LIMITER_TYPE;

    macro_rules! entry_point {
        ($name:ident, $handler:path, $timed:expr) => {
            extern "C" fn $name(
                ctx: *mut raw::RedisModuleCtx,
                argv: *mut *mut raw::RedisModuleString,
                argc: c_int,
            ) -> c_int {
                const H: Handler = $handler;
                // SAFETY: these are the arguments Redis passes to a command callback.
                unsafe { run(ctx, argv, argc, H, $timed) }
            }
        };
    }
    use crate::command::Command as C;
    entry_point!(rl_check, check::check, Some(C::Check));
    entry_point!(rl_reset, reset::reset, Some(C::Reset));
    entry_point!(rl_stats, stats::stats, Some(C::Stats));
    entry_point!(rl_metrics, stats::metrics, Some(C::Metrics));
    entry_point!(rl_apply, apply::apply, Some(C::Apply));
    entry_point!(rl_peek, peek::peek, Some(C::Peek));
    entry_point!(rl_inspect, inspect::inspect, Some(C::Inspect));
    entry_point!(rl_mcheck, mcheck::mcheck, Some(C::Mcheck));
    entry_point!(cl_throttle, throttle::throttle, Some(C::Throttle));
    #[cfg(feature = "test-hooks")]
    entry_point!(rl_testhook, crate::commands::testhook::testhook, None);

    type CmdFn =
        extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

    /// name, handler, flags, first key, last key, key step.
    const COMMANDS: [(&CStr, CmdFn, &CStr, c_int, c_int, c_int); 8] = [
        (c"rl.check", rl_check, c"write deny-oom fast", 1, 1, 1),
        (c"rl.peek", rl_peek, c"readonly fast", 1, 1, 1),
        (c"rl.inspect", rl_inspect, c"readonly fast", 1, 1, 1),
        // Keys come after numkeys: declared through the getkeys API (what cluster
        // routing uses on 7.0) and a key spec in `command_docs`.
        (
            c"rl.mcheck",
            rl_mcheck,
            c"write deny-oom getkeys-api",
            0,
            0,
            0,
        ),
        (c"rl.reset", rl_reset, c"write", 1, -1, 1),
        (c"rl.stats", rl_stats, c"readonly fast", 0, 0, 0),
        (c"rl.metrics", rl_metrics, c"readonly fast", 0, 0, 0),
        (c"rl.apply", rl_apply, c"write deny-oom fast", 1, -1, 2),
    ];

    /// Registered only with `cell-compat yes`.
    const CELL_COMMAND: (&CStr, CmdFn, &CStr, c_int, c_int, c_int) =
        (c"cl.throttle", cl_throttle, c"write deny-oom fast", 1, 1, 1);

    /// The server APIs the module cannot run without; a server lacking any of them is
    /// too old (SetAbsExpire arrived in Redis 6.2, ReplyWithMap in 6.0).
    fn missing_api() -> Option<&'static str> {
        // SAFETY: reading the function-pointer statics that RedisModule_Init filled.
        unsafe {
            let present: [(&str, bool); 9] = [
                (
                    "SetAbsExpire",
                    (*std::ptr::addr_of!(raw::RedisModule_SetAbsExpire)).is_some(),
                ),
                (
                    "ReplyWithMap",
                    (*std::ptr::addr_of!(raw::RedisModule_ReplyWithMap)).is_some(),
                ),
                (
                    "GetContextFlags",
                    (*std::ptr::addr_of!(raw::RedisModule_GetContextFlags)).is_some(),
                ),
                (
                    "Milliseconds",
                    (*std::ptr::addr_of!(raw::RedisModule_Milliseconds)).is_some(),
                ),
                (
                    "SetModuleOptions",
                    (*std::ptr::addr_of!(raw::RedisModule_SetModuleOptions)).is_some(),
                ),
                (
                    "IsIOError",
                    (*std::ptr::addr_of!(raw::RedisModule_IsIOError)).is_some(),
                ),
                (
                    "EmitAOF",
                    (*std::ptr::addr_of!(raw::RedisModule_EmitAOF)).is_some(),
                ),
                (
                    "ReplicateVerbatim",
                    (*std::ptr::addr_of!(raw::RedisModule_ReplicateVerbatim)).is_some(),
                ),
                (
                    "DigestAddStringBuffer",
                    (*std::ptr::addr_of!(raw::RedisModule_DigestAddStringBuffer)).is_some(),
                ),
            ];
            present.iter().find(|(_, ok)| !ok).map(|(name, _)| *name)
        }
    }

    fn init(ctx: &Context, args: &[RedisString]) -> Status {
        let arg_bytes: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        if let Err(why) = crate::config::validate_load_args(&arg_bytes) {
            log_warning(&format!("ratelimit: {why}; refusing to load"));
            return Status::Err;
        }
        if let Some(api) = missing_api() {
            log_warning(&format!(
                "ratelimit: this server lacks RedisModule_{api}; Redis 7.0 or newer is required, refusing to load"
            ));
            return Status::Err;
        }
        install_hook();
        // SAFETY: ctx is the load context; the API pointers were checked above.
        unsafe {
            raw::RedisModule_SetModuleOptions.unwrap()(
                ctx.ctx,
                raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS as c_int,
            );
            let extra = crate::config::cell_compat().then_some(CELL_COMMAND);
            #[cfg(feature = "test-hooks")]
            let extra =
                extra
                    .into_iter()
                    .chain([(c"rl.testhook", rl_testhook as CmdFn, c"fast", 0, 0, 0)]);
            for (name, handler, flags, first, last, step) in COMMANDS.into_iter().chain(extra) {
                let rc = raw::RedisModule_CreateCommand.unwrap()(
                    ctx.ctx,
                    name.as_ptr(),
                    Some(handler),
                    flags.as_ptr(),
                    first,
                    last,
                    step,
                );
                if rc != raw::REDISMODULE_OK as c_int {
                    log_warning(&format!("ratelimit: could not register {name:?}"));
                    return Status::Err;
                }
            }
            // Replaces the handler the module macro registered before `init`.
            raw::RedisModule_RegisterInfoFunc.unwrap()(ctx.ctx, Some(crate::info::info));
            crate::stopwatch::calibrate(std::time::Duration::from_millis(2));
            if !crate::filter::register(ctx.ctx) {
                log_warning("ratelimit: could not register the command filter");
                return Status::Err;
            }
            if let Err(name) = crate::command_docs::declare_acl_categories(ctx.ctx) {
                log_warning(&format!(
                    "ratelimit: could not set the ACL category {name:?}; refusing to load"
                ));
                return Status::Err;
            }
            if let Err(name) = crate::command_docs::declare(ctx.ctx) {
                log_warning(&format!(
                    "ratelimit: could not set the command info of {name:?}; Redis 7.0 or newer is required"
                ));
                return Status::Err;
            }
        }
        Status::Ok
    }

    redis_module! {
        name: "ratelimit",
        version: crate::MODULE_VERSION,
        allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
        data_types: [LIMITER_TYPE],
        init: init,
        commands: [],
        configurations: [
            i64: [
                [
                    "top-denied-keys",
                    &TOP_DENIED_KEYS,
                    TOP_DENIED_KEYS_DEFAULT,
                    TOP_DENIED_KEYS_RANGE.0,
                    TOP_DENIED_KEYS_RANGE.1,
                    ConfigurationFlags::DEFAULT,
                    None
                ],
                [
                    "sliding-log-max-limit",
                    &SLIDING_LOG_MAX_LIMIT,
                    SLIDING_LOG_MAX_LIMIT_DEFAULT,
                    SLIDING_LOG_MAX_LIMIT_RANGE.0,
                    SLIDING_LOG_MAX_LIMIT_RANGE.1,
                    ConfigurationFlags::DEFAULT,
                    None
                ],
            ],
            string: [],
            bool: [
                ["cell-compat", &CELL_COMPAT, false, ConfigurationFlags::IMMUTABLE, None],
                ["deny-notifications", &DENY_NOTIFICATIONS, false, ConfigurationFlags::DEFAULT, None],
                ["latency-tracking", &LATENCY_TRACKING, true, ConfigurationFlags::DEFAULT, None],
            ],
            enum: [],
            module_args_as_configuration: true,
        ]
    }
}
