//! The `ratelimit` INFO section (`INFO ratelimit`, `INFO everything`): the RL.STATS
//! counters, named the INFO way (Redis prefixes each field with `ratelimit_`).

use std::ffi::CString;
use std::os::raw::c_int;

use redis_module::raw;

use crate::panic::guard;

/// The module's INFO callback.
///
/// # Safety
/// Called by Redis with a live info context.
pub unsafe extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    guard((), || {
        let add_section = raw::RedisModule_InfoAddSection.unwrap();
        let add_field = raw::RedisModule_InfoAddFieldULongLong.unwrap();
        // A null name: the section is the module's own, `# ratelimit`.
        add_section(ctx, std::ptr::null());
        for (name, value) in crate::stats::snapshot() {
            if let Ok(name) = CString::new(name) {
                add_field(ctx, name.as_ptr(), value);
            }
        }
    })
}
