//! The AWS KMS crypto engine (or any KMS-compatible endpoint): keys created in KMS, named by an
//! alias `alias/<prefix>/<key id>`, used with `Sign` and scheduled for deletion when Shedu
//! deletes them. The private key never leaves KMS (docs/adr/0022).
//!
//! Messages up to KMS's 4096-byte limit (every ordinary TBSCertificate) are sent whole
//! (`MessageType=RAW`); longer ones as a digest. Every signature is verified here against the
//! key's public half before it is used: an endpoint that signs the wrong thing fails loudly.

mod client;

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use shedu_commands::crypto::{CryptoEngine, EngineError, EngineInfo, EngineKind, PublicKey, SupportedKeyType};
use shedu_commands::x509::keys::{key_spec_of_spki, subject_public_key_bits};
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::{EngineId, KeyId};
use shedu_domain::key::{KeySpec, KeyType};

pub use self::client::KmsSettings;
use self::client::{Kms, KmsFailure, MessageType};
use crate::key_der::digest;

/// KMS's limit on a message sent whole; longer ones are sent as their digest.
const RAW_LIMIT: usize = 4096;

/// What a key id maps to in KMS.
#[derive(Clone)]
struct Known {
    public: PublicKey,
    raw_public_key: Vec<u8>,
}

pub struct KmsEngine {
    info: EngineInfo,
    kms: Kms,
    alias_prefix: String,
    deletion_window_days: i32,
    known: Mutex<HashMap<KeyId, Known>>,
}

impl KmsEngine {
    pub fn new(id: EngineId, security_level: SecurityLevel, settings: KmsSettings) -> Result<Self, String> {
        let alias_prefix = settings.alias_prefix.clone();
        let deletion_window_days = settings.deletion_window_days;
        let kms = Kms::new(&settings).map_err(|e| format!("engine '{id}': {e}"))?;
        Ok(KmsEngine {
            info: EngineInfo { id, kind: EngineKind::AwsKms, security_level },
            kms,
            alias_prefix,
            deletion_window_days,
            known: Mutex::default(),
        })
    }

    fn alias(&self, key_id: &KeyId) -> String {
        format!("alias/{}/{}", self.alias_prefix, key_id.as_str())
    }

    fn error(&self, failure: KmsFailure, key_id: Option<&KeyId>) -> EngineError {
        match (failure, key_id) {
            (KmsFailure::NotFound(_), Some(key_id)) => EngineError::KeyNotFound(key_id.clone()),
            (KmsFailure::Unreachable(reason), _) => EngineError::Unavailable { engine: self.info.id.clone(), reason },
            (KmsFailure::NotFound(m) | KmsFailure::Refused(m), _) => EngineError::Failed(format!("KMS: {m}")),
        }
    }

    fn known(&self, key_id: &KeyId) -> Result<Known, EngineError> {
        if let Some(known) = self.known.lock().unwrap_or_else(|p| p.into_inner()).get(key_id) {
            return Ok(known.clone());
        }
        let spki = self.kms.public_key(&self.alias(key_id)).map_err(|e| self.error(e, Some(key_id)))?;
        if hex::encode(Sha256::digest(&spki)) != key_id.as_str() {
            return Err(EngineError::Failed(format!("KMS alias of key {key_id} names another key")));
        }
        let known = self.remember(key_id.clone(), spki)?;
        Ok(known)
    }

    fn remember(&self, key_id: KeyId, spki_der: Vec<u8>) -> Result<Known, EngineError> {
        let (key_type, bits) = key_spec_of_spki(&spki_der).map_err(EngineError::Failed)?;
        let raw_public_key = subject_public_key_bits(&spki_der).map_err(EngineError::Failed)?;
        let known = Known {
            public: PublicKey { key_id: key_id.clone(), spki_der, spec: KeySpec { key_type, bits } },
            raw_public_key,
        };
        self.known.lock().unwrap_or_else(|p| p.into_inner()).insert(key_id, known.clone());
        Ok(known)
    }
}

/// The KMS key spec for a Shedu key spec.
fn kms_key_spec(spec: KeySpec) -> Option<aws_sdk_kms::types::KeySpec> {
    use aws_sdk_kms::types::KeySpec as K;
    match (spec.key_type, spec.bits) {
        (KeyType::Ecdsa, 256) => Some(K::EccNistP256),
        (KeyType::Ecdsa, 384) => Some(K::EccNistP384),
        (KeyType::Ecdsa, 521) => Some(K::EccNistP521),
        (KeyType::Rsa, 2048) => Some(K::Rsa2048),
        (KeyType::Rsa, 3072) => Some(K::Rsa3072),
        (KeyType::Rsa, 4096) => Some(K::Rsa4096),
        _ => None,
    }
}

