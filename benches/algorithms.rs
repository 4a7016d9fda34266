//! Criterion micro-benchmarks of one decision per algorithm, with a manual clock.
//! Run: `make bench` (cargo bench --no-default-features --bench algorithms).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use redis_ratelimit::algorithms::{Algorithm, Quota};
use redis_ratelimit::clock::{Clock, ManualClock};
#[path = "../tests/support/core.rs"]
mod limiter;

fn decisions(c: &mut Criterion) {
    // Limit 100 per second: the sliding log holds at most 100 units.
    let quota = Quota::new(100, 1000, 100).unwrap();
    for algorithm in Algorithm::CHECKS {
        let req = limiter::req(algorithm, quota, 1);
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

/// The word-at-a-time hasher the sketch used before aHash: the baseline of `hash/*`.
#[derive(Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut mix =
            |w: u64| self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            mix(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        mix(u64::from_le_bytes(tail) ^ ((chunks.remainder().len() as u64) << 56));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One lookup in a ten-name index like the sketch's, by hasher (21-byte key names).
fn hashers(c: &mut Criterion) {
    use std::collections::HashMap;
    use std::hash::BuildHasher;
    fn bench<S: BuildHasher>(c: &mut Criterion, name: &str, s: S) {
        let keys: Vec<Vec<u8>> = (0..64)
            .map(|i| format!("user:{i:08}:api-key").into_bytes())
            .collect();
        let mut index: HashMap<Box<[u8]>, usize, S> = HashMap::with_hasher(s);
        for (i, k) in keys.iter().take(10).enumerate() {
            index.insert(k.clone().into_boxed_slice(), i);
        }
        let mut i = 0;
        c.bench_function(&format!("hash/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(index.get(black_box(keys[i].as_slice())))
            })
        });
    }
    bench(
        c,
        "word",
        std::hash::BuildHasherDefault::<WordHasher>::default(),
    );
    bench(c, "ahash", ahash::RandomState::new());
    bench(c, "siphash", std::collections::hash_map::RandomState::new());
}

criterion_group!(benches, decisions, top_denied, hashers);
criterion_main!(benches);
