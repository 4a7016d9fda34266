//! The versioned encodings and the RL.APPLY payload: round trips of every algorithm,
//! golden v1 and v2 payloads, the compact sizes, and rejection of every kind of
//! corruption without panicking.

use proptest::prelude::*;
use std::collections::VecDeque;

use redis_ratelimit::algorithms::calendar::{Calendar, CalendarWindow, Unit};
use redis_ratelimit::algorithms::fixed_window::FixedWindow;
use redis_ratelimit::algorithms::gcra::{Gcra, MAX_TAT};
use redis_ratelimit::algorithms::sliding_log::SlidingLog;
use redis_ratelimit::algorithms::sliding_window::SlidingWindow;
use redis_ratelimit::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use redis_ratelimit::algorithms::Quota;
use redis_ratelimit::replicate::{pack_replace, unpack, Effect};
use redis_ratelimit::types::encoding::{decode, decode_body, encode, encode_words, DecodeError};
use redis_ratelimit::types::multi::Multi;
use redis_ratelimit::types::packed::Packed;
use redis_ratelimit::types::{Limiter, State, Totals};

fn limiter() -> impl Strategy<Value = Limiter> {
    prop_oneof![
        3 => bucket_or_gcra(),
        1 => calendar(),
        1 => (any::<u64>(), any::<u64>(), 0u64..=i64::MAX as u64).prop_map(|(a, d, until)| {
            Limiter::blocked_only(until, Totals { admitted: a, denied: d })
        }),
    ]
}

fn calendar() -> impl Strategy<Value = Limiter> {
    let units = prop::sample::select(Unit::ALL.to_vec());
    let v = 1u64..=i64::MAX as u64;
    (
        units,
        -1080i16..=1080,
        v,
        0u64..=(i64::MAX as u64) / 2,
        any::<u64>(),
        0u64..=u32::MAX as u64,
    )
        .prop_map(|(unit, offset_min, limit, now, count, until)| {
            let calendar = Calendar { unit, offset_min };
            Limiter {
                quota: Quota::new(limit, calendar.nominal_ms(), limit).unwrap(),
                totals: Totals::default(),
                state: State::Calendar(CalendarWindow {
                    calendar,
                    start_ms: calendar.window(now).0,
                    count: count >> 1,
                }),
                blocked_until_ms: until,
            }
        })
}

fn bucket_or_gcra() -> impl Strategy<Value = Limiter> {
    let v = 1u64..=i64::MAX as u64;
    let quota = (v.clone(), v.clone(), v).prop_map(|(l, p, b)| Quota::new(l, p, b).unwrap());
    (quota, any::<bool>(), any::<u128>(), 0u64..=i64::MAX as u64).prop_map(|(q, tb, x, at)| {
        let state = if tb {
            let cap = i128::from(q.burst()) * i128::from(q.period_ms());
            let span = (cap - MIN_TOKENS) as u128;
            State::TokenBucket(TokenBucket {
                tokens: MIN_TOKENS + (x % (span + 1)) as i128,
                updated_ms: at,
            })
        } else {
            State::Gcra(Gcra {
                tat: x % (MAX_TAT + 1),
            })
        };
        Limiter {
            quota: q,
            totals: Totals {
                admitted: x as u64,
                denied: (x >> 64) as u64,
            },
            state,
            blocked_until_ms: if x % 3 == 0 { at } else { 0 },
        }
    })
}

/// Limiters of the window algorithms and logs, with narrow and wide fields.
fn window_or_log() -> impl Strategy<Value = Limiter> {
    let v = prop_oneof![1u64..200, 1u64..=i64::MAX as u64];
    let offsets = prop::collection::vec(0u32..5000, 0..40);
    (0u8..3, v.clone(), v, any::<u64>(), any::<u64>(), offsets).prop_map(
        |(kind, limit, period, a, b, mut offs)| {
            let small = |x: u64| x >> 1;
            let (quota, state) = match kind {
                0 | 1 => {
                    let q = Quota::new(limit, period, limit).unwrap();
                    let start = (small(a) / period) * period;
                    let state = if kind == 0 {
                        State::FixedWindow(FixedWindow {
                            start_ms: start,
                            count: small(b),
                        })
                    } else {
                        State::SlidingWindow(SlidingWindow {
                            start_ms: start,
                            previous: small(b),
                            current: small(b.rotate_left(7)),
                        })
                    };
                    (q, state)
                }
                _ => {
                    offs.sort_unstable();
                    offs.truncate(limit.min(40) as usize);
                    let q = Quota::new(
                        limit.min(10_000_000),
                        period.min(u64::from(u32::MAX)),
                        limit.min(10_000_000),
                    )
                    .unwrap();
                    let log = SlidingLog::from_parts(a >> 2, VecDeque::from(offs)).unwrap();
                    (q, State::SlidingLog(log))
                }
            };
            Limiter {
                quota,
                totals: Totals {
                    admitted: a,
                    denied: b % 3,
                },
                state,
                blocked_until_ms: if b % 5 == 0 { b >> 2 } else { 0 },
            }
        },
    )
}

