//! `CONFIG RESETSTAT` also clears the module's counters.
//!
//! Redis 7.0 has no module event for it, so the command filter (`filter.rs`) notices it as it
//! arrives, before the server has checked ACLs or run it. The reset is then settled
//! lazily, before the next RL command or INFO callback, which are the only ways to read
//! or move the counters: it happens only if the server really ran the command, which the
//! server's own statistics for `config|resetstat` tell. RESETSTAT zeroes them and then
//! counts its own call, so a run reset leaves `calls=1,rejected_calls=0,failed_calls=0`,
//! while a refused one (ACL, NOAUTH, arity) leaves a non-zero `rejected_calls`.
//!
//! Known gap: inside MULTI the filter sees the command when it is queued; an RL command
//! run between the queueing and EXEC settles the reset early.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use redis_module::raw;

static PENDING: AtomicBool = AtomicBool::new(false);

/// Marks a `CONFIG RESETSTAT` as seen; called by the command filter (`filter.rs`).
pub fn mark_pending() {
    PENDING.store(true, Relaxed);
}

/// Clears the module's counters if a `CONFIG RESETSTAT` ran since the filter saw one.
/// Called before every RL command and by the INFO callback.
pub fn settle() {
    // A plain load first: the hot path of every RL command pays no atomic swap.
    if PENDING.load(Relaxed) && PENDING.swap(false, Relaxed) && server_ran_resetstat() {
        crate::stats::reset_all();
    }
}

/// Whether the server's statistics show a RESETSTAT that ran and nothing since.
fn server_ran_resetstat() -> bool {
    // SAFETY: a null context is allowed (no automatic memory); the data is freed below.
    unsafe {
        let (Some(get), Some(field), Some(free)) = (
            raw::RedisModule_GetServerInfo,
            raw::RedisModule_ServerInfoGetFieldC,
            raw::RedisModule_FreeServerInfo,
        ) else {
            return false;
        };
        let data = get(std::ptr::null_mut(), c"commandstats".as_ptr());
        if data.is_null() {
            return false;
        }
        let value = field(data, c"cmdstat_config|resetstat".as_ptr());
        let ran = !value.is_null() && ran_alone(std::ffi::CStr::from_ptr(value).to_bytes());
        free(std::ptr::null_mut(), data);
        ran
    }
}

/// Parses `calls=1,usec=..,usec_per_call=..,rejected_calls=0,failed_calls=0`.
fn ran_alone(stats: &[u8]) -> bool {
    let get = |name: &[u8]| {
        stats.split(|&b| b == b',').find_map(|kv| {
            let v = kv.strip_prefix(name)?.strip_prefix(b"=")?;
            std::str::from_utf8(v).ok()?.parse::<u64>().ok()
        })
    };
    get(b"calls") == Some(1)
        && get(b"rejected_calls").unwrap_or(0) == 0
        && get(b"failed_calls").unwrap_or(0) == 0
}

#[cfg(test)]
mod tests {
    use super::ran_alone;

    #[test]
    fn a_run_reset_is_told_from_a_refused_one() {
        assert!(ran_alone(
            b"calls=1,usec=4,usec_per_call=4.00,rejected_calls=0,failed_calls=0"
        ));
        assert!(!ran_alone(
            b"calls=1,usec=4,usec_per_call=4.00,rejected_calls=1,failed_calls=0"
        ));
        assert!(!ran_alone(
            b"calls=3,usec=4,usec_per_call=1.33,rejected_calls=0,failed_calls=0"
        ));
        assert!(!ran_alone(b"usec=4"));
    }
}
