use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::aggregate::DomainEvent;
use crate::ca::{
    CaDeleted, Custody, IssuerMetadata, Placement, SecurityLevel, Under, check_can_sign_subordinate, ensure_importable,
    place_import, plan_managed, replay,
};
use crate::duration::{Period, Validity};
use crate::ids::SerialNumber;
use crate::status::Revocation;
use crate::subject::Subject;
use crate::testing::{Given, NOW, ThenErr, ca_after, ca_certificate, ca_created, given, new_ca};

fn root() -> CaId {
    CaId::parse("root").unwrap()
}

fn history(events: impl IntoIterator<Item = CaEvent>) -> Given<Ca> {
    given(root(), events)
}

fn status_changed(status: Status, reason: Option<RevocationReason>) -> CaEvent {
    CaEvent::StatusChanged(CaStatusChanged {
        status,
        previous: Status::Active,
        revocation: reason.map(|reason| Revocation::new(reason, NOW)),
        cascaded_from: None,
        at: NOW,
    })
}

fn revoked(reason: RevocationReason) -> CaEvent {
    status_changed(Status::Revoked, Some(reason))
}

fn deleted() -> CaEvent {
    CaEvent::Deleted(CaDeleted { at: NOW })
}

fn revoke(reason: RevocationReason) -> CaCommand {
    CaCommand::ChangeStatus { status: Status::Revoked, reason: Some(reason), invalidity_date: None }
}

fn set_status(status: Status) -> CaCommand {
    CaCommand::ChangeStatus { status, reason: None, invalidity_date: None }
}

const LATER: OffsetDateTime = datetime!(2047-01-01 0:00 UTC);

#[test]
fn a_new_ca_is_created_once() {
    assert!(matches!(history([]).when(CaCommand::Create(new_ca("root"))).events()[..], [CaEvent::Created(_)]));
    history([ca_created("root")])
        .when(CaCommand::Create(new_ca("root")))
        .then_err(DomainError::AlreadyExists(Resource::Ca(root())));
}

#[test]
fn a_deleted_ca_id_is_not_reused() {
    history([ca_created("root"), revoked(RevocationReason::Superseded), deleted()])
        .when(CaCommand::Create(new_ca("root")))
        .then_err(DomainError::AlreadyExists(Resource::Ca(root())));
}

#[test]
fn a_non_ca_certificate_cannot_become_a_ca() {
    let mut ca = new_ca("root");
    ca.certificate.is_ca = false;
    history([]).when(CaCommand::Import(ca)).then_err(DomainError::NotACaCertificate);
}

#[test]
fn revoking_an_active_ca_records_the_reason() {
    let events = history([ca_created("root")]).when(revoke(RevocationReason::KeyCompromise)).events();
    let [CaEvent::StatusChanged(e)] = &events[..] else { panic!("{events:?}") };
    assert_eq!(e.status, Status::Revoked);
    assert_eq!(e.revocation.unwrap().reason, RevocationReason::KeyCompromise);
}

#[test]
fn a_revoked_ca_stays_revoked() {
    let revoked = history([ca_created("root"), revoked(RevocationReason::KeyCompromise)]);
    revoked.when(set_status(Status::Active)).then_err(DomainError::RevokedForGood(Resource::Ca(root())));
    revoked.when(revoke(RevocationReason::Superseded)).then_err(DomainError::RevokedForGood(Resource::Ca(root())));
}

#[test]
fn a_hold_can_be_lifted_or_made_permanent() {
    let held = history([ca_created("root"), revoked(RevocationReason::CertificateHold)]);
    let lifted = held.when(set_status(Status::Active)).events();
    assert!(matches!(&lifted[..], [CaEvent::StatusChanged(e)] if e.status == Status::Active && e.revocation.is_none()));
    assert_eq!(held.when(revoke(RevocationReason::KeyCompromise)).events().len(), 1);
    held.when(revoke(RevocationReason::CertificateHold)).then_nothing();
}

