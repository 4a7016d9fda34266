//! The versioned encoding and the RL.APPLY payload: round trips, a golden v1 payload,
//! and rejection of every kind of corruption without panicking.

use proptest::prelude::*;
use redis_ratelimit::algorithms::gcra::{Gcra, MAX_TAT};
use redis_ratelimit::algorithms::token_bucket::{TokenBucket, MIN_TOKENS};
use redis_ratelimit::algorithms::Quota;
use redis_ratelimit::replicate::{pack, unpack};
use redis_ratelimit::types::encoding::{decode, encode, DecodeError};
use redis_ratelimit::types::{Limiter, State};

fn limiter() -> impl Strategy<Value = Limiter> {
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
        Limiter { quota: q, state }
    })
}

proptest! {
    #[test]
    fn every_valid_limiter_round_trips(l in limiter(), at in 0i64..=i64::MAX) {
        prop_assert_eq!(decode(encode(&l).as_bytes()), Ok(l));
        prop_assert_eq!(unpack(pack(&l, at).as_bytes()), Ok((l, at)));
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

#[test]
fn golden_v1_gcra_payload_still_decodes() {
    // Version 1, GCRA, limit 10, period 1000, burst 5, tat 0x0102 (written by 0.1.0).
    let mut golden = vec![1u8, 2];
    for v in [10u64, 1000, 5] {
        golden.extend(v.to_le_bytes());
    }
    golden.extend(0x0102u128.to_le_bytes());
    let l = decode(&golden).unwrap();
    assert_eq!(l.quota, Quota::new(10, 1000, 5).unwrap());
    assert_eq!(l.state, State::Gcra(Gcra { tat: 0x0102 }));
    assert_eq!(encode(&l).as_bytes(), &golden[..]);
}

#[test]
fn corrupt_fields_are_rejected_with_the_reason() {
    let good = Limiter {
        quota: Quota::new(10, 1000, 5).unwrap(),
        state: State::TokenBucket(TokenBucket {
            tokens: 5000,
            updated_ms: 7,
        }),
    };
    let base = encode(&good).as_bytes().to_vec();
    let with = |at: usize, bytes: &[u8]| {
        let mut b = base.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        decode(&b)
    };
    assert_eq!(decode(&[]), Err(DecodeError::Length));
    assert_eq!(with(0, &[2]), Err(DecodeError::Version(2)));
    assert_eq!(with(0, &[0]), Err(DecodeError::Version(0)));
    assert_eq!(with(1, &[9]), Err(DecodeError::Algorithm));
    assert_eq!(with(2, &0u64.to_le_bytes()), Err(DecodeError::Quota));
    assert_eq!(with(10, &u64::MAX.to_le_bytes()), Err(DecodeError::Quota));
    // Tokens above capacity (5 * 1000).
    assert_eq!(with(26, &5001i128.to_le_bytes()), Err(DecodeError::State));
    assert_eq!(with(26, &i128::MIN.to_le_bytes()), Err(DecodeError::State));
    assert_eq!(with(42, &u64::MAX.to_le_bytes()), Err(DecodeError::State));
    // A GCRA byte on a token-bucket body has the wrong length.
    assert_eq!(with(1, &[2]), Err(DecodeError::Length));
    // A negative expiry in the RL.APPLY payload.
    let mut p = pack(&good, 1).as_bytes().to_vec();
    let n = p.len();
    p[n - 8..].copy_from_slice(&(-5i64).to_le_bytes());
    assert_eq!(unpack(&p), Err(DecodeError::State));
}
