//! The software crypto engine (security level SL0): keys live in files under the data directory,
//! each encrypted with AES-256-GCM under a key-encryption key (KEK) that is not stored with them
//! unless the operator lets Shedu generate one for a development setup (docs/adr/0006, 0014).
//!
//! Decrypted keys are cached, at most 256 of them; the KEK and every decrypted
//! DER buffer the engine handles are wiped when dropped.

mod cache;
mod kek;
mod kek_check;
mod key_file;
pub(crate) mod keys;
mod rotate;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SigningKey};
use shedu_commands::crypto::{CryptoEngine, EngineError, EngineInfo, EngineKind, Engines, PublicKey, SupportedKeyType};
use shedu_commands::x509::keys::key_spec_of_spki;
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::{EngineId, KeyId};
use shedu_domain::key::{KeySpec, KeyType};

use self::cache::KeyCache;
pub use self::kek::{Kek, KekId};
use self::key_file::{Binding, Sealer};
use self::keys::{algorithm_name, der_encoding, key_id_of, unseal};
pub use self::rotate::{Rotation, rotate_kek};
use crate::private_files::create_private_dir;
use crate::private_key_pem;

struct Loaded {
    key_pair: KeyPair,
    spec: KeySpec,
}

pub struct SoftwareEngine {
    info: EngineInfo,
    dir: PathBuf,
    sealer: Sealer,
    cache: KeyCache<KeyId, Loaded>,
}

impl SoftwareEngine {
    /// Opens the engine's key directory (created 0700), refusing a KEK that does not open the
    /// keys already there.
    pub fn new(id: EngineId, dir: PathBuf, kek: Kek, security_level: SecurityLevel) -> Result<Self, String> {
        create_private_dir(&dir)?;
        let sealer = Sealer::new(&kek)?;
        kek_check::verify(&dir, id.as_str(), &sealer)?;
        Ok(SoftwareEngine {
            info: EngineInfo { id, kind: EngineKind::Software, security_level },
            dir,
            sealer,
            cache: KeyCache::new(cache::CAPACITY),
        })
    }

    fn path(&self, key_id: &KeyId) -> PathBuf {
        key_file::path_of(&self.dir, key_id.as_str())
    }

    fn binding<'a>(&'a self, key_id: &'a KeyId) -> Binding<'a> {
        Binding { engine_id: self.info.id.as_str(), key_id: key_id.as_str() }
    }

    fn store(&self, key_pair: KeyPair, encoding: &str) -> Result<PublicKey, EngineError> {
        let spki = key_pair.subject_public_key_info();
        let key_id = KeyId::parse(&key_id_of(&key_pair)).map_err(|e| EngineError::Failed(e.to_string()))?;
        let (key_type, bits) = key_spec_of_spki(&spki).map_err(EngineError::Unsupported)?;
        let spec = KeySpec { key_type, bits };
        let algorithm = algorithm_name(key_pair.algorithm());
        let file = self
            .sealer
            .seal(self.binding(&key_id), algorithm, encoding, key_pair.serialized_der())
            .map_err(|e| EngineError::Failed(format!("cannot seal key {key_id}: {e}")))?;
        key_file::write(&self.path(&key_id), &file).map_err(EngineError::Failed)?;
        self.cache.insert(key_id.clone(), Arc::new(Loaded { key_pair, spec }));
        Ok(PublicKey { key_id, spki_der: spki, spec })
    }

    fn load(&self, key_id: &KeyId) -> Result<Arc<Loaded>, EngineError> {
        if let Some(loaded) = self.cache.get(key_id) {
            return Ok(loaded);
        }
        let file = key_file::read(&self.path(key_id)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::KeyNotFound(key_id.clone()),
            _ => EngineError::Failed(format!("key file {key_id} is unreadable")),
        })?;
        let (key_pair, _der) = unseal(&self.sealer, &file, self.binding(key_id)).map_err(EngineError::Failed)?;
        let (key_type, bits) = key_spec_of_spki(&key_pair.subject_public_key_info()).map_err(EngineError::Failed)?;
        let loaded = Arc::new(Loaded { key_pair, spec: KeySpec { key_type, bits } });
        self.cache.insert(key_id.clone(), loaded.clone());
        Ok(loaded)
    }
}

