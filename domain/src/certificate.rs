//! What Shedu records about an X.509 certificate, parsed from its DER by an outer crate.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::SerialNumber;
use crate::key::KeyMetadata;
use crate::status::{Revocation, RevocationReason, Status};
use crate::subject::Subject;

/// The facts of one certificate. The PEM is authoritative; the other fields are read from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub serial_number: SerialNumber,
    /// The certificate itself, PEM. Named `certificate` on the wire and in stored events, as in
    /// Lamassu's model (`certificate.certificate`).
    #[serde(rename = "certificate")]
    pub pem: String,
    pub subject: Subject,
    pub issuer: Subject,
    pub subject_key_id: String,
    pub authority_key_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_to: OffsetDateTime,
    pub key_metadata: KeyMetadata,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    pub is_ca: bool,
    pub path_len_constraint: Option<u32>,
}

impl CertificateInfo {
    pub fn is_self_signed(&self) -> bool {
        self.subject == self.issuer && self.authority_key_id.as_ref().is_none_or(|aki| *aki == self.subject_key_id)
    }

    /// RFC 5280 §4.1.2.5: the certificate is valid through `valid_to`, so it has expired once
    /// `now` is past it.
    pub fn expired_at(&self, now: OffsetDateTime) -> bool {
        now > self.valid_to
    }

    /// The status at `now` of what carries this certificate, given its `recorded` status: never
    /// ACTIVE (or INACTIVE) past notAfter, whether or not the expiry was recorded, and INACTIVE
    /// before notBefore (an imported CA valid from a later date).
    pub fn status_at(&self, recorded: Status, now: OffsetDateTime) -> Status {
        match recorded {
            Status::Active | Status::Inactive if self.expired_at(now) => Status::Expired,
            Status::Active if now < self.valid_from => Status::Inactive,
            status => status,
        }
    }
}

/// Whether a recorded revocation is a CertificateHold, the one that can be lifted.
pub fn on_hold(recorded: Status, revocation: Option<&Revocation>) -> bool {
    recorded == Status::Revoked && revocation.is_some_and(|r| r.reason == RevocationReason::CertificateHold)
}
