//! `RL.MCHECK numkeys key [key ...] spec [spec ...]`: all-or-nothing across keys; a
//! spec is `algorithm limit period [BURST n] [COST n]` or `POLICY name [COST n]`.

use super::check::notify_denied;
use super::{Call, Command, Done};
use crate::algorithms::Algorithm;
use crate::args::{parse_mcheck, Spec};
use crate::charge::{commit, prepare, when, Pending, Propagate};
use crate::error::Error;
use crate::reply::Reply;
use crate::stats;
use crate::types::multi::PolicyOutcome;

/// Evaluates every key at one instant; commits all if every key admits, otherwise
/// charges none (existing keys count the denial). Replies the overall decision, the
/// largest retry and each key's own decision.
pub fn mcheck(call: &Call) -> Result<Done, Error> {
    let (args, when) = when(call)?;
    let (n, specs) = parse_mcheck(args, &when.limits())?;
    let names = &args[1..=n];
    let replay = when.is_replay();
    let mut pending: Vec<Pending> = Vec::with_capacity(n);
    let mut decisions = Vec::with_capacity(n);
    let mut policies: Vec<Option<PolicyOutcome>> = Vec::with_capacity(n);
    for (name, spec) in names.iter().zip(&specs) {
        let algorithm = spec.request().map_or(Algorithm::Policy, |r| r.algorithm);
        let prepared = match spec {
            Spec::Limit(req) => prepare(call.ctx, name, req, when.now()).map(|(p, d)| (p, d, None)),
            Spec::Policy(pc) => super::policy::prepare_policy(call.ctx, name, pc, when.now())
                .map(|(p, o)| (p, o.decision, Some(o))),
        };
        let (p, d, o) = prepared.inspect_err(|_| {
            if !replay {
                stats::record_algorithm_error(algorithm)
            }
        })?;
        pending.push(p);
        decisions.push(d);
        policies.push(o);
    }
    let allowed = decisions.iter().all(|d| d.allowed);
    if !allowed {
        // Nothing is charged; keys that exist count the denial (a key that denied
        // itself has already counted it).
        for ((p, spec), d) in pending.iter_mut().zip(&specs).zip(&decisions) {
            if d.allowed {
                p.deny_instead(spec.cost());
            }
        }
    }
    // A policy key propagates the value it computed: replicas never look policies up.
    let how = if policies.iter().any(Option::is_some) {
        Propagate::Apply
    } else {
        when.propagation()
    };
    commit(call.ctx, &mut pending, how)?;
    drop(pending);
    if !replay {
        for (((name, spec), d), o) in names.iter().zip(&specs).zip(&decisions).zip(&policies) {
            match (spec, o) {
                (_, Some(o)) => super::policy::record(call.ctx, name, o, Command::Mcheck),
                (Spec::Limit(req), None) => {
                    if !d.allowed {
                        notify_denied(call.ctx, name);
                    }
                    stats::record_check(req.algorithm, allowed);
                }
                (Spec::Policy(_), None) => {}
            }
        }
        stats::record_decision(Command::Mcheck, allowed);
    }
    // The largest wait among denying keys; -1 if one of them can never admit.
    let retry_after_ms = if allowed {
        -1
    } else {
        decisions
            .iter()
            .filter(|d| !d.allowed)
            .try_fold(0, |max, d| {
                (d.retry_after_ms >= 0).then(|| max.max(d.retry_after_ms))
            })
            .unwrap_or(-1)
    };
    Ok(Done {
        reply: Reply::Decisions {
            allowed,
            retry_after_ms,
            each: decisions,
        },
        replay,
    })
}
