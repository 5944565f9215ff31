use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::ca::{CaType, replay};
use crate::ids::{EngineId, KeyId, SerialNumber};
use crate::key::{KeyMetadata, KeyType};
use crate::status::Revocation;
use crate::subject::Subject;

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

struct Given(Vec<CaEvent>);

fn given(events: impl IntoIterator<Item = CaEvent>) -> Given {
    Given(events.into_iter().collect())
}

impl Given {
    fn when(&self, command: CaCommand) -> Result<Vec<CaEvent>, DomainError> {
        self.when_at(command, NOW)
    }

    fn when_at(&self, command: CaCommand, now: OffsetDateTime) -> Result<Vec<CaEvent>, DomainError> {
        let state = replay(&self.0);
        decide(state.as_ref(), &command, now)
    }
}

fn certificate(valid_to: OffsetDateTime) -> CertificateInfo {
    let subject = Subject { common_name: "Root".into(), ..Subject::default() };
    CertificateInfo {
        serial_number: SerialNumber::parse("4a01").unwrap(),
        certificate: "-----BEGIN CERTIFICATE-----".into(),
        subject: subject.clone(),
        issuer: subject,
        subject_key_id: "aa".into(),
        authority_key_id: None,
        valid_from: datetime!(2026-01-01 0:00 UTC),
        valid_to,
        key_metadata: KeyMetadata::new(KeyType::Ecdsa, 256),
        key_usage: vec!["CertSign".into(), "CRLSign".into()],
        extended_key_usage: vec![],
        is_ca: true,
        path_len_constraint: None,
    }
}

fn new_ca(id: &str) -> NewCa {
    NewCa {
        id: CaId::parse(id).unwrap(),
        ca_type: CaType::Managed,
        level: 0,
        issuer_metadata: None,
        certificate: certificate(datetime!(2046-01-01 0:00 UTC)),
        key: Some(KeyRef { engine_id: EngineId::parse("sw").unwrap(), key_id: KeyId::parse("ab").unwrap() }),
        security_level: Some(SecurityLevel::SL0),
        profile_id: None,
        metadata: Metadata::new(),
    }
}

fn ca_created() -> CaEvent {
    decide(None, &CaCommand::Create(new_ca("root")), NOW).unwrap().remove(0)
}

fn status_changed(status: Status, reason: Option<RevocationReason>) -> CaEvent {
    CaEvent::StatusChanged(CaStatusChanged {
        status,
        previous: Status::Active,
        revocation: reason.map(|reason| Revocation { reason, revoked_at: NOW }),
        cascaded_from: None,
        at: NOW,
    })
}

fn revoke(reason: RevocationReason) -> CaCommand {
    CaCommand::ChangeStatus { status: Status::Revoked, reason: Some(reason) }
}

fn set_status(status: Status) -> CaCommand {
    CaCommand::ChangeStatus { status, reason: None }
}

#[test]
fn a_new_ca_is_created_once() {
    assert!(matches!(given([]).when(CaCommand::Create(new_ca("root"))).unwrap()[..], [CaEvent::Created(_)]));
    let err = given([ca_created()]).when(CaCommand::Create(new_ca("root"))).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)));
}

#[test]
fn a_deleted_ca_id_is_not_reused() {
    let deleted = CaEvent::Deleted(CaDeleted { key_destroyed: true, at: NOW });
    let events = [ca_created(), status_changed(Status::Revoked, Some(RevocationReason::Superseded)), deleted];
    assert!(matches!(given(events).when(CaCommand::Create(new_ca("root"))), Err(DomainError::Conflict(_))));
}

#[test]
fn a_non_ca_certificate_cannot_become_a_ca() {
    let mut ca = new_ca("leaf");
    ca.certificate.is_ca = false;
    assert!(matches!(given([]).when(CaCommand::Import(ca)), Err(DomainError::Rule(_))));
}

#[test]
fn revoking_an_active_ca_records_the_reason() {
    let events = given([ca_created()]).when(revoke(RevocationReason::KeyCompromise)).unwrap();
    let [CaEvent::StatusChanged(e)] = &events[..] else { panic!("{events:?}") };
    assert_eq!(e.status, Status::Revoked);
    assert_eq!(e.revocation.unwrap().reason, RevocationReason::KeyCompromise);
}

#[test]
fn a_revoked_ca_stays_revoked() {
    let history = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::KeyCompromise))]);
    assert!(matches!(history.when(set_status(Status::Active)), Err(DomainError::Conflict(_))));
    assert!(matches!(history.when(revoke(RevocationReason::Superseded)), Err(DomainError::Conflict(_))));
}

#[test]
fn a_hold_can_be_lifted_or_made_permanent() {
    let held = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::CertificateHold))]);
    let lifted = held.when(set_status(Status::Active)).unwrap();
    assert!(matches!(&lifted[..], [CaEvent::StatusChanged(e)] if e.status == Status::Active && e.revocation.is_none()));
    let permanent = held.when(revoke(RevocationReason::KeyCompromise)).unwrap();
    assert_eq!(permanent.len(), 1);
    assert_eq!(held.when(revoke(RevocationReason::CertificateHold)).unwrap(), vec![]);
}

#[test]
fn an_expired_ca_is_terminal_even_before_the_scheduler_records_it() {
    let later = datetime!(2047-01-01 0:00 UTC);
    let history = given([ca_created()]);
    let state = replay(&history.0).unwrap();
    assert_eq!(state.status_at(later), Status::Expired);
    assert_eq!(state.status_at(NOW), Status::Active);
    assert!(matches!(history.when_at(set_status(Status::Inactive), later), Err(DomainError::Conflict(_))));
}

