//! The key-encryption key: 32 bytes wiped on drop, never printed, known by a short id that is
//! safe to store and log.

use std::fmt;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::private_files::{refuse_shared, write_private};

/// A 256-bit key-encryption key. Never printed; wiped when dropped.
pub struct Kek(Zeroizing<[u8; 32]>);

/// Names a KEK without revealing it: the first 8 bytes of SHA-256 over a domain-separated label
/// and the key, in hex. Stored in every key file, so a rotation can tell which files it has done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekId(String);

impl Kek {
    /// Reads 64 hex digits.
    pub fn from_hex(hex_text: &str) -> Result<Self, String> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_text.trim(), bytes.as_mut_slice())
            .map_err(|_| "the KEK must be 64 hex digits (32 bytes)".to_owned())?;
        Ok(Kek(bytes))
    }

    /// Reads a KEK file, refusing one that group or others can read.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        refuse_shared(path).map_err(|e| format!("KEK file {e}"))?;
        let text = Zeroizing::new(
            fs::read_to_string(path).map_err(|e| format!("cannot read KEK file {}: {e}", path.display()))?,
        );
        Kek::from_hex(&text).map_err(|e| format!("KEK file {}: {e}", path.display()))
    }

    /// Loads the KEK file, creating one with a fresh random key when it does not exist.
    /// Returns whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), String> {
        if path.exists() {
            return Ok((Kek::from_file(path)?, false));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice()).map_err(|_| "no randomness for a KEK".to_owned())?;
        write_private(path, Zeroizing::new(hex::encode(bytes.as_slice())).as_bytes())?;
        Ok((Kek(bytes), true))
    }

    pub fn id(&self) -> KekId {
        let digest = Sha256::new().chain_update(b"shedu kek id\0").chain_update(self.0.as_slice()).finalize();
        KekId(hex::encode(&digest[..8]))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek({})", self.id())
    }
}

impl KekId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_names_the_kek_without_showing_it() {
        let kek = Kek::from_hex(&"11".repeat(32)).unwrap();
        assert_eq!(kek.id(), Kek::from_hex(&"11".repeat(32)).unwrap().id());
        assert_ne!(kek.id(), Kek::from_hex(&"22".repeat(32)).unwrap().id());
        assert_eq!(kek.id().as_str().len(), 16);
        assert!(!format!("{kek:?}").contains("1111"));
        assert!(Kek::from_hex("abcd").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_kek_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("shedu-kek-mode-{}.hex", std::process::id()));
        fs::write(&path, "33".repeat(32)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let refused = Kek::from_file(&path).unwrap_err();
        assert!(refused.contains(&path.display().to_string()) && refused.contains("chmod 600"), "{refused}");
        assert!(Kek::load_or_generate(&path).is_err(), "a generated KEK file is checked too");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Kek::from_file(&path).unwrap().id(), Kek::from_hex(&"33".repeat(32)).unwrap().id());
        fs::remove_file(&path).unwrap();
    }
}
