//! `RL.PEEK key algorithm limit period_ms [BURST n] [COST n]`: RL.CHECK's reply as if
//! the request were made, changing nothing. Read-only, so replicas serve it.

use super::{Call, Command, Done};
use crate::args::parse_check;
use crate::config;
use crate::error::Error;
use crate::reply::Reply;
use crate::types::key::Key;
use crate::types::limiter::evaluate;

/// Evaluates without committing and replies the decision.
pub fn peek(call: &Call) -> Result<Done, Error> {
    let req = parse_check(call.args, &config::limits())?;
    let now = call.clock.now_ms();
    let mut key = Key::open_read(call.ctx, &call.args[0]);
    let outcome = evaluate(key.current()?, &req, now)?;
    crate::stats::record_decision(Command::Peek, outcome.decision.allowed);
    Ok(Reply::Decision(outcome.decision).into())
}
