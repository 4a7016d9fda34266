//! The time stamp that lets a check replicate as itself.
//!
//! On a primary, the module's command filter appends `@<unix ms>` (the server clock when
//! the command arrived) to every `RL.CHECK` and `RL.MCHECK`, replacing a stamp a client
//! may have put there. When the handler then evaluates at exactly that instant, the
//! command's effect is fully determined by its own arguments, so it is propagated
//! verbatim (`RM_ReplicateVerbatim`, a pointer copy) instead of as an `RL.APPLY`
//! payload, whose `RM_Replicate` costs about a third of a check.
//!
//! A replica or an AOF replay evaluates a stamped command at the stamp, never at its own
//! clock. A client's stamp is never trusted: a client command is always evaluated at the
//! server's clock, and its stamp only decides whether the verbatim form is exact.

/// The first byte of a stamp. No valid last argument of RL.CHECK or RL.MCHECK (a
/// number or an option value) starts with it.
pub const PREFIX: u8 = b'@';

/// The longest stamp: the prefix and the 19 digits of `i64::MAX`.
pub const MAX_LEN: usize = 20;

/// Writes the stamp for `ms` into `buf` and returns it.
pub fn format(ms: u64, buf: &mut [u8; MAX_LEN]) -> &[u8] {
    let ms = ms.min(i64::MAX as u64);
    let digits = ms.checked_ilog10().unwrap_or(0) as usize + 1;
    buf[0] = PREFIX;
    let mut rest = ms;
    for slot in buf[1..=digits].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    &buf[..=digits]
}

/// Whether an argument is in the stamp's place (it may still be malformed).
pub fn looks_like_stamp(arg: &[u8]) -> bool {
    arg.first() == Some(&PREFIX)
}

/// Parses `@<digits>` into Unix ms in `0..=i64::MAX`.
pub fn parse(arg: &[u8]) -> Option<u64> {
    let digits = arg.strip_prefix(&[PREFIX])?;
    if digits.is_empty() || digits.len() > MAX_LEN - 1 {
        return None;
    }
    // At most 19 digits: the value fits in a u64 before the range check.
    let mut ms = 0u64;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        ms = ms * 10 + u64::from(d);
    }
    (ms <= i64::MAX as u64).then_some(ms)
}

/// Splits a well-formed stamp off the end of `args`. A malformed one stays in place,
/// where argument parsing refuses it as an unknown option.
pub fn split<A: AsRef<[u8]>>(args: &[A]) -> (&[A], Option<u64>) {
    match args.split_last() {
        Some((last, rest)) => match parse(last.as_ref()) {
            Some(ms) => (rest, Some(ms)),
            None => (args, None),
        },
        None => (args, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_and_parses_the_edges() {
        let mut buf = [0; MAX_LEN];
        assert_eq!(format(0, &mut buf), b"@0");
        assert_eq!(format(1_732_364_800_123, &mut buf), b"@1732364800123");
        assert_eq!(format(u64::MAX, &mut buf), b"@9223372036854775807");
        assert_eq!(parse(b"@9223372036854775807"), Some(i64::MAX as u64));
        for bad in [
            &b"@"[..],
            b"@9223372036854775808",
            b"@99999999999999999999",
            b"@-1",
            b"@1 ",
            b"1",
            b"",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_a_well_formed_last_argument_is_split_off() {
        let args: [&[u8]; 3] = [b"k", b"GCRA", b"@12"];
        assert_eq!(split(&args), (&args[..2], Some(12)));
        let args: [&[u8]; 2] = [b"k", b"@x"];
        assert_eq!(split(&args), (&args[..], None));
        let args: [&[u8]; 2] = [b"@5", b"10"];
        assert_eq!(split(&args), (&args[..], None));
        let none: [&[u8]; 0] = [];
        assert_eq!(split(&none), (&none[..], None));
    }

    proptest! {
        #[test]
        fn a_formatted_stamp_parses_back(ms in 0..=i64::MAX as u64) {
            let mut buf = [0; MAX_LEN];
            prop_assert_eq!(parse(format(ms, &mut buf)), Some(ms));
        }

        #[test]
        fn parse_never_panics(arg in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = parse(&arg);
        }
    }
}
