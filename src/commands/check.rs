//! `RL.CHECK key algorithm limit period [BURST n] [COST n] [AT_MOST]`, and
//! `RL.CHECK key POLICY name [COST n] [SHADOW]` (`policy.rs`).

use super::{Call, Command, Done};
use crate::args::{parse_check_at_most, parse_check_policy, Form};
use crate::charge::{charge_at_most, charge_one, when};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::reply::Reply;
use crate::{config, stats};

/// Parses, evaluates at the command's instant, charges and propagates through the
/// pipeline (`charge.rs`), and replies the decision.
pub fn check(call: &Call) -> Result<Done, Error> {
    let (args, when) = when(call)?;
    if let Some(pc) = parse_check_policy(args, Form::Check) {
        return super::policy::check(call, args, when, &pc?);
    }
    let (req, at_most) = parse_check_at_most(args, Form::Check, &when.limits())?;
    let replay = when.is_replay();
    let charged = if at_most {
        charge_at_most(call.ctx, &args[0], &req, when).map(|(d, g)| (d, Some(g)))
    } else {
        charge_one(call.ctx, &args[0], &req, when).map(|d| (d, None))
    };
    let (decision, granted) = charged.inspect_err(|_| {
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
    // The sixth field only when AT_MOST was given: existing callers see no change.
    let reply = match granted {
        Some(g) => Reply::Granted(decision, g),
        None => Reply::Decision(decision),
    };
    Ok(Done { reply, replay })
}

/// Counts a denial in the most-denied-keys sketch and publishes `rl.denied` on the key
/// when `ratelimit.deny-notifications` is on.
pub fn notify_denied(ctx: Ctx, name: &Arg) {
    crate::top_denied::record(name.as_ref());
    if config::deny_notifications() {
        ctx.notify(c"rl.denied", name);
    }
}
