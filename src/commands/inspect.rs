//! `RL.INSPECT key`: an operator's view of one limiter without knowing its parameters.

use std::borrow::Cow;

use super::{Call, Done};
use crate::args::format_duration;
use crate::error::Error;
use crate::reply::{Reply, Value};
use crate::types::key::Key;
use crate::types::limiter::{status, Limiter, State};

/// Replies the key's algorithm, parameters, capacity now, TTL, totals and state; nil
/// for a missing key.
pub fn inspect(call: &Call) -> Result<Done, Error> {
    let now = call.clock.now_ms();
    let mut key = Key::open_read(call.ctx, &call.args[0]);
    let ttl = key.ttl_ms(now);
    let current = key.current()?;
    let Some(l) = current.as_deref() else {
        return Ok(Reply::Null.into());
    };
    let mut fields = limiter_fields(l, now);
    fields.insert(7, ("ttl_ms", Value::Int(ttl)));
    let fields = fields.into_iter().map(|(n, v)| (Cow::Borrowed(n), v));
    Ok(Reply::Fields(fields.collect()).into())
}

/// A limiter's fields (all but the key's TTL, which goes after `reset_after_ms`).
fn limiter_fields(l: &Limiter, now: u64) -> Vec<(&'static str, Value)> {
    let now_status = status(l, now);
    let int = Value::count;
    // A key holding only a block has no parameters yet: its quota fields read 0.
    let (limit, period_ms, burst) = match l.algorithm() {
        Some(_) => (l.quota.limit(), l.quota.period_ms(), l.quota.burst()),
        None => (0, 0, 0),
    };
    let mut fields: Vec<(&'static str, Value)> = vec![
        (
            "algorithm",
            Value::text(l.algorithm().map_or("NONE", |a| a.keyword())),
        ),
        ("limit", int(limit)),
        ("period_ms", int(period_ms)),
        ("period", Value::text(period_text(l, period_ms))),
        ("burst", int(burst)),
        ("remaining", int(now_status.remaining)),
        ("reset_after_ms", Value::Int(now_status.reset_after_ms)),
        ("admitted", int(l.totals.admitted)),
        ("denied", int(l.totals.denied)),
        ("blocked_ms", int(l.blocked_for(now))),
    ];
    match &l.state {
        State::TokenBucket(s) => {
            let p = i128::from(l.quota.period_ms());
            // Tokens with three decimals, rounded down (towards minus infinity).
            let milli = s.tokens.div_euclid(p) * 1000 + s.tokens.rem_euclid(p) * 1000 / p;
            let sign = if milli < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:03}", milli.abs() / 1000, milli.abs() % 1000);
            fields.push(("tokens", Value::text(text)));
            fields.push(("updated_ms", int(s.updated_ms)));
        }
        State::Gcra(s) => {
            let tat_ms = crate::algorithms::div_ceil(s.tat, u128::from(l.quota.limit()));
            fields.push(("tat_ms", int(tat_ms.min(u128::from(u64::MAX)) as u64)));
        }
        State::FixedWindow(s) => {
            fields.push(("window_start_ms", int(s.start_ms)));
            fields.push(("count", int(s.count)));
        }
        State::SlidingWindow(s) => {
            fields.push(("window_start_ms", int(s.start_ms)));
            fields.push(("previous_count", int(s.previous)));
            fields.push(("current_count", int(s.current)));
        }
        State::Leases(s) => fields.extend(super::lease::inspect_fields(s, now)),
        State::Calendar(s) => {
            fields.push(("unit", Value::text(s.calendar.unit.keyword())));
            fields.push(("utc_offset", Value::Int(i64::from(s.calendar.offset_min))));
            fields.push(("window_start_ms", int(s.start_ms)));
            fields.push(("count", int(s.count)));
        }
        State::Blocked => {}
        State::SlidingLog(log) => {
            let opt = |t: Option<u64>| t.map_or(Value::Int(-1), int);
            fields.push(("entries", int(log.len() as u64)));
            fields.push(("oldest_ms", opt(log.oldest_ms())));
            fields.push(("newest_ms", opt(log.newest_ms())));
        }
        State::Policy(m) => {
            fields.push(("policy", Value::Bulk(m.policy.to_vec())));
            fields.push(("version", int(m.version)));
            fields.push(("shadow_denied", int(m.shadow_denied)));
            // Each limit's own fields as a flat name, value array (nil: no state yet).
            let each = m.parts.iter().map(|p| match p {
                None => Value::Array(Vec::new()),
                Some(p) => Value::Array(
                    limiter_fields(p, now)
                        .into_iter()
                        .flat_map(|(n, v)| [Value::text(n), v])
                        .collect(),
                ),
            });
            fields.push(("limits", Value::Array(each.collect())));
        }
    }
    fields
}

/// The period as written: a duration, or a calendar quota's unit (`MONTH`, whose nominal
/// 31 days `period_ms` reports, is not a duration).
fn period_text(l: &crate::types::Limiter, period_ms: u64) -> String {
    match &l.state {
        State::Calendar(s) => s.calendar.unit.keyword().to_string(),
        _ => format_duration(period_ms),
    }
}
