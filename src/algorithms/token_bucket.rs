//! Token bucket with continuous refill, exact in integer arithmetic.
//!
//! Tokens are counted in units of `1/period_ms` of a token ("scaled tokens"), so one
//! millisecond refills exactly `limit` scaled tokens and no fraction is ever rounded
//! away. Capacity is `burst * period_ms` scaled tokens.

use super::{clamp_i64, clamp_u64, div, div_ceil, Decision, Quota};

/// The most debt a bucket may carry, in scaled tokens (see [`convert`]).
pub const MIN_TOKENS: i128 = -(1 << 126);

/// A bucket's state: its scaled token count as of `updated_ms`.
///
/// `tokens` is at most the capacity of the bucket's quota. It is negative only after
/// the quota was lowered while the bucket was in use (a debt that refills first).
// 8-byte alignment keeps the key's value small (an i128 field would force 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(8))]
pub struct TokenBucket {
    /// Tokens times `period_ms`.
    pub tokens: i128,
    /// Unix milliseconds of the last change; never moves backwards.
    pub updated_ms: u64,
}

fn capacity(q: &Quota) -> i128 {
    // burst, period <= i64::MAX, so the product is < 2^126.
    i128::from(q.burst()) * i128::from(q.period_ms())
}

/// Brings the bucket forward to `max(now, updated)`; a clock that stepped backwards
/// refills nothing.
fn refill(state: Option<&TokenBucket>, q: &Quota, now_ms: u64) -> TokenBucket {
    let cap = capacity(q);
    match state {
        None => TokenBucket {
            tokens: cap,
            updated_ms: now_ms,
        },
        Some(s) => {
            let t = now_ms.max(s.updated_ms);
            let elapsed = i128::from(t - s.updated_ms);
            let added = elapsed.saturating_mul(i128::from(q.limit()));
            TokenBucket {
                tokens: s.tokens.saturating_add(added).min(cap),
                updated_ms: t,
            }
        }
    }
}

/// Evaluates one request of `cost` units at `now_ms`.
///
/// Returns the decision and, when admitted, the bucket's new state. A denied request
/// returns `None`: it consumes nothing and changes nothing.
pub fn check(
    state: Option<&TokenBucket>,
    q: &Quota,
    now_ms: u64,
    cost: u64,
) -> (Decision, Option<TokenBucket>) {
    let b = refill(state, q, now_ms);
    let period = i128::from(q.period_ms());
    let rate = u128::from(q.limit());
    let cap = capacity(q);
    // Time the state is ahead of the caller's clock; zero unless the clock stepped back.
    let lag = u128::from(b.updated_ms - now_ms);
    let remaining = |tokens: i128| clamp_u64(div(tokens.max(0) as u128, period as u128));
    let to_full = |tokens: i128| {
        let missing = cap.saturating_sub(tokens).max(0) as u128;
        clamp_i64(div_ceil(missing, rate).saturating_add(lag))
    };
    let need = i128::from(cost).saturating_mul(period);
    if cost > q.burst() || b.tokens < need {
        let retry = if cost > q.burst() {
            -1
        } else {
            let missing = need.saturating_sub(b.tokens) as u128;
            clamp_i64(div_ceil(missing, rate).saturating_add(lag))
        };
        let d = Decision {
            allowed: false,
            limit: q.limit(),
            remaining: remaining(b.tokens),
            retry_after_ms: retry,
            reset_after_ms: to_full(b.tokens),
        };
        return (d, None);
    }
    let after = TokenBucket {
        tokens: b.tokens - need,
        updated_ms: b.updated_ms,
    };
    let d = Decision {
        allowed: true,
        limit: q.limit(),
        remaining: remaining(after.tokens),
        retry_after_ms: -1,
        reset_after_ms: to_full(after.tokens),
    };
    (d, Some(after))
}

/// Re-expresses a bucket kept under quota `old` for quota `new` at `now_ms`.
///
/// The units already used (capacity minus tokens, rounded up to whole units) stay used:
/// `tokens = new.burst - used`, which may be a debt when the quota shrank. So a change
/// of quota never hands out capacity that the new quota would not have.
pub fn convert(state: &TokenBucket, old: &Quota, new: &Quota, now_ms: u64) -> TokenBucket {
    let b = refill(Some(state), old, now_ms);
    let used_scaled = capacity(old).saturating_sub(b.tokens).max(0) as u128;
    let used = div_ceil(used_scaled, u128::from(old.period_ms())).min(i128::MAX as u128) as i128;
    let tokens = capacity(new)
        .saturating_sub(used.saturating_mul(i128::from(new.period_ms())))
        .max(MIN_TOKENS);
    TokenBucket {
        tokens,
        updated_ms: b.updated_ms,
    }
}

