//! CA events: stable type names (Lamassu's where one exists) and schema versions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::reissue::CaReissued;
use super::state::{CaType, IssuerMetadata, KeyRef, SecurityLevel};
use crate::aggregate::{DomainEvent, UnknownEvent};
use crate::certificate::CertificateInfo;
use crate::expiry::{ExpirationWarning, Expired};
use crate::ids::{CaId, ProfileId};
use crate::metadata::{Metadata, MetadataChanged};
use crate::status::{Revocation, Status};

#[derive(Debug, Clone, PartialEq)]
pub enum CaEvent {
    Created(CaCreated),
    Imported(CaCreated),
    StatusChanged(CaStatusChanged),
    MetadataUpdated(CaMetadataUpdated),
    ProfileAssigned(CaProfileAssigned),
    SubordinateAdded(CaSubordinateAdded),
    Deleted(CaDeleted),
    KeyDestroyed(CaKeyDestroyed),
    Reissued(CaReissued),
    /// An orphan found its issuer, or an ancestor's level changed: the CA's place is now this.
    Reparented(CaReparented),
    /// The scheduler: a named expiration delta fell due.
    ExpirationWarning(ExpirationWarning),
    /// The scheduler: the certificate's `valid_to` passed; the CA is EXPIRED.
    Expired(Expired),
}

/// A CA came to exist, created by Shedu (`ca.create`) or imported (`ca.import`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaCreated {
    pub id: CaId,
    pub ca_type: CaType,
    pub level: u32,
    pub issuer_metadata: Option<IssuerMetadata>,
    pub certificate: CertificateInfo,
    pub key: Option<KeyRef>,
    pub security_level: Option<SecurityLevel>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
    /// Absent in events recorded before Shedu kept it: the certificate's own pathLen then holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_len: Option<u32>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaStatusChanged {
    pub status: Status,
    pub previous: Status,
    pub revocation: Option<Revocation>,
    /// Set when this change was cascaded from an ancestor's revocation.
    pub cascaded_from: Option<CaId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

