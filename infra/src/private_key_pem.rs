//! A private key given for import, as PEM: read once, for every engine that takes one.

use rcgen::{KeyPair, PublicKeyData};
use shedu_commands::crypto::EngineError;
use shedu_commands::x509::pem_text::one_labelled_block;
use zeroize::Zeroizing;

use crate::software_engine::keys::{IMPORTABLE, key_pair_from_der};

/// A readable private key: its DER (wiped when dropped), how it is encoded (`pkcs8`, `pkcs1` or
/// `sec1`), and the key pair it makes.
pub(crate) struct ImportedKey {
    pub(crate) der: Zeroizing<Vec<u8>>,
    pub(crate) encoding: &'static str,
    pub(crate) key_pair: KeyPair,
}

/// Reads exactly one PEM private key block (PKCS#8, PKCS#1 or SEC1) and checks that its public
/// half is `expected_spki_der`.
pub(crate) fn read(private_key_pem: &str, expected_spki_der: &[u8]) -> Result<ImportedKey, EngineError> {
    let malformed = |m: &str| EngineError::MalformedKey(format!("private_key: {m}"));
    // Exactly one key block, nothing around it but whitespace.
    let labels = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"];
    let (label, der) = one_labelled_block(private_key_pem, &labels, "private_key").map_err(|e| match e {
        shedu_domain::DomainError::Invalid { message, .. } => malformed(&message),
        other => malformed(&other.to_string()),
    })?;
    let der = Zeroizing::new(der);
    let encoding = match label.as_str() {
        "PRIVATE KEY" => "pkcs8",
        "RSA PRIVATE KEY" => "pkcs1",
        "EC PRIVATE KEY" => "sec1",
        _ => return Err(malformed("encrypted keys are not accepted; decrypt it first")),
    };
    let key_pair = IMPORTABLE
        .iter()
        .find_map(|alg| key_pair_from_der(&der, encoding, alg))
        .ok_or_else(|| malformed("unreadable or unsupported key (RSA, ECDSA P-256/384/521, Ed25519)"))?;
    if key_pair.subject_public_key_info() != expected_spki_der {
        return Err(EngineError::KeyMismatch);
    }
    Ok(ImportedKey { der, encoding, key_pair })
}
