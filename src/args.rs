//! Argument parsing into typed requests. All validation and its messages live here.
//! Parsing reads the argument bytes in place: nothing is allocated per argument.
//!
//! Every error names the argument's position (1: the first after the command name)
//! and its role (`ERR argument 3 (limit): ...`), never its bytes.

use crate::algorithms::calendar::{Calendar, Unit, MAX_OFFSET_MIN};
use crate::algorithms::sliding_log::MAX_PERIOD_MS;
use crate::algorithms::{Algorithm, Quota, MAX_ARG};
use crate::error::{ArgError, Error, Field, PolicyError};
pub use crate::types::limiter::CheckRequest;

/// Limits that come from the module configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest `limit` a SLIDING_LOG may have.
    pub sliding_log_max_limit: u64,
}

/// The most keys one RL.MCHECK may name.
pub const MAX_MCHECK_KEYS: u64 = 1024;

/// The command a spec belongs to: what it accepts differs a little.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// RL.CHECK: one spec.
    Check,
    /// RL.PEEK: one spec, `COST 0` allowed (remaining now, nothing asked).
    Peek,
    /// RL.MCHECK: specs follow one another.
    Mcheck,
}

impl Form {
    fn min_cost(self) -> u64 {
        match self {
            Form::Peek => 0,
            Form::Check | Form::Mcheck => 1,
        }
    }
}

/// An option a spec may carry after `period`: `KEYWORD value`.
struct OptionRule {
    /// The option; its name is the keyword (case-insensitive).
    field: Field,
    /// Whether the algorithm takes it; refused at the keyword with `refused` otherwise.
    applies: fn(Algorithm) -> bool,
    /// The refusal when the algorithm does not take it.
    refused: ArgError,
    /// Parses its value.
    value: fn(&[u8], Form) -> Result<u64, ArgError>,
}

/// The options after `period`, in any order, each at most once; parsed values land at
/// the same index. Adding an option is one row here, one `Field` and its use below.
const OPTIONS: [OptionRule; 4] = [
    OptionRule {
        field: Field::Burst,
        applies: Algorithm::has_burst,
        refused: ArgError::BurstNotSupported,
        value: |v, _| parse_count(v, Field::Burst),
    },
    OptionRule {
        field: Field::Cost,
        applies: |_| true,
        refused: ArgError::BurstNotSupported,
        value: |v, form| parse_int(v, form.min_cost(), MAX_ARG, Field::Cost),
    },
    OptionRule {
        field: Field::Block,
        applies: |_| true,
        refused: ArgError::BurstNotSupported,
        value: |v, _| parse_duration(v, Field::Block),
    },
    OptionRule {
        field: Field::UtcOffset,
        applies: |a| a == Algorithm::Calendar,
        refused: ArgError::UtcOffsetNotSupported,
        // Biased by MAX_OFFSET_MIN to fit the table's u64 values.
        value: |v, _| parse_offset(v).map(|m| (m + MAX_OFFSET_MIN) as u64),
    },
];

/// Parses CALENDAR's `UTC_OFFSET`: whole minutes, an optional sign, within ±18 hours.
fn parse_offset(bytes: &[u8]) -> Result<i64, ArgError> {
    let err = ArgError::Invalid(Field::UtcOffset);
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    let v = parse_digits(digits)
        .filter(|&v| v <= MAX_OFFSET_MIN as u64)
        .ok_or(err)? as i64;
    Ok(if negative { -v } else { v })
}

/// Parses a decimal integer in `min..=max`: digits only, no sign, no spaces.
pub fn parse_int(bytes: &[u8], min: u64, max: u64, field: Field) -> Result<u64, ArgError> {
    let err = ArgError::Invalid(field);
    match parse_digits(bytes) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(err),
    }
}

/// Digits only, as a `u64`; `None` when empty, not digits, or too large.
fn parse_digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |v, &b| {
        let d = b.wrapping_sub(b'0');
        (d <= 9)
            .then_some(())
            .and_then(|_| v.checked_mul(10)?.checked_add(u64::from(d)))
    })
}

/// Parses a decimal integer in `1..=i64::MAX`.
pub fn parse_count(bytes: &[u8], field: Field) -> Result<u64, ArgError> {
    parse_int(bytes, 1, MAX_ARG, field)
}

/// Duration units, longest first so that formatting picks the largest exact one.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration into milliseconds in `1..=i64::MAX`: digits, optionally followed
/// by a unit `ms`, `s`, `m`, `h` or `d` (case-insensitive); no unit is milliseconds.
/// `60s`, `1m` and `60000` are the same. It never starts with the stamp's `@`.
pub fn parse_duration(bytes: &[u8], field: Field) -> Result<u64, ArgError> {
    let err = ArgError::Invalid(field);
    let split = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    let (digits, unit) = bytes.split_at(split);
    let scale = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(unit))
            .ok_or(err)?
            .1
    };
    let ms = parse_digits(digits)
        .and_then(|v| v.checked_mul(scale))
        .ok_or(err)?;
    if (1..=MAX_ARG).contains(&ms) {
        Ok(ms)
    } else {
        Err(err)
    }
}

