//! `RL.MCHECK numkeys key [key ...] spec [spec ...]`: all-or-nothing across keys.

use super::check::notify_denied;
use super::{Call, Command, Done};
use crate::args::parse_mcheck;
use crate::charge::{commit, prepare, when, Pending};
use crate::error::Error;
use crate::reply::Reply;
use crate::stats;

/// Evaluates every key at one instant; commits all if every key admits, otherwise
/// charges none (existing keys count the denial). Replies the overall decision, the
/// largest retry and each key's own decision.
pub fn mcheck(call: &Call) -> Result<Done, Error> {
    let (args, when) = when(call)?;
    let (n, reqs) = parse_mcheck(args, &when.limits())?;
    let names = &args[1..=n];
    let replay = when.is_replay();
    let mut pending: Vec<Pending> = Vec::with_capacity(n);
    let mut decisions = Vec::with_capacity(n);
    for (name, req) in names.iter().zip(&reqs) {
        let (p, d) = prepare(call.ctx, name, req, when.now()).inspect_err(|_| {
            if !replay {
                stats::record_algorithm_error(req.algorithm)
            }
        })?;
        pending.push(p);
        decisions.push(d);
    }
    let allowed = decisions.iter().all(|d| d.allowed);
    if !allowed {
        // Nothing is charged; keys that exist count the denial.
        for (p, req) in pending.iter_mut().zip(&reqs) {
            p.deny_instead(req.cost);
        }
    }
    commit(call.ctx, &mut pending, when.propagation())?;
    if !replay {
        for ((name, req), d) in names.iter().zip(&reqs).zip(&decisions) {
            if !d.allowed {
                notify_denied(call.ctx, name);
            }
            stats::record_check(req.algorithm, allowed);
        }
        stats::record_decision(Command::Mcheck, allowed);
    }
    // The largest wait among denying keys; -1 if one of them can never admit.
    let retry_after_ms = if allowed {
        -1
    } else {
        decisions
            .iter()
            .filter(|d| !d.allowed)
            .try_fold(0, |max, d| {
                (d.retry_after_ms >= 0).then(|| max.max(d.retry_after_ms))
            })
            .unwrap_or(-1)
    };
    Ok(Done {
        reply: Reply::Decisions {
            allowed,
            retry_after_ms,
            each: decisions,
        },
        replay,
    })
}
