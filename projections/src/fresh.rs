//! Lookups that first let the views catch up with the log: a CA imported right after its issuer
//! still finds it, a revocation sees the certificates issued just before it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shedu_commands::ca_service::CaLookup;
use shedu_commands::certificate_service::CertificateLookup;
use shedu_commands::event_store::{EventStore, LogCursor, StoreError};
use shedu_commands::profile_service::ProfileUsage;
use shedu_domain::ids::{CaId, EngineId, KeyId, ProfileId, SerialNumber};
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::subject::Subject;

use crate::progress::Progress;
use crate::store::ViewStore;

/// How long a lookup waits for the views before answering from what they hold: as long as a
/// query waits for read-your-writes, since an import placed from a view that lags misses a parent
/// created a moment before (2 s proved too short on a loaded 2-core machine).
const CATCH_UP: Duration = Duration::from_secs(5);

pub struct FreshLookup {
    pub cas: Arc<dyn CaLookup>,
    pub certificates: Arc<dyn CertificateLookup>,
    pub profiles: Arc<dyn ProfileUsage>,
    pub store: Arc<dyn EventStore>,
    pub views: Arc<dyn ViewStore>,
    pub progress: Progress,
}

impl FreshLookup {
    /// Waits for everything committed so far: the greatest committed cursor, not the highest
    /// position, since on PostgreSQL a later transaction can hold a lower position.
    async fn catch_up(&self) -> Result<(), StoreError> {
        let head = self.store.head_cursor().await?;
        if head > LogCursor::START && !self.progress.wait_for_cursor(self.views.as_ref(), head, CATCH_UP).await? {
            tracing::warn!(head = head.position, "views still behind the log; answering from them anyway");
        }
        Ok(())
    }
}

#[async_trait]
impl CaLookup for FreshLookup {
    async fn issuer_candidates(
        &self,
        authority_key_id: Option<&str>,
        issuer: &Subject,
    ) -> Result<Vec<CaId>, StoreError> {
        self.catch_up().await?;
        self.cas.issuer_candidates(authority_key_id, issuer).await
    }

    async fn cas_with_serial(&self, serial: &SerialNumber) -> Result<Vec<CaId>, StoreError> {
        self.catch_up().await?;
        self.cas.cas_with_serial(serial).await
    }

    async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError> {
        self.catch_up().await?;
        self.cas.cas_using_key(engine_id, key_id).await
    }

    async fn orphans(&self) -> Result<Vec<CaId>, StoreError> {
        self.catch_up().await?;
        self.cas.orphans().await
    }
}

#[async_trait]
impl CertificateLookup for FreshLookup {
    async fn revocable_issued_by(&self, issuers: &[CaId]) -> Result<Vec<IssuedCertificate>, StoreError> {
        self.catch_up().await?;
        self.certificates.revocable_issued_by(issuers).await
    }
}

#[async_trait]
impl ProfileUsage for FreshLookup {
    async fn cas_using_profile(&self, profile_id: &ProfileId) -> Result<Vec<CaId>, StoreError> {
        self.catch_up().await?;
        self.profiles.cas_using_profile(profile_id).await
    }
}
