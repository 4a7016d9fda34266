//! RL.PEEK with `COST 0` on a manual clock, for every algorithm: it asks for nothing, so
//! it is allowed with no wait, and its `remaining` is exactly the number of cost-1
//! checks that would be admitted in a row at that instant. Runs without Redis:
//! `cargo test --no-default-features`.

use proptest::prelude::*;
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::args::CheckRequest;
use redis_ratelimit::types::limiter::{preview, status, Limiter};
#[path = "support/core.rs"]
mod limiter;

use limiter::req;

/// A small quota; the window algorithms take no burst (burst = limit).
fn quota_for(algorithm: Algorithm, limit: u64, period: u64, burst: u64) -> Quota {
    let burst = if algorithm.has_burst() { burst } else { limit };
    Quota::new(limit, period, burst).unwrap()
}

/// How many cost-1 checks in a row a copy of `slot` admits at `now`.
fn admitted_in_a_row(slot: &Option<Limiter>, r: &CheckRequest, now: u64) -> u64 {
    let mut copy = slot.clone();
    let one = CheckRequest { cost: 1, ..*r };
    let mut n = 0;
    while limiter::check(&mut copy, &one, now).unwrap().allowed {
        n += 1;
        assert!(n <= 1000, "more than the quota can hold");
    }
    n
}

proptest! {
    #[test]
    fn cost_zero_remaining_is_what_consecutive_cost_one_checks_would_admit(
        algorithm in prop::sample::select(Algorithm::CHECKS.to_vec()),
        (limit, period, burst) in (1u64..20, 1u64..500, 1u64..20),
        // The quota may change between checks; the clock may step back.
        steps in prop::collection::vec((-50i64..300, 1u64..6, any::<bool>()), 0..30),
        probe_dt in -100i64..1000,
    ) {
        let base = quota_for(algorithm, limit, period, burst);
        let other = quota_for(algorithm, limit + 3, period * 2, burst + 1);
        let mut now: u64 = 1_000_000;
        let mut slot: Option<Limiter> = None;
        for (dt, cost, switch) in steps {
            now = now.saturating_add_signed(dt);
            let q = if switch { other } else { base };
            limiter::check(&mut slot, &req(algorithm, q, cost), now).unwrap();
        }
        let at = now.saturating_add_signed(probe_dt);
        let r = req(algorithm, base, 0);
        let before = slot.clone();
        let d = preview(slot.as_ref(), &r, at).unwrap();
        prop_assert_eq!(&slot, &before, "a preview changes nothing");
        prop_assert!(d.allowed);
        prop_assert_eq!(d.retry_after_ms, -1);
        prop_assert_eq!(d.limit, base.limit());
        prop_assert_eq!(d.remaining, admitted_in_a_row(&slot, &r, at));
        match &slot {
            None => prop_assert_eq!((d.remaining, d.reset_after_ms), (base.burst(), 0)),
            // With the key's own quota, it is what RL.INSPECT reports now.
            Some(l) if l.quota == base => {
                let s = status(l, at);
                prop_assert_eq!((d.remaining, d.reset_after_ms), (s.remaining, s.reset_after_ms));
            }
            Some(_) => prop_assert!(d.reset_after_ms >= 0),
        }
    }
}

#[test]
fn cost_zero_on_an_exhausted_key_is_allowed_with_nothing_remaining() {
    for algorithm in Algorithm::CHECKS {
        let q = quota_for(algorithm, 2, 1000, 2);
        let mut slot = None;
        while limiter::check(&mut slot, &req(algorithm, q, 1), 5_000)
            .unwrap()
            .allowed
        {}
        let d = preview(slot.as_ref(), &req(algorithm, q, 0), 5_000).unwrap();
        assert_eq!(
            (d.allowed, d.remaining, d.retry_after_ms),
            (true, 0, -1),
            "{algorithm:?}"
        );
        assert!(d.reset_after_ms > 0, "{algorithm:?}");
        // A cost-1 preview at the same instant is the denial a check would get.
        let one = preview(slot.as_ref(), &req(algorithm, q, 1), 5_000).unwrap();
        assert!(!one.allowed && one.retry_after_ms > 0, "{algorithm:?}");
    }
}
