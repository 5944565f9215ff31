//! The on-disk form of one sealed key and the AES-256-GCM sealing of it (docs/adr/0014).
//!
//! Format 1 authenticated the key id only. Format 2 authenticates the engine id, the key id, the
//! algorithm, the encoding, the format version and the id of the KEK that sealed it, so a file
//! copied to another engine's directory or relabelled does not open. Format 1 files stay readable.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::kek::{Kek, KekId};
use crate::private_files::write_private;

pub(crate) const FORMAT_V1: u32 = 1;
pub(crate) const FORMAT_V2: u32 = 2;

#[derive(Serialize, Deserialize)]
pub(crate) struct KeyFile {
    pub(crate) format_version: u32,
    pub(crate) algorithm: String,
    pub(crate) encoding: String,
    /// The sealing KEK's id; absent in format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kek_id: Option<String>,
    nonce: String,
    ciphertext: String,
}

/// Where a sealed file belongs: what its AAD binds besides its own fields.
#[derive(Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) engine_id: &'a str,
    pub(crate) key_id: &'a str,
}

/// Why a file did not open. None of these carry key material.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// A format 2 file names another KEK than this one.
    OtherKek(String),
    /// Authentication failed: the wrong KEK (format 1 does not say which), a file moved to
    /// another key id or engine, or tampering.
    DoesNotDecrypt,
    UnknownFormat(u32),
    Unreadable(&'static str),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::OtherKek(id) => write!(f, "it was sealed by another KEK (id {id})"),
            OpenError::DoesNotDecrypt => f.write_str("it does not decrypt: wrong KEK, moved or tampered file"),
            OpenError::UnknownFormat(v) => write!(f, "format version {v} is newer than this build"),
            OpenError::Unreadable(what) => write!(f, "it has {what}"),
        }
    }
}

/// A KEK ready to seal and open key files.
pub(crate) struct Sealer {
    aead: LessSafeKey,
    kek_id: KekId,
}

impl Sealer {
    pub(crate) fn new(kek: &Kek) -> Result<Self, String> {
        let key = UnboundKey::new(&AES_256_GCM, kek.bytes()).map_err(|_| "the KEK is not an AES-256 key".to_owned())?;
        Ok(Sealer { aead: LessSafeKey::new(key), kek_id: kek.id() })
    }

    pub(crate) fn kek_id(&self) -> &KekId {
        &self.kek_id
    }

    /// Seals `plaintext` as a format 2 file.
    pub(crate) fn seal(
        &self,
        binding: Binding<'_>,
        algorithm: &str,
        encoding: &str,
        plaintext: &[u8],
    ) -> Result<KeyFile, String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness".to_owned())?;
        let mut file = KeyFile {
            format_version: FORMAT_V2,
            algorithm: algorithm.to_owned(),
            encoding: encoding.to_owned(),
            kek_id: Some(self.kek_id.as_str().to_owned()),
            nonce: hex::encode(nonce),
            ciphertext: String::new(),
        };
        let mut sealed = Zeroizing::new(plaintext.to_vec());
        self.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(&file, binding)), &mut *sealed)
            .map_err(|_| "key encryption failed".to_owned())?;
        file.ciphertext = hex::encode(&*sealed);
        Ok(file)
    }

    /// Opens a format 1 or 2 file; the plaintext is wiped when dropped.
    pub(crate) fn open(&self, file: &KeyFile, binding: Binding<'_>) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        match (file.format_version, file.kek_id.as_deref()) {
            (FORMAT_V1, _) => {}
            (FORMAT_V2, Some(id)) if id == self.kek_id.as_str() => {}
            (FORMAT_V2, Some(id)) => return Err(OpenError::OtherKek(id.to_owned())),
            (FORMAT_V2, None) => return Err(OpenError::Unreadable("no KEK id")),
            (other, _) => return Err(OpenError::UnknownFormat(other)),
        }
        let nonce: [u8; NONCE_LEN] = hex::decode(&file.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(OpenError::Unreadable("a bad nonce"))?;
        let mut sealed =
            Zeroizing::new(hex::decode(&file.ciphertext).map_err(|_| OpenError::Unreadable("a bad ciphertext"))?);
        let length = self
            .aead
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad(file, binding)), &mut sealed)
            .map_err(|_| OpenError::DoesNotDecrypt)?
            .len();
        sealed.truncate(length);
        Ok(sealed)
    }
}

/// Where the key `key_id` lives in an engine's directory.
pub(crate) fn path_of(dir: &Path, key_id: &str) -> PathBuf {
    dir.join(format!("{key_id}.key"))
}

