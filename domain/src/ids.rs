//! Identifiers, parsed once at the edge and trusted afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::invalid::InvalidInput;

/// The id grammar of every resource addressed in a URL path: 1–128 characters of A–Z, a–z, 0–9,
/// `-`, `_`, `.`, `~` (RFC 3986 unreserved), starting with a letter or digit, so that no id is
/// `.` or `..`, which proxies and clients resolve away.
fn url_safe(raw: &str, field: &str) -> Result<String, InvalidInput> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    let starts_well = raw.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if raw.len() > 128 || !starts_well || !raw.chars().all(ok_char) {
        return Err(InvalidInput::new(
            field,
            "must be 1-128 characters of A-Z, a-z, 0-9, '-', '_', '.', '~', starting with a letter or digit",
        ));
    }
    Ok(raw.to_owned())
}

/// A CA identifier, safe in a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaId(String);

impl CaId {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        url_safe(raw, "id").map(CaId)
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
    ($(#[$doc:meta])* $name:ident, $field:literal, $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                $parse(raw, $field).map($name)
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

/// An engine's own key name: 1–256 printable characters (a PKCS#11 label, a KMS ARN).
fn printable(raw: &str, field: &str) -> Result<String, InvalidInput> {
    if raw.trim().is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
        return Err(InvalidInput::new(field, "must be 1-256 printable characters"));
    }
    Ok(raw.to_owned())
}

name_id!(
    /// A crypto engine's configured id, e.g. `software-default`.
    EngineId,
    "engine_id",
    url_safe
);
name_id!(
    /// A key's id inside its engine: hex SHA-256 of the SubjectPublicKeyInfo.
    KeyId,
    "key_id",
    printable
);
name_id!(
    /// An issuance profile id.
    ProfileId,
    "profile_id",
    url_safe
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
        for unaddressable in [".", "..", ".hidden", "-x", "~"] {
            assert!(CaId::parse(unaddressable).is_err(), "{unaddressable}");
            assert!(ProfileId::parse(unaddressable).is_err(), "{unaddressable}");
        }
        assert!(ProfileId::parse("a/b").is_err() && ProfileId::parse("tls server").is_err());
    }

    #[test]
    fn serial_numbers_are_normalised_to_lowercase_hex() {
        assert_eq!(SerialNumber::parse("0A:1b-FF").unwrap().as_str(), "0a1bff");
        assert!(SerialNumber::parse("xyz").is_err());
        assert_eq!(SerialNumber::from_bytes(&[0x40, 0x01]).as_str(), "4001");
    }
}
