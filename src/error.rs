//! The one error type of the module. Each message starts with the Redis error code
//! word, says what is accepted, and never contains argument or key bytes: an error
//! about one argument names its position and role (`ERR argument 3 (limit): ...`),
//! an RL.MCHECK shape error only counts.
//!
//! Every variant is `Copy`; the few that carry numbers are rendered into a small
//! fixed buffer ([`Message`]) without allocating or panicking.

use std::ffi::CStr;
use std::fmt::{self, Write as _};

/// The role of an argument, as error messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A spec's algorithm keyword.
    Algorithm,
    /// `limit`.
    Limit,
    /// `period` (a duration).
    Period,
    /// `BURST n`.
    Burst,
    /// `COST n`.
    Cost,
    /// An argument in an option's place after `period`.
    Option,
    /// RL.MCHECK `numkeys`.
    NumKeys,
    /// CL.THROTTLE `max_burst`.
    MaxBurst,
    /// CL.THROTTLE `count_per_period`.
    CountPerPeriod,
    /// CL.THROTTLE `period_seconds`.
    PeriodSeconds,
    /// CL.THROTTLE `quantity`.
    Quantity,
    /// RL.ACQUIRE / RL.RENEW `lease_ms`.
    LeaseMs,
    /// RL.CHECK's `AT_MOST` flag.
    AtMost,
    /// `BLOCK ms` (RL.CHECK, RL.PEEK, RL.MCHECK) and RL.BLOCK's `ms`.
    Block,
    /// CALENDAR's `UTC_OFFSET minutes`.
    UtcOffset,
    /// CALENDAR's period: `DAY`, `WEEK` or `MONTH`.
    CalendarUnit,
}

impl Field {
    /// The name in an error message (the option keyword for options).
    pub fn name(self) -> &'static str {
        match self {
            Field::Algorithm => "algorithm",
            Field::Limit => "limit",
            Field::Period => "period",
            Field::Burst => "BURST",
            Field::Cost => "COST",
            Field::Option => "option",
            Field::NumKeys => "numkeys",
            Field::MaxBurst => "max_burst",
            Field::CountPerPeriod => "count_per_period",
            Field::PeriodSeconds => "period_seconds",
            Field::Quantity => "quantity",
            Field::LeaseMs => "lease_ms",
            Field::AtMost => "AT_MOST",
            Field::Block => "BLOCK",
            Field::UtcOffset => "UTC_OFFSET",
            Field::CalendarUnit => "period",
        }
    }

    /// What a well-formed value of this field is.
    fn accepted(self) -> &'static str {
        const ONE_TO_MAX: &str = "expected an integer between 1 and 9223372036854775807";
        match self {
            Field::Algorithm => ALGORITHMS,
            Field::Limit | Field::Burst | Field::CountPerPeriod | Field::LeaseMs => ONE_TO_MAX,
            Field::Cost => {
                "expected an integer between 1 and 9223372036854775807 (RL.PEEK also takes 0)"
            }
            Field::Period | Field::Block => DURATION,
            Field::Option => {
                "expected BURST n, COST n, BLOCK ms, UTC_OFFSET minutes (CALENDAR) or AT_MOST"
            }
            Field::UtcOffset => "expected whole minutes east of UTC between -1080 and 1080",
            Field::CalendarUnit => "a CALENDAR period is DAY, WEEK or MONTH",
            Field::AtMost => "a flag with no value",
            Field::NumKeys => "expected an integer between 1 and 1024",
            Field::MaxBurst => "expected an integer between 0 and 9223372036854775806",
            Field::PeriodSeconds => "expected an integer between 1 and 9223372036854775",
            Field::Quantity => "expected an integer between 0 and 9223372036854775807",
        }
    }
}

const ALGORITHMS: &str =
    "expected TOKEN_BUCKET, GCRA, FIXED_WINDOW, SLIDING_WINDOW, SLIDING_LOG or CALENDAR";
const DURATION: &str = "expected a duration from 1ms to 9223372036854775807ms: digits, optionally followed by ms, s, m, h or d (no unit: milliseconds)";
const SPEC: &str = "a spec is: algorithm limit period [BURST n] [COST n] [BLOCK ms]";

