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
        let save = raw::RedisModule_SaveUnsigned.unwrap();
        encode_words(limiter(value), |w| save(rdb, w));
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
        let next = || {
            let w = raw::RedisModule_LoadUnsigned.unwrap()(rdb);
            (raw::RedisModule_IsIOError.unwrap()(rdb) == 0).then_some(w)
        };
        match decode_words(next) {
            Ok(l) => {
                crate::stats::record_live(l.algorithm(), 1);
                Box::into_raw(Box::new(l)).cast()
            }
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
        let payload = pack_replace(limiter(value), 0);
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

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    guard(0, || limiter(value).mem_usage())
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
    guard((), || {
        let l = Box::from_raw(value as *mut Limiter);
        crate::stats::record_live(l.algorithm(), -1);
    })
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let copy = limiter(value).clone();
        crate::stats::record_live(copy.algorithm(), 1);
        Box::into_raw(Box::new(copy)).cast()
    })
}
