//! Sliding log: exact. Remembers the time of every admitted unit still inside the
//! window; a unit admitted at `a` counts while `now < a + period_ms`.
//!
//! Times are stored as `u32` offsets from a base time, 4 bytes per unit, so
//! `period_ms` is limited to `u32::MAX` (about 49 days). The buffer grows by at most
//! doubling and never beyond the quota's limit, so a key holds at most 8 bytes per
//! remembered unit plus a constant.

use std::collections::VecDeque;

use super::{clamp_i64, Decision, Quota};

/// The longest period a log accepts.
pub const MAX_PERIOD_MS: u64 = u32::MAX as u64;

/// The most units a log may ever hold, whatever the configuration: decoding and
/// replicated changes beyond it are refused.
pub const MAX_UNITS: u64 = 10_000_000;

/// The remembered units, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlidingLog {
    base_ms: u64,
    offsets: VecDeque<u32>,
}

/// What an admitted check does to a log: drop the units that left the window, then
/// remember `cost` units at `at_ms`. Applied as is on replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Append {
    /// Units at the front that are no longer in the window.
    pub expired: u64,
    /// The time the new units are remembered at (never before the newest unit).
    pub at_ms: u64,
    /// How many units to remember.
    pub cost: u64,
}

impl SlidingLog {
    /// Builds a log from its base time and offsets (oldest first), as decoded.
    /// Returns `None` unless the offsets are non-decreasing and the times fit in i64.
    pub fn from_parts(base_ms: u64, offsets: VecDeque<u32>) -> Option<Self> {
        let sorted = offsets
            .iter()
            .zip(offsets.iter().skip(1))
            .all(|(a, b)| a <= b);
        let newest = offsets.back().map_or(0, |&o| u64::from(o));
        (sorted && base_ms.checked_add(newest)? <= i64::MAX as u64)
            .then_some(Self { base_ms, offsets })
    }

    /// Rebuilds a log that [`from_parts`](Self::from_parts) or the algorithm made,
    /// kept packed in memory (not from outside input: nothing is checked again).
    pub fn from_packed(base_ms: u64, offsets: VecDeque<u32>) -> Self {
        Self { base_ms, offsets }
    }

    /// The base time and the offsets, for encoding.
    pub fn parts(&self) -> (u64, &VecDeque<u32>) {
        (self.base_ms, &self.offsets)
    }

    /// Units remembered (including any that left the window but were not yet dropped).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no unit is remembered.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Bytes allocated for the remembered units.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<u32>()
    }

    fn time(&self, i: usize) -> u64 {
        self.base_ms + u64::from(self.offsets[i])
    }

    /// Unix ms of the oldest remembered unit.
    pub fn oldest_ms(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.time(0))
    }

    /// Unix ms of the newest remembered unit.
    pub fn newest_ms(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.time(self.len() - 1))
    }

    /// Applies an admitted check. `max_units` bounds how far the buffer may grow
    /// beyond what it needs (the quota's limit).
    pub fn apply(&mut self, a: &Append, max_units: u64) {
        let expired = (a.expired as usize).min(self.len());
        self.offsets.drain(..expired);
        // Never earlier than the newest unit, so the log stays sorted.
        let at_ms = self.newest_ms().map_or(a.at_ms, |n| n.max(a.at_ms));
        if self.is_empty() {
            self.base_ms = at_ms;
        } else if at_ms - self.base_ms > u64::from(u32::MAX) {
            // Rebase on the oldest unit; all live units are within one period of it.
            let shift = self.offsets[0];
            self.offsets.iter_mut().for_each(|o| *o -= shift);
            self.base_ms += u64::from(shift);
        }
        let offset = (at_ms - self.base_ms).min(u64::from(u32::MAX)) as u32;
        let needed = self.len().saturating_add(a.cost as usize);
        if needed > self.offsets.capacity() {
            let target = needed.max(self.len().saturating_mul(2).min(max_units as usize));
            self.offsets.reserve_exact(target - self.len());
        }
        self.offsets
            .extend(std::iter::repeat_n(offset, a.cost as usize));
        if self.offsets.capacity() > 4 * self.len().max(4) {
            self.offsets.shrink_to(2 * self.len());
        }
    }
}

