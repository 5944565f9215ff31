//! Shedu's integration suite: one binary, real SQLite files and a real PostgreSQL server.

mod api_cas;
mod api_errors;
mod event_store;
