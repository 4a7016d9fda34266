//! The policy JSON reader: arbitrary bytes as one policy (RL.POLICY SET) and as a set
//! (RL.POLICY LOAD, the policy file). None may panic; what parses respects RL.CHECK's
//! limits and reads back the same from its canonical text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithms::Algorithm;
use redis_ratelimit::args::Limits;
use redis_ratelimit::error::Error;
use redis_ratelimit::policy::{parse_set, valid_name, Policy, Store, MAX_LIMITS};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        sliding_log_max_limit: 1000,
    };
    match Policy::parse(data, &limits) {
        Ok(p) => {
            check_policy(&p, &limits);
            let text = p.to_json(None);
            assert_eq!(Policy::parse(text.as_bytes(), &limits), Ok(p));
        }
        Err(e) => check_error(e),
    }
    match parse_set(data, &limits) {
        Ok(set) => {
            let mut store = Store::default();
            for (name, p) in &set {
                assert!(valid_name(name));
                check_policy(p, &limits);
            }
            store.replace_all(set, usize::MAX).unwrap();
            let again = parse_set(store.to_json().as_bytes(), &limits).unwrap();
            let mut other = Store::default();
            other.replace_all(again, usize::MAX).unwrap();
            assert_eq!(store.digest(), other.digest());
        }
        Err(e) => check_error(e),
    }
});

fn check_policy(p: &Policy, limits: &Limits) {
    assert!((1..=MAX_LIMITS).contains(&p.limits.len()));
    for l in &p.limits {
        assert!(Algorithm::CHECKS.contains(&l.algorithm));
        if l.algorithm == Algorithm::SlidingLog {
            assert!(l.quota.limit() <= limits.sliding_log_max_limit);
        }
        if !l.algorithm.has_burst() {
            assert_eq!(l.quota.burst(), l.quota.limit());
        }
    }
}

/// An error's reply is a code word and fits its buffer whole.
fn check_error(e: Error) {
    let text = e.to_string();
    assert!(text.starts_with("ERR "), "{text}");
    assert_eq!(e.message().as_str(), text);
}
