//! The one table of every command the module registers, and the runner every command
//! goes through.
//!
//! A row holds everything there is to know about a command: its name, handler, flags,
//! arity, keys, ACL category, COMMAND DOCS text and arguments, whether the command
//! filter stamps it, and how RL.STATS names and counts it. Registration
//! (`register`), COMMAND DOCS (`docs.rs`), the filter's stamped list (`STAMPED`) and the
//! stats names (`Command::name`) are all derived from it. Adding a command is one row
//! here and one handler file.

pub mod apply;
pub mod block;
pub mod check;
pub mod docs;
pub mod inspect;
pub mod lease;
pub mod mcheck;
pub mod peek;
pub mod policy;
pub mod refund;
pub mod reset;
pub mod stats;
#[cfg(feature = "test-hooks")]
pub mod testhook;
pub mod throttle;

use std::ffi::CStr;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::clock::{Clock, ModuleClock};
use crate::ctx::{Arg, Ctx};
use crate::error::Error;
use crate::reply::Reply;
use crate::{config, latency};
use docs::{ArgDoc, Keys, RO_ACCESS, RW_UPDATE};

/// What a handler is given: the context, the arguments after the command name, and the
/// clock it reads (once) for the command's instant.
pub struct Call<'a> {
    /// The running command's context.
    pub ctx: Ctx,
    /// The arguments after the command name.
    pub args: &'a [Arg],
    /// The clock the command reads its instant from.
    pub clock: &'a dyn Clock,
}

/// A handler's success: the whole reply, and what the call counts as in RL.STATS.
pub struct Done {
    /// The reply, written only after the handler returned.
    pub reply: Reply,
    /// The call replays a check made on the primary (from the replication stream or
    /// the AOF): counted as an applied effect, not as a client's check.
    pub replay: bool,
}

impl From<Reply> for Done {
    fn from(reply: Reply) -> Self {
        Done {
            reply,
            replay: false,
        }
    }
}

/// A command body. It writes nothing: it returns its whole reply (or an error), so a
/// reply is never started and then abandoned.
pub type Handler = fn(&Call) -> Result<Done, Error>;

/// The module's commands, in table (and report) order; `TABLE[c as usize].id == c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// RL.CHECK
    Check,
    /// RL.PEEK
    Peek,
    /// RL.MCHECK
    Mcheck,
    /// RL.INSPECT
    Inspect,
    /// RL.RESET
    Reset,
    /// RL.STATS
    Stats,
    /// RL.APPLY (replication and AOF)
    Apply,
    /// CL.THROTTLE
    Throttle,
    /// RL.TESTHOOK (built with the `test-hooks` feature only)
    Testhook,
    /// RL.METRICS
    Metrics,
    /// RL.REFUND
    Refund,
    /// RL.ACQUIRE
    Acquire,
    /// RL.RELEASE
    Release,
    /// RL.RENEW
    Renew,
    /// RL.BLOCK
    Block,
    /// RL.POLICY
    Policy,
}

impl Command {
    /// Every command, in table order.
    pub const ALL: [Command; TABLE.len()] = {
        let mut all = [Command::Check; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].id;
            i += 1;
        }
        all
    };

    /// The command's row.
    pub fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// The name used in RL.STATS and INFO fields (`check_calls`, `check_p99_us`, ...).
    pub fn name(self) -> &'static str {
        self.row().stat
    }

    /// Whether the command replies a decision, so has allowed and denied counts.
    pub fn decides(self) -> bool {
        self.row().decides
    }

    /// Whether RL.STATS reports the command (the test hook is not reported).
    pub fn reported(self) -> bool {
        self.row().register != Register::TestHooks
    }
}

/// The module's ACL categories (Redis 7.2+ and Valkey; Redis 7.0 grants by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acl {
    /// `@ratelimit`: the checks, previews and per-key inspection an application runs.
    App,
    /// `@ratelimit-admin`: deleting limiters, the module's counters, the internal
    /// RL.APPLY, the policies (RL.POLICY).
    Admin,
}

impl Acl {
    /// The category's name.
    pub fn name(self) -> &'static CStr {
        match self {
            Acl::App => c"ratelimit",
            Acl::Admin => c"ratelimit-admin",
        }
    }
}

/// When a command is registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// Always.
    Always,
    /// With `cell-compat yes` only.
    CellCompat,
    /// In builds with the `test-hooks` feature only.
    TestHooks,
}

