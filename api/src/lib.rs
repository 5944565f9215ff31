//! Shedu's REST API and the `shedu` binary's wiring: axum routes for commands and queries,
//! RFC 7807 errors, idempotency keys, read-your-writes, health. Handlers parse, call one command
//! or query, and map the result; rules live in the domain.

pub mod app;
mod attempts;
mod cas;
mod certificates;
mod committed;
mod context;
mod crls;
mod idempotency;
mod input;
mod ops;
mod problem;
mod profiles;
mod router;
pub mod settings;
mod state;

pub use app::{App, spawn};
pub use settings::Settings;
