//! CA commands and the rules that turn them into events.

use serde_json::Value;
use time::OffsetDateTime;

use super::events::{
    CaCreated, CaDeleted, CaEvent, CaMetadataUpdated, CaProfileAssigned, CaStatusChanged, CaSubordinateAdded,
};
use super::{Ca, CaType, IssuerMetadata, KeyRef, SecurityLevel};
use crate::DomainError;
use crate::certificate::CertificateInfo;
use crate::ids::{CaId, ProfileId};
use crate::metadata::{Metadata, apply_patch};
use crate::status::{RevocationReason, Status, cascade, transition};

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
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaCommand {
    Create(NewCa),
    Import(NewCa),
    ChangeStatus {
        status: Status,
        reason: Option<RevocationReason>,
    },
    /// An ancestor was revoked: revoke this CA too, unless already revoked for good or expired.
    CascadeRevoke {
        from: CaId,
    },
    UpdateMetadata {
        patch: Value,
    },
    AssignProfile {
        profile_id: Option<ProfileId>,
    },
    /// Record a child. `signed_here` is true when this CA's key signed the child's certificate,
    /// which requires this CA to be able to sign now.
    AddSubordinate {
        child_id: CaId,
        signed_here: bool,
    },
    Delete,
}

/// Decides which events a command produces on a CA stream. No events means "nothing to change".
pub fn decide(state: Option<&Ca>, command: &CaCommand, now: OffsetDateTime) -> Result<Vec<CaEvent>, DomainError> {
    let state = state.filter(|ca| !ca.deleted || matches!(command, CaCommand::Create(_) | CaCommand::Import(_)));
    match command {
        CaCommand::Create(new) => create(state, new, now).map(|e| vec![CaEvent::Created(e)]),
        CaCommand::Import(new) => create(state, new, now).map(|e| vec![CaEvent::Imported(e)]),
        CaCommand::CascadeRevoke { from } => Ok(cascade_revoke(state, from, now)),
        command => {
            let ca = state.ok_or_else(|| DomainError::NotFound("CA".into()))?;
            match command {
                CaCommand::ChangeStatus { status, reason } => change_status(ca, *status, *reason, now),
                CaCommand::UpdateMetadata { patch } => {
                    let metadata = apply_patch(&ca.metadata, patch)?;
                    Ok(if metadata == ca.metadata {
                        vec![]
                    } else {
                        vec![CaEvent::MetadataUpdated(CaMetadataUpdated { patch: patch.clone(), metadata, at: now })]
                    })
                }
                CaCommand::AssignProfile { profile_id } => Ok(if *profile_id == ca.profile_id {
                    vec![]
                } else {
                    vec![CaEvent::ProfileAssigned(CaProfileAssigned {
                        profile_id: profile_id.clone(),
                        previous: ca.profile_id.clone(),
                        at: now,
                    })]
                }),
                CaCommand::AddSubordinate { child_id, signed_here } => {
                    if *signed_here {
                        ensure_can_sign(ca, now)?;
                    }
                    Ok(if ca.subordinates.contains(child_id) {
                        vec![]
                    } else {
                        vec![CaEvent::SubordinateAdded(CaSubordinateAdded { child_id: child_id.clone(), at: now })]
                    })
                }
                CaCommand::Delete => delete(ca, now),
                CaCommand::Create(_) | CaCommand::Import(_) | CaCommand::CascadeRevoke { .. } => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// Checks, before any key is generated, that `parent` may sign a subordinate valid until
/// `not_after`.
pub fn check_can_sign_subordinate(
    parent_id: &CaId,
    parent: Option<&Ca>,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let parent = parent
        .filter(|p| !p.deleted)
        .ok_or_else(|| DomainError::Rule(format!("parent CA '{parent_id}' does not exist")))?;
    ensure_can_sign(parent, now)?;
    if not_after > parent.certificate.valid_to {
        return Err(DomainError::Rule(format!(
            "a subordinate CA may not outlive its parent: requested validity ends after parent '{}' expires",
            parent.id
        )));
    }
    Ok(())
}

fn ensure_can_sign(ca: &Ca, now: OffsetDateTime) -> Result<(), DomainError> {
    let status = ca.status_at(now);
    if status != Status::Active {
        return Err(DomainError::Conflict(format!("CA '{}' is {} and cannot sign", ca.id, status.as_str())));
    }
    if ca.key.is_none() {
        return Err(DomainError::Conflict(format!(
            "CA '{}' was imported without its private key and cannot sign",
            ca.id
        )));
    }
    Ok(())
}

fn create(state: Option<&Ca>, new: &NewCa, now: OffsetDateTime) -> Result<CaCreated, DomainError> {
    if state.is_some() {
        return Err(DomainError::Conflict(format!("a CA with id '{}' already exists", new.id)));
    }
    if !new.certificate.is_ca {
        return Err(DomainError::Rule("the certificate is not a CA certificate (BasicConstraints CA:FALSE)".into()));
    }
    if new.ca_type == CaType::Managed && new.key.is_none() {
        return Err(DomainError::Rule("a managed CA needs a key".into()));
    }
    let parent = new.issuer_metadata.as_ref().filter(|i| i.id != new.id);
    if parent.is_some_and(|issuer| new.level != issuer.level + 1) {
        return Err(DomainError::Rule("a subordinate's level is its parent's level plus one".into()));
    }
    Ok(CaCreated {
        id: new.id.clone(),
        ca_type: new.ca_type,
        level: new.level,
        issuer_metadata: new.issuer_metadata.clone(),
        certificate: new.certificate.clone(),
        key: new.key.clone(),
        security_level: new.security_level,
        profile_id: new.profile_id.clone(),
        metadata: new.metadata.clone(),
        at: now,
    })
}

fn change_status(
    ca: &Ca,
    target: Status,
    reason: Option<RevocationReason>,
    now: OffsetDateTime,
) -> Result<Vec<CaEvent>, DomainError> {
    let current = ca.status_at(now);
    let what = format!("CA '{}'", ca.id);
    let current_reason = ca.revocation.map(|r| r.reason);
    let Some(change) = transition(&what, current, ca.is_on_hold(), current_reason, target, reason, now)? else {
        return Ok(vec![]);
    };
    Ok(vec![CaEvent::StatusChanged(CaStatusChanged {
        status: change.status,
        previous: current,
        revocation: change.revocation,
        cascaded_from: None,
        at: now,
    })])
}

fn cascade_revoke(state: Option<&Ca>, from: &CaId, now: OffsetDateTime) -> Vec<CaEvent> {
    let Some(ca) = state else { return vec![] };
    let current = ca.status_at(now);
    let Some(change) = cascade(current, ca.is_on_hold(), now) else {
        return vec![];
    };
    vec![CaEvent::StatusChanged(CaStatusChanged {
        status: change.status,
        previous: current,
        revocation: change.revocation,
        cascaded_from: Some(from.clone()),
        at: now,
    })]
}

fn delete(ca: &Ca, now: OffsetDateTime) -> Result<Vec<CaEvent>, DomainError> {
    let status = ca.status_at(now);
    if ca.is_on_hold() {
        return Err(DomainError::Conflict(format!(
            "CA '{}' is on hold; revoke it for good before deleting it and its key",
            ca.id
        )));
    }
    let deletable = ca.ca_type == CaType::ImportedWithoutKey || matches!(status, Status::Revoked | Status::Expired);
    if !deletable {
        return Err(DomainError::Conflict(format!(
            "CA '{}' is {}; only REVOKED or EXPIRED CAs (or ones imported without a key) can be deleted",
            ca.id,
            status.as_str()
        )));
    }
    Ok(vec![CaEvent::Deleted(CaDeleted { key_destroyed: ca.key.is_some(), at: now })])
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