/// One command, declared once.
pub struct Row {
    /// Which command this is (its index in the table).
    pub id: Command,
    /// The name clients call, lower case.
    pub name: &'static CStr,
    /// The name RL.STATS and INFO use in field names.
    pub stat: &'static str,
    /// The body.
    pub handler: Handler,
    /// Redis command flags.
    pub flags: &'static CStr,
    /// Redis arity: the exact argument count with the name, or at least `-arity`.
    pub arity: c_int,
    /// Where the keys are, and how they are accessed.
    pub keys: Keys,
    /// The ACL category.
    pub acl: Acl,
    /// COMMAND DOCS summary.
    pub summary: &'static CStr,
    /// COMMAND DOCS complexity.
    pub complexity: &'static CStr,
    /// Whether the reply depends on the clock (COMMAND DOCS tip).
    pub nondeterministic: bool,
    /// COMMAND DOCS arguments.
    pub args: &'static [ArgDoc],
    /// How the command filter stamps it with the arrival time (`stamp.rs`); `None`:
    /// never stamped.
    pub stamp: Option<Stamp>,
    /// Whether the reply is a decision (so RL.STATS counts allowed and denied).
    pub decides: bool,
    /// When it is registered.
    pub register: Register,
}

impl Row {
    /// Whether this server registers the row now.
    pub fn registered(&self) -> bool {
        match self.register {
            Register::Always => true,
            Register::CellCompat => config::cell_compat(),
            Register::TestHooks => cfg!(feature = "test-hooks"),
        }
    }

    /// Whether `argc` (the arguments after the name) satisfies the arity.
    fn arity_ok(&self, argc: usize) -> bool {
        let with_name = argc.saturating_add(1);
        match usize::try_from(self.arity) {
            Ok(exact) => with_name == exact,
            Err(_) => with_name >= self.arity.unsigned_abs() as usize,
        }
    }
}

