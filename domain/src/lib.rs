//! Shedu's domain: the CA aggregate, its commands and events, and the rules of a PKI hierarchy.
//!
//! Everything here is pure: no I/O, no async runtime, no clock. Time enters as a `now` argument,
//! cryptographic results (keys, signed certificates) enter as values. Storage, HTTP and crypto
//! engines live in outer crates and must not leak in here.

pub mod aggregate;
pub mod ca;
pub mod certificate;
pub mod crl;
pub mod duration;
pub mod error;
pub mod expiry;
pub mod ids;
pub mod invalid;
pub mod issuance;
pub mod issued;
pub mod key;
pub mod metadata;
pub mod names;
pub mod profile;
pub mod status;
pub mod subject;
pub mod transition;
pub mod usage;

#[cfg(test)]
mod testing;

pub use error::{DomainError, Resource};
pub use invalid::InvalidInput;
