//! Public keys as Shedu sees them: type and size from a SubjectPublicKeyInfo.

use shedu_domain::key::KeyType;
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
use x509_parser::public_key::PublicKey;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// The subjectPublicKey BIT STRING contents of a DER SubjectPublicKeyInfo.
pub fn subject_public_key_bits(spki_der: &[u8]) -> Result<Vec<u8>, String> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after SubjectPublicKeyInfo".into());
    }
    Ok(spki.subject_public_key.as_ref().to_vec())
}

/// Key type and size from a DER SubjectPublicKeyInfo.
pub fn key_spec_of_spki(spki_der: &[u8]) -> Result<(KeyType, u32), String> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| e.to_string())?;
    key_spec(&spki)
}

pub fn key_spec(spki: &SubjectPublicKeyInfo<'_>) -> Result<(KeyType, u32), String> {
    match spki.algorithm.algorithm.to_id_string().as_str() {
        OID_RSA => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let modulus = rsa.modulus.iter().skip_while(|b| **b == 0).copied().collect::<Vec<_>>();
                let bits = modulus.first().map_or(0, |b| modulus.len() as u32 * 8 - b.leading_zeros());
                Ok((KeyType::Rsa, bits))
            }
            _ => Err("unreadable RSA public key".into()),
        },
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => Ok((KeyType::Ecdsa, 256)),
                OID_P384 => Ok((KeyType::Ecdsa, 384)),
                OID_P521 => Ok((KeyType::Ecdsa, 521)),
                other => Err(format!("unsupported elliptic curve {other}")),
            }
        }
        OID_ED25519 => Ok((KeyType::Ed25519, 256)),
        other => Err(format!("unsupported public key algorithm {other}")),
    }
}
