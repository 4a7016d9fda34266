//! Module-wide counters since load, read by RL.STATS.
//!
//! Relaxed atomics: commands run on Redis's main thread, the atomics only make the
//! statics safe to share and cost the same as plain adds there.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::algorithms::Algorithm;
use crate::commands::Command;

const N: usize = Algorithm::ALL.len();
const C: usize = Command::ALL.len();

struct PerAlgorithm {
    allowed: [AtomicU64; N],
    denied: [AtomicU64; N],
    errors: [AtomicU64; N],
}

static PER_ALGORITHM: PerAlgorithm = PerAlgorithm {
    allowed: [const { AtomicU64::new(0) }; N],
    denied: [const { AtomicU64::new(0) }; N],
    errors: [const { AtomicU64::new(0) }; N],
};
/// Per command: calls, error replies, and for commands that decide, allowed and denied.
struct PerCommand {
    calls: [AtomicU64; C],
    errors: [AtomicU64; C],
    allowed: [AtomicU64; C],
    denied: [AtomicU64; C],
}

static PER_COMMAND: PerCommand = PerCommand {
    calls: [const { AtomicU64::new(0) }; C],
    errors: [const { AtomicU64::new(0) }; C],
    allowed: [const { AtomicU64::new(0) }; C],
    denied: [const { AtomicU64::new(0) }; C],
};
/// Requests shadow mode admitted that enforcement would have denied.
static SHADOW_DENIED: AtomicU64 = AtomicU64::new(0);

/// Counts one request shadow mode admitted that enforcement would have denied.
pub fn record_shadow_denied() {
    SHADOW_DENIED.fetch_add(1, Relaxed);
}

/// Live limiter keys per algorithm: moved only by the type's create and free paths.
static LIVE: [AtomicI64; N] = [const { AtomicI64::new(0) }; N];
/// Live keys holding only a block (RL.BLOCK on a missing key): no algorithm yet.
static LIVE_BLOCKED: AtomicI64 = AtomicI64::new(0);

/// Counts a limiter value coming into existence (+1) or being freed (-1); `None`: a
/// key holding only a block.
pub fn record_live(algorithm: Option<Algorithm>, delta: i64) {
    match algorithm {
        Some(a) => LIVE[a.index()].fetch_add(delta, Relaxed),
        None => LIVE_BLOCKED.fetch_add(delta, Relaxed),
    };
}

fn live(algorithm: Algorithm) -> u64 {
    LIVE[algorithm.index()].load(Relaxed).max(0) as u64
}

/// Counts one evaluated check.
pub fn record_check(algorithm: Algorithm, allowed: bool) {
    let table = if allowed {
        &PER_ALGORITHM.allowed
    } else {
        &PER_ALGORITHM.denied
    };
    table[algorithm.index()].fetch_add(1, Relaxed);
}

/// Counts one call of `cmd`, and whether it replied an error.
pub fn record_call(cmd: Command, error: bool) {
    PER_COMMAND.calls[cmd as usize].fetch_add(1, Relaxed);
    if error {
        PER_COMMAND.errors[cmd as usize].fetch_add(1, Relaxed);
    }
}

/// Counts the decision a command replied (RL.MCHECK: its overall decision).
pub fn record_decision(cmd: Command, allowed: bool) {
    let table = if allowed {
        &PER_COMMAND.allowed
    } else {
        &PER_COMMAND.denied
    };
    table[cmd as usize].fetch_add(1, Relaxed);
}

/// Also counts an error against the algorithm the failed check named.
pub fn record_algorithm_error(algorithm: Algorithm) {
    PER_ALGORITHM.errors[algorithm.index()].fetch_add(1, Relaxed);
}

/// Sets every counter back to zero (`RL.STATS RESET`, `CONFIG RESETSTAT`); live keys
/// are a gauge, not a counter, and stay.
pub fn reset() {
    for t in [
        &PER_ALGORITHM.allowed,
        &PER_ALGORITHM.denied,
        &PER_ALGORITHM.errors,
    ] {
        t.iter().for_each(|c| c.store(0, Relaxed));
    }
    for t in [
        &PER_COMMAND.calls,
        &PER_COMMAND.errors,
        &PER_COMMAND.allowed,
        &PER_COMMAND.denied,
    ] {
        t.iter().for_each(|c| c.store(0, Relaxed));
    }
    SHADOW_DENIED.store(0, Relaxed);
}

/// Clears everything RL.STATS reports but the gauges: counters, latency histograms and
/// the most-denied keys.
pub fn reset_all() {
    reset();
    crate::latency::reset();
    crate::top_denied::clear();
}

