//! The software crypto engine (security level SL0): keys live in files under the data directory,
//! each encrypted with AES-256-GCM under a key-encryption key (KEK) that is not stored with them
//! unless the operator lets Shedu generate one for a development setup.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm, SigningKey};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shedu_commands::crypto::{CryptoEngine, EngineError, EngineInfo, EngineKind, PublicKey, SupportedKeyType};
use shedu_commands::x509::keys::key_spec_of_spki;
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::{EngineId, KeyId};
use shedu_domain::key::{KeySpec, KeyType};

/// A 256-bit key-encryption key. Never printed.
pub struct Kek([u8; 32]);

impl Kek {
    /// Reads 64 hex digits.
    pub fn from_hex(hex_text: &str) -> Result<Self, String> {
        let bytes = hex::decode(hex_text.trim()).map_err(|_| "the KEK must be 64 hex digits".to_owned())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| "the KEK must be 64 hex digits (32 bytes)".to_owned())?;
        Ok(Kek(bytes))
    }

    /// Loads the KEK file, creating one with a fresh random key when it does not exist.
    /// Returns whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), String> {
        if path.exists() {
            let text = fs::read_to_string(path).map_err(|e| format!("cannot read KEK file {}: {e}", path.display()))?;
            return Ok((Kek::from_hex(&text)?, false));
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness for a KEK".to_owned())?;
        write_private(path, hex::encode(bytes).as_bytes())?;
        Ok((Kek(bytes), true))
    }
}

/// The on-disk form of one key.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    format_version: u32,
    algorithm: String,
    encoding: String,
    nonce: String,
    ciphertext: String,
}

struct Loaded {
    key_pair: Arc<KeyPair>,
    spec: KeySpec,
}

pub struct SoftwareEngine {
    info: EngineInfo,
    dir: PathBuf,
    kek: LessSafeKey,
    cache: RwLock<HashMap<KeyId, Arc<Loaded>>>,
}

impl SoftwareEngine {
    pub fn new(id: EngineId, dir: PathBuf, kek: Kek, security_level: SecurityLevel) -> Result<Self, String> {
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create key directory {}: {e}", dir.display()))?;
        let kek = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &kek.0).map_err(|_| "bad KEK".to_owned())?);
        let supported_key_types = KeySpec::SUPPORTED
            .iter()
            .map(|(key_type, sizes)| SupportedKeyType { key_type: *key_type, sizes: sizes.to_vec() })
            .collect();
        Ok(SoftwareEngine {
            info: EngineInfo { id, kind: EngineKind::Software, security_level, supported_key_types },
            dir,
            kek,
            cache: RwLock::new(HashMap::new()),
        })
    }

    fn path(&self, key_id: &KeyId) -> PathBuf {
        self.dir.join(format!("{key_id}.key"))
    }

    fn store(&self, key_pair: KeyPair, encoding: &str) -> Result<PublicKey, EngineError> {
        let spki = key_pair.subject_public_key_info();
        let key_id =
            KeyId::parse(&hex::encode(Sha256::digest(&spki))).map_err(|e| EngineError::Failed(e.to_string()))?;
        let (key_type, bits) = key_spec_of_spki(&spki).map_err(EngineError::Unsupported)?;
        let spec = KeySpec { key_type, bits };
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| EngineError::Failed("no randomness".into()))?;
        let mut sealed = key_pair.serialized_der().to_vec();
        // The key id is authenticated data: a key file renamed to another id fails to open.
        self.kek
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(key_id.as_str()), &mut sealed)
            .map_err(|_| EngineError::Failed("key encryption failed".into()))?;
        let file = KeyFile {
            format_version: 1,
            algorithm: algorithm_name(key_pair.algorithm()).to_owned(),
            encoding: encoding.to_owned(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(sealed),
        };
        let json = serde_json::to_vec(&file).map_err(|e| EngineError::Failed(e.to_string()))?;
        write_private(&self.path(&key_id), &json).map_err(EngineError::Failed)?;
        let loaded = Arc::new(Loaded { key_pair: Arc::new(key_pair), spec });
        self.cache.write().unwrap_or_else(|p| p.into_inner()).insert(key_id.clone(), loaded);
        Ok(PublicKey { key_id, spki_der: spki, spec })
    }

    fn load(&self, key_id: &KeyId) -> Result<Arc<Loaded>, EngineError> {
        if let Some(loaded) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(key_id) {
            return Ok(loaded.clone());
        }
        let text = fs::read(self.path(key_id)).map_err(|_| EngineError::KeyNotFound(key_id.clone()))?;
        let file: KeyFile = serde_json::from_slice(&text)
            .map_err(|_| EngineError::Failed(format!("key file {key_id} is unreadable")))?;
        let nonce: [u8; NONCE_LEN] = hex::decode(&file.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| EngineError::Failed(format!("key file {key_id} has a bad nonce")))?;
        let mut sealed = hex::decode(&file.ciphertext)
            .map_err(|_| EngineError::Failed(format!("key file {key_id} is unreadable")))?;
        let der = self
            .kek
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(key_id.as_str()), &mut sealed)
            .map_err(|_| EngineError::Failed(format!("key {key_id} does not decrypt: wrong KEK or tampered file")))?;
        let algorithm = algorithm_by_name(&file.algorithm)
            .ok_or_else(|| EngineError::Failed(format!("key file {key_id} names an unknown algorithm")))?;
        let key_pair = key_pair_from_der(der, &file.encoding, algorithm)
            .ok_or_else(|| EngineError::Failed(format!("key file {key_id} holds an unreadable key")))?;
        let (key_type, bits) = key_spec_of_spki(&key_pair.subject_public_key_info()).map_err(EngineError::Failed)?;
        let loaded = Arc::new(Loaded { key_pair: Arc::new(key_pair), spec: KeySpec { key_type, bits } });
        self.cache.write().unwrap_or_else(|p| p.into_inner()).insert(key_id.clone(), loaded.clone());
        Ok(loaded)
    }
}

