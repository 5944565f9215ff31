//! Adapters: the event log and query views on SQLite (embedded default) and PostgreSQL, the
//! software crypto engine, the NATS relay, configuration, and wiring them into the ports of `shedu-commands` and
//! `shedu-projections`. All SQL lives here; no HTTP.

pub mod append;
mod backend;
pub mod batch;
pub mod config;
pub mod database;
mod errors;
mod key_der;
pub mod kms_engine;
pub mod migrate;
pub mod pkcs11_engine;
pub mod postgres;
pub mod private_files;
mod private_key_pem;
pub mod relay;
pub mod software_engine;
mod sql;
pub mod sqlite;
pub mod timestamps;
mod views;
mod writer;

pub use database::Database;
