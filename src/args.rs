//! Argument parsing into typed requests. All validation and its messages live here.
//! Parsing reads the argument bytes in place: nothing is allocated per argument.

use crate::algorithms::{Algorithm, Quota, MAX_ARG};
use crate::error::{Error, Field};

/// A parsed `RL.CHECK key algorithm limit period_ms [BURST n] [COST n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// The algorithm asked for.
    pub algorithm: Algorithm,
    /// limit, period and burst.
    pub quota: Quota,
    /// Units this request takes.
    pub cost: u64,
}

/// Parses a decimal integer in `1..=i64::MAX`: digits only, no sign, no spaces.
pub fn parse_count(bytes: &[u8], field: Field) -> Result<u64, Error> {
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
    if (1..=MAX_ARG).contains(&v) {
        Ok(v)
    } else {
        Err(err)
    }
}

/// Parses the arguments of RL.CHECK after the command name: `args[0]` is the key.
pub fn parse_check<A: AsRef<[u8]>>(args: &[A]) -> Result<CheckRequest, Error> {
    if args.len() < 4 || args.len() > 8 {
        return Err(Error::WrongArity);
    }
    let algorithm = Algorithm::from_keyword(args[1].as_ref()).ok_or(Error::UnknownAlgorithm)?;
    let limit = parse_count(args[2].as_ref(), Field::Limit)?;
    let period = parse_count(args[3].as_ref(), Field::Period)?;
    let mut burst = None;
    let mut cost = None;
    let mut rest = args[4..].iter();
    while let Some(option) = rest.next() {
        let option = option.as_ref();
        let (slot, field) = if option.eq_ignore_ascii_case(b"BURST") {
            (&mut burst, Field::Burst)
        } else if option.eq_ignore_ascii_case(b"COST") {
            (&mut cost, Field::Cost)
        } else {
            return Err(Error::UnknownOption);
        };
        if slot.is_some() {
            return Err(Error::RepeatedOption(field));
        }
        let value = rest.next().ok_or(Error::MissingValue(field))?;
        *slot = Some(parse_count(value.as_ref(), field)?);
    }
    let quota = Quota::new(limit, period, burst.unwrap_or(limit)).ok_or(Error::Internal)?;
    Ok(CheckRequest {
        algorithm,
        quota,
        cost: cost.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<CheckRequest, Error> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        parse_check(&args)
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
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Err(*want), "{line}");
        }
    }

    #[test]
    fn error_messages_start_with_a_code_word_and_say_what_is_accepted() {
        let e = Error::BadNumber(Field::Period).to_string();
        assert!(e.starts_with("ERR period_ms must be an integer between 1 and"));
        assert!(Error::WrongType.to_string().starts_with("WRONGTYPE "));
    }
}
