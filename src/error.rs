//! The one error type of the module. Each message starts with the Redis error code
//! word, says what is accepted, and never contains argument or key bytes.

use std::ffi::CStr;
use std::fmt;

/// Which numeric argument an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `limit`.
    Limit,
    /// `period_ms`.
    Period,
    /// `BURST n`.
    Burst,
    /// `COST n`.
    Cost,
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
}

/// Everything that can go wrong in a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Too few or too many arguments.
    WrongArity,
    /// The key holds a value of another type.
    WrongType,
    /// A numeric argument is not an integer in `1..=i64::MAX`.
    BadNumber(Field),
    /// An option keyword was given without its value.
    MissingValue(Field),
    /// The algorithm name is not known.
    UnknownAlgorithm,
    /// An argument after `period_ms` is not BURST or COST.
    UnknownOption,
    /// BURST or COST appeared twice.
    RepeatedOption(Field),
    /// The key holds a limiter of another algorithm.
    AlgorithmMismatch,
    /// BURST given to a window algorithm.
    BurstNotSupported,
    /// A SLIDING_LOG period above `u32::MAX` ms.
    LogPeriodTooLong,
    /// A SLIDING_LOG limit above the configured cap.
    LogLimitTooHigh,
    /// RL.MCHECK: the number of specs differs from numkeys.
    SpecCount,
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
    /// RL.ACQUIRE: an argument after `lease_ms` other than `COST n`.
    UnknownLeaseOption,
    /// RL.RELEASE / RL.RENEW: a lease id that is not 16 hexadecimal digits.
    BadLeaseId,
}

impl Error {
    /// The reply text, as a C string for `RedisModule_ReplyWithError`.
    pub fn message(&self) -> &'static CStr {
        use Field::*;
        match self {
            Error::WrongArity => c"ERR wrong number of arguments",
            Error::WrongType => {
                c"WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            Error::BadNumber(Limit) => {
                c"ERR limit must be an integer between 1 and 9223372036854775807"
            }
            Error::BadNumber(Period) => {
                c"ERR period_ms must be an integer between 1 and 9223372036854775807"
            }
            Error::BadNumber(Burst) => {
                c"ERR BURST must be an integer between 1 and 9223372036854775807"
            }
            Error::BadNumber(Cost) => {
                c"ERR COST must be an integer between 1 and 9223372036854775807"
            }
            Error::BadNumber(NumKeys) => c"ERR numkeys must be an integer between 1 and 1024",
            Error::BadNumber(MaxBurst) => {
                c"ERR max_burst must be an integer between 0 and 9223372036854775806"
            }
            Error::BadNumber(CountPerPeriod) => {
                c"ERR count_per_period must be an integer between 1 and 9223372036854775807"
            }
            Error::BadNumber(PeriodSeconds) => {
                c"ERR period_seconds must be an integer between 1 and 9223372036854775"
            }
            Error::BadNumber(Quantity) => {
                c"ERR quantity must be an integer between 0 and 9223372036854775807"
            }
            Error::MissingValue(Burst) => c"ERR BURST needs a value",
            Error::MissingValue(Cost) => c"ERR COST needs a value",
            Error::MissingValue(_) => c"ERR missing value",
            Error::UnknownAlgorithm => c"ERR unknown algorithm; expected TOKEN_BUCKET, GCRA, FIXED_WINDOW, SLIDING_WINDOW or SLIDING_LOG",
            Error::UnknownOption => c"ERR unknown option; expected BURST n or COST n",
            Error::RepeatedOption(Burst) => c"ERR BURST given more than once",
            Error::RepeatedOption(Cost) => c"ERR COST given more than once",
            Error::RepeatedOption(_) => c"ERR option given more than once",
            Error::AlgorithmMismatch => {
                c"ERR key holds a limiter of another algorithm; use RL.RESET first to change it"
            }
            Error::BurstNotSupported => c"ERR BURST applies only to TOKEN_BUCKET and GCRA",
            Error::LogPeriodTooLong => c"ERR SLIDING_LOG period_ms must be at most 4294967295",
            Error::LogLimitTooHigh => {
                c"ERR SLIDING_LOG limit is above ratelimit.sliding-log-max-limit"
            }
            Error::SpecCount => c"ERR expected one algorithm spec per key",
            Error::DuplicateKey => c"ERR a key appears more than once in RL.MCHECK",
            Error::UnknownSubcommand => c"ERR unknown subcommand; RL.STATS takes no argument or RESET",
            Error::BadPayload => c"ERR invalid RL.APPLY payload",
            Error::MissingStamp => {
                c"ERR a check from the primary or the AOF must end with its @<unix ms> time stamp"
            }
            Error::Internal => c"ERR internal error in ratelimit module",
            Error::Panic => c"ERR internal error in ratelimit module (a bug; see the Redis log)",
            Error::BadNumber(LeaseMs) => {
                c"ERR lease_ms must be an integer between 1 and 9223372036854775807"
            }
            Error::UnknownLeaseOption => c"ERR unknown option; RL.ACQUIRE takes COST n",
            Error::BadLeaseId => {
                c"ERR lease_id must be the 16 hexadecimal digits RL.ACQUIRE replied"
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().to_str().unwrap_or("ERR"))
    }
}

impl std::error::Error for Error {}
