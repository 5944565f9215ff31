use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::testing::ca_certificate;

const END: OffsetDateTime = datetime!(2026-12-31 0:00 UTC);

fn with_deltas(deltas: Value) -> Metadata {
    json!({ EXPIRATION_DELTAS: deltas, "team": "pki" }).as_object().cloned().unwrap()
}

fn preventive_and_critical() -> Metadata {
    with_deltas(json!([
        {"name": "Preventive", "delta": "30d", "triggered": false},
        {"name": "Critical", "delta": "7d"}
    ]))
}

fn warning(name: &str) -> Trigger {
    Trigger::Warning { name: name.into() }
}

#[test]
fn each_untriggered_delta_falls_due_at_valid_to_minus_delta_and_the_expiry_just_after_valid_to() {
    let due = pending(&ca_certificate(END), Status::Active, &preventive_and_critical());
    assert_eq!(
        due,
        vec![
            Due { trigger: warning("Preventive"), at: datetime!(2026-12-01 0:00 UTC) },
            Due { trigger: warning("Critical"), at: datetime!(2026-12-24 0:00 UTC) },
            Due { trigger: Trigger::Expired, at: END + time::Duration::microseconds(1) },
        ]
    );
}

#[test]
fn a_warning_is_decided_once_due_and_never_again_once_triggered() {
    let certificate = ca_certificate(END);
    let mut metadata = preventive_and_critical();
    let early = datetime!(2026-11-30 23:59 UTC);
    assert_eq!(decide(&certificate, Status::Active, &metadata, &warning("Preventive"), early), None);
    let at = datetime!(2026-12-01 0:00 UTC);
    let Some(Fired::Warning(fired)) = decide(&certificate, Status::Active, &metadata, &warning("Preventive"), at)
    else {
        panic!("the warning is due");
    };
    assert_eq!((fired.name.as_str(), fired.delta.as_str(), fired.valid_to), ("Preventive", "30d", END));
    mark_triggered(&mut metadata, "Preventive");
    assert_eq!(metadata[EXPIRATION_DELTAS][0]["triggered"], true);
    assert_eq!(metadata[EXPIRATION_DELTAS][1].get("triggered"), None, "the other delta is untouched");
    assert_eq!(decide(&certificate, Status::Active, &metadata, &warning("Preventive"), at), None);
    assert_eq!(pending(&certificate, Status::Active, &metadata).len(), 2);
}

#[test]
fn the_expiry_is_decided_only_past_valid_to_and_only_for_what_can_still_expire() {
    let certificate = ca_certificate(END);
    let metadata = Metadata::new();
    assert_eq!(decide(&certificate, Status::Active, &metadata, &Trigger::Expired, END), None);
    let after = END + time::Duration::seconds(1);
    assert!(matches!(
        decide(&certificate, Status::Inactive, &metadata, &Trigger::Expired, after),
        Some(Fired::Expired(Expired { previous: Status::Inactive, .. }))
    ));
    for status in [Status::Revoked, Status::Expired] {
        assert!(pending(&certificate, status, &preventive_and_critical()).is_empty());
        assert_eq!(decide(&certificate, status, &metadata, &Trigger::Expired, after), None);
    }
}

#[test]
fn rearming_clears_triggered_and_a_removed_delta_is_no_longer_due() {
    let certificate = ca_certificate(END);
    let mut metadata = with_deltas(json!([{"name": "Preventive", "delta": "30d", "triggered": true}]));
    assert_eq!(pending(&certificate, Status::Active, &metadata).len(), 1);
    rearm(&mut metadata);
    assert_eq!(pending(&certificate, Status::Active, &metadata).len(), 2);
    let none = with_deltas(json!([]));
    assert_eq!(decide(&certificate, Status::Active, &none, &warning("Preventive"), END), None);
}

#[test]
fn deltas_are_checked_when_set() {
    assert!(check_deltas(&preventive_and_critical()).is_ok());
    assert!(check_deltas(&Metadata::new()).is_ok());
    for bad in [
        json!("30d"),
        json!([{"name": "P", "delta": "thirty days"}]),
        json!([{"name": "", "delta": "30d"}]),
        json!([{"delta": "30d"}]),
        json!([{"name": "P", "delta": "30d"}, {"name": "P", "delta": "7d"}]),
        json!([{"name": "P", "delta": "0d"}]),
    ] {
        assert!(check_deltas(&with_deltas(bad.clone())).is_err(), "{bad} is refused");
    }
}

#[test]
fn a_delta_longer_than_the_certificate_lives_is_due_at_once_and_trigger_keys_round_trip() {
    let metadata = with_deltas(json!([{"name": "Long", "delta": "5000y"}]));
    let due = pending(&ca_certificate(END), Status::Active, &metadata);
    assert!(due[0].at < datetime!(2026-01-01 0:00 UTC));
    for trigger in [warning("Pre ventive:x"), Trigger::Expired] {
        assert_eq!(Trigger::from_key(&trigger.key()), Some(trigger));
    }
    assert_eq!(Trigger::from_key("soon"), None);
}
