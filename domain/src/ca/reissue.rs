//! Reissuing a CA: the same CA (id, subject, place in the hierarchy) with a new certificate and
//! serial, optionally a new key. A root signs itself again; a subordinate is signed by its parent.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::new::{CaCertificatePlan, Custody, check_can_sign_subordinate, ensure_ca_certificate};
use super::state::{Ca, CaType, EarlierCertificate, IssuerMetadata, KeyRef, SecurityLevel};
use crate::DomainError;
use crate::certificate::CertificateInfo;
use crate::duration::{Period, Validity};
use crate::expiry::rearm;
use crate::ids::SerialNumber;
use crate::status::Status;

pub const REISSUED_FROM: &str = "lamassu.io/ca/reissued-from";
pub const REISSUED_AT: &str = "lamassu.io/ca/reissued-at";
pub const REISSUE_REASON: &str = "lamassu.io/ca/reissue-reason";
/// The reason recorded when the request gives none (Lamassu's).
pub const DEFAULT_REASON: &str = "certificate-reissuance";

/// A reissued certificate, signed, about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Reissue {
    pub certificate: CertificateInfo,
    /// The new key's custody when the CA was rekeyed; `None` keeps the key.
    pub custody: Option<Custody>,
    pub issuer_metadata: IssuerMetadata,
    pub max_path_len: Option<u32>,
    pub reason: String,
}

/// `ca.reissue`: the CA's certificate is now `certificate`; the one it replaces (serial
/// `previous_serial_number`) stays in the history and stays valid until it expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaReissued {
    pub certificate: CertificateInfo,
    pub previous_serial_number: SerialNumber,
    /// The new key, when rekeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<SecurityLevel>,
    pub issuer_metadata: IssuerMetadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_len: Option<u32>,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A CA is reissued while it may still act: not revoked (nor on hold), not expired, not deleted,
/// holding its key, and placed (its issuer in Shedu, or itself).
pub fn ensure_reissuable(ca: &Ca, now: OffsetDateTime) -> Result<(), DomainError> {
    let refuse = |reason: String| Err(DomainError::CaNotReissuable { id: ca.id.clone(), reason });
    let status = ca.status_at(now);
    if ca.deleted || matches!(status, Status::Revoked | Status::Expired) {
        return refuse(format!("it is {}", if ca.deleted { "deleted".into() } else { status.to_string() }));
    }
    if ca.ca_type == CaType::ImportedWithoutKey || ca.key.is_none() {
        return refuse("it holds no private key (imported without it)".into());
    }
    if ca.issuer_metadata.is_none() {
        return refuse("its issuer is not in Shedu; import the issuer first".into());
    }
    Ok(())
}

/// Plans the reissued certificate: same subject, valid from now for `validity` or, when none is
/// given, as long as the current certificate was; a subordinate's parent must still be able to
/// sign it and outlive it; pathLen stays what it was (never more than the parent allows).
pub fn plan_reissue(
    ca: &Ca,
    parent: Option<(&Ca, &[Ca])>,
    validity: Option<&Validity>,
    now: OffsetDateTime,
) -> Result<CaCertificatePlan, DomainError> {
    ensure_reissuable(ca, now)?;
    let lifetime = ca.certificate.valid_to - ca.certificate.valid_from;
    let same_length = Validity::Duration(Period { years: 0, rest: lifetime });
    let not_after = validity.unwrap_or(&same_length).not_after(now)?;
    let path_len = match (ca.parent_id(), parent) {
        (None, _) => ca.certificate.path_len_constraint,
        (Some(parent_id), parent) => {
            let (state, ancestors) = parent.map_or((None, &[][..]), |(p, a)| (Some(p), a));
            check_can_sign_subordinate(parent_id, state, ancestors, not_after, now)?;
            let inherited = state.map(Ca::child_path_len).transpose()?.flatten();
            match (ca.certificate.path_len_constraint, inherited) {
                (Some(own), Some(inherited)) => Some(own.min(inherited)),
                (own, inherited) => own.or(inherited),
            }
        }
    };
    let subject = ca.certificate.subject.clone();
    Ok(CaCertificatePlan { subject, not_before: now.replace_nanosecond(0).unwrap_or(now), not_after, path_len })
}

/// Decides `ca.reissue` on the CA as it is now.
pub fn decide_reissue(ca: &Ca, reissue: &Reissue, now: OffsetDateTime) -> Result<CaReissued, DomainError> {
    ensure_reissuable(ca, now)?;
    ensure_ca_certificate(&reissue.certificate)?;
    if reissue.certificate.serial_number == ca.certificate.serial_number {
        return Err(DomainError::BrokenInvariant("a reissued certificate has a new serial"));
    }
    Ok(CaReissued {
        certificate: reissue.certificate.clone(),
        previous_serial_number: ca.certificate.serial_number.clone(),
        key: reissue.custody.as_ref().map(|c| c.key.clone()),
        security_level: reissue.custody.as_ref().map(|c| c.security_level),
        issuer_metadata: reissue.issuer_metadata.clone(),
        max_path_len: reissue.max_path_len,
        reason: reissue.reason.clone(),
        at: now,
    })
}

/// Folds `ca.reissue`: the new certificate (and key), the reissue recorded in the metadata, the
/// expiration deltas armed again for the new `valid_to`.
pub(super) fn apply_reissue(ca: &mut Ca, e: &CaReissued) {
    ca.earlier_certificates.push(EarlierCertificate {
        serial_number: ca.certificate.serial_number.clone(),
        valid_to: ca.certificate.valid_to,
        issuer: ca.issuer_metadata.as_ref().map(|i| i.id.clone()).filter(|_| !ca.certificate.is_self_signed()),
    });
    ca.certificate = e.certificate.clone();
    if let Some(key) = &e.key {
        if let Some(old) = ca.key.replace(key.clone())
            && old != *key
        {
            ca.retired_keys.push(old);
        }
        ca.security_level = e.security_level.or(ca.security_level);
    }
    ca.issuer_metadata = Some(e.issuer_metadata.clone());
    ca.max_path_len = e.max_path_len;
    let at = e.at.format(&Rfc3339).unwrap_or_default();
    ca.metadata.insert(REISSUED_FROM.into(), Value::String(e.previous_serial_number.to_string()));
    ca.metadata.insert(REISSUED_AT.into(), Value::String(at));
    ca.metadata.insert(REISSUE_REASON.into(), Value::String(e.reason.clone()));
    rearm(&mut ca.metadata);
    ca.updated_at = e.at;
}
