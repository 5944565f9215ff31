//! A CA about to exist: where it sits in the hierarchy and what its certificate may say, decided
//! before a key is generated or imported, and the [`NewCa`] its creation records.

use time::OffsetDateTime;

use super::state::{Ca, CaType, IssuerMetadata, KeyRef, SecurityLevel};
use crate::DomainError;
use crate::certificate::CertificateInfo;
use crate::duration::Validity;
use crate::error::Resource;
use crate::ids::{CaId, ProfileId};
use crate::metadata::Metadata;
use crate::status::Status;
use crate::subject::Subject;

/// A CA about to exist: its certificate is already signed (or imported) when this is decided.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCa {
    pub id: CaId,
    pub ca_type: CaType,
    pub level: u32,
    pub issuer_metadata: Option<IssuerMetadata>,
    pub certificate: CertificateInfo,
    pub key: Option<KeyRef>,
    pub security_level: Option<SecurityLevel>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
    /// See [`Ca::max_path_len`].
    pub max_path_len: Option<u32>,
}

/// Where a CA's private key is kept, and how well the engine protects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custody {
    pub key: KeyRef,
    pub security_level: SecurityLevel,
}

/// Where a managed CA is to be created.
#[derive(Debug, Clone, Copy)]
pub enum Under<'a> {
    /// A self-signed root.
    Root,
    /// A subordinate signed by the parent `id`, whose state is `None` when no such CA exists;
    /// `ancestors`: the parent's own ancestors in Shedu, nearest first.
    Parent { id: &'a CaId, state: Option<&'a Ca>, ancestors: &'a [Ca] },
}

/// What a managed CA's certificate says, decided before its key is generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificatePlan {
    pub subject: Subject,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The certificate's pathLen: one below the parent's limit, none for a root.
    pub path_len: Option<u32>,
}

/// Where an imported CA sits in the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub level: u32,
    pub issuer_metadata: Option<IssuerMetadata>,
    /// See [`Ca::max_path_len`].
    pub max_path_len: Option<u32>,
}

/// A new CA's id must be free. A deleted CA's id stays taken: its history stays under it.
pub fn check_id_free(id: &CaId, existing: Option<&Ca>) -> Result<(), DomainError> {
    match existing {
        Some(_) => Err(DomainError::AlreadyExists(Resource::Ca(id.clone()))),
        None => Ok(()),
    }
}

/// Plans a managed CA's certificate. A subordinate's parent must exist, be able to sign now,
/// have path left below it and outlive it; the subordinate gets the parent's limit less one.
pub fn plan_managed(
    subject: Subject,
    validity: &Validity,
    under: Under<'_>,
    now: OffsetDateTime,
) -> Result<CaCertificatePlan, DomainError> {
    let not_after = validity.not_after(now)?;
    let path_len = match under {
        Under::Parent { id, state, ancestors } => {
            check_can_sign_subordinate(id, state, ancestors, not_after, now)?;
            state.map(Ca::child_path_len).transpose()?.flatten()
        }
        Under::Root => None,
    };
    Ok(CaCertificatePlan { subject, not_before: now.replace_nanosecond(0).unwrap_or(now), not_after, path_len })
}

/// Checks, before any key is generated, that `parent` may sign a subordinate valid until
/// `not_after`.
pub fn check_can_sign_subordinate(
    parent_id: &CaId,
    parent: Option<&Ca>,
    ancestors: &[Ca],
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let parent = parent.filter(|p| !p.deleted).ok_or_else(|| DomainError::ParentNotFound(parent_id.clone()))?;
    parent.ensure_lineage_can_sign(ancestors, now)?;
    if not_after > parent.certificate.valid_to {
        return Err(DomainError::OutlivesParent { parent: parent.id.clone() });
    }
    Ok(())
}

/// Only a CA certificate (BasicConstraints CA:TRUE) can become a CA.
pub fn ensure_ca_certificate(certificate: &CertificateInfo) -> Result<(), DomainError> {
    if certificate.is_ca { Ok(()) } else { Err(DomainError::NotACaCertificate) }
}

