//! Errors of the application layer.

use shedu_domain::aggregate::UnknownEvent;
use shedu_domain::{DomainError, InvalidInput};

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
    UnreadableEvent(#[from] UnknownEvent),
    /// Every attempt lost a race on a stream the command touches only as a side effect (a
    /// parent's list of subordinates, a descendant revoked by cascade): the stream is too busy.
    #[error("stream {stream_id} kept changing; gave up after {attempts} attempts")]
    RetriesExhausted { stream_id: String, attempts: usize },
    /// Invariant broken inside Shedu (a task panicked, a signature Shedu made does not parse).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<InvalidInput> for CommandError {
    fn from(e: InvalidInput) -> Self {
        CommandError::Domain(e.into())
    }
}
