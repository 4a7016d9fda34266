//! The Redis data type `ratelimit` and its callbacks: RDB, AOF rewrite, digest,
//! memory usage, copy and free. Each runs behind a panic guard.
//!
//! RDB layout (type encoding version 2): the body of the value's compact
//! [`encoding`](crate::types::encoding) (version 3) as one string. Type encoding
//! version 1 (0.1.0: the version 2 words, each saved as an unsigned integer) still
//! loads. The module's own allocations are bounded by the bytes it was given; the
//! string's length is read and allocated by the server, as for any string value.

use std::borrow::Cow;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::panic::{guard, log_warning};
use crate::replicate::pack_replace_with;
use crate::types::encoding::DecodeError;
use crate::types::encoding::{decode_body, decode_words, encode_with, Bytes};
use crate::types::packed::Packed;
use crate::types::Limiter;

/// The type's RDB encoding version written: the compact body as one string.
pub const TYPE_ENCVER: i32 = 2;
/// The type encoding of 0.1.0 (one unsigned integer per word): still loads.
pub const TYPE_ENCVER_WORDS: i32 = 1;

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

/// A limiter owned by Redis, as a key's value, [packed](crate::types::packed) in 32
/// bytes when it fits. Creating one and dropping one are the only two places the
/// live-key gauge (RL.STATS `<algorithm>_keys`) moves, so every path that hands Redis a
/// value (a check, RL.APPLY, RDB load, COPY) and every path that frees one (expiry,
/// DEL, FLUSHALL, a failed create) keeps it right.
#[derive(Debug)]
pub struct Stored(Packed);

impl Stored {
    /// Boxes `l` for Redis and counts it live.
    pub fn new(l: Limiter) -> Box<Self> {
        crate::stats::record_live(l.algorithm(), 1);
        Box::new(Stored(Packed::new(l)))
    }

    /// The limiter (a copy of a packed value).
    pub fn limiter(&self) -> Cow<'_, Limiter> {
        self.0.limiter()
    }

    /// Appends the value's encoding to `out` (a policy key's without decoding it).
    pub fn encode_body_into(&self, out: &mut Bytes) {
        self.0.encode_body_into(out)
    }

    /// Changes the limiter in place with `f`. Its algorithm changes this way only when a
    /// key holding just a block (no algorithm) gets its first state; the gauge follows.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Limiter) -> R) -> R {
        let before = self.0.algorithm();
        let r = self.0.update(f);
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
        self.0 = Packed::new(l);
    }

    /// What the key costs beyond what MEMORY USAGE adds itself (the key's name and
    /// keyspace entry): see [`OBJECT_BYTES`] and [`detect_keyspace`].
    pub fn mem_usage(&self) -> usize {
        OBJECT_BYTES + KEYSPACE_EXTRA.load(Relaxed) + self.0.heap_bytes()
    }
}

/// What the server allocates for every module value besides the module's own
/// allocation: the value's object (16 bytes) and its module-value wrapper (16 bytes),
/// plus the key's entry in the expiry table, which every limiter key has (32 bytes)
/// and MEMORY USAGE would otherwise leave out.
pub const OBJECT_BYTES: usize = 16 + 16 + 32;

/// What MEMORY USAGE leaves out of a key in a dictionary keyspace (Redis): it counts
/// the 24-byte entry the allocator rounds to 32, and none of the key's bucket slots
/// in the keyspace and expiry tables (8 bytes each at a load factor of 1). Valkey's
/// keyspace (keys embedded in their objects) it counts whole.
const DICT_KEYSPACE_EXTRA: usize = 8 + 2 * 8;

static KEYSPACE_EXTRA: AtomicUsize = AtomicUsize::new(DICT_KEYSPACE_EXTRA);

