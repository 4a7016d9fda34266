//! Concurrency leases: at most `limit` units held at once. Each admitted acquire holds
//! its units under a lease until it is released, or until it expires by itself at
//! `expires_at_ms` (a crashed holder never keeps capacity for ever). A lease counts
//! while `now < expires_at_ms`.
//!
//! Pure: the command layer reads the clock and draws the lease ids, and passes both in.
//! Every write is a [`Step`]: drop the leases expired at `now_ms`, then one operation;
//! replicas and the AOF apply the same step, so they never read a clock or draw an id.
//!
//! Memory: 24 bytes per lease (`id`, `expires_at_ms`, `units`) in one buffer kept at
//! most [`SLACK`] leases larger than needed, plus the value's constant.

/// The most leases one key may ever hold, whatever the configuration (the upper end of
/// `ratelimit.max-leases-per-key`): decoding and replicated steps beyond it are refused.
pub const MAX_LEASES: u64 = 100_000;

/// Spare room the buffer may keep, in leases.
pub const SLACK: usize = 4;

/// The longest lease, in ms; any `lease_ms` up to `i64::MAX` is accepted and the
/// expiry saturates at `i64::MAX`.
pub const MAX_TIME_MS: u64 = i64::MAX as u64;

/// One held lease: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease's id: random, never 0, unique within the key.
    pub id: u64,
    /// Unix ms at which the lease stops counting.
    pub expires_at_ms: u64,
    /// Units it holds (at least 1).
    pub units: u64,
}

/// The leases a key holds, sorted by `(expires_at_ms, id)`; some may have expired and
/// not yet been dropped (they no longer count).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leases {
    held: Vec<Lease>,
}

/// One write's operation, after the expired leases are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Hold a new lease.
    Acquire(Lease),
    /// Free a lease (no-op if it is not held).
    Release {
        /// Its id.
        id: u64,
    },
    /// Move a held lease's expiry (no-op if it is not held).
    Renew {
        /// Its id.
        id: u64,
        /// Its new expiry.
        expires_at_ms: u64,
    },
}

/// A write: drop every lease with `expires_at_ms <= now_ms`, then `op`. Applied as is
/// on replicas and in the AOF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The instant the step was evaluated at on the primary.
    pub now_ms: u64,
    /// What it does.
    pub op: Op,
}

/// An acquire's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquired {
    /// Whether the units are now held.
    pub acquired: bool,
    /// The request's limit.
    pub limit: u64,
    /// Units free after this request.
    pub remaining: u64,
    /// -1 when acquired; otherwise ms until enough leases expire for this request to
    /// fit (for `COST 1`: until the earliest lease expires), -1 if it never can
    /// (`units > limit`).
    pub retry_after_ms: i64,
    /// The new lease's id when acquired.
    pub id: Option<u64>,
}

/// The id source gave no fresh id (0, or one the key holds) in [`ID_ATTEMPTS`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFreshId;

/// Draws of the id source an acquire makes before giving up.
pub const ID_ATTEMPTS: usize = 64;

fn until(at: u64, now: u64) -> i64 {
    at.saturating_sub(now).min(MAX_TIME_MS) as i64
}

impl Leases {
    /// Builds leases from decoded parts. `None` unless sorted by `(expires_at_ms, id)`,
    /// ids non-zero and distinct, units at least 1, times within `i64`, the total
    /// units within `i64` and at most [`MAX_LEASES`] leases.
    pub fn from_parts(held: Vec<Lease>) -> Option<Self> {
        if held.len() as u64 > MAX_LEASES {
            return None;
        }
        let mut total: u64 = 0;
        for l in &held {
            if l.id == 0 || l.units == 0 || l.expires_at_ms > MAX_TIME_MS {
                return None;
            }
            total = total.checked_add(l.units).filter(|&t| t <= MAX_TIME_MS)?;
        }
        let sorted = held
            .windows(2)
            .all(|w| (w[0].expires_at_ms, w[0].id) < (w[1].expires_at_ms, w[1].id));
        let mut ids: Vec<u64> = held.iter().map(|l| l.id).collect();
        ids.sort_unstable();
        let distinct = ids.windows(2).all(|w| w[0] != w[1]);
        (sorted && distinct).then_some(Self { held })
    }

    /// Every lease stored (including expired ones not yet dropped), for encoding.
    pub fn parts(&self) -> &[Lease] {
        &self.held
    }