#[test]
fn expired_cannot_be_set_by_hand() {
    assert!(matches!(given([ca_created()]).when(set_status(Status::Expired)), Err(DomainError::Invalid { .. })));
}

#[test]
fn setting_the_current_status_again_changes_nothing() {
    assert_eq!(given([ca_created()]).when(set_status(Status::Active)).unwrap(), vec![]);
}

#[test]
fn a_cascade_revokes_active_and_held_cas_but_not_revoked_ones() {
    let parent = CaId::parse("parent").unwrap();
    let cascade = CaCommand::CascadeRevoke { from: parent };
    let events = given([ca_created()]).when(cascade.clone()).unwrap();
    assert!(matches!(&events[..], [CaEvent::StatusChanged(e)]
        if e.revocation.unwrap().reason == RevocationReason::CessationOfOperation && e.cascaded_from.is_some()));
    let held = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::CertificateHold))]);
    assert_eq!(held.when(cascade.clone()).unwrap().len(), 1);
    let revoked = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::KeyCompromise))]);
    assert_eq!(revoked.when(cascade).unwrap(), vec![]);
}

#[test]
fn a_subordinate_needs_an_active_parent_with_a_key() {
    let parent_id = CaId::parse("root").unwrap();
    let until = NOW + Duration::days(365);
    let active = replay(&[ca_created()]).unwrap();
    assert!(check_can_sign_subordinate(&parent_id, Some(&active), until, NOW).is_ok());
    assert!(matches!(check_can_sign_subordinate(&parent_id, None, until, NOW), Err(DomainError::Rule(_))));

    let revoked = replay(&[ca_created(), status_changed(Status::Revoked, Some(RevocationReason::KeyCompromise))]);
    let err = check_can_sign_subordinate(&parent_id, revoked.as_ref(), until, NOW).unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)));

    let mut keyless = active.clone();
    keyless.key = None;
    assert!(matches!(
        check_can_sign_subordinate(&parent_id, Some(&keyless), until, NOW),
        Err(DomainError::Conflict(_))
    ));
}

#[test]
fn a_subordinate_may_not_outlive_its_parent() {
    let parent = replay(&[ca_created()]).unwrap();
    let beyond = datetime!(2050-01-01 0:00 UTC);
    let err = check_can_sign_subordinate(&parent.id, Some(&parent), beyond, NOW).unwrap_err();
    assert!(matches!(err, DomainError::Rule(_)));
}

#[test]
fn a_subordinate_level_is_its_parents_plus_one() {
    let mut child = new_ca("child");
    child.issuer_metadata = Some(IssuerMetadata {
        id: CaId::parse("root").unwrap(),
        serial_number: SerialNumber::parse("01").unwrap(),
        level: 0,
    });
    child.level = 2;
    assert!(matches!(given([]).when(CaCommand::Create(child.clone())), Err(DomainError::Rule(_))));
    child.level = 1;
    assert!(given([]).when(CaCommand::Create(child)).is_ok());
}

#[test]
fn only_revoked_expired_or_keyless_cas_can_be_deleted() {
    assert!(matches!(given([ca_created()]).when(CaCommand::Delete), Err(DomainError::Conflict(_))));
    let held = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::CertificateHold))]);
    assert!(matches!(held.when(CaCommand::Delete), Err(DomainError::Conflict(_))));
    let revoked = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::Superseded))]);
    assert!(matches!(&revoked.when(CaCommand::Delete).unwrap()[..], [CaEvent::Deleted(d)] if d.key_destroyed));
    let expired = given([ca_created()]).when_at(CaCommand::Delete, datetime!(2047-01-01 0:00 UTC));
    assert!(expired.is_ok());
}

#[test]
fn a_deleted_ca_is_not_found() {
    let deleted = CaEvent::Deleted(CaDeleted { key_destroyed: true, at: NOW });
    let history = given([ca_created(), status_changed(Status::Revoked, Some(RevocationReason::Superseded)), deleted]);
    assert!(matches!(history.when(set_status(Status::Active)), Err(DomainError::NotFound(_))));
}

#[test]
fn metadata_patches_apply_and_no_op_patches_record_nothing() {
    let patch = json!([{"op": "add", "path": "/env", "value": "prod"}]);
    let events = given([ca_created()]).when(CaCommand::UpdateMetadata { patch: patch.clone() }).unwrap();
    let state = replay(&[ca_created(), events[0].clone()]).unwrap();
    assert_eq!(state.metadata["env"], "prod");
    let again = given([ca_created(), events[0].clone()]).when(CaCommand::UpdateMetadata { patch }).unwrap();
    assert_eq!(again, vec![]);
}

#[test]
fn subordinates_are_recorded_once() {
    let child = CaId::parse("child").unwrap();
    let add = CaCommand::AddSubordinate { child_id: child.clone(), signed_here: true };
    let events = given([ca_created()]).when(add.clone()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(given([ca_created(), events[0].clone()]).when(add).unwrap(), vec![]);
}

#[test]
fn events_round_trip_through_their_stored_form() {
    let events = [ca_created(), status_changed(Status::Revoked, Some(RevocationReason::CertificateHold))];
    for event in events {
        let back = CaEvent::from_stored(event.event_type(), event.schema_version(), &event.to_data()).unwrap();
        assert_eq!(back, event);
    }
    assert!(CaEvent::from_stored("ca.create", 99, &json!({})).is_err());
}
