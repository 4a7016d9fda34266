//! `RL.PEEK key algorithm limit period_ms [BURST n] [COST n]`: RL.CHECK's reply as if
//! the request were made, changing nothing. Read-only, so replicas serve it.

use super::reply_decision;
use crate::args::parse_check;
use crate::clock::{Clock, ServerClock};
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::key::Key;
use crate::types::limiter::evaluate;

/// Evaluates without committing and replies the decision.
pub fn peek(ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    let req = parse_check(args, &config::limits())?;
    let now = ServerClock.now_ms();
    let mut key = Key::open_read(ctx, &args[0]);
    let outcome = evaluate(key.current()?, &req, now)?;
    crate::stats::record_decision(crate::command::Command::Peek, outcome.decision.allowed);
    reply_decision(ctx, &outcome.decision);
    Ok(())
}
