//! A certificate a CA signed, as its events describe it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::IssuerMetadata;
use crate::certificate::{CertificateInfo, on_hold};
use crate::ids::{ProfileId, SerialNumber};
use crate::metadata::Metadata;
use crate::status::{Revocation, Status};

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
        self.certificate.status_at(self.recorded_status, now)
    }

    pub fn is_on_hold(&self) -> bool {
        on_hold(self.recorded_status, self.revocation.as_ref())
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.certificate.serial_number
    }
}

pub fn stream_id(serial: &SerialNumber) -> String {
    format!("certificate-{serial}")
}
