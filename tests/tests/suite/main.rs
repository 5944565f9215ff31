//! Shedu's integration suite: one binary, real SQLite files and a real PostgreSQL server.

// Helpers here are test code too: a failed step should stop the test with its message.
#![allow(clippy::unwrap_used)]

mod adoption;
mod api_cas;
mod api_errors;
mod bounded_input;
mod engines;
mod event_store;
mod exactly_once;
mod hierarchy;
mod hostile_requests;
mod imports;
mod issuance;
mod key_custody;
mod metadata_and_issuance;
mod projections;
mod reissue;
mod relay;
mod revocation_publishing;
mod scheduler;
