//! Fixed window: a counter per window aligned to multiples of `period_ms` since the
//! Unix epoch. At most `limit` units per window.

use super::{Decision, Quota};

/// The current window's start and the units admitted in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedWindow {
    /// Unix ms of the window's start, a multiple of `period_ms`.
    pub start_ms: u64,
    /// Units admitted in the window.
    pub count: u64,
}

/// The start of the aligned window containing `now_ms`.
pub fn window_start(q: &Quota, now_ms: u64) -> u64 {
    now_ms - now_ms % q.period_ms()
}

/// The window to count in: the stored one if it is current (or, after the clock
/// stepped back, later than now), otherwise a fresh one.
fn current(state: Option<&FixedWindow>, q: &Quota, now_ms: u64) -> FixedWindow {
    let start = window_start(q, now_ms);
    match state {
        Some(s) if s.start_ms >= start => *s,
        _ => FixedWindow {
            start_ms: start,
            count: 0,
        },
    }
}

/// Evaluates one request of `cost` units; a denied request returns no new state.
pub fn check(
    state: Option<&FixedWindow>,
    q: &Quota,
    now_ms: u64,
    cost: u64,
) -> (Decision, Option<FixedWindow>) {
    let w = current(state, q, now_ms);
    let until_end = w
        .start_ms
        .saturating_add(q.period_ms())
        .saturating_sub(now_ms);
    let until_end = until_end.min(i64::MAX as u64) as i64;
    let fits = cost <= q.limit() && w.count.saturating_add(cost) <= q.limit();
    if !fits {
        let d = Decision {
            allowed: false,
            limit: q.limit(),
            remaining: q.limit().saturating_sub(w.count),
            retry_after_ms: if cost > q.limit() { -1 } else { until_end },
            reset_after_ms: if w.count > 0 { until_end } else { 0 },
        };
        return (d, None);
    }
    let after = FixedWindow {
        start_ms: w.start_ms,
        count: w.count + cost,
    };
    let d = Decision {
        allowed: true,
        limit: q.limit(),
        remaining: q.limit() - after.count,
        retry_after_ms: -1,
        // An empty window (only after a cost-0 preview) is already rested.
        reset_after_ms: if after.count > 0 { until_end } else { 0 },
    };
    (d, Some(after))
}

/// Re-expresses a window kept under quota `old` for quota `new`: while the old window
/// has not ended, the units it admitted stay counted in the new current window.
pub fn convert(state: &FixedWindow, old: &Quota, new: &Quota, now_ms: u64) -> FixedWindow {
    let live = state.start_ms.saturating_add(old.period_ms()) > now_ms;
    FixedWindow {
        start_ms: window_start(new, now_ms),
        count: if live { state.count } else { 0 },
    }
}

/// Gives back up to `units` at `now_ms`, only to the window they were charged in: a
/// window that has ended gives nothing back. Returns the new state and the units given.
pub fn refund(state: &FixedWindow, q: &Quota, now_ms: u64, units: u64) -> (FixedWindow, u64) {
    if state.start_ms != window_start(q, now_ms) {
        return (*state, 0);
    }
    let given = state.count.min(units);
    let after = FixedWindow {
        start_ms: state.start_ms,
        count: state.count - given,
    };
    (after, given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: u64, period: u64) -> Quota {
        Quota::new(limit, period, limit).unwrap()
    }

    #[test]
    fn counts_per_aligned_window_and_resets_at_the_boundary() {
        let quota = q(2, 1000);
        let mut s = None;
        let mut got = vec![];
        for now in [10_250, 10_300, 10_999, 11_000] {
            let (d, next) = check(s.as_ref(), &quota, now, 1);
            got.push((d.allowed, d.remaining, d.retry_after_ms, d.reset_after_ms));
            s = next.or(s);
        }
        assert_eq!(
            got,
            vec![
                (true, 1, -1, 750),
                (true, 0, -1, 700),
                (false, 0, 1, 1),
                (true, 1, -1, 1000)
            ]
        );
    }

    #[test]
    fn cost_above_limit_never_fits() {
        let (d, s) = check(None, &q(3, 1000), 0, 4);
        assert_eq!(
            (d.allowed, d.retry_after_ms, d.reset_after_ms),
            (false, -1, 0)
        );
        assert!(s.is_none());
    }

    #[test]
    fn clock_stepping_back_keeps_counting_in_the_later_window() {
        let quota = q(1, 1000);
        let (_, s) = check(None, &quota, 5_500, 1);
        let (d, _) = check(s.as_ref(), &quota, 4_200, 1);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 1_800));
    }

    #[test]
    fn a_shorter_period_keeps_the_live_count() {
        let (_, s) = check(None, &q(10, 60_000), 1_000, 8);
        let s = convert(&s.unwrap(), &q(10, 60_000), &q(5, 1_000), 1_500);
        assert_eq!(
            s,
            FixedWindow {
                start_ms: 1_000,
                count: 8
            }
        );
        let (d, _) = check(Some(&s), &q(5, 1_000), 1_500, 1);
        assert!(!d.allowed);
        let (d, _) = check(Some(&s), &q(5, 1_000), 2_000, 1);
        assert!(d.allowed);
    }
}
