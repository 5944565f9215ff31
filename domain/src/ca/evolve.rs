//! Folding CA events into a [`Ca`].

use std::collections::BTreeSet;

use super::events::CaEvent;
use super::reissue::apply_reissue;
use super::state::Ca;
use crate::expiry::mark_triggered;
use crate::status::Status;

/// Folds one event into the state. Holds no rules: every event that was recorded applies.
pub fn evolve(state: Option<Ca>, event: &CaEvent) -> Option<Ca> {
    let mut ca = match (state, event) {
        (None, CaEvent::Created(e) | CaEvent::Imported(e)) => {
            return Some(Ca {
                id: e.id.clone(),
                ca_type: e.ca_type,
                level: e.level,
                issuer_metadata: e.issuer_metadata.clone(),
                certificate: e.certificate.clone(),
                key: e.key.clone(),
                retired_keys: Vec::new(),
                earlier_certificates: Vec::new(),
                security_level: e.security_level,
                profile_id: e.profile_id.clone(),
                allowed_profile_ids: Vec::new(),
                metadata: e.metadata.clone(),
                max_path_len: e.max_path_len,
                recorded_status: Status::Active,
                revocation: None,
                subordinates: BTreeSet::new(),
                created_at: e.at,
                updated_at: e.at,
                deleted: false,
                key_destroyed: false,
                version: 1,
            });
        }
        (Some(ca), _) => ca,
        // An event before creation cannot have been accepted by `decide`; ignoring it keeps
        // replay total.
        (None, _) => return None,
    };
    ca.version += 1;
    match event {
        CaEvent::Created(_) | CaEvent::Imported(_) => {}
        CaEvent::StatusChanged(e) => {
            ca.recorded_status = e.status;
            ca.revocation = e.revocation;
            ca.updated_at = e.at;
        }
        CaEvent::MetadataUpdated(e) => {
            ca.metadata = e.applied_to(&ca.metadata);
            ca.updated_at = e.at;
        }
        CaEvent::ProfileAssigned(e) => {
            ca.profile_id = e.profile_id.clone();
            if let Some(allowed) = &e.allowed_profile_ids {
                ca.allowed_profile_ids = allowed.clone();
            }
            ca.updated_at = e.at;
        }
        CaEvent::SubordinateAdded(e) => {
            ca.subordinates.insert(e.child_id.clone());
        }
        CaEvent::Deleted(e) => {
            ca.deleted = true;
            ca.updated_at = e.at;
        }
        CaEvent::KeyDestroyed(e) => {
            if ca.key.as_ref() == Some(&e.key) {
                ca.key_destroyed = true;
            }
            ca.retired_keys.retain(|k| *k != e.key);
            ca.updated_at = e.at;
        }
        CaEvent::Reissued(e) => apply_reissue(&mut ca, e),
        CaEvent::Reparented(e) => {
            ca.level = e.level;
            ca.issuer_metadata = Some(e.issuer_metadata.clone());
            ca.max_path_len = e.max_path_len;
            ca.updated_at = e.at;
        }
        CaEvent::ExpirationWarning(e) => {
            mark_triggered(&mut ca.metadata, &e.name);
            ca.updated_at = e.at;
        }
        CaEvent::Expired(e) => {
            ca.recorded_status = Status::Expired;
            ca.updated_at = e.at;
        }
    }
    Some(ca)
}

/// Replays a whole stream.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a CaEvent>) -> Option<Ca> {
    events.into_iter().fold(None, evolve)
}
