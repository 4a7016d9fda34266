//! The Redis data type `ratelimit` and its callbacks: RDB, AOF rewrite, digest,
//! memory usage, copy and free. Each runs behind a panic guard.
//!
//! RDB layout (type encoding version 1): a header word `version | algorithm << 8`,
//! then the rest of the [`encoding`] as little-endian u64 words. Only fixed-size
//! integers are read, so a corrupt payload cannot make Redis allocate.

use std::os::raw::{c_int, c_void};

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::algorithms::Algorithm;
use crate::panic::{guard, log_warning};
use crate::replicate::pack;
use crate::types::encoding::{self, decode, encode, MAX_LEN};
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
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
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

/// The registered type handle.
pub fn limiter_type() -> *mut raw::RedisModuleType {
    *LIMITER_TYPE.raw_type.borrow()
}

/// # Safety
/// `value` must be a `Limiter` created by this module.
unsafe fn limiter<'a>(value: *const c_void) -> &'a Limiter {
    &*(value as *const Limiter)
}

unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    guard((), || {
        let enc = encode(limiter(value));
        let b = enc.as_bytes();
        let save = raw::RedisModule_SaveUnsigned.unwrap();
        save(rdb, u64::from(b[0]) | u64::from(b[1]) << 8);
        for word in b[2..].chunks_exact(8) {
            save(rdb, u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
    })
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let loaded = load_words(rdb, encver);
        match loaded {
            Ok(l) => Box::into_raw(Box::new(l)).cast(),
            Err(why) => {
                log_warning(&format!("ratelimit: refusing to load a limiter: {why}"));
                std::ptr::null_mut()
            }
        }
    })
}

unsafe fn load_words(rdb: *mut raw::RedisModuleIO, encver: c_int) -> Result<Limiter, String> {
    if encver != TYPE_ENCVER {
        return Err(format!("unknown type encoding version {encver}"));
    }
    let load = || {
        let v = raw::RedisModule_LoadUnsigned.unwrap()(rdb);
        if raw::RedisModule_IsIOError.unwrap()(rdb) != 0 {
            Err("truncated payload".to_string())
        } else {
            Ok(v)
        }
    };
    let head = load()?;
    let (version, algorithm) = (head & 0xff, (head >> 8) & 0xff);
    if head >> 16 != 0 || version != u64::from(encoding::ENC_V1) {
        return Err(format!("unknown encoding header {head}"));
    }
    let words = match Algorithm::from_u8(algorithm as u8) {
        Some(Algorithm::TokenBucket) => 6,
        Some(Algorithm::Gcra) => 5,
        None => return Err(format!("unknown algorithm {algorithm}")),
    };
    let mut buf = [0u8; MAX_LEN];
    buf[0] = version as u8;
    buf[1] = algorithm as u8;
    for i in 0..words {
        buf[2 + 8 * i..10 + 8 * i].copy_from_slice(&load()?.to_le_bytes());
    }
    decode(&buf[..2 + 8 * words]).map_err(|e| format!("invalid limiter ({e:?})"))
}

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    guard((), || {
        // Expiry 0: Redis writes the key's PEXPIREAT itself right after this command.
        let payload = pack(limiter(value), 0);
        let b = payload.as_bytes();
        raw::RedisModule_EmitAOF.unwrap()(
            aof,
            c"RL.APPLY".as_ptr(),
            c"sb".as_ptr(),
            key,
            b.as_ptr(),
            b.len(),
        );
    })
}

unsafe extern "C" fn mem_usage(_value: *const c_void) -> usize {
    std::mem::size_of::<Limiter>()
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guard((), || {
        let enc = encode(limiter(value));
        let b = enc.as_bytes();
        raw::RedisModule_DigestAddStringBuffer.unwrap()(md, b.as_ptr().cast_mut().cast(), b.len());
        raw::RedisModule_DigestEndSequence.unwrap()(md);
    })
}

unsafe extern "C" fn free(value: *mut c_void) {
    guard((), || drop(Box::from_raw(value as *mut Limiter)))
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(*limiter(value))).cast()
    })
}
