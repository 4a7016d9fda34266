//! Argument parsing into typed requests. All validation and its messages live here.
//! Parsing reads the argument bytes in place: nothing is allocated per argument.

use crate::algorithms::sliding_log::MAX_PERIOD_MS;
use crate::algorithms::{Algorithm, Quota, MAX_ARG};
use crate::error::{Error, Field};
pub use crate::types::limiter::CheckRequest;

/// Limits that come from the module configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest `limit` a SLIDING_LOG may have.
    pub sliding_log_max_limit: u64,
}

/// The most keys one RL.MCHECK may name.
pub const MAX_MCHECK_KEYS: u64 = 1024;

/// Parses a decimal integer in `min..=max`: digits only, no sign, no spaces.
pub fn parse_int(bytes: &[u8], min: u64, max: u64, field: Field) -> Result<u64, Error> {
    let err = Error::BadNumber(field);
    if bytes.is_empty() {
        return Err(err);
    }
    let mut v: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return Err(err);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(err)?;
    }
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(err)
    }
}

/// Parses a decimal integer in `1..=i64::MAX`.
pub fn parse_count(bytes: &[u8], field: Field) -> Result<u64, Error> {
    parse_int(bytes, 1, MAX_ARG, field)
}

/// Parses one spec at the start of `args`: `algorithm limit period_ms [BURST n] [COST n]`.
/// Stops before the next algorithm keyword; returns the request and the arguments used.
pub fn parse_spec<A: AsRef<[u8]>>(
    args: &[A],
    limits: &Limits,
) -> Result<(CheckRequest, usize), Error> {
    let [algorithm, limit, period, rest @ ..] = args else {
        return Err(Error::WrongArity);
    };
    let algorithm = Algorithm::from_keyword(algorithm.as_ref()).ok_or(Error::UnknownAlgorithm)?;
    let limit = parse_count(limit.as_ref(), Field::Limit)?;
    let period = parse_count(period.as_ref(), Field::Period)?;
    let mut burst = None;
    let mut cost = None;
    let mut used = 3;
    let mut rest = rest.iter();
    while let Some(option) = rest.next() {
        let option = option.as_ref();
        let (slot, field) = if option.eq_ignore_ascii_case(b"BURST") {
            (&mut burst, Field::Burst)
        } else if option.eq_ignore_ascii_case(b"COST") {
            (&mut cost, Field::Cost)
        } else if Algorithm::from_keyword(option).is_some() {
            break;
        } else {
            return Err(Error::UnknownOption);
        };
        if slot.is_some() {
            return Err(Error::RepeatedOption(field));
        }
        let value = rest.next().ok_or(Error::MissingValue(field))?;
        *slot = Some(parse_count(value.as_ref(), field)?);
        used += 2;
    }
    if burst.is_some() && !algorithm.has_burst() {
        return Err(Error::BurstNotSupported);
    }
    if algorithm == Algorithm::SlidingLog {
        if period > MAX_PERIOD_MS {
            return Err(Error::LogPeriodTooLong);
        }
        if limit > limits.sliding_log_max_limit {
            return Err(Error::LogLimitTooHigh);
        }
    }
    let quota = Quota::new(limit, period, burst.unwrap_or(limit)).ok_or(Error::Internal)?;
    let req = CheckRequest {
        algorithm,
        quota,
        cost: cost.unwrap_or(1),
    };
    Ok((req, used))
}

/// Parses the arguments of RL.CHECK / RL.PEEK after the command name: `args[0]` is the key.
pub fn parse_check<A: AsRef<[u8]>>(args: &[A], limits: &Limits) -> Result<CheckRequest, Error> {
    if args.len() < 4 || args.len() > 8 {
        return Err(Error::WrongArity);
    }
    let (req, used) = parse_spec(&args[1..], limits)?;
    if used != args.len() - 1 {
        // Another algorithm keyword where an option belongs.
        return Err(Error::UnknownOption);
    }
    Ok(req)
}

