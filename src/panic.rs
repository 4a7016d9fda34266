//! Panics never cross into Redis: every entry point runs behind `catch_unwind`, and
//! the hook installed at load writes the panic to the Redis log.

use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

/// Writes a warning line to the Redis log (never as a format string).
pub fn log_warning(msg: &str) {
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: a null context is allowed by RedisModule_Log; "%s" consumes one C string.
    unsafe {
        if let Some(log) = raw::RedisModule_Log {
            log(
                std::ptr::null_mut(),
                c"warning".as_ptr(),
                c"%s".as_ptr(),
                msg.as_ptr(),
            );
        }
    }
}

/// Routes panic reports to the Redis log instead of stderr.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        log_warning(&format!(
            "ratelimit: caught a panic (a bug, please report it): {info}"
        ));
    }));
}

/// Runs `f`, returning `fallback` if it panics.
pub fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}
