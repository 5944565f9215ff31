//! CA commands and the rules that turn them into events.

use serde_json::Value;
use time::OffsetDateTime;

use super::events::{
    CaCreated, CaDeleted, CaEvent, CaMetadataUpdated, CaProfileAssigned, CaReparented, CaStatusChanged,
    CaSubordinateAdded,
};
use super::evolve::evolve;
use super::new::{NewCa, Placement, ensure_ca_certificate};
use super::reissue::{Reissue, decide_reissue};
use super::state::{Ca, CaType, KeyRef};
use crate::DomainError;
use crate::aggregate::Aggregate;
use crate::error::Resource;
use crate::expiry::{self, Fired, Trigger};
use crate::ids::{CaId, ProfileId};
use crate::metadata::{apply_patch, check_size};
use crate::status::{RevocationReason, Status};
use crate::transition::{Requested, cascade, transition};

#[derive(Debug, Clone, PartialEq)]
pub enum CaCommand {
    Create(NewCa),
    Import(NewCa),
    ChangeStatus {
        status: Status,
        reason: Option<RevocationReason>,
        /// RFC 5280 §5.3.2: since when the certificate was invalid (a key compromise's date).
        invalidity_date: Option<OffsetDateTime>,
    },
    /// An ancestor was revoked (for `cause`): revoke this CA too, unless already revoked for
    /// good or expired.
    CascadeRevoke {
        from: CaId,
        cause: Option<RevocationReason>,
    },
    UpdateMetadata {
        patch: Value,
    },
    /// Set the default profile and, when given, the other profiles the CA may sign with.
    AssignProfile {
        profile_id: Option<ProfileId>,
        allowed_profile_ids: Option<Vec<ProfileId>>,
    },
    /// Record a child.
    AddSubordinate {
        child_id: CaId,
        link: SubordinateLink,
    },
    Delete,
    /// Place the CA under the issuer that signed it: an orphan whose issuer arrived, or a CA whose
    /// issuer's level changed. A CA never moves to another issuer.
    Adopt(Placement),
    /// Record a reissued certificate (signed already) for the CA.
    Reissue(Box<Reissue>),
    /// The engine destroyed the deleted CA's key.
    RecordKeyDestroyed,
    /// The engine destroyed a key the deleted CA signed with before a rekey.
    RecordRetiredKeyDestroyed {
        key: KeyRef,
    },
    /// The scheduler: record `trigger` if it is pending and due (else nothing).
    Fire {
        trigger: Trigger,
    },
}

/// How a child came under this CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubordinateLink {
    /// This CA's key signed the child's certificate just now, which it may only do while it can
    /// sign.
    SignedHere,
    /// An imported certificate this CA signed at some time in the past.
    Recognised,
}

impl Aggregate for Ca {
    type Id = CaId;
    type Command = CaCommand;
    type Event = CaEvent;

    fn stream_id(id: &CaId) -> String {
        id.stream_id()
    }

    fn resource(id: &CaId) -> Resource {
        Resource::Ca(id.clone())
    }

    fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn decide(
        id: &CaId,
        state: Option<&Ca>,
        command: &CaCommand,
        now: OffsetDateTime,
    ) -> Result<Vec<CaEvent>, DomainError> {
        decide(id, state, command, now)
    }

    fn evolve(state: Option<Ca>, event: &CaEvent) -> Option<Ca> {
        evolve(state, event)
    }
}

