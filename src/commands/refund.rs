//! `RL.REFUND key COST n`: gives back units a key was charged for (a request that turned
//! out not to count), with the key's stored parameters.

use super::{Call, Done};
use crate::args::parse_refund;
use crate::charge::{commit, Pending, Propagate, Write};
use crate::error::Error;
use crate::reply::Reply;
use crate::types::key::Key;
use crate::types::limiter::refund as give_back;

/// Gives back up to n units at the command's instant; replies how many were given back
/// (0 for a missing key). The new value propagates as its effect (RL.APPLY): the
/// command is not stamped, and replicas never evaluate with their own clock.
pub fn refund(call: &Call) -> Result<Done, Error> {
    let units = parse_refund(call.args)?;
    let now = call.clock.now_ms();
    let name = &call.args[0];
    let mut key = Key::open(call.ctx, name);
    let (changed, given) = match key.current()?.as_deref() {
        None => (None, 0),
        Some(l) => give_back(l, units, now)?,
    };
    if let Some(value) = changed {
        // The TTL stays: the key rests no later than it would have.
        let mut pending = [Pending::new(name, key, Write::Replace(value), None)];
        commit(call.ctx, &mut pending, Propagate::Apply)?;
    }
    Ok(Reply::Int(given.min(i64::MAX as u64) as i64).into())
}
