//! Signing a CSR: the domain decides whether the CA can sign, which profile applies and what
//! the certificate says; the certificate is its own stream, appended with guards on the CA's and
//! the profile's streams so that it can never commit after the CA's revocation (docs/adr/0003)
//! or under a profile that has changed since it was read (docs/adr/0011).

use std::sync::Arc;

use shedu_domain::DomainError;
use shedu_domain::ca::Ca;
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::issuance::{self, ProfileSource};
use shedu_domain::issued::{self, CertificateCommand, IssuedCertificate};
use shedu_domain::profile::IssuanceProfile;
use time::OffsetDateTime;

use super::requests::SignRequest;
use super::{CaService, SigningCa, blocking, issuance_guard};
use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamGuard, StreamWrite};
use crate::once::{append, exactly_once};
use crate::profile_service::existing_profile;
use crate::read_cache::Versioned;
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::new_events;
use crate::x509::build::issued_certificate;
use crate::x509::csr::parse_csr;
use crate::x509::parse::{certificate_info, certificates_from_pem};
use crate::x509::signer::EngineSigner;

/// Whether an attempt may use what this process last read, or must read the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Remembered,
    Fresh,
}

/// A signing attempt that lost a race on a guarded stream: it read a CA or profile that has
/// changed since.
struct Stale;

/// The profile a request is signed under: a stored one, or an inline one narrowing it. Either
/// way the stored profile's stream is guarded, so a change to it while signing goes noticed.
struct Chosen {
    id: ProfileId,
    stored: Arc<Versioned<IssuanceProfile>>,
    narrowed: Option<Box<IssuanceProfile>>,
}

impl Chosen {
    fn profile(&self) -> &IssuanceProfile {
        self.narrowed.as_deref().unwrap_or(&self.stored.state)
    }

    fn guard(&self) -> StreamGuard {
        StreamGuard::exact(self.id.stream_id(), self.stored.version)
    }
}

impl CaService {
    pub async fn sign_certificate(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: SignRequest,
    ) -> Result<Outcome<IssuedCertificate>, CommandError> {
        exactly_once(self.store.as_ref(), ctx, self.sign_retrying(ctx, ca_id, request)).await
    }

