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
        // SAFETY: the API pointers are written once by RedisModule_Init, then only read;
        // the INFO API exists on every server the module loads on (7.0+).
        let (add_section, add_count, add_text) = unsafe {
            (
                raw::RedisModule_InfoAddSection.unwrap(),
                raw::RedisModule_InfoAddFieldULongLong.unwrap(),
                raw::RedisModule_InfoAddFieldCString.unwrap(),
            )
        };
        // A null name: the section is the module's own, `# ratelimit`.
        // SAFETY: ctx is the live info context (the caller's contract).
        unsafe { add_section(ctx, std::ptr::null()) };
        for (name, value) in report() {
            let Ok(name) = CString::new(name) else {
                continue;
            };
            // Three decimals: the histograms resolve nanoseconds.
            let text = match value {
                Value::Count(_) => None,
                Value::Micros(v) => Some(CString::new(format!("{v:.3}")).unwrap_or_default()),
                Value::Text(t) => Some(CString::new(t).unwrap_or_default()),
            };
            // SAFETY: ctx is live; Redis copies the NUL-terminated name and text.
            unsafe {
                match (value, text) {
                    (Value::Count(v), _) => add_count(ctx, name.as_ptr(), v),
                    (_, Some(text)) => add_text(ctx, name.as_ptr(), text.as_ptr().cast_mut()),
                    (_, None) => continue,
                }
            };
        }
    })
}
