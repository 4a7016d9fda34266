//! Pure rate-limiting algorithms: `(state, quota, now, cost) -> (decision, new state)`.
//!
//! Nothing below this module touches Redis. Every quantity is an integer and every
//! operation is saturating, so any `Quota` (each field up to `i64::MAX`) and any clock
//! value is computed without overflow or panic.
//!
//! Both algorithms keep fractional capacity exactly: the token bucket counts tokens in
//! units of `1/period_ms` of a token, GCRA counts time in units of `1/limit` of a
//! millisecond. Neither rounds until a reply field is produced, and reply fields round
//! towards the conservative side (remaining down, waits up).

pub mod calendar;
pub mod fixed_window;
pub mod gcra;
pub mod leases;
pub mod sliding_log;
pub mod sliding_window;
pub mod token_bucket;

/// The largest value accepted for `limit`, `period_ms`, `burst` and `cost`.
pub const MAX_ARG: u64 = i64::MAX as u64;

/// A validated quota: `limit` units per `period_ms`, at most `burst` at once.
///
/// It can only be built through [`Quota::new`], so every field is in `1..=MAX_ARG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    limit: u64,
    period_ms: u64,
    burst: u64,
}

impl Quota {
    /// Builds a quota, or `None` if any field is outside `1..=MAX_ARG`.
    pub fn new(limit: u64, period_ms: u64, burst: u64) -> Option<Self> {
        let ok = |v: u64| (1..=MAX_ARG).contains(&v);
        (ok(limit) && ok(period_ms) && ok(burst)).then_some(Self {
            limit,
            period_ms,
            burst,
        })
    }

    /// Units admitted per period.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The period in milliseconds.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// The most units a rested limiter admits at once.
    pub fn burst(&self) -> u64 {
        self.burst
    }
}

/// The outcome of one check, as replied to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request was admitted (and charged).
    pub allowed: bool,
    /// The quota's `limit`.
    pub limit: u64,
    /// Units that would be admitted right now, after this request.
    pub remaining: u64,
    /// `-1` when allowed; otherwise milliseconds until this same request is admitted,
    /// or `-1` when it never can be (`cost > burst`).
    pub retry_after_ms: i64,
    /// Milliseconds until the limiter is fully rested.
    pub reset_after_ms: i64,
}

impl Decision {
    /// The absolute Unix time in milliseconds at which the limiter is fully rested:
    /// the expiry its key carries.
    pub fn rested_at_ms(&self, now_ms: u64) -> i64 {
        clamp_i64(u128::from(now_ms).saturating_add(self.reset_after_ms as u128))
    }
}

/// Saturates a non-negative wide integer into an `i64` reply field.
pub(crate) fn clamp_i64(v: u128) -> i64 {
    v.min(i64::MAX as u128) as i64
}

/// Saturates a non-negative wide integer into a `u64`.
pub(crate) fn clamp_u64(v: u128) -> u64 {
    v.min(u64::MAX as u128) as u64
}

/// `a / b` for `b > 0`, in 64-bit arithmetic when both fit (the common case: a
/// 128-bit division is a slow library call).
pub(crate) fn div(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) => u128::from(a / b),
        _ => a / b,
    }
}

/// `ceil(a / b)` for `b > 0`.
pub fn div_ceil(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) => u128::from(a.div_ceil(b)),
        _ => a / b + u128::from(!a.is_multiple_of(b)),
    }
}

/// The algorithms a key can be checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Algorithm {
    /// Continuous-refill token bucket ([`token_bucket`]).
    TokenBucket = 1,
    /// Generic cell rate algorithm ([`gcra`]).
    Gcra = 2,
    /// Counter per aligned window ([`fixed_window`]).
    FixedWindow = 3,
    /// Two-window weighted counter ([`sliding_window`]).
    SlidingWindow = 4,
    /// Exact log of admitted units ([`sliding_log`]).
    SlidingLog = 5,
    /// Concurrency leases ([`leases`]): RL.ACQUIRE / RL.RELEASE / RL.RENEW, never RL.CHECK.
    Leases = 6,
    /// A fixed window that follows the calendar ([`calendar`]): days, weeks, months.
    Calendar = 7,
    /// A policy's limits in one key (`RL.CHECK key POLICY name`, `crate::policy`).
    Policy = 8,
}

impl Algorithm {
    /// Every algorithm, in the order stats report them.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::TokenBucket,
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::SlidingLog,
        Algorithm::Leases,
        Algorithm::Calendar,
        Algorithm::Policy,
    ];

    /// The algorithms RL.CHECK (and RL.PEEK, RL.MCHECK) take by keyword: all but leases.
    pub const CHECKS: [Algorithm; 6] = [
        Algorithm::TokenBucket,
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::SlidingLog,
        Algorithm::Calendar,
    ];

    /// The keyword clients use (matched case-insensitively).
    pub fn keyword(self) -> &'static str {
        match self {
            Algorithm::TokenBucket => "TOKEN_BUCKET",
            Algorithm::Gcra => "GCRA",
            Algorithm::FixedWindow => "FIXED_WINDOW",
            Algorithm::SlidingWindow => "SLIDING_WINDOW",
            Algorithm::SlidingLog => "SLIDING_LOG",
            Algorithm::Leases => "LEASES",
            Algorithm::Calendar => "CALENDAR",
            Algorithm::Policy => "POLICY",
        }
    }

    /// Whether `BURST` means something for this algorithm (window algorithms admit
    /// `limit` per window and take no burst).
    pub fn has_burst(self) -> bool {
        matches!(self, Algorithm::TokenBucket | Algorithm::Gcra)
    }

    /// A dense index for per-algorithm tables.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The algorithm with this encoding byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u8 == b)
    }

    /// The check algorithm named by `keyword`, ignoring ASCII case.
    pub fn from_keyword(keyword: &[u8]) -> Option<Self> {
        Self::CHECKS
            .into_iter()
            .find(|a| a.keyword().as_bytes().eq_ignore_ascii_case(keyword))
    }
}
