//! `RL.CHECK key algorithm limit period [BURST n] [COST n]`.

use super::{Call, Command, Done};
use crate::args::{parse_check, Form};
use crate::charge::{charge_one, when};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::reply::Reply;
use crate::{config, stats};

/// Parses, evaluates at the command's instant, charges and propagates through the
/// pipeline (`charge.rs`), and replies the decision.
pub fn check(call: &Call) -> Result<Done, Error> {
    let (args, when) = when(call)?;
    let req = parse_check(args, Form::Check, &when.limits())?;
    let replay = when.is_replay();
    let decision = charge_one(call.ctx, &args[0], &req, when).inspect_err(|_| {
        if !replay {
            stats::record_algorithm_error(req.algorithm);
        }
    })?;
    if !replay {
        stats::record_check(req.algorithm, decision.allowed);
        stats::record_decision(Command::Check, decision.allowed);
        if !decision.allowed {
            notify_denied(call.ctx, &args[0]);
        }
    }
    Ok(Done {
        reply: Reply::Decision(decision),
        replay,
    })
}

/// Counts a denial in the most-denied-keys sketch and publishes `rl.denied` on the key
/// when `ratelimit.deny-notifications` is on.
pub fn notify_denied(ctx: Ctx, name: &Arg) {
    crate::top_denied::record(name.as_ref());
    if config::deny_notifications() {
        ctx.notify(c"rl.denied", name);
    }
}
