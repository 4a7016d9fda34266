//! The value stored under a limiter key, and the pure logic that turns a request into
//! a [`Change`] of it: evaluated once on the primary, applied the same way there, on
//! replicas and on AOF replay.

use crate::algorithms::calendar::{self, Calendar, CalendarWindow};
use crate::algorithms::leases::{Leases, Op, Step};
use crate::algorithms::sliding_log::{self, Append, SlidingLog};
use crate::algorithms::{
    fixed_window, gcra, sliding_window, token_bucket, Algorithm, Decision, Quota, MAX_ARG,
};
use crate::error::Error;
use crate::types::multi::Multi;

/// One request against a limit: `algorithm limit period [BURST n] [COST n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// The algorithm asked for.
    pub algorithm: Algorithm,
    /// limit, period and burst (window algorithms: burst = limit).
    pub quota: Quota,
    /// Units this request takes (0 only from RL.PEEK: nothing asked).
    pub cost: u64,
    /// CALENDAR's window (`Some` exactly for that algorithm).
    pub calendar: Option<Calendar>,
    /// `BLOCK ms`: when denied, block the key for this long (0: no block).
    pub block_ms: u64,
}

impl CheckRequest {
    /// A request without BLOCK; a CALENDAR one counts UTC days (set `calendar` for
    /// another unit or offset).
    pub fn new(algorithm: Algorithm, quota: Quota, cost: u64) -> Self {
        CheckRequest {
            algorithm,
            quota,
            cost,
            calendar: (algorithm == Algorithm::Calendar).then_some(Calendar {
                unit: calendar::Unit::Day,
                offset_min: 0,
            }),
            block_ms: 0,
        }
    }
}

/// One algorithm's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// State of a token bucket.
    TokenBucket(token_bucket::TokenBucket),
    /// State of a GCRA limiter.
    Gcra(gcra::Gcra),
    /// State of a fixed window.
    FixedWindow(fixed_window::FixedWindow),
    /// State of a two-window sliding counter.
    SlidingWindow(sliding_window::SlidingWindow),
    /// An exact log (inline: a log's value is boxed whole, see `types::packed`).
    SlidingLog(SlidingLog),
    /// Concurrency leases (a buffer of 24-byte leases).
    Leases(Leases),
    /// A policy's limits, each a limiter of its own (`types/multi.rs`).
    Policy(Box<Multi>),
    /// A calendar quota's window.
    Calendar(CalendarWindow),
    /// No algorithm yet: a key RL.BLOCK created, holding only its block.
    Blocked,
}

impl State {
    /// The algorithm this state belongs to (`None`: a block-only key).
    pub fn algorithm(&self) -> Option<Algorithm> {
        Some(match self {
            State::TokenBucket(_) => Algorithm::TokenBucket,
            State::Gcra(_) => Algorithm::Gcra,
            State::FixedWindow(_) => Algorithm::FixedWindow,
            State::SlidingWindow(_) => Algorithm::SlidingWindow,
            State::SlidingLog(_) => Algorithm::SlidingLog,
            State::Leases(_) => Algorithm::Leases,
            State::Calendar(_) => Algorithm::Calendar,
            State::Policy(_) => Algorithm::Policy,
            State::Blocked => return None,
        })
    }
}

/// Units admitted and denied since the key was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Units admitted.
    pub admitted: u64,
    /// Units denied (on this key, while it existed).
    pub denied: u64,
}

/// A limiter key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limiter {
    /// The quota the state is expressed in (that of the last admitted check).
    pub quota: Quota,
    /// Per-key usage totals.
    pub totals: Totals,
    /// The algorithm's state.
    pub state: State,
    /// Unix ms until which every check is denied (`BLOCK ms`, RL.BLOCK); 0: never
    /// blocked. A past time means nothing.
    pub blocked_until_ms: u64,
}

impl Limiter {
    /// The algorithm this limiter runs (`None`: a key holding only a block).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.state.algorithm()
    }

    /// Milliseconds the key stays blocked from `now_ms` (0: not blocked).
    pub fn blocked_for(&self, now_ms: u64) -> u64 {
        self.blocked_until_ms.saturating_sub(now_ms)
    }

    /// A key holding only a block until `until_ms`, with these totals.
    pub fn blocked_only(until_ms: u64, totals: Totals) -> Self {
        Limiter {
            // Never read: a block-only key has no algorithm to run the quota through.
            quota: Quota::new(1, 1, 1).expect("a valid quota"),
            totals,
            state: State::Blocked,
            blocked_until_ms: until_ms,
        }
    }

    /// Bytes its log or leases have allocated (0 for the fixed-size algorithms).
    pub fn heap_bytes(&self) -> usize {
        match &self.state {
            State::SlidingLog(l) => l.heap_bytes(),
            State::Leases(l) => l.heap_bytes(),
            State::Policy(m) => std::mem::size_of::<Multi>() + m.heap_bytes(),
            _ => 0,
        }
    }
}

