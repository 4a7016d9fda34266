//! `RL.APPLY key payload [key payload ...]`: applies evaluated effects (see
//! `replicate.rs`); RL.MCHECK sends several keys in one command.
//!
//! It is what the primary propagates, so replicas and AOF replays run it. Redis 7.0
//! has no internal-command flag, so clients can call it too: the payload is fully
//! validated and a bad one is refused without touching any key.

use super::{Call, Done};
use crate::algorithms::leases::Leases;
use crate::algorithms::Algorithm;
use crate::args::has_duplicates;
use crate::charge::{commit, Pending, Propagate, Write};
use crate::error::Error;
use crate::replicate::{unpack, Effect};
use crate::reply::Reply;
use crate::types::key::Key;
use crate::types::limiter::{Change, Limiter, State};

/// Validates every payload and key first, then commits every effect with its absolute
/// expiry through the pipeline (all or nothing), replies OK.
pub fn apply(call: &Call) -> Result<Done, Error> {
    let (ctx, args) = (call.ctx, call.args);
    if !args.len().is_multiple_of(2) {
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
    let mut pending = Vec::with_capacity(args.len() / 2);
    for pair in pairs {
        let effect = unpack(pair[1].as_ref()).map_err(|_| Error::BadPayload)?;
        if let (Some(cap), Effect::Append { quota, .. }) = (cap, &effect) {
            if quota.limit() > cap {
                return Err(Error::LogLimitTooHigh);
            }
        }
        let mut key = Key::open(ctx, &pair[0]);
        let current = key.current()?;
        let (write, expire_at) = match effect {
            Effect::Append { .. }
                if current
                    .and_then(|l| l.algorithm())
                    .is_some_and(|a| a != Algorithm::SlidingLog) =>
            {
                return Err(Error::AlgorithmMismatch)
            }
            // What a primary sends never leaves more than `limit` units in the log: a
            // payload that would is refused, so no client can grow a log without bound.
            Effect::Append { quota, append, .. }
                if log_len(current)
                    .saturating_sub(append.expired)
                    .saturating_add(append.cost)
                    > quota.limit() =>
            {
                return Err(Error::BadPayload)
            }
            Effect::Append {
                quota,
                append,
                expire_at_ms,
            } => (
                Write::Change(Change::Append { quota, append }),
                expire_at_ms,
            ),
            Effect::Lease { .. }
                if current
                    .and_then(|l| l.algorithm())
                    .is_some_and(|a| a != Algorithm::Leases) =>
            {
                return Err(Error::AlgorithmMismatch)
            }
            // A lease step is held to what the commands keep: a fresh non-zero id,
            // never more than the limit held, never more leases than the cap (this
            // server's for a client, the hard cap for the primary's stream).
            Effect::Lease {
                quota,
                step,
                expire_at_ms,
            } => {
                let limit = quota
                    .map(|q| q.limit())
                    .or(current.map(|l| l.quota.limit()))
                    .unwrap_or(0);
                let lease_cap = if ctx.from_primary_or_aof() {
                    crate::algorithms::leases::MAX_LEASES
                } else {
                    crate::config::max_leases_per_key()
                };
                let empty = Leases::default();
                let leases = lease_state(current).unwrap_or(&empty);
                if !leases.admits(&step, limit, lease_cap) {
                    return Err(Error::BadPayload);
                }
                (Write::Change(Change::Lease { quota, step }), expire_at_ms)
            }
            Effect::Replace(limiter, at) => (Write::Replace(limiter), at),
            Effect::Deny(cost) => (Write::Change(Change::Deny { cost }), 0),
            Effect::Block {
                cost,
                until_ms,
                expire_at_ms,
            } => (
                Write::Change(Change::Block { cost, until_ms }),
                expire_at_ms,
            ),
        };
        pending.push(Pending::new(&pair[0], key, write, Some(expire_at)));
    }
    // Keeps chained replicas and a replica's own AOF in step.
    commit(ctx, &mut pending, Propagate::Verbatim)?;
    Ok(Reply::Ok.into())
}

/// A lease key's leases (`None` for a missing key).
fn lease_state(current: Option<&Limiter>) -> Option<&Leases> {
    match current.map(|l| &l.state) {
        Some(State::Leases(s)) => Some(s),
        _ => None,
    }
}

/// Units a key's log holds (0 for a missing key).
fn log_len(current: Option<&Limiter>) -> u64 {
    match current.map(|l| &l.state) {
        Some(State::SlidingLog(log)) => log.len() as u64,
        _ => 0,
    }
}
