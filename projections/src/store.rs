//! The view-store port: what a database adapter must offer the projector and the query endpoints.

use async_trait::async_trait;
use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_domain::ca::Ca;
use shedu_domain::crl::RevocationRecord;
use shedu_domain::expiry::{Due, Trigger};
use shedu_domain::ids::{CaId, ProfileId, SerialNumber};
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::profile::ProfileState;
use time::OffsetDateTime;

use crate::counters::Counters;
use crate::query::{ListQuery, Page};

/// Changes to the views from one batch of events, committed with the checkpoint they reach.
#[derive(Debug, Clone, Default)]
pub struct ViewBatch {
    /// CAs to insert or replace, each with the log position of the last event applied.
    pub upsert_cas: Vec<(Ca, i64)>,
    pub delete_cas: Vec<CaId>,
    pub upsert_certificates: Vec<(IssuedCertificate, i64)>,
    pub upsert_profiles: Vec<ProfileState>,
    pub delete_profiles: Vec<ProfileId>,
    /// Increments to the statistics counters.
    pub counters: Counters,
    /// Changes to the revocation view CRLs are built from, oldest first.
    pub revocations: Vec<RevocationRecord>,
    /// The scheduler's index: each stream listed here has its entries replaced by these.
    pub schedule: Vec<Scheduling>,
    /// The checkpoint this batch was read after. The commit fails with a conflict, changing
    /// nothing, if another projector (a second replica, a concurrent rebuild) moved it meanwhile.
    pub previous: LogCursor,
    pub checkpoint: LogCursor,
}

/// Rows whose recorded status is ACTIVE or INACTIVE but whose notAfter has passed: the
/// correction statistics apply until the scheduler records their expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnrecordedExpiry {
    pub cas: Vec<(String, i64)>,
    pub certificates: Vec<(String, i64)>,
}

/// A stream's entries in the scheduler's index, as they are to be.
#[derive(Debug, Clone, Default)]
pub struct Scheduling {
    pub stream_id: String,
    pub due: Vec<Due>,
    /// Whether the stream may have entries already (it was in the views before this batch); a
    /// new stream's are only inserted, which keeps a rebuild from deleting what is not there.
    pub existed: bool,
}

/// An entry of the scheduler's index: `trigger` of stream `stream_id` falls due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub stream_id: String,
    pub trigger: Trigger,
    pub due_at: OffsetDateTime,
}

#[async_trait]
pub trait ViewStore: Send + Sync {
    /// The cursor of the last event applied to the views.
    async fn checkpoint(&self) -> Result<LogCursor, StoreError>;
    async fn load_cas(&self, ids: &[CaId]) -> Result<Vec<Ca>, StoreError>;
    async fn load_certificates(&self, serials: &[SerialNumber]) -> Result<Vec<IssuedCertificate>, StoreError>;
    async fn load_profiles(&self, ids: &[ProfileId]) -> Result<Vec<ProfileState>, StoreError>;
    /// Applies the batch and moves the checkpoint in one transaction, if the checkpoint is still
    /// `batch.previous`; otherwise `StoreError::Conflict` and nothing changes.
    async fn commit(&self, batch: ViewBatch) -> Result<(), StoreError>;
    /// Empties every view and resets the checkpoint, for a rebuild.
    async fn reset(&self) -> Result<(), StoreError>;
    async fn ca(&self, id: &CaId) -> Result<Option<Ca>, StoreError>;
    async fn list_cas(&self, query: &ListQuery, now: OffsetDateTime) -> Result<Page<Ca>, StoreError>;
    /// Certificates, optionally only those `issuer` signed.
    async fn list_certificates(
        &self,
        query: &ListQuery,
        issuer: Option<&CaId>,
        now: OffsetDateTime,
    ) -> Result<Page<IssuedCertificate>, StoreError>;
    async fn list_profiles(&self, query: &ListQuery) -> Result<Page<ProfileState>, StoreError>;
    async fn counters(&self) -> Result<Counters, StoreError>;
    /// A reactor's own checkpoint (not the views').
    async fn named_checkpoint(&self, name: &str) -> Result<LogCursor, StoreError>;
    async fn save_named_checkpoint(&self, name: &str, cursor: LogCursor) -> Result<(), StoreError>;
    async fn unrecorded_expiry(&self, now: OffsetDateTime) -> Result<UnrecordedExpiry, StoreError>;
    /// The scheduler's next `limit` entries, soonest first (ties by stream and trigger).
    async fn next_scheduled(&self, limit: usize) -> Result<Vec<Scheduled>, StoreError>;
}
