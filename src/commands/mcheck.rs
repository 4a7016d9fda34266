//! `RL.MCHECK numkeys key [key ...] spec [spec ...]`: all-or-nothing across keys.

use super::{reply_decision, reply_decision_fields};
use crate::algorithms::Decision;
use crate::args::parse_mcheck;
use crate::clock::{Clock, ServerClock};
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::Key;
use crate::stats;
use crate::types::limiter::{evaluate, Change};

use super::check::commit;

/// Evaluates every key at one instant; commits all if every key admits, otherwise
/// charges none (existing keys count the denial). Replies the overall decision, the
/// largest retry and each key's own decision.
pub fn mcheck(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let (n, reqs) = parse_mcheck(args, &config::limits())?;
    let names = &args[1..=n];
    let now = ServerClock.now_ms();
    let mut keys: Vec<Key> = names.iter().map(|name| Key::open(ctx, name)).collect();
    let mut outcomes = Vec::with_capacity(n);
    for (key, req) in keys.iter_mut().zip(&reqs) {
        let current = key
            .current()
            .inspect_err(|_| stats::record_algorithm_error(req.algorithm))?;
        let outcome = evaluate(current, req, now)
            .inspect_err(|_| stats::record_algorithm_error(req.algorithm))?;
        outcomes.push(outcome);
    }
    let allowed = outcomes.iter().all(|o| o.decision.allowed);
    for (((key, name), req), outcome) in keys.iter_mut().zip(names).zip(&reqs).zip(&outcomes) {
        let change = match &outcome.change {
            c if allowed => c.clone(),
            Change::Nothing => Change::Nothing,
            // Nothing is charged; keys that exist count the denial.
            _ => Change::Deny { cost: req.cost },
        };
        commit(ctx, key, name, change, outcome.decision.rested_at_ms(now))?;
        stats::record_check(req.algorithm, allowed);
    }
    let retry = if allowed {
        -1
    } else {
        let denying = outcomes.iter().filter(|o| !o.decision.allowed);
        let retries: Vec<i64> = denying.map(|o| o.decision.retry_after_ms).collect();
        if retries.contains(&-1) {
            -1
        } else {
            retries.into_iter().max().unwrap_or(-1)
        }
    };
    reply(ctx, allowed, retry, outcomes.iter().map(|o| &o.decision), n);
    Ok(())
}

fn reply<'a>(
    ctx: Ctx,
    allowed: bool,
    retry: i64,
    decisions: impl Iterator<Item = &'a Decision>,
    n: usize,
) {
    if ctx.is_resp3() {
        ctx.reply_map(3);
        ctx.reply_bulk(b"allowed");
        ctx.reply_i64(i64::from(allowed));
        ctx.reply_bulk(b"retry_after_ms");
        ctx.reply_i64(retry);
        ctx.reply_bulk(b"results");
        ctx.reply_array(n);
        decisions.for_each(|d| reply_decision(ctx, d));
    } else {
        ctx.reply_array(2 + n);
        ctx.reply_i64(i64::from(allowed));
        ctx.reply_i64(retry);
        decisions.for_each(|d| reply_decision_fields(ctx, d, false));
    }
}
