//! Criterion micro-benchmarks of one decision per algorithm, with a manual clock.
//! Run: `make bench` (cargo bench --no-default-features --bench algorithms).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::args::CheckRequest;
use redis_ratelimit::clock::{Clock, ManualClock};
#[path = "../tests/support/core.rs"]
mod limiter;

fn decisions(c: &mut Criterion) {
    // Limit 100 per second: the sliding log holds at most 100 units.
    let quota = Quota::new(100, 1000, 100).unwrap();
    for algorithm in Algorithm::CHECKS {
        let req = CheckRequest {
            algorithm,
            quota,
            cost: 1,
        };
        let clock = ManualClock::new(1_700_000_000_000);
        let mut state = None;
        c.bench_function(&format!("check/{}", algorithm.keyword()), |b| {
            b.iter(|| {
                clock.advance(1);
                let d = limiter::check(&mut state, black_box(&req), clock.now_ms())
                    .expect("same algorithm");
                black_box(d)
            })
        });
    }
}

/// The most-denied-keys sketch on a denial: its index hash is most of the cost.
fn top_denied(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..64)
        .map(|i| format!("user:{i:08}:api-key").into_bytes())
        .collect();
    let mut sketch = redis_ratelimit::top_denied::TopDenied::new(10);
    let mut i = 0;
    c.bench_function("top_denied/record", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            sketch.record(black_box(&keys[i]));
        })
    });
}

criterion_group!(benches, decisions, top_denied);
criterion_main!(benches);