#[test]
fn an_expired_ca_is_terminal_even_before_the_scheduler_records_it() {
    let history = history([ca_created("root")]);
    let state = history.state().unwrap();
    assert_eq!(state.status_at(LATER), Status::Expired);
    assert_eq!(state.status_at(NOW), Status::Active);
    history.when_at(set_status(Status::Inactive), LATER).then_err(DomainError::AlreadyExpired(Resource::Ca(root())));
}

#[test]
fn expired_cannot_be_set_by_hand() {
    let refused = history([ca_created("root")]).when(set_status(Status::Expired)).0;
    assert!(matches!(refused, Err(DomainError::Invalid { field, .. }) if field == "status"));
}

#[test]
fn setting_the_current_status_again_changes_nothing() {
    history([ca_created("root")]).when(set_status(Status::Active)).then_nothing();
}

#[test]
fn a_cascade_revokes_active_and_held_cas_but_not_revoked_ones() {
    let cascade = CaCommand::CascadeRevoke { from: CaId::parse("parent").unwrap(), cause: None };
    let events = history([ca_created("root")]).when(cascade.clone()).events();
    assert!(matches!(&events[..], [CaEvent::StatusChanged(e)]
        if e.revocation.unwrap().reason == RevocationReason::CessationOfOperation && e.cascaded_from.is_some()));
    let held = history([ca_created("root"), revoked(RevocationReason::CertificateHold)]);
    assert_eq!(held.when(cascade.clone()).events().len(), 1);
    history([ca_created("root"), revoked(RevocationReason::KeyCompromise)]).when(cascade.clone()).then_nothing();
    history([ca_created("root"), revoked(RevocationReason::KeyCompromise), deleted()]).when(cascade).then_nothing();
}

#[test]
fn a_subordinate_needs_an_existing_parent() {
    let until = NOW + Duration::days(365);
    check_can_sign_subordinate(&root(), None, &[], until, NOW).then_err(DomainError::ParentNotFound(root()));
    let gone = Ca::replay(&[ca_created("root"), revoked(RevocationReason::Superseded), deleted()]);
    check_can_sign_subordinate(&root(), gone.as_ref(), &[], until, NOW).then_err(DomainError::ParentNotFound(root()));
}

#[test]
fn a_subordinate_needs_an_active_parent_with_a_key() {
    let until = NOW + Duration::days(365);
    let active = ca_after(&[ca_created("root")]);
    assert!(check_can_sign_subordinate(&root(), Some(&active), &[], until, NOW).is_ok());

    let revoked = ca_after(&[ca_created("root"), revoked(RevocationReason::KeyCompromise)]);
    check_can_sign_subordinate(&root(), Some(&revoked), &[], until, NOW)
        .then_err(DomainError::CaNotActive { id: root(), status: Status::Revoked });

    let mut keyless = active.clone();
    keyless.key = None;
    check_can_sign_subordinate(&root(), Some(&keyless), &[], until, NOW)
        .then_err(DomainError::CaHoldsNoKey { id: root() });
}

#[test]
fn no_subordinate_is_signed_under_an_ancestor_on_hold() {
    let until = NOW + Duration::days(365);
    let parent = ca_after(&[ca_created("int")]);
    let held_root = ca_after(&[ca_created("root"), revoked(RevocationReason::CertificateHold)]);
    let int = CaId::parse("int").unwrap();
    check_can_sign_subordinate(&int, Some(&parent), &[held_root], until, NOW)
        .then_err(DomainError::AncestorNotActive { id: int.clone(), ancestor: root(), status: Status::Revoked });
}

#[test]
fn a_subordinate_may_not_outlive_its_parent() {
    let parent = ca_after(&[ca_created("root")]);
    let beyond = datetime!(2050-01-01 0:00 UTC);
    check_can_sign_subordinate(&root(), Some(&parent), &[], beyond, NOW)
        .then_err(DomainError::OutlivesParent { parent: root() });
}

