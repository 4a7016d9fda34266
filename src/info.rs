//! The `ratelimit` INFO section (`INFO ratelimit`, `INFO everything`): the RL.STATS
//! counters and latency percentiles, named the INFO way (Redis prefixes each field
//! with `ratelimit_`).

use std::ffi::CString;
use std::os::raw::c_int;

use redis_module::raw;

use crate::panic::guard;
use crate::stats::{report, Value};

/// The module's INFO callback.
///
/// # Safety
/// Called by Redis with a live info context.
pub unsafe extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, for_crash_report: c_int) {
    if for_crash_report != 0 {
        // A crash report runs in a signal handler: allocate nothing, touch no state.
        return;
    }
    guard((), || {
        crate::resetstat::settle();
        let add_section = raw::RedisModule_InfoAddSection.unwrap();
        let add_count = raw::RedisModule_InfoAddFieldULongLong.unwrap();
        let add_text = raw::RedisModule_InfoAddFieldCString.unwrap();
        // A null name: the section is the module's own, `# ratelimit`.
        add_section(ctx, std::ptr::null());
        for (name, value) in report() {
            let Ok(name) = CString::new(name) else {
                continue;
            };
            match value {
                Value::Count(v) => add_count(ctx, name.as_ptr(), v),
                // Three decimals: the histograms resolve nanoseconds.
                Value::Micros(v) => {
                    let text = CString::new(format!("{v:.3}")).unwrap_or_default();
                    add_text(ctx, name.as_ptr(), text.as_ptr().cast_mut())
                }
                Value::Text(t) => {
                    let text = CString::new(t).unwrap_or_default();
                    add_text(ctx, name.as_ptr(), text.as_ptr().cast_mut())
                }
            };
        }
    })
}
