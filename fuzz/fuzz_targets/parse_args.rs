//! Argument parsing: the input is an argument vector (arguments separated by NUL
//! bytes) handed to every parser the commands use. None may panic; a parsed request
//! must respect the limits it was parsed under.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithms::Algorithm;
use redis_ratelimit::args::{
    parse_check, parse_check_policy, parse_duration, parse_mcheck, parse_throttle, Form, Limits,
    Spec,
};
use redis_ratelimit::error::{Error, Field};

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let limits = Limits {
        sliding_log_max_limit: 1000,
    };
    for form in [Form::Check, Form::Peek] {
        match parse_check(&args, form, &limits) {
            Ok(req) => {
                check_request(&req, &limits);
                assert!(req.cost >= 1 || form == Form::Peek);
            }
            Err(e) => check_error(e),
        }
        match parse_check_policy(&args, form) {
            Some(Ok(call)) => {
                assert!(redis_ratelimit::policy::valid_name(call.name));
                assert!(call.cost >= 1 || form == Form::Peek);
                assert!(!call.shadow || form == Form::Check);
            }
            Some(Err(e)) => check_error(e),
            None => {}
        }
    }
    match parse_mcheck(&args, &limits) {
        Ok((n, specs)) => {
            assert_eq!(n, specs.len());
            assert!(n >= 1 && args.len() > n);
            for s in &specs {
                match s {
                    Spec::Limit(r) => check_request(r, &limits),
                    Spec::Policy(p) => assert!(!p.shadow),
                }
            }
            assert!(specs.iter().all(|s| s.cost() >= 1));
        }
        Err(e) => check_error(e),
    }
    match parse_throttle(&args) {
        Ok((req, _report_only)) => assert_eq!(req.algorithm, Algorithm::Gcra),
        Err(e) => check_error(e),
    }
    if let Ok(ms) = parse_duration(data, Field::Period) {
        assert!(ms >= 1 && ms <= i64::MAX as u64 && data.first() != Some(&b'@'));
    }
});

fn check_request(req: &redis_ratelimit::args::CheckRequest, limits: &Limits) {
    let q = &req.quota;
    assert!(q.limit() >= 1 && q.period_ms() >= 1 && q.burst() >= 1);
    if req.algorithm == Algorithm::SlidingLog {
        assert!(q.limit() <= limits.sliding_log_max_limit);
    }
}

/// An error's reply is a code word and fits its buffer whole.
fn check_error(e: Error) {
    let text = e.to_string();
    assert!(
        text.starts_with("ERR ") || text.starts_with("WRONGTYPE ") || text.starts_with("READONLY ")
    );
    assert_eq!(e.message().as_str(), text);
}
