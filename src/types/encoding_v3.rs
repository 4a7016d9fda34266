//! Encoding version 3: the compact body (layout in [`encoding`](super::encoding)).

use std::collections::VecDeque;

use crate::algorithms::calendar::{Calendar, CalendarWindow};
use crate::algorithms::fixed_window::FixedWindow;
use crate::algorithms::gcra::{Gcra, MAX_TAT};
use crate::algorithms::leases::{Lease, Leases, MAX_LEASES};
use crate::algorithms::sliding_log::{SlidingLog, MAX_PERIOD_MS, MAX_UNITS};
use crate::algorithms::sliding_window::SlidingWindow;
use crate::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use crate::algorithms::{Algorithm, Quota};
use crate::policy::{valid_name, MAX_LIMITS, MAX_NAME};
use crate::types::encoding::{policy_part, Bytes, DecodeError};
use crate::types::limiter::{Limiter, State, Totals};
use crate::types::multi::Multi;
use crate::types::varint::{put, Reader};

/// The period units a header can name, by code: the largest that divides the period
/// is stored, so an hour takes one byte instead of three.
const UNITS: [u64; 4] = [1, 1000, 60_000, 3_600_000];
const BURST_IS_LIMIT: u64 = 1 << 5;
const NO_DENIED: u64 = 1 << 6;
const BLOCKED: u64 = 1 << 7;
/// A policy key (algorithm 8 does not fit bits 0-2, which are then 0).
const POLICY: u64 = 1 << 8;
/// Header bits this version knows.
const KNOWN: u64 = (1 << 9) - 1;

fn capacity(q: &Quota) -> i128 {
    i128::from(q.burst()) * i128::from(q.period_ms())
}

/// Appends the body of `l`.
pub fn encode_body(l: &Limiter, out: &mut Bytes) {
    let q = &l.quota;
    let unit = (0..UNITS.len())
        .rev()
        .find(|&u| q.period_ms().is_multiple_of(UNITS[u]))
        .unwrap_or(0);
    let blocked = l.blocked_until_ms != 0 || l.algorithm().is_none();
    let mut header = match l.algorithm() {
        Some(Algorithm::Policy) => POLICY,
        a => a.map_or(0, |a| a as u64),
    } | (unit as u64) << 3;
    if blocked {
        header |= BLOCKED;
    }
    if q.burst() == q.limit() {
        header |= BURST_IS_LIMIT;
    }
    if l.totals.denied == 0 {
        header |= NO_DENIED;
    }
    let mut w = |v: u64| put(out, u128::from(v));
    w(header);
    w(q.limit());
    w(q.period_ms() / UNITS[unit]);
    if q.burst() != q.limit() {
        w(q.burst());
    }
    w(l.totals.admitted);
    if l.totals.denied != 0 {
        w(l.totals.denied);
    }
    if blocked {
        w(l.blocked_until_ms);
    }
    match &l.state {
        State::Blocked => {}
        State::Calendar(s) => {
            for v in [s.calendar.pack(), s.start_ms, s.count] {
                put(out, u128::from(v));
            }
        }
        State::TokenBucket(s) => {
            // Decoding refuses tokens above capacity, so the deficit is never negative.
            put(out, capacity(q).abs_diff(s.tokens));
            put(out, u128::from(s.updated_ms));
        }
        State::Gcra(s) => put(out, s.tat),
        State::FixedWindow(s) => {
            put(out, u128::from(s.start_ms / q.period_ms()));
            put(out, u128::from(s.count));
        }
        State::SlidingWindow(s) => {
            for v in [s.start_ms / q.period_ms(), s.previous, s.current] {
                put(out, u128::from(v));
            }
        }
        State::SlidingLog(log) => {
            let (base, offsets) = log.parts();
            put(out, offsets.len() as u128);
            put(out, u128::from(base));
            let mut last = 0;
            for &o in offsets {
                put(out, u128::from(o - last));
                last = o;
            }
        }
        State::Leases(s) => {
            put(out, s.parts().len() as u128);
            for l in s.parts() {
                for v in [l.id, l.expires_at_ms, l.units] {
                    put(out, u128::from(v));
                }
            }
        }
        State::Policy(m) => {
            for v in [m.version, m.shadow_denied, m.policy.len() as u64] {
                put(out, u128::from(v));
            }
            out.extend(&m.policy);
            put(out, m.parts.len() as u128);
            for part in &m.parts {
                match part {
                    None => put(out, 0),
                    Some(p) => {
                        put(out, 1);
                        encode_body(p, out);
                    }
                }
            }
        }
    }
}

/// Decodes a policy key's state: its limits are whole bodies, none of them a policy.
fn read_multi(r: &mut Reader) -> Result<Multi, DecodeError> {
    let version = r.u64()?;
    let shadow_denied = r.u64()?;
    let len = r.u64()?;
    if len == 0 || len > MAX_NAME as u64 {
        return Err(DecodeError::State);
    }
    let name = r.bytes(len as usize)?;
    if !valid_name(name) {
        return Err(DecodeError::State);
    }
    let n = r.u64()?;
    if n == 0 || n > MAX_LIMITS as u64 {
        return Err(DecodeError::State);
    }
    let mut parts = Vec::with_capacity(n as usize);
    for _ in 0..n {
        parts.push(match r.u64()? {
            0 => None,
            1 => Some(policy_part(read(r, false)?)?),
            _ => return Err(DecodeError::State),
        });
    }
    Ok(Multi {
        policy: name.into(),
        version,
        shadow_denied,
        parts,
    })
}

