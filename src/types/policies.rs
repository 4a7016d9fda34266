//! The policy set in the RDB: module aux data saved before the keys, so it travels
//! with every RDB the server writes (BGSAVE, a replica's full resynchronisation, the
//! AOF's RDB preamble) and is restored whole when one is loaded.
//!
//! Layout (aux encoding version 1): the set's change count, the number of policies,
//! then per policy (by name) its name, its canonical JSON and its version. Every
//! policy is validated again on load (up to the hard caps, as the primary's stream
//! is); a bad one fails the load rather than being dropped silently.

use std::os::raw::c_int;

use redis_module::raw;

use crate::args::Limits;
use crate::config::SLIDING_LOG_MAX_LIMIT_RANGE;
use crate::panic::{guard, log_warning};
use crate::policy::{self, valid_name, Entry, Policy, Store};

/// The aux data's encoding version (shares the type's RDB encoding version number).
pub const AUX_ENCVER: c_int = crate::types::callbacks::TYPE_ENCVER;

/// A required API function, or a panic (caught by the guard).
macro_rules! api {
    ($name:ident) => {
        // SAFETY: the API pointers are written once by RedisModule_Init, before any
        // callback can run, and only read afterwards.
        unsafe { raw::$name }.expect(stringify!($name))
    };
}

/// Saves the policy set (Redis calls it before the keys).
///
/// # Safety
/// Called by Redis with a live RDB handle.
pub unsafe extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, when: c_int) {
    guard((), || {
        if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
            return;
        }
        let (unsigned, buffer) = (
            api!(RedisModule_SaveUnsigned),
            api!(RedisModule_SaveStringBuffer),
        );
        let store = policy::store();
        let entries = store.sorted();
        // SAFETY: rdb is live; buffers are only read during each call.
        unsafe {
            unsigned(rdb, store.changes());
            unsigned(rdb, entries.len() as u64);
            for (name, e) in entries {
                let text = e.policy.to_json(None);
                buffer(rdb, name.as_ptr().cast(), name.len());
                buffer(rdb, text.as_ptr().cast(), text.len());
                unsigned(rdb, e.version);
            }
        }
    })
}

/// Loads a saved policy set, replacing the current one.
///
/// # Safety
/// Called by Redis with a live RDB handle.
pub unsafe extern "C" fn aux_load(
    rdb: *mut raw::RedisModuleIO,
    encver: c_int,
    when: c_int,
) -> c_int {
    let err = raw::REDISMODULE_ERR as c_int;
    guard(err, || {
        if encver != AUX_ENCVER || when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
            log_warning(&format!(
                "ratelimit: unknown policy aux data (encoding version {encver})"
            ));
            return err;
        }
        match load(rdb) {
            Ok(store) => {
                *policy::store() = store;
                raw::REDISMODULE_OK as c_int
            }
            Err(why) => {
                log_warning(&format!("ratelimit: refusing to load the policies: {why}"));
                err
            }
        }
    })
}

fn load(rdb: *mut raw::RedisModuleIO) -> Result<Store, String> {
    let (unsigned, buffer, io_error, free) = (
        api!(RedisModule_LoadUnsigned),
        api!(RedisModule_LoadStringBuffer),
        api!(RedisModule_IsIOError),
        api!(RedisModule_Free),
    );
    let failed = || {
        // SAFETY: rdb is the live handle Redis passed.
        unsafe { io_error(rdb) != 0 }
    };
    let word = || {
        // SAFETY: as above.
        let w = unsafe { unsigned(rdb) };
        if failed() {
            Err("truncated".to_string())
        } else {
            Ok(w)
        }
    };
    let bytes = || {
        let mut len = 0usize;
        // SAFETY: as above; Redis allocates the buffer, freed here after copying.
        unsafe {
            let p = buffer(rdb, &mut len);
            if failed() || p.is_null() {
                return Err("truncated".to_string());
            }
            let v = std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec();
            free(p.cast());
            Ok(v)
        }
    };
    let limits = Limits {
        sliding_log_max_limit: SLIDING_LOG_MAX_LIMIT_RANGE.1 as u64,
    };
    let changes = word()?;
    let n = word()?;
    // Grown as policies arrive: a lying count cannot make us allocate ahead.
    let mut entries = Vec::new();
    for _ in 0..n {
        let name = bytes()?;
        let text = bytes()?;
        let version = word()?;
        if !valid_name(&name) {
            return Err("a policy name is invalid".into());
        }
        let policy = Policy::parse(&text, &limits).map_err(|e| e.to_string())?;
        entries.push((name, Entry { policy, version }));
    }
    Ok(Store::restore(entries, changes))
}
