//! GCRA (generic cell rate algorithm), exact in integer arithmetic.
//!
//! Time is counted in units of `1/limit` of a millisecond ("scaled time"), so the
//! emission interval `T = period_ms / limit` is exactly `period_ms` scaled units and
//! the tolerance is `T * burst`. The state is one number: the theoretical arrival time.

use super::{clamp_i64, clamp_u64, div, div_ceil, Decision, Quota};

/// The largest theoretical arrival time a key may hold, in scaled time.
pub const MAX_TAT: u128 = 1 << 127;

/// A GCRA limiter's state.
// 8-byte alignment keeps the key's value small (an i128 field would force 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(8))]
pub struct Gcra {
    /// Theoretical arrival time: Unix milliseconds times `limit`.
    pub tat: u128,
}

fn scaled_now(q: &Quota, now_ms: u64) -> u128 {
    // now < 2^64 and limit < 2^63: the product fits in u128.
    u128::from(now_ms) * u128::from(q.limit())
}

/// How far the theoretical arrival time is ahead of now, in scaled time.
fn debt(state: Option<&Gcra>, q: &Quota, now_ms: u64) -> u128 {
    state.map_or(0, |s| s.tat.saturating_sub(scaled_now(q, now_ms)))
}

/// Evaluates one request of `cost` units at `now_ms`.
///
/// Returns the decision and, when admitted, the new state. A denied request returns
/// `None`: it consumes nothing and changes nothing. A clock behind the stored state only
/// makes the debt look larger, so it never grants extra capacity.
pub fn check(state: Option<&Gcra>, q: &Quota, now_ms: u64, cost: u64) -> (Decision, Option<Gcra>) {
    let t = u128::from(q.period_ms());
    let l = u128::from(q.limit());
    let tau = u128::from(q.burst()) * t;
    let debt = debt(state, q, now_ms);
    let remaining = |debt: u128| clamp_u64(div(tau.saturating_sub(debt), t));
    let to_full = |debt: u128| clamp_i64(div_ceil(debt, l));
    let new_debt = debt.saturating_add(u128::from(cost).saturating_mul(t));
    if cost > q.burst() || new_debt > tau {
        let retry = if cost > q.burst() {
            -1
        } else {
            clamp_i64(div_ceil(new_debt - tau, l))
        };
        let d = Decision {
            allowed: false,
            limit: q.limit(),
            remaining: remaining(debt),
            retry_after_ms: retry,
            reset_after_ms: to_full(debt),
        };
        return (d, None);
    }
    let d = Decision {
        allowed: true,
        limit: q.limit(),
        remaining: remaining(new_debt),
        retry_after_ms: -1,
        reset_after_ms: to_full(new_debt),
    };
    let tat = scaled_now(q, now_ms).saturating_add(new_debt).min(MAX_TAT);
    (d, Some(Gcra { tat }))
}

/// Re-expresses a state kept under quota `old` for quota `new` at `now_ms`.
///
/// The units already used (debt over `T`, rounded up) stay used under the new quota,
/// so a change of quota never hands out capacity the new quota would not have.
pub fn convert(state: &Gcra, old: &Quota, new: &Quota, now_ms: u64) -> Gcra {
    let used = div_ceil(debt(Some(state), old, now_ms), u128::from(old.period_ms()));
    let tat = scaled_now(new, now_ms)
        .saturating_add(used.saturating_mul(u128::from(new.period_ms())))
        .min(MAX_TAT);
    Gcra { tat }
}

/// Gives back up to `units` at `now_ms`: the theoretical arrival time moves back one
/// emission interval per unit, never before now (what is not owed cannot be given). A
/// unit partly emitted since it was taken counts as one given back, so a check undone at
/// once is undone whole. Returns the new state and the units given back (0 leaves the
/// state as it was).
pub fn refund(state: &Gcra, q: &Quota, now_ms: u64, units: u64) -> (Gcra, u64) {
    let t = u128::from(q.period_ms());
    let debt = debt(Some(state), q, now_ms);
    let owed = debt / t + u128::from(!debt.is_multiple_of(t));
    let given = clamp_u64(owed).min(units);
    if given == 0 {
        return (*state, 0);
    }
    let tat = state.tat - (u128::from(given) * t).min(debt);
    (Gcra { tat }, given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: u64, period: u64, burst: u64) -> Quota {
        Quota::new(limit, period, burst).unwrap()
    }

    #[test]
    fn rested_key_admits_burst_then_spaces_requests_by_the_emission_interval() {
        let quota = q(2, 1000, 2);
        let mut s = None;
        let mut got = vec![];
        for now in [0, 0, 0, 499, 500, 500, 1000] {
            let (d, next) = check(s.as_ref(), &quota, now, 1);
            got.push((d.allowed, d.remaining, d.retry_after_ms, d.reset_after_ms));
            s = next.or(s);
        }
        assert_eq!(
            got,
            vec![
                (true, 1, -1, 500),
                (true, 0, -1, 1000),
                (false, 0, 500, 1000),
                (false, 0, 1, 501),
                (true, 0, -1, 1000),
                (false, 0, 500, 1000),
                (true, 0, -1, 1000),
            ]
        );
    }

    #[test]
    fn state_is_one_theoretical_arrival_time() {
        let quota = q(4, 1000, 4);
        let (_, s) = check(None, &quota, 10, 3);
        // tat = (10 ms + 3 * 250 ms) in units of 1/4 ms.
        let tat = s.unwrap().tat;
        assert_eq!(tat, (10 + 750) * 4);
    }

    #[test]
    fn cost_above_burst_never_fits() {
        let (d, s) = check(None, &q(5, 1000, 3), 0, 4);
        assert_eq!((d.allowed, d.retry_after_ms, d.remaining), (false, -1, 3));
        assert!(s.is_none());
    }

    #[test]
    fn clock_stepping_back_grants_nothing_extra() {
        let quota = q(1, 1000, 1);
        let (_, s) = check(None, &quota, 10_000, 1);
        let (d, _) = check(s.as_ref(), &quota, 1_000, 1);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 10_000));
    }

    #[test]
    fn raising_the_quota_keeps_used_units_used() {
        let old = q(2, 1000, 2);
        let (_, s) = check(None, &old, 0, 2);
        let new = q(10, 1000, 10);
        let s = convert(&s.unwrap(), &old, &new, 0);
        let (d, _) = check(Some(&s), &new, 0, 8);
        assert_eq!((d.allowed, d.remaining), (true, 0));
    }

    #[test]
    fn extreme_values_saturate() {
        let max = i64::MAX as u64;
        let quota = q(max, max, max);
        let (d, s) = check(None, &quota, u64::MAX, max);
        assert!(d.allowed);
        let tat = s.unwrap().tat;
        assert!(tat <= MAX_TAT);
        let (d, _) = check(Some(&Gcra { tat: MAX_TAT }), &q(1, max, 1), 0, 1);
        assert_eq!((d.allowed, d.reset_after_ms), (false, i64::MAX));
    }
}
