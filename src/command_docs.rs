//! What `COMMAND DOCS` and `COMMAND INFO` say of every command: summary, since,
//! complexity, arity, arguments and key specs, set through the raw
//! `RedisModule_SetCommandInfo` API (the crate's `#[command]` macro needs Redis 7.2).
//! The key specs are what Redis 7.0+ uses for ACL key patterns (`%R~`, `%W~`), and
//! redis-cli builds its argument hints from the arguments.

use std::ffi::CStr;
use std::os::raw::c_int;

use redis_module::raw;

/// How a command's keys are found.
#[derive(Clone, Copy)]
enum Keys {
    /// Keys from argument 1 up to `last` (negative: from the end), every `step`.
    Range { last: c_int, step: c_int },
    /// `numkeys` at argument 1, then that many keys.
    NumKeys,
}

/// One key spec.
#[derive(Clone, Copy)]
struct Spec {
    flags: u32,
    keys: Keys,
}

/// The shape of one argument.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    /// A key, described by the key spec at this index.
    Key(c_int),
    /// A keyword alone (`RESET`).
    Token,
    /// One of the sub-arguments.
    OneOf,
    /// The sub-arguments in sequence.
    Block,
}

#[derive(Clone, Copy)]
struct ArgDoc {
    name: &'static CStr,
    kind: Kind,
    token: Option<&'static CStr>,
    flags: u32,
    sub: &'static [ArgDoc],
}

const fn arg(name: &'static CStr, kind: Kind) -> ArgDoc {
    ArgDoc {
        name,
        kind,
        token: None,
        flags: 0,
        sub: &[],
    }
}

const fn optional(mut a: ArgDoc, token: &'static CStr) -> ArgDoc {
    a.token = Some(token);
    a.flags = raw::REDISMODULE_CMD_ARG_OPTIONAL;
    a
}

const fn multiple(mut a: ArgDoc) -> ArgDoc {
    a.flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
    a
}

const fn group(name: &'static CStr, kind: Kind, sub: &'static [ArgDoc]) -> ArgDoc {
    ArgDoc {
        name,
        kind,
        token: None,
        flags: 0,
        sub,
    }
}

const fn token(name: &'static CStr, token: &'static CStr) -> ArgDoc {
    ArgDoc {
        name,
        kind: Kind::Token,
        token: Some(token),
        flags: 0,
        sub: &[],
    }
}

const ALGORITHMS: [ArgDoc; 5] = [
    token(c"token_bucket", c"TOKEN_BUCKET"),
    token(c"gcra", c"GCRA"),
    token(c"fixed_window", c"FIXED_WINDOW"),
    token(c"sliding_window", c"SLIDING_WINDOW"),
    token(c"sliding_log", c"SLIDING_LOG"),
];

/// `algorithm limit period_ms [BURST burst] [COST cost]`, shared by the checks.
const SPEC_ARGS: [ArgDoc; 5] = [
    group(c"algorithm", Kind::OneOf, &ALGORITHMS),
    arg(c"limit", Kind::Int),
    arg(c"period_ms", Kind::Int),
    optional(arg(c"burst", Kind::Int), c"BURST"),
    optional(arg(c"cost", Kind::Int), c"COST"),
];

const fn with_key<const N: usize>(rest: [ArgDoc; N]) -> [ArgDoc; 6] {
    let mut out = [arg(c"key", Kind::Key(0)); 6];
    let mut i = 0;
    while i < N && i < 5 {
        out[i + 1] = rest[i];
        i += 1;
    }
    out
}

const CHECK_ARGS: [ArgDoc; 6] = with_key(SPEC_ARGS);
const MCHECK_ARGS: [ArgDoc; 3] = [
    arg(c"numkeys", Kind::Int),
    multiple(arg(c"key", Kind::Key(0))),
    multiple(group(c"spec", Kind::Block, &SPEC_ARGS)),
];
const INSPECT_ARGS: [ArgDoc; 1] = [arg(c"key", Kind::Key(0))];
const RESET_ARGS: [ArgDoc; 1] = [multiple(arg(c"key", Kind::Key(0)))];
const STATS_ARGS: [ArgDoc; 1] = [ArgDoc {
    flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
    ..token(c"reset", c"RESET")
}];
const APPLY_PAIR: [ArgDoc; 2] = [arg(c"key", Kind::Key(0)), arg(c"payload", Kind::Str)];
const APPLY_ARGS: [ArgDoc; 1] = [multiple(group(c"effect", Kind::Block, &APPLY_PAIR))];
const THROTTLE_ARGS: [ArgDoc; 5] = [
    arg(c"key", Kind::Key(0)),
    arg(c"max_burst", Kind::Int),
    arg(c"count_per_period", Kind::Int),
    arg(c"period_seconds", Kind::Int),
    ArgDoc {
        flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..arg(c"quantity", Kind::Int)
    },
];

