//! redis-ratelimit: native, atomic rate limiting inside Redis.
//!
//! Follow one `RL.CHECK`: `commands/check.rs` -> `args.rs` -> `algorithms/<algo>.rs`
//! -> `types/limiter.rs` (+ `replicate.rs`). This file is wiring only.

pub mod algorithms;
pub mod args;
pub mod clock;
pub mod error;
pub mod replicate;
pub mod stats;
pub mod types;

#[cfg(feature = "module")]
pub mod commands;
#[cfg(feature = "module")]
pub mod ctx;
#[cfg(feature = "module")]
mod key;
#[cfg(feature = "module")]
mod panic;

/// The module version MODULE LIST reports: major * 10000 + minor * 100 + patch.
pub const MODULE_VERSION: i32 = 100;

#[cfg(feature = "module")]
mod entry {
    use std::ffi::CStr;
    use std::os::raw::c_int;

    use redis_module::{raw, redis_module, Context, RedisString, Status};

    use crate::commands::{apply, check, reset, run, stats, Handler};
    use crate::panic::{install_hook, log_warning};
    use crate::types::callbacks::LIMITER_TYPE;

    macro_rules! entry_point {
        ($name:ident, $handler:path) => {
            extern "C" fn $name(
                ctx: *mut raw::RedisModuleCtx,
                argv: *mut *mut raw::RedisModuleString,
                argc: c_int,
            ) -> c_int {
                const H: Handler = $handler;
                // SAFETY: these are the arguments Redis passes to a command callback.
                unsafe { run(ctx, argv, argc, H) }
            }
        };
    }
    entry_point!(rl_check, check::check);
    entry_point!(rl_reset, reset::reset);
    entry_point!(rl_stats, stats::stats);
    entry_point!(rl_apply, apply::apply);
    #[cfg(feature = "test-hooks")]
    entry_point!(rl_testhook, crate::commands::testhook::testhook);

    type CmdFn =
        extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

    /// name, handler, flags, first key, last key, key step.
    const COMMANDS: [(&CStr, CmdFn, &CStr, c_int, c_int, c_int); 4] = [
        (c"rl.check", rl_check, c"write deny-oom fast", 1, 1, 1),
        (c"rl.reset", rl_reset, c"write", 1, -1, 1),
        (c"rl.stats", rl_stats, c"readonly fast", 0, 0, 0),
        (c"rl.apply", rl_apply, c"write deny-oom fast", 1, 1, 1),
    ];

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

    fn init(ctx: &Context, _args: &[RedisString]) -> Status {
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
            #[cfg(feature = "test-hooks")]
            let commands = COMMANDS.into_iter().chain([(
                c"RL.TESTHOOK",
                rl_testhook as CmdFn,
                c"fast",
                0,
                0,
                0,
            )]);
            #[cfg(not(feature = "test-hooks"))]
            let commands = COMMANDS;
            for (name, handler, flags, first, last, step) in commands {
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
    }
}