impl CryptoEngine for SoftwareEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn generate_key(&self, spec: KeySpec) -> Result<PublicKey, EngineError> {
        let generated = match (spec.key_type, spec.bits) {
            (KeyType::Rsa, 2048) => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            (KeyType::Rsa, 3072) => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
            (KeyType::Rsa, 4096) => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
            (KeyType::Ecdsa, 256) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            (KeyType::Ecdsa, 384) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            (KeyType::Ecdsa, 521) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
            (KeyType::Ed25519, _) => KeyPair::generate_for(&rcgen::PKCS_ED25519),
            (key_type, bits) => {
                return Err(EngineError::Unsupported(format!("{} {bits}", key_type.as_str())));
            }
        };
        let key_pair = generated.map_err(|e| EngineError::Failed(format!("key generation failed: {e}")))?;
        // RSA keys generated by aws-lc serialise as PKCS#1; the others as PKCS#8.
        let encoding = if spec.key_type == KeyType::Rsa { "pkcs1" } else { "pkcs8" };
        self.store(key_pair, encoding)
    }

    fn import_key(&self, private_key_pem: &str, expected_spki_der: &[u8]) -> Result<PublicKey, EngineError> {
        let malformed = |m: &str| EngineError::MalformedKey(format!("private_key: {m}"));
        let block = pem::parse(private_key_pem.trim()).map_err(|_| malformed("not a PEM private key"))?;
        let encoding = match block.tag() {
            "PRIVATE KEY" => "pkcs8",
            "RSA PRIVATE KEY" => "pkcs1",
            "EC PRIVATE KEY" => "sec1",
            "ENCRYPTED PRIVATE KEY" => {
                return Err(malformed("encrypted keys are not accepted; decrypt it first"));
            }
            other => {
                return Err(malformed(&format!("expected a PRIVATE KEY block, found {other}")));
            }
        };
        let key_pair = IMPORTABLE
            .iter()
            .find_map(|alg| key_pair_from_der(block.contents(), encoding, alg))
            .ok_or_else(|| malformed("unreadable or unsupported key (RSA, ECDSA P-256/384/521, Ed25519)"))?;
        if key_pair.subject_public_key_info() != expected_spki_der {
            return Err(EngineError::KeyMismatch);
        }
        self.store(key_pair, encoding)
    }

    fn public_key(&self, key_id: &KeyId) -> Result<PublicKey, EngineError> {
        let loaded = self.load(key_id)?;
        Ok(PublicKey { key_id: key_id.clone(), spki_der: loaded.key_pair.subject_public_key_info(), spec: loaded.spec })
    }

    fn sign(&self, key_id: &KeyId, message: &[u8]) -> Result<Vec<u8>, EngineError> {
        self.load(key_id)?
            .key_pair
            .sign(message)
            .map_err(|e| EngineError::Failed(format!("signing with {key_id} failed: {e}")))
    }

    fn delete_key(&self, key_id: &KeyId) -> Result<(), EngineError> {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(key_id);
        match fs::remove_file(self.path(key_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::Failed(format!("cannot delete key {key_id}: {e}"))),
        }
    }
}

