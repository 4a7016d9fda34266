//! In-server execution time per command, as HDR histograms (nanosecond resolution,
//! 2 significant digits, 1 ns .. 60 s). Commands run on Redis's main thread, so the
//! histograms live in a thread-local: no locking on the hot path.

use std::cell::RefCell;

use hdrhistogram::Histogram;

pub use crate::commands::Command;

/// Percentiles of one command, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Calls recorded.
    pub calls: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest recorded.
    pub max_us: f64,
}

const MAX_NS: u64 = 60_000_000_000;

thread_local! {
    static HISTOGRAMS: RefCell<Vec<Histogram<u64>>> = RefCell::new(
        Command::ALL
            .iter()
            .filter_map(|_| Histogram::new_with_bounds(1, MAX_NS, 2).ok())
            .collect(),
    );
}

/// Records one execution of `cmd` that took `ns` nanoseconds.
pub fn record(cmd: Command, ns: u64) {
    HISTOGRAMS.with(|h| {
        if let Some(h) = h.borrow_mut().get_mut(cmd as usize) {
            h.saturating_record(ns.clamp(1, MAX_NS));
        }
    });
}

/// The percentiles of `cmd` since load or the last reset.
pub fn summary(cmd: Command) -> Summary {
    HISTOGRAMS.with(|h| {
        h.borrow()
            .get(cmd as usize)
            .map_or_else(Summary::default, |h| {
                let us = |ns: u64| ns as f64 / 1000.0;
                Summary {
                    calls: h.len(),
                    p50_us: us(h.value_at_quantile(0.50)),
                    p90_us: us(h.value_at_quantile(0.90)),
                    p99_us: us(h.value_at_quantile(0.99)),
                    p999_us: us(h.value_at_quantile(0.999)),
                    max_us: us(h.max()),
                }
            })
    })
}

/// Clears every histogram.
pub fn reset() {
    HISTOGRAMS.with(|h| h.borrow_mut().iter_mut().for_each(|h| h.reset()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recorded_times_and_reset_clears_them() {
        reset();
        for ns in 1..=1000u64 {
            record(Command::Check, ns * 1000);
        }
        let s = summary(Command::Check);
        assert_eq!(s.calls, 1000);
        assert!((495.0..=505.0).contains(&s.p50_us), "{s:?}");
        assert!((985.0..=995.0).contains(&s.p99_us), "{s:?}");
        assert!((995.0..=1005.0).contains(&s.max_us), "{s:?}");
        assert_eq!(summary(Command::Peek).calls, 0);
        reset();
        assert_eq!(summary(Command::Check), Summary::default());
    }
}
