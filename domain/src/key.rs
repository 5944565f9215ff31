//! Key algorithms and sizes Shedu supports, and Lamassu's strength classification.

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::invalid::shown;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECDSA")]
    Ecdsa,
    #[serde(rename = "Ed25519")]
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ecdsa => "ECDSA",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}

/// A key Shedu can generate: RSA 2048/3072/4096, ECDSA P-256/P-384/P-521, Ed25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeySpec {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub bits: u32,
}

impl KeySpec {
    pub const SUPPORTED: [(KeyType, &'static [u32]); 3] =
        [(KeyType::Rsa, &[2048, 3072, 4096]), (KeyType::Ecdsa, &[256, 384, 521]), (KeyType::Ed25519, &[256])];

    /// `type` is matched case-insensitively; Ed25519 accepts `bits` 0 or 256.
    pub fn parse(key_type: &str, bits: u32) -> Result<Self, DomainError> {
        let key_type = match key_type.to_ascii_uppercase().as_str() {
            "RSA" => KeyType::Rsa,
            "ECDSA" | "EC" => KeyType::Ecdsa,
            "ED25519" => KeyType::Ed25519,
            other => {
                return Err(DomainError::invalid(
                    "key_metadata.type",
                    format!("unsupported key type {} (RSA, ECDSA, Ed25519)", shown(other)),
                ));
            }
        };
        let bits = if key_type == KeyType::Ed25519 && bits == 0 { 256 } else { bits };
        let sizes = Self::SUPPORTED.iter().find(|(t, _)| *t == key_type).map(|(_, s)| *s).unwrap_or_default();
        if !sizes.contains(&bits) {
            return Err(DomainError::invalid(
                "key_metadata.bits",
                format!("{} keys must be one of {sizes:?} bits, not {bits}", key_type.as_str()),
            ));
        }
        Ok(KeySpec { key_type, bits })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyStrength {
    Low,
    Medium,
    High,
}

/// Type, size and strength of a certificate's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMetadata {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub bits: u32,
    pub strength: KeyStrength,
}

impl KeyMetadata {
    /// Lamassu's thresholds: RSA < 2048 low, < 3072 medium; ECDSA < 256 medium; Ed25519 high.
    pub fn new(key_type: KeyType, bits: u32) -> Self {
        let strength = match key_type {
            KeyType::Rsa if bits < 2048 => KeyStrength::Low,
            KeyType::Rsa if bits < 3072 => KeyStrength::Medium,
            KeyType::Ecdsa if bits <= 128 => KeyStrength::Low,
            KeyType::Ecdsa if bits < 256 => KeyStrength::Medium,
            _ => KeyStrength::High,
        };
        KeyMetadata { key_type, bits, strength }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_supported_sizes_parse() {
        assert!(KeySpec::parse("ECDSA", 256).is_ok());
        assert!(KeySpec::parse("rsa", 4096).is_ok());
        assert_eq!(KeySpec::parse("Ed25519", 0).unwrap().bits, 256);
        assert!(KeySpec::parse("RSA", 1024).is_err());
        assert!(KeySpec::parse("ECDSA", 224).is_err());
        assert!(KeySpec::parse("DSA", 2048).is_err());
    }

    #[test]
    fn strength_follows_lamassu() {
        assert_eq!(KeyMetadata::new(KeyType::Rsa, 2048).strength, KeyStrength::Medium);
        assert_eq!(KeyMetadata::new(KeyType::Rsa, 3072).strength, KeyStrength::High);
        assert_eq!(KeyMetadata::new(KeyType::Ecdsa, 256).strength, KeyStrength::High);
    }
}
