//! Certificate events: `ca.sign.certificate` (Lamassu's name for issuance),
//! `certificate.status.update`, `certificate.metadata.update`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::aggregate::{DomainEvent, UnknownEvent};
use crate::ca::IssuerMetadata;
use crate::certificate::CertificateInfo;
use crate::expiry::{ExpirationWarning, Expired};
use crate::ids::{CaId, ProfileId};
use crate::metadata::{Metadata, MetadataChanged};
use crate::status::{Revocation, Status};

// Events live briefly between decide and append; boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateEvent {
    Issued(CertificateIssued),
    StatusChanged(CertificateStatusChanged),
    MetadataUpdated(CertificateMetadataUpdated),
    ExpirationWarning(ExpirationWarning),
    Expired(Expired),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateIssued {
    pub certificate: CertificateInfo,
    pub issuer_metadata: IssuerMetadata,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateStatusChanged {
    pub status: Status,
    pub previous: Status,
    pub revocation: Option<Revocation>,
    pub cascaded_from: Option<CaId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

pub type CertificateMetadataUpdated = MetadataChanged;

const ISSUE: &str = "ca.sign.certificate";
const STATUS_UPDATE: &str = "certificate.status.update";
const METADATA_UPDATE: &str = "certificate.metadata.update";
const EXPIRATION_WARNING: &str = "certificate.expiration.warning";
const EXPIRED: &str = "certificate.expired";

impl DomainEvent for CertificateEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CertificateEvent::Issued(_) => ISSUE,
            CertificateEvent::StatusChanged(_) => STATUS_UPDATE,
            CertificateEvent::MetadataUpdated(_) => METADATA_UPDATE,
            CertificateEvent::ExpirationWarning(_) => EXPIRATION_WARNING,
            CertificateEvent::Expired(_) => EXPIRED,
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            CertificateEvent::MetadataUpdated(_) => 2,
            _ => 1,
        }
    }

    fn to_data(&self) -> Value {
        let data = match self {
            CertificateEvent::Issued(e) => serde_json::to_value(e),
            CertificateEvent::StatusChanged(e) => serde_json::to_value(e),
            CertificateEvent::MetadataUpdated(e) => serde_json::to_value(e),
            CertificateEvent::ExpirationWarning(e) => serde_json::to_value(e),
            CertificateEvent::Expired(e) => serde_json::to_value(e),
        };
        data.unwrap_or(Value::Null)
    }

    fn from_stored(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, UnknownEvent> {
        let unknown = |reason: String| UnknownEvent::new(event_type, schema_version, reason);
        // v2 of the metadata update made its document optional: the v2 reader reads v1 too.
        if !(schema_version == 1 || (event_type == METADATA_UPDATE && schema_version == 2)) {
            return Err(unknown("no upcaster for this schema version".into()));
        }
        let event = match event_type {
            ISSUE => CertificateIssued::deserialize(data).map(CertificateEvent::Issued),
            STATUS_UPDATE => CertificateStatusChanged::deserialize(data).map(CertificateEvent::StatusChanged),
            METADATA_UPDATE => CertificateMetadataUpdated::deserialize(data).map(CertificateEvent::MetadataUpdated),
            EXPIRATION_WARNING => ExpirationWarning::deserialize(data).map(CertificateEvent::ExpirationWarning),
            EXPIRED => Expired::deserialize(data).map(CertificateEvent::Expired),
            _ => return Err(unknown("not a certificate event".into())),
        };
        event.map_err(|e| unknown(e.to_string()))
    }
}
