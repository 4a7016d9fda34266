//! The running command's context and arguments: the only place command code touches
//! the raw reply and replication APIs. Handlers get a [`Ctx`], never a raw pointer.

use std::ffi::CStr;
use std::os::raw::c_longlong;

use redis_module::raw;

/// One command argument, readable in place as bytes (no allocation).
#[repr(transparent)]
pub struct Arg(*mut raw::RedisModuleString);

impl Arg {
    /// The underlying Redis string, for APIs that take one.
    pub fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.0
    }
}

impl AsRef<[u8]> for Arg {
    fn as_ref(&self) -> &[u8] {
        let mut len = 0;
        // SAFETY: Redis keeps argv alive for the whole command; StringPtrLen only reads.
        unsafe {
            let p = raw::RedisModule_StringPtrLen.unwrap()(self.0, &mut len);
            std::slice::from_raw_parts(p.cast::<u8>(), len)
        }
    }
}

/// The context of the command being executed.
#[derive(Clone, Copy)]
pub struct Ctx(*mut raw::RedisModuleCtx);

impl Ctx {
    /// Wraps the context Redis passed to a command callback.
    ///
    /// # Safety
    /// `ctx` must be the live context of the running command.
    pub unsafe fn new(ctx: *mut raw::RedisModuleCtx) -> Self {
        Self(ctx)
    }

    /// The raw context, for the key API.
    pub fn as_ptr(&self) -> *mut raw::RedisModuleCtx {
        self.0
    }

    /// Whether Redis is asking for the key positions (a `getkeys-api` command is then
    /// called only to declare its keys, never to run).
    pub fn is_keys_position_request(&self) -> bool {
        // SAFETY: as above.
        unsafe { raw::RedisModule_IsKeysPositionRequest.unwrap()(self.0) != 0 }
    }

    /// Declares the argument at `pos` (counting the command name as 0) as a key.
    pub fn key_at(&self, pos: usize) {
        // SAFETY: as above; only called while answering a keys-position request.
        unsafe { raw::RedisModule_KeyAtPos.unwrap()(self.0, pos as std::os::raw::c_int) };
    }