#[test]
fn a_managed_ca_is_planned_from_now_to_its_validity() {
    let subject = Subject { common_name: "Int".into(), ..Subject::default() };
    let ten_years = Validity::Duration(Period { years: 10, rest: Duration::ZERO });
    let parent = ca_after(&[ca_created("root")]);
    let plan = plan_managed(
        subject.clone(),
        &ten_years,
        Under::Parent { id: &root(), state: Some(&parent), ancestors: &[] },
        NOW,
    );
    let plan = plan.unwrap();
    assert_eq!((plan.not_before, plan.not_after), (NOW, datetime!(2036-06-01 12:00 UTC)));
    let forty_years = Validity::Duration(Period { years: 40, rest: Duration::ZERO });
    assert!(plan_managed(subject.clone(), &forty_years, Under::Root, NOW).is_ok());
    plan_managed(subject, &forty_years, Under::Parent { id: &root(), state: Some(&parent), ancestors: &[] }, NOW)
        .then_err(DomainError::OutlivesParent { parent: root() });
}

#[test]
fn a_managed_subordinate_is_one_level_below_its_parent_and_names_it() {
    let parent = ca_after(&[ca_created("root")]);
    let custody = Custody { key: new_ca("x").key.unwrap(), security_level: SecurityLevel::SL0 };
    let child = NewCa::managed(
        CaId::parse("int").unwrap(),
        Some(&parent),
        ca_certificate(datetime!(2030-01-01 0:00 UTC)),
        custody.clone(),
        None,
        Default::default(),
    );
    assert_eq!((child.level, child.issuer_metadata.clone()), (1, Some(parent.as_issuer())));
    assert_eq!(child.parent_id(), Some(&root()));
    let root_ca = NewCa::managed(root(), None, ca_certificate(LATER), custody, None, Default::default());
    assert_eq!(root_ca.parent_id(), None);
    assert_eq!(root_ca.issuer_metadata.map(|i| i.id), Some(root()));
}

#[test]
fn an_import_is_a_root_a_subordinate_or_an_orphan() {
    let id = CaId::parse("ext").unwrap();
    let certificate = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    let root_placement = place_import(&id, &certificate, true, None, NOW).unwrap();
    assert_eq!(root_placement.level, 0);
    assert_eq!(root_placement.issuer_metadata.map(|i| i.id), Some(id.clone()));
    let parent = ca_after(&[ca_created("root")]);
    let child = place_import(&id, &certificate, false, Some(&parent), NOW).unwrap();
    assert_eq!(child, Placement { level: 1, issuer_metadata: Some(parent.as_issuer()), max_path_len: None });
    let orphan = place_import(&id, &certificate, false, None, NOW).unwrap();
    assert_eq!(orphan, Placement { level: 0, issuer_metadata: None, max_path_len: None });
}

/// A root whose certificate says pathLen `n`.
fn constrained_root(n: u32) -> Ca {
    let mut new = new_ca("root");
    new.certificate.path_len_constraint = Some(n);
    new.max_path_len = Some(n);
    ca_after(&decide(&root(), None, &CaCommand::Create(new), NOW).unwrap())
}

#[test]
fn a_managed_subordinate_gets_one_less_than_its_parents_path_length() {
    let subject = Subject { common_name: "Int".into(), ..Subject::default() };
    let year = Validity::Duration(Period { years: 1, rest: Duration::ZERO });
    let parent = constrained_root(2);
    let plan =
        plan_managed(subject.clone(), &year, Under::Parent { id: &root(), state: Some(&parent), ancestors: &[] }, NOW);
    assert_eq!(plan.unwrap().path_len, Some(1));
    let unconstrained = ca_after(&[ca_created("root")]);
    let plan = plan_managed(
        subject.clone(),
        &year,
        Under::Parent { id: &root(), state: Some(&unconstrained), ancestors: &[] },
        NOW,
    );
    assert_eq!(plan.unwrap().path_len, None);
    let leaf_only = constrained_root(0);
    plan_managed(subject, &year, Under::Parent { id: &root(), state: Some(&leaf_only), ancestors: &[] }, NOW)
        .then_err(DomainError::PathLenExceeded { id: root() });
}

