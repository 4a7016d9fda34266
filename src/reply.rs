//! A command's whole reply as a value. Handlers return one; the runner writes it after
//! the handler has finished, so no handler can start a reply and then fail.

use std::borrow::Cow;

use crate::algorithms::leases::Acquired;
use crate::algorithms::Decision;
use crate::ctx::Ctx;

/// The five decision fields, in RESP2 order.
pub const DECISION_FIELDS: [&str; 5] = [
    "allowed",
    "limit",
    "remaining",
    "retry_after_ms",
    "reset_after_ms",
];

/// One value inside a reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A double on RESP3; on RESP2 a bulk string with three decimals.
    Micros(f64),
    /// An array.
    Array(Vec<Value>),
}

impl Value {
    /// An integer from an unsigned count, saturated at `i64::MAX`.
    pub fn count(v: u64) -> Self {
        Value::Int(v.min(i64::MAX as u64) as i64)
    }

    /// A bulk string from text.
    pub fn text(t: impl Into<String>) -> Self {
        Value::Bulk(t.into().into_bytes())
    }
}

/// A whole reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// An integer.
    Int(i64),
    /// Nil (a null on RESP3).
    Null,
    /// A decision: a five-integer array on RESP2, a map on RESP3.
    Decision(Decision),
    /// A partial grant's decision (RL.CHECK AT_MOST): the five fields and `granted`, a
    /// sixth integer on RESP2, a sixth map entry on RESP3.
    Granted(Decision, u64),
    /// RL.MCHECK's: the overall decision, the largest wait and each key's decision.
    Decisions {
        /// Whether every key admitted.
        allowed: bool,
        /// The largest wait among denying keys, -1 if allowed or one can never admit.
        retry_after_ms: i64,
        /// Each key's decision, in key order.
        each: Vec<Decision>,
    },
    /// A flat array of integers.
    Ints(Vec<i64>),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// An array of values.
    Values(Vec<Value>),
    /// A policy check's decision: the five fields; the RESP3 map adds `decided_by` (the
    /// deciding limit, from 1) and `shadow_denied` (1: admitted by shadow mode only).
    Policy {
        /// The deciding limit's decision.
        decision: Decision,
        /// Its index in the policy, from 0.
        decided_by: usize,
        /// Whether shadow mode admitted a request enforcement would deny.
        shadow_denied: bool,
    },
    /// Name/value pairs: a map on RESP3, a flat array on RESP2.
    Fields(Vec<(Cow<'static, str>, Value)>),
    /// RL.ACQUIRE's: a five-field array on RESP2 (`LEASE_FIELDS` order), a map on RESP3;
    /// the id as 16 lowercase hexadecimal digits, nil when denied.
    Lease(Acquired),
    /// Test builds: writes the inner reply, then panics (a reply cut short).
    #[cfg(feature = "test-hooks")]
    ThenPanic(Box<Reply>),
}

fn decision_values(d: &Decision) -> [i64; 5] {
    [
        i64::from(d.allowed),
        d.limit.min(i64::MAX as u64) as i64,
        d.remaining.min(i64::MAX as u64) as i64,
        d.retry_after_ms,
        d.reset_after_ms,
    ]
}

impl Reply {
    /// Writes the reply.
    pub fn write(&self, ctx: Ctx) {
        let resp3 = ctx.is_resp3();
        self.write_as(ctx, resp3);
    }

    fn write_as(&self, ctx: Ctx, resp3: bool) {
        match self {
            Reply::Ok => ctx.reply_simple(c"OK"),
            Reply::Int(v) => ctx.reply_i64(*v),
            Reply::Null => ctx.reply_null(),
            Reply::Decision(d) => write_decision(ctx, d, resp3, None),
            Reply::Granted(d, granted) => write_decision(ctx, d, resp3, Some(*granted)),
            Reply::Decisions {
                allowed,
                retry_after_ms,
                each,
            } => {
                if resp3 {
                    ctx.reply_map(3);
                    ctx.reply_bulk(b"allowed");
                    ctx.reply_i64(i64::from(*allowed));
                    ctx.reply_bulk(b"retry_after_ms");
                    ctx.reply_i64(*retry_after_ms);
                    ctx.reply_bulk(b"results");
                } else {
                    ctx.reply_array(2 + each.len());
                    ctx.reply_i64(i64::from(*allowed));
                    ctx.reply_i64(*retry_after_ms);
                }
                if resp3 {
                    ctx.reply_array(each.len());
                }
                each.iter()
                    .for_each(|d| write_decision(ctx, d, resp3, None));
            }
            Reply::Ints(v) => {
                ctx.reply_array(v.len());
                v.iter().for_each(|&v| ctx.reply_i64(v));
            }
            Reply::Bulk(b) => ctx.reply_bulk(b),
            Reply::Values(v) => write_value(ctx, &Value::Array(v.clone()), resp3),
            Reply::Policy {
                decision,
                decided_by,
                shadow_denied,
            } => {
                if resp3 {
                    ctx.reply_map(DECISION_FIELDS.len() + 2);
                    for (name, v) in DECISION_FIELDS.iter().zip(decision_values(decision)) {
                        ctx.reply_bulk(name.as_bytes());
                        ctx.reply_i64(v);
                    }
                    ctx.reply_bulk(b"decided_by");
                    ctx.reply_i64(*decided_by as i64 + 1);
                    ctx.reply_bulk(b"shadow_denied");
                    ctx.reply_i64(i64::from(*shadow_denied));
                } else {
                    write_decision(ctx, decision, false, None);
                }
            }
            Reply::Fields(fields) => {
                if resp3 {
                    ctx.reply_map(fields.len());
                } else {
                    ctx.reply_array(2 * fields.len());
                }
                for (name, value) in fields {
                    ctx.reply_bulk(name.as_bytes());
                    write_value(ctx, value, resp3);
                }
            }
            Reply::Lease(a) => write_lease(ctx, a, resp3),
            #[cfg(feature = "test-hooks")]
            Reply::ThenPanic(inner) => {
                inner.write_as(ctx, resp3);
                panic!("RL.TESTHOOK: a panic after the reply was written");
            }
        }
    }
}

fn write_decision(ctx: Ctx, d: &Decision, resp3: bool, granted: Option<u64>) {
    let values = decision_values(d);
    let granted = granted.map(|g| g.min(i64::MAX as u64) as i64);
    let n = values.len() + usize::from(granted.is_some());
    if resp3 {
        ctx.reply_map(n);
        for (name, v) in DECISION_FIELDS.iter().zip(values) {
            ctx.reply_bulk(name.as_bytes());
            ctx.reply_i64(v);
        }
        if let Some(g) = granted {
            ctx.reply_bulk(b"granted");
            ctx.reply_i64(g);
        }
    } else {
        ctx.reply_array(n);
        values.into_iter().for_each(|v| ctx.reply_i64(v));
        if let Some(g) = granted {
            ctx.reply_i64(g);
        }
    }
}

/// RL.ACQUIRE's reply fields, in RESP2 order.
pub const LEASE_FIELDS: [&str; 5] = [
    "acquired",
    "limit",
    "remaining",
    "retry_after_ms",
    "lease_id",
];

fn write_lease(ctx: Ctx, a: &Acquired, resp3: bool) {
    let ints = [
        i64::from(a.acquired),
        a.limit.min(i64::MAX as u64) as i64,
        a.remaining.min(i64::MAX as u64) as i64,
        a.retry_after_ms,
    ];
    if resp3 {
        ctx.reply_map(LEASE_FIELDS.len());
    } else {
        ctx.reply_array(LEASE_FIELDS.len());
    }
    for (name, v) in LEASE_FIELDS.iter().zip(ints) {
        if resp3 {
            ctx.reply_bulk(name.as_bytes());
        }
        ctx.reply_i64(v);
    }
    if resp3 {
        ctx.reply_bulk(LEASE_FIELDS[4].as_bytes());
    }
    match a.id {
        Some(id) => ctx.reply_bulk(&crate::lease_ids::hex(id)),
        None => ctx.reply_null(),
    }
}

fn write_value(ctx: Ctx, value: &Value, resp3: bool) {
    match value {
        Value::Int(v) => ctx.reply_i64(*v),
        Value::Bulk(b) => ctx.reply_bulk(b),
        Value::Micros(v) if resp3 => ctx.reply_double(*v),
        Value::Micros(v) => ctx.reply_bulk(format!("{v:.3}").as_bytes()),
        Value::Array(items) => {
            ctx.reply_array(items.len());
            items.iter().for_each(|v| write_value(ctx, v, resp3));
        }
    }
}
