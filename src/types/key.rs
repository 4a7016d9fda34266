//! A limiter key opened for one command: RAII close, type check, value access. It is
//! storage only: it neither evaluates nor counts (the live-key gauge moves with the
//! [`Stored`] value itself).

use std::os::raw::{c_int, c_void};

use redis_module::raw;

use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::types::callbacks::{limiter_type, Stored};
use crate::types::Limiter;

/// What a key currently holds.
pub enum Slot<'a> {
    /// No key.
    Empty,
    /// A limiter, borrowed for the life of the open key.
    Limiter(&'a mut Stored),
}

/// An open key; closed on drop. Opened for reading only, a missing key is a null
/// handle: only `slot`/`current` (which see it as empty) and `ttl_ms` may be used.
pub struct Key(*mut raw::RedisModuleKey);

impl Key {
    /// Opens `name` for reading and writing.
    pub fn open(ctx: Ctx, name: &Arg) -> Self {
        Self::open_mode(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE)
    }

    /// Opens `name` for reading only (read-only commands, also on replicas).
    pub fn open_read(ctx: Ctx, name: &Arg) -> Self {
        Self::open_mode(ctx, name, raw::REDISMODULE_READ)
    }

    fn open_mode(ctx: Ctx, name: &Arg, mode: u32) -> Self {
        let mode = mode as c_int;
        // SAFETY: ctx and name come from Redis for the running command.
        Self(unsafe { raw::RedisModule_OpenKey.unwrap()(ctx.as_ptr(), name.as_ptr(), mode) }.cast())
    }

    /// The key's content, or `WrongType` when it holds anything but a limiter.
    pub fn slot(&mut self) -> Result<Slot<'_>, Error> {
        if self.0.is_null() {
            return Ok(Slot::Empty);
        }
        // SAFETY: self.0 is an open key.
        unsafe {
            match raw::RedisModule_KeyType.unwrap()(self.0) as isize {
                raw::REDISMODULE_KEYTYPE_EMPTY => Ok(Slot::Empty),
                raw::REDISMODULE_KEYTYPE_MODULE
                    if raw::RedisModule_ModuleTypeGetType.unwrap()(self.0) == limiter_type() =>
                {
                    let p = raw::RedisModule_ModuleTypeGetValue.unwrap()(self.0) as *mut Stored;
                    // A value of our type is a `Stored` this module boxed; the borrow
                    // ends with `self`'s, before the key is closed.
                    p.as_mut().map(Slot::Limiter).ok_or(Error::Internal)
                }
                _ => Err(Error::WrongType),
            }
        }
    }

    /// The limiter the key holds, `None` when there is no key, `WrongType` otherwise.
    pub fn current(&mut self) -> Result<Option<&Limiter>, Error> {
        Ok(match self.slot()? {
            Slot::Empty => None,
            Slot::Limiter(l) => Some(l.limiter()),
        })
    }

    /// Stores `value` into an empty key.
    pub fn create(&mut self, value: Limiter) -> Result<(), Error> {
        #[cfg(feature = "test-hooks")]
        if fault::create_fails() {
            return Err(Error::Internal);
        }
        let p = Box::into_raw(Stored::new(value));
        // SAFETY: self.0 is open for writing; on success Redis owns `p` and frees it
        // through the type's free callback.
        let rc = unsafe {
            raw::RedisModule_ModuleTypeSetValue.unwrap()(self.0, limiter_type(), p as *mut c_void)
        };
        if rc == raw::REDISMODULE_OK as c_int {
            Ok(())
        } else {
            // SAFETY: Redis did not take ownership.
            drop(unsafe { Box::from_raw(p) });
            Err(Error::Internal)
        }
    }

    /// Sets the key's absolute expiry in Unix milliseconds.
    pub fn expire_at(&mut self, at_ms: i64) {
        // SAFETY: self.0 is open for writing; lib checks SetAbsExpire exists at load.
        unsafe { raw::RedisModule_SetAbsExpire.unwrap()(self.0, at_ms) };
    }

    /// Milliseconds from `now_ms` until the key expires (never negative), -1 without
    /// an expiry, -2 without a key. Measured against the command's own clock reading,
    /// like every other field a command replies.
    pub fn ttl_ms(&self, now_ms: u64) -> i64 {
        if self.0.is_null() {
            return -2;
        }
        // SAFETY: self.0 is an open key (not null: see above); lib checks at load that
        // the server has GetAbsExpire (Redis 6.2+).
        let at = unsafe { raw::RedisModule_GetAbsExpire.unwrap()(self.0) };
        if at == raw::REDISMODULE_NO_EXPIRE as i64 {
            -1
        } else {
            at.saturating_sub(now_ms.min(i64::MAX as u64) as i64).max(0)
        }
    }

    /// The key's absolute expiry in Unix ms: `Some(0)` for a missing key, `None` for a
    /// key without one.
    pub fn expires_at(&self) -> Option<i64> {
        if self.0.is_null()
            // SAFETY: self.0 is an open key (not null: checked just before).
            || unsafe { raw::RedisModule_KeyType.unwrap()(self.0) } as isize
                == raw::REDISMODULE_KEYTYPE_EMPTY
        {
            return Some(0);
        }
        // SAFETY: self.0 is an open key; GetAbsExpire is checked at load (see ttl_ms).
        let at = unsafe { raw::RedisModule_GetAbsExpire.unwrap()(self.0) };
        (at != raw::REDISMODULE_NO_EXPIRE as i64).then_some(at)
    }

    /// Deletes the key.
    pub fn delete(&mut self) {
        // SAFETY: self.0 is open for writing.
        unsafe { raw::RedisModule_DeleteKey.unwrap()(self.0) };
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: opened in `open`, closed once here.
            unsafe { raw::RedisModule_CloseKey.unwrap()(self.0) };
        }
    }
}

/// Test builds: make the n-th key creation from now fail, as a refused
/// `RedisModule_ModuleTypeSetValue` would (`RL.TESTHOOK FAILCREATE n`).
#[cfg(feature = "test-hooks")]
pub mod fault {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    /// Creations left before the failing one (0: none armed).
    static COUNTDOWN: AtomicU64 = AtomicU64::new(0);

    /// Arms the fault: the `n`-th creation from now fails (0 disarms).
    pub fn fail_nth_create(n: u64) {
        COUNTDOWN.store(n, Relaxed);
    }

    /// Whether this creation is the one that fails.
    pub(super) fn create_fails() -> bool {
        match COUNTDOWN.load(Relaxed) {
            0 => false,
            1 => {
                COUNTDOWN.store(0, Relaxed);
                true
            }
            n => {
                COUNTDOWN.store(n - 1, Relaxed);
                false
            }
        }
    }
}
