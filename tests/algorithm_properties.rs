//! Property tests of the two bucket algorithms against a naive reference model.
//! Runs without Redis: `cargo test --no-default-features`. Windows and logs are in
//! `window_properties.rs`.

use proptest::prelude::*;
use redis_ratelimit::algorithms::{token_bucket, Algorithm, Decision, Quota};
#[path = "support/core.rs"]
mod limiter;
use redis_ratelimit::types::limiter::Limiter;

/// The obvious token bucket: tokens counted in 1/period units, refilled one
/// millisecond at a time, waits found by trying every millisecond.
#[derive(Clone)]
struct Reference {
    limit: u64,
    period: u64,
    burst: u64,
    tokens: u64,
    at: u64,
}

impl Reference {
    fn new(q: &Quota, now: u64) -> Self {
        Self {
            limit: q.limit(),
            period: q.period_ms(),
            burst: q.burst(),
            tokens: q.burst() * q.period_ms(),
            at: now,
        }
    }

    fn advance(&mut self, now: u64) {
        while self.at < now {
            self.at += 1;
            self.tokens = (self.tokens + self.limit).min(self.burst * self.period);
        }
    }

    fn check(&mut self, now: u64, cost: u64) -> (bool, u64, i64, i64) {
        self.advance(now);
        let need = cost * self.period;
        let allowed = cost <= self.burst && self.tokens >= need;
        if allowed {
            self.tokens -= need;
        }
        let retry = if allowed || cost > self.burst {
            -1
        } else {
            let mut probe = self.clone();
            let mut w = 0;
            while probe.tokens < need {
                w += 1;
                probe.advance(now + w);
            }
            w as i64
        };
        let mut probe = self.clone();
        let mut reset = 0;
        while probe.tokens < self.burst * self.period {
            reset += 1;
            probe.advance(now + reset);
        }
        (allowed, self.tokens / self.period, retry, reset as i64)
    }
}

fn fields(d: &Decision) -> (bool, u64, i64, i64) {
    (d.allowed, d.remaining, d.retry_after_ms, d.reset_after_ms)
}

/// The algorithms with a BURST: these tests use bursts different from the limit.
const BUCKETS: [Algorithm; 2] = [Algorithm::TokenBucket, Algorithm::Gcra];

fn small_quota() -> impl Strategy<Value = Quota> {
    (1u64..20, 1u64..200, 1u64..20).prop_map(|(l, p, b)| Quota::new(l, p, b).unwrap())
}

fn any_quota() -> impl Strategy<Value = Quota> {
    let v = prop_oneof![1u64..1000, 1u64..=i64::MAX as u64, Just(i64::MAX as u64)];
    (v.clone(), v.clone(), v).prop_map(|(l, p, b)| Quota::new(l, p, b).unwrap())
}

use limiter::req;

