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

/// A status change as asked for: the status and, for REVOKED, why and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested {
    pub status: Status,
    pub reason: Option<RevocationReason>,
    pub invalidity_date: Option<OffsetDateTime>,
}

/// The status rules shared by CAs and certificates. `current` is the status at `now` (expiry
/// included); `on_hold` whether the current revocation is a CertificateHold. `Ok(None)` means the
/// target is already in place.
pub fn transition(
    what: Resource,
    current: Status,
    on_hold: bool,
    current_reason: Option<RevocationReason>,
    requested: Requested,
    now: OffsetDateTime,
) -> Result<Option<Transition>, DomainError> {
    let Requested { status: target, reason, invalidity_date } = requested;
    if target == Status::Expired {
        return Err(DomainError::invalid(
            "status",
            "EXPIRED follows from the certificate's notAfter; it cannot be set",
        ));
    }
    if reason.is_some() && target != Status::Revoked {
        return Err(DomainError::invalid("revocation_reason", "only applies to status REVOKED"));
    }
    if invalidity_date.is_some() && target != Status::Revoked {
        return Err(DomainError::invalid("invalidity_date", "only applies to status REVOKED"));
    }
    if invalidity_date.is_some_and(|at| at > now) {
        return Err(DomainError::invalid(
            "invalidity_date",
            "is in the future; it says since when the certificate was invalid",
        ));
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
            let revocation = Revocation { invalidity_date, ..Revocation::new(reason, now) };
            Ok(Some(Transition { status: Status::Revoked, revocation: Some(revocation) }))
        }
        _ if target == current => Ok(None),
        _ => Ok(Some(Transition { status: target, revocation: None })),
    }
}

/// An ancestor CA was revoked for `cause`: revoke too, unless already revoked for good or
/// expired. The reason is cACompromise when the ancestor's key was compromised (RFC 5280
/// §5.3.1: what it signed can no longer be trusted), cessationOfOperation otherwise.
pub fn cascade(
    current: Status,
    on_hold: bool,
    cause: Option<RevocationReason>,
    now: OffsetDateTime,
) -> Option<Transition> {
    if current == Status::Expired || (current == Status::Revoked && !on_hold) {
        return None;
    }
    let reason = match cause {
        Some(RevocationReason::KeyCompromise | RevocationReason::CACompromise) => RevocationReason::CACompromise,
        _ => RevocationReason::CessationOfOperation,
    };
    Some(Transition { status: Status::Revoked, revocation: Some(Revocation::new(reason, now)) })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_cascade_says_ca_compromise_when_the_ancestor_key_was_compromised() {
        let now = datetime!(2026-12-03 12:00 UTC);
        let reason = |cause| cascade(Status::Active, false, cause, now).and_then(|t| t.revocation).map(|r| r.reason);
        assert_eq!(reason(Some(RevocationReason::KeyCompromise)), Some(RevocationReason::CACompromise));
        assert_eq!(reason(Some(RevocationReason::CACompromise)), Some(RevocationReason::CACompromise));
        assert_eq!(reason(Some(RevocationReason::Superseded)), Some(RevocationReason::CessationOfOperation));
        assert_eq!(reason(None), Some(RevocationReason::CessationOfOperation));
        assert_eq!(cascade(Status::Revoked, false, None, now), None, "revoked for good stays as it is");
        assert!(cascade(Status::Revoked, true, None, now).is_some(), "a hold is revoked for good");
    }
}