/// The table. Rows are in `Command` order, which is RL.STATS's report order.
pub const TABLE: [Row; 16] = [
    Row {
        id: Command::Check,
        name: c"rl.check",
        stat: "check",
        handler: check::check,
        flags: c"write deny-oom fast",
        arity: -4,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Checks one request against a key's limit and charges it when allowed.",
        complexity: c"O(1); SLIDING_LOG: O(log N + E + COST) amortized, N the units in the log, E those that left the window",
        nondeterministic: true,
        args: &docs::CHECK_ARGS,
        stamp: Some(Stamp::time(5)),
        decides: true,
        register: Register::Always,
    },
    Row {
        id: Command::Peek,
        name: c"rl.peek",
        stat: "peek",
        handler: peek::peek,
        flags: c"readonly fast",
        arity: -4,
        keys: Keys::One(RO_ACCESS),
        acl: Acl::App,
        summary: c"Replies what RL.CHECK would, changing nothing; COST 0 shows the remaining quota now.",
        complexity: c"O(1); SLIDING_LOG: O(log N), N the units in the log",
        nondeterministic: true,
        args: &docs::PEEK_ARGS,
        stamp: None,
        decides: true,
        register: Register::Always,
    },
    Row {
        id: Command::Mcheck,
        name: c"rl.mcheck",
        stat: "mcheck",
        handler: mcheck::mcheck,
        // Keys come after numkeys: declared through the getkeys API (what cluster
        // routing uses on 7.0) and a key spec.
        flags: c"write deny-oom getkeys-api",
        arity: -5,
        keys: Keys::NumKeys(RW_UPDATE),
        acl: Acl::App,
        summary: c"Checks several keys at once: all are charged, or none.",
        complexity: c"O(N) where N is the number of keys, each as RL.CHECK",
        nondeterministic: true,
        args: &docs::MCHECK_ARGS,
        stamp: Some(Stamp::time(6)),
        decides: true,
        register: Register::Always,
    },
    Row {
        id: Command::Inspect,
        name: c"rl.inspect",
        stat: "inspect",
        handler: inspect::inspect,
        flags: c"readonly fast",
        arity: 2,
        keys: Keys::One(RO_ACCESS),
        acl: Acl::App,
        summary: c"Shows a limiter key's algorithm, parameters, state, TTL and totals.",
        complexity: c"O(1); SLIDING_LOG: O(log N), N the units in the log",
        nondeterministic: true,
        args: &docs::INSPECT_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Reset,
        name: c"rl.reset",
        stat: "reset",
        handler: reset::reset,
        flags: c"write",
        arity: -2,
        keys: Keys::All(docs::RM_DELETE),
        acl: Acl::Admin,
        summary: c"Deletes limiter keys (other types are left alone); replies how many it removed.",
        complexity: c"O(N) where N is the number of keys",
        nondeterministic: false,
        args: &docs::RESET_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Stats,
        name: c"rl.stats",
        stat: "stats",
        handler: stats::stats,
        flags: c"readonly fast",
        arity: -1,
        keys: Keys::None,
        acl: Acl::Admin,
        summary: c"Module counters, live keys, latency percentiles and the most-denied keys; RESET clears them.",
        complexity: c"O(1)",
        nondeterministic: true,
        args: &docs::STATS_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Apply,
        name: c"rl.apply",
        stat: "apply",
        handler: apply::apply,
        flags: c"write deny-oom fast",
        arity: -3,
        keys: Keys::Pairs(docs::OW_UPDATE),
        acl: Acl::Admin,
        summary: c"Internal: applies evaluated effects on replicas and in the AOF.",
        complexity: c"O(N) where N is the number of keys",
        nondeterministic: false,
        args: &docs::APPLY_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Throttle,
        name: c"cl.throttle",
        stat: "throttle",
        handler: throttle::throttle,
        flags: c"write deny-oom fast",
        arity: -5,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"redis-cell compatible GCRA check (loaded with cell-compat yes).",
        complexity: c"O(1)",
        nondeterministic: true,
        args: &docs::THROTTLE_ARGS,
        stamp: None,
        decides: true,
        register: Register::CellCompat,
    },
    Row {
        id: Command::Testhook,
        name: c"rl.testhook",
        stat: "testhook",
        #[cfg(feature = "test-hooks")]
        handler: testhook::testhook,
        #[cfg(not(feature = "test-hooks"))]
        handler: |_| Err(Error::Internal),
        flags: c"fast",
        arity: -2,
        keys: Keys::None,
        acl: Acl::Admin,
        summary: c"Test builds only: fault injection and a manual clock.",
        complexity: c"O(1)",
        nondeterministic: false,
        args: &docs::TESTHOOK_ARGS,
        stamp: None,
        decides: false,
        register: Register::TestHooks,
    },
    Row {
        id: Command::Metrics,
        name: c"rl.metrics",
        stat: "metrics",
        handler: stats::metrics,
        flags: c"readonly fast",
        arity: 1,
        keys: Keys::None,
        // Granted by name to a monitoring user: counters only, no key names, no reset.
        acl: Acl::Admin,
        summary: c"Module counters, live keys and latency percentiles: RL.STATS without key names or RESET.",
        complexity: c"O(1)",
        nondeterministic: true,
        args: &[],
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Refund,
        name: c"rl.refund",
        stat: "refund",
        handler: refund::refund,
        flags: c"write fast",
        arity: 4,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Gives back up to COST units a key was charged, with its stored parameters; replies how many.",
        complexity: c"O(1); SLIDING_LOG: O(log N + COST), N the units in the log",
        nondeterministic: true,
        args: &docs::REFUND_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Acquire,
        name: c"rl.acquire",
        stat: "acquire",
        handler: lease::acquire,
        flags: c"write deny-oom fast",
        arity: -4,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Takes a concurrency lease while fewer than limit units are held; it expires by itself after lease_ms.",
        complexity: c"O(N), N the leases the key holds (at most ratelimit.max-leases-per-key)",
        nondeterministic: true,
        args: &docs::ACQUIRE_ARGS,
        stamp: Some(Stamp::with_lease_id(4)),
        decides: true,
        register: Register::Always,
    },
    Row {
        id: Command::Release,
        name: c"rl.release",
        stat: "release",
        handler: lease::release,
        flags: c"write fast",
        arity: 3,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Frees a lease RL.ACQUIRE gave; replies the units freed.",
        complexity: c"O(N), N the leases the key holds",
        nondeterministic: true,
        args: &docs::RELEASE_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Renew,
        name: c"rl.renew",
        stat: "renew",
        handler: lease::renew,
        flags: c"write fast",
        arity: 4,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Sets a held lease to expire lease_ms from now; replies 1, or 0 if it is no longer held.",
        complexity: c"O(N), N the leases the key holds",
        nondeterministic: true,
        args: &docs::RENEW_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Block,
        name: c"rl.block",
        stat: "block",
        handler: block::block,
        flags: c"write deny-oom fast",
        arity: 3,
        keys: Keys::One(RW_UPDATE),
        acl: Acl::App,
        summary: c"Blocks a key for ms: every check of it is denied until then (RL.RESET lifts it).",
        complexity: c"O(1)",
        nondeterministic: true,
        args: &docs::BLOCK_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
    Row {
        id: Command::Policy,
        name: c"rl.policy",
        stat: "policy",
        handler: policy::policy,
        // Not `write`: GET, LIST and DIGEST serve on replicas too; the handler refuses
        // a client's writes there. `may-replicate`: its writes propagate (so a write
        // pause, as before a failover, holds them). `admin`: in @admin and @dangerous
        // too, so no "+@all -@admin" user changes what every check admits.
        flags: c"admin may-replicate",
        arity: -2,
        keys: Keys::None,
        acl: Acl::Admin,
        summary: c"Manages the server's named policies: SET, GET, DEL, LIST, LOAD (a whole set), RELOAD (from ratelimit.policy-file), DIGEST.",
        complexity: c"O(1) per policy; LIST, LOAD, RELOAD and DIGEST: O(N), N the policies",
        nondeterministic: false,
        args: &docs::POLICY_ARGS,
        stamp: None,
        decides: false,
        register: Register::Always,
    },
];

/// The table as a static, so rows have one address.
pub static ROWS: [Row; TABLE.len()] = TABLE;

/// How the command filter stamps a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The smallest argument count (the name included) it is stamped at: a command the
    /// server will refuse for its arity is left as it came.
    pub min_argc: c_int,
    /// The stamp also carries a lease id the filter draws (RL.ACQUIRE, `lease_ids.rs`).
    pub lease_id: bool,
}

