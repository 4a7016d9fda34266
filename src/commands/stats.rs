//! `RL.STATS [RESET]` and `RL.METRICS`: module-wide counters and latency percentiles
//! since load; RL.STATS adds the most-denied key names.

use std::borrow::Cow;

use super::{Call, Done};
use crate::error::Error;
use crate::reply::{Reply, Value};
use crate::stats::{report, Value as Stat};

/// Replies the counters and percentiles (a flat name/value list on RESP2, a map on
/// RESP3) and the most-denied keys, or with `RESET` clears them and replies OK.
pub fn stats(call: &Call) -> Result<Done, Error> {
    match call.args {
        [] => {}
        [sub] if sub.as_ref().eq_ignore_ascii_case(b"RESET") => {
            crate::stats::reset_all();
            return Ok(Reply::Ok.into());
        }
        [_] => return Err(Error::UnknownSubcommand),
        _ => return Err(Error::WrongArity),
    }
    let mut fields = counters();
    // The most-denied keys: [[key, denied, error], ...], most denied first.
    let top = crate::top_denied::top()
        .into_iter()
        .map(|e| {
            Value::Array(vec![
                Value::Bulk(e.key.into_vec()),
                Value::count(e.denied),
                Value::count(e.error),
            ])
        })
        .collect();
    fields.push(("top_denied_keys".into(), Value::Array(top)));
    Ok(Reply::Fields(fields).into())
}

/// `RL.METRICS`: the counters and percentiles RL.STATS replies, without the most-denied
/// key names and with no RESET form, for monitoring users.
pub fn metrics(_call: &Call) -> Result<Done, Error> {
    Ok(Reply::Fields(counters()).into())
}

/// The counters and percentiles as reply fields (no key names).
pub fn counters() -> Vec<(Cow<'static, str>, Value)> {
    report()
        .into_iter()
        .map(|(name, v)| {
            let value = match v {
                Stat::Count(v) => Value::count(v),
                // A typed double on RESP3; on RESP2 a bulk string with 3 decimals (ns).
                Stat::Micros(v) => Value::Micros(v),
                Stat::Text(t) => Value::text(t),
            };
            (name.into(), value)
        })
        .collect()
}