    /// Bytes allocated for the leases.
    pub fn heap_bytes(&self) -> usize {
        self.held.capacity() * std::mem::size_of::<Lease>()
    }

    /// The leases that count at `now_ms`, earliest expiry first.
    pub fn live(&self, now_ms: u64) -> &[Lease] {
        let first = self.held.partition_point(|l| l.expires_at_ms <= now_ms);
        &self.held[first..]
    }

    /// Units held at `now_ms`.
    pub fn held_units(&self, now_ms: u64) -> u64 {
        self.live(now_ms)
            .iter()
            .fold(0u64, |t, l| t.saturating_add(l.units))
    }

    /// The latest expiry among the leases that count at `now_ms`.
    pub fn latest_expiry(&self, now_ms: u64) -> Option<u64> {
        self.live(now_ms).last().map(|l| l.expires_at_ms)
    }

    /// The held lease `id` at `now_ms`.
    pub fn find(&self, id: u64, now_ms: u64) -> Option<&Lease> {
        self.live(now_ms).iter().find(|l| l.id == id)
    }

    /// Evaluates acquiring `units` under `limit` for `lease_ms` at `now_ms`, with at
    /// most `cap` leases, changing nothing. `next_id` is drawn until it gives a
    /// non-zero id the key does not hold. When acquired, the [`Step`] is what to apply.
    #[allow(clippy::too_many_arguments)]
    pub fn acquire(
        &self,
        limit: u64,
        lease_ms: u64,
        units: u64,
        now_ms: u64,
        cap: u64,
        mut next_id: impl FnMut() -> u64,
    ) -> Result<(Acquired, Option<Step>), NoFreshId> {
        let live = self.live(now_ms);
        let held = self.held_units(now_ms);
        let denied = |retry_after_ms| Acquired {
            acquired: false,
            limit,
            remaining: limit.saturating_sub(held),
            retry_after_ms,
            id: None,
        };
        if units > limit {
            return Ok((denied(-1), None));
        }
        if live.len() as u64 >= cap {
            // Full of leases: the earliest expiry frees one.
            let retry = live.first().map_or(-1, |l| until(l.expires_at_ms, now_ms));
            return Ok((denied(retry), None));
        }
        if held.saturating_add(units) > limit {
            // The lease whose expiry leaves room (leases expire in order).
            let excess = held.saturating_add(units) - limit;
            let mut freed = 0u64;
            let retry = live
                .iter()
                .find(|l| {
                    freed = freed.saturating_add(l.units);
                    freed >= excess
                })
                .map_or(-1, |l| until(l.expires_at_ms, now_ms));
            return Ok((denied(retry), None));
        }
        let mut id = None;
        for _ in 0..ID_ATTEMPTS {
            let candidate = next_id();
            if candidate != 0 && self.held.iter().all(|l| l.id != candidate) {
                id = Some(candidate);
                break;
            }
        }
        let id = id.ok_or(NoFreshId)?;
        let lease = Lease {
            id,
            expires_at_ms: now_ms.saturating_add(lease_ms).min(MAX_TIME_MS),
            units,
        };
        let reply = Acquired {
            acquired: true,
            limit,
            remaining: limit - held - units,
            retry_after_ms: -1,
            id: Some(id),
        };
        Ok((
            reply,
            Some(Step {
                now_ms,
                op: Op::Acquire(lease),
            }),
        ))
    }

    /// Evaluates releasing `id` at `now_ms`: the units it frees (0 if it is not held)
    /// and the step to apply when it is.
    pub fn release(&self, id: u64, now_ms: u64) -> (u64, Option<Step>) {
        match self.find(id, now_ms) {
            Some(l) => (
                l.units,
                Some(Step {
                    now_ms,
                    op: Op::Release { id },
                }),
            ),
            None => (0, None),
        }
    }

    /// Evaluates renewing `id` to expire `lease_ms` after `now_ms` (which may shorten
    /// it): the step to apply, `None` if the lease is not held (released or expired).
    pub fn renew(&self, id: u64, lease_ms: u64, now_ms: u64) -> Option<Step> {
        self.find(id, now_ms).map(|_| Step {
            now_ms,
            op: Op::Renew {
                id,
                expires_at_ms: now_ms.saturating_add(lease_ms).min(MAX_TIME_MS),
            },
        })
    }