/// A duration in the largest unit that divides it exactly: `1m`, `90s`, `1500ms`.
pub fn format_duration(ms: u64) -> String {
    let (name, scale) = UNITS
        .iter()
        .find(|(_, scale)| ms != 0 && ms.is_multiple_of(*scale))
        .unwrap_or(&("ms", 1));
    format!("{}{name}", ms / scale)
}

/// Parses one spec at the start of `args`: `algorithm limit period [BURST n] [COST n]`,
/// `args[0]` being argument `pos`. Stops before the next algorithm keyword; returns
/// the request and the arguments used.
pub fn parse_spec<A: AsRef<[u8]>>(
    args: &[A],
    pos: usize,
    form: Form,
    limits: &Limits,
) -> Result<(CheckRequest, usize, bool), Error> {
    let at = |i: usize| move |e: ArgError| e.at(pos + i);
    let arg = |i: usize, field: Field| {
        args.get(i)
            .map(AsRef::as_ref)
            .ok_or(ArgError::Missing(field).at(pos + i))
    };
    let word = arg(0, Field::Algorithm)?;
    let algorithm = Algorithm::from_keyword(word).ok_or(if parse_digits(word).is_some() {
        ArgError::NumberForAlgorithm.at(pos)
    } else {
        ArgError::Invalid(Field::Algorithm).at(pos)
    })?;
    let limit = parse_count(arg(1, Field::Limit)?, Field::Limit).map_err(at(1))?;
    // CALENDAR's period is a unit; the offset comes with the options.
    let (period, unit) = if algorithm == Algorithm::Calendar {
        let word = arg(2, Field::CalendarUnit)?;
        let unit =
            Unit::from_keyword(word).ok_or(ArgError::Invalid(Field::CalendarUnit).at(pos + 2))?;
        let nominal = Calendar {
            unit,
            offset_min: 0,
        }
        .nominal_ms();
        (nominal, Some(unit))
    } else {
        let period = parse_duration(arg(2, Field::Period)?, Field::Period).map_err(at(2))?;
        (period, None)
    };
    let mut values = [None; OPTIONS.len()];
    let mut at_most = false;
    let mut used = 3;
    while let Some(option) = args.get(used).map(AsRef::as_ref) {
        // AT_MOST: a flag with no value (RL.CHECK, TOKEN_BUCKET and GCRA).
        if option.eq_ignore_ascii_case(AT_MOST) {
            if form != Form::Check || !algorithm.has_burst() {
                return Err(ArgError::AtMostNotSupported.at(pos + used));
            }
            if at_most {
                return Err(ArgError::Repeated(Field::AtMost).at(pos + used));
            }
            at_most = true;
            used += 1;
            continue;
        }
        let Some(slot) = OPTIONS
            .iter()
            .position(|o| o.field.name().as_bytes().eq_ignore_ascii_case(option))
        else {
            if form == Form::Mcheck {
                if Algorithm::from_keyword(option).is_some() || is_policy(option) {
                    break;
                }
                return Err(ArgError::OptionOrSpec.at(pos + used));
            }
            return Err(ArgError::Invalid(Field::Option).at(pos + used));
        };
        let rule = &OPTIONS[slot];
        if values[slot].is_some() {
            return Err(ArgError::Repeated(rule.field).at(pos + used));
        }
        if !(rule.applies)(algorithm) {
            return Err(rule.refused.at(pos + used));
        }
        let value = args
            .get(used + 1)
            .ok_or(ArgError::Missing(rule.field).at(pos + used))?;
        values[slot] = Some((rule.value)(value.as_ref(), form).map_err(at(used + 1))?);
        used += 2;
    }
    let [burst, cost, block, offset] = values;
    if algorithm == Algorithm::SlidingLog {
        if period > MAX_PERIOD_MS {
            return Err(ArgError::LogPeriodTooLong.at(pos + 2));
        }
        if limit > limits.sliding_log_max_limit {
            return Err(ArgError::LogLimitTooHigh.at(pos + 1));
        }
    }
    let quota = Quota::new(limit, period, burst.unwrap_or(limit)).ok_or(Error::Internal)?;
    let calendar = unit.map(|unit| Calendar {
        unit,
        offset_min: offset.map_or(0, |o| o as i64 - MAX_OFFSET_MIN) as i16,
    });
    let req = CheckRequest {
        calendar,
        block_ms: block.unwrap_or(0),
        ..CheckRequest::new(algorithm, quota, cost.unwrap_or(1))
    };
    Ok((req, used, at_most))
}

/// The partial-grant flag of RL.CHECK.
const AT_MOST: &[u8] = b"AT_MOST";

