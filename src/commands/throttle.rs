//! `CL.THROTTLE key max_burst count_per_period period_seconds [quantity]`: redis-cell's
//! command and reply, on this module's GCRA (registered with `cell-compat yes`).

use crate::algorithms::Decision;
use crate::args::parse_throttle;
use crate::clock::{Clock, ServerClock};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::Key;
use crate::stats;
use crate::types::limiter::status;

use super::check::{check_key, When};

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
pub fn throttle(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let (req, report_only) = parse_throttle(args)?;
    let now = ServerClock.now_ms();
    let d = if report_only {
        let mut key = Key::open_read(ctx, &args[0]);
        match key.current()? {
            Some(l) if l.algorithm() != req.algorithm => return Err(Error::AlgorithmMismatch),
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
        let when = When {
            now,
            verbatim: false,
            replay: false,
        };
        let d = check_key(ctx, &args[0], &req, when)
            .inspect_err(|_| stats::record_algorithm_error(req.algorithm))?;
        stats::record_check(req.algorithm, d.allowed);
        d
    };
    stats::record_decision(crate::command::Command::Throttle, d.allowed);
    let fields = [
        i64::from(!d.allowed),
        req.quota.burst().min(i64::MAX as u64) as i64,
        d.remaining.min(i64::MAX as u64) as i64,
        if d.allowed {
            -1
        } else {
            seconds(d.retry_after_ms)
        },
        seconds(d.reset_after_ms),
    ];
    ctx.reply_array(fields.len());
    fields.into_iter().for_each(|v| ctx.reply_i64(v));
    Ok(())
}
