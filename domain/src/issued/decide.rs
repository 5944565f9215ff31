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
use crate::expiry::{self, Fired, Trigger, mark_triggered};
use crate::ids::{CaId, ProfileId, SerialNumber};
use crate::metadata::{Metadata, apply_patch, check_size};
use crate::status::{RevocationReason, Status};
use crate::transition::{Requested, Transition, cascade, transition};

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
        /// RFC 5280 §5.3.2: since when the certificate was invalid (a key compromise's date).
        invalidity_date: Option<OffsetDateTime>,
    },
    /// The issuing CA (or an ancestor) was revoked, for `cause`.
    CascadeRevoke {
        from: CaId,
        cause: Option<RevocationReason>,
    },
    UpdateMetadata {
        patch: Value,
    },
    /// The scheduler: record `trigger` if it is pending and due (else nothing).
    Fire {
        trigger: Trigger,
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
            check_size(metadata)?;
            expiry::check_deltas(metadata)?;
            Ok(vec![CertificateEvent::Issued(CertificateIssued {
                certificate: (**certificate).clone(),
                issuer_metadata: issuer_metadata.clone(),
                profile_id: profile_id.clone(),
                metadata: metadata.clone(),
                at: now,
            })])
        }
        (Some(_), CertificateCommand::Issue { .. }) => Err(DomainError::AlreadyExists(what())),
        (None, CertificateCommand::Fire { .. }) => Ok(vec![]),
        (None, _) => Err(DomainError::NotFound(what())),
        (Some(c), CertificateCommand::Fire { trigger }) => {
            Ok(expiry::decide(&c.certificate, c.recorded_status, &c.metadata, trigger, now)
                .map(|fired| match fired {
                    Fired::Warning(e) => CertificateEvent::ExpirationWarning(e),
                    Fired::Expired(e) => CertificateEvent::Expired(e),
                })
                .into_iter()
                .collect())
        }
        (Some(c), CertificateCommand::CascadeRevoke { from, cause }) => {
            let current = c.status_at(now);
            Ok(cascade(current, c.is_on_hold(), *cause, now)
                .map(|t| status_changed(current, t, Some(from.clone()), now))
                .into_iter()
                .collect())
        }
        (Some(c), CertificateCommand::ChangeStatus { status, reason, invalidity_date }) => {
            let current = c.status_at(now);
            let current_reason = c.revocation.map(|r| r.reason);
            Ok(transition(
                what(),
                current,
                c.is_on_hold(),
                current_reason,
                Requested { status: *status, reason: *reason, invalidity_date: *invalidity_date },
                now,
            )?
            .map(|t| status_changed(current, t, None, now))
            .into_iter()
            .collect())
        }
        (Some(c), CertificateCommand::UpdateMetadata { patch }) => {
            let metadata = apply_patch(&c.metadata, patch)?;
            check_size(&metadata)?;
            expiry::check_deltas(&metadata)?;
            Ok(if metadata == c.metadata {
                vec![]
            } else {
                vec![CertificateEvent::MetadataUpdated(CertificateMetadataUpdated {
                    patch: patch.clone(),
                    metadata: None,
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
            c.metadata = e.applied_to(&c.metadata);
            c.updated_at = e.at;
        }
        CertificateEvent::ExpirationWarning(e) => {
            mark_triggered(&mut c.metadata, &e.name);
            c.updated_at = e.at;
        }
        CertificateEvent::Expired(e) => {
            c.recorded_status = Status::Expired;
            c.updated_at = e.at;
        }
    }
    Some(c)
}

pub fn replay<'a>(events: impl IntoIterator<Item = &'a CertificateEvent>) -> Option<IssuedCertificate> {
    events.into_iter().fold(None, evolve)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::aggregate::DomainEvent;
    use crate::status::Revocation;
    use crate::testing::{Given, NOW, ca_after, ca_certificate, ca_created, given};

    fn serial() -> SerialNumber {
        SerialNumber::parse("4a01").unwrap()
    }

    fn issue() -> CertificateCommand {
        let mut leaf = ca_certificate(datetime!(2027-01-01 0:00 UTC));
        leaf.is_ca = false;
        CertificateCommand::Issue {
            certificate: Box::new(leaf),
            issuer_metadata: ca_after(&[ca_created("root")]).as_issuer(),
            profile_id: Some(ProfileId::parse("device-1y").unwrap()),
            metadata: Metadata::new(),
        }
    }

    fn issued() -> CertificateEvent {
        decide(&serial(), None, &issue(), NOW).unwrap().remove(0)
    }

    fn certificate(events: impl IntoIterator<Item = CertificateEvent>) -> Given<IssuedCertificate> {
        given(serial(), events)
    }

    fn revoked(reason: RevocationReason) -> CertificateEvent {
        CertificateEvent::StatusChanged(CertificateStatusChanged {
            status: Status::Revoked,
            previous: Status::Active,
            revocation: Some(Revocation::new(reason, NOW)),
            cascaded_from: None,
            at: NOW,
        })
    }

    fn set_status(status: Status, reason: Option<RevocationReason>) -> CertificateCommand {
        CertificateCommand::ChangeStatus { status, reason, invalidity_date: None }
    }

    #[test]
    fn a_serial_is_issued_once() {
        let state = certificate([issued()]).state().unwrap();
        assert_eq!((state.recorded_status, state.version), (Status::Active, 1));
        certificate([issued()]).when(issue()).then_err(DomainError::AlreadyExists(Resource::Certificate(serial())));
    }

    #[test]
    fn an_unknown_certificate_is_not_found() {
        let revoke = set_status(Status::Revoked, Some(RevocationReason::KeyCompromise));
        certificate([]).when(revoke).then_err(DomainError::NotFound(Resource::Certificate(serial())));
    }

    #[test]
    fn a_held_certificate_can_be_released_but_a_revoked_one_cannot() {
        let held = certificate([issued(), revoked(RevocationReason::CertificateHold)]);
        assert_eq!(held.when(set_status(Status::Active, None)).events().len(), 1);
        certificate([issued(), revoked(RevocationReason::KeyCompromise)])
            .when(set_status(Status::Active, None))
            .then_err(DomainError::RevokedForGood(Resource::Certificate(serial())));
    }

    #[test]
    fn an_expired_certificate_keeps_its_status() {
        certificate([issued()])
            .when_at(set_status(Status::Inactive, None), datetime!(2027-02-01 0:00 UTC))
            .then_err(DomainError::AlreadyExpired(Resource::Certificate(serial())));
    }

    #[test]
    fn a_cascade_revokes_what_is_still_valid_and_names_its_cause() {
        let root = CaId::parse("root").unwrap();
        let cascade = CertificateCommand::CascadeRevoke { from: root.clone(), cause: None };
        let events = certificate([issued()]).when(cascade.clone()).events();
        assert!(matches!(&events[..], [CertificateEvent::StatusChanged(e)]
            if e.cascaded_from == Some(root.clone())
                && e.revocation.map(|r| r.reason) == Some(RevocationReason::CessationOfOperation)));
        certificate([issued(), revoked(RevocationReason::KeyCompromise)]).when(cascade.clone()).then_nothing();
        certificate([issued()]).when_at(cascade, datetime!(2027-02-01 0:00 UTC)).then_nothing();
    }

    #[test]
    fn metadata_patches_apply_and_a_no_op_records_nothing() {
        let patch = json!([{"op": "add", "path": "/device", "value": "d-1"}]);
        let events = certificate([issued()]).when(CertificateCommand::UpdateMetadata { patch: patch.clone() }).events();
        let after = certificate([issued(), events[0].clone()]);
        assert_eq!(after.state().unwrap().metadata["device"], "d-1");
        after.when(CertificateCommand::UpdateMetadata { patch }).then_nothing();
    }

    #[test]
    fn certificate_events_round_trip_through_their_stored_form() {
        for event in [issued(), revoked(RevocationReason::CertificateHold)] {
            let back = CertificateEvent::from_stored(event.event_type(), event.schema_version(), &event.to_data());
            assert_eq!(back.unwrap(), event);
        }
    }
}
