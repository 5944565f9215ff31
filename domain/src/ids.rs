//! Identifiers, parsed once at the edge and trusted afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::invalid::InvalidInput;

/// A CA identifier: 1–128 characters that are safe in a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaId(String);

impl CaId {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(ok_char) {
            return Err(InvalidInput::new("id", "must be 1-128 characters of A-Z, a-z, 0-9, '-', '_', '.', '~'"));
        }
        Ok(CaId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The event stream that holds this CA's history.
    pub fn stream_id(&self) -> String {
        format!("ca-{}", self.0)
    }
}

impl fmt::Display for CaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A certificate serial number as lowercase hex without separators (RFC 5280 allows 20 octets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SerialNumber(String);

impl SerialNumber {
    /// Accepts `0a1b…`, `0A:1B:…` or `0a-1b-…`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let hex: String = raw.chars().filter(|c| !matches!(c, ':' | '-')).collect();
        let hex = hex.to_ascii_lowercase();
        if hex.is_empty() || hex.len() > 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(InvalidInput::new("serial_number", "must be 1-20 octets of hex"));
        }
        Ok(SerialNumber(hex))
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        SerialNumber(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                if raw.trim().is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
                    return Err(InvalidInput::new($field, "must be 1-256 printable characters"));
                }
                Ok($name(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_id!(
    /// A crypto engine's configured id, e.g. `software-default`.
    EngineId,
    "engine_id"
);
name_id!(
    /// A key's id inside its engine: hex SHA-256 of the SubjectPublicKeyInfo.
    KeyId,
    "key_id"
);
name_id!(
    /// An issuance profile id.
    ProfileId,
    "profile_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_ids_must_be_url_safe() {
        assert!(CaId::parse("root-ca_01.v2").is_ok());
        assert!(CaId::parse("").is_err());
        assert!(CaId::parse("a/b").is_err());
        assert!(CaId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn serial_numbers_are_normalised_to_lowercase_hex() {
        assert_eq!(SerialNumber::parse("0A:1b-FF").unwrap().as_str(), "0a1bff");
        assert!(SerialNumber::parse("xyz").is_err());
        assert_eq!(SerialNumber::from_bytes(&[0x40, 0x01]).as_str(), "4001");
    }
}
