//! A policy key: every limit of a policy kept in the one key, checked all-or-nothing.
//! Pure: a check evaluates each limit with RL.CHECK's own evaluation (so a changed
//! limit is converted by the rules RL.CHECK has), and yields the whole new value,
//! which is what the primary propagates (`RL.APPLY` replace payloads): replicas never
//! look the policy up.

use crate::algorithms::{Algorithm, Decision, Quota};
use crate::error::Error;
use crate::policy::{Limit, MAX_LIMITS};
use crate::types::limiter::{apply, evaluate, status, Change, Limiter, State, Totals};

/// The state of a policy key (`State::Policy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multi {
    /// The policy last checked against the key.
    pub policy: Box<[u8]>,
    /// That policy's version then.
    pub version: u64,
    /// Units a shadow check admitted that enforcement would have denied.
    pub shadow_denied: u64,
    /// One per limit, in the policy's order; `None` until the limit first admits.
    pub parts: Vec<Option<Limiter>>,
}

impl Multi {
    /// Heap bytes owned, for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        self.policy.len()
            + self.parts.capacity() * std::mem::size_of::<Option<Limiter>>()
            + self
                .parts
                .iter()
                .flatten()
                .map(Limiter::heap_bytes)
                .sum::<usize>()
    }
}

/// The policy a check is made against, as looked up.
#[derive(Clone, Copy, Debug)]
pub struct PolicyRef<'a> {
    /// Its name.
    pub name: &'a [u8],
    /// Its version.
    pub version: u64,
    /// Its limits (one to eight).
    pub limits: &'a [Limit],
    /// Whether the check only counts what it would deny (the policy's or the call's).
    pub shadow: bool,
}

/// What a policy check decided and what it writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// The reply: the deciding limit's decision (allowed on a shadow denial).
    pub decision: Decision,
    /// The deciding limit's index in the policy (from 0).
    pub decided_by: usize,
    /// A shadow check that enforcement would have denied.
    pub shadow_denied: bool,
    /// The key's whole new value; `None` leaves it alone.
    pub value: Option<Limiter>,
    /// The absolute expiry to set (Unix ms) when the check charged.
    pub expire_at: Option<i64>,
}

/// The key's policy state, or a mismatch for any other limiter (a key holding only
/// a block, RL.BLOCK's on a missing key, has no state yet).
fn multi(current: Option<&Limiter>) -> Result<Option<&Multi>, Error> {
    match current.map(|l| &l.state) {
        None | Some(State::Blocked) => Ok(None),
        Some(State::Policy(m)) => Ok(Some(m)),
        Some(_) => Err(Error::AlgorithmMismatch),
    }
}

/// The stored part that limit `i` continues: the same index if its algorithm matches,
/// else the first unclaimed part of that algorithm (a limit inserted or removed before
/// it), else none (a limit of a new algorithm starts fresh).
fn pick<'a>(
    old: &'a [Option<Limiter>],
    i: usize,
    algorithm: Algorithm,
    claimed: &mut [bool; MAX_LIMITS],
) -> Option<&'a Limiter> {
    // A part holding only its block (it denied with BLOCK before it ever admitted)
    // continues wherever its algorithm fits.
    let fits = |j: usize| {
        !claimed[j]
            && old[j]
                .as_ref()
                .is_some_and(|p| p.algorithm().is_none_or(|a| a == algorithm))
    };
    let j = if i < old.len() && fits(i) {
        Some(i)
    } else {
        (0..old.len().min(MAX_LIMITS)).find(|&j| fits(j))
    }?;
    claimed[j] = true;
    old[j].as_ref()
}

/// The outer quota of a policy key: its first limit's, burst = limit.
fn outer_quota(limits: &[Limit]) -> Quota {
    let q = limits[0].quota;
    Quota::new(q.limit(), q.period_ms(), q.limit()).unwrap_or(q)
}