/// What is wrong with one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// Not a well-formed value of the field (a number out of range, a bad duration,
    /// an unknown algorithm or option).
    Invalid(Field),
    /// A number where the algorithm belongs: arguments in the wrong order.
    NumberForAlgorithm,
    /// An unknown word after an RL.MCHECK spec's period.
    OptionOrSpec,
    /// The command ends where this field belongs (after an option keyword: its value).
    Missing(Field),
    /// An option given twice.
    Repeated(Field),
    /// BURST given to a window algorithm.
    BurstNotSupported,
    /// A SLIDING_LOG period above `u32::MAX` ms.
    LogPeriodTooLong,
    /// A SLIDING_LOG limit above the configured cap.
    LogLimitTooHigh,
    /// RL.ACQUIRE and RL.REFUND take only `COST n` here.
    OnlyCost,
    /// `AT_MOST` outside RL.CHECK with TOKEN_BUCKET or GCRA.
    AtMostNotSupported,
    /// After `POLICY name`: only `COST n` (and RL.CHECK's `SHADOW`).
    PolicyOption,
    /// `UTC_OFFSET` given to an algorithm other than CALENDAR.
    UtcOffsetNotSupported,
}

impl ArgError {
    /// The role named in the message.
    pub fn field(self) -> Field {
        match self {
            ArgError::Invalid(f) | ArgError::Missing(f) | ArgError::Repeated(f) => f,
            ArgError::NumberForAlgorithm => Field::Algorithm,
            ArgError::OptionOrSpec | ArgError::OnlyCost | ArgError::PolicyOption => Field::Option,
            ArgError::AtMostNotSupported => Field::AtMost,
            ArgError::UtcOffsetNotSupported => Field::UtcOffset,
            ArgError::BurstNotSupported => Field::Burst,
            ArgError::LogPeriodTooLong => Field::Period,
            ArgError::LogLimitTooHigh => Field::Limit,
        }
    }

    /// The same error at argument `pos` (1: the first after the command name).
    pub fn at(self, pos: usize) -> Error {
        Error::Arg {
            pos: u32::try_from(pos).unwrap_or(u32::MAX),
            what: self,
        }
    }

    fn write(self, w: &mut impl fmt::Write) -> fmt::Result {
        match self {
            ArgError::Invalid(f) => w.write_str(f.accepted()),
            ArgError::NumberForAlgorithm => write!(
                w,
                "{ALGORITHMS}; got a number: is limit before the algorithm? {SPEC}"
            ),
            ArgError::OptionOrSpec => w.write_str(
                "expected BURST n, COST n, BLOCK ms, UTC_OFFSET minutes or the next spec's algorithm",
            ),
            ArgError::Missing(Field::Burst | Field::Cost | Field::Block | Field::UtcOffset) => {
                w.write_str("needs a value")
            }
            ArgError::Missing(f) => write!(w, "missing, {}; {SPEC}", f.accepted()),
            ArgError::Repeated(_) => w.write_str("given more than once"),
            ArgError::BurstNotSupported => w.write_str("applies only to TOKEN_BUCKET and GCRA"),
            ArgError::LogPeriodTooLong => {
                w.write_str("a SLIDING_LOG period is at most 4294967295ms (about 49 days)")
            }
            ArgError::LogLimitTooHigh => {
                w.write_str("a SLIDING_LOG limit is at most ratelimit.sliding-log-max-limit")
            }
            ArgError::OnlyCost => w.write_str("expected COST n"),
            ArgError::AtMostNotSupported => {
                w.write_str("applies only to RL.CHECK with TOKEN_BUCKET or GCRA")
            }
            ArgError::PolicyOption => {
                w.write_str("after POLICY name: COST n, and on RL.CHECK also SHADOW")
            }
            ArgError::UtcOffsetNotSupported => w.write_str("applies only to CALENDAR"),
        }
    }
}