/// The keyword that names a policy instead of a spec.
pub const POLICY: &[u8] = b"POLICY";
/// RL.CHECK's flag that only counts what a policy check would deny.
const SHADOW: &[u8] = b"SHADOW";

/// Whether `word` is the `POLICY` keyword (case-insensitive).
pub fn is_policy(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(POLICY)
}

/// `POLICY name [COST n] [SHADOW]`: a check against a stored policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyCall<'a> {
    /// The policy's name (looked up when the command runs).
    pub name: &'a [u8],
    /// Units asked (0 only from RL.PEEK).
    pub cost: u64,
    /// RL.CHECK's SHADOW flag: admit, counting what would be denied.
    pub shadow: bool,
}

/// Parses `POLICY name [COST n] [SHADOW]` at the start of `args` (`args[0]` is POLICY,
/// argument `pos`); RL.MCHECK stops before the next spec. Returns the call and the
/// arguments used.
pub fn parse_policy_spec<A: AsRef<[u8]>>(
    args: &[A],
    pos: usize,
    form: Form,
) -> Result<(PolicyCall<'_>, usize), Error> {
    let name = args
        .get(1)
        .map(AsRef::as_ref)
        .ok_or(Error::Policy(PolicyError::Name))?;
    if !crate::policy::valid_name(name) {
        return Err(Error::Policy(PolicyError::Name));
    }
    let mut call = PolicyCall {
        name,
        cost: 1,
        shadow: false,
    };
    let (mut cost_seen, mut used) = (false, 2);
    while let Some(option) = args.get(used).map(AsRef::as_ref) {
        if option.eq_ignore_ascii_case(b"COST") {
            if cost_seen {
                return Err(ArgError::Repeated(Field::Cost).at(pos + used));
            }
            let value = args
                .get(used + 1)
                .ok_or(ArgError::Missing(Field::Cost).at(pos + used))?;
            call.cost = parse_int(value.as_ref(), form.min_cost(), MAX_ARG, Field::Cost)
                .map_err(|e| e.at(pos + used + 1))?;
            cost_seen = true;
            used += 2;
        } else if form == Form::Check && option.eq_ignore_ascii_case(SHADOW) && !call.shadow {
            call.shadow = true;
            used += 1;
        } else if form == Form::Mcheck
            && (is_policy(option) || Algorithm::from_keyword(option).is_some())
        {
            break;
        } else {
            return Err(ArgError::PolicyOption.at(pos + used));
        }
    }
    Ok((call, used))
}

/// What one RL.CHECK, RL.PEEK or RL.MCHECK spec asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec<'a> {
    /// `algorithm limit period [BURST n] [COST n]`.
    Limit(CheckRequest),
    /// `POLICY name [COST n]`.
    Policy(PolicyCall<'a>),
}

impl Spec<'_> {
    /// The explicit request, if this spec is one.
    pub fn request(&self) -> Option<&CheckRequest> {
        match self {
            Spec::Limit(r) => Some(r),
            Spec::Policy(_) => None,
        }
    }

    /// Units asked.
    pub fn cost(&self) -> u64 {
        match self {
            Spec::Limit(r) => r.cost,
            Spec::Policy(p) => p.cost,
        }
    }
}

/// Parses RL.CHECK / RL.PEEK's `key POLICY name [COST n] [SHADOW]` (after the command
/// name), or `None` when the arguments are a spec.
pub fn parse_check_policy<A: AsRef<[u8]>>(
    args: &[A],
    form: Form,
) -> Option<Result<PolicyCall<'_>, Error>> {
    let word = args.get(1)?;
    is_policy(word.as_ref()).then(|| parse_policy_spec(&args[1..], 2, form).map(|(c, _)| c))
}

/// Parses the arguments of RL.CHECK / RL.PEEK after the command name: `args[0]` is the
/// key, the spec starts at argument 2.
pub fn parse_check<A: AsRef<[u8]>>(
    args: &[A],
    form: Form,
    limits: &Limits,
) -> Result<CheckRequest, Error> {
    parse_check_at_most(args, form, limits).map(|(req, _)| req)
}

/// Parses RL.CHECK's arguments as [`parse_check`] does, and whether `AT_MOST` was given
/// (a partial grant: admit what is available now, up to COST).
pub fn parse_check_at_most<A: AsRef<[u8]>>(
    args: &[A],
    form: Form,
    limits: &Limits,
) -> Result<(CheckRequest, bool), Error> {
    // key, the spec's three, BURST or UTC_OFFSET, COST and BLOCK with values, AT_MOST.
    if args.len() < 4 || args.len() > 11 {
        return Err(Error::WrongArity);
    }
    let (req, _, at_most) = parse_spec(&args[1..], 2, form, limits)?;
    Ok((req, at_most))
}