/// Evaluates `cost` units against every limit of `p` at `now_ms`: admitted only if
/// every limit admits, and only then is each charged. Denied: nothing is charged and
/// the limits that denied count it; a shadow check admits anyway and counts it apart.
/// `cost` 0 (RL.PEEK) asks nothing.
pub fn evaluate_policy(
    current: Option<&Limiter>,
    p: &PolicyRef,
    cost: u64,
    now_ms: u64,
) -> Result<PolicyOutcome, Error> {
    let m = multi(current)?;
    if let Some(c) = current {
        let left = c.blocked_for(now_ms);
        if left > 0 && cost > 0 {
            return Ok(blocked(c, p, cost, left));
        }
    }
    let old: &[Option<Limiter>] = m.map_or(&[], |m| &m.parts);
    if p.limits.len() > MAX_LIMITS {
        return Err(Error::Internal);
    }
    let mut claimed = [false; MAX_LIMITS];
    // The parts each limit continues, on the stack (a check allocates for what it
    // writes, not for this).
    let mut parts_before = [None; MAX_LIMITS];
    let mut outcomes = Vec::with_capacity(p.limits.len());
    for (i, lim) in p.limits.iter().enumerate() {
        let part = pick(old, i, lim.algorithm, &mut claimed);
        outcomes.push(evaluate(part, &lim.request(cost.max(1)), now_ms)?);
        parts_before[i] = part;
    }
    let prev: &[Option<&Limiter>] = &parts_before[..p.limits.len()];
    let allowed = cost == 0 || outcomes.iter().all(|o| o.decision.allowed);
    // Admitted: the limit with the fewest remaining; denied: the one denying with the
    // longest wait (-1, never, is the longest).
    let decided_by = if allowed {
        (0..outcomes.len())
            .min_by_key(|&i| outcomes[i].decision.remaining)
            .unwrap_or(0)
    } else {
        let wait = |i: usize| match outcomes[i].decision.retry_after_ms {
            -1 => i64::MAX,
            w => w,
        };
        (0..outcomes.len())
            .filter(|&i| !outcomes[i].decision.allowed)
            .max_by_key(|&i| (wait(i), std::cmp::Reverse(i)))
            .unwrap_or(0)
    };
    let mut decision = outcomes[decided_by].decision;
    if cost == 0 {
        // What the key admits now: the fewest any limit admits.
        let now: Vec<Decision> = prev
            .iter()
            .zip(p.limits)
            .map(|(part, lim)| part.map_or_else(|| rested(lim), |l| status(l, now_ms)))
            .collect();
        let i = (0..now.len())
            .min_by_key(|&i| now[i].remaining)
            .unwrap_or(0);
        let reset = now.iter().map(|d| d.reset_after_ms).max().unwrap_or(0);
        return Ok(PolicyOutcome {
            decision: Decision {
                allowed: true,
                retry_after_ms: -1,
                reset_after_ms: reset,
                ..now[i]
            },
            decided_by: i,
            shadow_denied: false,
            value: None,
            expire_at: None,
        });
    }
    let header = |parts: Vec<Option<Limiter>>, shadow_denied: u64| Multi {
        policy: p.name.into(),
        version: p.version,
        shadow_denied,
        parts,
    };
    let totals = current.map_or(Totals::default(), |l| l.totals);
    let shadow_so_far = m.map_or(0, |m| m.shadow_denied);
    if allowed {
        let mut parts = Vec::with_capacity(p.limits.len());
        let mut reset = 0i64;
        for ((o, part), lim) in outcomes.into_iter().zip(prev).zip(p.limits) {
            reset = reset.max(o.decision.reset_after_ms);
            let next = match part {
                Some(l) => {
                    let mut l = (*l).clone();
                    apply(Some(&mut l), o.change);
                    Some(l)
                }
                None => apply(None, o.change),
            };
            debug_assert!(next
                .as_ref()
                .is_none_or(|l| l.algorithm() == Some(lim.algorithm)));
            parts.push(next);
        }
        let value = Limiter {
            quota: outer_quota(p.limits),
            totals: Totals {
                admitted: totals.admitted.saturating_add(cost),
                denied: totals.denied,
            },
            state: State::Policy(Box::new(header(parts, shadow_so_far))),
            blocked_until_ms: 0,
        };
        let expire_at = Decision {
            reset_after_ms: reset,
            ..decision
        }
        .rested_at_ms(now_ms);
        return Ok(PolicyOutcome {
            decision,
            decided_by,
            shadow_denied: false,
            value: Some(value),
            expire_at: Some(expire_at),
        });
    }
    // Denied (or shadow-denied): no state moves; an existing key counts it, the limits
    // that denied count it too, and a denying limit with BLOCK is blocked (which
    // creates the key: the block must hold).
    let blocks = !p.shadow
        && outcomes
            .iter()
            .any(|o| matches!(o.change, Change::Block { .. }));
    let value = (current.is_some() || blocks).then(|| {
        let mut parts: Vec<Option<Limiter>> = prev.iter().map(|o| o.cloned()).collect();
        let mut totals = current.map_or(Totals::default(), |l| l.totals);
        let mut shadow = shadow_so_far;
        if p.shadow {
            shadow = shadow.saturating_add(cost);
        } else {
            totals.denied = totals.denied.saturating_add(cost);
            for (part, o) in parts.iter_mut().zip(outcomes) {
                if o.decision.allowed {
                    continue;
                }
                match part.as_mut() {
                    Some(l) => {
                        apply(Some(l), o.change);
                    }
                    None => *part = apply(None, o.change),
                }
            }
        }
        Limiter {
            quota: outer_quota(p.limits),
            totals,
            state: State::Policy(Box::new(header(parts, shadow))),
            blocked_until_ms: current.map_or(0, |l| l.blocked_until_ms),
        }
    });
    if p.shadow {
        decision.allowed = true;
        decision.retry_after_ms = -1;
    }
    Ok(PolicyOutcome {
        decision,
        decided_by,
        shadow_denied: p.shadow,
        value,
        expire_at: None,
    })
}

