//! Penalty blocks on a manual clock, for every check algorithm: a denial with `BLOCK ms`
//! blocks the key for exactly ms; until then every request is denied with the time left
//! and changes nothing but the denied total; from then on the key decides exactly as
//! the same key never blocked would. Runs without Redis: `cargo test --no-default-features`.

use proptest::prelude::*;
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::args::CheckRequest;
use redis_ratelimit::types::limiter::{evaluate, Change, Limiter};
#[path = "support/core.rs"]
mod limiter;

use limiter::req;

proptest! {
    #[test]
    fn a_block_denies_everything_for_exactly_its_length_then_changes_nothing(
        algorithm in prop::sample::select(Algorithm::CHECKS.to_vec()),
        (limit, period) in (1u64..10, 1u64..1000),
        block_ms in 1u64..100_000,
        probes in prop::collection::vec((0u64..100_000, 1u64..20), 1..20),
    ) {
        let q = Quota::new(limit, period, limit).unwrap();
        let mut slot: Option<Limiter> = None;
        let now = 1_000_000;
        // Exhaust the key, then a denial with BLOCK sets the block.
        while limiter::check(&mut slot, &req(algorithm, q, 1), now).unwrap().allowed {}
        let unblocked = slot.clone().unwrap();
        let blocking = CheckRequest { block_ms, ..req(algorithm, q, 1) };
        let d = limiter::check(&mut slot, &blocking, now).unwrap();
        prop_assert!(!d.allowed && d.retry_after_ms >= block_ms as i64);
        let blocked = slot.clone().unwrap();
        prop_assert_eq!(blocked.blocked_until_ms, now + block_ms);
        for (dt, cost) in probes {
            let at = now + dt;
            let other = req(algorithm, Quota::new(limit + 5, period, limit + 5).unwrap(), cost);
            let o = evaluate(Some(&blocked), &other, at).unwrap();
            if at < now + block_ms {
                prop_assert!(!o.decision.allowed);
                prop_assert_eq!(o.decision.retry_after_ms, (now + block_ms - at) as i64);
                prop_assert_eq!(o.change, Change::Deny { cost });
            } else {
                // After the block: exactly the decision of the key never blocked.
                let plain = evaluate(Some(&unblocked), &other, at).unwrap();
                prop_assert_eq!(o.decision, plain.decision);
            }
        }
    }
}
