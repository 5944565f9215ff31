//! Errors of the application layer.

use shedu_domain::DomainError;

use crate::crypto::EngineError;
use crate::event_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A stored event this build cannot read; the log is newer than the code.
    #[error(transparent)]
    UnreadableEvent(#[from] shedu_domain::ca::UnknownEvent),
    /// Invariant broken inside Shedu (a task panicked, a signature Shedu made does not parse).
    #[error("internal error: {0}")]
    Internal(String),
}
