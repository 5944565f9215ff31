//! Certificate lifecycle after issuance: status (revoke, hold, unhold) and metadata.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use shedu_domain::expiry::Trigger;
use shedu_domain::ids::{CaId, SerialNumber};
use shedu_domain::issued::{CertificateCommand, IssuedCertificate};
use shedu_domain::status::{RevocationReason, Status};
use shedu_domain::{DomainError, Resource};
use time::OffsetDateTime;

use crate::CommandError;
use crate::clock::Clock;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{EventStore, StoreError};
use crate::runner::Runner;

/// Certificates that a CA revocation must cascade to, from a view that has caught up with the log.
#[async_trait]
pub trait CertificateLookup: Send + Sync {
    /// Certificates issued by any of `issuers` that are neither revoked for good nor expired.
    async fn revocable_issued_by(&self, issuers: &[CaId]) -> Result<Vec<IssuedCertificate>, StoreError>;
}

/// How many certificates the service keeps as last read (revocations come in bursts).
const CACHED_CERTIFICATES: usize = 1024;

pub struct CertificateService {
    certificates: Runner<IssuedCertificate>,
}

impl CertificateService {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        CertificateService { certificates: Runner::new(store, clock, CACHED_CERTIFICATES) }
    }

    pub async fn certificate(&self, serial: &SerialNumber) -> Result<IssuedCertificate, CommandError> {
        let loaded = self.certificates.load(serial).await?;
        loaded.state.ok_or_else(|| DomainError::NotFound(Resource::Certificate(serial.clone())).into())
    }

    pub async fn change_status(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        status: Status,
        reason: Option<RevocationReason>,
        invalidity_date: Option<OffsetDateTime>,
    ) -> Result<Outcome<IssuedCertificate>, CommandError> {
        let command = CertificateCommand::ChangeStatus { status, reason, invalidity_date };
        self.certificates.execute(ctx, serial, &command).await
    }

    pub async fn update_metadata(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        patch: Value,
    ) -> Result<Outcome<IssuedCertificate>, CommandError> {
        self.certificates.execute(ctx, serial, &CertificateCommand::UpdateMetadata { patch }).await
    }

    /// The scheduler: records `trigger` if it is pending and due; the log position appended, or
    /// `None` when there was nothing to record.
    pub async fn fire(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        trigger: Trigger,
    ) -> Result<Option<i64>, CommandError> {
        self.certificates.execute_settled(ctx, serial, &CertificateCommand::Fire { trigger }).await
    }

    /// Revokes a certificate because its issuer (or an ancestor) was revoked; a no-op when it is
    /// already revoked for good or expired.
    pub async fn cascade_revoke(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        from: &CaId,
        cause: Option<RevocationReason>,
    ) -> Result<(), CommandError> {
        let command = CertificateCommand::CascadeRevoke { from: from.clone(), cause };
        match self.certificates.execute(ctx, serial, &command).await {
            Ok(_) | Err(CommandError::Domain(DomainError::NotFound(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
