//! Certificates a CA signed: one stream each (`certificate-<serial>`), so that issuance by one CA
//! never contends on the CA's stream (docs/adr/0003).

mod events;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

pub use events::{CertificateEvent, CertificateIssued, CertificateMetadataUpdated, CertificateStatusChanged};

use crate::DomainError;
use crate::ca::IssuerMetadata;
use crate::certificate::CertificateInfo;
use crate::ids::{CaId, ProfileId, SerialNumber};
use crate::metadata::{Metadata, apply_patch};
use crate::status::{Revocation, RevocationReason, Status, cascade, transition};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    pub certificate: CertificateInfo,
    pub issuer_metadata: IssuerMetadata,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
    pub recorded_status: Status,
    pub revocation: Option<Revocation>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl IssuedCertificate {
    /// Never ACTIVE (or INACTIVE) past notAfter, whether or not the expiry was recorded.
    pub fn status_at(&self, now: OffsetDateTime) -> Status {
        match self.recorded_status {
            Status::Active | Status::Inactive if self.certificate.expired_at(now) => Status::Expired,
            status => status,
        }
    }

    pub fn is_on_hold(&self) -> bool {
        self.recorded_status == Status::Revoked
            && self.revocation.is_some_and(|r| r.reason == RevocationReason::CertificateHold)
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.certificate.serial_number
    }
}

pub fn stream_id(serial: &SerialNumber) -> String {
    format!("certificate-{serial}")
}

#[derive(Debug, Clone, PartialEq)]
pub enum CertificateCommand {
    Issue {
        certificate: Box<CertificateInfo>,
        issuer_metadata: IssuerMetadata,
        profile_id: Option<ProfileId>,
        metadata: Metadata,
    },
    ChangeStatus {
        status: Status,
        reason: Option<RevocationReason>,
    },
    /// The issuing CA (or an ancestor) was revoked.
    CascadeRevoke {
        from: CaId,
    },
    UpdateMetadata {
        patch: Value,
    },
}

pub fn decide(
    state: Option<&IssuedCertificate>,
    command: &CertificateCommand,
    now: OffsetDateTime,
) -> Result<Vec<CertificateEvent>, DomainError> {
    match (state, command) {
        (None, CertificateCommand::Issue { certificate, issuer_metadata, profile_id, metadata }) => {
            Ok(vec![CertificateEvent::Issued(CertificateIssued {
                certificate: (**certificate).clone(),
                issuer_metadata: issuer_metadata.clone(),
                profile_id: profile_id.clone(),
                metadata: metadata.clone(),
                at: now,
            })])
        }
        (Some(c), CertificateCommand::Issue { .. }) => {
            Err(DomainError::Conflict(format!("certificate {} already exists", c.serial())))
        }
        (None, _) => Err(DomainError::NotFound("certificate".into())),
        (Some(c), CertificateCommand::CascadeRevoke { from }) => {
            let current = c.status_at(now);
            Ok(cascade(current, c.is_on_hold(), now)
                .map(|t| status_changed(current, t, Some(from.clone()), now))
                .into_iter()
                .collect())
        }
        (Some(c), CertificateCommand::ChangeStatus { status, reason }) => {
            let current = c.status_at(now);
            let what = format!("certificate {}", c.serial());
            let current_reason = c.revocation.map(|r| r.reason);
            Ok(transition(&what, current, c.is_on_hold(), current_reason, *status, *reason, now)?
                .map(|t| status_changed(current, t, None, now))
                .into_iter()
                .collect())
        }
        (Some(c), CertificateCommand::UpdateMetadata { patch }) => {
            let metadata = apply_patch(&c.metadata, patch)?;
            Ok(if metadata == c.metadata {
                vec![]
            } else {
                vec![CertificateEvent::MetadataUpdated(CertificateMetadataUpdated {
                    patch: patch.clone(),
                    metadata,
                    at: now,
                })]
            })
        }
    }
}

fn status_changed(
    previous: Status,
    t: crate::status::Transition,
    cascaded_from: Option<CaId>,
    at: OffsetDateTime,
) -> CertificateEvent {
    CertificateEvent::StatusChanged(CertificateStatusChanged {
        status: t.status,
        previous,
        revocation: t.revocation,
        cascaded_from,
        at,
    })
}

pub fn evolve(state: Option<IssuedCertificate>, event: &CertificateEvent) -> Option<IssuedCertificate> {
    let mut c = match (state, event) {
        (None, CertificateEvent::Issued(e)) => {
            return Some(IssuedCertificate {
                certificate: e.certificate.clone(),
                issuer_metadata: e.issuer_metadata.clone(),
                profile_id: e.profile_id.clone(),
                metadata: e.metadata.clone(),
                recorded_status: Status::Active,
                revocation: None,
                created_at: e.at,
                updated_at: e.at,
                version: 1,
            });
        }
        (Some(c), _) => c,
        (None, _) => return None,
    };
    c.version += 1;
    match event {
        CertificateEvent::Issued(_) => {}
        CertificateEvent::StatusChanged(e) => {
            c.recorded_status = e.status;
            c.revocation = e.revocation;
            c.updated_at = e.at;
        }
        CertificateEvent::MetadataUpdated(e) => {
            c.metadata = e.metadata.clone();
            c.updated_at = e.at;
        }
    }
    Some(c)
}

pub fn replay<'a>(events: impl IntoIterator<Item = &'a CertificateEvent>) -> Option<IssuedCertificate> {
    events.into_iter().fold(None, evolve)
}