pub type CaMetadataUpdated = MetadataChanged;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaProfileAssigned {
    pub profile_id: Option<ProfileId>,
    pub previous: Option<ProfileId>,
    /// The other stored profiles the CA may sign with; absent: unchanged (and in events
    /// recorded before Shedu kept the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_profile_ids: Option<Vec<ProfileId>>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A subordinate CA was signed by (or imported under) this CA. Recorded on the parent's stream so
/// that a revocation of the parent sees every child that existed when it committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaSubordinateAdded {
    pub child_id: CaId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `ca.reparent`: the CA's issuer in Shedu and level, as placed when its issuer arrived (an
/// imported chain in any order) or when its issuer's own level changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaReparented {
    pub level: u32,
    pub issuer_metadata: IssuerMetadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_len: Option<u32>,
    /// The level before (0 for an orphan, whose level was a placeholder).
    pub previous_level: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The CA is gone; its key's fate is recorded apart, once the engine has answered
/// ([`CaKeyDestroyed`]). Schema version 1 carried `key_destroyed`, written before destruction
/// was even attempted: it is read and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaDeleted {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The engine confirmed that the deleted CA's key is destroyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaKeyDestroyed {
    pub key: KeyRef,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

pub const CA_CREATE: &str = "ca.create";
pub const CA_IMPORT: &str = "ca.import";
pub const CA_STATUS_UPDATE: &str = "ca.status.update";
pub const CA_METADATA_UPDATE: &str = "ca.metadata.update";
pub const CA_PROFILE_UPDATE: &str = "ca.profile.update";
pub const CA_SUBORDINATE_ADD: &str = "ca.subordinate.add";
pub const CA_DELETE: &str = "ca.delete";
pub const CA_KEY_DESTROYED: &str = "ca.key.destroyed";
pub const CA_REISSUE: &str = "ca.reissue";
pub const CA_REPARENT: &str = "ca.reparent";
pub const CA_EXPIRATION_WARNING: &str = "ca.expiration.warning";
pub const CA_EXPIRED: &str = "ca.expired";

/// The CA events that change nothing a certificate's issuance rests on (the CA's status, key,
/// profiles and validity, and its ancestors'): its metadata, and its record of a new subordinate.
/// An issuance guarded on a CA's stream lets these pass (docs/adr/0017), so that patching a
/// CA's metadata never starves its issuance.
pub const IRRELEVANT_TO_ISSUANCE: &[&str] = &[CA_METADATA_UPDATE, CA_SUBORDINATE_ADD, CA_EXPIRATION_WARNING];

impl DomainEvent for CaEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CaEvent::Created(_) => CA_CREATE,
            CaEvent::Imported(_) => CA_IMPORT,
            CaEvent::StatusChanged(_) => CA_STATUS_UPDATE,
            CaEvent::MetadataUpdated(_) => CA_METADATA_UPDATE,
            CaEvent::ProfileAssigned(_) => CA_PROFILE_UPDATE,
            CaEvent::SubordinateAdded(_) => CA_SUBORDINATE_ADD,
            CaEvent::Deleted(_) => CA_DELETE,
            CaEvent::KeyDestroyed(_) => CA_KEY_DESTROYED,
            CaEvent::Reissued(_) => CA_REISSUE,
            CaEvent::Reparented(_) => CA_REPARENT,
            CaEvent::ExpirationWarning(_) => CA_EXPIRATION_WARNING,
            CaEvent::Expired(_) => CA_EXPIRED,
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            CaEvent::Deleted(_) | CaEvent::MetadataUpdated(_) => 2,
            _ => 1,
        }
    }

    fn to_data(&self) -> Value {
        let data = match self {
            CaEvent::Created(e) | CaEvent::Imported(e) => serde_json::to_value(e),
            CaEvent::StatusChanged(e) => serde_json::to_value(e),
            CaEvent::MetadataUpdated(e) => serde_json::to_value(e),
            CaEvent::ProfileAssigned(e) => serde_json::to_value(e),
            CaEvent::SubordinateAdded(e) => serde_json::to_value(e),
            CaEvent::Deleted(e) => serde_json::to_value(e),
            CaEvent::KeyDestroyed(e) => serde_json::to_value(e),
            CaEvent::Reissued(e) => serde_json::to_value(e),
            CaEvent::Reparented(e) => serde_json::to_value(e),
            CaEvent::ExpirationWarning(e) => serde_json::to_value(e),
            CaEvent::Expired(e) => serde_json::to_value(e),
        };
        // Serialising plain data structs with string keys cannot fail.
        data.unwrap_or(Value::Null)
    }

    fn from_stored(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, UnknownEvent> {
        let unknown = |reason: String| UnknownEvent::new(event_type, schema_version, reason);
        // v2 of ca.delete dropped a field, v2 of ca.metadata.update made one optional: the v2
        // readers read v1 too.
        let known =
            schema_version == 1 || (matches!(event_type, CA_DELETE | CA_METADATA_UPDATE) && schema_version == 2);
        if !known {
            return Err(unknown("no upcaster for this schema version".into()));
        }
        fn read<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, String> {
            T::deserialize(data).map_err(|e| e.to_string())
        }
        let event = match event_type {
            CA_CREATE => read(data).map(CaEvent::Created),
            CA_IMPORT => read(data).map(CaEvent::Imported),
            CA_STATUS_UPDATE => read(data).map(CaEvent::StatusChanged),
            CA_METADATA_UPDATE => read(data).map(CaEvent::MetadataUpdated),
            CA_PROFILE_UPDATE => read(data).map(CaEvent::ProfileAssigned),
            CA_SUBORDINATE_ADD => read(data).map(CaEvent::SubordinateAdded),
            CA_DELETE => read(data).map(CaEvent::Deleted),
            CA_KEY_DESTROYED => read(data).map(CaEvent::KeyDestroyed),
            CA_REISSUE => read(data).map(CaEvent::Reissued),
            CA_REPARENT => read(data).map(CaEvent::Reparented),
            CA_EXPIRATION_WARNING => read(data).map(CaEvent::ExpirationWarning),
            CA_EXPIRED => read(data).map(CaEvent::Expired),
            _ => Err("not a CA event".into()),
        };
        event.map_err(unknown)
    }
}
