//! Property tests of RL.REFUND's pure core: a refund right after a charge is the same
//! as having charged less, and no sequence of honest refunds lets a key admit more than
//! its limit in any window. Runs without Redis: `cargo test --no-default-features`.

use proptest::prelude::*;
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::types::limiter::{refund, Limiter};
#[path = "support/core.rs"]
mod limiter;

use limiter::req;

/// Cost-1 checks admitted back to back at `now` (charging them).
fn admitted_now(slot: &mut Option<Limiter>, algorithm: Algorithm, q: Quota, now: u64) -> u64 {
    let mut n = 0;
    while limiter::check(slot, &req(algorithm, q, 1), now)
        .unwrap()
        .allowed
    {
        n += 1;
        assert!(n <= q.burst().max(q.limit()), "admits without end");
    }
    n
}

fn any_algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::CHECKS.to_vec())
}

proptest! {
    #[test]
    fn a_refund_after_a_charge_equals_a_smaller_charge(
        algorithm in any_algorithm(),
        limit in 1u64..20,
        period in 1u64..5000,
        cost in 1u64..20,
        back in 0u64..25,
        later in 0u64..3000,
        now in 1_000_000u64..2_000_000,
    ) {
        let cost = cost.min(limit);
        let q = Quota::new(limit, period, limit).unwrap();
        // Charged `cost`, then refunded `back` at the same instant...
        let mut refunded = None;
        prop_assert!(limiter::check(&mut refunded, &req(algorithm, q, cost), now).unwrap().allowed);
        let (changed, given) = refund(refunded.as_ref().unwrap(), back, now).unwrap();
        prop_assert_eq!(given, back.min(cost));
        if let Some(l) = changed {
            refunded = Some(l);
        }
        // ...admits from then on exactly as a charge of `cost - given` would have.
        let mut smaller = None;
        if cost > given {
            limiter::check(&mut smaller, &req(algorithm, q, cost - given), now).unwrap();
        } else {
            // Nothing charged at all: a key that was charged and fully refunded.
            limiter::check(&mut smaller, &req(algorithm, q, 1), now).unwrap();
            let (l, _) = refund(smaller.as_ref().unwrap(), 1, now).unwrap();
            smaller = l.or(smaller);
        }
        let at = now + later;
        prop_assert_eq!(
            admitted_now(&mut refunded, algorithm, q, at),
            admitted_now(&mut smaller, algorithm, q, at)
        );
    }

    #[test]
    fn honest_refunds_never_let_a_window_admit_more_than_the_limit(
        algorithm in prop::sample::select(vec![
            Algorithm::TokenBucket, Algorithm::Gcra, Algorithm::FixedWindow, Algorithm::SlidingLog,
        ]),
        limit in 1u64..10,
        steps in prop::collection::vec((0u64..400, 1u64..4, 0u64..4), 1..60),
    ) {
        // One period of 1000 ms; each step: wait, charge `cost`, maybe give some back
        // at once (never more than that check was charged).
        let period = 1000;
        let q = Quota::new(limit, period, limit).unwrap();
        let mut slot = None;
        let mut now = 5_000_000u64;
        let mut net: Vec<(u64, u64)> = Vec::new(); // (time, units kept)
        for (wait, cost, back) in steps {
            now += wait;
            let d = limiter::check(&mut slot, &req(algorithm, q, cost), now).unwrap();
            if !d.allowed {
                continue;
            }
            let (changed, given) = refund(slot.as_ref().unwrap(), back.min(cost), now).unwrap();
            if let Some(l) = changed {
                slot = Some(l);
            }
            prop_assert!(given <= cost);
            net.push((now, cost - given));
        }
        // Token bucket and GCRA admit at most burst + the refill over any span; the
        // window algorithms at most `limit` in any period-long span (the log) or
        // aligned window (fixed).
        for &(t, _) in &net {
            let span: u64 = net.iter().filter(|(u, _)| *u >= t && *u < t + period).map(|(_, k)| k).sum();
            let bound = match algorithm {
                Algorithm::TokenBucket | Algorithm::Gcra => 2 * limit,
                _ => limit,
            };
            if algorithm == Algorithm::FixedWindow {
                let w = t - t % period;
                let win: u64 = net.iter().filter(|(u, _)| *u >= w && *u < w + period).map(|(_, k)| k).sum();
                prop_assert!(win <= limit, "window {} kept {} > {}", w, win, limit);
            } else {
                prop_assert!(span <= bound, "span from {} kept {} > {}", t, span, bound);
            }
        }
    }
}

proptest! {
    #[test]
    fn at_most_grants_exactly_what_cost_one_checks_would(
        algorithm in prop::sample::select(vec![Algorithm::TokenBucket, Algorithm::Gcra]),
        limit in 1u64..20,
        burst in 1u64..20,
        period in 1u64..5000,
        before in 0u64..20,
        ask in 1u64..30,
        wait in 0u64..3000,
        now in 1_000_000u64..2_000_000,
    ) {
        use redis_ratelimit::types::limiter::{apply, evaluate_at_most};
        let q = Quota::new(limit, period, burst).unwrap();
        let mut slot = None;
        for _ in 0..before {
            limiter::check(&mut slot, &req(algorithm, q, 1), now).unwrap();
        }
        let at = now + wait;
        // The reference: cost-1 checks one after another at the same instant.
        let mut reference = slot.clone();
        let mut expect = 0;
        while expect < ask && limiter::check(&mut reference, &req(algorithm, q, 1), at).unwrap().allowed {
            expect += 1;
        }
        let (outcome, granted) = evaluate_at_most(slot.as_ref(), &req(algorithm, q, ask), at).unwrap();
        prop_assert_eq!(granted, expect);
        prop_assert_eq!(outcome.decision.allowed, expect > 0);
        if let Some(new) = apply(slot.as_mut(), outcome.change) {
            slot = Some(new);
        }
        // Charged exactly the granted units: the next cost-1 checks agree.
        prop_assert_eq!(admitted_now(&mut slot, algorithm, q, at), admitted_now(&mut reference, algorithm, q, at));
    }
}