/// Parses `numkeys key [key ...] spec [spec ...]` (after the command name): the number
/// of keys and one request per key, in key order. When that fails and the first
/// algorithm keyword is not where numkeys says the specs start, the error says so.
pub fn parse_mcheck<'a, A: AsRef<[u8]>>(
    args: &'a [A],
    limits: &Limits,
) -> Result<(usize, Vec<Spec<'a>>), Error> {
    let Some(numkeys) = args.first() else {
        return Err(Error::WrongArity);
    };
    let n = parse_int(numkeys.as_ref(), 1, MAX_MCHECK_KEYS, Field::NumKeys).map_err(|e| e.at(1))?
        as usize;
    let parsed = parse_mcheck_specs(args, n, limits);
    match (parsed, mcheck_shape(&args[1..])) {
        // With the keys where numkeys puts them, the error found stands (a spec count
        // that differs is already a mismatch); otherwise numkeys is the mistake.
        (Err(_), Some((keys, specs))) if keys != n => Err(Error::NumKeysMismatch {
            numkeys: n as u32,
            keys: u32::try_from(keys).unwrap_or(u32::MAX),
            specs: u32::try_from(specs).unwrap_or(u32::MAX),
        }),
        (parsed, _) => parsed,
    }
}

fn parse_mcheck_specs<'a, A: AsRef<[u8]>>(
    args: &'a [A],
    n: usize,
    limits: &Limits,
) -> Result<(usize, Vec<Spec<'a>>), Error> {
    if args.len() <= n + 1 {
        return Err(Error::WrongArity);
    }
    let keys = &args[1..=n];
    let mut reqs = Vec::with_capacity(n);
    let mut next = 1 + n;
    while next < args.len() {
        if is_policy(args[next].as_ref()) {
            let (call, used) = parse_policy_spec(&args[next..], next + 1, Form::Mcheck)?;
            reqs.push(Spec::Policy(call));
            next += used;
            continue;
        }
        let (req, used, _) = parse_spec(&args[next..], next + 1, Form::Mcheck, limits)?;
        reqs.push(Spec::Limit(req));
        next += used;
    }
    if reqs.len() != n {
        return Err(Error::NumKeysMismatch {
            numkeys: n as u32,
            keys: n as u32,
            specs: u32::try_from(reqs.len()).unwrap_or(u32::MAX),
        });
    }
    if has_duplicates(keys.iter().map(AsRef::as_ref)) {
        return Err(Error::DuplicateKey);
    }
    Ok((n, reqs))
}

/// What follows numkeys, as far as it can be told without numkeys: the arguments
/// before the first algorithm keyword (the keys) and the algorithm keywords from there
/// on (the specs). `None` without any algorithm keyword.
fn mcheck_shape<A: AsRef<[u8]>>(rest: &[A]) -> Option<(usize, usize)> {
    let is_algorithm =
        |a: &A| is_policy(a.as_ref()) || Algorithm::from_keyword(a.as_ref()).is_some();
    let keys = rest.iter().position(is_algorithm)?;
    Some((
        keys,
        rest[keys..].iter().filter(|a| is_algorithm(a)).count(),
    ))
}

/// Whether any two of `items` are equal: sorted, so O(n log n) comparisons, not n²
/// (keys can be long and numerous).
pub fn has_duplicates<'a>(items: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut v: Vec<&[u8]> = items.collect();
    v.sort_unstable();
    v.windows(2).any(|w| w[0] == w[1])
}

/// A parsed redis-cell `CL.THROTTLE`: the equivalent GCRA request, and whether it only
/// reports (quantity 0). Its period stays in whole seconds, as redis-cell's.
pub fn parse_throttle<A: AsRef<[u8]>>(args: &[A]) -> Result<(CheckRequest, bool), Error> {
    if args.len() < 4 || args.len() > 5 {
        return Err(Error::WrongArity);
    }
    let max_burst =
        parse_int(args[1].as_ref(), 0, MAX_ARG - 1, Field::MaxBurst).map_err(|e| e.at(2))?;
    let count = parse_count(args[2].as_ref(), Field::CountPerPeriod).map_err(|e| e.at(3))?;
    let seconds = parse_int(args[3].as_ref(), 1, MAX_ARG / 1000, Field::PeriodSeconds)
        .map_err(|e| e.at(4))?;
    let quantity = match args.get(4) {
        Some(q) => parse_int(q.as_ref(), 0, MAX_ARG, Field::Quantity).map_err(|e| e.at(5))?,
        None => 1,
    };
    let quota = Quota::new(count, seconds * 1000, max_burst + 1).ok_or(Error::Internal)?;
    let req = CheckRequest::new(Algorithm::Gcra, quota, quantity.max(1));
    Ok((req, quantity == 0))
}