/// Everything that can go wrong in a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Too few or too many arguments.
    WrongArity,
    /// The key holds a value of another type.
    WrongType,
    /// One argument is wrong; `pos` counts from 1 after the command name.
    Arg {
        /// The argument's position.
        pos: u32,
        /// What is wrong with it.
        what: ArgError,
    },
    /// RL.MCHECK: numkeys disagrees with the keys and specs that follow it (counted up
    /// to the first algorithm keyword, and by algorithm keywords from there).
    NumKeysMismatch {
        /// The numkeys argument.
        numkeys: u32,
        /// Arguments before the first algorithm keyword.
        keys: u32,
        /// Algorithm keywords from the first one on.
        specs: u32,
    },
    /// The key holds a limiter of another algorithm.
    AlgorithmMismatch,
    /// An RL.APPLY SLIDING_LOG payload above the configured cap.
    LogLimitTooHigh,
    /// RL.MCHECK: a key named twice.
    DuplicateKey,
    /// RL.STATS with an argument other than RESET.
    UnknownSubcommand,
    /// An `RL.APPLY` payload failed validation.
    BadPayload,
    /// A check from the primary or the AOF without the time stamp it is evaluated at.
    MissingStamp,
    /// A Redis API call failed where it should not.
    Internal,
    /// A panic was caught (a bug; logged to the Redis log).
    Panic,
    /// RL.RELEASE / RL.RENEW: a lease id that is not 16 hexadecimal digits.
    BadLeaseId,
    /// Policy JSON that does not parse, and where.
    Json {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What is wrong there.
        what: JsonError,
    },
    /// A policy limit's field is out of range: RL.CHECK's message for that argument.
    PolicyLimit {
        /// The limit's position in the policy, from 1.
        index: u8,
        /// What is wrong with it.
        what: ArgError,
    },
    /// Anything else wrong with a policy or RL.POLICY.
    Policy(PolicyError),
}

/// Why policy JSON text does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON.
    Syntax,
    /// The text ends inside a value.
    Eof,
}

/// What is wrong with a policy, a policy set or an RL.POLICY call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The JSON is not an object.
    NotAnObject,
    /// A policy field other than limits and shadow.
    UnknownField,
    /// shadow is not a boolean.
    Shadow,
    /// limits is missing, not an array, empty or longer than eight.
    LimitCount,
    /// Limit n is not an object or has an unknown field.
    LimitField(u8),
    /// Limit n gives both period_ms and period.
    TwoPeriods(u8),
    /// Limit n gives both block_ms and block.
    TwoBlocks(u8),
    /// RL.POLICY LOAD's JSON (or the policy file) is not `{"policies": {...}}`.
    SetShape,
    /// A policy name that is empty, too long or has other bytes.
    Name,
    /// More policies than ratelimit.max-policies.
    TooMany,
    /// RL.CHECK / RL.PEEK / RL.MCHECK name a policy that does not exist.
    Unknown,
    /// RL.POLICY RELOAD without ratelimit.policy-file.
    NoFile,
    /// The policy file cannot be read.
    FileUnreadable,
    /// An RL.POLICY write sent by a client to a replica.
    Replica,
    /// An RL.POLICY write while the AOF is on without the RDB preamble.
    NoPreamble,
    /// An RL.POLICY subcommand other than the seven.
    Subcommand,
}