    async fn sign_retrying(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: SignRequest,
    ) -> Result<Outcome<IssuedCertificate>, CommandError> {
        // The first attempt may use the CA and profile as this process last read them; the
        // append's guards catch a stale read, and every later attempt reads the log afresh.
        for attempt in 0..MAX_ATTEMPTS {
            let read = if attempt == 0 { Read::Remembered } else { Read::Fresh };
            match self.sign_once(ctx, ca_id, &request, read).await {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(Stale)) if read == Read::Fresh => backoff(attempt).await,
                Ok(Err(Stale)) => {}
                // A refusal decided on remembered state (a CA on hold since lifted, a profile
                // since widened) is decided again on the log before it is returned.
                Err(CommandError::Domain(_)) if read == Read::Remembered => {}
                Err(e) => return Err(e),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: ca_id.stream_id(), attempts: MAX_ATTEMPTS })
    }

    async fn sign_once(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: &SignRequest,
        read: Read,
    ) -> Result<Result<Outcome<IssuedCertificate>, Stale>, CommandError> {
        let now = self.clock.now();
        let signing = self.signing_ca(ca_id, read).await?;
        let ca = &signing.state.ca;
        ca.ensure_lineage_can_sign(&signing.state.ancestors, now)?;
        let csr = parse_csr(&request.csr)?;
        let profile = self.chosen_profile(ca, request, read, now).await?;
        let plan = issuance::plan(ca, &signing.state.ancestors, profile.profile(), &csr.facts, now)?;
        let key = ca.key.clone().ok_or_else(|| DomainError::CaHoldsNoKey { id: ca_id.clone() })?;
        let engine = self.engines.resolve(Some(&key.engine_id))?;
        let issuer_der = signing.state.issuer_der.clone();
        let planned = plan.clone();
        let urls = self.issuer_urls(ca_id);
        let der = blocking(move || {
            let signer = EngineSigner::new(engine.clone(), engine.public_key(&key.key_id)?)?;
            issued_certificate(&planned, &csr.spki_der, &issuer_der, signer, urls.as_ref())
        })
        .await?;
        let certificate = certificate_info(&der, "certificate")
            .map_err(|e| CommandError::Internal(format!("Shedu signed an unreadable certificate: {e}")))?;
        let serial = certificate.serial_number.clone();
        issuance::check_signed(ca, &plan, &certificate)?;
        let command = CertificateCommand::Issue {
            certificate: Box::new(certificate),
            issuer_metadata: ca.as_issuer(),
            profile_id: Some(profile.id.clone()),
            metadata: request.metadata.clone(),
        };
        let events = issued::decide(&serial, None, &command, now)?;
        let issued = issued::replay(&events).ok_or(DomainError::BrokenInvariant("issuance creates a certificate"))?;
        // Neither the CA, nor its ancestors, nor the profile may have changed since they were read.
        let mut guards = signing.state.guards.clone();
        guards.push(profile.guard());
        let guarded: Vec<String> = guards.iter().map(|g| g.stream_id.clone()).collect();
        let write = StreamWrite {
            stream_id: issued::stream_id(&serial),
            expected: ExpectedVersion::NoStream,
            events: new_events(&events, ctx, None, now),
        };
        match append(self.store.as_ref(), ctx, AppendRequest { writes: vec![write], guards }).await {
            Ok(appended) => Ok(Ok(Outcome { state: issued, position: appended.last_position })),
            Err(StoreError::Conflict { stream_id, .. }) if guarded.contains(&stream_id) => {
                self.signing_cas.forget(&ca_id.stream_id());
                self.profiles.forget(&profile.guard().stream_id);
                Ok(Err(Stale))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The profile the domain chooses for `request`, with the stored profile it rests on.
    async fn chosen_profile(
        &self,
        ca: &Ca,
        request: &SignRequest,
        read: Read,
        now: OffsetDateTime,
    ) -> Result<Chosen, CommandError> {
        match issuance::choose_profile(ca, request.profile_id.as_ref(), request.profile.as_ref())? {
            ProfileSource::Stored(id) => {
                Ok(Chosen { stored: self.stored_profile(&id, read).await?, id, narrowed: None })
            }
            ProfileSource::Narrowed { base, inline } => {
                let stored = self.stored_profile(&base, read).await?;
                let narrowed = issuance::narrow(&stored.state, &inline, now)?;
                Ok(Chosen { id: base, stored, narrowed: Some(Box::new(narrowed)) })
            }
        }
    }

    /// The CA as last read by this process, or read now.
    async fn signing_ca(&self, id: &CaId, read: Read) -> Result<Arc<Versioned<SigningCa>>, CommandError> {
        let stream_id = id.stream_id();
        if let Some(hit) = self.signing_cas.get(&stream_id).filter(|_| read == Read::Remembered) {
            return Ok(hit);
        }
        let loaded = self.cas.load(id).await?;
        let ca: Ca = loaded.require(id)?.clone();
        let issuer_der = certificates_from_pem(&ca.certificate.pem, "issuer")?.remove(0);
        let lineage = self.lineage(&ca).await?;
        let mut guards = vec![issuance_guard(id, loaded.version)];
        guards.extend(lineage.guards);
        let signing = SigningCa { ca, issuer_der, ancestors: lineage.ancestors, guards };
        let entry = Arc::new(Versioned { state: signing, version: loaded.version });
        self.signing_cas.put(stream_id, entry.clone());
        Ok(entry)
    }

    /// The stored profile as last read by this process, or read now.
    async fn stored_profile(
        &self,
        id: &ProfileId,
        read: Read,
    ) -> Result<Arc<Versioned<IssuanceProfile>>, CommandError> {
        let stream_id = id.stream_id();
        if let Some(hit) = self.profiles.get(&stream_id).filter(|_| read == Read::Remembered) {
            return Ok(hit);
        }
        let existing = existing_profile(self.store.as_ref(), id).await?;
        let entry = Arc::new(Versioned { state: existing.profile, version: existing.version });
        self.profiles.put(stream_id, entry.clone());
        Ok(entry)
    }
}