impl Stamp {
    /// The arrival time only.
    const fn time(min_argc: c_int) -> Self {
        Stamp {
            min_argc,
            lease_id: false,
        }
    }

    /// The arrival time and a lease id.
    const fn with_lease_id(min_argc: c_int) -> Self {
        Stamp {
            min_argc,
            lease_id: true,
        }
    }
}

/// The commands the filter stamps, and how.
pub const STAMPED: [(&[u8], Stamp); 3] = {
    let mut out: [(&[u8], Stamp); 3] = [(b"", Stamp::time(0)); 3];
    let (mut i, mut n) = (0, 0);
    while i < TABLE.len() {
        if let Some(stamp) = TABLE[i].stamp {
            out[n] = (TABLE[i].name.to_bytes(), stamp);
            n += 1;
        }
        i += 1;
    }
    assert!(n == out.len(), "STAMPED's length must match the table");
    out
};

/// The smallest argument count of any stamped command: below it, the filter has
/// nothing to do.
pub const MIN_STAMPED_ARGC: c_int = {
    let (mut i, mut min) = (0, c_int::MAX);
    while i < STAMPED.len() {
        if STAMPED[i].1.min_argc < min {
            min = STAMPED[i].1.min_argc;
        }
        i += 1;
    }
    min
};

const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].id as usize == i, "rows must be in Command order");
        i += 1;
    }
};

type CmdFn =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

/// The entry point Redis calls for row `I`.
extern "C" fn entry<const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    // SAFETY: these are the arguments Redis passes to a command callback.
    unsafe { run(ctx, argv, argc, &ROWS[I]) }
}

/// The entry point of row `i`; rows beyond the arms fail to compile (add arms).
const fn entry_for(i: usize) -> CmdFn {
    macro_rules! arms {
        ($($n:literal)*) => {
            match i {
                $($n => entry::<$n>,)*
                _ => panic!("the command table outgrew entry_for: add arms"),
            }
        };
    }
    arms!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23)
}

/// One entry point per row, by index.
const ENTRIES: [CmdFn; TABLE.len()] = {
    let mut out: [CmdFn; TABLE.len()] = [entry::<0>; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        out[i] = entry_for(i);
        i += 1;
    }
    out
};

/// Creates every row this server registers; the name of the first one refused, if any.
///
/// # Safety
/// `ctx` is the module's load context.
pub unsafe fn register(ctx: *mut raw::RedisModuleCtx) -> Result<(), &'static CStr> {
    // SAFETY: the API pointers are written once by RedisModule_Init, then only read.
    let create = unsafe { raw::RedisModule_CreateCommand }.ok_or(c"RedisModule_CreateCommand")?;
    for (row, entry) in ROWS.iter().zip(ENTRIES) {
        if !row.registered() {
            continue;
        }
        let (first, last, step) = row.keys.range();
        // SAFETY: ctx is the load context; names and flags are NUL-terminated statics.
        let rc = unsafe {
            create(
                ctx,
                row.name.as_ptr(),
                Some(entry),
                row.flags.as_ptr(),
                first,
                last,
                step,
            )
        };
        if rc != raw::REDISMODULE_OK as c_int {
            return Err(row.name);
        }
    }
    Ok(())
}