/// Decodes a body; every byte must be used.
pub fn decode_body(b: &[u8]) -> Result<Limiter, DecodeError> {
    let mut r = Reader::new(b);
    let l = read(&mut r, true)?;
    if !r.is_empty() {
        return Err(DecodeError::Length);
    }
    Ok(l)
}

/// Reads one value; a policy key only at the top (its limits are never policies).
fn read(r: &mut Reader, top: bool) -> Result<Limiter, DecodeError> {
    let header = r.u64()?;
    if header & !KNOWN != 0 {
        return Err(DecodeError::Version(3));
    }
    let blocked = header & BLOCKED != 0;
    let algorithm = match Algorithm::from_u8((header & 7) as u8) {
        _ if header & POLICY != 0 => {
            if !top || header & 7 != 0 {
                return Err(DecodeError::Algorithm);
            }
            Some(Algorithm::Policy)
        }
        Some(a) => Some(a),
        None if header & 7 == 0 && blocked => None,
        None => return Err(DecodeError::Algorithm),
    };
    let unit = UNITS[(header >> 3 & 3) as usize];
    let limit = r.u64()?;
    let period = r.u64()?.checked_mul(unit).ok_or(DecodeError::Quota)?;
    let burst = if header & BURST_IS_LIMIT != 0 {
        limit
    } else {
        r.u64()?
    };
    let quota = Quota::new(limit, period, burst).ok_or(DecodeError::Quota)?;
    if !algorithm.is_some_and(Algorithm::has_burst) && quota.burst() != quota.limit() {
        return Err(DecodeError::Quota);
    }
    let totals = Totals {
        admitted: r.u64()?,
        denied: if header & NO_DENIED != 0 { 0 } else { r.u64()? },
    };
    let blocked_until_ms = if blocked { r.small()? } else { 0 };
    let Some(algorithm) = algorithm else {
        if quota != Quota::new(1, 1, 1).ok_or(DecodeError::Quota)? {
            return Err(DecodeError::Quota);
        }
        return Ok(Limiter::blocked_only(blocked_until_ms, totals));
    };
    // A window's start as stored (in periods): it must stay within i64 milliseconds.
    let start = |r: &mut Reader| {
        let n = r.u64()?;
        n.checked_mul(quota.period_ms())
            .filter(|&ms| ms <= i64::MAX as u64)
            .ok_or(DecodeError::State)
    };
    let state = match algorithm {
        Algorithm::Calendar => {
            let calendar = Calendar::unpack(r.u64()?).ok_or(DecodeError::State)?;
            if quota.period_ms() != calendar.nominal_ms() {
                return Err(DecodeError::Quota);
            }
            let start_ms = r.small()?;
            if calendar.window(start_ms).0 != start_ms {
                return Err(DecodeError::State);
            }
            State::Calendar(CalendarWindow {
                calendar,
                start_ms,
                count: r.small()?,
            })
        }
        Algorithm::TokenBucket => {
            let deficit = r.u128()?;
            let tokens = i128::try_from(deficit)
                .ok()
                .and_then(|d| capacity(&quota).checked_sub(d))
                .filter(|&t| t >= MIN_TOKENS)
                .ok_or(DecodeError::State)?;
            let updated_ms = r.small()?;
            State::TokenBucket(TokenBucket { tokens, updated_ms })
        }
        Algorithm::Gcra => {
            let tat = r.u128()?;
            if tat > MAX_TAT {
                return Err(DecodeError::State);
            }
            State::Gcra(Gcra { tat })
        }
        Algorithm::FixedWindow => State::FixedWindow(FixedWindow {
            start_ms: start(r)?,
            count: r.small()?,
        }),
        Algorithm::SlidingWindow => State::SlidingWindow(SlidingWindow {
            start_ms: start(r)?,
            previous: r.small()?,
            current: r.small()?,
        }),
        Algorithm::SlidingLog => {
            if quota.period_ms() > MAX_PERIOD_MS || quota.limit() > MAX_UNITS {
                return Err(DecodeError::Quota);
            }
            let n = r.u64()?;
            // Never more units than the log's own limit (nor than the bytes left).
            if n > quota.limit() || n > r.remaining() as u64 {
                return Err(DecodeError::State);
            }
            let base = r.small()?;
            let mut offsets = VecDeque::with_capacity(n as usize);
            let mut last: u64 = 0;
            for _ in 0..n {
                last = last
                    .checked_add(r.u64()?)
                    .filter(|&o| o <= u64::from(u32::MAX))
                    .ok_or(DecodeError::State)?;
                offsets.push_back(last as u32);
            }
            let log = SlidingLog::from_parts(base, offsets).ok_or(DecodeError::State)?;
            State::SlidingLog(log)
        }
        Algorithm::Leases => {
            let n = r.u64()?;
            if n > MAX_LEASES || n > r.remaining() as u64 {
                return Err(DecodeError::State);
            }
            let mut held = Vec::with_capacity(n as usize);
            for _ in 0..n {
                held.push(Lease {
                    id: r.u64()?,
                    expires_at_ms: r.u64()?,
                    units: r.u64()?,
                });
            }
            let leases = Leases::from_parts(held).ok_or(DecodeError::State)?;
            if leases.held_units(0) > quota.limit() {
                return Err(DecodeError::State);
            }
            State::Leases(leases)
        }
        Algorithm::Policy => State::Policy(Box::new(read_multi(r)?)),
    };
    Ok(Limiter {
        quota,
        totals,
        state,
        blocked_until_ms,
    })
}
