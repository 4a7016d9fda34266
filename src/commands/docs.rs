//! How the table's rows become what `COMMAND DOCS` and `COMMAND INFO` say of every
//! command (summary, since, complexity, arity, arguments, key specs) and their ACL
//! categories, set through the raw `RedisModule_SetCommandInfo` API (the crate's
//! `#[command]` macro needs Redis 7.2). The argument shapes the rows point to live here.
//! The key specs are what Redis 7.0+ uses for ACL key patterns (`%R~`, `%W~`), and
//! redis-cli builds its argument hints from the arguments.

use std::ffi::CStr;
use std::os::raw::c_int;

use redis_module::raw;

use super::{Acl, ROWS};

/// Where a command's keys are and how it accesses them (the key-spec flags).
#[derive(Clone, Copy)]
pub enum Keys {
    /// No keys.
    None,
    /// Argument 1 is the one key.
    One(u32),
    /// Every argument is a key.
    All(u32),
    /// `key value` pairs from argument 1.
    Pairs(u32),
    /// `numkeys` at argument 1, then that many keys.
    NumKeys(u32),
}

impl Keys {
    /// `(first, last, step)` for `RedisModule_CreateCommand`; a numkeys command is
    /// `0, 0, 0` and answers keys-position requests instead (`getkeys-api`).
    pub fn range(self) -> (c_int, c_int, c_int) {
        match self {
            Keys::None | Keys::NumKeys(_) => (0, 0, 0),
            Keys::One(_) => (1, 1, 1),
            Keys::All(_) => (1, -1, 1),
            Keys::Pairs(_) => (1, -1, 2),
        }
    }

    /// Answers a keys-position request for `args` (after the command name).
    pub fn declare(self, ctx: crate::ctx::Ctx, args: &[crate::ctx::Arg]) {
        if let Keys::NumKeys(_) = self {
            let n = args.first().and_then(|a| {
                crate::args::parse_int(
                    a.as_ref(),
                    1,
                    crate::args::MAX_MCHECK_KEYS,
                    crate::error::Field::NumKeys,
                )
                .ok()
            });
            if let Some(n) = n {
                (0..(n as usize).min(args.len() - 1)).for_each(|i| ctx.key_at(2 + i));
            }
        }
    }

    fn spec(self) -> Option<(u32, KeyFind)> {
        match self {
            Keys::None => None,
            Keys::One(f) => Some((f, KeyFind::Range { last: 0, step: 1 })),
            Keys::All(f) => Some((f, KeyFind::Range { last: -1, step: 1 })),
            Keys::Pairs(f) => Some((f, KeyFind::Range { last: -1, step: 2 })),
            Keys::NumKeys(f) => Some((f, KeyFind::NumKeys)),
        }
    }
}

/// How a key spec finds the keys after argument 1.
#[derive(Clone, Copy)]
enum KeyFind {
    Range { last: c_int, step: c_int },
    NumKeys,
}