impl Error {
    /// The text of a variant that carries no numbers.
    fn fixed(&self) -> Option<&'static str> {
        Some(match self {
            Error::WrongArity => "ERR wrong number of arguments",
            Error::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
            Error::AlgorithmMismatch => "ERR key holds a limiter of another algorithm (RL.INSPECT shows which): check it with that algorithm or use another key name; an operator (the admin user) can delete it with RL.RESET",
            Error::LogLimitTooHigh => {
                "ERR SLIDING_LOG limit is above ratelimit.sliding-log-max-limit"
            }
            Error::DuplicateKey => "ERR a key appears more than once in RL.MCHECK",
            Error::UnknownSubcommand => {
                "ERR unknown subcommand; RL.STATS takes no argument or RESET"
            }
            Error::BadPayload => "ERR invalid RL.APPLY payload",
            Error::MissingStamp => {
                "ERR a command from the primary or the AOF must end with its @<unix ms> time stamp"
            }
            Error::Internal => "ERR internal error in ratelimit module",
            Error::Panic => "ERR internal error in ratelimit module (a bug; see the Redis log)",
            Error::BadLeaseId => "ERR lease_id must be the 16 hexadecimal digits RL.ACQUIRE replied",
            Error::Policy(p) => return p.fixed(),
            Error::Arg { .. }
            | Error::NumKeysMismatch { .. }
            | Error::Json { .. }
            | Error::PolicyLimit { .. } => return None,
        })
    }

    /// The reply text, for `RedisModule_ReplyWithError`.
    pub fn message(&self) -> Message {
        let mut m = Message::default();
        // Message never fails; a text longer than its buffer is cut.
        let _ = write!(m, "{self}");
        m
    }
}

fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Arg { pos, what } => {
                write!(f, "ERR argument {pos} ({}): ", what.field().name())?;
                what.write(f)
            }
            Error::NumKeysMismatch {
                numkeys,
                keys,
                specs,
            } => write!(
                f,
                "ERR numkeys is {numkeys} but {keys} {} and {specs} {} follow; RL.MCHECK takes numkeys, then that many keys, then one spec per key",
                plural(keys, "key", "keys"),
                plural(specs, "spec", "specs"),
            ),
            Error::Json { line, column, what } => write!(
                f,
                "ERR policy JSON {} at line {line} column {column}",
                match what {
                    JsonError::Syntax => "is malformed",
                    JsonError::Eof => "ends early",
                }
            ),
            Error::PolicyLimit { index, what } => {
                write!(f, "ERR policy limit {index} ({}): ", what.field().name())?;
                what.write(f)
            }
            Error::Policy(PolicyError::LimitField(n)) => write!(
                f,
                "ERR policy limit {n} is not an object of algorithm, limit, period_ms or period, burst, utc_offset, block_ms or block"
            ),
            Error::Policy(PolicyError::TwoPeriods(n)) => write!(
                f,
                "ERR policy limit {n} gives both period_ms and period: give one"
            ),
            Error::Policy(PolicyError::TwoBlocks(n)) => write!(
                f,
                "ERR policy limit {n} gives both block_ms and block: give one"
            ),
            _ => f.write_str(self.fixed().unwrap_or("ERR")),
        }
    }
}

impl PolicyError {
    /// The text of a variant that carries no numbers.
    fn fixed(self) -> Option<&'static str> {
        Some(match self {
            PolicyError::NotAnObject => "ERR a policy is a JSON object: {\"limits\": [limit, ...], \"shadow\": false}",
            PolicyError::UnknownField => "ERR a policy takes only the fields limits and shadow",
            PolicyError::Shadow => "ERR a policy's shadow is true or false",
            PolicyError::LimitCount => "ERR a policy's limits is an array of 1 to 8 limits",
            PolicyError::SetShape => "ERR a policy set is {\"policies\": {\"name\": policy, ...}}",
            PolicyError::Name => "ERR a policy name is 1 to 128 bytes of letters, digits, _, -, . or :",
            PolicyError::TooMany => "ERR that would make more policies than ratelimit.max-policies",
            PolicyError::Unknown => "ERR no such policy (RL.POLICY LIST shows them)",
            PolicyError::NoFile => "ERR ratelimit.policy-file is not set",
            PolicyError::FileUnreadable => "ERR ratelimit.policy-file cannot be read",
            PolicyError::Replica => "READONLY RL.POLICY writes go to the primary, which replicates them",
            PolicyError::NoPreamble => "ERR RL.POLICY writes need aof-use-rdb-preamble yes while appendonly is on: an AOF without the RDB preamble has no place for policies",
            PolicyError::Subcommand => "ERR unknown subcommand; RL.POLICY takes SET, GET, DEL, LIST, LOAD, RELOAD or DIGEST",
            PolicyError::LimitField(_) | PolicyError::TwoPeriods(_) | PolicyError::TwoBlocks(_) => {
                return None
            }
        })
    }
}

