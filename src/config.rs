//! Module configuration: load arguments (`--loadmodule ... name value`) and
//! `CONFIG SET/GET ratelimit.<name>`. Each value lives in an atomic read on the hot path.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::args::Limits;

/// `ratelimit.sliding-log-max-limit`: the largest `limit` a SLIDING_LOG accepts.
pub static SLIDING_LOG_MAX_LIMIT: AtomicI64 = AtomicI64::new(SLIDING_LOG_MAX_LIMIT_DEFAULT);
/// Default of `sliding-log-max-limit`.
pub const SLIDING_LOG_MAX_LIMIT_DEFAULT: i64 = 10_000;
/// Range of `sliding-log-max-limit` (the upper end is the hard cap of the encoding).
pub const SLIDING_LOG_MAX_LIMIT_RANGE: (i64, i64) = (1, 10_000_000);

/// `ratelimit.cell-compat`: register redis-cell's `CL.THROTTLE` (load time only).
pub static CELL_COMPAT: AtomicBool = AtomicBool::new(false);

/// `ratelimit.deny-notifications`: publish an `rl.denied` keyspace event on denials.
pub static DENY_NOTIFICATIONS: AtomicBool = AtomicBool::new(false);

/// Whether denied checks publish `rl.denied`.
pub fn deny_notifications() -> bool {
    DENY_NOTIFICATIONS.load(Relaxed)
}

/// `ratelimit.latency-tracking`: time every command into the RL.STATS histograms.
pub static LATENCY_TRACKING: AtomicBool = AtomicBool::new(true);

/// Whether command latencies are recorded.
pub fn latency_tracking() -> bool {
    LATENCY_TRACKING.load(Relaxed)
}

/// `ratelimit.top-denied-keys`: how many most-denied keys RL.STATS tracks (0: none).
pub static TOP_DENIED_KEYS: AtomicI64 = AtomicI64::new(TOP_DENIED_KEYS_DEFAULT);
/// Default of `top-denied-keys`.
pub const TOP_DENIED_KEYS_DEFAULT: i64 = 10;
/// Range of `top-denied-keys`.
pub const TOP_DENIED_KEYS_RANGE: (i64, i64) = (0, 1000);

/// The configured size of the most-denied-keys sketch.
pub fn top_denied_keys() -> usize {
    TOP_DENIED_KEYS
        .load(Relaxed)
        .clamp(0, TOP_DENIED_KEYS_RANGE.1) as usize
}

/// `ratelimit.max-leases-per-key`: the most leases one RL.ACQUIRE key holds at once.
pub static MAX_LEASES_PER_KEY: AtomicI64 = AtomicI64::new(MAX_LEASES_PER_KEY_DEFAULT);
/// Default of `max-leases-per-key`.
pub const MAX_LEASES_PER_KEY_DEFAULT: i64 = 1000;
/// Range of `max-leases-per-key` (the upper end is the hard cap of the encoding).
pub const MAX_LEASES_PER_KEY_RANGE: (i64, i64) = (1, crate::algorithms::leases::MAX_LEASES as i64);

/// The configured cap on leases per key.
pub fn max_leases_per_key() -> u64 {
    MAX_LEASES_PER_KEY
        .load(Relaxed)
        .clamp(MAX_LEASES_PER_KEY_RANGE.0, MAX_LEASES_PER_KEY_RANGE.1) as u64
}

/// `ratelimit.max-policies`: the most policies RL.POLICY keeps.
pub static MAX_POLICIES: AtomicI64 = AtomicI64::new(MAX_POLICIES_DEFAULT);
/// Default of `max-policies`.
pub const MAX_POLICIES_DEFAULT: i64 = 10_000;
/// Range of `max-policies`.
pub const MAX_POLICIES_RANGE: (i64, i64) = (0, 1_000_000);

/// The configured cap on policies.
pub fn max_policies() -> usize {
    MAX_POLICIES
        .load(Relaxed)
        .clamp(MAX_POLICIES_RANGE.0, MAX_POLICIES_RANGE.1) as usize
}