const IMPORTABLE: [&SignatureAlgorithm; 5] = [
    &rcgen::PKCS_ECDSA_P256_SHA256,
    &rcgen::PKCS_ECDSA_P384_SHA384,
    &rcgen::PKCS_ECDSA_P521_SHA512,
    &rcgen::PKCS_ED25519,
    &rcgen::PKCS_RSA_SHA256,
];

fn algorithm_name(alg: &SignatureAlgorithm) -> &'static str {
    IMPORTABLE
        .iter()
        .zip(["ECDSA_P256_SHA256", "ECDSA_P384_SHA384", "ECDSA_P521_SHA512", "ED25519", "RSA_PKCS1_SHA256"])
        .find(|(a, _)| **a == alg)
        .map_or("RSA_PKCS1_SHA256", |(_, name)| name)
}

fn algorithm_by_name(name: &str) -> Option<&'static SignatureAlgorithm> {
    IMPORTABLE.iter().copied().find(|alg| algorithm_name(alg) == name)
}

fn key_pair_from_der(der: &[u8], encoding: &str, alg: &'static SignatureAlgorithm) -> Option<KeyPair> {
    let key = match encoding {
        "pkcs1" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec())),
        "sec1" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.to_vec())),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())),
    };
    // A wrong guess of algorithm or encoding is an error, not a panic: rcgen panics only on
    // algorithms it does not know, and every one passed here is from IMPORTABLE.
    KeyPair::from_der_and_sign_algo(&key, alg).ok()
}

/// Writes a file only its owner can read, atomically (write, fsync, rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    // A unique name: two stores of the same key (the same key imported twice at once) must not
    // share one temporary file.
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness".to_owned())?;
    let tmp = path.with_extension(format!("{}.tmp", hex::encode(nonce)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // The rename is durable only once the directory entry is.
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &Path) -> SoftwareEngine {
        let kek = Kek::from_hex(&"11".repeat(32)).unwrap();
        SoftwareEngine::new(EngineId::parse("sw").unwrap(), dir.to_path_buf(), kek, SecurityLevel::SL0).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shedu-engine-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keys_survive_a_restart_and_are_encrypted_at_rest() {
        let dir = temp_dir("restart");
        let key = engine(&dir).generate_key(KeySpec::parse("ECDSA", 256).unwrap()).unwrap();
        assert_eq!(key.key_id.as_str(), hex::encode(Sha256::digest(&key.spki_der)));
        let file = fs::read(dir.join(format!("{}.key", key.key_id))).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains("PRIVATE"));
        let reopened = engine(&dir);
        assert_eq!(reopened.public_key(&key.key_id).unwrap().spki_der, key.spki_der);
        assert!(!reopened.sign(&key.key_id, b"tbs").unwrap().is_empty());
    }

    #[test]
    fn a_wrong_kek_cannot_open_keys() {
        let dir = temp_dir("kek");
        let key = engine(&dir).generate_key(KeySpec::parse("Ed25519", 0).unwrap()).unwrap();
        let other = SoftwareEngine::new(
            EngineId::parse("sw").unwrap(),
            dir.clone(),
            Kek::from_hex(&"22".repeat(32)).unwrap(),
            SecurityLevel::SL0,
        )
        .unwrap();
        let err = other.sign(&key.key_id, b"x").unwrap_err();
        assert!(matches!(err, EngineError::Failed(m) if m.contains("does not decrypt")));
    }

    #[test]
    fn import_checks_the_key_matches() {
        let dir = temp_dir("import");
        let engine = engine(&dir);
        let key_pair = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let pem = key_pair.serialize_pem();
        assert_eq!(engine.import_key(&pem, &other.subject_public_key_info()), Err(EngineError::KeyMismatch));
        let imported = engine.import_key(&pem, &key_pair.subject_public_key_info()).unwrap();
        assert_eq!(imported.spec, KeySpec::parse("ECDSA", 256).unwrap());
        assert!(matches!(engine.import_key("garbage", &[]), Err(EngineError::MalformedKey(_))));
    }

    #[test]
    fn deleted_keys_are_gone() {
        let dir = temp_dir("delete");
        let engine = engine(&dir);
        let key = engine.generate_key(KeySpec::parse("ECDSA", 384).unwrap()).unwrap();
        engine.delete_key(&key.key_id).unwrap();
        assert_eq!(engine.sign(&key.key_id, b"x"), Err(EngineError::KeyNotFound(key.key_id.clone())));
    }
}