/// What a request does to a key: computed without touching it, applied by [`apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing (denied on a missing key, or cost above what can ever fit).
    Nothing,
    /// Admitted: store this fixed-size state under `quota`, count `cost` admitted.
    Set {
        /// The request's quota.
        quota: Quota,
        /// The new state (never a log).
        state: State,
        /// Units admitted.
        cost: u64,
    },
    /// Admitted on a log: drop expired units and remember new ones.
    Append {
        /// The request's quota.
        quota: Quota,
        /// What to do to the log.
        append: Append,
    },
    /// Denied on an existing key: only its denied total grows.
    Deny {
        /// Units denied.
        cost: u64,
    },
    /// Denied and blocked (`BLOCK ms`), or blocked by RL.BLOCK (cost 0): the denied
    /// total grows and the key is blocked until `until_ms`; a missing key is created
    /// holding only the block.
    Block {
        /// Units denied.
        cost: u64,
        /// Unix ms the block ends.
        until_ms: u64,
    },
    /// A lease write (RL.ACQUIRE admitted, RL.RELEASE, RL.RENEW): `quota` (an
    /// acquire's limit and lease_ms) replaces the stored one when given.
    Lease {
        /// The acquire's quota; `None` keeps the key's.
        quota: Option<Quota>,
        /// What to do to the leases.
        step: Step,
    },
}

impl Change {
    /// Whether the change charges the key (and so moves its expiry).
    pub fn charges(&self) -> bool {
        matches!(self, Change::Set { .. } | Change::Append { .. })
    }
}

/// A decision and the change that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The reply.
    pub decision: Decision,
    /// What to apply to the key if the request is committed.
    pub change: Change,
}

