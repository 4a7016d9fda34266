//! Property tests of FIXED_WINDOW, SLIDING_WINDOW and SLIDING_LOG against naive models,
//! and of the sliding window's documented error bound.

use proptest::prelude::*;
use redis_ratelimit::algorithms::{Algorithm, Decision, Quota};
#[path = "support/core.rs"]
mod limiter;
use redis_ratelimit::types::limiter::Limiter;

const WINDOWS: [Algorithm; 3] = [
    Algorithm::FixedWindow,
    Algorithm::SlidingWindow,
    Algorithm::SlidingLog,
];

fn quota(limit: u64, period: u64) -> Quota {
    Quota::new(limit, period, limit).unwrap()
}

use limiter::req;

/// Runs `(advance, cost)` steps from `start` and returns each step's time and decision.
fn run(
    algorithm: Algorithm,
    q: Quota,
    start: u64,
    steps: &[(u64, u64)],
) -> Vec<(u64, u64, Decision)> {
    let mut slot: Option<Limiter> = None;
    let mut now = start;
    steps
        .iter()
        .map(|&(dt, cost)| {
            now += dt;
            (
                now,
                cost,
                limiter::check(&mut slot, &req(algorithm, q, cost), now).unwrap(),
            )
        })
        .collect()
}

/// Units admitted at times in `(from, to]`.
fn admitted_in(trace: &[(u64, u64, Decision)], from: u64, to: u64) -> u64 {
    trace
        .iter()
        .filter(|(t, _, d)| d.allowed && *t > from && *t <= to)
        .map(|(_, c, _)| c)
        .sum()
}

fn steps() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0u64..120, 1u64..6), 1..80)
}

proptest! {
    #[test]
    fn sliding_log_admits_exactly_what_an_exact_log_admits(
        limit in 1u64..12, period in 1u64..300, start in 0u64..10_000, steps in steps(),
    ) {
        let q = quota(limit, period);
        let trace = run(Algorithm::SlidingLog, q, start, &steps);
        for (i, (t, cost, d)) in trace.iter().enumerate() {
            // The reference: units admitted before this step within (t - P, t].
            let used = admitted_in(&trace[..i], t.saturating_sub(period), *t);
            prop_assert_eq!(d.allowed, *cost <= limit && used + cost <= limit, "step {}", i);
            prop_assert_eq!(d.remaining, limit.saturating_sub(used + if d.allowed { *cost } else { 0 }));
        }
    }

    #[test]
    fn fixed_window_admits_exactly_limit_per_aligned_window(
        limit in 1u64..12, period in 1u64..300, start in 0u64..10_000, steps in steps(),
    ) {
        let q = quota(limit, period);
        let trace = run(Algorithm::FixedWindow, q, start, &steps);
        for (i, (t, cost, d)) in trace.iter().enumerate() {
            let window = t - t % period;
            let used = admitted_in(&trace[..i], window.saturating_sub(1), *t);
            let used = if window == 0 { used + admitted_in(&trace[..i], 0, 0) } else { used };
            prop_assert_eq!(d.allowed, *cost <= limit && used + cost <= limit, "step {}", i);
        }
    }

    #[test]
    fn sliding_window_stays_within_its_documented_bound(
        limit in 1u64..12, period in 1u64..300, start in 0u64..10_000, steps in steps(),
    ) {
        let q = quota(limit, period);
        let trace = run(Algorithm::SlidingWindow, q, start, &steps);
        for (t, _, _) in &trace {
            // Any interval of one period: fewer than twice the limit.
            prop_assert!(admitted_in(&trace, t.saturating_sub(period), *t) < 2 * limit);
            // Each aligned window: at most the limit.
            let w = t - t % period;
            let in_window: u64 = trace
                .iter()
                .filter(|(u, _, d)| d.allowed && u - u % period == w)
                .map(|(_, c, _)| c)
                .sum();
            prop_assert!(in_window <= limit);
        }
    }

    #[test]
    fn window_retries_are_exact(
        algorithm in prop::sample::select(WINDOWS.to_vec()),
        limit in 1u64..12, period in 1u64..300, start in 0u64..10_000, steps in steps(),
    ) {
        let q = quota(limit, period);
        let mut slot: Option<Limiter> = None;
        let mut now = start;
        for (dt, cost) in steps {
            now += dt;
            let r = req(algorithm, q, cost);
            let before = slot.clone();
            let d = limiter::check(&mut slot, &r, now).unwrap();
            if d.allowed {
                prop_assert!(d.reset_after_ms >= 1);
            } else if d.retry_after_ms > 0 {
                let at = now + d.retry_after_ms as u64;
                prop_assert!(limiter::check(&mut before.clone(), &r, at).unwrap().allowed);
                prop_assert!(!limiter::check(&mut before.clone(), &r, at - 1).unwrap().allowed);
            } else {
                prop_assert_eq!(d.retry_after_ms, -1);
                prop_assert!(cost > limit);
            }
        }
    }

    #[test]
    fn a_denied_check_changes_only_the_denied_total(
        algorithm in prop::sample::select(WINDOWS.to_vec()),
        limit in 1u64..6, period in 1u64..300, steps in steps(),
    ) {
        let q = quota(limit, period);
        let mut slot: Option<Limiter> = None;
        let mut now = 1_000;
        for (dt, cost) in steps {
            now += dt;
            let before = slot.clone();
            let d = limiter::check(&mut slot, &req(algorithm, q, cost), now).unwrap();
            if !d.allowed {
                match (&before, &slot) {
                    (None, after) => prop_assert!(after.is_none()),
                    (Some(b), Some(a)) => {
                        prop_assert_eq!(&b.state, &a.state);
                        prop_assert_eq!(a.totals.denied, b.totals.denied + cost);
                        prop_assert_eq!(a.totals.admitted, b.totals.admitted);
                    }
                    (Some(_), None) => prop_assert!(false, "key vanished"),
                }
            }
        }
    }

    #[test]
    fn large_values_compute_without_panic(
        algorithm in prop::sample::select(WINDOWS.to_vec()),
        limit in 1u64..=i64::MAX as u64,
        period in 1u64..=i64::MAX as u64,
        times in prop::collection::vec((any::<u64>(), 1u64..=i64::MAX as u64), 1..10),
    ) {
        // Logs are capped by configuration (and by period); the parser enforces it.
        let (limit, period) = if algorithm == Algorithm::SlidingLog {
            (limit % 50 + 1, period % u64::from(u32::MAX) + 1)
        } else {
            (limit, period)
        };
        let q = quota(limit, period);
        let mut slot: Option<Limiter> = None;
        for (now, cost) in times {
            let cost = if algorithm == Algorithm::SlidingLog { cost % 60 + 1 } else { cost };
            let d = limiter::check(&mut slot, &req(algorithm, q, cost), now % (i64::MAX as u64)).unwrap();
            prop_assert!(d.reset_after_ms >= 0 && d.remaining <= limit);
        }
    }
}

#[test]
fn sliding_window_bound_is_reached_by_late_then_early_traffic() {
    // The limit at the very end of one window, then near the end of the next: the
    // previous window weighs 2/1000 there, so 9 more fit, 19 within one period.
    let q = quota(10, 1000);
    let mut steps = vec![(999, 10), (999, 1)];
    steps.extend([(0, 1); 9]);
    let trace = run(Algorithm::SlidingWindow, q, 0, &steps);
    assert_eq!(admitted_in(&trace, 998, 1998), 19);
}
