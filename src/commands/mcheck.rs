//! `RL.MCHECK numkeys key [key ...] spec [spec ...]`: all-or-nothing across keys.

use super::{reply_decision, reply_decision_fields};
use crate::algorithms::Decision;
use crate::args::{parse_int, parse_mcheck, MAX_MCHECK_KEYS};
use crate::command::Command;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::error::Field;
use crate::key::Key;
use crate::stats;
use crate::types::encoding::Bytes;
use crate::types::limiter::{evaluate, Change, Outcome};

use super::check::{commit, notify_denied, when};

/// Evaluates every key at one instant; commits all if every key admits, otherwise
/// charges none (existing keys count the denial). Replies the overall decision, the
/// largest retry and each key's own decision.
pub fn mcheck(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    if ctx.is_keys_position_request() {
        // Cluster routing (CROSSSLOT) and ACL key checks on every server version.
        if let Some(n) = args
            .first()
            .and_then(|a| parse_int(a.as_ref(), 1, MAX_MCHECK_KEYS, Field::NumKeys).ok())
        {
            (0..(n as usize).min(args.len() - 1)).for_each(|i| ctx.key_at(2 + i));
        }
        return Ok(());
    }
    let (args, when) = when(ctx, args)?;
    let (n, reqs) = parse_mcheck(args, &when.limits())?;
    let names = &args[1..=n];
    let now = when.now;
    let mut items: Vec<(Key, Outcome)> = Vec::with_capacity(n);
    for (name, req) in names.iter().zip(&reqs) {
        let mut key = Key::open(ctx, name);
        let outcome = key
            .current()
            .and_then(|current| evaluate(current, req, now))
            .inspect_err(|_| {
                if !when.replay {
                    stats::record_algorithm_error(req.algorithm)
                }
            })?;
        items.push((key, outcome));
    }
    let allowed = items.iter().all(|(_, o)| o.decision.allowed);
    // Stamped: whether any key changed; otherwise each changed key's payload.
    let mut changed = false;
    let mut effects: Vec<(&Arg, Bytes)> = Vec::with_capacity(if when.verbatim { 0 } else { n });
    for (((key, outcome), name), req) in items.iter_mut().zip(names).zip(&reqs) {
        let change = match &outcome.change {
            c if allowed => c.clone(),
            Change::Nothing => Change::Nothing,
            // Nothing is charged; keys that exist count the denial.
            _ => Change::Deny { cost: req.cost },
        };
        let rested_at = outcome.decision.rested_at_ms(now);
        if when.verbatim {
            changed |= commit(key, change, rested_at, None)?;
        } else {
            let mut payload = Bytes::default();
            if commit(key, change, rested_at, Some(&mut payload))? {
                effects.push((name, payload));
            }
        }
        if !when.replay {
            if !outcome.decision.allowed {
                notify_denied(ctx, name);
            }
            stats::record_check(req.algorithm, allowed);
        }
    }
    if !when.replay {
        stats::record_decision(Command::Mcheck, allowed);
    }
    // Stamped, the command itself; otherwise one RL.APPLY per four keys (replication
    // costs per call, not per key).
    if changed {
        ctx.replicate_verbatim();
    } else if !effects.is_empty() {
        ctx.replicate_apply_pairs(&effects);
    }
    // The largest wait among denying keys; -1 if one of them can never admit.
    let retry = if allowed {
        -1
    } else {
        items
            .iter()
            .map(|(_, o)| &o.decision)
            .filter(|d| !d.allowed)
            .try_fold(0, |max, d| {
                (d.retry_after_ms >= 0).then(|| max.max(d.retry_after_ms))
            })
            .unwrap_or(-1)
    };
    reply(
        ctx,
        allowed,
        retry,
        items.iter().map(|(_, o)| &o.decision),
        n,
    );
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
