//! `RL.CHECK key algorithm limit period_ms [BURST n] [COST n]`, and the commit step
//! every charging command shares.

use super::reply_decision;
use crate::algorithms::Decision;
use crate::args::{parse_check, CheckRequest, Limits};
use crate::clock::{Clock, ServerClock};
use crate::command::Command;
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::{pack_append, pack_deny, pack_replace};
use crate::stamp;
use crate::stats;
use crate::types::encoding::Bytes;
use crate::types::limiter::{apply, evaluate, Change, Limiter};

/// The instant a charging command evaluates at, and how its effect propagates.
#[derive(Clone, Copy, Debug)]
pub struct When {
    /// Unix ms the command is evaluated at.
    pub now: u64,
    /// The command's own (stamped) argv determines its effect, so it propagates
    /// verbatim; otherwise as `RL.APPLY` payloads.
    pub verbatim: bool,
    /// The command came from the primary or the AOF: it replays a check a client made
    /// elsewhere, so it is counted as an applied effect, not as a client's check.
    pub replay: bool,
}

impl When {
    /// The limits argument parsing applies: a replay is trusted up to the hard cap, so
    /// a replica configured with a lower log cap still follows its primary.
    pub fn limits(&self) -> Limits {
        if self.replay {
            Limits {
                sliding_log_max_limit: config::SLIDING_LOG_MAX_LIMIT_RANGE.1 as u64,
            }
        } else {
            config::limits()
        }
    }
}

/// Splits the time stamp (`stamp.rs`) off `args` and decides when the command runs.
///
/// - Stamped by this server's filter just now: it runs at the stamp (the clock was read
///   when it arrived) and propagates verbatim.
/// - From the primary or the AOF: it runs at its stamp, whatever this server's clock says.
/// - Any other client command (a stale stamp from a MULTI queued long before EXEC, a
///   client's own, none): it runs at the server clock, and propagates verbatim only if
///   that reads the stamp's very instant.
pub fn when(ctx: Ctx, args: &[Arg]) -> Result<(&[Arg], When), Error> {
    let (args, stamp) = stamp::split(args);
    let client = |now: u64, verbatim: bool| When {
        now,
        verbatim,
        replay: false,
    };
    if let Some(ms) = stamp.filter(|&ms| crate::filter::take_fresh(ms)) {
        return Ok((args, client(ms, true)));
    }
    if ctx.from_primary_or_aof() {
        let now = stamp.ok_or(Error::MissingStamp)?;
        super::count_as_replay();
        let replay = When {
            now,
            verbatim: true,
            replay: true,
        };
        return Ok((args, replay));
    }
    let now = ServerClock.now_ms();
    Ok((args, client(now, stamp == Some(now))))
}

/// Parses, reads the clock once, evaluates, stores and replicates, then replies.
pub fn check(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let (args, when) = when(ctx, args)?;
    let req = parse_check(args, &when.limits())?;
    let decision = check_key(ctx, &args[0], &req, when).inspect_err(|_| {
        if !when.replay {
            stats::record_algorithm_error(req.algorithm);
        }
    })?;
    if !when.replay {
        stats::record_check(req.algorithm, decision.allowed);
        stats::record_decision(Command::Check, decision.allowed);
    }
    reply_decision(ctx, &decision);
    Ok(())
}

/// Evaluates one request on one key, commits it and propagates the effect.
pub fn check_key(ctx: Ctx, name: &Arg, req: &CheckRequest, when: When) -> Result<Decision, Error> {
    let mut key = Key::open(ctx, name);
    let outcome = evaluate(key.current()?, req, when.now)?;
    let rested_at = outcome.decision.rested_at_ms(when.now);
    if when.verbatim {
        if commit(&mut key, outcome.change, rested_at, None)? {
            ctx.replicate_verbatim();
        }
    } else {
        let mut payload = Bytes::default();
        if commit(&mut key, outcome.change, rested_at, Some(&mut payload))? {
            ctx.replicate_apply_pairs(&[(name, payload)]);
        }
    }
    if !outcome.decision.allowed && !when.replay {
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
/// the key's absolute expiry when it was charged. Returns whether anything changed, that
/// is whether the caller must propagate the effect; if so and `payload` is given, writes
/// there the `RL.APPLY` payload that propagates it.
pub fn commit(
    key: &mut Key,
    change: Change,
    expire_at: i64,
    payload: Option<&mut Bytes>,
) -> Result<bool, Error> {
    let charged = change.charges();
    let changed = match key.slot()? {
        Slot::Empty => {
            let (created, changed) = settle(None, change, expire_at, payload);
            if let Some(new) = created {
                key.create(new)?;
            }
            changed
        }
        Slot::Limiter(l) => settle(Some(l), change, expire_at, payload).1,
    };
    if charged {
        key.expire_at(expire_at);
    }
    Ok(changed)
}

/// Applies a change; returns the value to create (if any) and whether anything changed,
/// writing the payload that propagates it to `out` when given.
fn settle(
    slot: Option<&mut Limiter>,
    change: Change,
    expire_at: i64,
    out: Option<&mut Bytes>,
) -> (Option<Limiter>, bool) {
    let pack = |f: &dyn Fn() -> Bytes| {
        if let Some(out) = out {
            *out = f();
        }
        true
    };
    match change {
        Change::Nothing => (None, false),
        Change::Deny { cost } => {
            let exists = slot.is_some();
            apply(slot, Change::Deny { cost });
            (None, exists && pack(&|| pack_deny(cost)))
        }
        Change::Append { quota, append } => {
            let changed = pack(&|| pack_append(&quota, &append, expire_at));
            (apply(slot, Change::Append { quota, append }), changed)
        }
        set @ Change::Set { .. } => match slot {
            Some(l) => {
                apply(Some(l), set);
                (None, pack(&|| pack_replace(l, expire_at)))
            }
            None => {
                let new = apply(None, set);
                let changed = new
                    .as_ref()
                    .is_some_and(|n| pack(&|| pack_replace(n, expire_at)));
                (new, changed)
            }
        },
    }
}
