//! The error of projectors and reactors.

use shedu_commands::event_store::StoreError;
use shedu_domain::aggregate::UnknownEvent;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unreadable(#[from] UnknownEvent),
}
