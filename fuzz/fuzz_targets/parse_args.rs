//! Argument parsing: the input is an argument vector (arguments separated by NUL
//! bytes) handed to every parser the commands use. None may panic; a parsed request
//! must respect the limits it was parsed under.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithms::Algorithm;
use redis_ratelimit::args::{parse_check, parse_mcheck, parse_throttle, Limits};

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let limits = Limits {
        sliding_log_max_limit: 1000,
    };
    if let Ok(req) = parse_check(&args, &limits) {
        check_request(&req, &limits);
    }
    if let Ok((n, reqs)) = parse_mcheck(&args, &limits) {
        assert_eq!(n, reqs.len());
        assert!(n >= 1 && args.len() > n);
        reqs.iter().for_each(|r| check_request(r, &limits));
    }
    if let Ok((req, _report_only)) = parse_throttle(&args) {
        assert_eq!(req.algorithm, Algorithm::Gcra);
    }
});

fn check_request(req: &redis_ratelimit::args::CheckRequest, limits: &Limits) {
    let q = &req.quota;
    assert!(q.limit() >= 1 && q.period_ms() >= 1 && q.burst() >= 1);
    if req.algorithm == Algorithm::SlidingLog {
        assert!(q.limit() <= limits.sliding_log_max_limit);
    }
}