#[test]
fn an_import_under_a_path_length_zero_ca_is_refused_and_a_limit_is_inherited() {
    let id = CaId::parse("ext").unwrap();
    let certificate = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    place_import(&id, &certificate, false, Some(&constrained_root(0)), NOW)
        .then_err(DomainError::PathLenExceeded { id: root() });
    let under_two = place_import(&id, &certificate, false, Some(&constrained_root(2)), NOW).unwrap();
    assert_eq!(under_two.max_path_len, Some(1), "an unconstrained certificate inherits its issuer's limit");
    let mut tight = certificate.clone();
    tight.path_len_constraint = Some(0);
    let own = place_import(&id, &tight, false, Some(&constrained_root(2)), NOW).unwrap();
    assert_eq!(own.max_path_len, Some(0), "its own tighter pathLen holds");
}

#[test]
fn nothing_is_imported_under_a_ca_revoked_for_good() {
    let id = CaId::parse("ext").unwrap();
    let certificate = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    let revoked = ca_after(&[ca_created("root"), revoked(RevocationReason::KeyCompromise)]);
    place_import(&id, &certificate, false, Some(&revoked), NOW).then_err(DomainError::IssuerRevoked { issuer: root() });
    let held =
        ca_after(&[ca_created("root"), status_changed(Status::Revoked, Some(RevocationReason::CertificateHold))]);
    assert!(place_import(&id, &certificate, false, Some(&held), NOW).is_ok());
}

#[test]
fn an_imported_ca_must_be_able_to_issue() {
    let mut certificate = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    assert!(ensure_importable(&certificate, CaType::ImportedWithKey).is_ok());
    certificate.key_usage = vec!["DigitalSignature".into()];
    ensure_importable(&certificate, CaType::ImportedWithoutKey)
        .then_err(DomainError::NotAnIssuer { reason: "its KeyUsage lacks keyCertSign" });
    certificate.key_usage.clear();
    assert!(ensure_importable(&certificate, CaType::ImportedWithoutKey).is_ok(), "an old trust anchor may lack KU");
    assert!(ensure_importable(&certificate, CaType::ImportedWithKey).is_err(), "one that will sign may not");
    let mut weak = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    weak.key_metadata = crate::key::KeyMetadata::new(crate::key::KeyType::Rsa, 1024);
    ensure_importable(&weak, CaType::ImportedWithoutKey).then_err(DomainError::WeakKey { bits: 1024 });
}

#[test]
fn an_imported_subordinate_ends_no_later_than_its_issuer() {
    let id = CaId::parse("ext").unwrap();
    let parent = ca_after(&[ca_created("root")]);
    let beyond = ca_certificate(datetime!(2050-01-01 0:00 UTC));
    place_import(&id, &beyond, false, Some(&parent), NOW).then_err(DomainError::OutlivesParent { parent: root() });
}

#[test]
fn an_imported_certificate_must_be_a_ca_certificate() {
    let mut leaf = ca_certificate(datetime!(2030-01-01 0:00 UTC));
    leaf.is_ca = false;
    place_import(&root(), &leaf, true, None, NOW).then_err(DomainError::NotACaCertificate);
}

#[test]
fn a_subordinate_level_is_its_parents_plus_one() {
    let mut child = new_ca("child");
    child.issuer_metadata =
        Some(IssuerMetadata { id: root(), serial_number: SerialNumber::parse("01").unwrap(), level: 0 });
    child.level = 2;
    let child_id = CaId::parse("child").unwrap();
    given::<Ca>(child_id.clone(), [])
        .when(CaCommand::Create(child.clone()))
        .then_err(DomainError::BrokenInvariant("a subordinate's level is its parent's level plus one"));
    child.level = 1;
    assert_eq!(given::<Ca>(child_id, []).when(CaCommand::Create(child)).events().len(), 1);
}