/// The signing algorithm X.509 expects of a key (see `CryptoEngine::sign`), and how this
/// process verifies it.
fn algorithms(
    spec: KeySpec,
) -> Option<(aws_sdk_kms::types::SigningAlgorithmSpec, &'static dyn aws_lc_rs::signature::VerificationAlgorithm)> {
    use aws_lc_rs::signature as v;
    use aws_sdk_kms::types::SigningAlgorithmSpec as S;
    match (spec.key_type, spec.bits) {
        (KeyType::Ecdsa, 256) => Some((S::EcdsaSha256, &v::ECDSA_P256_SHA256_ASN1)),
        (KeyType::Ecdsa, 384) => Some((S::EcdsaSha384, &v::ECDSA_P384_SHA384_ASN1)),
        (KeyType::Ecdsa, 521) => Some((S::EcdsaSha512, &v::ECDSA_P521_SHA512_ASN1)),
        (KeyType::Rsa, _) => Some((S::RsassaPkcs1V15Sha256, &v::RSA_PKCS1_2048_8192_SHA256)),
        _ => None,
    }
}

impl CryptoEngine for KmsEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn supported_key_types(&self) -> Result<Vec<SupportedKeyType>, EngineError> {
        Ok(vec![
            SupportedKeyType { key_type: KeyType::Rsa, sizes: vec![2048, 3072, 4096] },
            SupportedKeyType { key_type: KeyType::Ecdsa, sizes: vec![256, 384, 521] },
        ])
    }

    fn check(&self) -> Result<(), EngineError> {
        self.kms.reachable().map_err(|e| self.error(e, None))
    }

    fn generate_key(&self, spec: KeySpec) -> Result<PublicKey, EngineError> {
        let kms_spec = kms_key_spec(spec)
            .ok_or_else(|| EngineError::Unsupported(format!("{} {} in AWS KMS", spec.key_type.as_str(), spec.bits)))?;
        let (kms_key, spki) = self.kms.create_key(kms_spec).map_err(|e| self.error(e, None))?;
        let key_id =
            KeyId::parse(&hex::encode(Sha256::digest(&spki))).map_err(|e| EngineError::Failed(e.to_string()))?;
        if let Err(e) = self.kms.create_alias(&self.alias(&key_id), &kms_key) {
            // An unnamed key could never be used again: do not leave it behind.
            let _ = self.kms.schedule_deletion(&kms_key, self.deletion_window_days);
            return Err(self.error(e, None));
        }
        Ok(self.remember(key_id, spki)?.public)
    }

    fn import_key(&self, _private_key_pem: &str, _expected_spki_der: &[u8]) -> Result<PublicKey, EngineError> {
        Err(EngineError::ImportUnsupported(format!(
            "engine '{}' (AWS KMS) does not take imported private keys in this version of Shedu: import the CA \
             into a software or PKCS#11 engine, or import it without its key",
            self.info.id
        )))
    }

    fn public_key(&self, key_id: &KeyId) -> Result<PublicKey, EngineError> {
        Ok(self.known(key_id)?.public)
    }

    fn sign(&self, key_id: &KeyId, message: &[u8]) -> Result<Vec<u8>, EngineError> {
        let known = self.known(key_id)?;
        let spec = known.public.spec;
        let (algorithm, verification) = algorithms(spec)
            .ok_or_else(|| EngineError::Unsupported(format!("signing with {} in AWS KMS", spec.key_type.as_str())))?;
        let (message_type, body) = if message.len() <= RAW_LIMIT {
            (MessageType::Raw, message.to_vec())
        } else {
            (MessageType::Digest, digest(spec, message))
        };
        let signature = self
            .kms
            .sign(&self.alias(key_id), message_type, body, algorithm)
            .map_err(|e| self.error(e, Some(key_id)))?;
        aws_lc_rs::signature::UnparsedPublicKey::new(verification, &known.raw_public_key)
            .verify(message, &signature)
            .map_err(|_| {
            EngineError::Failed(format!("KMS returned a signature by {key_id} that does not verify; not used"))
        })?;
        Ok(signature)
    }

    fn delete_key(&self, key_id: &KeyId) -> Result<(), EngineError> {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).remove(key_id);
        match self.kms.delete(&self.alias(key_id), self.deletion_window_days) {
            Ok(()) | Err(KmsFailure::NotFound(_)) => Ok(()),
            Err(e) => Err(self.error(e, Some(key_id))),
        }
    }
}
