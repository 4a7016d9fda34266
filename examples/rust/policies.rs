//! Tiers as policies from Rust with the `redis` crate: the operator defines the limits
//! once, in the server; the application only names its customer's tier
//! (`RL.CHECK key POLICY name`).
//!
//! From the repo's top directory:
//! Run: cargo run --no-default-features --example policies
//! ADMIN_URL is the operator's connection (RL.POLICY is the admin user's), REDIS_URL the
//! application's; the defaults are the admin and app users of the repo's redis.conf on
//! 127.0.0.1:6379.

const ADMIN_URL: &str = "redis://admin:change-me-admin-password@127.0.0.1:6379";
const APP_URL: &str = "redis://app:change-me-app-password@127.0.0.1:6379";

/// Every tier at once: RL.POLICY LOAD replaces the whole set atomically.
const TIERS: &str = r#"{"policies": {
  "free": {"limits": [{"algorithm": "GCRA", "limit": 2, "period": "1m"}]},
  "pro": {"limits": [{"algorithm": "GCRA", "limit": 5, "period": "1m"},
                     {"algorithm": "FIXED_WINDOW", "limit": 10000, "period": "1d"}]}
}}"#;

/// Which tier each API key has: in real life, the application's own database.
const CUSTOMERS: [(&str, &str); 2] = [("key:alice", "free"), ("key:bob", "pro")];

fn main() -> redis::RedisResult<()> {
    let url = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    let mut admin = redis::Client::open(url("ADMIN_URL", ADMIN_URL))?.get_connection()?;
    redis::cmd("RL.POLICY")
        .arg("LOAD")
        .arg(TIERS)
        .query::<()>(&mut admin)?;
    let mut app = redis::Client::open(url("REDIS_URL", APP_URL))?.get_connection()?;
    for (api_key, tier) in CUSTOMERS {
        let mut admitted = 0;
        for _ in 0..6 {
            // RESP2: five integers, the first 1 when admitted.
            let reply: Vec<i64> = redis::cmd("RL.CHECK")
                .arg(format!("example:rs:{api_key}"))
                .arg("POLICY")
                .arg(tier)
                .query(&mut app)?;
            admitted += reply[0];
        }
        println!("{api_key} ({tier}): {admitted} of 6 admitted");
    }
    Ok(())
}