/// Parses `RL.REFUND key COST n` (after the command name): the units to give back.
pub fn parse_refund<A: AsRef<[u8]>>(args: &[A]) -> Result<u64, Error> {
    let [_key, option, value] = args else {
        return Err(Error::WrongArity);
    };
    if !option.as_ref().eq_ignore_ascii_case(b"COST") {
        return Err(ArgError::OnlyCost.at(2));
    }
    parse_count(value.as_ref(), Field::Cost).map_err(|e| e.at(3))
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
                return Err(ArgError::OnlyCost.at(4));
            }
            (limit, lease_ms, Some(value))
        }
        [_, _, _, option] if option.as_ref().eq_ignore_ascii_case(b"COST") => {
            return Err(ArgError::Missing(Field::Cost).at(4))
        }
        [_, _, _, _] => return Err(ArgError::OnlyCost.at(4)),
        _ => return Err(Error::WrongArity),
    };
    Ok(AcquireRequest {
        limit: parse_count(limit.as_ref(), Field::Limit).map_err(|e| e.at(2))?,
        lease_ms: parse_count(lease_ms.as_ref(), Field::LeaseMs).map_err(|e| e.at(3))?,
        units: match cost {
            Some(c) => parse_count(c.as_ref(), Field::Cost).map_err(|e| e.at(5))?,
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
        parse_count(lease_ms.as_ref(), Field::LeaseMs).map_err(|e| e.at(3))?,
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
            ("k 0 1000", ArgError::Invalid(Field::Limit).at(2)),
            ("k 10 0", ArgError::Invalid(Field::LeaseMs).at(3)),
            ("k 10 -5", ArgError::Invalid(Field::LeaseMs).at(3)),
            (
                "k 10 9223372036854775808",
                ArgError::Invalid(Field::LeaseMs).at(3),
            ),
            ("k 10 1000 COST 0", ArgError::Invalid(Field::Cost).at(5)),
            ("k 10 1000 COST", ArgError::Missing(Field::Cost).at(4)),
            ("k 10 1000 BURST 2", ArgError::OnlyCost.at(4)),
            ("k 10 1000 BURST", ArgError::OnlyCost.at(4)),
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
            Err(ArgError::Invalid(Field::LeaseMs).at(3))
        );
    }

    #[test]
    fn refund_takes_cost_n_only() {
        assert_eq!(parse_refund(&split("k COST 3")), Ok(3));
        assert_eq!(parse_refund(&split("k cost 1")), Ok(1));
        let table: &[(&str, Error)] = &[
            ("k COST", Error::WrongArity),
            ("k COST 1 X", Error::WrongArity),
            ("k BURST 1", ArgError::OnlyCost.at(2)),
            ("k COST 0", ArgError::Invalid(Field::Cost).at(3)),
            ("k COST x", ArgError::Invalid(Field::Cost).at(3)),
        ];
        for (line, want) in table {
            assert_eq!(parse_refund(&split(line)), Err(*want), "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArgError::*;
    use Field::{
        Burst, Cost, CountPerPeriod, Limit, MaxBurst, NumKeys, Period, PeriodSeconds, Quantity,
    };

    const LIMITS: Limits = Limits {
        sliding_log_max_limit: 100,
    };

    fn split(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn parse(line: &str) -> Result<CheckRequest, Error> {
        parse_check(&split(line), Form::Check, &LIMITS)
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
    fn periods_take_a_unit_and_a_bare_number_is_milliseconds() {
        let table: &[(&str, u64)] = &[
            ("1", 1),
            ("60000", 60_000),
            ("250ms", 250),
            ("250MS", 250),
            ("60s", 60_000),
            ("1m", 60_000),
            ("1M", 60_000),
            ("90s", 90_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("007s", 7_000),
            ("9223372036854775807ms", i64::MAX as u64),
            ("9223372036854775s", 9_223_372_036_854_775_000),
            ("106751991167d", 106_751_991_167 * 86_400_000),
        ];
        for (text, ms) in table {
            assert_eq!(parse_duration(text.as_bytes(), Period), Ok(*ms), "{text}");
            let r = parse(&format!("k GCRA 10 {text}")).unwrap();
            assert_eq!(r.quota.period_ms(), *ms, "{text}");
        }
        for bad in [
            "",
            "0",
            "0s",
            "0ms",
            "s",
            "ms",
            "-1s",
            "+1s",
            "1.5s",
            "1 s",
            "1s ",
            " 1s",
            "1e3",
            "1sec",
            "1min",
            "1w",
            "1y",
            "1ss",
            "1mss",
            "1hm",
            "@1000",
            "1000@",
            "1µs",
            "9223372036854775808",
            "9223372036854776s",
            "106751991168d",
            "99999999999999999999ms",
        ] {
            assert_eq!(
                parse_duration(bad.as_bytes(), Period),
                Err(Invalid(Period)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit_and_parse_back() {
        let table: &[(u64, &str)] = &[
            (1, "1ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_500, "1500ms"),
            (60_000, "1m"),
            (90_000, "90s"),
            (3_600_000, "1h"),
            (5_400_000, "90m"),
            (86_400_000, "1d"),
            (172_800_000, "2d"),
            (i64::MAX as u64, "9223372036854775807ms"),
        ];
        for (ms, text) in table {
            assert_eq!(format_duration(*ms), *text);
        }
        for ms in (1..5000).chain([59_999, 60_001, 86_399_999, 86_400_001]) {
            assert_eq!(
                parse_duration(format_duration(ms).as_bytes(), Period),
                Ok(ms)
            );
        }
    }

    #[test]
    fn errors_name_the_argument_and_what_was_expected_there() {
        let table: &[(&str, Error)] = &[
            (
                "k GCRA 10 1000 BURST 1 COST 1 BLOCK 1 AT_MOST X",
                Error::WrongArity,
            ),
            (
                "k GCRA 10 1000 BURST 1 COST 1 AT_MOST X",
                Invalid(Field::Option).at(10),
            ),
            ("k GCRA 10 1000 BLOCK 0", Invalid(Field::Block).at(6)),
            ("k GCRA 10 1000 UTC_OFFSET 60", UtcOffsetNotSupported.at(5)),
            ("k CALENDAR 10 YEAR", Invalid(Field::CalendarUnit).at(4)),
            (
                "k CALENDAR 10 DAY UTC_OFFSET 1081",
                Invalid(Field::UtcOffset).at(6),
            ),
            (
                "k CALENDAR 10 DAY UTC_OFFSET",
                Missing(Field::UtcOffset).at(5),
            ),
            ("k LEAKY 10 1000", Invalid(Field::Algorithm).at(2)),
            ("k 10 1000 TOKEN_BUCKET", NumberForAlgorithm.at(2)),
            ("k 10 GCRA 1000", NumberForAlgorithm.at(2)),
            ("k GCRA 0 1000", Invalid(Limit).at(3)),
            ("k GCRA -1 1000", Invalid(Limit).at(3)),
            ("k GCRA +1 1000", Invalid(Limit).at(3)),
            ("k GCRA 1.5 1000", Invalid(Limit).at(3)),
            ("k GCRA  1000", Invalid(Limit).at(3)),
            ("k GCRA 9223372036854775808 1000", Invalid(Limit).at(3)),
            ("k GCRA 99999999999999999999999 1000", Invalid(Limit).at(3)),
            ("k GCRA 1m 1000", Invalid(Limit).at(3)),
            ("k GCRA 10 0", Invalid(Period).at(4)),
            ("k GCRA 10 1e3", Invalid(Period).at(4)),
            ("k GCRA 10 1min", Invalid(Period).at(4)),
            ("k GCRA 10 1000 BURST 0", Invalid(Burst).at(6)),
            ("k GCRA 10 1000 COST 0", Invalid(Cost).at(6)),
            ("k GCRA 10 1000 COST -3", Invalid(Cost).at(6)),
            ("k GCRA 10 1000 COST 1 BURST 1s", Invalid(Burst).at(8)),
            ("k GCRA 10 1000 BURST", Missing(Burst).at(5)),
            ("k GCRA 10 1000 COST 1 BURST", Missing(Burst).at(7)),
            ("k GCRA 10 1000 BURST 1 BURST 2", Repeated(Burst).at(7)),
            ("k GCRA 10 1000 COST 1 COST 2", Repeated(Cost).at(7)),
            ("k GCRA 10 1000 SPEED 2", Invalid(Field::Option).at(5)),
            ("k GCRA 10 1000 GCRA 2", Invalid(Field::Option).at(5)),
            ("k GCRA 10 1000 COST 1 @12", Invalid(Field::Option).at(7)),
            ("k FIXED_WINDOW 10 1000 BURST 5", BurstNotSupported.at(5)),
            ("k SLIDING_LOG 101 1000", LogLimitTooHigh.at(3)),
            ("k SLIDING_LOG 10 4294967296", LogPeriodTooLong.at(4)),
            ("k SLIDING_LOG 10 50d", LogPeriodTooLong.at(4)),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Err(*want), "{line}");
        }
    }

    #[test]
    fn only_peek_takes_cost_zero() {
        let line = split("k GCRA 10 1m COST 0");
        assert_eq!(parse_check(&line, Form::Peek, &LIMITS).unwrap().cost, 0);
        assert_eq!(
            parse_check(&line, Form::Check, &LIMITS),
            Err(Invalid(Cost).at(6))
        );
        assert_eq!(
            parse_mcheck(&split("1 a GCRA 10 1m COST 0"), &LIMITS).map(|r| r.0),
            Err(Invalid(Cost).at(7))
        );
        assert_eq!(
            parse_check(&split("k GCRA 10 1m COST -1"), Form::Peek, &LIMITS),
            Err(Invalid(Cost).at(6))
        );
    }

    #[test]
    fn mcheck_takes_one_spec_per_key() {
        let words = split("2 a b GCRA 10 1s BURST 3 SLIDING_LOG 5 1m COST 2");
        let (n, reqs) = parse_mcheck(&words, &LIMITS).unwrap();
        assert_eq!(n, 2);
        let reqs: Vec<CheckRequest> = reqs.iter().map(|s| *s.request().unwrap()).collect();
        assert_eq!(
            (reqs[0].quota.burst(), reqs[0].quota.period_ms()),
            (3, 1000)
        );
        assert_eq!(
            (reqs[1].algorithm, reqs[1].cost, reqs[1].quota.period_ms()),
            (Algorithm::SlidingLog, 2, 60_000)
        );
    }

    #[test]
    fn mcheck_errors_count_keys_and_specs_or_name_the_argument() {
        let mismatch = |numkeys, keys, specs| Error::NumKeysMismatch {
            numkeys,
            keys,
            specs,
        };
        let table: &[(&str, Error)] = &[
            ("0 GCRA 1 1", Invalid(NumKeys).at(1)),
            ("1025 a", Invalid(NumKeys).at(1)),
            ("x a GCRA 1 1", Invalid(NumKeys).at(1)),
            // numkeys disagrees with what follows.
            ("1 k:a k:b GCRA 1 1000", mismatch(1, 2, 1)),
            ("2 a b GCRA 1 1", mismatch(2, 2, 1)),
            ("1 a GCRA 1 1 GCRA 1 1", mismatch(1, 1, 2)),
            ("2 a b GCRA 1 1 GCRA 1 1 GCRA 1 1", mismatch(2, 2, 3)),
            ("3 a b GCRA 1 1 GCRA 1 1", mismatch(3, 2, 2)),
            ("1 a b c GCRA 1 1 GCRA 1 1", mismatch(1, 3, 2)),
            // numkeys agrees: the spec's own error, at its position.
            ("2 a a GCRA 1 1 GCRA 1 1", Error::DuplicateKey),
            ("1 a GCRA 1 1 COST 0", Invalid(Cost).at(7)),
            ("1 a GCRA 1 1 COST 0 GCRA", Invalid(Cost).at(7)),
            ("2 a b GCRA 1 1 LEAKY 1 1", OptionOrSpec.at(7)),
            ("1 a GCRA 0 1", Invalid(Limit).at(4)),
            ("2 a b GCRA 1 1 GCRA 1 0", Invalid(Period).at(9)),
            ("2 a b GCRA 1 1 GCRA 1", Missing(Period).at(9)),
            ("2 a b GCRA 1 1 GCRA", Missing(Limit).at(8)),
            ("1 a GCRA 1 1 SPEED 2", OptionOrSpec.at(6)),
            ("1 a GCRA 1 1 BURST 2 BURST 3", Repeated(Burst).at(8)),
            ("1 a LEAKY 1 1", Invalid(Field::Algorithm).at(3)),
            ("1 a 1 1 GCRA", mismatch(1, 3, 1)),
            ("2 a b 5 GCRA 1 1 GCRA 1", mismatch(2, 3, 2)),
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
    fn policy_specs_take_a_name_cost_and_on_rl_check_shadow() {
        let p = |line: &str, form| {
            let words = split(line);
            parse_check_policy(&words, form)
                .unwrap()
                .map(|c| (c.name.to_vec(), c.cost, c.shadow))
        };
        assert_eq!(
            p("k POLICY free", Form::Check),
            Ok((b"free".to_vec(), 1, false))
        );
        assert_eq!(
            p("k policy pro COST 3 shadow", Form::Check),
            Ok((b"pro".to_vec(), 3, true))
        );
        assert_eq!(
            p("k POLICY pro COST 0", Form::Peek),
            Ok((b"pro".to_vec(), 0, false))
        );
        assert!(parse_check_policy(&split("k GCRA 1 1"), Form::Check).is_none());
        let table: &[(&str, Form, Error)] = &[
            ("k POLICY", Form::Check, Error::Policy(PolicyError::Name)),
            (
                "k POLICY a:b! ",
                Form::Check,
                Error::Policy(PolicyError::Name),
            ),
            ("k POLICY p COST 0", Form::Check, Invalid(Cost).at(5)),
            ("k POLICY p COST", Form::Check, Missing(Cost).at(4)),
            (
                "k POLICY p COST 1 COST 1",
                Form::Check,
                Repeated(Cost).at(6),
            ),
            ("k POLICY p SHADOW", Form::Peek, PolicyOption.at(4)),
            ("k POLICY p SHADOW SHADOW", Form::Check, PolicyOption.at(5)),
            ("k POLICY p BURST 2", Form::Check, PolicyOption.at(4)),
            ("k POLICY p AT_MOST", Form::Check, PolicyOption.at(4)),
        ];
        for (line, form, want) in table {
            assert_eq!(p(line, *form), Err(*want), "{line}");
        }
        let words = split("2 a b POLICY free COST 2 GCRA 1 1s");
        let (n, specs) = parse_mcheck(&words, &LIMITS).unwrap();
        assert_eq!(n, 2);
        assert!(matches!(specs[0], Spec::Policy(PolicyCall { cost: 2, .. })));
        assert_eq!(specs[1].request().unwrap().algorithm, Algorithm::Gcra);
        let words = split("2 a b POLICY x POLICY y");
        assert_eq!(parse_mcheck(&words, &LIMITS).unwrap().1.len(), 2);
        let mcheck_error = |line: &str| {
            let words = split(line);
            parse_mcheck(&words, &LIMITS).map(|r| r.0)
        };
        assert_eq!(
            mcheck_error("1 a b POLICY x"),
            Err(Error::NumKeysMismatch {
                numkeys: 1,
                keys: 2,
                specs: 1
            })
        );
        assert_eq!(mcheck_error("1 a POLICY x SHADOW"), Err(PolicyOption.at(5)));
    }

    #[test]
    fn throttle_maps_onto_gcra_with_whole_seconds() {
        let (r, peek) = parse_throttle(&split("k 15 30 60")).unwrap();
        assert_eq!(
            (r.quota.limit(), r.quota.period_ms(), r.quota.burst()),
            (30, 60_000, 16)
        );
        assert!(!peek);
        assert!(parse_throttle(&split("k 15 30 60 0")).unwrap().1);
        let table: &[(&str, Error)] = &[
            ("k -1 30 60", Invalid(MaxBurst).at(2)),
            ("k 1 0 60", Invalid(CountPerPeriod).at(3)),
            ("k 1 1 9223372036854776", Invalid(PeriodSeconds).at(4)),
            ("k 1 1 60s", Invalid(PeriodSeconds).at(4)),
            ("k 1 1 60 -1", Invalid(Quantity).at(5)),
        ];
        for (line, want) in table {
            assert_eq!(
                parse_throttle(&split(line)).map(|r| r.1),
                Err(*want),
                "{line}"
            );
        }
    }

    #[test]
    fn error_messages_name_position_and_role_never_bytes() {
        let e = |line: &str| parse(line).unwrap_err().to_string();
        assert_eq!(
            e("k 10 1000 TOKEN_BUCKET"),
            "ERR argument 2 (algorithm): expected TOKEN_BUCKET, GCRA, FIXED_WINDOW, SLIDING_WINDOW, SLIDING_LOG or CALENDAR; got a number: is limit before the algorithm? a spec is: algorithm limit period [BURST n] [COST n] [BLOCK ms]"
        );
        assert_eq!(
            e("k GCRA 10 1000 BURST 1 BURST 2"),
            "ERR argument 7 (BURST): given more than once"
        );
        assert!(e("k GCRA 10 0").starts_with("ERR argument 4 (period): expected a duration"));
        for line in [
            "ZZk ZZalgo 1 1",
            "k GCRA ZZl 1",
            "k GCRA 1 ZZp",
            "k GCRA 1 1 ZZo 1",
        ] {
            assert!(!e(line).contains("ZZ"), "{line}");
        }
        let m = parse_mcheck(&split("1 k:a k:b GCRA 1 1000"), &LIMITS).unwrap_err();
        assert_eq!(
            m.to_string(),
            "ERR numkeys is 1 but 2 keys and 1 spec follow; RL.MCHECK takes numkeys, then that many keys, then one spec per key"
        );
        assert!(Error::WrongType.to_string().starts_with("WRONGTYPE "));
    }

    #[test]
    fn at_most_is_a_flag_of_rl_check_on_the_bucket_algorithms() {
        let parse = |line: &str, form| parse_check_at_most(&split(line), form, &LIMITS);
        let (r, at_most) = parse("k GCRA 10 1m COST 5 AT_MOST", Form::Check).unwrap();
        assert!(at_most && r.cost == 5);
        assert!(
            parse("k token_bucket 10 1m at_most COST 2", Form::Check)
                .unwrap()
                .1
        );
        assert!(!parse("k GCRA 10 1m COST 5", Form::Check).unwrap().1);
        let table: &[(&str, Form, Error)] = &[
            (
                "k FIXED_WINDOW 10 1m AT_MOST",
                Form::Check,
                AtMostNotSupported.at(5),
            ),
            ("k GCRA 10 1m AT_MOST", Form::Peek, AtMostNotSupported.at(5)),
            (
                "k GCRA 10 1m AT_MOST AT_MOST",
                Form::Check,
                Repeated(Field::AtMost).at(6),
            ),
        ];
        for (line, form, want) in table {
            assert_eq!(parse(line, *form).map(|r| r.1), Err(*want), "{line}");
        }
    }
}
