//! Certificate lifecycle after issuance: status (revoke, hold, unhold) and metadata.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use shedu_domain::DomainError;
use shedu_domain::ids::{CaId, SerialNumber};
use shedu_domain::issued::{self, CertificateCommand, CertificateEvent, IssuedCertificate};
use shedu_domain::status::{RevocationReason, Status};

use crate::CommandError;
use crate::ca_service::CommandContext;
use crate::clock::Clock;
use crate::event_store::{AppendRequest, EventStore, ExpectedVersion, StoreError};
use crate::stream::{Loaded, load, new_events};

/// Certificates that a CA revocation must cascade to, from a view that has caught up with the log.
#[async_trait]
pub trait CertificateLookup: Send + Sync {
    /// Certificates issued by any of `issuers` that are neither revoked for good nor expired.
    async fn revocable_issued_by(&self, issuers: &[CaId]) -> Result<Vec<IssuedCertificate>, StoreError>;
}

#[derive(Debug, Clone)]
pub struct CertificateOutcome {
    pub certificate: IssuedCertificate,
    pub position: i64,
}

pub struct CertificateService {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
}

pub async fn load_certificate(
    store: &dyn EventStore,
    serial: &SerialNumber,
) -> Result<Loaded<IssuedCertificate>, CommandError> {
    load(store, &issued::stream_id(serial), CertificateEvent::from_stored, issued::evolve).await
}

impl CertificateService {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        CertificateService { store, clock }
    }

    pub async fn certificate(&self, serial: &SerialNumber) -> Result<IssuedCertificate, CommandError> {
        load_certificate(self.store.as_ref(), serial)
            .await?
            .state
            .ok_or_else(|| DomainError::NotFound(format!("certificate {serial}")).into())
    }

    pub async fn change_status(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        status: Status,
        reason: Option<RevocationReason>,
    ) -> Result<CertificateOutcome, CommandError> {
        self.run(ctx, serial, CertificateCommand::ChangeStatus { status, reason }).await
    }

    pub async fn update_metadata(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        patch: Value,
    ) -> Result<CertificateOutcome, CommandError> {
        self.run(ctx, serial, CertificateCommand::UpdateMetadata { patch }).await
    }

    /// Revokes a certificate because its issuer (or an ancestor) was revoked; a no-op when it is
    /// already revoked for good or expired.
    pub async fn cascade_revoke(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        from: &CaId,
    ) -> Result<(), CommandError> {
        match self.run(ctx, serial, CertificateCommand::CascadeRevoke { from: from.clone() }).await {
            Ok(_) | Err(CommandError::Domain(DomainError::NotFound(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn run(
        &self,
        ctx: &CommandContext,
        serial: &SerialNumber,
        command: CertificateCommand,
    ) -> Result<CertificateOutcome, CommandError> {
        let now = self.clock.now();
        let loaded = load_certificate(self.store.as_ref(), serial).await?;
        let state = loaded.state.ok_or_else(|| DomainError::NotFound(format!("certificate {serial}")))?;
        let events = issued::decide(Some(&state), &command, now)?;
        if events.is_empty() {
            return Ok(CertificateOutcome { certificate: state, position: loaded.last_position });
        }
        let request = AppendRequest::single(
            issued::stream_id(serial),
            ExpectedVersion::Exact(loaded.version),
            new_events(&events, ctx, None, now),
        );
        let appended = self.store.append(request).await?;
        let certificate = events.iter().fold(Some(state.clone()), issued::evolve).unwrap_or(state);
        Ok(CertificateOutcome { certificate, position: appended.last_position })
    }
}
