//! The status rules shared by CAs and certificates: which changes a status allows, and what an
//! ancestor's revocation does.

use time::OffsetDateTime;

use crate::DomainError;
use crate::error::Resource;
use crate::status::{Revocation, RevocationReason, Status};

/// A status change decided by [`transition`]: the new status and, for REVOKED, the revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: Status,
    pub revocation: Option<Revocation>,
}

/// The status rules shared by CAs and certificates. `current` is the status at `now` (expiry
/// included); `on_hold` whether the current revocation is a CertificateHold. `Ok(None)` means the
/// target is already in place.
pub fn transition(
    what: Resource,
    current: Status,
    on_hold: bool,
    current_reason: Option<RevocationReason>,
    target: Status,
    reason: Option<RevocationReason>,
    now: OffsetDateTime,
) -> Result<Option<Transition>, DomainError> {
    if target == Status::Expired {
        return Err(DomainError::invalid(
            "status",
            "EXPIRED follows from the certificate's notAfter; it cannot be set",
        ));
    }
    if reason.is_some() && target != Status::Revoked {
        return Err(DomainError::invalid("revocation_reason", "only applies to status REVOKED"));
    }
    if current == Status::Expired {
        return Err(DomainError::AlreadyExpired(what));
    }
    if current == Status::Revoked && !on_hold {
        return Err(DomainError::RevokedForGood(what));
    }
    match target {
        Status::Revoked => {
            let reason = reason.unwrap_or(RevocationReason::Unspecified);
            if !reason.can_revoke() {
                return Err(DomainError::invalid("revocation_reason", "RemoveFromCRL is not a reason to revoke"));
            }
            if current_reason == Some(reason) {
                return Ok(None);
            }
            Ok(Some(Transition { status: Status::Revoked, revocation: Some(Revocation { reason, revoked_at: now }) }))
        }
        _ if target == current => Ok(None),
        _ => Ok(Some(Transition { status: target, revocation: None })),
    }
}

/// An ancestor CA was revoked: revoke too, unless already revoked for good or expired.
pub fn cascade(current: Status, on_hold: bool, now: OffsetDateTime) -> Option<Transition> {
    if current == Status::Expired || (current == Status::Revoked && !on_hold) {
        return None;
    }
    Some(Transition {
        status: Status::Revoked,
        revocation: Some(Revocation { reason: RevocationReason::CessationOfOperation, revoked_at: now }),
    })
}