    /// The latest expiry of the leases that count once `step` is applied (`None`: none
    /// left), without applying it.
    pub fn latest_after(&self, step: &Step) -> Option<u64> {
        let live = self.live(step.now_ms);
        let latest_other = |id: u64| live.iter().rev().find(|l| l.id != id);
        let kept = match step.op {
            Op::Acquire(l) => Some(l.expires_at_ms),
            Op::Release { .. } => None,
            Op::Renew { expires_at_ms, .. } => Some(expires_at_ms),
        };
        let id = match step.op {
            Op::Acquire(l) => l.id,
            Op::Release { id } | Op::Renew { id, .. } => id,
        };
        let other = latest_other(id).map(|l| l.expires_at_ms);
        kept.max(other).filter(|&at| at > step.now_ms)
    }

    /// Whether `step` may be applied to these leases with `limit` and `cap`: what a
    /// primary sends always is. Checked for `RL.APPLY` payloads, which clients can send.
    pub fn admits(&self, step: &Step, limit: u64, cap: u64) -> bool {
        if step.now_ms > MAX_TIME_MS {
            return false;
        }
        match step.op {
            Op::Acquire(l) => {
                l.id != 0
                    && l.units >= 1
                    && l.expires_at_ms > step.now_ms
                    && l.expires_at_ms <= MAX_TIME_MS
                    && self.held.iter().all(|h| h.id != l.id)
                    && (self.live(step.now_ms).len() as u64) < cap.min(MAX_LEASES)
                    && self
                        .held_units(step.now_ms)
                        .checked_add(l.units)
                        .is_some_and(|t| t <= limit)
            }
            Op::Release { .. } => true,
            Op::Renew { expires_at_ms, .. } => expires_at_ms <= MAX_TIME_MS,
        }
    }

    /// Applies a step: drops the leases expired at its instant, then its operation.
    pub fn apply(&mut self, step: &Step) {
        let expired = self
            .held
            .partition_point(|l| l.expires_at_ms <= step.now_ms);
        self.held.drain(..expired);
        match step.op {
            Op::Acquire(l) => {
                if self.held.iter().all(|h| h.id != l.id) {
                    self.insert(l);
                }
            }
            Op::Release { id } => {
                self.held.retain(|l| l.id != id);
            }
            Op::Renew { id, expires_at_ms } => {
                if let Some(i) = self.held.iter().position(|l| l.id == id) {
                    let mut l = self.held.remove(i);
                    l.expires_at_ms = expires_at_ms;
                    self.insert(l);
                }
            }
        }
        if self.held.capacity() > self.held.len() + 2 * SLACK {
            self.held.shrink_to(self.held.len() + SLACK);
        }
    }

