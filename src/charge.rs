//! The charging pipeline: how an evaluated request changes keys. Every command that
//! changes limiter values (RL.CHECK, RL.MCHECK, CL.THROTTLE, RL.APPLY) goes through
//! it: decide when the command runs, evaluate every key, then commit all of them or
//! none, set each absolute expiry, and propagate the effect once.
//!
//! All-or-nothing holds even when Redis refuses us: values for missing keys are
//! created first, and if one creation fails the keys created before it are deleted
//! again and nothing else has been touched; only then are existing values changed in
//! place, which cannot fail.

use crate::algorithms::Decision;
use crate::args::Limits;
use crate::commands::Call;
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::replicate::{pack_append, pack_block, pack_deny, pack_lease, pack_replace_with};
use crate::stamp;
use crate::types::callbacks::Stored;
use crate::types::encoding::Bytes;
use crate::types::key::{Key, Slot};
use crate::types::limiter::{
    apply, evaluate, evaluate_at_most, Change, CheckRequest, Limiter, Outcome,
};

/// The instant a charging command evaluates at, and so how its effect propagates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Stamped by this server's filter just now (or a client's stamp that happens to
    /// read the clock's very instant): evaluated at the stamp, propagated verbatim.
    Stamped(u64),
    /// From the primary or the AOF: evaluated at its stamp, whatever this server's
    /// clock says, propagated verbatim (chained replicas, a replica's own AOF) and
    /// counted as an applied effect, not as a client's check.
    Replay(u64),
    /// Any other client call (a stale stamp from a MULTI queued long before EXEC, a
    /// client's own, none; a command the filter never stamps): evaluated at the
    /// server clock, its effect propagated as `RL.APPLY` payloads.
    Unstamped(u64),
}

impl When {
    /// Unix ms the command is evaluated at.
    pub fn now(self) -> u64 {
        match self {
            When::Stamped(ms) | When::Replay(ms) | When::Unstamped(ms) => ms,
        }
    }

    /// Whether it replays a check made elsewhere.
    pub fn is_replay(self) -> bool {
        matches!(self, When::Replay(_))
    }

    /// How its effect propagates.
    pub fn propagation(self) -> Propagate {
        match self {
            When::Stamped(_) | When::Replay(_) => Propagate::Verbatim,
            When::Unstamped(_) => Propagate::Apply,
        }
    }

    /// The limits argument parsing applies: a replay is trusted up to the hard cap, so
    /// a replica configured with a lower log cap still follows its primary.
    pub fn limits(self) -> Limits {
        if self.is_replay() {
            Limits {
                sliding_log_max_limit: config::SLIDING_LOG_MAX_LIMIT_RANGE.1 as u64,
            }
        } else {
            config::limits()
        }
    }
}

/// Splits the time stamp (`stamp.rs`) off a stamped command's arguments and decides
/// when the command runs.
pub fn when<'a>(call: &Call<'a>) -> Result<(&'a [Arg], When), Error> {
    let (args, stamp) = stamp::split(call.args);
    if let Some(ms) = stamp.filter(|&ms| crate::filter::take_fresh(ms)) {
        return Ok((args, When::Stamped(ms)));
    }
    if call.ctx.from_primary_or_aof() {
        return Ok((args, When::Replay(stamp.ok_or(Error::MissingStamp)?)));
    }
    let now = call.clock.now_ms();
    Ok((
        args,
        if stamp == Some(now) {
            When::Stamped(now)
        } else {
            When::Unstamped(now)
        },
    ))
}

/// How a committed change reaches replicas and the AOF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagate {
    /// The running command as it came: its arguments determine its effect.
    Verbatim,
    /// `RL.APPLY key payload ...` of each changed key's effect.
    Apply,
}

/// What to write to one key.
#[derive(Debug)]
pub enum Write {
    /// A change evaluated against the key's current value.
    Change(Change),
    /// Replace the value whole (RL.APPLY's replace effect), whatever it held.
    Replace(Limiter),
}

