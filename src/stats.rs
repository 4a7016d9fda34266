//! Module-wide counters since load, read by RL.STATS.
//!
//! Relaxed atomics: commands run on Redis's main thread, the atomics only make the
//! statics safe to share and cost the same as plain adds there.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::algorithms::Algorithm;

const N: usize = Algorithm::ALL.len();

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
static ERRORS: AtomicU64 = AtomicU64::new(0);
/// Live limiter keys per algorithm: moved only by the type's create and free paths.
static LIVE: [AtomicI64; N] = [const { AtomicI64::new(0) }; N];

/// Counts a limiter value coming into existence (+1) or being freed (-1).
pub fn record_live(algorithm: Algorithm, delta: i64) {
    LIVE[algorithm.index()].fetch_add(delta, Relaxed);
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

/// Counts one error reply from any RL command.
pub fn record_error() {
    ERRORS.fetch_add(1, Relaxed);
}

/// Also counts an error against the algorithm the failed check named.
pub fn record_algorithm_error(algorithm: Algorithm) {
    PER_ALGORITHM.errors[algorithm.index()].fetch_add(1, Relaxed);
}

/// Sets every counter back to zero (`RL.STATS RESET`).
pub fn reset() {
    ERRORS.store(0, Relaxed);
    for t in [
        &PER_ALGORITHM.allowed,
        &PER_ALGORITHM.denied,
        &PER_ALGORITHM.errors,
    ] {
        t.iter().for_each(|c| c.store(0, Relaxed));
    }
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
        ("errors", ERRORS.load(Relaxed)),
        ("keys", Algorithm::ALL.iter().map(|&a| live(a)).sum()),
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
    }
}

/// One reported value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A counter.
    Count(u64),
    /// A latency in microseconds.
    Micros(f64),
}

/// Everything RL.STATS and `INFO ratelimit` report, in order: the counters, then per
/// tracked command its calls and latency percentiles (`check_p99_us`, ...).
pub fn report() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = snapshot()
        .into_iter()
        .map(|(n, v)| (n.to_string(), Value::Count(v)))
        .collect();
    for cmd in crate::latency::Command::ALL {
        let s = crate::latency::summary(cmd);
        let name = cmd.name();
        out.push((format!("{name}_calls"), Value::Count(s.calls)));
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