impl std::error::Error for Error {}

/// An error's reply text, NUL-terminated in a fixed buffer (no allocation).
pub struct Message {
    buf: [u8; Message::CAPACITY + 1],
    len: usize,
}

impl Message {
    /// The longest text kept; longer ones are cut (none is this long).
    pub const CAPACITY: usize = 319;

    /// The text as a C string.
    pub fn as_c_str(&self) -> &CStr {
        // The buffer past `len` is zero and no text holds a NUL byte.
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or(c"ERR")
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("ERR")
    }
}

impl Default for Message {
    fn default() -> Self {
        Message {
            buf: [0; Message::CAPACITY + 1],
            len: 0,
        }
    }
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == Message::CAPACITY {
                break;
            }
            // A NUL would end the C string early.
            self.buf[self.len] = if b == 0 { b' ' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message the module can reply, one per distinct text (positions and counts
    /// are placeholders in the docs). `WrongArity` is not here: the server writes its own
    /// `ERR wrong number of arguments for '<command>' command`.
    fn every_error() -> Vec<Error> {
        use ArgError::*;
        use Field::*;
        // A new variant must be added below: this match has no wildcard.
        let _exhaustive = |e: Error, a: ArgError| {
            let _ = match e {
                Error::WrongArity
                | Error::WrongType
                | Error::Arg { .. }
                | Error::NumKeysMismatch { .. }
                | Error::AlgorithmMismatch
                | Error::LogLimitTooHigh
                | Error::DuplicateKey
                | Error::UnknownSubcommand
                | Error::BadPayload
                | Error::MissingStamp
                | Error::Internal
                | Error::Panic
                | Error::BadLeaseId
                | Error::Json { .. }
                | Error::PolicyLimit { .. }
                | Error::Policy(_) => 0,
            };
            match a {
                Invalid(_)
                | NumberForAlgorithm
                | OptionOrSpec
                | Missing(_)
                | Repeated(_)
                | BurstNotSupported
                | LogPeriodTooLong
                | LogLimitTooHigh
                | OnlyCost
                | AtMostNotSupported
                | UtcOffsetNotSupported
                | PolicyOption => 0,
            }
        };
        let fields = [
            Algorithm,
            Limit,
            Period,
            Burst,
            Cost,
            Field::Option,
            NumKeys,
            MaxBurst,
            CountPerPeriod,
            PeriodSeconds,
            Quantity,
            LeaseMs,
            Block,
            UtcOffset,
            CalendarUnit,
        ];
        let mut args: Vec<ArgError> = fields.into_iter().map(Invalid).collect();
        args.extend([NumberForAlgorithm, OptionOrSpec]);
        args.extend([Limit, Period, Burst, Cost, Block, UtcOffset, CalendarUnit].map(Missing));
        args.extend([Burst, Cost].map(Repeated));
        args.extend([
            BurstNotSupported,
            LogPeriodTooLong,
            LogLimitTooHigh,
            OnlyCost,
            AtMostNotSupported,
            Repeated(AtMost),
            PolicyOption,
            UtcOffsetNotSupported,
        ]);
        let mut all: Vec<Error> = args.into_iter().map(|a| a.at(3)).collect();
        all.extend([
            Error::NumKeysMismatch {
                numkeys: 1,
                keys: 2,
                specs: 1,
            },
            Error::NumKeysMismatch {
                numkeys: 3,
                keys: 1,
                specs: 0,
            },
            Error::WrongType,
            Error::AlgorithmMismatch,
            Error::LogLimitTooHigh,
            Error::DuplicateKey,
            Error::UnknownSubcommand,
            Error::BadPayload,
            Error::MissingStamp,
            Error::Internal,
            Error::Panic,
            Error::BadLeaseId,
            Error::Json {
                line: 1,
                column: 2,
                what: JsonError::Syntax,
            },
            Error::Json {
                line: 1,
                column: 2,
                what: JsonError::Eof,
            },
            Error::PolicyLimit {
                index: 2,
                what: Invalid(Limit),
            },
        ]);
        all.extend(
            [
                PolicyError::NotAnObject,
                PolicyError::UnknownField,
                PolicyError::Shadow,
                PolicyError::LimitCount,
                PolicyError::LimitField(1),
                PolicyError::TwoPeriods(1),
                PolicyError::TwoBlocks(1),
                PolicyError::SetShape,
                PolicyError::Name,
                PolicyError::TooMany,
                PolicyError::Unknown,
                PolicyError::NoFile,
                PolicyError::FileUnreadable,
                PolicyError::Replica,
                PolicyError::NoPreamble,
                PolicyError::Subcommand,
            ]
            .map(Error::Policy),
        );
        all
    }

    /// Whether `text` matches `pattern`, where each `<...>` in the pattern stands for
    /// any non-empty text.
    fn matches(pattern: &str, text: &str) -> bool {
        match pattern.find('<') {
            None => pattern == text,
            Some(i) => {
                let Some(close) = pattern[i..].find('>') else {
                    return pattern == text;
                };
                let (head, rest) = (&pattern[..i], &pattern[i + close + 1..]);
                // A literal `<...>` (the stamp's `@<unix ms>`) matches itself too.
                let Some(tail) = text.strip_prefix(head) else {
                    return false;
                };
                (1..=tail.len())
                    .filter(|&k| tail.is_char_boundary(k))
                    .any(|k| matches(rest, &tail[k..]))
            }
        }
    }

    /// The error texts quoted in docs/commands.md: code spans starting with a code word,
    /// a line break read as the space Markdown renders.
    fn documented() -> Vec<String> {
        include_str!("../docs/commands.md")
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.starts_with("ERR ") || s.starts_with("WRONGTYPE ") || s.starts_with("READONLY ")
            })
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Messages the server writes itself, quoted in the docs next to ours.
    const SERVER_TEXTS: [&str; 2] = ["ERR wrong number of arguments for '", "ERR unknown command"];

    #[test]
    fn every_message_is_in_the_command_reference_and_every_quoted_one_exists() {
        let docs = documented();
        let all = every_error();
        for e in &all {
            let text = e.to_string();
            assert!(
                docs.iter().any(|d| matches(d, &text)),
                "docs/commands.md does not quote: {text}"
            );
        }
        for d in &docs {
            let ours = all.iter().any(|e| matches(d, &e.to_string()));
            assert!(
                ours || SERVER_TEXTS.iter().any(|s| d.starts_with(s)),
                "docs/commands.md quotes a message the code never replies: {d}"
            );
        }
    }

    #[test]
    fn messages_start_with_a_code_word_fit_their_buffer_and_hold_no_nul() {
        for e in every_error() {
            let text = e.to_string();
            assert!(
                text.starts_with("ERR ")
                    || text.starts_with("WRONGTYPE ")
                    || text.starts_with("READONLY "),
                "{text}"
            );
            assert!(text.len() <= Message::CAPACITY, "{text}");
            let m = e.message();
            assert_eq!(m.as_str(), text);
            assert_eq!(m.as_c_str().to_str(), Ok(text.as_str()));
        }
        let huge = Error::NumKeysMismatch {
            numkeys: u32::MAX,
            keys: u32::MAX,
            specs: u32::MAX,
        };
        assert_eq!(huge.message().as_str(), huge.to_string());
    }

    #[test]
    fn the_placeholder_matcher_matches_what_it_should() {
        assert!(matches(
            "ERR argument <n> (limit): x",
            "ERR argument 12 (limit): x"
        ));
        assert!(!matches(
            "ERR argument <n> (limit): x",
            "ERR argument 12 (limit): y"
        ));
        assert!(!matches(
            "ERR argument <n> (limit)",
            "ERR argument  (limit)"
        ));
        assert!(matches(
            "ERR a <x> and <y> end",
            "ERR a 1 key and 2 specs end"
        ));
        assert!(matches(
            "ERR its @<unix ms> stamp",
            "ERR its @<unix ms> stamp"
        ));
    }
}
