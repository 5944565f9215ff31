//! Certificate commands, and the rules that turn them into events.

use serde_json::Value;
use time::OffsetDateTime;

use super::events::{CertificateEvent, CertificateIssued, CertificateMetadataUpdated, CertificateStatusChanged};
use super::state::{IssuedCertificate, stream_id};
use crate::DomainError;
use crate::aggregate::Aggregate;
use crate::ca::IssuerMetadata;
use crate::certificate::CertificateInfo;
use crate::error::Resource;
use crate::ids::{CaId, ProfileId, SerialNumber};
use crate::metadata::{Metadata, apply_patch};
use crate::status::{RevocationReason, Status};
use crate::transition::{Transition, cascade, transition};

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

impl Aggregate for IssuedCertificate {
    type Id = SerialNumber;
    type Command = CertificateCommand;
    type Event = CertificateEvent;

    fn stream_id(serial: &SerialNumber) -> String {
        stream_id(serial)
    }

    fn resource(serial: &SerialNumber) -> Resource {
        Resource::Certificate(serial.clone())
    }

    fn decide(
        serial: &SerialNumber,
        state: Option<&IssuedCertificate>,
        command: &CertificateCommand,
        now: OffsetDateTime,
    ) -> Result<Vec<CertificateEvent>, DomainError> {
        decide(serial, state, command, now)
    }

    fn evolve(state: Option<IssuedCertificate>, event: &CertificateEvent) -> Option<IssuedCertificate> {
        evolve(state, event)
    }
}

pub fn decide(
    serial: &SerialNumber,
    state: Option<&IssuedCertificate>,
    command: &CertificateCommand,
    now: OffsetDateTime,
) -> Result<Vec<CertificateEvent>, DomainError> {
    let what = || Resource::Certificate(serial.clone());
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
        (Some(_), CertificateCommand::Issue { .. }) => Err(DomainError::AlreadyExists(what())),
        (None, _) => Err(DomainError::NotFound(what())),
        (Some(c), CertificateCommand::CascadeRevoke { from }) => {
            let current = c.status_at(now);
            Ok(cascade(current, c.is_on_hold(), now)
                .map(|t| status_changed(current, t, Some(from.clone()), now))
                .into_iter()
                .collect())
        }
        (Some(c), CertificateCommand::ChangeStatus { status, reason }) => {
            let current = c.status_at(now);
            let current_reason = c.revocation.map(|r| r.reason);
            Ok(transition(what(), current, c.is_on_hold(), current_reason, *status, *reason, now)?
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
    t: Transition,
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