const RW_UPDATE: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;
const RO_ACCESS: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
const ONE_KEY: Keys = Keys::Range { last: 0, step: 1 };

/// Everything `COMMAND DOCS` shows of one command.
struct Doc {
    name: &'static CStr,
    summary: &'static CStr,
    complexity: &'static CStr,
    arity: c_int,
    tips: Option<&'static CStr>,
    spec: Option<Spec>,
    args: &'static [ArgDoc],
    /// The module's ACL category (Redis 7.2+, Valkey): what an application needs, or
    /// what only an operator should run.
    acl: &'static CStr,
}

/// `+@ratelimit`: the checks, previews and per-key inspection an application runs.
const APP: &CStr = c"ratelimit";
/// `+@ratelimit-admin`: deleting limiters, the module's counters (RL.STATS with the
/// most-denied key names and RESET; RL.METRICS without), the internal RL.APPLY.
const ADMIN: &CStr = c"ratelimit-admin";

const SINCE: &CStr = c"0.1.0";
const NONDETERMINISTIC: Option<&CStr> = Some(c"nondeterministic_output");

const DOCS: [Doc; 9] = [
    Doc {
        name: c"rl.check",
        summary: c"Checks one request against a key's limit and charges it when allowed.",
        complexity: c"O(1); SLIDING_LOG: O(log N + E + COST) amortized, N the units in the log, E those that left the window",
        arity: -5,
        tips: NONDETERMINISTIC,
        spec: Some(Spec {
            flags: RW_UPDATE,
            keys: ONE_KEY,
        }),
        args: &CHECK_ARGS,
        acl: APP,
    },
    Doc {
        name: c"rl.peek",
        summary: c"Replies what RL.CHECK would, changing nothing.",
        complexity: c"O(1); SLIDING_LOG: O(log N), N the units in the log",
        arity: -5,
        tips: NONDETERMINISTIC,
        spec: Some(Spec {
            flags: RO_ACCESS,
            keys: ONE_KEY,
        }),
        args: &CHECK_ARGS,
        acl: APP,
    },
    Doc {
        name: c"rl.inspect",
        summary: c"Shows a limiter key's algorithm, parameters, state, TTL and totals.",
        complexity: c"O(1); SLIDING_LOG: O(log N), N the units in the log",
        arity: 2,
        tips: NONDETERMINISTIC,
        spec: Some(Spec {
            flags: RO_ACCESS,
            keys: ONE_KEY,
        }),
        args: &INSPECT_ARGS,
        acl: APP,
    },
    Doc {
        name: c"rl.mcheck",
        summary: c"Checks several keys at once: all are charged, or none.",
        complexity: c"O(N) where N is the number of keys, each as RL.CHECK",
        arity: -6,
        tips: NONDETERMINISTIC,
        spec: Some(Spec {
            flags: RW_UPDATE,
            keys: Keys::NumKeys,
        }),
        args: &MCHECK_ARGS,
        acl: APP,
    },
    Doc {
        name: c"rl.reset",
        summary: c"Deletes limiter keys (other types are left alone); replies how many it removed.",
        complexity: c"O(N) where N is the number of keys",
        arity: -2,
        tips: None,
        spec: Some(Spec {
            flags: raw::REDISMODULE_CMD_KEY_RM | raw::REDISMODULE_CMD_KEY_DELETE,
            keys: Keys::Range { last: -1, step: 1 },
        }),
        args: &RESET_ARGS,
        acl: ADMIN,
    },
    Doc {
        name: c"rl.stats",
        summary: c"Module counters, live keys, latency percentiles and the most-denied keys; RESET clears them.",
        complexity: c"O(1)",
        arity: -1,
        tips: NONDETERMINISTIC,
        spec: None,
        args: &STATS_ARGS,
        acl: ADMIN,
    },
    Doc {
        name: c"rl.metrics",
        summary: c"Module counters, live keys and latency percentiles: RL.STATS without key names or RESET.",
        complexity: c"O(1)",
        arity: 1,
        tips: NONDETERMINISTIC,
        spec: None,
        args: &[],
        acl: ADMIN,
    },
    Doc {
        name: c"rl.apply",
        summary: c"Internal: applies evaluated effects on replicas and in the AOF.",
        complexity: c"O(N) where N is the number of keys",
        arity: -3,
        tips: None,
        spec: Some(Spec {
            flags: raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE,
            keys: Keys::Range { last: -1, step: 2 },
        }),
        args: &APPLY_ARGS,
        acl: ADMIN,
    },
    Doc {
        name: c"cl.throttle",
        summary: c"redis-cell compatible GCRA check (loaded with cell-compat yes).",
        complexity: c"O(1)",
        arity: -5,
        tips: NONDETERMINISTIC,
        spec: Some(Spec {
            flags: RW_UPDATE,
            keys: ONE_KEY,
        }),
        args: &THROTTLE_ARGS,
        acl: APP,
    },
];

