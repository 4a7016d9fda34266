//! Sliding window: the two-window weighted counter, O(1) memory.
//!
//! Windows are aligned like FIXED_WINDOW. With `e` the time since the current window
//! started, the estimate of units in the last `period_ms` is
//! `previous * (P - e) / P + current`; a request fits if `estimate + cost <= limit`.
//! Everything is computed times `P`, in 128-bit integers, so nothing is rounded.
//!
//! Accuracy against an exact sliding log (proved by a property test): each aligned
//! window admits at most `limit`, and any interval of length `P` admits at most
//! `2 * limit - 1` units (when the previous window's units came late in it). It can
//! also deny where an exact log would admit (when they came early).

use super::fixed_window::window_start;
use super::{clamp_i64, Decision, Quota};

/// Counts of the current aligned window and the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Unix ms of the current window's start, a multiple of `period_ms`.
    pub start_ms: u64,
    /// Units admitted in the previous window.
    pub previous: u64,
    /// Units admitted in the current window.
    pub current: u64,
}

/// Rolls the stored counts forward to the window containing `now_ms`. A clock behind
/// the stored window keeps the stored window.
fn roll(state: Option<&SlidingWindow>, q: &Quota, now_ms: u64) -> SlidingWindow {
    let start = window_start(q, now_ms);
    let fresh = SlidingWindow {
        start_ms: start,
        previous: 0,
        current: 0,
    };
    match state {
        None => fresh,
        Some(s) if s.start_ms >= start => *s,
        Some(s) if s.start_ms.saturating_add(q.period_ms()) == start => SlidingWindow {
            start_ms: start,
            previous: s.current,
            current: 0,
        },
        Some(_) => fresh,
    }
}

/// Evaluates one request of `cost` units; a denied request returns no new state.
pub fn check(
    state: Option<&SlidingWindow>,
    q: &Quota,
    now_ms: u64,
    cost: u64,
) -> (Decision, Option<SlidingWindow>) {
    let w = roll(state, q, now_ms);
    let p = u128::from(q.period_ms());
    let limit = u128::from(q.limit());
    // Evaluate at the window's time if the clock is behind it; report from `now`.
    let at = now_ms.max(w.start_ms);
    let lag = u128::from(at - now_ms);
    let e = u128::from(at - w.start_ms);
    let used = |s: &SlidingWindow| {
        (u128::from(s.previous) * (p - e)).saturating_add(u128::from(s.current) * p)
    };
    let remaining = |s: &SlidingWindow| ((limit * p).saturating_sub(used(s)) / p) as u64;
    let reset = |s: &SlidingWindow| {
        let r = if s.current > 0 {
            2 * p - e
        } else if s.previous > 0 {
            p - e
        } else {
            return 0;
        };
        clamp_i64(r + lag)
    };
    let cost_p = u128::from(cost) * p;
    if cost > q.limit() || used(&w).saturating_add(cost_p) > limit * p {
        let retry = if cost > q.limit() {
            -1
        } else {
            clamp_i64(wait(&w, q, e, cost) + lag)
        };
        let d = Decision {
            allowed: false,
            limit: q.limit(),
            remaining: remaining(&w),
            retry_after_ms: retry,
            reset_after_ms: reset(&w),
        };
        return (d, None);
    }
    let after = SlidingWindow {
        current: w.current + cost,
        ..w
    };
    let d = Decision {
        allowed: true,
        limit: q.limit(),
        remaining: remaining(&after),
        retry_after_ms: -1,
        reset_after_ms: reset(&after),
    };
    (d, Some(after))
}

/// The smallest wait after which `cost <= limit` units fit, from `e` ms into the window.
fn wait(w: &SlidingWindow, q: &Quota, e: u128, cost: u64) -> u128 {
    let p = u128::from(q.period_ms());
    let (limit, cost) = (u128::from(q.limit()), u128::from(cost));
    let (prev, curr) = (u128::from(w.previous), u128::from(w.current));
    // Later in this window: prev * (P - e - x) <= (limit - curr - cost) * P.
    if curr + cost <= limit && prev > 0 {
        let slack = (limit - curr - cost) * p / prev;
        let x = (p - e).saturating_sub(slack);
        if x < p - e {
            return x;
        }
    }
    // In the next window, current becomes previous: curr * (P - y) <= (limit - cost) * P.
    let y = ((limit - cost) * p)
        .checked_div(curr)
        .map_or(0, |room| p.saturating_sub(room));
    if y < p {
        return p - e + y;
    }
    // The window after that starts empty.
    2 * p - e
}

/// Re-expresses counts kept under quota `old` for quota `new`. Only a new period needs
/// it: the current estimate, rounded up, becomes the new current window's count.
pub fn convert(state: &SlidingWindow, old: &Quota, new: &Quota, now_ms: u64) -> SlidingWindow {
    if old.period_ms() == new.period_ms() {
        return *state;
    }
    let w = roll(Some(state), old, now_ms);
    let p = u128::from(old.period_ms());
    let e = u128::from(now_ms.max(w.start_ms) - w.start_ms);
    let used = (u128::from(w.previous) * (p - e)).saturating_add(u128::from(w.current) * p);
    SlidingWindow {
        start_ms: window_start(new, now_ms),
        previous: 0,
        current: super::div_ceil(used, p).min(u128::from(u64::MAX)) as u64,
    }
}

/// Gives back up to `units` at `now_ms` to the current window's count only: units
/// charged in a window that has ended stay counted. Returns the new state and the
/// units given back.
pub fn refund(state: &SlidingWindow, q: &Quota, now_ms: u64, units: u64) -> (SlidingWindow, u64) {
    if state.start_ms != window_start(q, now_ms) {
        return (*state, 0);
    }
    let given = state.current.min(units);
    let after = SlidingWindow {
        current: state.current - given,
        ..*state
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
    fn previous_window_weighs_less_as_the_current_one_advances() {
        let quota = q(10, 1000);
        let mut s = None;
        for _ in 0..10 {
            s = check(s.as_ref(), &quota, 500, 1).1.or(s);
        }
        // At 1250: estimate = 10 * 750/1000 = 7.5, so 2 more fit (9.5), a third does not.
        let (d, s2) = check(s.as_ref(), &quota, 1250, 2);
        assert_eq!((d.allowed, d.remaining), (true, 0));
        let (d, _) = check(s2.as_ref(), &quota, 1250, 1);
        assert!(!d.allowed);
        // 10 * (P - e - x)/P + 2 + 1 <= 10  <=>  x >= 50.
        assert_eq!(d.retry_after_ms, 50);
        assert!(check(s2.as_ref(), &quota, 1300, 1).0.allowed);
        assert!(!check(s2.as_ref(), &quota, 1299, 1).0.allowed);
        assert_eq!(d.reset_after_ms, 1750);
    }

    #[test]
    fn a_full_current_window_waits_into_the_next_one() {
        let quota = q(4, 100);
        let (_, s) = check(None, &quota, 0, 4);
        let (d, _) = check(s.as_ref(), &quota, 10, 2);
        // Next window: 4 * (100 - y)/100 <= 2  <=>  y >= 50, so 90 + 50.
        assert_eq!(d.retry_after_ms, 140);
        assert!(check(s.as_ref(), &quota, 150, 2).0.allowed);
        assert!(!check(s.as_ref(), &quota, 149, 2).0.allowed);
    }

    #[test]
    fn cost_above_limit_never_fits() {
        let (d, _) = check(None, &q(3, 1000), 0, 4);
        assert_eq!((d.allowed, d.retry_after_ms), (false, -1));
    }
}
