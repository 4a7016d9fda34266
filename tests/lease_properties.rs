//! Property tests of concurrency leases against a naive reference model, on a manual
//! clock that may step backwards. Runs without Redis: `cargo test --no-default-features`.

use proptest::prelude::*;
use redis_ratelimit::algorithms::leases::{Leases, Step};
use redis_ratelimit::algorithms::Quota;
use redis_ratelimit::replicate::{pack_lease, unpack, Effect};
use redis_ratelimit::types::encoding::{decode, encode};
use redis_ratelimit::types::{Limiter, State, Totals};

#[derive(Clone, Debug)]
enum Cmd {
    Acquire { units: u64, lease_ms: u64 },
    Release(usize),
    Renew(usize, u64),
    Forged(u64),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => (1u64..4, 1u64..300).prop_map(|(units, lease_ms)| Cmd::Acquire { units, lease_ms }),
        2 => (0usize..16).prop_map(Cmd::Release),
        2 => (0usize..16, 1u64..300).prop_map(|(i, ms)| Cmd::Renew(i, ms)),
        1 => any::<u64>().prop_map(Cmd::Forged),
    ]
}

proptest! {
    /// Never more than `limit` units held at the instant of any command; a lease counts
    /// exactly while now < expires_at; unknown ids change nothing; a clock stepping back
    /// never frees capacity; every step survives the replication payload and the
    /// encoding unchanged.
    #[test]
    fn never_more_than_limit_held_and_every_step_replicates_exactly(
        limit in 1u64..8,
        cap in 1u64..6,
        steps in prop::collection::vec((cmd(), -50i64..120), 1..80),
    ) {
        let mut s = Leases::default();
        let mut replica = Leases::default();
        let mut now: u64 = 1_000_000;
        let mut ids: Vec<u64> = Vec::new();
        let mut next = 0u64;
        // Reference: (id, expires_at, units) of every lease ever admitted and not released.
        let mut model: Vec<(u64, u64, u64)> = Vec::new();
        for (c, dt) in steps {
            let before = s.held_units(now);
            now = now.saturating_add_signed(dt);
            if dt < 0 {
                // Back in time: no capacity is freed (a lease held later is held now).
                prop_assert!(s.held_units(now) >= before);
            }
            let held_model: u64 = model.iter().filter(|l| l.1 > now).map(|l| l.2).sum();
            prop_assert!(s.held_units(now) <= held_model);
            let step: Option<Step> = match c {
                Cmd::Acquire { units, lease_ms } => {
                    let (a, step) = s
                        .acquire(limit, lease_ms, units, now, cap, || { next += 1; next })
                        .unwrap();
                    let live = s.live(now).len() as u64;
                    let fits = s.held_units(now) + units <= limit && live < cap;
                    prop_assert_eq!(a.acquired, fits);
                    if let Some(id) = a.id {
                        ids.push(id);
                        model.push((id, now + lease_ms, units));
                    }
                    step
                }
                Cmd::Release(i) => {
                    let id = ids.get(i).copied().unwrap_or(1 << 63);
                    let want = s.find(id, now).map_or(0, |l| l.units);
                    let (freed, step) = s.release(id, now);
                    prop_assert_eq!(freed, want);
                    if step.is_some() {
                        model.retain(|l| l.0 != id);
                    }
                    step
                }
                Cmd::Renew(i, ms) => {
                    let id = ids.get(i).copied().unwrap_or(1 << 63);
                    let held = s.find(id, now).is_some();
                    let step = s.renew(id, ms, now);
                    prop_assert_eq!(step.is_some(), held);
                    if step.is_some() {
                        model.iter_mut().filter(|l| l.0 == id).for_each(|l| l.1 = now + ms);
                    }
                    step
                }
                Cmd::Forged(id) => {
                    let before = s.clone();
                    if s.find(id, now).is_none() {
                        prop_assert_eq!(s.release(id, now), (0, None));
                        prop_assert!(s.renew(id, 10, now).is_none());
                    }
                    prop_assert_eq!(&s, &before);
                    None
                }
            };
            if let Some(step) = step {
                let latest = s.latest_after(&step);
                let quota = Quota::new(limit, 100, limit).unwrap();
                let packed = pack_lease(Some(&quota), &step, 5);
                let Ok(Effect::Lease { step: got, .. }) = unpack(packed.as_bytes()) else {
                    panic!("a packed step unpacks");
                };
                prop_assert_eq!(got, step);
                prop_assert!(replica.admits(&step, limit, cap) || !matches!(
                    step.op, redis_ratelimit::algorithms::leases::Op::Acquire(_)));
                s.apply(&step);
                replica.apply(&got);
                prop_assert_eq!(&s, &replica);
                prop_assert_eq!(s.latest_expiry(now), latest);
            }
            prop_assert!(s.held_units(now) <= limit);
            prop_assert!(s.parts().len() as u64 <= cap.max(s.live(now).len() as u64));
            let l = Limiter {
                quota: Quota::new(limit, 100, limit).unwrap(),
                totals: Totals::default(),
                state: State::Leases(s.clone()),
                blocked_until_ms: 0,
            };
            prop_assert_eq!(decode(encode(&l).as_bytes()), Ok(l));
        }
    }
}