/// Runs a row's handler behind `catch_unwind`, counts and times the call, then writes
/// the handler's reply, or its error. A panic while a reply is being written (a bug)
/// adds no second reply.
///
/// # Safety
/// The arguments must be those Redis passed to a command callback.
unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    row: &'static Row,
) -> c_int {
    // SAFETY: ctx is the running command's context (the caller's contract).
    let ctx = unsafe { Ctx::new(ctx) };
    // A server asking where a getkeys-api command's keys are (cluster routing, ACL) is
    // not a call: it is answered here, neither counted nor timed.
    if ctx.is_keys_position_request() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above.
            let args = unsafe { args_after_name(argv, argc) };
            row.keys.declare(ctx, args);
        }));
        return raw::REDISMODULE_OK as c_int;
    }
    let counted = row.register != Register::TestHooks;
    let start = (counted && config::latency_tracking()).then(crate::stopwatch::start);
    let result = catch_unwind(AssertUnwindSafe(|| {
        // A CONFIG RESETSTAT that ran since the last command clears the counters first.
        crate::resetstat::settle();
        // SAFETY: as above.
        let args = unsafe { args_after_name(argv, argc) };
        if !row.arity_ok(args.len()) {
            return Err(Error::WrongArity);
        }
        let call = Call {
            ctx,
            args,
            clock: &ModuleClock,
        };
        (row.handler)(&call)
    }));
    let (done, error) = match result {
        Ok(Ok(done)) => (Some(done), None),
        Ok(Err(e)) => (None, Some(e)),
        Err(_) => (None, Some(Error::Panic)),
    };
    // A check replayed from the primary or the AOF is an applied effect here.
    let as_counted = if done.as_ref().is_some_and(|d| d.replay) {
        Command::Apply
    } else {
        row.id
    };
    if counted {
        if let Some(start) = start {
            latency::record(as_counted, crate::stopwatch::elapsed_ns(start));
        }
        crate::stats::record_call(as_counted, error.is_some());
    }
    match (done, error) {
        (Some(done), _) => {
            // Nothing has been written yet; if writing panics, the reply is already
            // started and must not be followed by an error reply.
            let written = catch_unwind(AssertUnwindSafe(|| done.reply.write(ctx)));
            if written.is_err() {
                crate::panic::log_warning("ratelimit: a reply was cut short by a panic");
            }
        }
        (None, Some(Error::WrongArity)) => ctx.reply_wrong_arity(),
        (None, Some(e)) => ctx.reply_error(e.message().as_c_str()),
        (None, None) => ctx.reply_error(Error::Internal.message().as_c_str()),
    }
    raw::REDISMODULE_OK as c_int
}

/// The arguments after the command name, read in place.
///
/// # Safety
/// `argv` and `argc` are what Redis passed to a command callback; the slice lives for
/// the command.
unsafe fn args_after_name<'a>(argv: *mut *mut raw::RedisModuleString, argc: c_int) -> &'a [Arg] {
    match usize::try_from(argc) {
        Ok(n) if n > 1 && !argv.is_null() => {
            // SAFETY: Redis passes argc valid strings; Arg is repr(transparent) over
            // the string pointer, so the array reads as a slice of Arg.
            unsafe { std::slice::from_raw_parts(argv.add(1).cast::<Arg>(), n - 1) }
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_discriminant_and_names_are_distinct() {
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        let mut names: Vec<_> = Command::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Command::ALL.len());
        let mut cmds: Vec<_> = TABLE.iter().map(|r| r.name).collect();
        cmds.sort_unstable();
        cmds.dedup();
        assert_eq!(cmds.len(), TABLE.len());
    }

    #[test]
    fn the_stamped_list_comes_from_the_table() {
        assert_eq!(
            STAMPED,
            [
                (&b"rl.check"[..], Stamp::time(5)),
                (&b"rl.mcheck"[..], Stamp::time(6)),
                (&b"rl.acquire"[..], Stamp::with_lease_id(4)),
            ]
        );
        assert_eq!(MIN_STAMPED_ARGC, 4);
    }

    #[test]
    fn arity_is_exact_when_positive_and_a_minimum_when_negative() {
        let inspect = Command::Inspect.row();
        assert!(inspect.arity_ok(1));
        assert!(!inspect.arity_ok(0) && !inspect.arity_ok(2));
        let check = Command::Check.row();
        assert!(!check.arity_ok(2));
        assert!(check.arity_ok(3) && check.arity_ok(9));
    }

    #[test]
    fn names_are_lower_case_and_stat_names_are_their_last_part() {
        for row in &TABLE {
            let name = row.name.to_str().unwrap();
            assert_eq!(name, name.to_ascii_lowercase());
            assert_eq!(name.split('.').nth(1), Some(row.stat), "{name}");
        }
    }
}
