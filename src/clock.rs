//! The clock seam. The command layer reads the clock once per command and passes the
//! value down; algorithms never read time themselves.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of Unix time in milliseconds.
pub trait Clock {
    /// The current Unix time in milliseconds (never negative).
    fn now_ms(&self) -> u64;
}

/// A clock that only moves when told to: for tests and benchmarks.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self(AtomicU64::new(start_ms))
    }

    /// Sets the reading to `ms`, forwards or backwards.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }

    /// Moves the reading forwards by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The server's clock. On Redis 7.2+ / Valkey it is the time cached for the running
/// command (the one Redis itself uses for key expiry); on 7.0 the current time.
#[cfg(feature = "module")]
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerClock;

#[cfg(feature = "module")]
impl Clock for ServerClock {
    fn now_ms(&self) -> u64 {
        use redis_module::raw;
        // SAFETY: the API pointers are set by RedisModule_Init before any command runs,
        // and `lib::check_server_api` refuses to load when `Milliseconds` is missing.
        let ms = unsafe {
            match raw::RedisModule_CachedMicroseconds {
                Some(cached) => cached() / 1000,
                None => raw::RedisModule_Milliseconds.map_or(0, |f| f()),
            }
        };
        ms.max(0) as u64
    }
}

/// The clock the module's commands and its filter read: the server's, or in test
/// builds (`test-hooks`) a manual reading set by `RL.TESTHOOK CLOCK ms`, so exact-time
/// tests run on any server (libfaketime works only under some allocators).
#[cfg(feature = "module")]
#[derive(Debug, Default, Clone, Copy)]
pub struct ModuleClock;

/// The manual reading in test builds; `u64::MAX`: none, the server clock rules.
#[cfg(feature = "test-hooks")]
static MANUAL_MS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Test builds: sets (`Some`) or clears (`None`) the manual reading.
#[cfg(feature = "test-hooks")]
pub fn set_manual(ms: Option<u64>) {
    MANUAL_MS.store(ms.unwrap_or(u64::MAX), Ordering::Relaxed);
}

#[cfg(feature = "module")]
impl Clock for ModuleClock {
    #[inline]
    fn now_ms(&self) -> u64 {
        #[cfg(feature = "test-hooks")]
        {
            let manual = MANUAL_MS.load(Ordering::Relaxed);
            if manual != u64::MAX {
                return manual;
            }
        }
        ServerClock.now_ms()
    }
}