/// A check of a key RL.BLOCK blocked as a whole: denied for what is left of the block
/// (a shadow check admits and counts it apart); the key counts it.
fn blocked(c: &Limiter, p: &PolicyRef, cost: u64, left: u64) -> PolicyOutcome {
    let left = left.min(i64::MAX as u64) as i64;
    let mut value = c.clone();
    match (&mut value.state, p.shadow) {
        (State::Policy(m), true) => m.shadow_denied = m.shadow_denied.saturating_add(cost),
        (_, true) => {}
        (_, false) => value.totals.denied = value.totals.denied.saturating_add(cost),
    }
    PolicyOutcome {
        decision: Decision {
            allowed: p.shadow,
            limit: p.limits[0].quota.limit(),
            remaining: 0,
            retry_after_ms: if p.shadow { -1 } else { left },
            reset_after_ms: left,
        },
        decided_by: 0,
        shadow_denied: p.shadow,
        value: Some(value),
        expire_at: None,
    }
}

/// What a limit with no state yet admits now: its burst, rested.
fn rested(lim: &Limit) -> Decision {
    Decision {
        allowed: true,
        limit: lim.quota.limit(),
        remaining: lim.quota.burst(),
        retry_after_ms: -1,
        reset_after_ms: 0,
    }
}

/// A policy key's capacity now: the fewest remaining of its limits, the longest reset.
pub fn multi_status(l: &Limiter, m: &Multi, now_ms: u64) -> Decision {
    let each: Vec<Decision> = m
        .parts
        .iter()
        .flatten()
        .map(|p| status(p, now_ms))
        .collect();
    let fewest = each.iter().min_by_key(|d| d.remaining).copied();
    Decision {
        allowed: false,
        limit: fewest.map_or(l.quota.limit(), |d| d.limit),
        remaining: fewest.map_or(l.quota.limit(), |d| d.remaining),
        retry_after_ms: -1,
        reset_after_ms: each.iter().map(|d| d.reset_after_ms).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(algorithm: Algorithm, limit: u64, period_ms: u64) -> Limit {
        Limit {
            algorithm,
            quota: Quota::new(limit, period_ms, limit).unwrap(),
            calendar: None,
            block_ms: 0,
        }
    }

    fn pref<'a>(limits: &'a [Limit], shadow: bool) -> PolicyRef<'a> {
        PolicyRef {
            name: b"p",
            version: 1,
            limits,
            shadow,
        }
    }

    /// Checks `cost` and stores the result, like the command does.
    fn run(key: &mut Option<Limiter>, p: &PolicyRef, cost: u64, now: u64) -> PolicyOutcome {
        let o = evaluate_policy(key.as_ref(), p, cost, now).unwrap();
        if let Some(v) = &o.value {
            *key = Some(v.clone());
        }
        o
    }

    #[test]
    fn every_limit_must_admit_and_only_then_is_each_charged() {
        let limits = [
            lim(Algorithm::FixedWindow, 3, 1000),
            lim(Algorithm::FixedWindow, 5, 60_000),
        ];
        let p = pref(&limits, false);
        let mut key = None;
        for i in 0..3 {
            let o = run(&mut key, &p, 1, 0);
            assert!(o.decision.allowed);
            assert_eq!((o.decided_by, o.decision.remaining), (0, 2 - i));
        }
        let o = run(&mut key, &p, 1, 10);
        assert!(!o.decision.allowed);
        assert_eq!((o.decided_by, o.decision.retry_after_ms), (0, 990));
        // The per-minute limit was not charged by the denial.
        for _ in 0..2 {
            assert!(run(&mut key, &p, 1, 1000).decision.allowed);
        }
        let o = run(&mut key, &p, 1, 1000);
        assert!(!o.decision.allowed);
        assert_eq!(o.decided_by, 1, "the minute limit denies longest");
        let l = key.unwrap();
        assert_eq!((l.totals.admitted, l.totals.denied), (5, 2));
        let State::Policy(m) = &l.state else { panic!() };
        let denied: Vec<u64> = m
            .parts
            .iter()
            .map(|p| p.as_ref().unwrap().totals.denied)
            .collect();
        assert_eq!(denied, [1, 1]);
    }

    #[test]
    fn shadow_admits_counts_apart_and_charges_nothing_it_would_deny() {
        let limits = [lim(Algorithm::Gcra, 1, 1000)];
        let p = pref(&limits, true);
        let mut key = None;
        assert!(run(&mut key, &p, 1, 0).decision.allowed);
        let o = run(&mut key, &p, 1, 0);
        assert!(o.decision.allowed && o.shadow_denied);
        assert_eq!(o.decision.retry_after_ms, -1);
        let l = key.unwrap();
        let State::Policy(m) = &l.state else { panic!() };
        assert_eq!(
            (l.totals.admitted, l.totals.denied, m.shadow_denied),
            (1, 0, 1)
        );
    }

    #[test]
    fn a_changed_policy_keeps_usage_and_never_admits_more_than_the_new_limits() {
        let old = [lim(Algorithm::FixedWindow, 10, 60_000)];
        let mut key = None;
        for _ in 0..6 {
            assert!(run(&mut key, &pref(&old, false), 1, 0).decision.allowed);
        }
        // Down to 8 per minute, and a new per-second limit first.
        let new = [
            lim(Algorithm::Gcra, 100, 1000),
            lim(Algorithm::FixedWindow, 8, 60_000),
        ];
        let admitted = (0..10)
            .filter(|_| run(&mut key, &pref(&new, false), 1, 10).decision.allowed)
            .count();
        assert_eq!(admitted, 2, "6 counted of the new 8");
        // A key of another algorithm is a mismatch, not a reset.
        let req = lim(Algorithm::Gcra, 1, 1).request(1);
        let plain = apply(None, evaluate(None, &req, 0).unwrap().change);
        assert_eq!(
            evaluate_policy(plain.as_ref(), &pref(&new, false), 1, 0),
            Err(Error::AlgorithmMismatch)
        );
    }

    #[test]
    fn a_limit_with_block_blocks_itself_when_it_denies() {
        let limits = [
            Limit {
                block_ms: 5000,
                ..lim(Algorithm::FixedWindow, 1, 1000)
            },
            lim(Algorithm::FixedWindow, 100, 60_000),
        ];
        let p = pref(&limits, false);
        let mut key = None;
        assert!(run(&mut key, &p, 1, 0).decision.allowed);
        let o = run(&mut key, &p, 1, 10);
        assert!(!o.decision.allowed);
        assert_eq!(o.decision.retry_after_ms, 5000);
        // The next window would admit, but the block holds.
        let o = run(&mut key, &p, 1, 1000);
        assert!(!o.decision.allowed && o.decided_by == 0);
        assert!(run(&mut key, &p, 1, 5010).decision.allowed);
        let l = key.unwrap();
        let State::Policy(m) = &l.state else { panic!() };
        let second = m.parts[1].as_ref().unwrap();
        assert_eq!((second.totals.admitted, second.totals.denied), (2, 0));
    }

    #[test]
    fn a_policy_key_encodes_and_decodes_to_the_same_value_and_refuses_corruption() {
        use crate::types::encoding::{decode, encode};
        let limits = [
            Limit {
                block_ms: 5000,
                ..lim(Algorithm::Gcra, 1, 1000)
            },
            lim(Algorithm::SlidingLog, 5, 60_000),
            lim(Algorithm::TokenBucket, 3, 1000),
        ];
        let mut key = None;
        run(&mut key, &pref(&limits, false), 1, 0);
        run(&mut key, &pref(&limits, false), 1, 1);
        run(&mut key, &pref(&limits, true), 1, 2);
        let l = key.unwrap();
        let bytes = encode(&l);
        assert_eq!(decode(bytes.as_bytes()), Ok(l.clone()));
        let b = bytes.as_bytes();
        for cut in 1..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = b.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_err(), "a trailing byte");
        // After the common fields: version, shadow_denied, the name's length (1), the
        // name ("p"), the limit count (3), then per limit 1 and its own body.
        let at = b.windows(3).position(|w| w == [1, b'p', 3]).unwrap();
        for (at, value) in [(at + 1, b' '), (at + 2, 9), (at + 2, 0), (at + 3, 2)] {
            let mut bad = b.to_vec();
            bad[at] = value;
            assert!(decode(&bad).is_err(), "byte {at} = {value}");
        }
    }

    #[test]
    fn peek_with_cost_zero_shows_the_fewest_remaining() {
        let limits = [
            lim(Algorithm::FixedWindow, 3, 1000),
            lim(Algorithm::FixedWindow, 2, 60_000),
        ];
        let p = pref(&limits, false);
        let mut key = None;
        let o = evaluate_policy(None, &p, 0, 0).unwrap();
        assert_eq!((o.decision.remaining, o.decided_by), (2, 1));
        run(&mut key, &p, 1, 0);
        let o = evaluate_policy(key.as_ref(), &p, 0, 0).unwrap();
        assert!(o.value.is_none());
        assert_eq!((o.decision.remaining, o.decided_by), (1, 1));
    }
}
