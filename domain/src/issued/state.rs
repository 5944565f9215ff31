//! A certificate a CA signed, as its events describe it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::IssuerMetadata;
use crate::certificate::CertificateInfo;
use crate::ids::{ProfileId, SerialNumber};
use crate::metadata::Metadata;
use crate::status::{Revocation, RevocationReason, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    pub certificate: CertificateInfo,
    pub issuer_metadata: IssuerMetadata,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
    pub recorded_status: Status,
    pub revocation: Option<Revocation>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl IssuedCertificate {
    /// Never ACTIVE (or INACTIVE) past notAfter, whether or not the expiry was recorded.
    pub fn status_at(&self, now: OffsetDateTime) -> Status {
        match self.recorded_status {
            Status::Active | Status::Inactive if self.certificate.expired_at(now) => Status::Expired,
            Status::Active if now < self.certificate.valid_from => Status::Inactive,
            status => status,
        }
    }

    pub fn is_on_hold(&self) -> bool {
        self.recorded_status == Status::Revoked
            && self.revocation.is_some_and(|r| r.reason == RevocationReason::CertificateHold)
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.certificate.serial_number
    }
}

pub fn stream_id(serial: &SerialNumber) -> String {
    format!("certificate-{serial}")
}
