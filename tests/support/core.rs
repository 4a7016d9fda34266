//! A one-call form of the pure core for tests and benchmarks: evaluate a request and
//! commit it to an in-memory slot, as a command does to a key.

use redis_ratelimit::algorithms::{Algorithm, Decision, Quota};
use redis_ratelimit::error::Error;
use redis_ratelimit::types::limiter::{apply, evaluate, CheckRequest, Limiter};

/// Evaluates `req` at `now_ms` and commits it to `slot` (`None`: no key).
pub fn check(
    slot: &mut Option<Limiter>,
    req: &CheckRequest,
    now_ms: u64,
) -> Result<Decision, Error> {
    let outcome = evaluate(slot.as_ref(), req, now_ms)?;
    if let Some(new) = apply(slot.as_mut(), outcome.change) {
        *slot = Some(new);
    }
    Ok(outcome.decision)
}

/// A request of `cost` units under `quota`.
pub fn req(algorithm: Algorithm, quota: Quota, cost: u64) -> CheckRequest {
    CheckRequest::new(algorithm, quota, cost)
}