/// Parses `numkeys key [key ...] spec [spec ...]` (after the command name): the number
/// of keys and one request per key, in key order.
pub fn parse_mcheck<A: AsRef<[u8]>>(
    args: &[A],
    limits: &Limits,
) -> Result<(usize, Vec<CheckRequest>), Error> {
    let Some(numkeys) = args.first() else {
        return Err(Error::WrongArity);
    };
    let n = parse_int(numkeys.as_ref(), 1, MAX_MCHECK_KEYS, Field::NumKeys)? as usize;
    if args.len() < 1 + 4 * n {
        return Err(Error::WrongArity);
    }
    let keys = &args[1..=n];
    let mut specs = &args[1 + n..];
    let mut reqs = Vec::with_capacity(n);
    while !specs.is_empty() {
        let (req, used) = parse_spec(specs, limits)?;
        reqs.push(req);
        specs = &specs[used..];
    }
    if reqs.len() != n {
        return Err(Error::SpecCount);
    }
    if has_duplicates(keys.iter().map(AsRef::as_ref)) {
        return Err(Error::DuplicateKey);
    }
    Ok((n, reqs))
}

/// Whether any two of `items` are equal: sorted, so O(n log n) comparisons, not n²
/// (keys can be long and numerous).
pub fn has_duplicates<'a>(items: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut v: Vec<&[u8]> = items.collect();
    v.sort_unstable();
    v.windows(2).any(|w| w[0] == w[1])
}

/// A parsed redis-cell `CL.THROTTLE`: the equivalent GCRA request, and whether it only
/// reports (quantity 0).
pub fn parse_throttle<A: AsRef<[u8]>>(args: &[A]) -> Result<(CheckRequest, bool), Error> {
    if args.len() < 4 || args.len() > 5 {
        return Err(Error::WrongArity);
    }
    let max_burst = parse_int(args[1].as_ref(), 0, MAX_ARG - 1, Field::MaxBurst)?;
    let count = parse_count(args[2].as_ref(), Field::CountPerPeriod)?;
    let seconds = parse_int(args[3].as_ref(), 1, MAX_ARG / 1000, Field::PeriodSeconds)?;
    let quantity = match args.get(4) {
        Some(q) => parse_int(q.as_ref(), 0, MAX_ARG, Field::Quantity)?,
        None => 1,
    };
    let quota = Quota::new(count, seconds * 1000, max_burst + 1).ok_or(Error::Internal)?;
    let req = CheckRequest {
        algorithm: Algorithm::Gcra,
        quota,
        cost: quantity.max(1),
    };
    Ok((req, quantity == 0))
}

/// Parses `RL.REFUND key COST n` (after the command name): the units to give back.
pub fn parse_refund<A: AsRef<[u8]>>(args: &[A]) -> Result<u64, Error> {
    let [_key, option, value] = args else {
        return Err(Error::WrongArity);
    };
    if !option.as_ref().eq_ignore_ascii_case(b"COST") {
        return Err(Error::UnknownOption);
    }
    parse_count(value.as_ref(), Field::Cost)
}

/// A parsed `RL.ACQUIRE key limit lease_ms [COST n]` (after the command name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    /// Units held at most at once.
    pub limit: u64,
    /// How long the lease lasts unless released or renewed.
    pub lease_ms: u64,
    /// Units this lease holds.
    pub units: u64,
}

/// Parses RL.ACQUIRE's arguments after the command name: `args[0]` is the key.
pub fn parse_acquire<A: AsRef<[u8]>>(args: &[A]) -> Result<AcquireRequest, Error> {
    let (limit, lease_ms, cost) = match args {
        [_, limit, lease_ms] => (limit, lease_ms, None),
        [_, limit, lease_ms, option, value] => {
            if !option.as_ref().eq_ignore_ascii_case(b"COST") {
                return Err(Error::UnknownLeaseOption);
            }
            (limit, lease_ms, Some(value))
        }
        [_, _, _, option] if option.as_ref().eq_ignore_ascii_case(b"COST") => {
            return Err(Error::MissingValue(Field::Cost))
        }
        [_, _, _, _] => return Err(Error::UnknownLeaseOption),
        _ => return Err(Error::WrongArity),
    };
    Ok(AcquireRequest {
        limit: parse_count(limit.as_ref(), Field::Limit)?,
        lease_ms: parse_count(lease_ms.as_ref(), Field::LeaseMs)?,
        units: match cost {
            Some(c) => parse_count(c.as_ref(), Field::Cost)?,
            None => 1,
        },
    })
}

/// Parses a lease id as RL.ACQUIRE replies it: 16 hexadecimal digits (either case),
/// not all zero.
pub fn parse_lease_id(bytes: &[u8]) -> Result<u64, Error> {
    if bytes.len() != 16 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err(Error::BadLeaseId);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Error::BadLeaseId)?;
    match u64::from_str_radix(text, 16) {
        Ok(0) | Err(_) => Err(Error::BadLeaseId),
        Ok(id) => Ok(id),
    }
}

