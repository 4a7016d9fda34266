//! `RL.TESTHOOK`: fault injection and a manual clock for tests. Built only with the
//! `test-hooks` feature; never shipped.
//!
//! - `PANIC`: panics in the handler (the guard turns it into an error reply);
//! - `PANIC_AFTER_REPLY`: writes `+OK`, then panics (no second reply may follow);
//! - `FAILCREATE n`: the n-th key creation from now fails as a refused
//!   `RedisModule_ModuleTypeSetValue` would (0 disarms);
//! - `CLOCK ms` / `CLOCK OFF`: the module's clock reads `ms` (Unix ms) until `OFF`.

use super::{Call, Done};
use crate::args::parse_int;
use crate::error::{Error, Field};
use crate::reply::Reply;

/// Runs the hook named by the first argument.
pub fn testhook(call: &Call) -> Result<Done, Error> {
    let word = |a: &crate::ctx::Arg, w: &[u8]| a.as_ref().eq_ignore_ascii_case(w);
    match call.args {
        [what] if word(what, b"PANIC") => panic!("RL.TESTHOOK PANIC was called"),
        [what] if word(what, b"PANIC_AFTER_REPLY") => {
            Ok(Reply::ThenPanic(Box::new(Reply::Ok)).into())
        }
        [what, n] if word(what, b"FAILCREATE") => {
            let n = parse_int(n.as_ref(), 0, u64::MAX, Field::Cost).map_err(|e| e.at(2))?;
            crate::types::key::fault::fail_nth_create(n);
            Ok(Reply::Ok.into())
        }
        [what, off] if word(what, b"CLOCK") && word(off, b"OFF") => {
            crate::clock::set_manual(None);
            Ok(Reply::Ok.into())
        }
        [what, ms] if word(what, b"CLOCK") => {
            let ms =
                parse_int(ms.as_ref(), 0, i64::MAX as u64, Field::Period).map_err(|e| e.at(2))?;
            crate::clock::set_manual(Some(ms));
            Ok(Reply::Ok.into())
        }
        _ => Err(Error::WrongArity),
    }
}
