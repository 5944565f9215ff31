//! What an issuance profile says, as submitted ([`ProfileInput`]) and once validated
//! ([`IssuanceProfile`]), and the state its events fold into ([`ProfileState`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::DomainError;
use crate::duration::{Validity, ValidityInput};
use crate::ids::ProfileId;
use crate::key::KeyType;
use crate::subject::Subject;
use crate::usage::{ExtendedKeyUsage, KeyUsage};

fn yes() -> bool {
    true
}

/// Which public keys a profile accepts. Empty size lists accept every size Shedu supports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoEnforcement {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub allow_rsa_keys: bool,
    #[serde(default)]
    pub allowed_rsa_key_sizes: Vec<u32>,
    #[serde(default)]
    pub allow_ecdsa_keys: bool,
    #[serde(default)]
    pub allowed_ecdsa_key_sizes: Vec<u32>,
    #[serde(default)]
    pub allow_ed25519_keys: bool,
}

impl CryptoEnforcement {
    /// Whether every key `other` accepts, this accepts too (both enabled).
    pub fn contains(&self, other: &CryptoEnforcement) -> bool {
        let sizes = |narrow: &[u32], wide: &[u32]| {
            wide.is_empty() || (!narrow.is_empty() && narrow.iter().all(|b| wide.contains(b)))
        };
        (!other.allow_rsa_keys
            || (self.allow_rsa_keys && sizes(&other.allowed_rsa_key_sizes, &self.allowed_rsa_key_sizes)))
            && (!other.allow_ecdsa_keys
                || (self.allow_ecdsa_keys && sizes(&other.allowed_ecdsa_key_sizes, &self.allowed_ecdsa_key_sizes)))
            && (!other.allow_ed25519_keys || self.allow_ed25519_keys)
    }

    /// Checks a key against the profile; the error names the rule it breaks.
    pub fn check(&self, key_type: KeyType, bits: u32) -> Result<(), DomainError> {
        if !self.enabled {
            return Ok(());
        }
        let (allowed, sizes, name) = match key_type {
            KeyType::Rsa => (self.allow_rsa_keys, &self.allowed_rsa_key_sizes, "allow_rsa_keys"),
            KeyType::Ecdsa => (self.allow_ecdsa_keys, &self.allowed_ecdsa_key_sizes, "allow_ecdsa_keys"),
            KeyType::Ed25519 => (self.allow_ed25519_keys, &Vec::new(), "allow_ed25519_keys"),
        };
        if !allowed {
            return Err(DomainError::KeyNotAllowed {
                rule: name,
                message: format!("the profile does not accept {} keys", key_type.as_str()),
            });
        }
        if !sizes.is_empty() && !sizes.contains(&bits) {
            let rule = if key_type == KeyType::Rsa { "allowed_rsa_key_sizes" } else { "allowed_ecdsa_key_sizes" };
            return Err(DomainError::KeyNotAllowed {
                rule,
                message: format!("{bits}-bit {} keys are not accepted (allowed: {sizes:?})", key_type.as_str()),
            });
        }
        Ok(())
    }
}

/// A profile as submitted, before validation. Omitted booleans default to the common case: keep
/// the CSR's subject and SANs, impose the profile's key usages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub validity: ValidityInput,
    #[serde(default)]
    pub sign_as_ca: bool,
    #[serde(default)]
    pub path_len: Option<u32>,
    #[serde(default = "yes")]
    pub honor_subject: bool,
    #[serde(default)]
    pub subject: Option<Subject>,
    #[serde(default)]
    pub honor_key_usage: bool,
    #[serde(default)]
    pub key_usage: Vec<KeyUsage>,
    #[serde(default)]
    pub honor_extended_key_usages: bool,
    #[serde(default)]
    pub extended_key_usages: Vec<ExtendedKeyUsage>,
    #[serde(default = "yes")]
    pub honor_extensions: bool,
    /// At least one subjectAltName, and the common name (if any) among them. Unset: on for TLS
    /// server profiles (ServerAuth) that copy the request's names.
    #[serde(default)]
    pub require_subject_alt_names: Option<bool>,
    #[serde(default)]
    pub allow_validity_beyond_issuer: bool,
    #[serde(default)]
    pub crypto_enforcement: CryptoEnforcement,
    /// Write where relying parties check revocation (CRL distribution point, authority
    /// information access) into the certificates, when Shedu has a `public_base_url`.
    #[serde(default = "yes")]
    pub revocation_urls: bool,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceProfile {
    pub id: ProfileId,
    pub name: String,
    pub description: String,
    pub validity: ValidityInput,
    pub sign_as_ca: bool,
    pub path_len: Option<u32>,
    pub honor_subject: bool,
    pub subject: Option<Subject>,
    pub honor_key_usage: bool,
    pub key_usage: Vec<KeyUsage>,
    pub honor_extended_key_usages: bool,
    pub extended_key_usages: Vec<ExtendedKeyUsage>,
    pub honor_extensions: bool,
    /// Profiles stored before this setting existed read as unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_subject_alt_names: Option<bool>,
    pub allow_validity_beyond_issuer: bool,
    pub crypto_enforcement: CryptoEnforcement,
    /// Profiles stored before this setting existed read as on.
    #[serde(default = "yes")]
    pub revocation_urls: bool,
}

