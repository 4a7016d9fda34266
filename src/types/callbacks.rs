//! The Redis data type `ratelimit` and its callbacks: RDB, AOF rewrite, digest,
//! memory usage, copy and free. Each runs behind a panic guard.
//!
//! RDB layout (type encoding version 1): the words of the value's versioned
//! [`encoding`](crate::types::encoding), each saved as an unsigned integer. Only
//! fixed-size integers are read, so a corrupt payload cannot make Redis allocate.

use std::os::raw::{c_int, c_void};

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::panic::{guard, log_warning};
use crate::replicate::pack_replace;
use crate::types::encoding::{decode_words, encode, encode_words};
use crate::types::Limiter;

/// The type's RDB encoding version.
pub const TYPE_ENCVER: i32 = 1;

/// The `ratelimit` data type (`TYPE key` replies its name).
pub static LIMITER_TYPE: RedisType = RedisType::new(
    "ratelimit",
    TYPE_ENCVER,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        // The policy set (`policies.rs`): before the keys, in every RDB.
        aux_load: Some(crate::types::policies::aux_load),
        aux_save: Some(crate::types::policies::aux_save),
        aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as i32,
        free_effort: None,
        unlink: None,
        copy: Some(copy),
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: None,
    },
);

/// A limiter owned by Redis, as a key's value. Creating one and dropping one are the
/// only two places the live-key gauge (RL.STATS `<algorithm>_keys`) moves, so every
/// path that hands Redis a value (a check, RL.APPLY, RDB load, COPY) and every path
/// that frees one (expiry, DEL, FLUSHALL, a failed create) keeps it right.
#[derive(Debug)]
pub struct Stored(Limiter);

impl Stored {
    /// Boxes `l` for Redis and counts it live.
    pub fn new(l: Limiter) -> Box<Self> {
        crate::stats::record_live(l.algorithm(), 1);
        Box::new(Stored(l))
    }

    /// The limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.0
    }

    /// Changes the limiter in place with `f`. Its algorithm changes this way only when a
    /// key holding just a block (no algorithm) gets its first state; the gauge follows.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Limiter) -> R) -> R {
        let before = self.0.algorithm();
        let r = f(&mut self.0);
        let after = self.0.algorithm();
        if before != after {
            crate::stats::record_live(before, -1);
            crate::stats::record_live(after, 1);
        }
        r
    }

    /// Replaces the whole value, which may be of another algorithm.
    pub fn replace(&mut self, l: Limiter) {
        crate::stats::record_live(self.0.algorithm(), -1);
        crate::stats::record_live(l.algorithm(), 1);
        self.0 = l;
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        crate::stats::record_live(self.0.algorithm(), -1);
    }
}

/// The registered type handle.
pub fn limiter_type() -> *mut raw::RedisModuleType {
    *LIMITER_TYPE.raw_type.borrow()
}

/// Runs `f` on the limiter behind a value pointer Redis passed to a callback; the
/// borrow cannot outlive the call.
///
/// # Safety
/// `value` must be a live [`Stored`] this module gave Redis, not mutated during `f`.
unsafe fn with_limiter<R>(value: *const c_void, f: impl FnOnce(&Limiter) -> R) -> R {
    // SAFETY: the caller's contract; the reference lives only inside this call.
    let stored = unsafe { &*(value as *const Stored) };
    f(stored.limiter())
}

/// A required API function, or a panic (caught by the callback's guard) if the server
/// lacks it; `lib.rs` refuses to load on servers missing any of these.
macro_rules! api {
    ($name:ident) => {
        // SAFETY: the API pointers are written once by RedisModule_Init, before any
        // callback can run, and only read afterwards.
        unsafe { raw::$name }.expect(stringify!($name))
    };
}

unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    guard((), || {
        let save = api!(RedisModule_SaveUnsigned);
        // SAFETY: Redis passes a live value of our type and a live RDB handle.
        unsafe { with_limiter(value, |l| encode_words(l, |w| save(rdb, w))) };
    })
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        if encver != TYPE_ENCVER {
            log_warning(&format!(
                "ratelimit: unknown type encoding version {encver}"
            ));
            return std::ptr::null_mut();
        }
        let (load, io_error) = (api!(RedisModule_LoadUnsigned), api!(RedisModule_IsIOError));
        let next = || {
            // SAFETY: rdb is the live RDB handle Redis passed; both only read from it.
            let (w, failed) = unsafe { (load(rdb), io_error(rdb)) };
            (failed == 0).then_some(w)
        };
        match decode_words(next) {
            Ok(l) => Box::into_raw(Stored::new(l)).cast(),
            Err(why) => {
                log_warning(&format!("ratelimit: refusing to load a limiter: {why:?}"));
                std::ptr::null_mut()
            }
        }
    })
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    guard((), || {
        // Expiry 0: Redis writes the key's PEXPIREAT itself right after this command.
        // SAFETY: Redis passes a live value of our type.
        let payload = unsafe { with_limiter(value, |l| pack_replace(l, 0)) };
        let b = payload.as_bytes();
        let emit = api!(RedisModule_EmitAOF);
        // SAFETY: aof and key are live; "sb" takes a string and a (pointer, length)
        // buffer that Redis copies before returning.
        unsafe {
            emit(
                aof,
                c"RL.APPLY".as_ptr(),
                c"sb".as_ptr(),
                key,
                b.as_ptr(),
                b.len(),
            )
        };
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: Redis passes a live value of our type.
    guard(0, || unsafe { with_limiter(value, Limiter::mem_usage) })
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guard((), || {
        // SAFETY: Redis passes a live value of our type.
        let enc = unsafe { with_limiter(value, encode) };
        let b = enc.as_bytes();
        let (add, end) = (
            api!(RedisModule_DigestAddStringBuffer),
            api!(RedisModule_DigestEndSequence),
        );
        // SAFETY: md is the live digest; the buffer is only read during the call.
        unsafe {
            add(md, b.as_ptr().cast_mut().cast(), b.len());
            end(md);
        }
    })
}

unsafe extern "C" fn free(value: *mut c_void) {
    guard((), || {
        // SAFETY: Redis frees each value once, a `Stored` this module boxed.
        drop(unsafe { Box::from_raw(value as *mut Stored) });
    })
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: Redis passes a live value of our type.
        let copy = unsafe { with_limiter(value, Limiter::clone) };
        Box::into_raw(Stored::new(copy)).cast()
    })
}