#[test]
fn only_revoked_expired_or_keyless_cas_can_be_deleted() {
    history([ca_created("root")])
        .when(CaCommand::Delete)
        .then_err(DomainError::CaNotDeletable { id: root(), status: Status::Active });
    history([ca_created("root"), revoked(RevocationReason::CertificateHold)])
        .when(CaCommand::Delete)
        .then_err(DomainError::CaOnHold { id: root() });
    let events = history([ca_created("root"), revoked(RevocationReason::Superseded)]).when(CaCommand::Delete).events();
    assert!(matches!(&events[..], [CaEvent::Deleted(_)]));
    assert_eq!(history([ca_created("root")]).when_at(CaCommand::Delete, LATER).events().len(), 1);
}

#[test]
fn a_key_is_recorded_destroyed_once_after_its_ca_is_deleted() {
    let gone = [ca_created("root"), revoked(RevocationReason::Superseded), deleted()];
    let events = history(gone.clone()).when(CaCommand::RecordKeyDestroyed).events();
    assert!(matches!(&events[..], [CaEvent::KeyDestroyed(e)] if e.key == new_ca("root").key.unwrap()));
    let recorded = history(gone.into_iter().chain(events)).state().unwrap();
    assert!(recorded.key_destroyed);
    history([ca_created("root")])
        .when(CaCommand::RecordKeyDestroyed)
        .then_err(DomainError::BrokenInvariant("a key is destroyed after its CA is deleted"));
}

#[test]
fn a_version_1_deletion_still_reads() {
    let v1 = json!({"key_destroyed": true, "at": "2026-06-01T12:00:00Z"});
    assert_eq!(CaEvent::from_stored("ca.delete", 1, &v1).unwrap(), deleted());
    assert_eq!(deleted().schema_version(), 2);
    assert!(CaEvent::from_stored("ca.delete", 3, &v1).is_err());
}

#[test]
fn a_deleted_ca_is_not_found() {
    history([ca_created("root"), revoked(RevocationReason::Superseded), deleted()])
        .when(set_status(Status::Active))
        .then_err(DomainError::NotFound(Resource::Ca(root())));
}

#[test]
fn metadata_patches_apply_and_no_op_patches_record_nothing() {
    let patch = json!([{"op": "add", "path": "/env", "value": "prod"}]);
    let events = history([ca_created("root")]).when(CaCommand::UpdateMetadata { patch: patch.clone() }).events();
    assert_eq!(ca_after(&[ca_created("root"), events[0].clone()]).metadata["env"], "prod");
    history([ca_created("root"), events[0].clone()]).when(CaCommand::UpdateMetadata { patch }).then_nothing();
}

#[test]
fn a_metadata_change_records_the_patch_alone_and_old_events_still_fold() {
    let big = json!([{"op": "add", "path": "/blob", "value": "x".repeat(30_000)}]);
    let first = history([ca_created("root")]).when(CaCommand::UpdateMetadata { patch: big }).events();
    let small = json!([{"op": "add", "path": "/env", "value": "prod"}]);
    let second =
        history([ca_created("root"), first[0].clone()]).when(CaCommand::UpdateMetadata { patch: small.clone() });
    let second = second.events();
    assert!(second[0].to_data().to_string().len() < 200, "a 30-byte patch stays small: {}", second[0].to_data());
    let state = ca_after(&[ca_created("root"), first[0].clone(), second[0].clone()]);
    assert_eq!(
        (state.metadata["env"].as_str(), state.metadata["blob"].as_str().map(str::len)),
        (Some("prod"), Some(30_000))
    );
    let v1 = json!({"patch": small, "metadata": {"env": "v1"}, "at": "2026-06-01T12:00:00Z"});
    let old = CaEvent::from_stored("ca.metadata.update", 1, &v1).unwrap();
    assert_eq!(ca_after(&[ca_created("root"), old]).metadata["env"], "v1", "schema 1 recorded the whole document");
}

#[test]
fn metadata_is_bounded() {
    let huge = json!([{"op": "add", "path": "/blob", "value": "x".repeat(70_000)}]);
    history([ca_created("root")])
        .when(CaCommand::UpdateMetadata { patch: huge })
        .then_err(DomainError::MetadataTooLarge { limit: crate::metadata::MAX_METADATA_BYTES });
}

