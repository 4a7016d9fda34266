//! `RL.BLOCK key ms`: blocks a key explicitly (an operator or an application banning a
//! client): every check of it is denied until then, at the cost of a lookup.

use super::{Call, Done};
use crate::args::parse_duration;
use crate::charge::{commit, Pending, Propagate, Write};
use crate::error::{Error, Field};
use crate::reply::Reply;
use crate::types::key::Key;
use crate::types::limiter::Change;

/// Sets the key's block to end `ms` from now (replacing any block it had, so a ban can
/// be shortened as well as lengthened); a missing key is created holding only the
/// block. The key lives at least until the block ends. Replies OK. It reads the clock,
/// so it always propagates as an `RL.APPLY` block payload.
pub fn block(call: &Call) -> Result<Done, Error> {
    let ms = parse_duration(call.args[1].as_ref(), Field::Block).map_err(|e| e.at(2))?;
    let now = call.clock.now_ms();
    let until_ms = now.saturating_add(ms).min(i64::MAX as u64);
    let (ctx, name) = (call.ctx, &call.args[0]);
    let mut key = Key::open(ctx, name);
    // Type check first: a key of another type is refused, not overwritten.
    key.current()?;
    let expire_at = key.expires_at().map(|at| at.max(until_ms as i64));
    let change = Change::Block { cost: 0, until_ms };
    let mut pending = Pending::new(name, key, Write::Change(change), expire_at);
    commit(ctx, std::slice::from_mut(&mut pending), Propagate::Apply)?;
    ctx.notify(c"rl.block", name);
    Ok(Reply::Ok.into())
}
