//! The module's data type: a limiter value, its versioned encoding, and (with the
//! `module` feature) the Redis type callbacks.

pub mod encoding;
pub mod limiter;
pub mod multi;

#[cfg(feature = "module")]
pub mod callbacks;
#[cfg(feature = "module")]
pub mod key;
#[cfg(feature = "module")]
pub mod policies;

pub use limiter::{Limiter, State, Totals};