#[test]
fn a_patch_that_does_not_apply_is_refused() {
    let patch = json!([{"op": "remove", "path": "/nope"}]);
    let refused = history([ca_created("root")]).when(CaCommand::UpdateMetadata { patch }).0;
    assert!(matches!(refused, Err(DomainError::PatchDoesNotApply(_))), "{refused:?}");
}

#[test]
fn subordinates_are_recorded_once() {
    let add = CaCommand::AddSubordinate { child_id: CaId::parse("child").unwrap(), link: SubordinateLink::SignedHere };
    let events = history([ca_created("root")]).when(add.clone()).events();
    assert_eq!(events.len(), 1);
    history([ca_created("root"), events[0].clone()]).when(add).then_nothing();
}

#[test]
fn only_a_ca_that_can_sign_signs_a_subordinate_but_any_may_recognise_one() {
    let child_id = CaId::parse("child").unwrap();
    let held = history([ca_created("root"), revoked(RevocationReason::CertificateHold)]);
    held.when(CaCommand::AddSubordinate { child_id: child_id.clone(), link: SubordinateLink::SignedHere })
        .then_err(DomainError::CaNotActive { id: root(), status: Status::Revoked });
    let recognised = held.when(CaCommand::AddSubordinate { child_id, link: SubordinateLink::Recognised });
    assert_eq!(recognised.events().len(), 1);
}

#[test]
fn events_round_trip_through_their_stored_form() {
    for event in [ca_created("root"), revoked(RevocationReason::CertificateHold)] {
        let back = CaEvent::from_stored(event.event_type(), event.schema_version(), &event.to_data()).unwrap();
        assert_eq!(back, event);
    }
    assert!(CaEvent::from_stored("ca.create", 99, &json!({})).is_err());
}

#[test]
fn replay_folds_every_event() {
    assert_eq!(replay(&[ca_created("root"), revoked(RevocationReason::Superseded)]).unwrap().version, 2);
}

#[test]
fn the_scheduler_fires_each_warning_once_then_the_expiry_and_a_deleted_ca_fires_nothing() {
    use crate::expiry::{EXPIRATION_DELTAS, Trigger};
    let patch = json!([{"op": "add", "path": "/lamassu.io~1ca~1expiration-deltas",
        "value": [{"name": "Preventive", "delta": "30d", "triggered": false}]}]);
    let set = history([ca_created("root")]).when(CaCommand::UpdateMetadata { patch }).events();
    let armed = [ca_created("root"), set[0].clone()];
    let warn = CaCommand::Fire { trigger: Trigger::Warning { name: "Preventive".into() } };
    let due = datetime!(2045-12-02 0:00 UTC);
    history(armed.clone()).when_at(warn.clone(), due - Duration::seconds(1)).then_nothing();
    let warned = history(armed.clone()).when_at(warn.clone(), due).events();
    assert_eq!(warned[0].event_type(), "ca.expiration.warning");
    let after: Vec<CaEvent> = armed.iter().cloned().chain(warned).collect();
    assert_eq!(ca_after(&after).metadata[EXPIRATION_DELTAS][0]["triggered"], true);
    history(after.clone()).when_at(warn, due).then_nothing();
    let expire = CaCommand::Fire { trigger: Trigger::Expired };
    history(after.clone()).when_at(expire.clone(), datetime!(2046-01-01 0:00 UTC)).then_nothing();
    let expired = history(after.clone()).when_at(expire.clone(), datetime!(2046-01-01 0:00:01 UTC)).events();
    let done: Vec<CaEvent> = after.iter().cloned().chain(expired.clone()).collect();
    assert_eq!((expired[0].event_type(), ca_after(&done).recorded_status), ("ca.expired", Status::Expired));
    let back = CaEvent::from_stored("ca.expired", 1, &expired[0].to_data()).unwrap();
    assert_eq!(back, expired[0]);
    history(done).when_at(expire.clone(), datetime!(2046-02-01 0:00 UTC)).then_nothing();
    history([ca_created("root"), revoked(RevocationReason::Superseded), deleted()])
        .when_at(expire, datetime!(2046-02-01 0:00 UTC))
        .then_nothing();
}

