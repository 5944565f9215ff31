//! Shedu's application layer: load an aggregate, decide, sign, append — through one
//! [`runner::Runner`] for every aggregate.
//!
//! Owns the ports the outer layers implement: [`event_store::EventStore`],
//! [`crypto::CryptoEngine`], [`clock::Clock`] and [`ca_service::CaLookup`]. Depends on the domain
//! only; never on a database driver, HTTP framework or HSM library.

pub mod ca_service;
pub mod canonical;
pub mod certificate_service;
pub mod clock;
pub mod context;
pub mod crl_service;
pub mod crypto;
pub mod error;
pub mod event_store;
pub mod idempotency;
mod once;
pub mod profile_service;
mod read_cache;
mod retry;
pub mod runner;
mod turns;
pub mod x509;

pub use error::CommandError;
