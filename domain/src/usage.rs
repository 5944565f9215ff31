//! X.509 key usages and extended key usages, by Lamassu's names.

use serde::{Deserialize, Serialize};

use crate::key::KeyType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyUsage {
    DigitalSignature,
    ContentCommitment,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
    CertSign,
    #[serde(rename = "CRLSign")]
    CrlSign,
    EncipherOnly,
    DecipherOnly,
}

impl KeyUsage {
    /// Whether the usage is meaningful for a key of this type: encipherment is RSA-only
    /// (RFC 5480 §3, RFC 8813), and an Ed25519 key only signs (RFC 8410 §5).
    pub fn fits(self, key_type: KeyType) -> bool {
        use KeyUsage::*;
        match key_type {
            KeyType::Rsa => !matches!(self, KeyAgreement | EncipherOnly | DecipherOnly),
            KeyType::Ecdsa => !matches!(self, KeyEncipherment | DataEncipherment),
            KeyType::Ed25519 => matches!(self, DigitalSignature | ContentCommitment | CertSign | CrlSign),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ExtendedKeyUsage {
    Any,
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    #[serde(rename = "IPSECEndSystem")]
    IpsecEndSystem,
    #[serde(rename = "IPSECTunnel")]
    IpsecTunnel,
    #[serde(rename = "IPSECUser")]
    IpsecUser,
    TimeStamping,
    #[serde(rename = "OCSPSigning")]
    OcspSigning,
}

impl ExtendedKeyUsage {
    /// The name Shedu records in certificate facts (Lamassu's), or the dotted OID for the
    /// purposes parsing leaves unnamed.
    pub fn recorded_name(self) -> String {
        match self {
            ExtendedKeyUsage::Any => "Any".into(),
            ExtendedKeyUsage::ServerAuth => "ServerAuth".into(),
            ExtendedKeyUsage::ClientAuth => "ClientAuth".into(),
            ExtendedKeyUsage::CodeSigning => "CodeSigning".into(),
            ExtendedKeyUsage::EmailProtection => "EmailProtection".into(),
            ExtendedKeyUsage::TimeStamping => "TimeStamping".into(),
            ExtendedKeyUsage::OcspSigning => "OCSPSigning".into(),
            other => other.oid().iter().map(u64::to_string).collect::<Vec<_>>().join("."),
        }
    }

    /// The purpose's OID arcs (RFC 5280 §4.2.1.12, RFC 4945).
    pub fn oid(self) -> &'static [u64] {
        match self {
            ExtendedKeyUsage::Any => &[2, 5, 29, 37, 0],
            ExtendedKeyUsage::ServerAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 1],
            ExtendedKeyUsage::ClientAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 2],
            ExtendedKeyUsage::CodeSigning => &[1, 3, 6, 1, 5, 5, 7, 3, 3],
            ExtendedKeyUsage::EmailProtection => &[1, 3, 6, 1, 5, 5, 7, 3, 4],
            ExtendedKeyUsage::IpsecEndSystem => &[1, 3, 6, 1, 5, 5, 7, 3, 5],
            ExtendedKeyUsage::IpsecTunnel => &[1, 3, 6, 1, 5, 5, 7, 3, 6],
            ExtendedKeyUsage::IpsecUser => &[1, 3, 6, 1, 5, 5, 7, 3, 7],
            ExtendedKeyUsage::TimeStamping => &[1, 3, 6, 1, 5, 5, 7, 3, 8],
            ExtendedKeyUsage::OcspSigning => &[1, 3, 6, 1, 5, 5, 7, 3, 9],
        }
    }
}