/// RL.PEEK: the decision `req` would get at `now_ms`, changing nothing. With `cost` 0
/// nothing is asked: it is allowed, waits for nothing, and `remaining` is what the key
/// admits right now (the number of cost-1 checks that would be admitted in a row).
pub fn preview(
    current: Option<&Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<Decision, Error> {
    let d = evaluate(current, req, now_ms)?.decision;
    Ok(if req.cost == 0 {
        Decision {
            allowed: true,
            retry_after_ms: -1,
            ..d
        }
    } else {
        d
    })
}

/// Evaluates `req` at `now_ms` against the key's current value (`None`: no key),
/// changing nothing. A stored quota that differs from the request's is converted
/// first; a key of another algorithm is an error, not a silent reset.
pub fn evaluate(
    current: Option<&Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<Outcome, Error> {
    if let Some(c) = current {
        let left = c.blocked_for(now_ms);
        if left > 0 {
            // Blocked: denied at the cost of this lookup, whatever the algorithm.
            let left = left.min(i64::MAX as u64) as i64;
            let decision = Decision {
                allowed: false,
                limit: req.quota.limit(),
                remaining: 0,
                retry_after_ms: left,
                reset_after_ms: left,
            };
            let change = Change::Deny { cost: req.cost };
            return Ok(Outcome { decision, change });
        }
    }
    // A key that held only a block which has ended is as good as missing.
    let current = current.filter(|c| c.algorithm().is_some());
    if let Some(c) = current {
        if c.algorithm() != Some(req.algorithm) {
            return Err(Error::AlgorithmMismatch);
        }
    }
    let mut outcome = evaluate_unblocked(current, req, now_ms)?;
    if req.block_ms > 0 && !outcome.decision.allowed && req.cost > 0 {
        let until_ms = now_ms.saturating_add(req.block_ms).min(i64::MAX as u64);
        let d = &mut outcome.decision;
        let block = (until_ms - now_ms) as i64;
        if d.retry_after_ms >= 0 {
            d.retry_after_ms = d.retry_after_ms.max(block);
        }
        d.reset_after_ms = d.reset_after_ms.max(block);
        outcome.change = Change::Block {
            cost: req.cost,
            until_ms,
        };
    }
    Ok(outcome)
}

/// [`evaluate`] on a key that is not blocked and holds `req`'s algorithm (or nothing).
fn evaluate_unblocked(
    current: Option<&Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<Outcome, Error> {
    let q = &req.quota;
    let old = current.map(|c| (&c.quota, &c.state));
    macro_rules! fixed {
        ($module:ident, $variant:ident) => {{
            let state = match old {
                Some((oq, State::$variant(s))) if oq == q => Some(*s),
                Some((oq, State::$variant(s))) => Some($module::convert(s, oq, q, now_ms)),
                _ => None,
            };
            let (d, next) = $module::check(state.as_ref(), q, now_ms, req.cost);
            let change = next.map(|s| Change::Set {
                quota: *q,
                state: State::$variant(s),
                cost: req.cost,
            });
            (d, change)
        }};
    }
    let (decision, admitted) = match req.algorithm {
        Algorithm::TokenBucket => fixed!(token_bucket, TokenBucket),
        Algorithm::Gcra => fixed!(gcra, Gcra),
        Algorithm::FixedWindow => fixed!(fixed_window, FixedWindow),
        Algorithm::SlidingWindow => fixed!(sliding_window, SlidingWindow),
        // Leases are evaluated by their own commands (`commands/lease.rs`), policies by
        // `types/multi.rs`.
        Algorithm::Leases | Algorithm::Policy => return Err(Error::AlgorithmMismatch),
        Algorithm::Calendar => {
            let cal = req.calendar.ok_or(Error::Internal)?;
            let state = match old {
                Some((_, State::Calendar(s))) if s.calendar == cal => Some(*s),
                Some((_, State::Calendar(s))) => Some(calendar::convert(s, &cal, now_ms)),
                _ => None,
            };
            let (d, next) = calendar::check(state.as_ref(), &cal, q.limit(), now_ms, req.cost);
            let change = next.map(|s| Change::Set {
                quota: *q,
                state: State::Calendar(s),
                cost: req.cost,
            });
            (d, change)
        }
        Algorithm::SlidingLog => {
            let empty = SlidingLog::default();
            let log = match old {
                Some((_, State::SlidingLog(l))) => l,
                _ => &empty,
            };
            let (d, append) = sliding_log::check(log, q, now_ms, req.cost);
            (d, append.map(|append| Change::Append { quota: *q, append }))
        }
    };
    let change = match (admitted, current) {
        (Some(c), _) => c,
        (None, Some(_)) => Change::Deny { cost: req.cost },
        (None, None) => Change::Nothing,
    };
    Ok(Outcome { decision, change })
}

/// The key's capacity right now without a request: `remaining` and `reset_after_ms`.
pub fn status(l: &Limiter, now_ms: u64) -> Decision {
    if let State::Policy(m) = &l.state {
        return crate::types::multi::multi_status(l, m, now_ms);
    }
    let Some(algorithm) = l.algorithm() else {
        // A block-only key: no capacity to report until an algorithm's check.
        return Decision {
            allowed: false,
            limit: 0,
            remaining: 0,
            retry_after_ms: -1,
            reset_after_ms: 0,
        };
    };
    if let State::Leases(s) = &l.state {
        let reset = s.latest_expiry(now_ms).map_or(0, |at| at - now_ms);
        return Decision {
            allowed: false,
            limit: l.quota.limit(),
            remaining: l.quota.limit().saturating_sub(s.held_units(now_ms)),
            retry_after_ms: -1,
            reset_after_ms: reset.min(i64::MAX as u64) as i64,
        };
    }
    let req = CheckRequest {
        calendar: match &l.state {
            State::Calendar(s) => Some(s.calendar),
            _ => None,
        },
        // Larger than any burst or limit: evaluated, never admitted.
        ..CheckRequest::new(algorithm, l.quota, MAX_ARG)
    };
    // The algorithm's own view, whether or not the key is blocked.
    let mut d = evaluate_unblocked(Some(l), &req, now_ms)
        .map(|o| o.decision)
        .unwrap_or(Decision {
            allowed: false,
            limit: l.quota.limit(),
            remaining: 0,
            retry_after_ms: -1,
            reset_after_ms: 0,
        });
    d.retry_after_ms = -1;
    d
}

/// Applies a change to the key's value. Returns the value to create when the key is
/// missing (`slot` is `None`) and the change creates one.
pub fn apply(slot: Option<&mut Limiter>, change: Change) -> Option<Limiter> {
    match (slot, change) {
        (_, Change::Nothing) | (None, Change::Deny { .. }) => None,
        (Some(l), Change::Deny { cost }) => {
            l.totals.denied = l.totals.denied.saturating_add(cost);
            None
        }
        (Some(l), Change::Block { cost, until_ms }) => {
            l.totals.denied = l.totals.denied.saturating_add(cost);
            l.blocked_until_ms = until_ms;
            None
        }
        (None, Change::Block { cost, until_ms }) => Some(Limiter::blocked_only(
            until_ms,
            Totals {
                admitted: 0,
                denied: cost,
            },
        )),
        (Some(l), Change::Set { quota, state, cost }) => {
            l.quota = quota;
            l.state = state;
            l.totals.admitted = l.totals.admitted.saturating_add(cost);
            None
        }
        (None, Change::Set { quota, state, cost }) => Some(Limiter {
            quota,
            totals: Totals {
                admitted: cost,
                denied: 0,
            },
            state,
            blocked_until_ms: 0,
        }),
        (Some(l), Change::Append { quota, append }) => {
            l.quota = quota;
            if l.algorithm().is_none() {
                // A block-only key whose block ended starts its log now.
                l.state = State::SlidingLog(SlidingLog::default());
            }
            if let State::SlidingLog(log) = &mut l.state {
                log.apply(&append, quota.limit());
            }
            l.totals.admitted = l.totals.admitted.saturating_add(append.cost);
            None
        }
        (Some(l), Change::Lease { quota, step }) => {
            if l.algorithm().is_none() {
                // A block-only key whose block ended starts holding leases now.
                l.state = State::Leases(Leases::default());
            }
            if let State::Leases(s) = &mut l.state {
                s.apply(&step);
                if let Some(q) = quota {
                    l.quota = q;
                }
                if let Op::Acquire(lease) = step.op {
                    l.totals.admitted = l.totals.admitted.saturating_add(lease.units);
                }
            }
            None
        }
        (None, Change::Lease { quota, step }) => {
            let (Some(quota), Op::Acquire(lease)) = (quota, step.op) else {
                // Releasing or renewing on a missing key does nothing.
                return None;
            };
            let mut s = Leases::default();
            s.apply(&step);
            Some(Limiter {
                quota,
                totals: Totals {
                    admitted: lease.units,
                    denied: 0,
                },
                state: State::Leases(s),
                blocked_until_ms: 0,
            })
        }
        (None, Change::Append { quota, append }) => {
            let mut log = SlidingLog::default();
            log.apply(&append, quota.limit());
            Some(Limiter {
                quota,
                totals: Totals {
                    admitted: append.cost,
                    denied: 0,
                },
                state: State::SlidingLog(log),
                blocked_until_ms: 0,
            })
        }
    }
}

/// Gives back up to `units` to a key's current state at `now_ms`, with its stored
/// quota: never above the limit or burst, never into a window that has ended, the
/// newest units of a log. Returns the changed value (`None`: nothing given back) and
/// the units given back; the key's admitted total goes down by as many. A lease key
/// (RL.RELEASE frees leases) is an algorithm mismatch.
pub fn refund(l: &Limiter, units: u64, now_ms: u64) -> Result<(Option<Limiter>, u64), Error> {
    let q = &l.quota;
    let (state, given) = match &l.state {
        State::TokenBucket(s) => {
            let (s, n) = token_bucket::refund(s, q, now_ms, units);
            (State::TokenBucket(s), n)
        }
        State::Gcra(s) => {
            let (s, n) = gcra::refund(s, q, now_ms, units);
            (State::Gcra(s), n)
        }
        State::FixedWindow(s) => {
            let (s, n) = fixed_window::refund(s, q, now_ms, units);
            (State::FixedWindow(s), n)
        }
        State::SlidingWindow(s) => {
            let (s, n) = sliding_window::refund(s, q, now_ms, units);
            (State::SlidingWindow(s), n)
        }
        State::SlidingLog(log) => {
            let mut log = log.clone();
            let n = log.refund(q, now_ms, units);
            (State::SlidingLog(log), n)
        }
        State::Calendar(s) => {
            let (s, n) = calendar::refund(s, now_ms, units);
            (State::Calendar(s), n)
        }
        State::Leases(_) | State::Policy(_) => return Err(Error::AlgorithmMismatch),
        State::Blocked => return Ok((None, 0)),
    };
    if given == 0 {
        return Ok((None, 0));
    }
    let changed = Limiter {
        quota: l.quota,
        totals: Totals {
            admitted: l.totals.admitted.saturating_sub(given),
            denied: l.totals.denied,
        },
        state,
        blocked_until_ms: l.blocked_until_ms,
    };
    Ok((Some(changed), given))
}

/// Evaluates a partial grant (`AT_MOST` with `COST n`, TOKEN_BUCKET and GCRA): admits
/// as many whole units as are available now, up to `req.cost`, and charges only those.
/// Returns the outcome (for the units granted, or a denial of one unit when none is
/// available) and the units granted.
pub fn evaluate_at_most(
    current: Option<&Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<(Outcome, u64), Error> {
    // What a request larger than any burst reports: the whole units available now.
    let probe = CheckRequest {
        cost: MAX_ARG,
        ..*req
    };
    let available = evaluate(current, &probe, now_ms)?.decision.remaining;
    let granted = available.min(req.cost);
    let ask = CheckRequest {
        cost: granted.max(1),
        ..*req
    };
    let outcome = evaluate(current, &ask, now_ms)?;
    let granted = if outcome.decision.allowed { granted } else { 0 };
    Ok((outcome, granted))
}