    fn insert(&mut self, l: Lease) {
        if self.held.len() == self.held.capacity() {
            self.held.reserve_exact(SLACK);
        }
        let at = self
            .held
            .partition_point(|h| (h.expires_at_ms, h.id) < (l.expires_at_ms, l.id));
        self.held.insert(at, l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(s: &mut Leases, limit: u64, ms: u64, units: u64, now: u64) -> Acquired {
        let (a, step) = s.acquire(limit, ms, units, now, 1000, ids_from(s)).unwrap();
        if let Some(step) = step {
            s.apply(&step);
        }
        a
    }

    fn ids_from(s: &Leases) -> impl FnMut() -> u64 {
        let mut n = s.parts().iter().map(|l| l.id).max().unwrap_or(0);
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn admits_up_to_limit_and_expiry_frees_capacity_at_exactly_expires_at() {
        let mut s = Leases::default();
        assert!(take(&mut s, 2, 100, 1, 0).acquired);
        let a = take(&mut s, 2, 100, 1, 10);
        assert_eq!((a.acquired, a.remaining), (true, 0));
        let d = take(&mut s, 2, 100, 1, 50);
        assert_eq!((d.acquired, d.retry_after_ms, d.id), (false, 50, None));
        assert!(!take(&mut s, 2, 100, 1, 99).acquired);
        assert!(take(&mut s, 2, 100, 1, 100).acquired);
    }

    #[test]
    fn retry_waits_for_enough_units_to_expire_and_never_for_too_many() {
        let mut s = Leases::default();
        take(&mut s, 4, 100, 1, 0);
        take(&mut s, 4, 100, 1, 10);
        take(&mut s, 4, 100, 2, 20);
        assert_eq!(take(&mut s, 4, 100, 1, 30).retry_after_ms, 70);
        assert_eq!(take(&mut s, 4, 100, 2, 30).retry_after_ms, 80);
        assert_eq!(take(&mut s, 4, 100, 5, 30).retry_after_ms, -1);
    }

    #[test]
    fn release_frees_units_once_and_unknown_ids_change_nothing() {
        let mut s = Leases::default();
        let id = take(&mut s, 1, 1000, 1, 0).id.unwrap();
        assert_eq!(s.release(id ^ 1, 5), (0, None));
        assert!(s.renew(id ^ 1, 10, 5).is_none());
        let (freed, step) = s.release(id, 5);
        assert_eq!(freed, 1);
        s.apply(&step.unwrap());
        assert_eq!(s.release(id, 6), (0, None));
        assert!(take(&mut s, 1, 1000, 1, 6).acquired);
    }

    #[test]
    fn renew_moves_the_expiry_but_not_of_an_expired_lease() {
        let mut s = Leases::default();
        let id = take(&mut s, 1, 100, 1, 0).id.unwrap();
        let step = s.renew(id, 100, 90).unwrap();
        assert_eq!(s.latest_after(&step), Some(190));
        s.apply(&step);
        assert!(!take(&mut s, 1, 100, 1, 150).acquired);
        assert!(s.renew(id, 100, 190).is_none());
        assert!(take(&mut s, 1, 100, 1, 190).acquired);
    }

    #[test]
    fn the_cap_denies_like_capacity() {
        let mut s = Leases::default();
        for now in 0..3 {
            let (a, step) = s.acquire(10, 100, 1, now, 3, ids_from(&s)).unwrap();
            assert!(a.acquired);
            s.apply(&step.unwrap());
        }
        let (a, step) = s.acquire(10, 100, 1, 3, 3, ids_from(&s)).unwrap();
        assert_eq!((a.acquired, a.remaining, a.retry_after_ms), (false, 7, 97));
        assert!(step.is_none());
    }

    #[test]
    fn ids_are_never_zero_nor_a_held_one() {
        let mut s = Leases::default();
        let mut draws = [0, 7, 7, 9].into_iter();
        let (_, step) = s
            .acquire(5, 10, 1, 0, 10, || draws.next().unwrap())
            .unwrap();
        s.apply(&step.unwrap());
        let (a, _) = s
            .acquire(5, 10, 1, 0, 10, || draws.next().unwrap())
            .unwrap();
        assert_eq!(a.id, Some(9));
        assert_eq!(s.acquire(5, 10, 1, 0, 10, || 7), Err(NoFreshId));
    }

    #[test]
    fn a_clock_stepping_back_frees_nothing() {
        let mut s = Leases::default();
        take(&mut s, 1, 100, 1, 1000);
        assert!(!take(&mut s, 1, 100, 1, 500).acquired);
        assert_eq!(s.held_units(0), 1);
    }

    #[test]
    fn memory_is_24_bytes_per_lease_plus_slack() {
        assert_eq!(std::mem::size_of::<Lease>(), 24);
        let mut s = Leases::default();
        for i in 0..200 {
            take(&mut s, 1000, 1_000_000, 1, i);
            assert!(s.heap_bytes() <= 24 * (s.parts().len() + SLACK));
        }
        for l in s.parts().to_vec() {
            let (_, step) = s.release(l.id, 300);
            s.apply(&step.unwrap());
            assert!(s.heap_bytes() <= 24 * (s.parts().len() + 2 * SLACK));
        }
    }

    #[test]
    fn from_parts_refuses_unsorted_duplicate_or_zero() {
        let l = |id, at, units| Lease {
            id,
            expires_at_ms: at,
            units,
        };
        assert!(Leases::from_parts(vec![l(1, 5, 1), l(2, 6, 1)]).is_some());
        assert!(Leases::from_parts(vec![l(2, 6, 1), l(1, 5, 1)]).is_none());
        assert!(Leases::from_parts(vec![l(1, 5, 1), l(1, 6, 1)]).is_none());
        assert!(Leases::from_parts(vec![l(0, 5, 1)]).is_none());
        assert!(Leases::from_parts(vec![l(1, 5, 0)]).is_none());
        assert!(Leases::from_parts(vec![l(1, u64::MAX, 1)]).is_none());
        assert!(Leases::from_parts(vec![l(1, 5, i64::MAX as u64), l(2, 6, 1)]).is_none());
    }
}
