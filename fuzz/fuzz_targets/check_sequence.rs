//! The algorithms under arbitrary requests and clocks: a sequence of checks (any
//! algorithm's parameters, costs, and a clock that may jump or step back) on one key,
//! evaluated and committed as RL.CHECK does. No panic (the fuzz build checks integer
//! overflow); decisions stay within the quota; a key of another algorithm is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithms::calendar::{Calendar, Unit};
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::args::CheckRequest;
use redis_ratelimit::types::limiter::{apply, evaluate, Limiter};

fn word(data: &mut &[u8]) -> u64 {
    let n = data.len().min(8);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    u64::from_le_bytes(b)
}

/// Mostly small numbers, sometimes anything.
fn number(data: &mut &[u8]) -> u64 {
    let w = word(data);
    match w & 3 {
        0 => w >> 2,
        _ => (w >> 2) % 1000 + 1,
    }
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut key: Option<Limiter> = None;
    let mut now: u64 = 1_767_225_600_000;
    while !data.is_empty() {
        let pick = word(&mut data);
        let algorithm = match pick % 6 {
            0 => Algorithm::TokenBucket,
            1 => Algorithm::Gcra,
            2 => Algorithm::FixedWindow,
            3 => Algorithm::SlidingWindow,
            4 => Algorithm::SlidingLog,
            _ => Algorithm::Calendar,
        };
        let (mut limit, mut period) = (number(&mut data), number(&mut data));
        if algorithm == Algorithm::SlidingLog {
            // What the parser lets through: the configured cap and a u32 period.
            limit = limit.min(1000);
            period = period.min(u32::MAX as u64);
        }
        let burst = if algorithm.has_burst() {
            number(&mut data)
        } else {
            limit
        };
        let Some(quota) = Quota::new(limit, period, burst) else {
            continue;
        };
        let cost = number(&mut data) % 2000;
        // The clock: forward a little, far, or back.
        let step = word(&mut data);
        now = match step % 4 {
            0 => now.saturating_add(step % 100),
            1 => now.saturating_add(step >> 2),
            2 => now.saturating_sub(step % 10_000),
            _ => now,
        }
        .min(i64::MAX as u64);
        let calendar = (algorithm == Algorithm::Calendar).then(|| Calendar {
            unit: Unit::ALL[(pick >> 8) as usize % 3],
            offset_min: ((pick >> 16) % 2161) as i16 - 1080,
        });
        let quota = match calendar {
            // What the parser builds: the unit's nominal length as the period.
            Some(c) => Quota::new(quota.limit(), c.nominal_ms(), quota.limit()).unwrap_or(quota),
            None => quota,
        };
        let req = CheckRequest {
            calendar,
            // BLOCK on some checks: a denial then blocks the key.
            block_ms: if pick >> 40 & 3 == 0 { pick >> 42 } else { 0 },
            ..CheckRequest::new(algorithm, quota, cost)
        };
        match evaluate(key.as_ref(), &req, now) {
            Ok(outcome) => {
                let d = outcome.decision;
                assert!(d.remaining <= quota.burst().max(quota.limit()));
                if d.allowed {
                    assert!(cost <= quota.burst().max(quota.limit()));
                    assert_eq!(d.retry_after_ms, -1);
                } else {
                    assert!(d.retry_after_ms >= -1);
                }
                assert!(d.reset_after_ms >= 0);
                if d.allowed || req.block_ms > 0 {
                    match key.as_mut() {
                        Some(l) => {
                            apply(Some(l), outcome.change);
                        }
                        None => key = apply(None, outcome.change),
                    }
                }
            }
            // A key of another algorithm is refused, never silently reset.
            Err(_) => assert!(key
                .as_ref()
                .is_some_and(|l| l.algorithm().is_some_and(|a| a != algorithm))),
        }
    }
});