/// The shape of one argument.
#[derive(Clone, Copy)]
pub enum Kind {
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
/// One argument as COMMAND DOCS describes it.
pub struct ArgDoc {
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

const ALGORITHMS: [ArgDoc; 6] = [
    token(c"token_bucket", c"TOKEN_BUCKET"),
    token(c"gcra", c"GCRA"),
    token(c"fixed_window", c"FIXED_WINDOW"),
    token(c"sliding_window", c"SLIDING_WINDOW"),
    token(c"sliding_log", c"SLIDING_LOG"),
    token(c"calendar", c"CALENDAR"),
];

/// `algorithm limit period [BURST burst] [COST cost] [BLOCK ms] [UTC_OFFSET minutes]`,
/// shared by the checks. `period` is a duration (`60000`, `60s`, `1m`) or, for
/// CALENDAR, `DAY`, `WEEK` or `MONTH`, so a string.
const SPEC_ARGS: [ArgDoc; 7] = [
    group(c"algorithm", Kind::OneOf, &ALGORITHMS),
    arg(c"limit", Kind::Int),
    arg(c"period", Kind::Str),
    optional(arg(c"burst", Kind::Int), c"BURST"),
    optional(arg(c"cost", Kind::Int), c"COST"),
    optional(arg(c"block", Kind::Str), c"BLOCK"),
    optional(arg(c"utc_offset", Kind::Int), c"UTC_OFFSET"),
];

/// RL.PEEK's spec form: one spec.
const PEEK_SPEC: [ArgDoc; 7] = SPEC_ARGS;
/// RL.CHECK's spec form: a spec and the `AT_MOST` flag (a partial grant).
const CHECK_SPEC: [ArgDoc; 8] = [
    SPEC_ARGS[0],
    SPEC_ARGS[1],
    SPEC_ARGS[2],
    SPEC_ARGS[3],
    SPEC_ARGS[4],
    SPEC_ARGS[5],
    SPEC_ARGS[6],
    ArgDoc {
        flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..token(c"at_most", c"AT_MOST")
    },
];
/// `POLICY name [COST n]`: a stored policy instead of a spec.
const POLICY_SPEC: [ArgDoc; 3] = [
    token(c"policy", c"POLICY"),
    arg(c"name", Kind::Str),
    optional(arg(c"cost", Kind::Int), c"COST"),
];
/// RL.CHECK's policy form: `POLICY name [COST n] [SHADOW]`.
const CHECK_POLICY: [ArgDoc; 4] = [
    POLICY_SPEC[0],
    POLICY_SPEC[1],
    POLICY_SPEC[2],
    ArgDoc {
        flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..token(c"shadow", c"SHADOW")
    },
];
const PEEK_FORMS: [ArgDoc; 2] = [
    group(c"spec", Kind::Block, &PEEK_SPEC),
    group(c"policy", Kind::Block, &POLICY_SPEC),
];
const CHECK_FORMS: [ArgDoc; 2] = [
    group(c"spec", Kind::Block, &CHECK_SPEC),
    group(c"policy", Kind::Block, &CHECK_POLICY),
];
/// RL.PEEK's arguments: the key, then a spec or a policy.
pub const PEEK_ARGS: [ArgDoc; 2] = [
    arg(c"key", Kind::Key(0)),
    group(c"request", Kind::OneOf, &PEEK_FORMS),
];
/// RL.CHECK's arguments: the key, then a spec (with AT_MOST) or a policy (with SHADOW).
pub const CHECK_ARGS: [ArgDoc; 2] = [
    arg(c"key", Kind::Key(0)),
    group(c"request", Kind::OneOf, &CHECK_FORMS),
];
/// Arguments of a table row.
pub const MCHECK_ARGS: [ArgDoc; 3] = [
    arg(c"numkeys", Kind::Int),
    multiple(arg(c"key", Kind::Key(0))),
    multiple(group(c"request", Kind::OneOf, &PEEK_FORMS)),
];
/// Arguments of a table row.
pub const INSPECT_ARGS: [ArgDoc; 1] = [arg(c"key", Kind::Key(0))];
/// Arguments of a table row.
pub const RESET_ARGS: [ArgDoc; 1] = [multiple(arg(c"key", Kind::Key(0)))];
/// Arguments of a table row.
pub const STATS_ARGS: [ArgDoc; 1] = [ArgDoc {
    flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
    ..token(c"reset", c"RESET")
}];
const APPLY_PAIR: [ArgDoc; 2] = [arg(c"key", Kind::Key(0)), arg(c"payload", Kind::Str)];
/// Arguments of a table row.
pub const APPLY_ARGS: [ArgDoc; 1] = [multiple(group(c"effect", Kind::Block, &APPLY_PAIR))];
/// Arguments of a table row.
pub const THROTTLE_ARGS: [ArgDoc; 5] = [
    arg(c"key", Kind::Key(0)),
    arg(c"max_burst", Kind::Int),
    arg(c"count_per_period", Kind::Int),
    arg(c"period_seconds", Kind::Int),
    ArgDoc {
        flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..arg(c"quantity", Kind::Int)
    },
];

const POLICY_SET: [ArgDoc; 3] = [
    token(c"set", c"SET"),
    arg(c"name", Kind::Str),
    arg(c"json", Kind::Str),
];
const POLICY_GET: [ArgDoc; 2] = [token(c"get", c"GET"), arg(c"name", Kind::Str)];
const POLICY_DEL: [ArgDoc; 2] = [token(c"del", c"DEL"), arg(c"name", Kind::Str)];
const POLICY_LIST: [ArgDoc; 1] = [token(c"list", c"LIST")];
const POLICY_LOAD: [ArgDoc; 2] = [token(c"load", c"LOAD"), arg(c"json", Kind::Str)];
const POLICY_RELOAD: [ArgDoc; 1] = [token(c"reload", c"RELOAD")];
const POLICY_DIGEST: [ArgDoc; 1] = [token(c"digest", c"DIGEST")];
const POLICY_FORMS: [ArgDoc; 7] = [
    group(c"set", Kind::Block, &POLICY_SET),
    group(c"get", Kind::Block, &POLICY_GET),
    group(c"del", Kind::Block, &POLICY_DEL),
    group(c"list", Kind::Block, &POLICY_LIST),
    group(c"load", Kind::Block, &POLICY_LOAD),
    group(c"reload", Kind::Block, &POLICY_RELOAD),
    group(c"digest", Kind::Block, &POLICY_DIGEST),
];
/// `RL.POLICY SET name json | GET name | DEL name | LIST | LOAD json | RELOAD | DIGEST`.
pub const POLICY_ARGS: [ArgDoc; 1] = [group(c"subcommand", Kind::OneOf, &POLICY_FORMS)];

/// Read and written in place.
pub const RW_UPDATE: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;
/// Read only.
pub const RO_ACCESS: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
/// Deleted.
pub const RM_DELETE: u32 = raw::REDISMODULE_CMD_KEY_RM | raw::REDISMODULE_CMD_KEY_DELETE;
/// Overwritten.
pub const OW_UPDATE: u32 = raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE;

/// `RL.REFUND key COST n`.
pub const REFUND_ARGS: [ArgDoc; 2] = [
    arg(c"key", Kind::Key(0)),
    ArgDoc {
        token: Some(c"COST"),
        ..arg(c"cost", Kind::Int)
    },
];

/// `RL.BLOCK key ms`.
pub const BLOCK_ARGS: [ArgDoc; 2] = [arg(c"key", Kind::Key(0)), arg(c"ms", Kind::Str)];

/// `RL.TESTHOOK what [value]`.
pub const TESTHOOK_ARGS: [ArgDoc; 2] = [
    arg(c"what", Kind::Str),
    ArgDoc {
        flags: raw::REDISMODULE_CMD_ARG_OPTIONAL,
        ..arg(c"value", Kind::Str)
    },
];

const SINCE: &CStr = c"0.1.0";
const NONDETERMINISTIC: &CStr = c"nondeterministic_output";

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

fn raw_spec(flags: u32, find: KeyFind) -> raw::RedisModuleCommandKeySpec {
    // SAFETY: all-zero is a valid empty key spec (and the array terminator).
    let mut s: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    s.flags = u64::from(flags);
    s.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    s.bs.index.pos = 1;
    match find {
        KeyFind::Range { last, step } => {
            s.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            s.fk.range.lastkey = last;
            s.fk.range.keystep = step;
            s.fk.range.limit = 0;
        }
        KeyFind::NumKeys => {
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
    // SAFETY: the API pointers are written once by RedisModule_Init, then only read.
    let (Some(get_command), Some(add), Some(set)) = (unsafe {
        (
            raw::RedisModule_GetCommand,
            raw::RedisModule_AddACLCategory,
            raw::RedisModule_SetCommandACLCategories,
        )
    }) else {
        return Ok(false);
    };
    for category in [Acl::App, Acl::Admin] {
        // SAFETY: ctx is the load context; the name is a NUL-terminated static.
        if unsafe { add(ctx, category.name().as_ptr()) } != raw::REDISMODULE_OK as c_int {
            return Err(category.name());
        }
    }
    for row in ROWS.iter().filter(|r| r.registered()) {
        // SAFETY: as above; the command was created by `register`.
        let cmd = unsafe { get_command(ctx, row.name.as_ptr()) };
        if cmd.is_null() {
            continue;
        }
        // SAFETY: cmd is a live command handle (checked not null).
        if unsafe { set(cmd, row.acl.name().as_ptr()) } != raw::REDISMODULE_OK as c_int {
            return Err(row.name);
        }
    }
    Ok(true)
}

/// Sets the docs, arity and key specs of every registered command; returns the name
/// of the first command the server refused, if any.
///
/// # Safety
/// `ctx` is the module's load context, after the commands were created.
pub unsafe fn declare(ctx: *mut raw::RedisModuleCtx) -> Result<(), &'static CStr> {
    // SAFETY: the API pointers are written once by RedisModule_Init, then only read.
    let (Some(get_command), Some(set_info)) =
        (unsafe { (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo) })
    else {
        return Err(c"rl.check");
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    for row in ROWS.iter().filter(|r| r.registered()) {
        // SAFETY: ctx is the load context; the name is a NUL-terminated static.
        let cmd = unsafe { get_command(ctx, row.name.as_ptr()) };
        if cmd.is_null() {
            return Err(row.name);
        }
        let mut keep = Vec::new();
        let top = raw_args(row.args, &mut keep);
        // One spec and the all-zero terminator.
        // SAFETY: as in raw_spec.
        let mut specs = [unsafe { std::mem::zeroed() }, unsafe { std::mem::zeroed() }];
        let spec = row.keys.spec();
        if let Some((flags, find)) = spec {
            specs[0] = raw_spec(flags, find);
        }
        let info = raw::RedisModuleCommandInfo {
            version: &version,
            summary: row.summary.as_ptr(),
            complexity: row.complexity.as_ptr(),
            since: SINCE.as_ptr(),
            history: std::ptr::null_mut(),
            tips: if row.nondeterministic {
                NONDETERMINISTIC.as_ptr()
            } else {
                std::ptr::null()
            },
            arity: row.arity,
            key_specs: if spec.is_some() {
                specs.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            },
            args: keep[top].as_mut_ptr(),
        };
        // The server copies everything it keeps before returning.
        // SAFETY: cmd is live; info and everything it points to outlive the call.
        if unsafe { set_info(cmd, &info as *const _ as *mut _) } != raw::REDISMODULE_OK as c_int {
            return Err(row.name);
        }
    }
    Ok(())
}

/// `RL.ACQUIRE key limit lease_ms [COST cost]`.
pub const ACQUIRE_ARGS: [ArgDoc; 4] = [
    arg(c"key", Kind::Key(0)),
    arg(c"limit", Kind::Int),
    arg(c"lease_ms", Kind::Int),
    optional(arg(c"cost", Kind::Int), c"COST"),
];
/// `RL.RELEASE key lease_id`.
pub const RELEASE_ARGS: [ArgDoc; 2] = [arg(c"key", Kind::Key(0)), arg(c"lease_id", Kind::Str)];
/// `RL.RENEW key lease_id lease_ms`.
pub const RENEW_ARGS: [ArgDoc; 3] = [
    arg(c"key", Kind::Key(0)),
    arg(c"lease_id", Kind::Str),
    arg(c"lease_ms", Kind::Int),
];
