//! An engine-held key seen through rcgen's remote-key traits: rcgen builds, the engine signs.

use std::sync::{Arc, Mutex};

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use sha1::{Digest, Sha1};
use shedu_domain::key::{KeySpec, KeyType};

use crate::CommandError;
use crate::crypto::{CryptoEngine, EngineError, PublicKey};
use crate::x509::keys::subject_public_key_bits;

/// An engine-held key seen through rcgen's remote-key traits.
pub struct EngineSigner {
    engine: Arc<dyn CryptoEngine>,
    key: PublicKey,
    raw_public_key: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
    /// Why the engine last refused, kept because rcgen's error cannot carry it: an engine that
    /// is unreachable must reach the client as such, not as an internal error.
    failure: Mutex<Option<EngineError>>,
}

impl EngineSigner {
    pub fn new(engine: Arc<dyn CryptoEngine>, key: PublicKey) -> Result<Self, CommandError> {
        let raw_public_key = subject_public_key_bits(&key.spki_der)
            .map_err(|e| CommandError::Internal(format!("engine returned an unreadable public key: {e}")))?;
        let algorithm = signature_algorithm(key.spec);
        Ok(EngineSigner { engine, key, raw_public_key, algorithm, failure: Mutex::new(None) })
    }

    /// The signature over `message`, or the engine's own reason for refusing.
    pub(crate) fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, EngineError> {
        self.engine.sign(&self.key.key_id, message)
    }

    /// The engine's reason for the last refusal through rcgen, as a command error.
    pub(crate) fn failure(&self, rcgen_error: rcgen::Error) -> CommandError {
        match self.failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(engine) => CommandError::Engine(engine),
            None => CommandError::Internal(format!("certificate signing failed: {rcgen_error}")),
        }
    }

    /// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
    pub fn key_identifier(&self) -> Vec<u8> {
        Sha1::digest(&self.raw_public_key).to_vec()
    }
}

impl PublicKeyData for EngineSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.raw_public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for EngineSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_message(message).map_err(|e| {
            tracing::error!(key_id = %self.key.key_id, error = %e, "engine signature failed");
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            rcgen::Error::RemoteKeyError
        })
    }
}

pub fn signature_algorithm(spec: KeySpec) -> &'static SignatureAlgorithm {
    match (spec.key_type, spec.bits) {
        (KeyType::Rsa, _) => &rcgen::PKCS_RSA_SHA256,
        (KeyType::Ecdsa, 384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (KeyType::Ecdsa, 521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        (KeyType::Ecdsa, _) => &rcgen::PKCS_ECDSA_P256_SHA256,
        (KeyType::Ed25519, _) => &rcgen::PKCS_ED25519,
    }
}