impl CryptoEngine for SoftwareEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn supported_key_types(&self) -> Result<Vec<SupportedKeyType>, EngineError> {
        Ok(Engines::every_key_type())
    }

    fn check(&self) -> Result<(), EngineError> {
        Ok(())
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
        // Named from the DER itself: which form a crypto library serialises to is its own choice
        // (aws-lc serialised RSA keys as PKCS#1, and now as PKCS#8).
        let encoding = der_encoding(key_pair.serialized_der());
        self.store(key_pair, encoding)
    }

    fn import_key(&self, private_key_pem: &str, expected_spki_der: &[u8]) -> Result<PublicKey, EngineError> {
        let imported = private_key_pem::read(private_key_pem, expected_spki_der)?;
        self.store(imported.key_pair, imported.encoding)
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
        self.cache.remove(key_id);
        match fs::remove_file(self.path(key_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::Failed(format!("cannot delete key {key_id}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use sha2::Digest;

    use super::key_file::{FORMAT_V2, KeyFile, v1_file};
    use super::*;

    const ENGINE: &str = "sw";

    fn kek(byte: &str) -> Kek {
        Kek::from_hex(&byte.repeat(32)).unwrap()
    }

    fn open_engine(dir: &Path, engine_id: &str, byte: &str) -> Result<SoftwareEngine, String> {
        SoftwareEngine::new(EngineId::parse(engine_id).unwrap(), dir.to_path_buf(), kek(byte), SecurityLevel::SL0)
    }

    fn engine(dir: &Path) -> SoftwareEngine {
        open_engine(dir, ENGINE, "11").unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shedu-engine-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn ed25519() -> KeySpec {
        KeySpec::parse("Ed25519", 0).unwrap()
    }

    fn key_file_of(dir: &Path, key_id: &KeyId) -> KeyFile {
        key_file::read(&key_file::path_of(dir, key_id.as_str())).unwrap()
    }

    /// Writes a key as earlier versions did: format 1, the key id as the only AAD.
    fn write_v1_key(dir: &Path, byte: &str) -> KeyId {
        let key_pair = KeyPair::generate().unwrap();
        let key_id = key_id_of(&key_pair);
        fs::create_dir_all(dir).unwrap();
        let file = v1_file(&kek(byte), &key_id, "ECDSA_P256_SHA256", "pkcs8", key_pair.serialized_der());
        key_file::write(&key_file::path_of(dir, &key_id), &file).unwrap();
        KeyId::parse(&key_id).unwrap()
    }

    #[test]
    fn keys_survive_a_restart_and_are_encrypted_at_rest() {
        let dir = temp_dir("restart");
        let key = engine(&dir).generate_key(KeySpec::parse("ECDSA", 256).unwrap()).unwrap();
        assert_eq!(key.key_id.as_str(), hex::encode(sha2::Sha256::digest(&key.spki_der)));
        let file = fs::read(key_file::path_of(&dir, key.key_id.as_str())).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains("PRIVATE"));
        assert_eq!(key_file_of(&dir, &key.key_id).format_version, FORMAT_V2);
        let reopened = engine(&dir);
        assert_eq!(reopened.public_key(&key.key_id).unwrap().spki_der, key.spki_der);
        assert!(!reopened.sign(&key.key_id, b"tbs").unwrap().is_empty());
    }

    #[test]
    fn generated_rsa_keys_survive_a_restart() {
        let dir = temp_dir("rsa-restart");
        let key = engine(&dir).generate_key(KeySpec::parse("RSA", 2048).unwrap()).unwrap();
        let reopened = engine(&dir);
        assert!(!reopened.sign(&key.key_id, b"tbs").unwrap().is_empty());
    }

    #[test]
    fn format_1_key_files_still_open() {
        let dir = temp_dir("v1");
        let key_id = write_v1_key(&dir, "11");
        let engine = engine(&dir);
        assert!(!engine.sign(&key_id, b"tbs").unwrap().is_empty());
        assert_eq!(key_file_of(&dir, &key_id).format_version, 1, "reading does not rewrite");
    }

    #[test]
    fn a_wrong_kek_is_refused_when_the_engine_starts() {
        let dir = temp_dir("kek");
        engine(&dir).generate_key(ed25519()).unwrap();
        let refused = open_engine(&dir, ENGINE, "22").err().unwrap();
        assert!(refused.contains("software engine 'sw'") && refused.contains("does not open its keys"), "{refused}");
        assert!(!refused.contains(&"22".repeat(8)) && !refused.contains(&"11".repeat(8)), "{refused}");

        // A data directory from before the check file: its first key decides.
        let old = temp_dir("kek-v1");
        write_v1_key(&old, "11");
        let refused = open_engine(&old, ENGINE, "22").err().unwrap();
        assert!(refused.contains("does not open its keys"), "{refused}");
        assert!(!old.join("kek-check").exists(), "a refused KEK writes no check file");
        open_engine(&old, ENGINE, "11").unwrap();
        assert!(old.join("kek-check").exists());
        assert!(open_engine(&old, ENGINE, "22").is_err());
    }

    #[test]
    fn a_key_file_moved_to_another_key_id_or_engine_does_not_open() {
        let dir = temp_dir("moved");
        let engine = engine(&dir);
        let first = engine.generate_key(ed25519()).unwrap().key_id;
        let second = engine.generate_key(ed25519()).unwrap().key_id;
        let path = |key_id: &KeyId| key_file::path_of(&dir, key_id.as_str());
        fs::copy(path(&first), path(&second)).unwrap();
        let fresh = self::engine(&dir);
        let err = fresh.sign(&second, b"x").unwrap_err();
        assert!(matches!(&err, EngineError::Failed(m) if m.contains("does not open")), "{err:?}");

        let other_dir = temp_dir("moved-other");
        let other = open_engine(&other_dir, "other", "11").unwrap();
        fs::copy(path(&first), key_file::path_of(&other_dir, first.as_str())).unwrap();
        let err = other.sign(&first, b"x").unwrap_err();
        assert!(matches!(&err, EngineError::Failed(m) if m.contains("does not open")), "{err:?}");
    }

    #[test]
    fn a_key_file_holding_another_key_does_not_sign() {
        let dir = temp_dir("swapped");
        let engine = engine(&dir);
        let key_id = engine.generate_key(ed25519()).unwrap().key_id;
        let impostor = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        // Sealed correctly, by someone holding the KEK, for the wrong key id.
        let file = engine.sealer.seal(engine.binding(&key_id), "ED25519", "pkcs8", impostor.serialized_der()).unwrap();
        key_file::write(&engine.path(&key_id), &file).unwrap();
        let err = self::engine(&dir).sign(&key_id, b"x").unwrap_err();
        assert!(matches!(&err, EngineError::Failed(m) if m.contains("holds another key")), "{err:?}");
    }

    #[test]
    fn rotation_reseals_every_key_and_the_old_kek_no_longer_opens_them() {
        let dir = temp_dir("rotate");
        let legacy = write_v1_key(&dir, "11");
        let current = engine(&dir).generate_key(ed25519()).unwrap().key_id;
        let before_check = fs::read(dir.join("kek-check")).unwrap();
        let before_current = fs::read(key_file::path_of(&dir, current.as_str())).unwrap();

        let rotation = rotate_kek(&dir, ENGINE, &kek("11"), &kek("22")).unwrap();
        assert_eq!(rotation, Rotation { resealed: 2, upgraded: 1, already: 0 });
        for key_id in [&legacy, &current] {
            let file = key_file_of(&dir, key_id);
            assert_eq!((file.format_version, file.kek_id), (FORMAT_V2, Some(kek("22").id().to_string())));
        }
        assert!(open_engine(&dir, ENGINE, "11").is_err(), "the old KEK opens nothing");
        let rotated = open_engine(&dir, ENGINE, "22").unwrap();
        assert!(rotated.sign(&legacy, b"x").is_ok() && rotated.sign(&current, b"x").is_ok());
        assert!(rotate_kek(&dir, ENGINE, &kek("22"), &kek("22")).is_err(), "rotating to the same KEK is refused");

        // Interrupted half way: one key and the check file still under the old KEK.
        fs::write(dir.join("kek-check"), &before_check).unwrap();
        fs::write(key_file::path_of(&dir, current.as_str()), &before_current).unwrap();
        let refused = open_engine(&dir, ENGINE, "11").err().unwrap();
        assert!(refused.contains("finish `shedu keys rotate-kek`"), "{refused}");
        assert!(open_engine(&dir, ENGINE, "22").is_err());
        let rotation = rotate_kek(&dir, ENGINE, &kek("11"), &kek("22")).unwrap();
        assert_eq!(rotation, Rotation { resealed: 1, upgraded: 0, already: 1 });
        assert!(open_engine(&dir, ENGINE, "22").unwrap().sign(&current, b"x").is_ok());

        // A key the old KEK cannot open stops the rotation before any file changes.
        let stray = write_v1_key(&dir, "33");
        let untouched = fs::read(key_file::path_of(&dir, legacy.as_str())).unwrap();
        assert!(rotate_kek(&dir, ENGINE, &kek("22"), &kek("44")).is_err());
        assert_eq!(fs::read(key_file::path_of(&dir, legacy.as_str())).unwrap(), untouched);
        fs::remove_file(key_file::path_of(&dir, stray.as_str())).unwrap();
    }

    #[test]
    fn the_cache_of_decrypted_keys_is_bounded() {
        let dir = temp_dir("cache");
        let engine = engine(&dir);
        let keys: Vec<KeyId> =
            (0..cache::CAPACITY + 8).map(|_| engine.generate_key(ed25519()).unwrap().key_id).collect();
        assert_eq!(engine.cache.len(), cache::CAPACITY);
        assert!(keys.iter().all(|key_id| engine.sign(key_id, b"x").is_ok()), "evicted keys are read again");
        assert_eq!(engine.cache.len(), cache::CAPACITY);
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
