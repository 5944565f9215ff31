//! JSON shapes of the CA endpoints (Lamassu's field names, PEM for X.509).

use serde::{Deserialize, Serialize};
use shedu_domain::ca::{Ca, CaType, IssuerMetadata, SecurityLevel};
use shedu_domain::certificate::CertificateInfo;
use shedu_domain::duration::ValidityInput;
use shedu_domain::ids::{EngineId, KeyId, ProfileId};
use shedu_domain::metadata::Metadata;
use shedu_domain::status::{Revocation, Status};
use shedu_domain::subject::Subject;
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
pub(super) struct CaResponse<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub ca_type: CaType,
    pub status: Status,
    /// `null` for an orphan: an imported CA whose issuer Shedu does not hold.
    pub level: Option<u32>,
    pub profile_id: Option<&'a ProfileId>,
    pub allowed_profile_ids: &'a [ProfileId],
    pub engine_id: Option<&'a EngineId>,
    pub key_id: Option<&'a KeyId>,
    pub security_level: Option<SecurityLevel>,
    pub metadata: &'a Metadata,
    #[serde(with = "time::serde::rfc3339")]
    pub creation_ts: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_ts: OffsetDateTime,
    pub version: u64,
    pub issuer_metadata: Option<&'a IssuerMetadata>,
    pub revocation: Option<Revocation>,
    pub certificate: &'a CertificateInfo,
}

impl<'a> CaResponse<'a> {
    /// The CA as read at `now`: its status accounts for expiry.
    pub(super) fn new(ca: &'a Ca, now: OffsetDateTime) -> Self {
        CaResponse {
            id: ca.id.as_str(),
            ca_type: ca.ca_type,
            status: ca.status_at(now),
            level: (!ca.is_orphan()).then_some(ca.level),
            profile_id: ca.profile_id.as_ref(),
            allowed_profile_ids: &ca.allowed_profile_ids,
            engine_id: ca.key.as_ref().map(|k| &k.engine_id),
            key_id: ca.key.as_ref().map(|k| &k.key_id),
            security_level: ca.security_level,
            metadata: &ca.metadata,
            creation_ts: ca.created_at,
            updated_ts: ca.updated_at,
            version: ca.version,
            issuer_metadata: ca.issuer_metadata.as_ref(),
            revocation: ca.revocation,
            certificate: &ca.certificate,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyMetadataBody {
    #[serde(rename = "type")]
    pub key_type: String,
    #[serde(default)]
    pub bits: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateCaBody {
    pub id: Option<String>,
    pub parent_id: Option<String>,
    pub subject: Subject,
    pub key_metadata: KeyMetadataBody,
    pub ca_expiration: ValidityInput,
    pub engine_id: Option<String>,
    pub profile_id: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportCaBody {
    pub id: Option<String>,
    pub certificate: String,
    /// Accepted for compatibility and checked to be PEM certificates; the chain served by
    /// `/chain` is built from CAs Shedu holds.
    pub chain: Option<String>,
    pub private_key: Option<String>,
    pub engine_id: Option<String>,
    pub profile_id: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// `POST /v2/cas/{id}/reissue`; every field may be left out (`{}` reissues as it is).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReissueBody {
    pub reason: Option<String>,
    #[serde(default)]
    pub rekey: bool,
    pub key_metadata: Option<KeyMetadataBody>,
    pub ca_expiration: Option<ValidityInput>,
    pub engine_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    pub status: String,
    pub revocation_reason: Option<String>,
    pub invalidity_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileBody {
    /// Required: a profile id, or `null` to clear the default. Absent (`{}`) is not "clear".
    #[serde(default, deserialize_with = "present")]
    pub profile_id: Option<Option<String>>,
    /// Other stored profiles the CA may sign with; absent: unchanged.
    pub allowed_profile_ids: Option<Vec<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}
