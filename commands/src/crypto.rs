//! The crypto engine port: keys are generated, imported, used and destroyed inside an engine and
//! referred to by id. Private key bytes never cross this boundary outward.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use shedu_domain::DomainError;
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::{EngineId, KeyId};
use shedu_domain::key::{KeySpec, KeyType};

/// A key's public half, as the engine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_id: KeyId,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    pub spec: KeySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngineKind {
    Software,
    Pkcs11,
    AwsKms,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupportedKeyType {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub sizes: Vec<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub id: EngineId,
    #[serde(rename = "type")]
    pub kind: EngineKind,
    pub security_level: SecurityLevel,
}

/// Engine failures. Messages name keys by id only and never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("engine does not support {0}")]
    Unsupported(String),
    #[error("key {0} not found in the engine")]
    KeyNotFound(KeyId),
    /// The private key supplied for import is not a readable PEM private key.
    #[error("{0}")]
    MalformedKey(String),
    /// The private key supplied for import is not the certificate's key.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// The engine cannot be reached now (a token removed, a KMS endpoint down). The same
    /// request may succeed once it is back; CAs on other engines are unaffected.
    #[error("crypto engine '{engine}' is unavailable: {reason}")]
    Unavailable { engine: EngineId, reason: String },
    /// The engine does not take imported private keys.
    #[error("{0}")]
    ImportUnsupported(String),
    #[error("crypto engine failure: {0}")]
    Failed(String),
}

/// Synchronous on purpose: callers run engine work on a blocking thread, and PKCS#11 is blocking.
///
/// Signature algorithms follow the key: RSA → PKCS#1 v1.5 with SHA-256, P-256 → ECDSA SHA-256,
/// P-384 → ECDSA SHA-384, P-521 → ECDSA SHA-512, Ed25519 → Ed25519. `sign` receives the whole
/// message (e.g. a TBSCertificate) and returns the X.509 signature value (DER ECDSA-Sig-Value).
pub trait CryptoEngine: Send + Sync {
    fn info(&self) -> &EngineInfo;
    /// The key types and sizes the engine can generate, as the device reports them now.
    fn supported_key_types(&self) -> Result<Vec<SupportedKeyType>, EngineError>;
    /// Whether the engine can be used now: an error says why not.
    fn check(&self) -> Result<(), EngineError>;
    fn generate_key(&self, spec: KeySpec) -> Result<PublicKey, EngineError>;
    /// Imports a PEM private key (PKCS#8, PKCS#1 or SEC1) after checking that its public half is
    /// `expected_spki_der`; a mismatch stores nothing.
    fn import_key(&self, private_key_pem: &str, expected_spki_der: &[u8]) -> Result<PublicKey, EngineError>;
    fn public_key(&self, key_id: &KeyId) -> Result<PublicKey, EngineError>;
    fn sign(&self, key_id: &KeyId, message: &[u8]) -> Result<Vec<u8>, EngineError>;
    fn delete_key(&self, key_id: &KeyId) -> Result<(), EngineError>;
}

/// The configured engines and which one is the default.
#[derive(Clone)]
pub struct Engines {
    engines: BTreeMap<EngineId, Arc<dyn CryptoEngine>>,
    default: EngineId,
}

impl fmt::Debug for Engines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engines").field("ids", &self.engines.keys()).field("default", &self.default).finish()
    }
}

impl Engines {
    pub fn new(engines: Vec<Arc<dyn CryptoEngine>>, default: EngineId) -> Result<Self, String> {
        let engines: BTreeMap<_, _> = engines.into_iter().map(|e| (e.info().id.clone(), e)).collect();
        if !engines.contains_key(&default) {
            return Err(format!("default engine '{default}' is not configured"));
        }
        Ok(Engines { engines, default })
    }

    pub fn default_id(&self) -> &EngineId {
        &self.default
    }

    /// The engine `id`, or the default one.
    pub fn resolve(&self, id: Option<&EngineId>) -> Result<Arc<dyn CryptoEngine>, DomainError> {
        let id = id.unwrap_or(&self.default);
        self.engines
            .get(id)
            .cloned()
            .ok_or_else(|| DomainError::invalid("engine_id", format!("no crypto engine '{id}' is configured")))
    }

    pub fn list(&self) -> impl Iterator<Item = &Arc<dyn CryptoEngine>> {
        self.engines.values()
    }

    /// The key types `KeySpec::SUPPORTED` names: what an engine that can make every key offers.
    pub fn every_key_type() -> Vec<SupportedKeyType> {
        KeySpec::SUPPORTED
            .iter()
            .map(|(key_type, sizes)| SupportedKeyType { key_type: *key_type, sizes: sizes.to_vec() })
            .collect()
    }
}