proptest! {
    #[test]
    fn token_bucket_matches_the_reference_model(
        quota in small_quota(),
        steps in prop::collection::vec((0u64..150, 1u64..25), 1..40),
    ) {
        let mut now = 5_000;
        let mut reference = Reference::new(&quota, now);
        let mut state = None;
        for (dt, cost) in steps {
            now += dt;
            let (d, next) = token_bucket::check(state.as_ref(), &quota, now, cost);
            prop_assert_eq!(fields(&d), reference.check(now, cost));
            state = next.or(state);
        }
    }

    #[test]
    fn gcra_and_token_bucket_decide_identically_on_a_forward_clock(
        quotas in prop::collection::vec(small_quota(), 1..3),
        steps in prop::collection::vec((0u64..300, 1u64..25, 0usize..3), 1..60),
    ) {
        // The quota may change between checks. (On a clock that steps back the two
        // differ: GCRA counts the lag as debt, the bucket waits for the clock.)
        let mut now: u64 = 1_000_000;
        let (mut tb, mut gc): (Option<Limiter>, Option<Limiter>) = (None, None);
        for (dt, cost, qi) in steps {
            now += dt;
            let quota = quotas[qi % quotas.len()];
            let a = limiter::check(&mut tb, &req(Algorithm::TokenBucket, quota, cost), now).unwrap();
            let b = limiter::check(&mut gc, &req(Algorithm::Gcra, quota, cost), now).unwrap();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn waiting_exactly_retry_after_is_admitted_and_one_ms_less_is_not(
        quota in any_quota(),
        algorithm in prop::sample::select(BUCKETS.to_vec()),
        costs in prop::collection::vec(1u64..50, 1..10),
        start in 0u64..(1 << 45),
    ) {
        let mut state = None;
        for cost in costs {
            let r = req(algorithm, quota, cost);
            let before = state.clone();
            let d = limiter::check(&mut state, &r, start).unwrap();
            if !d.allowed && d.retry_after_ms > 0 && d.retry_after_ms < i64::MAX {
                let at = start + d.retry_after_ms as u64;
                prop_assert!(limiter::check(&mut before.clone(), &r, at).unwrap().allowed);
                prop_assert!(!limiter::check(&mut before.clone(), &r, at - 1).unwrap().allowed);
            }
        }
    }

    #[test]
    fn a_clock_behind_the_state_never_grants_more(
        quota in small_quota(),
        warmup in prop::collection::vec((0u64..100, 1u64..10), 1..20),
        back in 1u64..100_000,
        cost in 1u64..20,
    ) {
        for algorithm in BUCKETS {
            let mut now = 1_000_000;
            let mut state = None;
            for (dt, c) in &warmup {
                now += dt;
                limiter::check(&mut state, &req(algorithm, quota, *c), now).unwrap();
            }
            let r = req(algorithm, quota, cost);
            // Capacity before the request: what remains plus what it took.
            let before = |d: &Decision| d.remaining + if d.allowed { cost } else { 0 };
            let late = limiter::check(&mut state.clone(), &r, now).unwrap();
            let early = limiter::check(&mut state.clone(), &r, now - back.min(now)).unwrap();
            prop_assert!(before(&early) <= before(&late));
            prop_assert!(!early.allowed || late.allowed);
        }
    }

    #[test]
    fn any_input_computes_without_panic_and_keeps_invariants(
        quota in any_quota(),
        steps in prop::collection::vec((any::<u64>(), 1u64..=i64::MAX as u64), 1..20),
    ) {
        for algorithm in BUCKETS {
            let mut state = None;
            for (now, cost) in &steps {
                let d = limiter::check(&mut state, &req(algorithm, quota, *cost), *now).unwrap();
                prop_assert!(d.reset_after_ms >= 0);
                prop_assert!(d.remaining <= quota.burst());
                if d.allowed {
                    prop_assert!(d.reset_after_ms >= 1);
                    prop_assert_eq!(d.retry_after_ms, -1);
                } else {
                    prop_assert!(d.retry_after_ms == -1 || d.retry_after_ms >= 1);
                    prop_assert_eq!(d.retry_after_ms == -1, *cost > quota.burst());
                }
            }
        }
    }

    #[test]
    fn after_a_quota_change_a_key_admits_no_more_than_the_new_burst_minus_what_it_used(
        old in small_quota(),
        new in small_quota(),
        used in 1u64..20,
    ) {
        for algorithm in BUCKETS {
            let mut state = None;
            let mut took = 0;
            for _ in 0..used {
                took += u64::from(limiter::check(&mut state, &req(algorithm, old, 1), 0).unwrap().allowed);
            }
            let mut admitted = 0;
            while limiter::check(&mut state, &req(algorithm, new, 1), 0).unwrap().allowed {
                admitted += 1;
                prop_assert!(admitted <= new.burst());
            }
            prop_assert_eq!(admitted, new.burst().saturating_sub(took));
        }
    }
}

#[test]
fn a_million_saturating_calls_admit_exactly_burst_plus_refill() {
    // 7 units per 3 ms, burst 5, one request every millisecond for 1,000,000 ms.
    let quota = Quota::new(7, 3, 5).unwrap();
    for algorithm in BUCKETS {
        let mut state = None;
        let mut admitted: u64 = 0;
        for now in 0..1_000_000u64 {
            for _ in 0..3 {
                let d = limiter::check(&mut state, &req(algorithm, quota, 1), now).unwrap();
                admitted += u64::from(d.allowed);
            }
        }
        // Refill over 999,999 ms is floor(999_999 * 7 / 3) units on top of the burst.
        assert_eq!(admitted, 5 + 999_999 * 7 / 3, "{algorithm:?}");
    }
}
