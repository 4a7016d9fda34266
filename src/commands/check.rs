//! `RL.CHECK key algorithm limit period_ms [BURST n] [COST n]`, and the commit step
//! every charging command shares.

use super::reply_decision;
use crate::algorithms::Decision;
use crate::args::{parse_check, CheckRequest};
use crate::clock::{Clock, ServerClock};
use crate::command::Command;
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::{pack_append, pack_deny, pack_replace};
use crate::stats;
use crate::types::encoding::Bytes;
use crate::types::limiter::{apply, evaluate, Change, Limiter};

/// Parses, reads the clock once, evaluates, stores and replicates, then replies.
pub fn check(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let req = parse_check(args, &config::limits())?;
    let now = ServerClock.now_ms();
    let decision = check_key(ctx, &args[0], &req, now).inspect_err(|_| {
        stats::record_algorithm_error(req.algorithm);
    })?;
    stats::record_check(req.algorithm, decision.allowed);
    stats::record_decision(Command::Check, decision.allowed);
    reply_decision(ctx, &decision);
    Ok(())
}

/// Evaluates one request on one key, commits it and propagates the effect.
pub fn check_key(ctx: Ctx, name: &Arg, req: &CheckRequest, now: u64) -> Result<Decision, Error> {
    let mut key = Key::open(ctx, name);
    let outcome = evaluate(key.current()?, req, now)?;
    if let Some(p) = commit(&mut key, outcome.change, outcome.decision.rested_at_ms(now))? {
        ctx.replicate_apply_pairs(&[(name, p)]);
    }
    if !outcome.decision.allowed {
        notify_denied(ctx, name);
    }
    Ok(outcome.decision)
}

/// Counts a denial in the most-denied-keys sketch and publishes `rl.denied` on the key
/// when `ratelimit.deny-notifications` is on.
pub fn notify_denied(ctx: Ctx, name: &Arg) {
    crate::top_denied::record(name.as_ref());
    if config::deny_notifications() {
        ctx.notify(c"rl.denied", name);
    }
}

/// Applies `change` to an open key (creating the value when the change does) and sets
/// the key's absolute expiry when it was charged. Returns the `RL.APPLY` payload that
/// propagates the effect, if anything changed; the caller replicates it.
pub fn commit(key: &mut Key, change: Change, expire_at: i64) -> Result<Option<Bytes>, Error> {
    let charged = change.charges();
    let payload = match key.slot()? {
        Slot::Empty => {
            let (created, payload) = settle(None, change, expire_at);
            if let Some(new) = created {
                key.create(new)?;
            }
            payload
        }
        Slot::Limiter(l) => settle(Some(l), change, expire_at).1,
    };
    if charged {
        key.expire_at(expire_at);
    }
    Ok(payload)
}

/// Applies a change and returns the value to create (if any) and the payload that
/// propagates it (if anything changed).
fn settle(
    slot: Option<&mut Limiter>,
    change: Change,
    expire_at: i64,
) -> (Option<Limiter>, Option<Bytes>) {
    match change {
        Change::Nothing => (None, None),
        Change::Deny { cost } => {
            let exists = slot.is_some();
            apply(slot, Change::Deny { cost });
            (None, exists.then(|| pack_deny(cost)))
        }
        Change::Append { quota, append } => {
            let payload = pack_append(&quota, &append, expire_at);
            (apply(slot, Change::Append { quota, append }), Some(payload))
        }
        set @ Change::Set { .. } => match slot {
            Some(l) => {
                apply(Some(l), set);
                (None, Some(pack_replace(l, expire_at)))
            }
            None => {
                let new = apply(None, set);
                let payload = new.as_ref().map(|n| pack_replace(n, expire_at));
                (new, payload)
            }
        },
    }
}
