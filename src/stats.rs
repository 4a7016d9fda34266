//! Module-wide counters since load, read by RL.STATS.
//!
//! Relaxed atomics: commands run on Redis's main thread, the atomics only make the
//! statics safe to share and cost the same as plain adds there.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
        ];
        out.extend(names(a).into_iter().zip(values));
    }
    out
}

/// The four counter names of one algorithm.
fn names(a: Algorithm) -> [&'static str; 4] {
    macro_rules! four {
        ($p:literal) => {
            [
                concat!($p, "_checks"),
                concat!($p, "_allowed"),
                concat!($p, "_denied"),
                concat!($p, "_errors"),
            ]
        };
    }
    match a {
        Algorithm::TokenBucket => four!("token_bucket"),
        Algorithm::Gcra => four!("gcra"),
        Algorithm::FixedWindow => four!("fixed_window"),
        Algorithm::SlidingWindow => four!("sliding_window"),
        Algorithm::SlidingLog => four!("sliding_log"),
    }
}