/// Evaluates one request of `cost` units without changing the log. When admitted, the
/// returned [`Append`] is what to apply.
pub fn check(log: &SlidingLog, q: &Quota, now_ms: u64, cost: u64) -> (Decision, Option<Append>) {
    let p = q.period_ms();
    // Units that left the window: admitted at or before now - P.
    let expired = log
        .offsets
        .partition_point(|&o| log.base_ms + u64::from(o) + p <= now_ms);
    let live = (log.len() - expired) as u64;
    let until = |t: u64| clamp_i64(u128::from((t + p).saturating_sub(now_ms)));
    let newest = log.newest_ms();
    let reset = if live > 0 { newest.map_or(0, until) } else { 0 };
    if cost > q.limit() || live.saturating_add(cost) > q.limit() {
        let retry = if cost > q.limit() {
            -1
        } else {
            // The unit whose leaving makes room: the (live + cost - limit)-th live one.
            let k = (live + cost - q.limit()) as usize;
            until(log.time(expired + k - 1))
        };
        let d = Decision {
            allowed: false,
            limit: q.limit(),
            remaining: q.limit().saturating_sub(live),
            retry_after_ms: retry,
            reset_after_ms: reset,
        };
        return (d, None);
    }
    let at_ms = newest.map_or(now_ms, |n| n.max(now_ms));
    let d = Decision {
        allowed: true,
        limit: q.limit(),
        remaining: q.limit() - live - cost,
        retry_after_ms: -1,
        // A cost-0 preview adds nothing: the log rests when its newest unit leaves.
        reset_after_ms: if cost == 0 { reset } else { until(at_ms) },
    };
    let append = Append {
        expired: expired as u64,
        at_ms,
        cost,
    };
    (d, Some(append))
}

impl SlidingLog {
    /// Forgets up to `units` of the newest units still in the window at `now_ms` (those
    /// admitted after `now_ms - period_ms`); returns how many were forgotten.
    pub fn refund(&mut self, q: &Quota, now_ms: u64, units: u64) -> u64 {
        let p = q.period_ms();
        let expired = self
            .offsets
            .partition_point(|&o| self.base_ms + u64::from(o) + p <= now_ms);
        let live = (self.len() - expired) as u64;
        let given = live.min(units);
        self.offsets.truncate(self.len() - given as usize);
        given
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: u64, period: u64) -> Quota {
        Quota::new(limit, period, limit).unwrap()
    }

    fn run(log: &mut SlidingLog, quota: &Quota, now: u64, cost: u64) -> Decision {
        let (d, a) = check(log, quota, now, cost);
        if let Some(a) = a {
            log.apply(&a, quota.limit());
        }
        d
    }

    #[test]
    fn admits_exactly_limit_in_any_window_and_retries_exactly() {
        let quota = q(3, 1000);
        let mut log = SlidingLog::default();
        for now in [100, 400, 900] {
            assert!(run(&mut log, &quota, now, 1).allowed);
        }
        let d = run(&mut log, &quota, 1099, 1);
        assert_eq!((d.allowed, d.retry_after_ms, d.remaining), (false, 1, 0));
        let d = run(&mut log, &quota, 1100, 1);
        assert_eq!((d.allowed, d.remaining, d.reset_after_ms), (true, 0, 1000));
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn costly_request_waits_for_enough_units_to_leave() {
        let quota = q(4, 100);
        let mut log = SlidingLog::default();
        run(&mut log, &quota, 0, 1);
        run(&mut log, &quota, 10, 1);
        run(&mut log, &quota, 20, 2);
        let d = run(&mut log, &quota, 30, 2);
        // Two units must leave: the one at 0 (at 100) and the one at 10 (at 110).
        assert_eq!(d.retry_after_ms, 80);
        assert_eq!(run(&mut log, &quota, 30, 5).retry_after_ms, -1);
    }

    #[test]
    fn a_backwards_clock_appends_at_the_newest_time() {
        let quota = q(5, 1000);
        let mut log = SlidingLog::default();
        run(&mut log, &quota, 5000, 1);
        let d = run(&mut log, &quota, 4000, 1);
        assert!(d.allowed);
        assert_eq!(log.newest_ms(), Some(5000));
        assert_eq!(d.reset_after_ms, 2000);
    }

    #[test]
    fn offsets_rebase_when_time_moves_past_u32() {
        let period = MAX_PERIOD_MS;
        let quota = q(2, period);
        let mut log = SlidingLog::default();
        run(&mut log, &quota, 10, 1);
        run(&mut log, &quota, period, 1);
        // The first unit left; the second is kept with its exact time.
        assert!(run(&mut log, &quota, period + 20, 1).allowed);
        assert_eq!(log.oldest_ms(), Some(period));
        assert_eq!(log.newest_ms(), Some(period + 20));
    }

    #[test]
    fn memory_stays_within_two_times_the_units() {
        let quota = q(1000, 60_000);
        let mut log = SlidingLog::default();
        for i in 0..1000 {
            run(&mut log, &quota, i, 1);
            assert!(
                log.heap_bytes() <= 8 * log.len().max(4),
                "{} units",
                log.len()
            );
        }
    }
}
