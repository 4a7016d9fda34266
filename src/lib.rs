//! redis-ratelimit: native, atomic rate limiting inside Redis.
//!
//! Follow one `RL.CHECK`: `filter.rs` stamps it with its arrival time ->
//! `commands/mod.rs` (the command table and the runner: panic guard, counting, the
//! reply) -> `commands/check.rs` (the handler) -> `args.rs` (parsing) -> `charge.rs` (the
//! charging pipeline: when, evaluate, commit, expire, propagate) ->
//! `algorithms/<algo>.rs` (the pure decision) -> `types/` (the stored value and key),
//! with `replicate.rs` for the payloads that propagate effects. This file is wiring only.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod algorithms;
pub mod args;
pub mod clock;
pub mod config;
pub mod error;
pub mod lease_ids;
pub mod policy;
pub mod replicate;
pub mod stamp;
pub mod stopwatch;
pub mod top_denied;
pub mod types;

#[cfg(feature = "module")]
pub mod charge;
#[cfg(feature = "module")]
pub mod commands;
#[cfg(feature = "module")]
pub mod ctx;
#[cfg(feature = "module")]
pub mod filter;
#[cfg(feature = "module")]
pub mod info;
#[cfg(feature = "module")]
pub mod latency;
#[cfg(feature = "module")]
pub mod panic;
#[cfg(feature = "module")]
pub mod reply;
#[cfg(feature = "module")]
pub mod resetstat;
#[cfg(feature = "module")]
pub mod stats;

/// The module version MODULE LIST reports: major * 10000 + minor * 100 + patch.
pub const MODULE_VERSION: i32 = 100;

// Not in unit tests: `redis_module!` installs Redis's allocator, which only works
// inside a server.
#[cfg(all(feature = "module", not(test)))]
mod entry {
    use std::os::raw::c_int;

    use redis_module::{raw, redis_module, Context, RedisString, Status};

    use redis_module::configuration::ConfigurationFlags;

    use crate::config::{
        CELL_COMPAT, DENY_NOTIFICATIONS, LATENCY_TRACKING, MAX_LEASES_PER_KEY,
        MAX_LEASES_PER_KEY_DEFAULT, MAX_LEASES_PER_KEY_RANGE, MAX_POLICIES, MAX_POLICIES_DEFAULT,
        MAX_POLICIES_RANGE, POLICY_FILE, SLIDING_LOG_MAX_LIMIT, SLIDING_LOG_MAX_LIMIT_DEFAULT,
        SLIDING_LOG_MAX_LIMIT_RANGE, TOP_DENIED_KEYS, TOP_DENIED_KEYS_DEFAULT,
        TOP_DENIED_KEYS_RANGE,
    };
    use crate::panic::{install_hook, log_warning};
    use crate::types::callbacks::LIMITER_TYPE;

    /// The server APIs the module cannot run without; a server lacking any of them is
    /// too old (SetAbsExpire arrived in Redis 6.2, ReplyWithMap in 6.0).
    fn missing_api() -> Option<&'static str> {
        // SAFETY: reading the function-pointer statics that RedisModule_Init filled.
        unsafe {
            let present: [(&str, bool); 10] = [
                (
                    "GetAbsExpire",
                    (*std::ptr::addr_of!(raw::RedisModule_GetAbsExpire)).is_some(),
                ),
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

    /// Reads `ratelimit.policy-file` when it is set: a file that cannot be read or
    /// holds a bad policy stops the load (the log says why), it is never skipped.
    fn load_policy_file() -> Result<(), String> {
        if crate::config::policy_file().is_empty() {
            return Ok(());
        }
        let set = crate::commands::policy::read_file(&crate::config::limits())
            .map_err(|e| format!("ratelimit.policy-file: {e}"))?;
        crate::policy::store()
            .replace_all(set, crate::config::max_policies())
            .map_err(|e| format!("ratelimit.policy-file: {e}"))
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
            if let Err(name) = crate::commands::register(ctx.ctx) {
                log_warning(&format!("ratelimit: could not register {name:?}"));
                return Status::Err;
            }
            // Replaces the handler the module macro registered before `init`.
            raw::RedisModule_RegisterInfoFunc.unwrap()(ctx.ctx, Some(crate::info::info));
            crate::stopwatch::calibrate(std::time::Duration::from_millis(2));
            crate::types::callbacks::detect_keyspace(ctx.ctx);
            if !crate::filter::register(ctx.ctx) {
                log_warning("ratelimit: could not register the command filter");
                return Status::Err;
            }
            if let Err(name) = crate::commands::docs::declare_acl_categories(ctx.ctx) {
                log_warning(&format!(
                    "ratelimit: could not set the ACL category {name:?}; refusing to load"
                ));
                return Status::Err;
            }
            if let Err(why) = load_policy_file() {
                log_warning(&format!("ratelimit: {why}; refusing to load"));
                return Status::Err;
            }
            if let Err(name) = crate::commands::docs::declare(ctx.ctx) {
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
                [
                    "max-leases-per-key",
                    &MAX_LEASES_PER_KEY,
                    MAX_LEASES_PER_KEY_DEFAULT,
                    MAX_LEASES_PER_KEY_RANGE.0,
                    MAX_LEASES_PER_KEY_RANGE.1,
                    ConfigurationFlags::DEFAULT,
                    None
                ],
                [
                    "max-policies",
                    &MAX_POLICIES,
                    MAX_POLICIES_DEFAULT,
                    MAX_POLICIES_RANGE.0,
                    MAX_POLICIES_RANGE.1,
                    ConfigurationFlags::DEFAULT,
                    None
                ],
            ],
            string: [
                ["policy-file", &POLICY_FILE, "", ConfigurationFlags::DEFAULT, None],
            ],
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