/// Every key file in an engine's directory with its key id, in key id order.
pub(crate) fn list(dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "key")
            && let Some(key_id) = path.file_stem().and_then(|s| s.to_str())
        {
            files.push((path.clone(), key_id.to_owned()));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Reads a key file; `NotFound` when there is none, `InvalidData` when it is not one.
pub(crate) fn read(path: &Path) -> io::Result<KeyFile> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

pub(crate) fn write(path: &Path, file: &KeyFile) -> Result<(), String> {
    let json = serde_json::to_vec(file).map_err(|e| e.to_string())?;
    write_private(path, &json)
}

/// The additional authenticated data. Format 1: the key id. Format 2: every field that says what
/// the plaintext is and where it belongs, each length-prefixed so no two bindings share an AAD.
fn aad(file: &KeyFile, binding: Binding<'_>) -> Vec<u8> {
    if file.format_version == FORMAT_V1 {
        return binding.key_id.as_bytes().to_vec();
    }
    let version = file.format_version.to_string();
    let fields = [
        "shedu key file",
        version.as_str(),
        binding.engine_id,
        binding.key_id,
        &file.algorithm,
        &file.encoding,
        file.kek_id.as_deref().unwrap_or_default(),
    ];
    let mut aad = Vec::new();
    for field in fields {
        aad.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    aad
}

/// A format 1 file as earlier versions wrote it: the key id as the only AAD.
#[cfg(test)]
pub(crate) fn v1_file(kek: &Kek, key_id: &str, algorithm: &str, encoding: &str, der: &[u8]) -> KeyFile {
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek.bytes()).unwrap());
    let nonce = [7u8; NONCE_LEN];
    let mut sealed = der.to_vec();
    aead.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(key_id), &mut sealed).unwrap();
    KeyFile {
        format_version: FORMAT_V1,
        algorithm: algorithm.to_owned(),
        encoding: encoding.to_owned(),
        kek_id: None,
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(sealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: &str) -> Sealer {
        Sealer::new(&Kek::from_hex(&byte.repeat(32)).unwrap()).unwrap()
    }

    const HERE: Binding<'static> = Binding { engine_id: "sw", key_id: "aa" };

    #[test]
    fn format_1_files_still_open() {
        let kek = Kek::from_hex(&"11".repeat(32)).unwrap();
        let file = v1_file(&kek, "aa", "ED25519", "pkcs8", b"der");
        assert_eq!(sealer("11").open(&file, HERE).unwrap().as_slice(), b"der");
        assert_eq!(sealer("22").open(&file, HERE).unwrap_err(), OpenError::DoesNotDecrypt);
        let elsewhere = Binding { key_id: "bb", ..HERE };
        assert_eq!(sealer("11").open(&file, elsewhere).unwrap_err(), OpenError::DoesNotDecrypt);
    }

    #[test]
    fn format_2_binds_engine_key_algorithm_and_kek() {
        let sealer = sealer("11");
        let file = sealer.seal(HERE, "ED25519", "pkcs8", b"der").unwrap();
        assert_eq!((file.format_version, file.kek_id.as_deref()), (FORMAT_V2, Some(sealer.kek_id().as_str())));
        assert_eq!(sealer.open(&file, HERE).unwrap().as_slice(), b"der");
        let refused = |binding, file: &KeyFile| sealer.open(file, binding).unwrap_err();
        assert_eq!(refused(Binding { key_id: "bb", ..HERE }, &file), OpenError::DoesNotDecrypt);
        assert_eq!(refused(Binding { engine_id: "other", ..HERE }, &file), OpenError::DoesNotDecrypt);
        let relabelled =
            KeyFile { algorithm: "ECDSA_P256_SHA256".into(), ..sealer.seal(HERE, "ED25519", "pkcs8", b"der").unwrap() };
        assert_eq!(refused(HERE, &relabelled), OpenError::DoesNotDecrypt);
        let downgraded =
            KeyFile { format_version: FORMAT_V1, ..sealer.seal(HERE, "ED25519", "pkcs8", b"der").unwrap() };
        assert_eq!(refused(HERE, &downgraded), OpenError::DoesNotDecrypt);
        let other = self::sealer("22");
        assert_eq!(other.open(&file, HERE).unwrap_err(), OpenError::OtherKek(sealer.kek_id().to_string()));
        let forged = KeyFile {
            kek_id: Some(other.kek_id().to_string()),
            ..sealer.seal(HERE, "ED25519", "pkcs8", b"der").unwrap()
        };
        assert_eq!(other.open(&forged, HERE).unwrap_err(), OpenError::DoesNotDecrypt);
    }
}