/// Decides which events a command produces on the stream of CA `id`. No events means "nothing
/// to change".
pub fn decide(
    id: &CaId,
    state: Option<&Ca>,
    command: &CaCommand,
    now: OffsetDateTime,
) -> Result<Vec<CaEvent>, DomainError> {
    match command {
        CaCommand::Create(new) => create(id, state, new, now).map(|e| vec![CaEvent::Created(e)]),
        CaCommand::Import(new) => create(id, state, new, now).map(|e| vec![CaEvent::Imported(e)]),
        CaCommand::RecordKeyDestroyed => Ok(match state {
            Some(ca) if ca.deleted && !ca.key_destroyed => ca
                .key
                .clone()
                .map(|key| CaEvent::KeyDestroyed(super::events::CaKeyDestroyed { key, at: now }))
                .into_iter()
                .collect(),
            Some(ca) if ca.deleted => vec![],
            _ => return Err(DomainError::BrokenInvariant("a key is destroyed after its CA is deleted")),
        }),
        CaCommand::Fire { trigger } => Ok(state
            .filter(|ca| !ca.deleted)
            .and_then(|ca| expiry::decide(&ca.certificate, ca.recorded_status, &ca.metadata, trigger, now))
            .map(|fired| match fired {
                Fired::Warning(e) => CaEvent::ExpirationWarning(e),
                Fired::Expired(e) => CaEvent::Expired(e),
            })
            .into_iter()
            .collect()),
        CaCommand::RecordRetiredKeyDestroyed { key } => Ok(match state {
            Some(ca) if ca.deleted && ca.retired_keys.contains(key) => {
                vec![CaEvent::KeyDestroyed(super::events::CaKeyDestroyed { key: key.clone(), at: now })]
            }
            Some(ca) if ca.deleted => vec![],
            _ => return Err(DomainError::BrokenInvariant("a key is destroyed after its CA is deleted")),
        }),
        CaCommand::CascadeRevoke { from, cause } => {
            Ok(state.filter(|ca| !ca.deleted).map_or_else(Vec::new, |ca| cascade_revoke(ca, from, *cause, now)))
        }
        command => {
            let ca = state.filter(|ca| !ca.deleted).ok_or_else(|| DomainError::NotFound(Resource::Ca(id.clone())))?;
            match command {
                CaCommand::ChangeStatus { status, reason, invalidity_date } => {
                    change_status(ca, *status, *reason, *invalidity_date, now)
                }
                CaCommand::UpdateMetadata { patch } => {
                    let metadata = apply_patch(&ca.metadata, patch)?;
                    check_size(&metadata)?;
                    expiry::check_deltas(&metadata)?;
                    Ok(if metadata == ca.metadata {
                        vec![]
                    } else {
                        vec![CaEvent::MetadataUpdated(CaMetadataUpdated {
                            patch: patch.clone(),
                            metadata: None,
                            at: now,
                        })]
                    })
                }
                CaCommand::AssignProfile { profile_id, allowed_profile_ids } => {
                    let allowed = allowed_profile_ids.as_ref().map(|ids| {
                        let mut ids = ids.clone();
                        ids.sort();
                        ids.dedup();
                        ids
                    });
                    let unchanged = *profile_id == ca.profile_id
                        && allowed.as_ref().is_none_or(|ids| *ids == ca.allowed_profile_ids);
                    Ok(if unchanged {
                        vec![]
                    } else {
                        vec![CaEvent::ProfileAssigned(CaProfileAssigned {
                            profile_id: profile_id.clone(),
                            previous: ca.profile_id.clone(),
                            allowed_profile_ids: allowed,
                            at: now,
                        })]
                    })
                }
                CaCommand::AddSubordinate { child_id, link } => {
                    if *link == SubordinateLink::SignedHere {
                        ca.ensure_can_sign(now)?;
                    }
                    Ok(if ca.subordinates.contains(child_id) {
                        vec![]
                    } else {
                        vec![CaEvent::SubordinateAdded(CaSubordinateAdded { child_id: child_id.clone(), at: now })]
                    })
                }
                CaCommand::Delete => delete(ca, now),
                CaCommand::Adopt(placement) => adopt(ca, placement, now),
                CaCommand::Reissue(reissue) => Ok(vec![CaEvent::Reissued(decide_reissue(ca, reissue, now)?)]),
                CaCommand::Create(_)
                | CaCommand::Import(_)
                | CaCommand::CascadeRevoke { .. }
                | CaCommand::Fire { .. }
                | CaCommand::RecordRetiredKeyDestroyed { .. }
                | CaCommand::RecordKeyDestroyed => {
                    Err(DomainError::BrokenInvariant("creation and cascade are decided above"))
                }
            }
        }
    }
}

