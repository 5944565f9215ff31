//! Signature checks against an explicit allow-list, with aws-lc: RSA PKCS#1 v1.5 with SHA-2
//! (2048–8192-bit keys), ECDSA with SHA-2 on P-256, P-384 and P-521, and Ed25519. Used for a
//! CSR's proof of possession and to tell which CA signed an imported certificate. SHA-1 and MD5
//! are refused by name: a collision lets one signature vouch for two messages.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use shedu_domain::key::KeyType;
use x509_parser::prelude::SubjectPublicKeyInfo;
use x509_parser::x509::AlgorithmIdentifier;

use crate::x509::keys::key_spec;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The algorithm is not on the allow-list (or does not fit the key); its name or OID.
    NotAllowed(String),
    /// An RSA key beyond 8192 bits.
    KeyTooLarge(u32),
    /// The key or signature is malformed, or the signature does not verify.
    Invalid,
}

/// Verifies `signature` over `message` by the key `signer`, made with `algorithm`.
pub fn verify(
    algorithm: &AlgorithmIdentifier<'_>,
    signer: &SubjectPublicKeyInfo<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Refusal> {
    let (key_type, bits) = key_spec(signer).map_err(|_| Refusal::Invalid)?;
    if key_type == KeyType::Rsa && bits > 8192 {
        return Err(Refusal::KeyTooLarge(bits));
    }
    let oid = algorithm.algorithm.to_id_string();
    let verifier = allowed(&oid, key_type, bits).ok_or_else(|| Refusal::NotAllowed(name_of(&oid)))?;
    UnparsedPublicKey::new(verifier, signer.subject_public_key.as_ref())
        .verify(message, signature)
        .map_err(|_| Refusal::Invalid)
}

fn allowed(oid: &str, key_type: KeyType, bits: u32) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (oid, key_type, bits) {
        ("1.2.840.113549.1.1.11", KeyType::Rsa, _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", KeyType::Rsa, _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", KeyType::Rsa, _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.4.3.2", KeyType::Ecdsa, 256) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyType::Ecdsa, 256) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyType::Ecdsa, 256) => &signature::ECDSA_P256_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", KeyType::Ecdsa, 384) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyType::Ecdsa, 384) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyType::Ecdsa, 384) => &signature::ECDSA_P384_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", KeyType::Ecdsa, 521) => &signature::ECDSA_P521_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyType::Ecdsa, 521) => &signature::ECDSA_P521_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyType::Ecdsa, 521) => &signature::ECDSA_P521_SHA512_ASN1,
        ("1.3.101.112", KeyType::Ed25519, _) => &signature::ED25519,
        _ => return None,
    })
}

/// The algorithm's name where it is one people recognise, else its OID.
fn name_of(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => {
            "RSA with SHA-2 on a non-RSA key"
        }
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => "ECDSA on a key that is not ECDSA",
        other => return other.to_owned(),
    }
    .to_owned()
}
