//! GCRA (generic cell rate algorithm), exact in integer arithmetic.
//!
//! Time is counted in units of `1/limit` of a millisecond ("scaled time"), so the
//! emission interval `T = period_ms / limit` is exactly `period_ms` scaled units and
//! the tolerance is `T * burst`. The state is one number: the theoretical arrival time.

use super::{clamp_i64, clamp_u64, div_ceil, Decision, Quota};

/// The largest theoretical arrival time a key may hold, in scaled time.
pub const MAX_TAT: u128 = 1 << 127;

/// A GCRA limiter's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
pub fn check(
    state: Option<&Gcra>,
    q: &Quota,
    now_ms: u64,
    cost: u64,
) -> (Decision, Option<Gcra>) {
    let t = u128::from(q.period_ms());
    let l = u128::from(q.limit());
    let tau = u128::from(q.burst()) * t;
    let debt = debt(state, q, now_ms);
    let remaining = |debt: u128| clamp_u64(tau.saturating_sub(debt) / t);
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
