//! Concurrency leases: `RL.ACQUIRE key limit lease_ms [COST n]`, `RL.RELEASE key
//! lease_id`, `RL.RENEW key lease_id lease_ms` (the pure logic: `algorithms/leases.rs`).
//!
//! An acquire the filter stamped with its arrival time and a lease id (`stamp.rs`,
//! `lease_ids.rs`) evaluates at that time with that id, and so replicates as itself: a
//! replica or an AOF replay takes both from the stamp. Any other acquire (queued in
//! MULTI, on a writable replica) reads the clock and draws the id itself, and
//! propagates its step as an `RL.APPLY` lease payload (`replicate.rs`), as RL.RELEASE
//! and RL.RENEW always do. Ids are never 0 and unique within the key. The key expires
//! when its latest lease does, so an abandoned key disappears.

use super::check::notify_denied;
use super::{Call, Command, Done};
use crate::algorithms::leases::{Acquired, Leases, Step};
use crate::algorithms::{Algorithm, Quota};
use crate::args::{parse_acquire, parse_lease_id, parse_renew};
use crate::charge::{commit, Pending, Propagate, When, Write};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::reply::{Reply, Value};
use crate::types::key::Key;
use crate::types::limiter::{Change, Limiter, State};
use crate::{config, filter, lease_ids, stamp, stats};

/// When an acquire runs, and the lease id its stamp carries: like `charge::when`, with
/// RL.ACQUIRE's stamp (`@<unix ms>:<lease id>`). Only the filter's own stamp or the
/// primary's (replication, AOF) is believed; a client call is evaluated at the server
/// clock with a drawn id.
fn when<'a>(call: &Call<'a>) -> Result<(&'a [Arg], When, Option<u64>), Error> {
    let (args, stamp) = stamp::split_with_id(call.args);
    if let Some((ms, id)) = stamp.filter(|&(ms, _)| filter::take_fresh(ms)) {
        return Ok((args, When::Stamped(ms), Some(id)));
    }
    if call.ctx.from_primary_or_aof() {
        let (ms, id) = stamp.ok_or(Error::MissingStamp)?;
        return Ok((args, When::Replay(ms), Some(id)));
    }
    Ok((args, When::Unstamped(call.clock.now_ms()), None))
}

/// The leases `current` holds (none for a missing key); another algorithm's key is an
/// error.
fn leases_of<'a>(current: Option<&'a Limiter>, empty: &'a Leases) -> Result<&'a Leases, Error> {
    match current.map(|l| &l.state) {
        // A key holding only a block (RL.BLOCK) holds no lease yet.
        None | Some(State::Blocked) => Ok(empty),
        Some(State::Leases(s)) => Ok(s),
        Some(_) => Err(Error::AlgorithmMismatch),
    }
}

/// The key's absolute expiry once `step` is applied: its latest lease's, or just
/// before now when none is left (Redis expires a key once the clock passes its expiry,
/// so the key goes at once).
fn expiry_after(leases: &Leases, step: &Step) -> i64 {
    let none_left = step.now_ms.saturating_sub(1);
    let at = leases.latest_after(step).unwrap_or(none_left).max(1);
    at.min(i64::MAX as u64) as i64
}

/// Commits one key's lease write and propagates it (`how`).
fn write(
    ctx: Ctx,
    name: &Arg,
    key: Key,
    change: Change,
    expire_at: Option<i64>,
    how: Propagate,
) -> Result<(), Error> {
    let mut pending = Pending::new(name, key, Write::Change(change), expire_at);
    commit(ctx, std::slice::from_mut(&mut pending), how)
}

