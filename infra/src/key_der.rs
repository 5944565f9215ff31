//! DER that engines must build themselves: X.509 signature values from raw ECDSA `r‖s`, and
//! SubjectPublicKeyInfo from the parts a PKCS#11 token reports.

use der::asn1::{BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Encode, Header, Length, Tag};
use shedu_domain::key::{KeySpec, KeyType};

pub(crate) const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A SEQUENCE of already-encoded elements.
pub(crate) fn sequence(elements: &[&[u8]]) -> Result<Vec<u8>, String> {
    let body = elements.concat();
    let length = Length::try_from(body.len()).map_err(|e| e.to_string())?;
    let mut out = Header::new(Tag::Sequence, length).and_then(|h| h.to_der()).map_err(|e| e.to_string())?;
    out.extend(body);
    Ok(out)
}

fn encoded(value: &impl Encode) -> Result<Vec<u8>, String> {
    value.to_der().map_err(|e| e.to_string())
}

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` from the raw `r‖s` of PKCS#11's
/// CKM_ECDSA (each half as long as the curve's order).
pub(crate) fn ecdsa_signature(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(format!("an ECDSA signature of {} bytes is not r‖s", raw.len()));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let integer = |half: &[u8]| UintRef::new(half).map_err(|e| e.to_string()).and_then(|n| encoded(&n));
    sequence(&[&integer(r)?, &integer(s)?])
}

/// The named curve an ECDSA key of `bits` uses.
pub(crate) fn curve_oid(bits: u32) -> Option<ObjectIdentifier> {
    match bits {
        256 => Some(OID_P256),
        384 => Some(OID_P384),
        521 => Some(OID_P521),
        _ => None,
    }
}

/// The ECDSA key size of a named curve, from its DER OID (`CKA_EC_PARAMS`).
pub(crate) fn curve_bits(ec_params_der: &[u8]) -> Option<u32> {
    let oid = ObjectIdentifier::from_der(ec_params_der).ok()?;
    [(OID_P256, 256), (OID_P384, 384), (OID_P521, 521)].into_iter().find(|(o, _)| *o == oid).map(|(_, b)| b)
}

/// A point as PKCS#11 gives it in `CKA_EC_POINT`: a DER OCTET STRING around the point (some
/// modules give the bare point, which is taken as it is).
pub(crate) fn unwrap_point(ec_point: &[u8]) -> Vec<u8> {
    match OctetStringRef::from_der(ec_point) {
        Ok(inner) => inner.as_bytes().to_vec(),
        Err(_) => ec_point.to_vec(),
    }
}

fn spki(algorithm: &[u8], key: &[u8]) -> Result<Vec<u8>, String> {
    let bits = BitStringRef::from_bytes(key).map_err(|e| e.to_string())?;
    sequence(&[algorithm, &encoded(&bits)?])
}

/// SubjectPublicKeyInfo of an ECDSA key on the named curve of `bits`.
pub(crate) fn ec_spki(bits: u32, point: &[u8]) -> Result<Vec<u8>, String> {
    let curve = curve_oid(bits).ok_or_else(|| format!("no named curve of {bits} bits"))?;
    spki(&sequence(&[&encoded(&OID_EC_PUBLIC_KEY)?, &encoded(&curve)?])?, point)
}

/// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410: no parameters).
pub(crate) fn ed25519_spki(public: &[u8]) -> Result<Vec<u8>, String> {
    spki(&sequence(&[&encoded(&OID_ED25519)?])?, public)
}

/// SubjectPublicKeyInfo of an RSA key (RFC 3279: NULL parameters).
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, String> {
    let integer = |n: &[u8]| UintRef::new(n).map_err(|e| e.to_string()).and_then(|n| encoded(&n));
    let public_key = sequence(&[&integer(modulus)?, &integer(exponent)?])?;
    spki(&sequence(&[&encoded(&OID_RSA)?, &encoded(&der::asn1::Null)?])?, &public_key)
}

/// The digest X.509 signs with for a key, per `CryptoEngine::sign`'s contract.
pub(crate) fn digest(spec: KeySpec, message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match (spec.key_type, spec.bits) {
        (KeyType::Ecdsa, 384) => sha2::Sha384::digest(message).to_vec(),
        (KeyType::Ecdsa, 521) => sha2::Sha512::digest(message).to_vec(),
        _ => sha2::Sha256::digest(message).to_vec(),
    }
}

/// PKCS#1 v1.5 `DigestInfo` for SHA-256 (RFC 8017 §9.2 note 1): what CKM_RSA_PKCS signs.
pub(crate) fn sha256_digest_info(digest: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    [&PREFIX[..], digest].concat()
}

#[cfg(test)]
mod tests {
    use rcgen::{KeyPair, PublicKeyData};

    use super::*;

    #[test]
    fn raw_signatures_become_der_with_positive_minimal_integers() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero to stay positive
        raw[63] = 1; // s is 1 after 31 leading zero octets
        let der = ecdsa_signature(&raw).unwrap();
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert_eq!(der[4], 0);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(ecdsa_signature(&[1, 2, 3]).is_err());
    }

    #[test]
    fn public_keys_are_encoded_as_rcgen_encodes_them() {
        for (alg, bits) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, 256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, 384),
            (&rcgen::PKCS_ECDSA_P521_SHA512, 521),
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let wrapped = OctetStringRef::new(key.der_bytes()).unwrap().to_der().unwrap();
            assert_eq!(ec_spki(bits, &unwrap_point(&wrapped)).unwrap(), key.subject_public_key_info(), "{bits}");
            assert_eq!(curve_bits(&curve_oid(bits).unwrap().to_der().unwrap()), Some(bits));
        }
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(ed25519_spki(ed.der_bytes()).unwrap(), ed.subject_public_key_info());
    }
}