#[test]
fn malformed_expiration_deltas_are_refused_when_set() {
    let patch =
        json!([{"op": "add", "path": "/lamassu.io~1ca~1expiration-deltas", "value": [{"name": "P", "delta": "soon"}]}]);
    let refused = decide(&root(), Some(&ca_after(&[ca_created("root")])), &CaCommand::UpdateMetadata { patch }, NOW);
    assert!(matches!(refused, Err(DomainError::Invalid { .. })), "{refused:?}");
}

#[test]
fn a_reissue_plans_the_same_lifetime_and_records_the_new_certificate_with_its_lineage() {
    use crate::ca::{Reissue, plan_reissue};
    let placed = || {
        let mut new = new_ca("root");
        new.issuer_metadata =
            Some(IssuerMetadata { id: root(), serial_number: new.certificate.serial_number.clone(), level: 0 });
        decide(&root(), None, &CaCommand::Create(new), NOW).unwrap().remove(0)
    };
    let ca = ca_after(&[placed()]);
    assert!(
        matches!(
            plan_reissue(&ca_after(&[ca_created("root")]), None, None, NOW),
            Err(DomainError::CaNotReissuable { .. })
        ),
        "an orphan"
    );
    let plan = plan_reissue(&ca, None, None, NOW).unwrap();
    let lifetime = ca.certificate.valid_to - ca.certificate.valid_from;
    assert_eq!((plan.not_after - plan.not_before, plan.subject.clone()), (lifetime, ca.certificate.subject.clone()));
    let mut certificate = ca_certificate(plan.not_after);
    certificate.serial_number = SerialNumber::parse("4a02").unwrap();
    let issuer = IssuerMetadata { id: root(), serial_number: certificate.serial_number.clone(), level: 0 };
    let reissue =
        Reissue { certificate, custody: None, issuer_metadata: issuer, max_path_len: None, reason: "r".into() };
    let events = history([placed()]).when(CaCommand::Reissue(Box::new(reissue.clone()))).events();
    let after = ca_after(&[placed(), events[0].clone()]);
    assert_eq!(after.certificate.serial_number.to_string(), "4a02");
    assert_eq!(after.metadata["lamassu.io/ca/reissued-from"], "4a01");
    assert_eq!(after.key, ca.key, "no rekey keeps the key");
    let back = CaEvent::from_stored("ca.reissue", 1, &events[0].to_data()).unwrap();
    assert_eq!(back, events[0]);
    let refused =
        history([placed(), revoked(RevocationReason::KeyCompromise)]).when(CaCommand::Reissue(Box::new(reissue))).0;
    assert!(matches!(refused, Err(DomainError::CaNotReissuable { .. })), "{refused:?}");
    let expired = plan_reissue(&ca, None, None, datetime!(2047-01-01 0:00 UTC));
    assert!(matches!(expired, Err(DomainError::CaNotReissuable { .. })));
}

#[test]
fn an_orphan_is_adopted_once_and_a_placed_ca_never_changes_issuer() {
    let orphan = history([ca_created("orphan")]);
    let parent = ca_after(&[ca_created("root")]);
    let placement = Placement { level: 1, issuer_metadata: Some(parent.as_issuer()), max_path_len: None };
    let events = orphan.when(CaCommand::Adopt(placement.clone())).events();
    let adopted = ca_after(&[ca_created("orphan"), events[0].clone()]);
    assert_eq!((adopted.level, adopted.parent_id()), (1, Some(&root())));
    let again = given::<Ca>(CaId::parse("orphan").unwrap(), [ca_created("orphan"), events[0].clone()]);
    again.when(CaCommand::Adopt(placement)).then_nothing();
    let other =
        IssuerMetadata { id: CaId::parse("other").unwrap(), serial_number: parent.certificate.serial_number, level: 0 };
    let elsewhere = Placement { level: 1, issuer_metadata: Some(other), max_path_len: None };
    assert!(matches!(again.when(CaCommand::Adopt(elsewhere)).0, Err(DomainError::BrokenInvariant(_))));
}
