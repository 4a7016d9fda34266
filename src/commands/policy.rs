//! `RL.POLICY SET|GET|DEL|LIST|LOAD|RELOAD|DIGEST`: the module-wide set of policies
//! (`policy.rs`), and the policy form of the checks (`RL.CHECK key POLICY name`).
//!
//! Writes propagate verbatim (SET, DEL and LOAD are deterministic; RELOAD, which reads
//! a file only the primary has, propagates as the LOAD of what it read); the set is
//! persisted in the RDB's module aux data (`types/policies.rs`). Policy checks always
//! propagate the computed value (`RL.APPLY`), so replicas never look a policy up.

use super::{Call, Command, Done};
use crate::algorithms::Algorithm;
use crate::args::PolicyCall;
use crate::charge::{commit, When};
use crate::charge::{Pending, Propagate, Write};
use crate::config;
use crate::ctx::{Arg, Ctx};
use crate::error::{Error, PolicyError};
use crate::policy::{self, Limit, Policy, MAX_LIMITS};
use crate::reply::{Reply, Value};
use crate::types::key::Key;
use crate::types::limiter::Change;
use crate::types::multi::{evaluate_policy, PolicyOutcome, PolicyRef};

/// A policy copied out of the set for one check (no allocation): its limits are the
/// first `n` of `limits`.
pub struct Looked {
    limits: [Limit; MAX_LIMITS],
    n: usize,
    version: u64,
    shadow: bool,
}

impl Looked {
    /// The policy as a check reads it, with the call's shadow flag.
    pub fn policy_ref<'a>(&'a self, name: &'a [u8], shadow: bool) -> PolicyRef<'a> {
        PolicyRef {
            name,
            version: self.version,
            limits: &self.limits[..self.n],
            shadow: self.shadow || shadow,
        }
    }
}

/// Looks `name` up; an unknown policy is an error, never an unlimited pass.
pub fn lookup(name: &[u8]) -> Result<Looked, Error> {
    let store = policy::store();
    let e = store.get(name).ok_or(Error::Policy(PolicyError::Unknown))?;
    // A policy has one to eight limits (`Policy::parse`); the unused slots repeat the
    // first and are never read.
    let first = *e.policy.limits.first().ok_or(Error::Internal)?;
    let mut limits = [first; MAX_LIMITS];
    for (slot, l) in limits.iter_mut().zip(&e.policy.limits) {
        *slot = *l;
    }
    Ok(Looked {
        limits,
        n: e.policy.limits.len().min(MAX_LIMITS),
        version: e.version,
        shadow: e.policy.shadow,
    })
}

/// Evaluates a policy call on an open key.
pub fn prepare_policy<'a>(
    ctx: Ctx,
    name: &'a Arg,
    call: &PolicyCall,
    now: u64,
) -> Result<(Pending<'a>, PolicyOutcome), Error> {
    let looked = lookup(call.name)?;
    let p = looked.policy_ref(call.name, call.shadow);
    let mut key = Key::open(ctx, name);
    let mut outcome = evaluate_policy(key.current()?.as_deref(), &p, call.cost, now)?;
    let write = match outcome.value.take() {
        Some(v) => Write::Replace(v),
        None => Write::Change(Change::Nothing),
    };
    Ok((Pending::new(name, key, write, outcome.expire_at), outcome))
}

/// Counts a policy check and publishes its event: `rl.denied`, or `rl.shadow` for a
/// denial shadow mode admitted.
pub fn record(ctx: Ctx, name: &Arg, o: &PolicyOutcome, cmd: Command) {
    crate::stats::record_check(Algorithm::Policy, o.decision.allowed);
    if o.shadow_denied {
        crate::stats::record_shadow_denied();
        if config::deny_notifications() {
            ctx.notify(c"rl.shadow", name);
        }
    } else if !o.decision.allowed {
        super::check::notify_denied(ctx, name);
    }
    if cmd != Command::Mcheck {
        crate::stats::record_decision(cmd, o.decision.allowed);
    }
}

/// `RL.CHECK key POLICY name [COST n] [SHADOW]`: every limit of the policy in the one
/// key, all-or-nothing; propagated as the value it computed.
pub fn check(call: &Call, args: &[Arg], when: When, pc: &PolicyCall) -> Result<Done, Error> {
    let counted = !when.is_replay();
    let prepared = prepare_policy(call.ctx, &args[0], pc, when.now());
    let (mut pending, outcome) = prepared.inspect_err(|_| {
        if counted {
            crate::stats::record_algorithm_error(Algorithm::Policy)
        }
    })?;
    commit(
        call.ctx,
        std::slice::from_mut(&mut pending),
        Propagate::Apply,
    )?;
    drop(pending);
    if counted {
        record(call.ctx, &args[0], &outcome, Command::Check);
    }
    Ok(Done {
        reply: reply(&outcome),
        replay: when.is_replay(),
    })
}