/// A point-in-time copy of the counters, as `(name, value)` pairs in reply order.
pub fn snapshot() -> Vec<(&'static str, u64)> {
    let get = |t: &[AtomicU64; N], a: Algorithm| t[a.index()].load(Relaxed);
    let sum = |t: &[AtomicU64; N]| Algorithm::ALL.iter().map(|&a| get(t, a)).sum::<u64>();
    let allowed = sum(&PER_ALGORITHM.allowed);
    let denied = sum(&PER_ALGORITHM.denied);
    let mut out = vec![
        ("checks", allowed + denied),
        ("allowed", allowed),
        ("denied", denied),
        (
            "errors",
            PER_COMMAND.errors.iter().map(|c| c.load(Relaxed)).sum(),
        ),
        (
            "keys",
            Algorithm::ALL.iter().map(|&a| live(a)).sum::<u64>()
                + LIVE_BLOCKED.load(Relaxed).max(0) as u64,
        ),
    ];
    for a in Algorithm::ALL {
        let (allowed, denied) = (
            get(&PER_ALGORITHM.allowed, a),
            get(&PER_ALGORITHM.denied, a),
        );
        let values = [
            allowed + denied,
            allowed,
            denied,
            get(&PER_ALGORITHM.errors, a),
            live(a),
        ];
        out.extend(names(a).into_iter().zip(values));
    }
    out.push(("shadow_denied", SHADOW_DENIED.load(Relaxed)));
    out
}

/// The counter names of one algorithm.
fn names(a: Algorithm) -> [&'static str; 5] {
    macro_rules! five {
        ($p:literal) => {
            [
                concat!($p, "_checks"),
                concat!($p, "_allowed"),
                concat!($p, "_denied"),
                concat!($p, "_errors"),
                concat!($p, "_keys"),
            ]
        };
    }
    match a {
        Algorithm::TokenBucket => five!("token_bucket"),
        Algorithm::Gcra => five!("gcra"),
        Algorithm::FixedWindow => five!("fixed_window"),
        Algorithm::SlidingWindow => five!("sliding_window"),
        Algorithm::SlidingLog => five!("sliding_log"),
        Algorithm::Leases => five!("leases"),
        Algorithm::Calendar => five!("calendar"),
        Algorithm::Policy => five!("policies"),
    }
}

/// One reported value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A counter.
    Count(u64),
    /// A latency in microseconds.
    Micros(f64),
    /// A text value (the module's version).
    Text(&'static str),
}

/// The module's version as text; `MODULE_VERSION` is the same number as MODULE LIST shows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything RL.STATS and `INFO ratelimit` report, in order: the version, the
/// counters, then per command its calls, errors, decisions and latency percentiles
/// (`check_calls`, `check_errors`, `check_allowed`, `check_denied`, `check_p99_us`, ...).
pub fn report() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = vec![
        ("version".to_string(), Value::Text(VERSION)),
        (
            "module_version".to_string(),
            Value::Count(crate::MODULE_VERSION as u64),
        ),
    ];
    out.extend(
        snapshot()
            .into_iter()
            .map(|(n, v)| (n.to_string(), Value::Count(v))),
    );
    for cmd in Command::ALL.into_iter().filter(|c| c.reported()) {
        let s = crate::latency::summary(cmd);
        let name = cmd.name();
        let i = cmd as usize;
        let get = |t: &[AtomicU64; C]| Value::Count(t[i].load(Relaxed));
        out.push((format!("{name}_calls"), get(&PER_COMMAND.calls)));
        out.push((format!("{name}_errors"), get(&PER_COMMAND.errors)));
        if cmd.decides() {
            out.push((format!("{name}_allowed"), get(&PER_COMMAND.allowed)));
            out.push((format!("{name}_denied"), get(&PER_COMMAND.denied)));
        }
        for (suffix, v) in [
            ("p50", s.p50_us),
            ("p90", s.p90_us),
            ("p99", s.p99_us),
            ("p999", s.p999_us),
            ("max", s.max_us),
        ] {
            out.push((format!("{name}_{suffix}_us"), Value::Micros(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_version_number_matches_the_crate_version() {
        let parts: Vec<i32> = VERSION.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            crate::MODULE_VERSION,
            parts[0] * 10000 + parts[1] * 100 + parts[2]
        );
    }

    #[test]
    fn per_command_counters_add_up_and_reset_clears_them_but_not_live_keys() {
        reset();
        record_live(Some(Algorithm::Gcra), 2);
        record_call(Command::Check, false);
        record_call(Command::Check, true);
        record_call(Command::Peek, true);
        record_decision(Command::Check, true);
        record_decision(Command::Mcheck, false);
        let get = |name: &str| {
            report()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(get("check_calls"), Value::Count(2));
        assert_eq!(get("check_errors"), Value::Count(1));
        assert_eq!(get("errors"), Value::Count(2));
        assert_eq!(get("check_allowed"), Value::Count(1));
        assert_eq!(get("mcheck_denied"), Value::Count(1));
        assert!(report().iter().all(|(n, _)| n != "inspect_allowed"));
        reset();
        assert_eq!(get("check_calls"), Value::Count(0));
        assert_eq!(get("errors"), Value::Count(0));
        assert_eq!(get("gcra_keys"), Value::Count(2));
        record_live(Some(Algorithm::Gcra), -2);
    }
}
