//! The module's data type: a limiter value, its versioned encoding, and (with the
//! `module` feature) the Redis type callbacks.

pub mod encoding;
pub mod limiter;

#[cfg(feature = "module")]
pub mod callbacks;
#[cfg(feature = "module")]
pub mod key;

pub use limiter::{Limiter, State, Totals};
