//! Rate limiting from Rust with the `redis` crate: one RL.CHECK per request.
//!
//! From the repo's top directory:
//! Run: cargo run --no-default-features --example check
//! REDIS_URL says where and as whom; the default is the app user of the repo's redis.conf
//! on 127.0.0.1:6379 (`make run` prints the URL for the port it uses).

/// An RL.CHECK reply (RESP2: five integers, in this order).
#[derive(Debug)]
struct Decision {
    allowed: bool,
    limit: i64,
    remaining: i64,
    retry_after_ms: i64,
    reset_after_ms: i64,
}

fn check(
    con: &mut redis::Connection,
    key: &str,
    algorithm: &str,
    limit: u64,
    period_ms: u64,
) -> redis::RedisResult<Decision> {
    let r: Vec<i64> = redis::cmd("RL.CHECK")
        .arg(key)
        .arg(algorithm)
        .arg(limit)
        .arg(period_ms)
        .query(con)?;
    Ok(Decision {
        allowed: r[0] == 1,
        limit: r[1],
        remaining: r[2],
        retry_after_ms: r[3],
        reset_after_ms: r[4],
    })
}

fn main() -> redis::RedisResult<()> {
    let url = std::env::var("REDIS_URL")
        .unwrap_or_else(|_| "redis://app:change-me-app-password@127.0.0.1:6379".into());
    let mut con = redis::Client::open(url)?.get_connection()?;
    // At most 2 requests in any 60-second window, counted exactly (sliding log).
    for i in 1..=3 {
        let d = check(&mut con, "example:rust:tenant:7", "SLIDING_LOG", 2, 60_000)?;
        if d.allowed {
            println!("request {i}: allowed, {} of {} left", d.remaining, d.limit);
        } else {
            println!(
                "request {i}: denied, retry in {} ms (window resets in {} ms)",
                d.retry_after_ms, d.reset_after_ms
            );
        }
    }
    Ok(())
}
