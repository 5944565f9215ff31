//! Key pairs from DER: the algorithms the engine knows, by the names key files use, the key id a
//! key pair must have, and opening a key file into a key pair.

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::key_file::{Binding, KeyFile, Sealer};

pub(crate) const IMPORTABLE: [&SignatureAlgorithm; 5] = [
    &rcgen::PKCS_ECDSA_P256_SHA256,
    &rcgen::PKCS_ECDSA_P384_SHA384,
    &rcgen::PKCS_ECDSA_P521_SHA512,
    &rcgen::PKCS_ED25519,
    &rcgen::PKCS_RSA_SHA256,
];

pub(crate) fn algorithm_name(alg: &SignatureAlgorithm) -> &'static str {
    IMPORTABLE
        .iter()
        .zip(["ECDSA_P256_SHA256", "ECDSA_P384_SHA384", "ECDSA_P521_SHA512", "ED25519", "RSA_PKCS1_SHA256"])
        .find(|(a, _)| **a == alg)
        .map_or("RSA_PKCS1_SHA256", |(_, name)| name)
}

pub(crate) fn algorithm_by_name(name: &str) -> Option<&'static SignatureAlgorithm> {
    IMPORTABLE.iter().copied().find(|alg| algorithm_name(alg) == name)
}

/// The key id of a key pair: hex SHA-256 of its SubjectPublicKeyInfo (docs/adr/0006).
pub(crate) fn key_id_of(key_pair: &KeyPair) -> String {
    hex::encode(Sha256::digest(key_pair.subject_public_key_info()))
}

/// `pkcs8` or `pkcs1`, as the DER says: after a PKCS#8 PrivateKeyInfo's version comes the
/// algorithm (a SEQUENCE), after an RSAPrivateKey's the modulus (an INTEGER).
pub(crate) fn der_encoding(der: &[u8]) -> &'static str {
    let header = match der.get(1) {
        Some(b) if *b < 0x80 => 2,
        Some(b) => 2 + usize::from(b & 0x7f),
        None => return "pkcs8",
    };
    // version: INTEGER 0, three octets.
    match (der.get(header..header + 3), der.get(header + 3)) {
        (Some([0x02, 0x01, 0x00]), Some(0x02)) => "pkcs1",
        _ => "pkcs8",
    }
}

pub(crate) fn key_pair_from_der(der: &[u8], encoding: &str, alg: &'static SignatureAlgorithm) -> Option<KeyPair> {
    // Files an earlier version labelled PKCS#1 may hold PKCS#8: the DER decides.
    let encoding = if encoding == "pkcs1" { der_encoding(der) } else { encoding };
    let mut key = match encoding {
        "pkcs1" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec())),
        "sec1" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.to_vec())),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())),
    };
    // A wrong guess of algorithm or encoding is an error, not a panic: rcgen panics only on
    // algorithms it does not know, and every one passed here is from IMPORTABLE.
    let key_pair = KeyPair::from_der_and_sign_algo(&key, alg).ok();
    key.zeroize();
    key_pair
}

/// Opens a key file and checks that it holds the key its id names: a file holding another key
/// (restored from elsewhere, sealed by someone else holding the KEK) must not sign as this one.
/// The DER is wiped when dropped.
pub(crate) fn unseal(
    sealer: &Sealer,
    file: &KeyFile,
    binding: Binding<'_>,
) -> Result<(KeyPair, Zeroizing<Vec<u8>>), String> {
    let key_id = binding.key_id;
    let der = sealer.open(file, binding).map_err(|e| format!("key file {key_id} does not open: {e}"))?;
    let algorithm =
        algorithm_by_name(&file.algorithm).ok_or_else(|| format!("key file {key_id} names an unknown algorithm"))?;
    let key_pair = key_pair_from_der(&der, &file.encoding, algorithm)
        .ok_or_else(|| format!("key file {key_id} holds an unreadable key"))?;
    if key_id_of(&key_pair) != key_id {
        return Err(format!("key file {key_id} holds another key than the one its id names"));
    }
    Ok((key_pair, der))
}