/// Gives back up to `units` at `now_ms`: the bucket is refilled to now first, then the
/// units are added, never above the burst. A unit partly refilled since it was taken
/// counts as one given back (so a check undone at once is undone whole, whatever
/// refilled in between), and the bucket ends at most full. Returns the new state and
/// the units given back (0 leaves the state as it was).
pub fn refund(state: &TokenBucket, q: &Quota, now_ms: u64, units: u64) -> (TokenBucket, u64) {
    let b = refill(Some(state), q, now_ms);
    let period = i128::from(q.period_ms());
    let missing = capacity(q).saturating_sub(b.tokens).max(0);
    let room = missing / period + i128::from(missing % period != 0);
    let given = u64::try_from(room).unwrap_or(u64::MAX).min(units);
    if given == 0 {
        return (*state, 0);
    }
    let after = TokenBucket {
        tokens: (b.tokens + i128::from(given) * period).min(capacity(q)),
        updated_ms: b.updated_ms,
    };
    (after, given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn q(limit: u64, period: u64, burst: u64) -> Quota {
        Quota::new(limit, period, burst).unwrap()
    }

    /// `(allowed, remaining, retry_after_ms, reset_after_ms)`.
    type Want = (bool, u64, i64, i64);

    /// Runs `(advance_ms, cost, want)` steps on one bucket.
    fn run(quota: Quota, steps: &[(u64, u64, Want)]) {
        let clock = ManualClock::new(1_000_000);
        let mut state = None;
        for (i, (advance, cost, want)) in steps.iter().enumerate() {
            clock.advance(*advance);
            let (d, next) = check(state.as_ref(), &quota, clock.now_ms(), *cost);
            let got = (d.allowed, d.remaining, d.retry_after_ms, d.reset_after_ms);
            assert_eq!(got, *want, "step {i}");
            assert_eq!(d.allowed, next.is_some(), "step {i}");
            state = next.or(state);
        }
    }

    #[test]
    fn rested_bucket_admits_burst_then_denies_with_exact_retry() {
        run(
            q(3, 1000, 3),
            &[
                (0, 1, (true, 2, -1, 334)),
                (0, 1, (true, 1, -1, 667)),
                (0, 1, (true, 0, -1, 1000)),
                (0, 1, (false, 0, 334, 1000)),
                (333, 1, (false, 0, 1, 667)),
                (1, 1, (true, 0, -1, 1000)),
            ],
        );
    }

    #[test]
    fn cost_above_burst_is_denied_forever_and_consumes_nothing() {
        run(
            q(10, 1000, 5),
            &[(0, 6, (false, 5, -1, 0)), (0, 5, (true, 0, -1, 500))],
        );
    }

    #[test]
    fn burst_larger_than_limit_and_costly_requests() {
        run(
            q(1, 1000, 4),
            &[
                (0, 3, (true, 1, -1, 3000)),
                (0, 2, (false, 1, 1000, 3000)),
                (1000, 2, (true, 0, -1, 4000)),
            ],
        );
    }

    #[test]
    fn clock_stepping_back_refills_nothing() {
        let quota = q(1, 1000, 1);
        let (_, s) = check(None, &quota, 10_000, 1);
        let s = s.unwrap();
        // 5 s earlier: still empty, and the wait counts from the caller's clock.
        let (d, next) = check(Some(&s), &quota, 5_000, 1);
        assert!(!d.allowed && next.is_none());
        assert_eq!(d.retry_after_ms, 6_000);
        let (d, _) = check(Some(&s), &quota, 11_000, 1);
        assert!(d.allowed);
    }

    #[test]
    fn lowering_the_quota_keeps_used_units_used() {
        let old = q(10, 1000, 10);
        let mut s = None;
        for _ in 0..9 {
            s = check(s.as_ref(), &old, 0, 1).1.or(s);
        }
        let new = q(5, 1000, 5);
        let s = convert(&s.unwrap(), &old, &new, 0);
        // 9 used against a burst of 5: 4 units of debt, refilled at 5/s.
        let (d, _) = check(Some(&s), &new, 0, 1);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 1000));
        let (d, _) = check(Some(&s), &new, 1000, 1);
        assert!(d.allowed);
    }

    #[test]
    fn extreme_quota_computes_without_overflow() {
        let max = i64::MAX as u64;
        let quota = q(max, max, max);
        let (d, s) = check(None, &quota, u64::MAX, max);
        assert!(d.allowed && s.is_some());
        assert_eq!(d.remaining, 0);
        let (d, _) = check(s.as_ref(), &quota, 0, max);
        assert!(!d.allowed);
        assert!(d.retry_after_ms > 0 && d.reset_after_ms > 0);
        let tiny = q(1, max, max);
        let (d, _) = check(None, &tiny, 0, max);
        assert_eq!(d.reset_after_ms, i64::MAX);
    }
}
