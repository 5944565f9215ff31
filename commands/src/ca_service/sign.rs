//! Signing a CSR: the CA must be ACTIVE and hold a key; the profile decides the contents; the
//! certificate is its own stream, appended with guards on the CA's and the profile's streams so
//! that it can never commit after the CA's revocation (docs/adr/0003) or under a profile that
//! has changed since it was read (docs/adr/0011).

use std::sync::Arc;

use shedu_domain::DomainError;
use shedu_domain::ca::{Ca, IssuerMetadata};
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::issuance;
use shedu_domain::issued::{self, CertificateCommand};
use shedu_domain::metadata::Metadata;
use shedu_domain::profile::{IssuanceProfile, ProfileInput};

use super::{CaService, CommandContext, MAX_ATTEMPTS, backoff, blocking};
use crate::CommandError;
use crate::certificate_service::CertificateOutcome;
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamGuard, StreamWrite};
use crate::profile_service::existing_profile;
use crate::read_cache::Versioned;
use crate::stream::new_events;
use crate::x509::build::{EngineSigner, issued_certificate};
use crate::x509::csr::parse_csr;
use crate::x509::parse::{certificate_info, certificates_from_pem};

#[derive(Debug, Clone)]
pub struct SignRequest {
    pub csr: String,
    pub profile_id: Option<ProfileId>,
    /// An inline profile; wins over `profile_id` and the CA's default.
    pub profile: Option<ProfileInput>,
    pub metadata: Metadata,
}

/// What signing needs of a CA, with its certificate already decoded.
pub(crate) struct SigningCa {
    ca: Ca,
    issuer_der: Vec<u8>,
}

/// A signing attempt that lost a race on a guarded stream: it read a CA or profile that has
/// changed since.
struct Stale;

impl CaService {
    pub async fn sign_certificate(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: SignRequest,
    ) -> Result<CertificateOutcome, CommandError> {
        // The first attempt may use the CA and profile as this process last read them; the
        // append's guards catch a stale read, and every later attempt reads the log afresh.
        for attempt in 0..MAX_ATTEMPTS {
            let fresh = attempt > 0;
            match self.sign_once(ctx, ca_id, &request, fresh).await {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(Stale)) if fresh => backoff(attempt).await,
                Ok(Err(Stale)) => {}
                // A refusal decided on remembered state (a CA on hold since lifted, a profile
                // since widened) is decided again on the log before it is returned.
                Err(CommandError::Domain(_)) if !fresh => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { stream_id: ca_id.stream_id(), expected: "stable".into(), actual: 0 }.into())
    }

