//! `RL.PEEK key algorithm limit period [BURST n] [COST n]`: RL.CHECK's reply as if the
//! request were made, changing nothing; `COST 0` shows what the key has now. Read-only,
//! so replicas serve it. `RL.PEEK key POLICY name [COST n]` previews a policy check.

use super::{Call, Command, Done};
use crate::args::{parse_check, parse_check_policy, Form};
use crate::config;
use crate::error::Error;
use crate::reply::Reply;
use crate::types::key::Key;
use crate::types::limiter::preview;

/// Evaluates without committing and replies the decision.
pub fn peek(call: &Call) -> Result<Done, Error> {
    if let Some(pc) = parse_check_policy(call.args, Form::Peek) {
        return super::policy::peek(call, &pc?);
    }
    let req = parse_check(call.args, Form::Peek, &config::limits())?;
    let now = call.clock.now_ms();
    let mut key = Key::open_read(call.ctx, &call.args[0]);
    let decision = preview(key.current()?.as_deref(), &req, now)?;
    crate::stats::record_decision(Command::Peek, decision.allowed);
    Ok(Reply::Decision(decision).into())
}