impl IssuanceProfile {
    pub fn parse(id: ProfileId, input: ProfileInput) -> Result<Self, DomainError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.len() > 200 {
            return Err(DomainError::invalid("name", "must be 1-200 characters"));
        }
        let validity = Validity::parse(&input.validity, "validity")?;
        if let Validity::Duration(period) = validity {
            let epoch = OffsetDateTime::UNIX_EPOCH;
            let hundred_years = time::Duration::days(36_525);
            if period.after(epoch).is_none_or(|end| end - epoch > hundred_years) {
                return Err(DomainError::invalid("validity", "at most 100 years"));
            }
        }
        if input.path_len.is_some_and(|n| n > 64) {
            return Err(DomainError::invalid("path_len", "at most 64"));
        }
        if input.sign_as_ca && !input.key_usage.contains(&KeyUsage::CertSign) {
            return Err(DomainError::invalid("key_usage", "a sign_as_ca profile must include CertSign"));
        }
        if input.path_len.is_some() && !input.sign_as_ca {
            return Err(DomainError::invalid("path_len", "only applies to sign_as_ca profiles"));
        }
        if !input.honor_subject && input.subject.is_none() {
            return Err(DomainError::invalid("subject", "required when honor_subject is false"));
        }
        let enforcement = &input.crypto_enforcement;
        if let Some(bad) =
            enforcement.allowed_rsa_key_sizes.iter().find(|b| !(2048..=8192).contains(*b) || **b % 8 != 0)
        {
            return Err(DomainError::invalid(
                "crypto_enforcement.allowed_rsa_key_sizes",
                format!("{bad} is not an RSA size Shedu signs (2048-8192, a multiple of 8)"),
            ));
        }
        if let Some(bad) = enforcement.allowed_ecdsa_key_sizes.iter().find(|b| ![256, 384, 521].contains(*b)) {
            return Err(DomainError::invalid(
                "crypto_enforcement.allowed_ecdsa_key_sizes",
                format!("{bad} is not an ECDSA curve size (256, 384, 521)"),
            ));
        }
        if enforcement.enabled
            && !(enforcement.allow_rsa_keys || enforcement.allow_ecdsa_keys || enforcement.allow_ed25519_keys)
        {
            return Err(DomainError::invalid("crypto_enforcement", "enabled but accepts no key type"));
        }
        let mut key_usage = input.key_usage;
        key_usage.sort();
        key_usage.dedup();
        let mut extended_key_usages = input.extended_key_usages;
        extended_key_usages.sort();
        extended_key_usages.dedup();
        Ok(IssuanceProfile {
            id,
            name,
            description: input.description,
            validity: input.validity,
            sign_as_ca: input.sign_as_ca,
            path_len: input.path_len,
            honor_subject: input.honor_subject,
            subject: input.subject,
            honor_key_usage: input.honor_key_usage,
            key_usage,
            honor_extended_key_usages: input.honor_extended_key_usages,
            extended_key_usages,
            honor_extensions: input.honor_extensions,
            require_subject_alt_names: input.require_subject_alt_names,
            allow_validity_beyond_issuer: input.allow_validity_beyond_issuer,
            crypto_enforcement: input.crypto_enforcement,
            revocation_urls: input.revocation_urls,
        })
    }

    /// Whether issued certificates need a subjectAltName naming their common name (CA/Browser
    /// Forum baseline requirements §7.1.4.3 for TLS servers).
    pub fn requires_subject_alt_names(&self) -> bool {
        self.require_subject_alt_names
            .unwrap_or(self.honor_extensions && self.extended_key_usages.contains(&ExtendedKeyUsage::ServerAuth))
    }

    pub fn validity(&self) -> Result<Validity, DomainError> {
        Validity::parse(&self.validity, "validity")
    }
}

/// A profile as its events describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    pub profile: IssuanceProfile,
    pub deleted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl ProfileId {
    pub fn stream_id(&self) -> String {
        format!("profile-{self}")
    }
}