    /// Whether the client speaks RESP3.
    pub fn is_resp3(&self) -> bool {
        // SAFETY: self.0 is the running command's context (see `new`).
        let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(self.0) } as u32;
        flags & raw::REDISMODULE_CTX_FLAGS_RESP3 != 0
    }

    /// Whether the running command came from the primary over the replication link or
    /// from the AOF being loaded, rather than from a client.
    pub fn from_primary_or_aof(&self) -> bool {
        // SAFETY: as above.
        let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(self.0) } as u32;
        flags & (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING) != 0
    }

    /// Starts an array reply of `n` elements.
    pub fn reply_array(&self, n: usize) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithArray.unwrap()(self.0, n as _) };
    }

    /// Starts a map reply of `n` pairs (RESP3 only).
    pub fn reply_map(&self, n: usize) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithMap.unwrap()(self.0, n as _) };
    }

    /// Replies an integer.
    pub fn reply_i64(&self, v: i64) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithLongLong.unwrap()(self.0, v as c_longlong) };
    }

    /// Replies nil (a null on RESP3).
    pub fn reply_null(&self) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithNull.unwrap()(self.0) };
    }

    /// Replies a bulk string.
    pub fn reply_bulk(&self, s: &[u8]) {
        // SAFETY: as above; Redis copies the buffer.
        unsafe {
            raw::RedisModule_ReplyWithStringBuffer.unwrap()(self.0, s.as_ptr().cast(), s.len())
        };
    }

    /// Replies a double (a bulk string on RESP2).
    pub fn reply_double(&self, v: f64) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithDouble.unwrap()(self.0, v) };
    }

    /// Replies a simple string.
    pub fn reply_simple(&self, s: &CStr) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithSimpleString.unwrap()(self.0, s.as_ptr()) };
    }

    /// Replies an error line (which starts with its code word).
    pub fn reply_error(&self, msg: &CStr) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplyWithError.unwrap()(self.0, msg.as_ptr()) };
    }

    /// Replies Redis's standard wrong-arity error for the running command.
    pub fn reply_wrong_arity(&self) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_WrongArity.unwrap()(self.0) };
    }

    /// Publishes a module keyspace event (`notify-keyspace-events` class `d`) on a key.
    pub fn notify(&self, event: &CStr, key: &Arg) {
        // SAFETY: as above; Redis copies the event name and retains the key.
        unsafe {
            raw::RedisModule_NotifyKeyspaceEvent.unwrap()(
                self.0,
                raw::REDISMODULE_NOTIFY_MODULE,
                event.as_ptr(),
                key.0,
            );
        }
    }

    /// Whether this server is a replica.
    pub fn is_replica(&self) -> bool {
        // SAFETY: as above.
        let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(self.0) } as u32;
        flags & raw::REDISMODULE_CTX_FLAGS_SLAVE != 0
    }

    /// Whether the AOF is on.
    pub fn aof_on(&self) -> bool {
        // SAFETY: as above.
        let flags = unsafe { raw::RedisModule_GetContextFlags.unwrap()(self.0) } as u32;
        flags & raw::REDISMODULE_CTX_FLAGS_AOF != 0
    }

    /// A server configuration value, as `CONFIG GET` replies it (`None`: unknown).
    pub fn config_get(&self, name: &str) -> Option<String> {
        let ctx = redis_module::Context::new(self.0);
        match ctx.call("CONFIG", &["GET", name]) {
            Ok(redis_module::RedisValue::Array(v)) => match v.get(1) {
                Some(redis_module::RedisValue::SimpleString(s)) => Some(s.clone()),
                Some(redis_module::RedisValue::BulkString(s)) => Some(s.clone()),
                Some(redis_module::RedisValue::BulkRedisString(s)) => Some(s.to_string_lossy()),
                Some(redis_module::RedisValue::StringBuffer(b)) => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Propagates `cmd word payload` (RL.POLICY RELOAD sends `RL.POLICY LOAD json`).
    pub fn replicate_word_payload(&self, cmd: &CStr, word: &CStr, payload: &[u8]) {
        // SAFETY: as above; "cb" takes a C string and a (pointer, length) buffer, both
        // copied before the call returns.
        unsafe {
            raw::RedisModule_Replicate.unwrap()(
                self.0,
                cmd.as_ptr(),
                c"cb".as_ptr(),
                word.as_ptr(),
                payload.as_ptr(),
                payload.len(),
            );
        }
    }

    /// Propagates the running command as is.
    pub fn replicate_verbatim(&self) {
        // SAFETY: as above.
        unsafe { raw::RedisModule_ReplicateVerbatim.unwrap()(self.0) };
    }

    /// Propagates `RL.APPLY key payload [key payload ...]`, one command per four pairs.
    pub fn replicate_apply_pairs(&self, pairs: &[(&Arg, crate::types::encoding::Bytes)]) {
        // SAFETY: reading an API pointer set by RedisModule_Init.
        let f = unsafe { raw::RedisModule_Replicate.unwrap() };
        let cmd = c"RL.APPLY".as_ptr();
        let p = |i: usize| {
            (
                pairs[i].0 .0,
                pairs[i].1.as_bytes().as_ptr(),
                pairs[i].1.as_bytes().len(),
            )
        };
        // SAFETY: as above; each "sb" takes a RedisModuleString and a (pointer, length)
        // buffer, copied before the call returns.
        unsafe {
            match pairs.len() {
                1 => {
                    let (k0, b0, l0) = p(0);
                    f(self.0, cmd, c"sb".as_ptr(), k0, b0, l0);
                }
                2 => {
                    let ((k0, b0, l0), (k1, b1, l1)) = (p(0), p(1));
                    f(self.0, cmd, c"sbsb".as_ptr(), k0, b0, l0, k1, b1, l1);
                }
                3 => {
                    let ((k0, b0, l0), (k1, b1, l1), (k2, b2, l2)) = (p(0), p(1), p(2));
                    f(
                        self.0,
                        cmd,
                        c"sbsbsb".as_ptr(),
                        k0,
                        b0,
                        l0,
                        k1,
                        b1,
                        l1,
                        k2,
                        b2,
                        l2,
                    );
                }
                4 => {
                    let ((k0, b0, l0), (k1, b1, l1)) = (p(0), p(1));
                    let ((k2, b2, l2), (k3, b3, l3)) = (p(2), p(3));
                    f(
                        self.0,
                        cmd,
                        c"sbsbsbsb".as_ptr(),
                        k0,
                        b0,
                        l0,
                        k1,
                        b1,
                        l1,
                        k2,
                        b2,
                        l2,
                        k3,
                        b3,
                        l3,
                    );
                }
                _ => pairs.chunks(4).for_each(|c| self.replicate_apply_pairs(c)),
            }
        }
    }

    /// Propagates `cmd key...` for a list of keys.
    pub fn replicate_keys(&self, cmd: &CStr, keys: &[&Arg]) {
        // `&Arg` is a pointer to a repr(transparent) string pointer, so collect the
        // inner pointers first.
        let ptrs: Vec<*mut raw::RedisModuleString> = keys.iter().map(|k| k.0).collect();
        // SAFETY: as above; "v" takes an array of RedisModuleString pointers and its
        // length, read during the call.
        unsafe {
            raw::RedisModule_Replicate.unwrap()(
                self.0,
                cmd.as_ptr(),
                c"v".as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
            );
        }
    }
}
