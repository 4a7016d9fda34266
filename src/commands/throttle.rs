//! `CL.THROTTLE key max_burst count_per_period period_seconds [quantity]`: redis-cell's
//! command and reply, on this module's GCRA (registered with `cell-compat yes`).

use super::check::notify_denied;
use super::{Call, Command, Done};
use crate::algorithms::Decision;
use crate::args::parse_throttle;
use crate::charge::{charge_one, When};
use crate::error::Error;
use crate::reply::Reply;
use crate::stats;
use crate::types::key::Key;
use crate::types::limiter::status;

/// Whole seconds, rounded up; -1 stays -1.
fn seconds(ms: i64) -> i64 {
    if ms < 0 {
        -1
    } else {
        ms / 1000 + i64::from(ms % 1000 != 0)
    }
}

/// Checks (or, with quantity 0, only reports) and replies redis-cell's five integers:
/// `[limited, limit, remaining, retry_after_s, reset_after_s]`.
pub fn throttle(call: &Call) -> Result<Done, Error> {
    let args = call.args;
    let (req, report_only) = parse_throttle(args)?;
    let now = call.clock.now_ms();
    let d = if report_only {
        let mut key = Key::open_read(call.ctx, &args[0]);
        match key.current()? {
            Some(l) if l.algorithm().is_some_and(|a| a != req.algorithm) => {
                return Err(Error::AlgorithmMismatch)
            }
            Some(l) => Decision {
                allowed: true,
                ..status(l, now)
            },
            None => Decision {
                allowed: true,
                limit: req.quota.limit(),
                remaining: req.quota.burst(),
                retry_after_ms: -1,
                reset_after_ms: 0,
            },
        }
    } else {
        // CL.THROTTLE is not stamped: its effect propagates as RL.APPLY.
        let d = charge_one(call.ctx, &args[0], &req, When::Unstamped(now))
            .inspect_err(|_| stats::record_algorithm_error(req.algorithm))?;
        stats::record_check(req.algorithm, d.allowed);
        if !d.allowed {
            notify_denied(call.ctx, &args[0]);
        }
        d
    };
    stats::record_decision(Command::Throttle, d.allowed);
    Ok(Reply::Ints(vec![
        i64::from(!d.allowed),
        req.quota.burst().min(i64::MAX as u64) as i64,
        d.remaining.min(i64::MAX as u64) as i64,
        if d.allowed {
            -1
        } else {
            seconds(d.retry_after_ms)
        },
        seconds(d.reset_after_ms),
    ])
    .into())
}