/// A policy key: one to eight limits, each absent or any check algorithm's state (or
/// just a block).
fn policy() -> impl Strategy<Value = Limiter> {
    let part = prop::option::of(prop_oneof![limiter(), window_or_log()]);
    (
        prop::collection::vec(part, 1..=8),
        "[a-z0-9_:.-]{1,20}",
        any::<u64>(),
        any::<u64>(),
        1u64..=i64::MAX as u64,
        1u64..=i64::MAX as u64,
        any::<u64>(),
    )
        .prop_map(
            |(parts, name, version, shadow_denied, limit, period, admitted)| Limiter {
                quota: Quota::new(limit, period, limit).unwrap(),
                totals: Totals {
                    admitted,
                    denied: 0,
                },
                state: State::Policy(Box::new(Multi {
                    policy: name.into_bytes().into(),
                    version,
                    shadow_denied,
                    parts,
                })),
                blocked_until_ms: 0,
            },
        )
}

proptest! {
    #[test]
    fn policy_keys_round_trip_and_refuse_truncation(l in policy(), cut in 1usize..200) {
        let enc = encode(&l);
        let b = enc.as_bytes();
        prop_assert_eq!(decode(b), Ok(l.clone()));
        prop_assert!(decode(&b[..b.len() - cut.min(b.len())]).is_err());
        let mut longer = b.to_vec();
        longer.push(0);
        prop_assert!(decode(&longer).is_err());
        let p = Packed::new(l.clone());
        prop_assert_eq!(&*p.limiter(), &l);
    }

    #[test]
    fn windows_and_logs_round_trip_and_the_legacy_words_agree(l in window_or_log()) {
        prop_assert_eq!(decode(encode(&l).as_bytes()), Ok(l.clone()));
        let mut words = Vec::new();
        encode_words(&l, |w| words.push(w));
        let mut it = words.iter().copied();
        let old = redis_ratelimit::types::encoding::decode_words(|| it.next());
        prop_assert_eq!(old, Ok(l));
    }

    #[test]
    fn a_value_unpacks_to_exactly_what_was_packed(l in limiter(), w in window_or_log()) {
        for l in [l, w] {
            let p = Packed::new(l.clone());
            prop_assert_eq!(&*p.limiter(), &l);
            let copy = p.duplicate();
            prop_assert_eq!(&*copy.limiter(), &l);
            let mut q = Packed::new(l.clone());
            q.update(|x| x.totals.denied = x.totals.denied.wrapping_add(1) >> 1);
            let mut expected = l.clone();
            expected.totals.denied = expected.totals.denied.wrapping_add(1) >> 1;
            prop_assert_eq!(&*q.limiter(), &expected);
        }
    }

    #[test]
    fn arbitrary_compact_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode_body(&bytes);
        let mut versioned = vec![3u8];
        versioned.extend(&bytes);
        if let Ok(l) = decode(&versioned) {
            prop_assert_eq!(decode(encode(&l).as_bytes()), Ok(l));
        }
    }

    #[test]
    fn every_valid_limiter_round_trips(l in limiter(), at in 0i64..=i64::MAX) {
        prop_assert_eq!(decode(encode(&l).as_bytes()), Ok(l.clone()));
        prop_assert_eq!(unpack(pack_replace(&l, at).as_bytes()), Ok(Effect::Replace(l, at)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode(&bytes);
        let _ = unpack(&bytes);
    }

    #[test]
    fn any_truncation_or_extension_is_rejected(l in limiter(), cut in 1usize..50, extra in 1usize..9) {
        let enc = encode(&l);
        let b = enc.as_bytes();
        let cut = cut.min(b.len());
        prop_assert!(decode(&b[..b.len() - cut]).is_err());
        let mut longer = b.to_vec();
        longer.extend(std::iter::repeat_n(0, extra));
        prop_assert!(decode(&longer).is_err());
    }
}

fn words(w: &[u64]) -> Vec<u8> {
    w.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn golden_v1_payloads_still_decode() {
    // Version 1 byte form (RL.APPLY of 0.1.0 builds): GCRA, limit 10, period 1000,
    // burst 5, tat 0x0102.
    let mut golden = vec![1u8, 2];
    for v in [10u64, 1000, 5] {
        golden.extend(v.to_le_bytes());
    }
    golden.extend(0x0102u128.to_le_bytes());
    let l = decode(&golden).unwrap();
    assert_eq!(l.quota, Quota::new(10, 1000, 5).unwrap());
    assert_eq!(l.state, State::Gcra(Gcra { tat: 0x0102 }));
    assert_eq!(l.totals, Totals::default());
    // Version 1 word form (RDB of 0.1.0 builds): a token bucket.
    let l = decode_words_from(&[1 | 1 << 8, 3, 1000, 3, 2500, 0, 77]).unwrap();
    assert_eq!(
        l.state,
        State::TokenBucket(TokenBucket {
            tokens: 2500,
            updated_ms: 77
        })
    );
}

fn decode_words_from(w: &[u64]) -> Result<Limiter, DecodeError> {
    let mut it = w.iter().copied();
    redis_ratelimit::types::encoding::decode_words(|| it.next())
}

#[test]
fn golden_v2_payloads_decode_and_reencode_in_version_3() {
    let cases: &[&[u64]] = &[
        &[2 | 3 << 8, 5, 1000, 5, 7, 1, 4000, 3],
        &[2 | 4 << 8, 5, 1000, 5, 7, 1, 4000, 2, 3],
        // A log of three units at base+0, base+0, base+9.
        &[2 | 5 << 8, 5, 1000, 5, 3, 0, 4000, 3, 0, 9],
    ];
    for w in cases {
        let bytes = words(w);
        let l = decode(&bytes).unwrap();
        let mut again = Vec::new();
        encode_words(&l, |w| again.push(w));
        assert_eq!(&again[..], *w);
        let compact = encode(&l);
        assert_eq!(compact.as_bytes()[0], 3);
        assert!(compact.as_bytes().len() < bytes.len() / 4);
        assert_eq!(decode(compact.as_bytes()), Ok(l));
    }
}

#[test]
fn corrupt_fields_are_rejected_with_the_reason() {
    let tb = |f: &dyn Fn(&mut Vec<u64>)| {
        let mut w = vec![2 | 1 << 8, 10, 1000, 5, 0, 0, 5000, 0, 7];
        f(&mut w);
        decode(&words(&w))
    };
    assert!(tb(&|_| {}).is_ok());
    assert_eq!(decode(&[]), Err(DecodeError::Length));
    assert_eq!(tb(&|w| w[0] = 4 | 1 << 8), Err(DecodeError::Version(4)));
    assert_eq!(tb(&|w| w[0] = 2 | 9 << 8), Err(DecodeError::Algorithm));
    assert_eq!(tb(&|w| w[1] = 0), Err(DecodeError::Quota));
    assert_eq!(tb(&|w| w[2] = u64::MAX), Err(DecodeError::Quota));
    // Tokens above capacity (5 * 1000), far below the debt floor, a future beyond i64.
    assert_eq!(tb(&|w| w[6] = 5001), Err(DecodeError::State));
    assert_eq!(
        tb(&|w| {
            w[6] = 0;
            w[7] = 1 << 63
        }),
        Err(DecodeError::State)
    );
    assert_eq!(tb(&|w| w[8] = u64::MAX), Err(DecodeError::State));
    assert_eq!(
        tb(&|w| {
            w.pop();
        }),
        Err(DecodeError::Length)
    );
    assert_eq!(tb(&|w| w.push(0)), Err(DecodeError::Length));
    // Window algorithms: burst must equal limit, window starts must be aligned.
    assert_eq!(
        decode(&words(&[2 | 3 << 8, 5, 1000, 4, 0, 0, 0, 0])),
        Err(DecodeError::Quota)
    );
    assert_eq!(
        decode(&words(&[2 | 3 << 8, 5, 1000, 5, 0, 0, 1, 0])),
        Err(DecodeError::State)
    );
    // Logs: unsorted offsets, a count larger than the hard cap, a lying count.
    assert_eq!(
        decode(&words(&[2 | 5 << 8, 5, 1000, 5, 0, 0, 0, 2, 9])),
        Err(DecodeError::State)
    );
    assert_eq!(
        decode(&words(&[2 | 5 << 8, 5, 1000, 5, 0, 0, 0, 1 << 40])),
        Err(DecodeError::State)
    );
    assert_eq!(
        decode(&words(&[2 | 5 << 8, 5, 1000, 5, 0, 0, 0, 9_000_000])),
        Err(DecodeError::Length)
    );
    // Replace payload with a negative expiry; deny and append payloads of the wrong size.
    let mut p = pack_replace(
        &decode(&words(&[2 | 3 << 8, 5, 1000, 5, 0, 0, 0, 0])).unwrap(),
        1,
    )
    .as_bytes()
    .to_vec();
    let n = p.len();
    p[n - 8..].copy_from_slice(&(-5i64).to_le_bytes());
    assert_eq!(unpack(&p), Err(DecodeError::State));
    assert_eq!(unpack(&words(&[0x81])), Err(DecodeError::Length));
    assert_eq!(unpack(&words(&[0x81, 3])), Ok(Effect::Deny(3)));
    assert_eq!(
        unpack(&words(&[0x82, 5, 1000, 0, 10, 6, 0])),
        Err(DecodeError::State)
    );
    assert!(unpack(&words(&[0x82, 5, 1000, 0, 10, 5, 0])).is_ok());
}

#[test]
fn typical_keys_take_a_few_bytes_in_version_3() {
    let hour = 3_600_000;
    let q = Quota::new(100, hour, 100).unwrap();
    let now = 1_764_633_600_000; // 2025-12-02
    let totals = Totals {
        admitted: 1,
        denied: 0,
    };
    let tb = Limiter {
        quota: q,
        totals,
        state: State::TokenBucket(TokenBucket {
            tokens: 99 * i128::from(hour),
            updated_ms: now,
        }),
        blocked_until_ms: 0,
    };
    let gcra = Limiter {
        state: State::Gcra(Gcra {
            tat: u128::from(now) * 100 + u128::from(hour),
        }),
        ..tb.clone()
    };
    let fw = Limiter {
        state: State::FixedWindow(FixedWindow {
            start_ms: now / hour * hour,
            count: 1,
        }),
        ..tb.clone()
    };
    // The body RDB saves: the byte form less its version byte.
    for (l, size) in [(&tb, 14), (&gcra, 11), (&fw, 8)] {
        assert_eq!(encode(l).as_bytes().len() - 1, size, "{l:?}");
    }
}

#[test]
fn a_log_holding_more_units_than_its_limit_is_refused_in_every_encoding() {
    let log = |limit: u64, n: usize| Limiter {
        quota: Quota::new(limit, 1000, limit).unwrap(),
        totals: Totals::default(),
        state: State::SlidingLog(
            SlidingLog::from_parts(5000, VecDeque::from(vec![3u32; n])).unwrap(),
        ),
        blocked_until_ms: 0,
    };
    let over = log(5, 7);
    let mut w = Vec::new();
    encode_words(&over, |x| w.push(x));
    assert_eq!(decode(&words(&w)), Err(DecodeError::State));
    assert_eq!(decode(encode(&over).as_bytes()), Err(DecodeError::State));
    let full = log(7, 7);
    assert_eq!(decode(encode(&full).as_bytes()), Ok(full.clone()));
    let at = 1i64 << 41;
    assert_eq!(
        unpack(pack_replace(&over, at).as_bytes()),
        Err(DecodeError::State)
    );
}

#[test]
fn a_stored_value_takes_the_allocators_32_byte_class() {
    // MEMORY USAGE adds Redis's own per-key overhead to this (types::callbacks).
    let size = std::mem::size_of::<Packed>();
    assert!(size <= 32, "{size}");
}