/// Reads which keyspace the server has (INFO's `server_name` is `valkey` on Valkey),
/// so MEMORY USAGE matches what a key really costs on either (checked in
/// python-tests/test_memory.py against `used_memory`).
///
/// # Safety
/// `ctx` must be the module's load context.
pub unsafe fn detect_keyspace(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: reading function pointers RedisModule_Init filled, once, at load.
    let api = unsafe {
        (
            raw::RedisModule_GetServerInfo,
            raw::RedisModule_ServerInfoGetFieldC,
            raw::RedisModule_FreeServerInfo,
        )
    };
    let (Some(get), Some(field), Some(free)) = api else {
        return;
    };
    // SAFETY: ctx is the load context; the info data is freed once, after the field
    // (owned by the data) was read.
    let valkey = unsafe {
        let info = get(ctx, c"server".as_ptr());
        if info.is_null() {
            return;
        }
        let name = field(info, c"server_name".as_ptr());
        let valkey = !name.is_null() && std::ffi::CStr::from_ptr(name).to_bytes() == b"valkey";
        free(ctx, info);
        valkey
    };
    let extra = if valkey { 0 } else { DICT_KEYSPACE_EXTRA };
    KEYSPACE_EXTRA.store(extra, Relaxed);
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

/// Runs `f` on the [`Stored`] behind a value pointer Redis passed to a callback; the
/// borrow cannot outlive the call.
///
/// # Safety
/// `value` must be a live [`Stored`] this module gave Redis, not mutated during `f`.
unsafe fn with_stored<R>(value: *const c_void, f: impl FnOnce(&Stored) -> R) -> R {
    // SAFETY: the caller's contract; the reference lives only inside this call.
    f(unsafe { &*(value as *const Stored) })
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
        let save = api!(RedisModule_SaveStringBuffer);
        // SAFETY: Redis passes a live value of our type.
        let body = unsafe {
            with_stored(value, |s| {
                let mut b = Bytes::default();
                s.encode_body_into(&mut b);
                b
            })
        };
        let b = body.as_bytes();
        // SAFETY: a live RDB handle; Redis copies the buffer before returning.
        unsafe { save(rdb, b.as_ptr().cast(), b.len()) };
    })
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let decoded = match encver {
            TYPE_ENCVER => load_body(rdb),
            TYPE_ENCVER_WORDS => {
                let (load, io_error) =
                    (api!(RedisModule_LoadUnsigned), api!(RedisModule_IsIOError));
                let next = || {
                    // SAFETY: rdb is the live RDB handle Redis passed; both only read.
                    let (w, failed) = unsafe { (load(rdb), io_error(rdb)) };
                    (failed == 0).then_some(w)
                };
                decode_words(next)
            }
            _ => {
                log_warning(&format!(
                    "ratelimit: unknown type encoding version {encver}"
                ));
                return std::ptr::null_mut();
            }
        };
        match decoded {
            Ok(l) => Box::into_raw(Stored::new(l)).cast(),
            Err(why) => {
                log_warning(&format!("ratelimit: refusing to load a limiter: {why:?}"));
                std::ptr::null_mut()
            }
        }
    })
}

/// Reads the one string of a type encoding 2 value and decodes it.
fn load_body(rdb: *mut raw::RedisModuleIO) -> Result<Limiter, DecodeError> {
    let (load, io_error, free) = (
        api!(RedisModule_LoadStringBuffer),
        api!(RedisModule_IsIOError),
        api!(RedisModule_Free),
    );
    let mut len: usize = 0;
    // SAFETY: rdb is the live RDB handle Redis passed; the buffer (null on an error)
    // is Redis's allocation of `len` bytes, read here and freed once below.
    unsafe {
        let p = load(rdb, &mut len);
        if p.is_null() || io_error(rdb) != 0 {
            if !p.is_null() {
                free(p.cast());
            }
            return Err(DecodeError::Length);
        }
        let decoded = decode_body(std::slice::from_raw_parts(p.cast::<u8>(), len));
        free(p.cast());
        decoded
    }
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    guard((), || {
        // Expiry 0: Redis writes the key's PEXPIREAT itself right after this command.
        // SAFETY: Redis passes a live value of our type.
        let payload =
            unsafe { with_stored(value, |s| pack_replace_with(|b| s.encode_body_into(b), 0)) };
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
    guard(0, || unsafe { with_stored(value, Stored::mem_usage) })
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guard((), || {
        // SAFETY: Redis passes a live value of our type.
        let enc = unsafe { with_stored(value, |s| encode_with(|b| s.encode_body_into(b))) };
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
        let copy = unsafe { with_stored(value, |s| s.0.duplicate()) };
        crate::stats::record_live(copy.algorithm(), 1);
        Box::into_raw(Box::new(Stored(copy))).cast()
    })
}
