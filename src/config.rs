//! Module configuration: load arguments (`--loadmodule ... name value`) and
//! `CONFIG SET/GET ratelimit.<name>`. Each value lives in an atomic read on the hot path.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

use crate::args::Limits;

/// `ratelimit.sliding-log-max-limit`: the largest `limit` a SLIDING_LOG accepts.
pub static SLIDING_LOG_MAX_LIMIT: AtomicI64 = AtomicI64::new(SLIDING_LOG_MAX_LIMIT_DEFAULT);
/// Default of `sliding-log-max-limit`.
pub const SLIDING_LOG_MAX_LIMIT_DEFAULT: i64 = 10_000;
/// Range of `sliding-log-max-limit` (the upper end is the hard cap of the encoding).
pub const SLIDING_LOG_MAX_LIMIT_RANGE: (i64, i64) = (1, 10_000_000);

/// `ratelimit.cell-compat`: register redis-cell's `CL.THROTTLE` (load time only).
pub static CELL_COMPAT: AtomicBool = AtomicBool::new(false);

/// The limits argument parsing enforces, as configured now.
pub fn limits() -> Limits {
    Limits {
        sliding_log_max_limit: SLIDING_LOG_MAX_LIMIT.load(Relaxed).max(1) as u64,
    }
}

/// Whether CL.THROTTLE is to be registered.
pub fn cell_compat() -> bool {
    CELL_COMPAT.load(Relaxed)
}
