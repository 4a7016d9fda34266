//! The built module inside real servers: loading, the command table, replies, safety.

mod common;

use common::{module_path, server_binaries, Server};
use redis::Value;

fn check(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<Vec<i64>> {
    redis::cmd("RL.CHECK").arg(args).query(c)
}

fn error_text(r: redis::RedisResult<Value>) -> String {
    let e = r.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
        .trim()
        .to_string()
}

#[test]
fn module_loads_and_reports_its_name_and_version() {
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let list: Value = redis::cmd("MODULE").arg("LIST").query(&mut c).unwrap();
        let text = format!("{list:?}");
        assert!(text.contains("ratelimit"), "{}: {text}", bin.display());
        assert!(text.contains("int(100)"), "{}: {text}", bin.display());
    }
}

#[test]
fn checks_admit_burst_then_deny_and_the_key_has_our_type_and_a_ttl() {
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        for algorithm in ["TOKEN_BUCKET", "gcra"] {
            let key = format!("user:{algorithm}");
            let replies: Vec<Vec<i64>> = (0..3)
                .map(|_| check(&mut c, &[&key, algorithm, "2", "60000"]).unwrap())
                .collect();
            assert_eq!(replies[0][..4], [1, 2, 1, -1]);
            assert_eq!(replies[1][..4], [1, 2, 0, -1]);
            assert_eq!(replies[2][..3], [0, 2, 0]);
            assert!((29_000..=30_000).contains(&replies[2][3]), "{replies:?}");
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
            assert_eq!(kind, "ratelimit");
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
            assert!((59_000..=60_000).contains(&pttl), "pttl {pttl}");
        }
    }
}

#[test]
fn wrong_type_keys_get_wrongtype_and_stay_untouched() {
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let _: () = redis::cmd("SET")
            .arg("plain")
            .arg("v")
            .query(&mut c)
            .unwrap();
        let e = error_text(
            redis::cmd("RL.CHECK")
                .arg(&["plain", "GCRA", "1", "1"])
                .query(&mut c),
        );
        assert!(e.starts_with("WRONGTYPE"), "{e}");
        let v: String = redis::cmd("GET").arg("plain").query(&mut c).unwrap();
        assert_eq!(v, "v");
        let removed: i64 = redis::cmd("RL.RESET").arg("plain").query(&mut c).unwrap();
        assert_eq!(removed, 0);
    }
}

#[test]
fn command_getkeys_finds_the_keys_for_cluster_routing_and_acl() {
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let keys: Vec<String> = redis::cmd("COMMAND")
            .arg(&["GETKEYS", "RL.CHECK", "k1", "GCRA", "1", "1"])
            .query(&mut c)
            .unwrap();
        assert_eq!(keys, ["k1"]);
        let keys: Vec<String> = redis::cmd("COMMAND")
            .arg(&["GETKEYS", "RL.RESET", "a", "b", "c"])
            .query(&mut c)
            .unwrap();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}

#[test]
fn error_replies_never_echo_argument_bytes() {
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let marker = "zq9marker";
        let bad: [&[&str]; 4] = [
            &["k", marker, "1", "1"],
            &["k", "GCRA", marker, "1"],
            &["k", "GCRA", "1", "1", marker, "1"],
            &["k", "GCRA", "1", "1", "COST", marker],
        ];
        for args in bad {
            let e = error_text(redis::cmd("RL.CHECK").arg(args).query(&mut c));
            assert!(e.starts_with("ERR"), "{e}");
            assert!(!e.contains(marker), "{e}");
        }
        let e = error_text(redis::cmd("RL.APPLY").arg(&[marker, marker]).query(&mut c));
        assert_eq!(e, "ERR invalid RL.APPLY payload");
    }
}

#[test]
fn a_panic_in_a_handler_becomes_an_error_reply_and_a_log_line() {
    let hooks = std::env::var_os("RL_MODULE_TEST_HOOKS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-hooks/debug/libredis_ratelimit.so")
        });
    assert!(
        hooks.exists(),
        "{} is missing: run `make test`",
        hooks.display()
    );
    for bin in server_binaries() {
        let mut s = Server::start(&bin, &hooks, &[]);
        let mut c = s.conn();
        let e = error_text(redis::cmd("RL.TESTHOOK").arg("PANIC").query(&mut c));
        assert!(e.starts_with("ERR internal error"), "{e}");
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
        assert!(s.alive());
        assert!(s.log().contains("caught a panic"), "{}", s.log());
        // The server keeps working after the panic.
        assert_eq!(check(&mut c, &["k", "GCRA", "1", "1000"]).unwrap()[0], 1);
        // A panic once the reply is written adds no second reply: the next command's
        // reply is its own.
        let ok: String = redis::cmd("RL.TESTHOOK")
            .arg("PANIC_AFTER_REPLY")
            .query(&mut c)
            .unwrap();
        assert_eq!(ok, "OK");
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
        assert!(s.log().contains("a reply was cut short"), "{}", s.log());
    }
}

#[test]
fn read_only_commands_on_missing_keys_reply_without_touching_anything() {
    for bin in server_binaries() {
        let mut s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let v: Value = redis::cmd("RL.INSPECT").arg("nope").query(&mut c).unwrap();
        assert_eq!(v, Value::Nil);
        let peek: Vec<i64> = redis::cmd("RL.PEEK")
            .arg(&["nope", "SLIDING_LOG", "3", "1000"])
            .query(&mut c)
            .unwrap();
        assert_eq!(peek, [1, 3, 2, -1, 1000]);
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, 0);
        assert!(s.alive(), "{}", s.log());
    }
}

#[test]
fn rl_apply_never_grows_a_log_beyond_its_limit() {
    let words = |w: [u64; 7]| -> Vec<u8> { w.iter().flat_map(|w| w.to_le_bytes()).collect() };
    // Append 5 units at t=1000 to a log of limit 5, period 1 hour.
    let append = words([0x82, 5, 3_600_000, 0, 1000, 5, 0]);
    for bin in server_binaries() {
        let s = Server::start(&bin, &module_path(), &[]);
        let mut c = s.conn();
        let ok: String = redis::cmd("RL.APPLY")
            .arg("log")
            .arg(&append)
            .query(&mut c)
            .unwrap();
        assert_eq!(ok, "OK");
        // Five more without dropping any would hold 10 > limit: refused, key unchanged.
        let e = error_text(redis::cmd("RL.APPLY").arg("log").arg(&append).query(&mut c));
        assert_eq!(e, "ERR invalid RL.APPLY payload");
        let info: Vec<Value> = redis::cmd("RL.INSPECT").arg("log").query(&mut c).unwrap();
        let at = info
            .iter()
            .position(|v| matches!(v, Value::BulkString(b) if b == b"entries"))
            .expect("an entries field");
        assert_eq!(info[at + 1], Value::Int(5), "{info:?}");
        // Dropping the five first is what a primary sends once they left the window.
        let next = words([0x82, 5, 3_600_000, 5, 2000, 5, 0]);
        let ok: String = redis::cmd("RL.APPLY")
            .arg("log")
            .arg(&next)
            .query(&mut c)
            .unwrap();
        assert_eq!(ok, "OK");
    }
}
