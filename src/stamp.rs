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
//!
//! RL.ACQUIRE's stamp also carries the lease id the primary drew, `@<unix ms>:<16 hex
//! digits>` (`lease_ids.rs`), so an acquire replicates as itself too and a replica takes
//! the primary's id instead of drawing its own.

/// The first byte of a stamp. No valid last argument of RL.CHECK or RL.MCHECK (a
/// number or an option value) starts with it.
pub const PREFIX: u8 = b'@';

/// The longest stamp: the prefix and the 19 digits of `i64::MAX`.
pub const MAX_LEN: usize = 20;

/// Between the time and the lease id in RL.ACQUIRE's stamp.
pub const ID_SEPARATOR: u8 = b':';

/// The longest RL.ACQUIRE stamp: a time stamp, the separator and 16 hex digits.
pub const MAX_LEN_WITH_ID: usize = MAX_LEN + 17;

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

/// Writes RL.ACQUIRE's stamp for `ms` and lease id `id` into `buf` and returns it.
pub fn format_with_id(ms: u64, id: u64, buf: &mut [u8; MAX_LEN_WITH_ID]) -> &[u8] {
    let mut time = [0; MAX_LEN];
    let n = format(ms, &mut time).len();
    buf[..n].copy_from_slice(&time[..n]);
    buf[n] = ID_SEPARATOR;
    buf[n + 1..n + 17].copy_from_slice(&crate::lease_ids::hex(id));
    &buf[..n + 17]
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
    split_by(args, parse)
}

/// Splits the last argument off `args` when `read` accepts it.
fn split_by<A: AsRef<[u8]>, T>(args: &[A], read: fn(&[u8]) -> Option<T>) -> (&[A], Option<T>) {
    match args.split_last() {
        Some((last, rest)) => match read(last.as_ref()) {
            Some(stamp) => (rest, Some(stamp)),
            None => (args, None),
        },
        None => (args, None),
    }
}

/// Reads RL.ACQUIRE's stamp: the time and a non-zero lease id, or `None` when `arg`
/// is not exactly in that form.
pub fn parse_with_id(arg: &[u8]) -> Option<(u64, u64)> {
    let sep = arg.iter().position(|&b| b == ID_SEPARATOR)?;
    let ms = parse(&arg[..sep])?;
    let id = crate::args::parse_lease_id(&arg[sep + 1..]).ok()?;
    Some((ms, id))
}

/// [`split`] for RL.ACQUIRE: splits off a last argument in [`parse_with_id`]'s form.
pub fn split_with_id<A: AsRef<[u8]>>(args: &[A]) -> (&[A], Option<(u64, u64)>) {
    split_by(args, parse_with_id)
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
        fn an_acquire_stamp_parses_back(ms in 0..=i64::MAX as u64, id in 1..=u64::MAX) {
            let mut buf = [0; MAX_LEN_WITH_ID];
            prop_assert_eq!(parse_with_id(format_with_id(ms, id, &mut buf)), Some((ms, id)));
        }

        #[test]
        fn parse_with_id_never_panics(arg in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = parse_with_id(&arg);
        }

        #[test]
        fn parse_never_panics(arg in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = parse(&arg);
        }
    }

    #[test]
    fn acquire_stamps_carry_a_lease_id() {
        let mut buf = [0; MAX_LEN_WITH_ID];
        let text = format_with_id(1_732_364_800_123, 0xab, &mut buf);
        assert_eq!(text, b"@1732364800123:00000000000000ab");
        assert_eq!(parse_with_id(text), Some((1_732_364_800_123, 0xab)));
        let text = format_with_id(u64::MAX, u64::MAX, &mut buf);
        assert_eq!(text.len(), MAX_LEN_WITH_ID);
        assert_eq!(parse_with_id(text), Some((i64::MAX as u64, u64::MAX)));
        for bad in [
            &b"@12"[..],
            b"@12:",
            b"@12:0000000000000000",
            b"@12:00000000000000ab0",
            b"@12:00000000000000zz",
            b"@:00000000000000ab",
            b"12:00000000000000ab",
            b"@1:2:00000000000000ab",
        ] {
            assert_eq!(parse_with_id(bad), None, "{bad:?}");
        }
        let args: [&[u8]; 4] = [b"k", b"5", b"1000", b"@7:00000000000000ff"];
        assert_eq!(split_with_id(&args), (&args[..3], Some((7, 0xff))));
        let args: [&[u8]; 4] = [b"k", b"5", b"1000", b"@7"];
        assert_eq!(split_with_id(&args), (&args[..], None));
    }
}