/// Null-terminated raw argument arrays; the nested vectors must outlive the call.
fn raw_args(args: &[ArgDoc], keep: &mut Vec<Vec<raw::RedisModuleCommandArg>>) -> usize {
    // SAFETY: all-zero is the documented terminator and a valid "no value" for
    // every field (null pointers, zero flags).
    let mut out: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
    for a in args {
        let sub = if a.sub.is_empty() {
            std::ptr::null_mut()
        } else {
            let i = raw_args(a.sub, keep);
            keep[i].as_mut_ptr()
        };
        let (type_, key_spec_index) = match a.kind {
            Kind::Str => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                -1,
            ),
            Kind::Int => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                -1,
            ),
            Kind::Key(i) => (raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY, i),
            Kind::Token => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                -1,
            ),
            Kind::OneOf => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                -1,
            ),
            Kind::Block => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                -1,
            ),
        };
        // SAFETY: see above.
        let mut r: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
        r.name = a.name.as_ptr();
        r.type_ = type_;
        r.key_spec_index = key_spec_index;
        r.token = a.token.map_or(std::ptr::null(), CStr::as_ptr);
        r.flags = a.flags as c_int;
        r.subargs = sub;
        out.push(r);
    }
    // SAFETY: see above.
    out.push(unsafe { std::mem::zeroed() });
    keep.push(out);
    keep.len() - 1
}

fn raw_spec(spec: Spec) -> raw::RedisModuleCommandKeySpec {
    // SAFETY: all-zero is a valid empty key spec (and the array terminator).
    let mut s: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    s.flags = u64::from(spec.flags);
    s.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    s.bs.index.pos = 1;
    match spec.keys {
        Keys::Range { last, step } => {
            s.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            s.fk.range.lastkey = last;
            s.fk.range.keystep = step;
            s.fk.range.limit = 0;
        }
        Keys::NumKeys => {
            s.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
            s.fk.keynum.keynumidx = 0;
            s.fk.keynum.firstkey = 1;
            s.fk.keynum.keystep = 1;
        }
    }
    s
}

/// Adds the module's ACL categories and puts every registered command in one; a server
/// without the APIs (Redis 7.0) has no module categories and the commands are granted
/// by name (`+rl.check`). Returns whether categories were set.
///
/// # Safety
/// `ctx` is the module's load context, after the commands were created.
pub unsafe fn declare_acl_categories(ctx: *mut raw::RedisModuleCtx) -> Result<bool, &'static CStr> {
    let (Some(get_command), Some(add), Some(set)) = (
        raw::RedisModule_GetCommand,
        raw::RedisModule_AddACLCategory,
        raw::RedisModule_SetCommandACLCategories,
    ) else {
        return Ok(false);
    };
    for category in [APP, ADMIN] {
        if add(ctx, category.as_ptr()) != raw::REDISMODULE_OK as c_int {
            return Err(category);
        }
    }
    for doc in &DOCS {
        let cmd = get_command(ctx, doc.name.as_ptr());
        if !cmd.is_null() && set(cmd, doc.acl.as_ptr()) != raw::REDISMODULE_OK as c_int {
            return Err(doc.name);
        }
    }
    Ok(true)
}

/// Sets the docs, arity and key specs of every registered command; returns the name
/// of the first command the server refused, if any. Unregistered commands (CL.THROTTLE
/// without cell-compat) are skipped.
///
/// # Safety
/// `ctx` is the module's load context, after the commands were created.
pub unsafe fn declare(ctx: *mut raw::RedisModuleCtx) -> Result<(), &'static CStr> {
    let (Some(get_command), Some(set_info)) =
        (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo)
    else {
        return Err(c"rl.check");
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    for doc in &DOCS {
        let cmd = get_command(ctx, doc.name.as_ptr());
        if cmd.is_null() {
            continue;
        }
        let mut keep = Vec::new();
        let top = raw_args(doc.args, &mut keep);
        // One spec and the all-zero terminator.
        // SAFETY: as in raw_spec.
        let mut specs = [unsafe { std::mem::zeroed() }, unsafe { std::mem::zeroed() }];
        if let Some(spec) = doc.spec {
            specs[0] = raw_spec(spec);
        }
        let info = raw::RedisModuleCommandInfo {
            version: &version,
            summary: doc.summary.as_ptr(),
            complexity: doc.complexity.as_ptr(),
            since: SINCE.as_ptr(),
            history: std::ptr::null_mut(),
            tips: doc.tips.map_or(std::ptr::null(), CStr::as_ptr),
            arity: doc.arity,
            key_specs: if doc.spec.is_some() {
                specs.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            },
            args: keep[top].as_mut_ptr(),
        };
        // The server copies everything it keeps before returning.
        if set_info(cmd, &info as *const _ as *mut _) != raw::REDISMODULE_OK as c_int {
            return Err(doc.name);
        }
    }
    Ok(())
}
