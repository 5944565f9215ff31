//! Importing an existing CA certificate, with its private key (it can sign) or without (a trust
//! anchor). Its parent, if Shedu knows it, is found by AKI/issuer name and a signature check.

use shedu_domain::DomainError;
use shedu_domain::ca::{Ca, CaCommand, CaType, IssuerMetadata, KeyRef, NewCa};
use shedu_domain::certificate::CertificateInfo;
use shedu_domain::ids::{CaId, EngineId, ProfileId};
use shedu_domain::metadata::Metadata;
use shedu_domain::status::Status;
use uuid::Uuid;

use super::{CaService, CommandContext, Outcome, blocking};
use crate::CommandError;
use crate::x509::parse::{certificate_info, certificates_from_pem, is_signed_by, spki_der};

#[derive(Clone)]
pub struct ImportCa {
    pub id: Option<CaId>,
    pub certificate_pem: String,
    /// PEM PKCS#8, PKCS#1 or SEC1. Handed to the engine and dropped; never logged or recorded.
    pub private_key_pem: Option<String>,
    pub engine_id: Option<EngineId>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
}

impl std::fmt::Debug for ImportCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportCa")
            .field("id", &self.id)
            .field("private_key_pem", &self.private_key_pem.as_ref().map(|_| "<redacted>"))
            .field("engine_id", &self.engine_id)
            .finish_non_exhaustive()
    }
}

impl CaService {
    pub async fn import_ca(&self, ctx: &CommandContext, request: ImportCa) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        if let Some(profile_id) = &request.profile_id {
            crate::profile_service::existing_profile(self.store.as_ref(), profile_id).await?;
        }
        let ders = certificates_from_pem(&request.certificate_pem, "certificate")?;
        let [der] = &ders[..] else {
            return Err(DomainError::invalid("certificate", "expected exactly one certificate").into());
        };
        let certificate = certificate_info(der, "certificate")?;
        if !certificate.is_ca {
            return Err(DomainError::Rule(
                "the certificate is not a CA certificate (BasicConstraints CA:FALSE)".into(),
            )
            .into());
        }
        let id = match request.id.clone() {
            Some(id) => id,
            None => CaId::parse(&Uuid::new_v4().to_string())?,
        };
        if self.load(&id).await?.ca.is_some() {
            return Err(DomainError::Conflict(format!("a CA with id '{id}' already exists")).into());
        }

        let self_signed = certificate.is_self_signed() && is_signed_by(der, der);
        let parent = if self_signed { None } else { self.find_issuer(der, &certificate).await? };
        if let Some(p) = parent.as_ref().filter(|p| p.status_at(now) == Status::Revoked && !p.is_on_hold()) {
            return Err(DomainError::Conflict(format!(
                "its issuer, CA '{}', is revoked; a subordinate of a revoked CA cannot be imported",
                p.id
            ))
            .into());
        }
        let (level, issuer_metadata) = match (&parent, self_signed) {
            (_, true) => {
                (0, Some(IssuerMetadata { id: id.clone(), serial_number: certificate.serial_number.clone(), level: 0 }))
            }
            (Some(p), false) => (
                p.level + 1,
                Some(IssuerMetadata {
                    id: p.id.clone(),
                    serial_number: p.certificate.serial_number.clone(),
                    level: p.level,
                }),
            ),
            (None, false) => (0, None),
        };

        let (key, security_level) = match request.private_key_pem {
            Some(private_key_pem) => {
                let engine = self.engines.resolve(request.engine_id.as_ref())?;
                let spki = spki_der(der)?;
                let info = engine.info().clone();
                let public = blocking(move || Ok(engine.import_key(&private_key_pem, &spki)?)).await?;
                (Some(KeyRef { engine_id: info.id, key_id: public.key_id }), Some(info.security_level))
            }
            None => (None, None),
        };
        let new = NewCa {
            id,
            ca_type: if key.is_some() { CaType::ImportedWithKey } else { CaType::ImportedWithoutKey },
            level,
            issuer_metadata,
            certificate,
            key,
            security_level,
            profile_id: request.profile_id,
            metadata: request.metadata,
        };
        let parent_id = parent.map(|p| p.id);
        self.commit_new_ca(ctx, CaCommand::Import(new), parent_id.as_ref(), false, now).await
    }

    /// The CA in Shedu whose key signed `der`, if any.
    async fn find_issuer(&self, der: &[u8], certificate: &CertificateInfo) -> Result<Option<Ca>, CommandError> {
        let candidates =
            self.lookup.issuer_candidates(certificate.authority_key_id.as_deref(), &certificate.issuer).await?;
        for candidate in candidates {
            let Some(ca) = self.load(&candidate).await?.ca.filter(|ca| !ca.deleted) else {
                continue;
            };
            let issuer_der = certificates_from_pem(&ca.certificate.certificate, "issuer")?.remove(0);
            if is_signed_by(der, &issuer_der) {
                return Ok(Some(ca));
            }
        }
        Ok(None)
    }
}
