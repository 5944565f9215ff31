//! Status of a CA or certificate, and RFC 5280 revocation reasons.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::invalid::{InvalidInput, shown};

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

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
            .ok_or_else(|| InvalidInput::new("status", format!("unknown status {}", shown(raw))))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if let Ok(code) = raw.parse::<u8>() {
            return RevocationReason::from_code(code)
                .ok_or_else(|| InvalidInput::new("revocation_reason", format!("no reason has code {code}")));
        }
        RevocationReason::ALL
            .into_iter()
            .find(|r| format!("{r:?}").eq_ignore_ascii_case(raw))
            .ok_or_else(|| InvalidInput::new("revocation_reason", format!("unknown reason {}", shown(raw))))
    }

    /// The reason with CRL reason code `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        RevocationReason::ALL.into_iter().find(|r| *r as u8 == code)
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
    /// RFC 5280 §5.3.2: when the key is known or suspected to have been compromised, or the
    /// certificate otherwise became invalid; absent when not given.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub invalidity_date: Option<OffsetDateTime>,
}

impl Revocation {
    pub fn new(reason: RevocationReason, revoked_at: OffsetDateTime) -> Self {
        Revocation { reason, revoked_at, invalidity_date: None }
    }
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