    async fn sign_once(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: &SignRequest,
        fresh: bool,
    ) -> Result<Result<CertificateOutcome, Stale>, CommandError> {
        let now = self.clock.now();
        let signing = self.signing_ca(ca_id, fresh).await?;
        let ca = &signing.state.ca;
        if !ca.can_sign(now) {
            let why = if ca.key.is_none() {
                "holds no private key".to_owned()
            } else {
                format!("is {}", ca.status_at(now).as_str())
            };
            return Err(DomainError::Conflict(format!("CA '{ca_id}' {why} and cannot sign")).into());
        }
        let csr = parse_csr(&request.csr)?;
        let mut guards = vec![StreamGuard { stream_id: ca_id.stream_id(), version: signing.version }];
        let (inline, stored);
        let (profile, profile_id): (&IssuanceProfile, _) =
            match (&request.profile, request.profile_id.as_ref().or(ca.profile_id.as_ref())) {
                (Some(input), _) => {
                    // Minting a CA, or outliving the issuer, takes a profile an administrator created.
                    if input.sign_as_ca || input.allow_validity_beyond_issuer {
                        return Err(DomainError::Rule(
                        "an inline profile cannot set sign_as_ca or allow_validity_beyond_issuer; use a stored profile"
                            .into(),
                    )
                    .into());
                    }
                    inline = IssuanceProfile::parse(ProfileId::parse("inline")?, input.clone())?;
                    (&inline, None)
                }
                (None, Some(id)) => {
                    stored = self.stored_profile(id, fresh).await?;
                    // A profile changed while signing must not go unnoticed.
                    guards.push(StreamGuard { stream_id: id.stream_id(), version: stored.version });
                    (&stored.state, Some(id.clone()))
                }
                (None, None) => {
                    return Err(DomainError::Rule(format!(
                        "no issuance profile: give profile_id or profile, or assign a default profile to CA '{ca_id}'"
                    ))
                    .into());
                }
            };
        let mut plan = issuance::plan(profile, &csr.facts, ca.certificate.valid_to, now)?;
        if plan.is_ca {
            // RFC 5280 §4.2.1.9: a subordinate's path length stays below its issuer's.
            match ca.certificate.path_len_constraint {
                Some(0) => {
                    return Err(DomainError::Rule(format!(
                        "CA '{ca_id}' has pathLen 0 and cannot sign CA certificates"
                    ))
                    .into());
                }
                Some(n) => plan.path_len = Some(plan.path_len.map_or(n - 1, |p| p.min(n - 1))),
                None => {}
            }
        }
        plan.not_before = plan.not_before.max(ca.certificate.valid_from);

        let key = ca.key.clone().ok_or_else(|| DomainError::Conflict("the CA holds no key".into()))?;
        let engine = self.engines.resolve(Some(&key.engine_id))?;
        let issuer_der = signing.state.issuer_der.clone();
        let der = blocking(move || {
            let public = engine.public_key(&key.key_id)?;
            let signer = EngineSigner::new(engine, public)?;
            issued_certificate(&plan, &csr.subject_alt_names, &csr.spki_der, &issuer_der, signer)
        })
        .await?;
        let certificate = certificate_info(&der, "certificate")
            .map_err(|e| CommandError::Internal(format!("Shedu signed an unreadable certificate: {e}")))?;
        let serial = certificate.serial_number.clone();
        let command = CertificateCommand::Issue {
            certificate: Box::new(certificate),
            issuer_metadata: IssuerMetadata {
                id: ca.id.clone(),
                serial_number: ca.certificate.serial_number.clone(),
                level: ca.level,
            },
            profile_id,
            metadata: request.metadata.clone(),
        };
        let events = issued::decide(None, &command, now)?;
        let issued =
            issued::replay(&events).ok_or_else(|| CommandError::Internal("issuance produced nothing".into()))?;
        let guarded: Vec<String> = guards.iter().map(|g| g.stream_id.clone()).collect();
        let request = AppendRequest {
            writes: vec![StreamWrite {
                stream_id: issued::stream_id(&serial),
                expected: ExpectedVersion::NoStream,
                events: new_events(&events, ctx, None, now),
            }],
            guards,
        };
        match self.store.append(request).await {
            Ok(appended) => Ok(Ok(CertificateOutcome { certificate: issued, position: appended.last_position })),
            Err(StoreError::Conflict { stream_id, .. }) if guarded.contains(&stream_id) => {
                self.signing_cas.forget(&guarded[0]);
                guarded[1..].iter().for_each(|id| self.profiles.forget(id));
                Ok(Err(Stale))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The CA as last read by this process, or read now.
    async fn signing_ca(&self, id: &CaId, fresh: bool) -> Result<Arc<Versioned<SigningCa>>, CommandError> {
        let stream_id = id.stream_id();
        if let Some(hit) = self.signing_cas.get(&stream_id).filter(|_| !fresh) {
            return Ok(hit);
        }
        let (ca, version, _) = self.load(id).await?.existing(id)?;
        let issuer_der = certificates_from_pem(&ca.certificate.certificate, "issuer")?.remove(0);
        let entry = Arc::new(Versioned { state: SigningCa { ca, issuer_der }, version });
        self.signing_cas.put(stream_id, entry.clone());
        Ok(entry)
    }

    /// The stored profile as last read by this process, or read now.
    async fn stored_profile(
        &self,
        id: &ProfileId,
        fresh: bool,
    ) -> Result<Arc<Versioned<IssuanceProfile>>, CommandError> {
        let stream_id = id.stream_id();
        if let Some(hit) = self.profiles.get(&stream_id).filter(|_| !fresh) {
            return Ok(hit);
        }
        let (state, version) = existing_profile(self.store.as_ref(), id).await?;
        let entry = Arc::new(Versioned { state, version });
        self.profiles.put(stream_id, entry.clone());
        Ok(entry)
    }
}