/// `RL.PEEK key POLICY name [COST n]`: what RL.CHECK would reply, changing nothing.
pub fn peek(call: &Call, pc: &PolicyCall) -> Result<Done, Error> {
    let looked = lookup(pc.name)?;
    let p = looked.policy_ref(pc.name, false);
    let now = call.clock.now_ms();
    let mut key = Key::open_read(call.ctx, &call.args[0]);
    let outcome = evaluate_policy(key.current()?.as_deref(), &p, pc.cost, now)?;
    crate::stats::record_decision(Command::Peek, outcome.decision.allowed);
    Ok(reply(&outcome).into())
}

fn reply(o: &PolicyOutcome) -> Reply {
    Reply::Policy {
        decision: o.decision,
        decided_by: o.decided_by,
        shadow_denied: o.shadow_denied,
    }
}

/// RL.POLICY's subcommands.
pub fn policy(call: &Call) -> Result<Done, Error> {
    let (ctx, args) = (call.ctx, call.args);
    let sub = args[0].as_ref();
    let is = |word: &[u8]| sub.eq_ignore_ascii_case(word);
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(Error::WrongArity)
        }
    };
    // The primary's stream and the AOF are trusted up to the hard caps, as checks are.
    let replay = ctx.from_primary_or_aof();
    let limits = if replay {
        When::Replay(0).limits()
    } else {
        config::limits()
    };
    let max = if replay {
        usize::MAX
    } else {
        config::max_policies()
    };
    let reply = if is(b"SET") {
        arity(3)?;
        writable(ctx)?;
        let name = args[1].as_ref();
        if !policy::valid_name(name) {
            return Err(Error::Policy(PolicyError::Name));
        }
        let p = Policy::parse(args[2].as_ref(), &limits)?;
        let version = policy::store().set(name, p, max)?;
        ctx.replicate_verbatim();
        Reply::Int(version as i64)
    } else if is(b"GET") {
        arity(2)?;
        match policy::store().get(args[1].as_ref()) {
            Some(e) => Reply::Bulk(e.policy.to_json(Some(e.version)).into_bytes()),
            None => Reply::Null,
        }
    } else if is(b"DEL") {
        arity(2)?;
        writable(ctx)?;
        let existed = policy::store().del(args[1].as_ref());
        if existed {
            ctx.replicate_verbatim();
        }
        Reply::Int(i64::from(existed))
    } else if is(b"LIST") {
        arity(1)?;
        let store = policy::store();
        Reply::Values(
            store
                .sorted()
                .into_iter()
                .map(|(n, _)| Value::Bulk(n.to_vec()))
                .collect(),
        )
    } else if is(b"LOAD") {
        arity(2)?;
        writable(ctx)?;
        let set = policy::parse_set(args[1].as_ref(), &limits)?;
        let n = set.len();
        policy::store().replace_all(set, max)?;
        ctx.replicate_verbatim();
        Reply::Int(n as i64)
    } else if is(b"RELOAD") {
        arity(1)?;
        writable(ctx)?;
        let set = read_file(&limits)?;
        let n = set.len();
        let mut store = policy::store();
        store.replace_all(set, max)?;
        let text = store.to_json();
        drop(store);
        ctx.replicate_word_payload(c"RL.POLICY", c"LOAD", text.as_bytes());
        Reply::Int(n as i64)
    } else if is(b"DIGEST") {
        arity(1)?;
        Reply::Bulk(policy::store().digest().into_bytes())
    } else {
        return Err(Error::Policy(PolicyError::Subcommand));
    };
    Ok(reply.into())
}

/// Reads and validates the policy file (`ratelimit.policy-file`).
pub fn read_file(limits: &crate::args::Limits) -> Result<Vec<(Vec<u8>, Policy)>, Error> {
    let path = config::policy_file();
    if path.is_empty() {
        return Err(Error::Policy(PolicyError::NoFile));
    }
    let text = std::fs::read(&path).map_err(|_| Error::Policy(PolicyError::FileUnreadable))?;
    policy::parse_set(&text, limits)
}

/// Whether a client may change the set here: not on a replica (the primary's changes
/// reach it), and not while an AOF without the RDB preamble would lose the set at its
/// next rewrite.
fn writable(ctx: Ctx) -> Result<(), Error> {
    if ctx.from_primary_or_aof() {
        return Ok(());
    }
    if ctx.is_replica() {
        return Err(Error::Policy(PolicyError::Replica));
    }
    if ctx.aof_on() && ctx.config_get("aof-use-rdb-preamble").as_deref() == Some("no") {
        return Err(Error::Policy(PolicyError::NoPreamble));
    }
    Ok(())
}
