//! `RL.CHECK key algorithm limit period_ms [BURST n] [COST n]`.

use super::reply_decision;
use crate::algorithms::Decision;
use crate::args::{parse_check, CheckRequest};
use crate::clock::{Clock, ServerClock};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::{Key, Slot};
use crate::replicate::replicate_apply;
use crate::stats;
use crate::types::limiter;

/// Parses, reads the clock once, evaluates, stores and replicates, then replies.
pub fn check(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let req = parse_check(args)?;
    let now = ServerClock.now_ms();
    let decision = evaluate(ctx, &args[0], &req, now).inspect_err(|_| {
        stats::record_algorithm_error(req.algorithm);
    })?;
    stats::record_check(req.algorithm, decision.allowed);
    reply_decision(ctx, &decision);
    Ok(())
}

fn evaluate(ctx: Ctx, name: &Arg, req: &CheckRequest, now: u64) -> Result<Decision, Error> {
    let mut key = Key::open(ctx, name);
    let (decision, stored) = match key.slot()? {
        Slot::Empty => {
            let (d, new) = limiter::check(None, req, now)?;
            if let Some(l) = new {
                key.create(l)?;
            }
            (d, new)
        }
        Slot::Limiter(current) => {
            let (d, new) = limiter::check(Some(current), req, now)?;
            if let Some(l) = new {
                *current = l;
            }
            (d, new)
        }
    };
    if let Some(l) = stored {
        let at = decision.rested_at_ms(now);
        key.expire_at(at);
        replicate_apply(ctx, name, &l, at);
    }
    Ok(decision)
}