impl Write {
    /// Moves a replacement out (leaving no change in its place); `None` for a change.
    fn take_replacement(&mut self) -> Option<Limiter> {
        match std::mem::replace(self, Write::Change(Change::Nothing)) {
            Write::Replace(l) => Some(l),
            change => {
                *self = change;
                None
            }
        }
    }
}

/// One key's write, evaluated and not yet made.
pub struct Pending<'a> {
    name: &'a Arg,
    key: Key,
    write: Write,
    /// The absolute expiry to set once written; `None` leaves the TTL alone.
    expire_at: Option<i64>,
    /// Set by `commit`: a value was created for this key.
    created: bool,
    /// Set by `commit`: the key's write was made (created, or changed in place).
    written: bool,
    /// Set by `commit`: the key changed (so its effect propagates).
    changed: bool,
}

impl<'a> Pending<'a> {
    /// A write to an open key.
    pub fn new(name: &'a Arg, key: Key, write: Write, expire_at: Option<i64>) -> Self {
        Pending {
            name,
            key,
            write,
            expire_at,
            created: false,
            written: false,
            changed: false,
        }
    }

    /// Turns an admitted change into the denial that charges nothing (an RL.MCHECK
    /// another key denied): existing keys count the denied units. A policy key's
    /// admitted value (a whole replacement) is dropped the same way.
    pub fn deny_instead(&mut self, cost: u64) {
        let admitted = match &self.write {
            // A denial (with or without its block) stays what it is.
            Write::Change(c) => !matches!(
                c,
                Change::Nothing | Change::Deny { .. } | Change::Block { .. }
            ),
            Write::Replace(_) => true,
        };
        if admitted {
            self.write = Write::Change(Change::Deny { cost });
            self.expire_at = None;
        }
    }
}

/// Opens `name`, checks its type and evaluates `req` at `now`, changing nothing.
pub fn prepare<'a>(
    ctx: Ctx,
    name: &'a Arg,
    req: &CheckRequest,
    now: u64,
) -> Result<(Pending<'a>, Decision), Error> {
    let mut key = Key::open(ctx, name);
    let outcome = evaluate(key.current()?.as_deref(), req, now)?;
    Ok(pending_for(name, key, outcome, now))
}

/// The pending write of an evaluated outcome on an open key.
fn pending_for(name: &Arg, key: Key, outcome: Outcome, now: u64) -> (Pending<'_>, Decision) {
    let expire_at = match outcome.change {
        // A charge moves the expiry to when the limiter is fully rested.
        _ if outcome.change.charges() => Some(outcome.decision.rested_at_ms(now)),
        // A block keeps the key at least until it ends (a key without expiry keeps none).
        Change::Block { until_ms, .. } => key
            .expires_at()
            .map(|at| at.max(until_ms.min(i64::MAX as u64) as i64)),
        _ => None,
    };
    let pending = Pending::new(name, key, Write::Change(outcome.change), expire_at);
    (pending, outcome.decision)
}