/// Parses `RL.RENEW key lease_id lease_ms` after the command name: the id and lease_ms.
pub fn parse_renew<A: AsRef<[u8]>>(args: &[A]) -> Result<(u64, u64), Error> {
    let [_, id, lease_ms] = args else {
        return Err(Error::WrongArity);
    };
    Ok((
        parse_lease_id(id.as_ref())?,
        parse_count(lease_ms.as_ref(), Field::LeaseMs)?,
    ))
}

#[cfg(test)]
mod lease_tests {
    use super::*;

    fn split(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn acquire_takes_limit_lease_ms_and_an_optional_cost() {
        let r = parse_acquire(&split("k 10 30000")).unwrap();
        assert_eq!((r.limit, r.lease_ms, r.units), (10, 30000, 1));
        let r = parse_acquire(&split("k 10 30000 cost 3")).unwrap();
        assert_eq!(r.units, 3);
        let table: &[(&str, Error)] = &[
            ("k 10", Error::WrongArity),
            ("k 10 1000 COST 1 X", Error::WrongArity),
            ("k 0 1000", Error::BadNumber(Field::Limit)),
            ("k 10 0", Error::BadNumber(Field::LeaseMs)),
            ("k 10 -5", Error::BadNumber(Field::LeaseMs)),
            ("k 10 9223372036854775808", Error::BadNumber(Field::LeaseMs)),
            ("k 10 1000 COST 0", Error::BadNumber(Field::Cost)),
            ("k 10 1000 COST", Error::MissingValue(Field::Cost)),
            ("k 10 1000 BURST 2", Error::UnknownLeaseOption),
            ("k 10 1000 BURST", Error::UnknownLeaseOption),
        ];
        for (line, want) in table {
            assert_eq!(parse_acquire(&split(line)), Err(*want), "{line}");
        }
    }

    #[test]
    fn lease_ids_are_sixteen_hex_digits_and_never_zero() {
        assert_eq!(parse_lease_id(b"00000000000000ff"), Ok(255));
        assert_eq!(parse_lease_id(b"FFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"ff",
            b"0000000000000000",
            b"+00000000000000f",
            b"00000000000000fg",
            b"00000000000000fff",
            b"00000000000000\xc3\xa9",
        ] {
            assert_eq!(parse_lease_id(bad), Err(Error::BadLeaseId), "{bad:?}");
        }
        assert_eq!(parse_renew(&split("k 00000000000000ff 10")), Ok((255, 10)));
        assert_eq!(
            parse_renew(&split("k 00000000000000ff 0")),
            Err(Error::BadNumber(Field::LeaseMs))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        sliding_log_max_limit: 100,
    };

    fn split(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn parse(line: &str) -> Result<CheckRequest, Error> {
        parse_check(&split(line), &LIMITS)
    }

    #[test]
    fn accepts_minimal_and_full_forms_case_insensitively() {
        let r = parse("k token_bucket 10 1000").unwrap();
        assert_eq!(r.algorithm, Algorithm::TokenBucket);
        assert_eq!(
            (
                r.quota.limit(),
                r.quota.period_ms(),
                r.quota.burst(),
                r.cost
            ),
            (10, 1000, 10, 1)
        );
        let r = parse("k GcRa 5 60000 cost 2 BuRsT 7").unwrap();
        assert_eq!(r.algorithm, Algorithm::Gcra);
        assert_eq!((r.quota.burst(), r.cost), (7, 2));
        let r = parse("k GCRA 9223372036854775807 9223372036854775807 BURST 9223372036854775807 COST 9223372036854775807").unwrap();
        assert_eq!(r.quota.limit(), i64::MAX as u64);
        let r = parse("k sliding_log 100 4294967295 COST 3").unwrap();
        assert_eq!(
            (r.algorithm, r.quota.burst(), r.cost),
            (Algorithm::SlidingLog, 100, 3)
        );
    }

    #[test]
    fn rejects_bad_input_with_the_right_error() {
        let table: &[(&str, Error)] = &[
            ("k GCRA 10", Error::WrongArity),
            ("k GCRA 10 1000 BURST 1 COST 1 X", Error::WrongArity),
            ("k LEAKY 10 1000", Error::UnknownAlgorithm),
            ("k GCRA 0 1000", Error::BadNumber(Field::Limit)),
            ("k GCRA -1 1000", Error::BadNumber(Field::Limit)),
            ("k GCRA +1 1000", Error::BadNumber(Field::Limit)),
            ("k GCRA 1.5 1000", Error::BadNumber(Field::Limit)),
            ("k GCRA  1000", Error::BadNumber(Field::Limit)),
            (
                "k GCRA 9223372036854775808 1000",
                Error::BadNumber(Field::Limit),
            ),
            (
                "k GCRA 99999999999999999999999 1000",
                Error::BadNumber(Field::Limit),
            ),
            ("k GCRA 10 0", Error::BadNumber(Field::Period)),
            ("k GCRA 10 1e3", Error::BadNumber(Field::Period)),
            ("k GCRA 10 1000 BURST 0", Error::BadNumber(Field::Burst)),
            ("k GCRA 10 1000 COST 0", Error::BadNumber(Field::Cost)),
            ("k GCRA 10 1000 COST -3", Error::BadNumber(Field::Cost)),
            ("k GCRA 10 1000 BURST", Error::MissingValue(Field::Burst)),
            (
                "k GCRA 10 1000 COST 1 BURST",
                Error::MissingValue(Field::Burst),
            ),
            (
                "k GCRA 10 1000 BURST 1 BURST 2",
                Error::RepeatedOption(Field::Burst),
            ),
            (
                "k GCRA 10 1000 COST 1 COST 2",
                Error::RepeatedOption(Field::Cost),
            ),
            ("k GCRA 10 1000 SPEED 2", Error::UnknownOption),
            ("k GCRA 10 1000 GCRA 2", Error::UnknownOption),
            ("k FIXED_WINDOW 10 1000 BURST 5", Error::BurstNotSupported),
            ("k SLIDING_LOG 101 1000", Error::LogLimitTooHigh),
            ("k SLIDING_LOG 10 4294967296", Error::LogPeriodTooLong),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Err(*want), "{line}");
        }
    }

    #[test]
    fn mcheck_takes_one_spec_per_key() {
        let (n, reqs) = parse_mcheck(
            &split("2 a b GCRA 10 1000 BURST 3 SLIDING_LOG 5 60000 COST 2"),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(reqs[0].quota.burst(), 3);
        assert_eq!(
            (reqs[1].algorithm, reqs[1].cost),
            (Algorithm::SlidingLog, 2)
        );
        let table: &[(&str, Error)] = &[
            ("0 GCRA 1 1", Error::BadNumber(Field::NumKeys)),
            ("1025 a", Error::BadNumber(Field::NumKeys)),
            ("2 a b GCRA 1 1", Error::WrongArity),
            ("1 a GCRA 1 1 GCRA 1 1", Error::SpecCount),
            ("2 a b GCRA 1 1 GCRA 1 1 GCRA 1 1", Error::SpecCount),
            ("2 a a GCRA 1 1 GCRA 1 1", Error::DuplicateKey),
            ("1 a GCRA 1 1 COST 0 GCRA", Error::BadNumber(Field::Cost)),
        ];
        for (line, want) in table {
            assert_eq!(
                parse_mcheck(&split(line), &LIMITS).map(|r| r.0),
                Err(*want),
                "{line}"
            );
        }
    }

    #[test]
    fn throttle_maps_onto_gcra() {
        let (r, peek) = parse_throttle(&split("k 15 30 60")).unwrap();
        assert_eq!(
            (r.quota.limit(), r.quota.period_ms(), r.quota.burst()),
            (30, 60_000, 16)
        );
        assert!(!peek);
        assert!(parse_throttle(&split("k 15 30 60 0")).unwrap().1);
        assert_eq!(
            parse_throttle(&split("k -1 30 60")),
            Err(Error::BadNumber(Field::MaxBurst))
        );
        assert_eq!(
            parse_throttle(&split("k 1 0 60")),
            Err(Error::BadNumber(Field::CountPerPeriod))
        );
        assert_eq!(
            parse_throttle(&split("k 1 1 9223372036854776")),
            Err(Error::BadNumber(Field::PeriodSeconds))
        );
    }

    #[test]
    fn error_messages_start_with_a_code_word_and_say_what_is_accepted() {
        let e = Error::BadNumber(Field::Period).to_string();
        assert!(e.starts_with("ERR period_ms must be an integer between 1 and"));
        assert!(Error::WrongType.to_string().starts_with("WRONGTYPE "));
    }
}