/// RL.ACQUIRE: admits while fewer than `limit` units are held (and fewer than
/// `ratelimit.max-leases-per-key` leases), replies
/// `[acquired, limit, remaining, retry_after_ms, lease_id]` (a map on RESP3).
pub fn acquire(call: &Call) -> Result<Done, Error> {
    let (args, when, stamped_id) = when(call)?;
    let req = parse_acquire(args)?;
    let (now, replay) = (when.now(), when.is_replay());
    let (ctx, name) = (call.ctx, &args[0]);
    let outcome = (|| {
        let mut key = Key::open(ctx, name);
        let empty = Leases::default();
        let (reply, change, expire_at) = {
            let current = key.current()?;
            let current = current.as_deref();
            let leases = leases_of(current, &empty)?;
            // A blocked key (BLOCK, RL.BLOCK) acquires nothing until the block ends.
            let blocked = current.map_or(0, |l| l.blocked_for(now));
            if blocked > 0 {
                let reply = Acquired {
                    acquired: false,
                    limit: req.limit,
                    remaining: 0,
                    retry_after_ms: blocked.min(i64::MAX as u64) as i64,
                    id: None,
                };
                return Ok(reply);
            }
            // A replay follows its primary up to the hard cap (a replica may be
            // configured lower): a primary's admission is admitted again.
            let cap = if replay {
                config::MAX_LEASES_PER_KEY_RANGE.1 as u64
            } else {
                config::max_leases_per_key()
            };
            let ids = lease_ids::candidates(stamped_id);
            let (reply, step) = leases
                .acquire(req.limit, req.lease_ms, req.units, now, cap, ids)
                .map_err(|_| Error::Internal)?;
            match step {
                Some(step) => {
                    let quota =
                        Quota::new(req.limit, req.lease_ms, req.limit).ok_or(Error::Internal)?;
                    let at = expiry_after(leases, &step);
                    let change = Change::Lease {
                        quota: Some(quota),
                        step,
                    };
                    (reply, change, Some(at))
                }
                // A denial writes nothing and propagates nothing (a waiting worker's
                // retries cost no replication): lease keys count denials in RL.STATS,
                // not in their own `denied` total.
                None => (reply, Change::Nothing, None),
            }
        };
        write(ctx, name, key, change, expire_at, when.propagation())?;
        Ok(reply)
    })();
    let a = outcome.inspect_err(|_| {
        if !replay {
            stats::record_algorithm_error(Algorithm::Leases);
        }
    })?;
    if !replay {
        stats::record_check(Algorithm::Leases, a.acquired);
        stats::record_decision(Command::Acquire, a.acquired);
        if !a.acquired {
            notify_denied(ctx, name);
        }
    }
    Ok(Done {
        reply: Reply::Lease(a),
        replay,
    })
}

/// RL.RELEASE: frees a held lease; replies the units freed (0 when the lease is not
/// held: released, expired, or never acquired).
pub fn release(call: &Call) -> Result<Done, Error> {
    let id = parse_lease_id(call.args[1].as_ref())?;
    let now = call.clock.now_ms();
    let (ctx, name) = (call.ctx, &call.args[0]);
    let mut key = Key::open(ctx, name);
    let empty = Leases::default();
    let (freed, step, expire_at) = {
        let current = key.current()?;
        let leases = leases_of(current.as_deref(), &empty)?;
        let (freed, step) = leases.release(id, now);
        let at = step.as_ref().map(|s| expiry_after(leases, s));
        (freed, step, at)
    };
    if let Some(step) = step {
        write(
            ctx,
            name,
            key,
            Change::Lease { quota: None, step },
            expire_at,
            Propagate::Apply,
        )?;
    }
    Ok(Reply::Int(freed.min(i64::MAX as u64) as i64).into())
}

/// RL.RENEW: sets a held lease to expire `lease_ms` from now (which may shorten it);
/// replies 1, or 0 when the lease is not held (its capacity may be another's now).
pub fn renew(call: &Call) -> Result<Done, Error> {
    let (id, lease_ms) = parse_renew(call.args)?;
    let now = call.clock.now_ms();
    let (ctx, name) = (call.ctx, &call.args[0]);
    let mut key = Key::open(ctx, name);
    let empty = Leases::default();
    let (step, expire_at) = {
        let current = key.current()?;
        let leases = leases_of(current.as_deref(), &empty)?;
        let step = leases.renew(id, lease_ms, now);
        let at = step.as_ref().map(|s| expiry_after(leases, s));
        (step, at)
    };
    let renewed = step.is_some();
    if let Some(step) = step {
        write(
            ctx,
            name,
            key,
            Change::Lease { quota: None, step },
            expire_at,
            Propagate::Apply,
        )?;
    }
    Ok(Reply::Int(i64::from(renewed)).into())
}

/// RL.INSPECT's state fields of a lease key: counts and times, never the ids (they are
/// the holders' secrets).
pub fn inspect_fields(s: &Leases, now_ms: u64) -> [(&'static str, Value); 4] {
    let live = s.live(now_ms);
    let opt = |t: Option<u64>| t.map_or(Value::Int(-1), Value::count);
    [
        ("held", Value::count(s.held_units(now_ms))),
        ("leases", Value::count(live.len() as u64)),
        (
            "earliest_expiry_ms",
            opt(live.first().map(|l| l.expires_at_ms)),
        ),
        (
            "latest_expiry_ms",
            opt(live.last().map(|l| l.expires_at_ms)),
        ),
    ]
}
