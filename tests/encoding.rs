//! The versioned encoding and the RL.APPLY payload: round trips, a golden v1 payload,
//! and rejection of every kind of corruption without panicking.

use proptest::prelude::*;
use redis_ratelimit::algorithms::calendar::{Calendar, CalendarWindow, Unit};
use redis_ratelimit::algorithms::gcra::{Gcra, MAX_TAT};
use redis_ratelimit::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use redis_ratelimit::algorithms::Quota;
use redis_ratelimit::replicate::{pack_replace, unpack, Effect};
use redis_ratelimit::types::encoding::{decode, encode, DecodeError};
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

proptest! {
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
fn golden_v2_payloads_decode_and_reencode_identically() {
    let cases: &[&[u64]] = &[
        &[2 | 3 << 8, 5, 1000, 5, 7, 1, 4000, 3],
        &[2 | 4 << 8, 5, 1000, 5, 7, 1, 4000, 2, 3],
        // A log of three units at base+0, base+0, base+9.
        &[2 | 5 << 8, 5, 1000, 5, 3, 0, 4000, 3, 0, 9],
    ];
    for w in cases {
        let bytes = words(w);
        let l = decode(&bytes).unwrap();
        assert_eq!(encode(&l).as_bytes(), &bytes[..]);
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
    assert_eq!(tb(&|w| w[0] = 3 | 1 << 8), Err(DecodeError::Version(3)));
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
fn a_fixed_size_limiter_value_fits_in_80_bytes() {
    // The allocator's 80-byte class, which the 72-byte value before the block's end
    // was stored in too. MEMORY USAGE adds Redis's own per-key overhead to this.
    assert!(
        std::mem::size_of::<Limiter>() <= 80,
        "{}",
        std::mem::size_of::<Limiter>()
    );
}
