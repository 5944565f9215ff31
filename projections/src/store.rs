//! The view-store port: what a database adapter must offer the projector and the query endpoints.

use async_trait::async_trait;
use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_domain::ca::Ca;
use shedu_domain::ids::CaId;
use time::OffsetDateTime;

use crate::query::{ListQuery, Page};

/// Changes to the views from one batch of events, committed with the checkpoint they reach.
#[derive(Debug, Clone, Default)]
pub struct ViewBatch {
    /// CAs to insert or replace, each with the log position of the last event applied.
    pub upsert_cas: Vec<(Ca, i64)>,
    pub delete_cas: Vec<CaId>,
    /// The checkpoint this batch was read after. The commit fails with a conflict, changing
    /// nothing, if another projector (a second replica, a concurrent rebuild) moved it meanwhile.
    pub previous: LogCursor,
    pub checkpoint: LogCursor,
}

#[async_trait]
pub trait ViewStore: Send + Sync {
    /// The cursor of the last event applied to the views.
    async fn checkpoint(&self) -> Result<LogCursor, StoreError>;
    async fn load_cas(&self, ids: &[CaId]) -> Result<Vec<Ca>, StoreError>;
    /// Applies the batch and moves the checkpoint in one transaction, if the checkpoint is still
    /// `batch.previous`; otherwise `StoreError::Conflict` and nothing changes.
    async fn commit(&self, batch: ViewBatch) -> Result<(), StoreError>;
    /// Empties every view and resets the checkpoint, for a rebuild.
    async fn reset(&self) -> Result<(), StoreError>;
    async fn ca(&self, id: &CaId) -> Result<Option<Ca>, StoreError>;
    async fn list_cas(&self, query: &ListQuery, now: OffsetDateTime) -> Result<Page<Ca>, StoreError>;
}