/// An imported CA must be able to issue: keyCertSign in its KeyUsage (a CA imported with its key
/// will sign, so it must have one), and a key strong enough to certify with.
pub fn ensure_importable(certificate: &CertificateInfo, ca_type: CaType) -> Result<(), DomainError> {
    ensure_ca_certificate(certificate)?;
    let key_usage = &certificate.key_usage;
    if !key_usage.is_empty() && !key_usage.iter().any(|u| u == "CertSign") {
        return Err(DomainError::NotAnIssuer { reason: "its KeyUsage lacks keyCertSign" });
    }
    if key_usage.is_empty() && ca_type == CaType::ImportedWithKey {
        return Err(DomainError::NotAnIssuer {
            reason: "it has no KeyUsage, so nothing it signs would verify strictly",
        });
    }
    let key = &certificate.key_metadata;
    if key.key_type == crate::key::KeyType::Rsa && key.bits < crate::issuance::MIN_RSA_BITS {
        return Err(DomainError::WeakKey { bits: key.bits });
    }
    Ok(())
}

/// Places an imported CA certificate: a root when it is self-signed, under `issuer` when Shedu
/// holds the CA that signed it, otherwise at level 0 with no known issuer. A subordinate of a CA
/// revoked for good is refused; one under a CA on hold is accepted, as the hold may be lifted.
/// Under a known issuer it must fit its path length and end no later than it.
pub fn place_import(
    id: &CaId,
    certificate: &CertificateInfo,
    self_signed: bool,
    issuer: Option<&Ca>,
    now: OffsetDateTime,
) -> Result<Placement, DomainError> {
    ensure_ca_certificate(certificate)?;
    let own_limit = certificate.path_len_constraint;
    if self_signed {
        let own = IssuerMetadata { id: id.clone(), serial_number: certificate.serial_number.clone(), level: 0 };
        return Ok(Placement { level: 0, issuer_metadata: Some(own), max_path_len: own_limit });
    }
    match issuer {
        Some(p) if p.status_at(now) == Status::Revoked && !p.is_on_hold() => {
            Err(DomainError::IssuerRevoked { issuer: p.id.clone() })
        }
        Some(p) => {
            if certificate.valid_to > p.certificate.valid_to {
                return Err(DomainError::OutlivesParent { parent: p.id.clone() });
            }
            let inherited = p.child_path_len()?;
            let max_path_len = match (own_limit, inherited) {
                (Some(own), Some(inherited)) => Some(own.min(inherited)),
                (own, inherited) => own.or(inherited),
            };
            Ok(Placement { level: p.level + 1, issuer_metadata: Some(p.as_issuer()), max_path_len })
        }
        None => Ok(Placement { level: 0, issuer_metadata: None, max_path_len: own_limit }),
    }
}

impl NewCa {
    /// A managed CA whose certificate `parent` signed, or that signed itself when `parent` is
    /// `None`.
    pub fn managed(
        id: CaId,
        parent: Option<&Ca>,
        certificate: CertificateInfo,
        custody: Custody,
        profile_id: Option<ProfileId>,
        metadata: Metadata,
    ) -> NewCa {
        let issuer_metadata = match parent {
            Some(p) => p.as_issuer(),
            None => IssuerMetadata { id: id.clone(), serial_number: certificate.serial_number.clone(), level: 0 },
        };
        NewCa {
            id,
            ca_type: CaType::Managed,
            level: parent.map_or(0, |p| p.level + 1),
            issuer_metadata: Some(issuer_metadata),
            max_path_len: certificate.path_len_constraint,
            certificate,
            key: Some(custody.key),
            security_level: Some(custody.security_level),
            profile_id,
            metadata,
        }
    }

    /// An imported CA, with its key in an engine (it can sign) or without (a trust anchor).
    pub fn imported(
        id: CaId,
        certificate: CertificateInfo,
        placement: Placement,
        custody: Option<Custody>,
        profile_id: Option<ProfileId>,
        metadata: Metadata,
    ) -> NewCa {
        NewCa {
            id,
            ca_type: if custody.is_some() { CaType::ImportedWithKey } else { CaType::ImportedWithoutKey },
            level: placement.level,
            issuer_metadata: placement.issuer_metadata,
            max_path_len: placement.max_path_len,
            certificate,
            security_level: custody.as_ref().map(|c| c.security_level),
            key: custody.map(|c| c.key),
            profile_id,
            metadata,
        }
    }

    /// The CA in Shedu that this one is recorded under, if any (a root is its own issuer).
    pub fn parent_id(&self) -> Option<&CaId> {
        self.issuer_metadata.as_ref().map(|i| &i.id).filter(|issuer| **issuer != self.id)
    }
}
