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
    /// An `RL.APPLY` payload failed validation.
    BadPayload,
    /// A Redis API call failed where it should not.
    Internal,
    /// A panic was caught (a bug; logged to the Redis log).
    Panic,
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
            Error::MissingValue(Burst) => c"ERR BURST needs a value",
            Error::MissingValue(Cost) => c"ERR COST needs a value",
            Error::MissingValue(_) => c"ERR missing value",
            Error::UnknownAlgorithm => c"ERR unknown algorithm; expected TOKEN_BUCKET or GCRA",
            Error::UnknownOption => c"ERR unknown option; expected BURST n or COST n",
            Error::RepeatedOption(Burst) => c"ERR BURST given more than once",
            Error::RepeatedOption(Cost) => c"ERR COST given more than once",
            Error::RepeatedOption(_) => c"ERR option given more than once",
            Error::AlgorithmMismatch => {
                c"ERR key holds a limiter of another algorithm; use RL.RESET first to change it"
            }
            Error::BadPayload => c"ERR invalid RL.APPLY payload",
            Error::Internal => c"ERR internal error in ratelimit module",
            Error::Panic => c"ERR internal error in ratelimit module (a bug; see the Redis log)",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().to_str().unwrap_or("ERR"))
    }
}

impl std::error::Error for Error {}
