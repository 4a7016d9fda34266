//! The value stored under a limiter key: the quota of its last admitted check and the
//! algorithm's state.

use crate::algorithms::{gcra, token_bucket, Algorithm, Decision, Quota};
use crate::args::CheckRequest;
use crate::error::Error;

/// One algorithm's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// State of a token bucket.
    TokenBucket(token_bucket::TokenBucket),
    /// State of a GCRA limiter.
    Gcra(gcra::Gcra),
}

/// A limiter key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limiter {
    /// The quota the state is expressed in.
    pub quota: Quota,
    /// The algorithm's state.
    pub state: State,
}

impl Limiter {
    /// The algorithm this limiter runs.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::TokenBucket(_) => Algorithm::TokenBucket,
            State::Gcra(_) => Algorithm::Gcra,
        }
    }
}

/// Evaluates `req` at `now_ms` against the key's current value (`None`: no key).
///
/// Returns the decision and, when admitted, the value to store. A stored quota that
/// differs from the request's is converted first (see each algorithm's `convert`).
/// A key of another algorithm is an error, not a silent reset.
pub fn check(
    current: Option<&Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<(Decision, Option<Limiter>), Error> {
    let q = &req.quota;
    let (decision, state) = match (req.algorithm, current.map(|c| (c.quota, c.state))) {
        (Algorithm::TokenBucket, None) => {
            let (d, s) = token_bucket::check(None, q, now_ms, req.cost);
            (d, s.map(State::TokenBucket))
        }
        (Algorithm::TokenBucket, Some((old, State::TokenBucket(s)))) => {
            let s = if old == *q {
                s
            } else {
                token_bucket::convert(&s, &old, q, now_ms)
            };
            let (d, s) = token_bucket::check(Some(&s), q, now_ms, req.cost);
            (d, s.map(State::TokenBucket))
        }
        (Algorithm::Gcra, None) => {
            let (d, s) = gcra::check(None, q, now_ms, req.cost);
            (d, s.map(State::Gcra))
        }
        (Algorithm::Gcra, Some((old, State::Gcra(s)))) => {
            let s = if old == *q {
                s
            } else {
                gcra::convert(&s, &old, q, now_ms)
            };
            let (d, s) = gcra::check(Some(&s), q, now_ms, req.cost);
            (d, s.map(State::Gcra))
        }
        _ => return Err(Error::AlgorithmMismatch),
    };
    Ok((decision, state.map(|state| Limiter { quota: *q, state })))
}