/// Makes every pending write, or none, then propagates what changed once.
pub fn commit(ctx: Ctx, pending: &mut [Pending], how: Propagate) -> Result<(), Error> {
    // A lone key has nothing to undo: it is written in this first pass, with the one
    // value lookup RL.CHECK's hot path pays.
    let alone = pending.len() == 1;
    // 1. Values for missing keys: the only step Redis can refuse. Undo on failure.
    for i in 0..pending.len() {
        let p = &mut pending[i];
        match p.key.slot()? {
            Slot::Empty => {}
            Slot::Limiter(stored) if alone => {
                p.changed = update(stored, &mut p.write);
                p.written = true;
                continue;
            }
            Slot::Limiter(_) => continue,
        }
        // A replacement is moved into the new key, not copied; its payload is read
        // back from the stored value (`payload`).
        let value = match &p.write {
            Write::Change(c) => apply(None, c.clone()),
            Write::Replace(_) => p.write.take_replacement(),
        };
        let Some(value) = value else { continue };
        if let Err(e) = p.key.create(value) {
            for q in pending[..i].iter_mut().filter(|q| q.created) {
                q.key.delete();
                q.created = false;
                q.changed = false;
            }
            return Err(e);
        }
        p.created = true;
        p.written = true;
        p.changed = true;
    }
    // 2. Existing values change in place (cannot fail), 3. then the expiries.
    for p in pending.iter_mut() {
        if !p.written {
            if let Slot::Limiter(stored) = p.key.slot()? {
                p.changed = update(stored, &mut p.write);
            }
        }
        if p.changed {
            if let Some(at) = p.expire_at.filter(|&at| at > 0) {
                p.key.expire_at(at);
            }
        }
    }
    // 4. Propagate.
    match how {
        Propagate::Verbatim => {
            if pending.iter().any(|p| p.changed) {
                ctx.replicate_verbatim();
            }
        }
        // A lone key's effect needs no list.
        Propagate::Apply if alone => {
            if let [p] = pending {
                if p.changed {
                    let payload = payload(p)?;
                    ctx.replicate_apply_pairs(&[(p.name, payload)]);
                }
            }
        }
        Propagate::Apply => {
            let mut effects: Vec<(&Arg, Bytes)> = Vec::new();
            for p in pending.iter_mut().filter(|p| p.changed) {
                let payload = payload(p)?;
                effects.push((p.name, payload));
            }
            if !effects.is_empty() {
                // One RL.APPLY per four keys: replication costs per call, not per key.
                ctx.replicate_apply_pairs(&effects);
            }
        }
    }
    Ok(())
}

/// Changes an existing value in place; whether anything changed. A whole replacement
/// is moved in, not copied (a policy key's value owns buffers); what is left in its
/// place propagates the same way (the payload of a replacement is the stored value).
fn update(stored: &mut Stored, write: &mut Write) -> bool {
    match write {
        Write::Change(Change::Nothing) => false,
        Write::Change(c) => {
            stored.update(|l| apply(Some(l), c.clone()));
            true
        }
        Write::Replace(_) => {
            if let Some(l) = write.take_replacement() {
                stored.replace(l);
            }
            true
        }
    }
}

/// The `RL.APPLY` payload that reproduces a committed write.
fn payload(p: &mut Pending) -> Result<Bytes, Error> {
    let expire_at = p.expire_at.unwrap_or(0);
    Ok(match &p.write {
        Write::Change(Change::Deny { cost }) => pack_deny(*cost),
        Write::Change(Change::Block { cost, until_ms }) => pack_block(*cost, *until_ms, expire_at),
        Write::Change(Change::Append { quota, append }) => pack_append(quota, append, expire_at),
        Write::Change(Change::Lease { quota, step }) => pack_lease(quota.as_ref(), step, expire_at),
        _ => match p.key.slot()? {
            // A policy key's kept bytes go out as they are, never decoded for this.
            Slot::Limiter(stored) => pack_replace_with(|b| stored.encode_body_into(b), expire_at),
            Slot::Empty => return Err(Error::Internal),
        },
    })
}

/// RL.CHECK with `AT_MOST`: evaluates a partial grant (the whole units available now, up
/// to COST), commits it and propagates it; returns the decision and the units granted.
pub fn charge_at_most(
    ctx: Ctx,
    name: &Arg,
    req: &CheckRequest,
    when: When,
) -> Result<(Decision, u64), Error> {
    let mut key = Key::open(ctx, name);
    let (outcome, granted) = evaluate_at_most(key.current()?.as_deref(), req, when.now())?;
    let (mut pending, decision) = pending_for(name, key, outcome, when.now());
    commit(ctx, std::slice::from_mut(&mut pending), when.propagation())?;
    Ok((decision, granted))
}

/// Evaluates one request on one key, commits it and propagates the effect: RL.CHECK's
/// whole pipeline, and CL.THROTTLE's.
pub fn charge_one(ctx: Ctx, name: &Arg, req: &CheckRequest, when: When) -> Result<Decision, Error> {
    let (mut pending, decision) = prepare(ctx, name, req, when.now())?;
    commit(ctx, std::slice::from_mut(&mut pending), when.propagation())?;
    Ok(decision)
}
