//! The cascade reactor: makes sure no certificate stays valid under a revoked CA.
//!
//! A CA revocation revokes the certificates the views know of in the same append. A certificate
//! committed in the instant between that read and the revocation's commit escapes it; the reactor,
//! tailing the log with its own checkpoint, catches it from either side: on the revocation (once
//! the views include everything before it) and on each issuance (if its CA is revoked by then).
//! Its commands are idempotent, so reprocessing after a crash is harmless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shedu_commands::CommandError;
use shedu_commands::ca_service::CaService;
use shedu_commands::certificate_service::{CertificateLookup, CertificateService};
use shedu_commands::context::CommandContext;
use shedu_commands::event_store::{EventStore, RecordedEvent};
use shedu_domain::aggregate::DomainEvent;
use shedu_domain::ca::CaEvent;
use shedu_domain::ids::CaId;
use shedu_domain::issued::CertificateEvent;
use shedu_domain::status::{RevocationReason, Status};
use tokio::sync::{Notify, watch};

use crate::progress::Progress;
use crate::reactor_checkpoint::ReactorCheckpoint;
use crate::store::ViewStore;

pub const CHECKPOINT: &str = "cascade";
const BATCH: usize = 200;

pub struct CascadeReactor {
    store: Arc<dyn EventStore>,
    views: Arc<dyn ViewStore>,
    progress: Progress,
    cas: Arc<CaService>,
    certificates: Arc<CertificateService>,
    lookup: Arc<dyn CertificateLookup>,
    checkpoint: ReactorCheckpoint,
}

impl CascadeReactor {
    pub fn new(
        store: Arc<dyn EventStore>,
        views: Arc<dyn ViewStore>,
        progress: Progress,
        cas: Arc<CaService>,
        certificates: Arc<CertificateService>,
        lookup: Arc<dyn CertificateLookup>,
    ) -> Self {
        CascadeReactor {
            store,
            views,
            progress,
            cas,
            certificates,
            lookup,
            checkpoint: ReactorCheckpoint::new(CHECKPOINT),
        }
    }

    pub async fn catch_up(&self) -> Result<(), CommandError> {
        let mut held = self.checkpoint.hold(self.views.as_ref()).await?;
        loop {
            let events = self.store.read_all(held.cursor, BATCH).await?;
            let Some(last) = events.last() else {
                held.finish();
                return Ok(());
            };
            // Per CA: whether it is revoked for good, and why.
            let mut revoked: BTreeMap<CaId, (bool, Option<RevocationReason>)> = BTreeMap::new();
            for event in &events {
                self.react(event, &mut revoked).await?;
            }
            self.checkpoint.advance(self.views.as_ref(), &mut held, last.cursor(), false).await?;
        }
    }

    async fn react(
        &self,
        event: &RecordedEvent,
        revoked: &mut BTreeMap<CaId, (bool, Option<RevocationReason>)>,
    ) -> Result<(), CommandError> {
        let ctx = CommandContext {
            actor: "shedu-cascade".into(),
            correlation_id: event.event_id.to_string(),
            request_key: None,
        };
        if let Some(ca_id) = event.stream_id.strip_prefix("ca-") {
            let CaEvent::StatusChanged(change) =
                CaEvent::from_stored(&event.event_type, event.schema_version, &event.data)?
            else {
                return Ok(());
            };
            let for_good = change.status == Status::Revoked
                && change.revocation.is_some_and(|r| r.reason != RevocationReason::CertificateHold);
            if !for_good {
                return Ok(());
            }
            let ca_id = CaId::parse(ca_id)?;
            let cause = change.revocation.map(|r| r.reason);
            revoked.insert(ca_id.clone(), (true, cause));
            // Everything ordered before the revocation must be in the views before asking them.
            while !self
                .progress
                .wait_for(self.store.as_ref(), self.views.as_ref(), event.position, Duration::from_secs(5))
                .await?
            {}
            for certificate in self.lookup.revocable_issued_by(std::slice::from_ref(&ca_id)).await? {
                self.certificates.cascade_revoke(&ctx, certificate.serial(), &ca_id, cause).await?;
            }
        } else if event.stream_id.starts_with("certificate-") {
            let CertificateEvent::Issued(issued) =
                CertificateEvent::from_stored(&event.event_type, event.schema_version, &event.data)?
            else {
                return Ok(());
            };
            let issuer = issued.issuer_metadata.id.clone();
            let (is_revoked, cause) = match revoked.get(&issuer) {
                Some(known) => *known,
                None => {
                    // A deleted CA was revoked, expired or keyless: it vouches for nothing.
                    let known = match self.cas.ca_record(&issuer).await? {
                        Some(ca) => (
                            ca.deleted || (ca.recorded_status == Status::Revoked && !ca.is_on_hold()),
                            ca.revocation.map(|r| r.reason),
                        ),
                        None => (false, None),
                    };
                    revoked.insert(issuer.clone(), known);
                    known
                }
            };
            if is_revoked {
                self.certificates.cascade_revoke(&ctx, &issued.certificate.serial_number, &issuer, cause).await?;
            }
        }
        Ok(())
    }

    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: watch::Receiver<bool>, poll: Duration) {
        crate::runner::keep_caught_up("cascade reactor", wake, shutdown, poll, || self.catch_up()).await
    }
}
