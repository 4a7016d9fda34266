//! The module's data type: a limiter value, its versioned encoding, and (with the
//! `module` feature) the Redis type callbacks.

pub mod encoding;
mod encoding_v3;
pub mod limiter;
pub mod multi;
pub mod packed;
pub mod quotas;
pub mod varint;

#[cfg(feature = "module")]
pub mod callbacks;
#[cfg(feature = "module")]
pub mod key;
#[cfg(feature = "module")]
pub mod policies;

pub use limiter::{Limiter, State, Totals};
