//! `RL.TESTHOOK PANIC`: panics on purpose so tests can prove the guard turns a panic
//! into an error reply and a log line. Built only with the `test-hooks` feature.

use crate::ctx::{Arg, Ctx};
use crate::error::Error;

/// Panics when asked to; otherwise an arity error.
pub fn testhook(_ctx: Ctx, args: &[Arg]) -> Result<(), Error> {
    match args {
        [what] if what.as_ref().eq_ignore_ascii_case(b"PANIC") => {
            panic!("RL.TESTHOOK PANIC was called")
        }
        _ => Err(Error::WrongArity),
    }
}
