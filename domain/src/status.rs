//! Status of a CA or certificate, and RFC 5280 revocation reasons.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Active,
    Expired,
    Revoked,
    Inactive,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Active, Status::Expired, Status::Revoked, Status::Inactive];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Expired => "EXPIRED",
            Status::Revoked => "REVOKED",
            Status::Inactive => "INACTIVE",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
            .ok_or_else(|| DomainError::invalid("status", format!("unknown status '{raw}'")))
    }
}

/// RFC 5280 §5.3.1 CRLReason. Code 7 is unused by the RFC, so no variant carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    Unspecified = 0,
    KeyCompromise = 1,
    CACompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCRL = 8,
    PrivilegeWithdrawn = 9,
    AACompromise = 10,
}

impl RevocationReason {
    const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CACompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AACompromise,
    ];

    /// Accepts the RFC name case-insensitively (`keyCompromise`, `KeyCompromise`) or its code.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if let Ok(code) = raw.parse::<u8>() {
            return RevocationReason::ALL
                .into_iter()
                .find(|r| *r as u8 == code)
                .ok_or_else(|| DomainError::invalid("revocation_reason", format!("no reason has code {code}")));
        }
        RevocationReason::ALL
            .into_iter()
            .find(|r| format!("{r:?}").eq_ignore_ascii_case(raw))
            .ok_or_else(|| DomainError::invalid("revocation_reason", format!("unknown reason '{raw}'")))
    }

    /// RemoveFromCRL only appears in delta CRLs; it cannot be a reason to revoke.
    pub fn can_revoke(self) -> bool {
        self != RevocationReason::RemoveFromCRL
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub reason: RevocationReason,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

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
    what: &str,
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
        return Err(DomainError::Conflict(format!("{what} is EXPIRED; EXPIRED is terminal")));
    }
    if current == Status::Revoked && !on_hold {
        return Err(DomainError::Conflict(format!("{what} is revoked for good; only a CertificateHold can be lifted")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_by_name_or_code() {
        assert_eq!(RevocationReason::parse("keycompromise").unwrap(), RevocationReason::KeyCompromise);
        assert_eq!(RevocationReason::parse("6").unwrap(), RevocationReason::CertificateHold);
        assert!(RevocationReason::parse("7").is_err());
        assert!(RevocationReason::parse("Bored").is_err());
    }
}
