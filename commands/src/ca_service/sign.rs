//! Signing a CSR: the CA must be ACTIVE and hold a key; the profile decides the contents; the
//! certificate is its own stream, appended with a guard on the CA's stream so that it can never
//! commit after the CA's revocation (docs/adr/0003).

use shedu_domain::DomainError;
use shedu_domain::ca::IssuerMetadata;
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::issuance;
use shedu_domain::issued::{self, CertificateCommand};
use shedu_domain::metadata::Metadata;
use shedu_domain::profile::{IssuanceProfile, ProfileInput};

use super::{CaService, CommandContext, MAX_ATTEMPTS, blocking};
use crate::CommandError;
use crate::certificate_service::CertificateOutcome;
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamGuard};
use crate::profile_service::existing_profile;
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

impl CaService {
    pub async fn sign_certificate(
        &self,
        ctx: &CommandContext,
        ca_id: &CaId,
        request: SignRequest,
    ) -> Result<CertificateOutcome, CommandError> {
        let now = self.clock.now();
        let (ca, mut version, _) = self.load(ca_id).await?.existing(ca_id)?;
        if !ca.can_sign(now) {
            let why = if ca.key.is_none() {
                "holds no private key".to_owned()
            } else {
                format!("is {}", ca.status_at(now).as_str())
            };
            return Err(DomainError::Conflict(format!("CA '{ca_id}' {why} and cannot sign")).into());
        }
        let csr = parse_csr(&request.csr)?;
        let (profile, profile_id) = match (request.profile, request.profile_id.or(ca.profile_id.clone())) {
            (Some(inline), _) => {
                // Minting a CA, or outliving the issuer, takes a profile an administrator created.
                if inline.sign_as_ca || inline.allow_validity_beyond_issuer {
                    return Err(DomainError::Rule(
                        "an inline profile cannot set sign_as_ca or allow_validity_beyond_issuer; use a stored profile"
                            .into(),
                    )
                    .into());
                }
                (IssuanceProfile::parse(ProfileId::parse("inline")?, inline)?, None)
            }
            (None, Some(id)) => (existing_profile(self.store.as_ref(), &id).await?, Some(id)),
            (None, None) => {
                return Err(DomainError::Rule(format!(
                    "no issuance profile: give profile_id or profile, or assign a default profile to CA '{ca_id}'"
                ))
                .into());
            }
        };
        let mut plan = issuance::plan(&profile, &csr.facts, ca.certificate.valid_to, now)?;
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
        let issuer_der = certificates_from_pem(&ca.certificate.certificate, "issuer")?.remove(0);
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
            metadata: request.metadata,
        };
        let events = issued::decide(None, &command, now)?;
        let issued =
            issued::replay(&events).ok_or_else(|| CommandError::Internal("issuance produced nothing".into()))?;
        let new = new_events(&events, ctx, None, now);
        for _ in 0..MAX_ATTEMPTS {
            let request = AppendRequest {
                writes: vec![crate::event_store::StreamWrite {
                    stream_id: issued::stream_id(&serial),
                    expected: ExpectedVersion::NoStream,
                    events: new.clone(),
                }],
                guards: vec![StreamGuard { stream_id: ca_id.stream_id(), version }],
            };
            match self.store.append(request).await {
                Ok(appended) => {
                    return Ok(CertificateOutcome { certificate: issued, position: appended.last_position });
                }
                // The CA changed after we read it: sign only if it still may.
                Err(StoreError::Conflict { stream_id, .. }) if stream_id == ca_id.stream_id() => {
                    let (ca, reloaded, _) = self.load(ca_id).await?.existing(ca_id)?;
                    if !ca.can_sign(self.clock.now()) {
                        return Err(DomainError::Conflict(format!(
                            "CA '{ca_id}' became {} before the certificate was recorded",
                            ca.status_at(now).as_str()
                        ))
                        .into());
                    }
                    version = reloaded;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { stream_id: ca_id.stream_id(), expected: "stable".into(), actual: version }.into())
    }
}
