//! Query views built from the event log: the projector runner (checkpoint committed with the
//! view rows), the view-store port the database adapters implement, and list queries (filters,
//! sorting, keyset bookmarks) as plain data. No SQL here: `shedu-infra` translates queries.

pub mod adoption;
pub mod ca_projection;
pub mod cascade;
pub mod counters;
pub mod crl_publisher;
pub mod error;
pub mod fresh;
pub mod lease;
pub mod progress;
pub mod query;
mod reactor_checkpoint;
pub mod runner;
pub mod scheduler;
pub mod store;