/// `ratelimit.policy-file`: the JSON file RL.POLICY RELOAD (and module load) reads;
/// empty: none.
pub static POLICY_FILE: Mutex<String> = Mutex::new(String::new());

/// The configured policy file (empty: none).
pub fn policy_file() -> String {
    POLICY_FILE.lock().map(|s| s.clone()).unwrap_or_default()
}

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

/// Checks module load arguments (`name value` pairs): every name known, every value
/// in range. The module refuses to load otherwise, with this message in the log.
pub fn validate_load_args<A: AsRef<[u8]>>(args: &[A]) -> Result<(), String> {
    if !args.len().is_multiple_of(2) {
        return Err("load arguments must be `name value` pairs".into());
    }
    for pair in args.chunks_exact(2) {
        let (name, value) = (pair[0].as_ref(), pair[1].as_ref());
        let value = std::str::from_utf8(value).unwrap_or("");
        match name {
            b"sliding-log-max-limit" => {
                let (lo, hi) = SLIDING_LOG_MAX_LIMIT_RANGE;
                match value.parse::<i64>() {
                    Ok(v) if (lo..=hi).contains(&v) => {}
                    _ => {
                        return Err(format!(
                            "sliding-log-max-limit must be an integer between {lo} and {hi}"
                        ))
                    }
                }
            }
            b"top-denied-keys" => {
                let (lo, hi) = TOP_DENIED_KEYS_RANGE;
                match value.parse::<i64>() {
                    Ok(v) if (lo..=hi).contains(&v) => {}
                    _ => {
                        return Err(format!(
                            "top-denied-keys must be an integer between {lo} and {hi}"
                        ))
                    }
                }
            }
            b"max-leases-per-key" => {
                let (lo, hi) = MAX_LEASES_PER_KEY_RANGE;
                match value.parse::<i64>() {
                    Ok(v) if (lo..=hi).contains(&v) => {}
                    _ => {
                        return Err(format!(
                            "max-leases-per-key must be an integer between {lo} and {hi}"
                        ))
                    }
                }
            }
            b"max-policies" => {
                let (lo, hi) = MAX_POLICIES_RANGE;
                match value.parse::<i64>() {
                    Ok(v) if (lo..=hi).contains(&v) => {}
                    _ => {
                        return Err(format!(
                            "max-policies must be an integer between {lo} and {hi}"
                        ))
                    }
                }
            }
            b"policy-file" => {}
            b"cell-compat" | b"deny-notifications" | b"latency-tracking" => {
                if value != "yes" && value != "no" {
                    let name = String::from_utf8_lossy(name);
                    return Err(format!("{name} must be yes or no"));
                }
            }
            _ => {
                return Err("unknown load argument; known: sliding-log-max-limit, \
                     top-denied-keys, cell-compat, deny-notifications, latency-tracking, \
                     max-leases-per-key, max-policies, policy-file"
                    .into())
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_arguments_are_checked_by_name_and_range() {
        let ok: &[&[u8]] = &[
            b"sliding-log-max-limit",
            b"500",
            b"cell-compat",
            b"yes",
            b"deny-notifications",
            b"no",
            b"max-leases-per-key",
            b"100000",
            b"max-policies",
            b"0",
            b"policy-file",
            b"/etc/ratelimit/policies.json",
        ];
        assert_eq!(validate_load_args(ok), Ok(()));
        for bad in [
            &[&b"sliding-log-max-limit"[..], b"0"][..],
            &[b"sliding-log-max-limit", b"10000001"],
            &[b"sliding-log-max-limit", b"x"],
            &[b"cell-compat", b"maybe"],
            &[b"max-leases-per-key", b"0"],
            &[b"max-leases-per-key", b"100001"],
            &[b"max-policies", b"1000001"],
            &[b"typo", b"1"],
            &[b"cell-compat"],
        ] {
            assert!(validate_load_args(bad).is_err(), "{bad:?}");
        }
    }
}