fn create(id: &CaId, state: Option<&Ca>, new: &NewCa, now: OffsetDateTime) -> Result<CaCreated, DomainError> {
    if state.is_some() {
        return Err(DomainError::AlreadyExists(Resource::Ca(id.clone())));
    }
    if new.id != *id {
        return Err(DomainError::BrokenInvariant("a CA is created on its own stream"));
    }
    ensure_ca_certificate(&new.certificate)?;
    check_size(&new.metadata)?;
    expiry::check_deltas(&new.metadata)?;
    if new.ca_type == CaType::Managed && new.key.is_none() {
        return Err(DomainError::BrokenInvariant("a managed CA needs a key"));
    }
    let parent = new.issuer_metadata.as_ref().filter(|i| i.id != new.id);
    if parent.is_some_and(|issuer| new.level != issuer.level + 1) {
        return Err(DomainError::BrokenInvariant("a subordinate's level is its parent's level plus one"));
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
        max_path_len: new.max_path_len,
        at: now,
    })
}

fn change_status(
    ca: &Ca,
    target: Status,
    reason: Option<RevocationReason>,
    invalidity_date: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Vec<CaEvent>, DomainError> {
    let current = ca.status_at(now);
    let what = Resource::Ca(ca.id.clone());
    let current_reason = ca.revocation.map(|r| r.reason);
    let Some(change) = transition(
        what,
        current,
        ca.is_on_hold(),
        current_reason,
        Requested { status: target, reason, invalidity_date },
        now,
    )?
    else {
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

fn cascade_revoke(ca: &Ca, from: &CaId, cause: Option<RevocationReason>, now: OffsetDateTime) -> Vec<CaEvent> {
    let current = ca.status_at(now);
    let Some(change) = cascade(current, ca.is_on_hold(), cause, now) else {
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

fn adopt(ca: &Ca, placement: &Placement, now: OffsetDateTime) -> Result<Vec<CaEvent>, DomainError> {
    let Some(issuer) = placement.issuer_metadata.clone() else {
        return Err(DomainError::BrokenInvariant("a CA is adopted by an issuer"));
    };
    if ca.parent_id().is_some_and(|current| *current != issuer.id) || issuer.id == ca.id {
        return Err(DomainError::BrokenInvariant("a placed CA keeps its issuer"));
    }
    if placement.level != issuer.level + 1 {
        return Err(DomainError::BrokenInvariant("a subordinate's level is its parent's level plus one"));
    }
    let unchanged = ca.issuer_metadata.as_ref() == Some(&issuer)
        && ca.level == placement.level
        && ca.max_path_len == placement.max_path_len;
    Ok(if unchanged {
        vec![]
    } else {
        vec![CaEvent::Reparented(CaReparented {
            level: placement.level,
            issuer_metadata: issuer,
            max_path_len: placement.max_path_len,
            previous_level: ca.level,
            at: now,
        })]
    })
}

fn delete(ca: &Ca, now: OffsetDateTime) -> Result<Vec<CaEvent>, DomainError> {
    let status = ca.status_at(now);
    if ca.is_on_hold() {
        return Err(DomainError::CaOnHold { id: ca.id.clone() });
    }
    let deletable = ca.ca_type == CaType::ImportedWithoutKey || matches!(status, Status::Revoked | Status::Expired);
    if !deletable {
        return Err(DomainError::CaNotDeletable { id: ca.id.clone(), status });
    }
    Ok(vec![CaEvent::Deleted(CaDeleted { at: now })])
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
