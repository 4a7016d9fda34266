//! `RL.APPLY key payload [key payload ...]`: applies evaluated effects (see
//! `replicate.rs`); RL.MCHECK sends several keys in one command.
//!
//! It is what the primary propagates, so replicas and AOF replays run it. Redis 7.0
//! has no internal-command flag, so clients can call it too: the payload is fully
//! validated and a bad one is refused without touching the key.

use crate::algorithms::Algorithm;
use crate::args::has_duplicates;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::{unpack, Effect};
use crate::types::limiter::{apply as apply_change, Change, Limiter, State};

/// Validates every payload and key first, then applies each effect with its absolute
/// expiry, replies OK. Nothing is applied unless everything is valid.
pub fn apply(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return Err(Error::WrongArity);
    }
    let pairs = args.chunks_exact(2);
    // Two open handles on one key would go stale when the first applies.
    if has_duplicates(pairs.clone().map(|p| p[0].as_ref())) {
        return Err(Error::BadPayload);
    }
    // A client (not the primary, not the AOF) is held to this server's own log cap, as
    // RL.CHECK is: a 56-byte append payload could otherwise make a log of millions of
    // units. The primary's stream is trusted up to the hard cap, so a replica configured
    // with a lower cap still follows its primary.
    let cap = (!ctx.from_primary_or_aof()).then(|| crate::config::limits().sliding_log_max_limit);
    let mut effects = Vec::with_capacity(args.len() / 2);
    for pair in pairs {
        let effect = unpack(pair[1].as_ref()).map_err(|_| Error::BadPayload)?;
        if let (Some(cap), Effect::Append { quota, .. }) = (cap, &effect) {
            if quota.limit() > cap {
                return Err(Error::LogLimitTooHigh);
            }
        }
        let mut key = Key::open(ctx, &pair[0]);
        match (key.current()?, &effect) {
            (Some(l), Effect::Append { .. }) if l.algorithm() != Algorithm::SlidingLog => {
                return Err(Error::AlgorithmMismatch)
            }
            // What a primary sends never leaves more than `limit` units in the log: a
            // payload that would is refused, so no client can grow a log without bound.
            (current, Effect::Append { quota, append, .. })
                if log_len(current)
                    .saturating_sub(append.expired)
                    .saturating_add(append.cost)
                    > quota.limit() =>
            {
                return Err(Error::BadPayload)
            }
            _ => effects.push((key, effect)),
        }
    }
    for (key, effect) in effects {
        apply_one(key, effect)?;
    }
    // Keeps chained replicas and a replica's own AOF in step.
    ctx.replicate_verbatim();
    ctx.reply_simple(c"OK");
    Ok(())
}

/// Units a key's log holds (0 for a missing key).
fn log_len(current: Option<&Limiter>) -> u64 {
    match current.map(|l| &l.state) {
        Some(State::SlidingLog(log)) => log.len() as u64,
        _ => 0,
    }
}

fn apply_one(mut key: Key, effect: Effect) -> Result<(), Error> {
    let expire_at = match effect {
        Effect::Replace(limiter, at) => {
            match key.slot()? {
                Slot::Empty => key.create(limiter)?,
                Slot::Limiter(current) => {
                    // The value lives on; only its algorithm may change.
                    crate::stats::record_live(current.algorithm(), -1);
                    crate::stats::record_live(limiter.algorithm(), 1);
                    *current = limiter;
                }
            }
            at
        }
        Effect::Deny(cost) => {
            if let Slot::Limiter(current) = key.slot()? {
                apply_change(Some(current), Change::Deny { cost });
            }
            0
        }
        Effect::Append {
            quota,
            append,
            expire_at_ms,
        } => {
            let change = Change::Append { quota, append };
            match key.slot()? {
                Slot::Empty => {
                    if let Some(new) = apply_change(None, change) {
                        key.create(new)?;
                    }
                }
                Slot::Limiter(l) if l.algorithm() == Algorithm::SlidingLog => {
                    apply_change(Some(l), change);
                }
                Slot::Limiter(_) => return Err(Error::Internal),
            }
            expire_at_ms
        }
    };
    if expire_at > 0 {
        key.expire_at(expire_at);
    }
    Ok(())
}
