//! Key objects on the token: the templates Shedu generates and imports with, and public keys
//! read back as SubjectPublicKeyInfo.

use cryptoki::error::Error;
use cryptoki::object::{Attribute, AttributeType, KeyType as P11KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::Encode;
use der::asn1::{ObjectIdentifier, OctetStringRef};
use shedu_domain::key::{KeySpec, KeyType};

use crate::key_der::{self, curve_bits, curve_oid, ec_spki, ed25519_spki, rsa_spki, unwrap_point};

/// RFC 8410's id-Ed25519, which SoftHSM and others take as `CKA_EC_PARAMS` for Edwards keys.
pub(super) const ED25519_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];

/// `CKA_LABEL` of a key Shedu holds: its key id, readable in `pkcs11-tool -O`.
pub(super) fn label(key_id: &[u8]) -> Vec<u8> {
    format!("shedu-{}", hex::encode(key_id)).into_bytes()
}

/// What every private key Shedu puts on a token carries: stored on the token, usable only after
/// login, sensitive and never extractable, for signing only.
pub(super) fn private_template(id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Derive(false),
        Attribute::Unwrap(false),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label(id)),
    ]
}

pub(super) fn public_template(id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label(id)),
    ]
}

/// The attributes a key pair of `spec` is generated with, beyond the templates'.
pub(super) fn generation_attributes(spec: KeySpec) -> Option<Vec<Attribute>> {
    match spec.key_type {
        KeyType::Ecdsa => Some(vec![Attribute::EcParams(curve_oid(spec.bits)?.to_der().ok()?)]),
        KeyType::Ed25519 => Some(vec![Attribute::EcParams(ED25519_PARAMS.to_vec())]),
        KeyType::Rsa => Some(vec![
            Attribute::ModulusBits(u64::from(spec.bits).into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        ]),
    }
}

/// The object of `class` with `CKA_ID` `id`, if there is one.
pub(super) fn find(session: &Session, class: ObjectClass, id: &[u8]) -> Result<Option<ObjectHandle>, Error> {
    let found = session.find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])?;
    Ok(found.first().copied())
}

/// A public key object's SubjectPublicKeyInfo and key spec, or why it cannot be read.
pub(super) fn read_public(
    session: &Session,
    handle: ObjectHandle,
) -> Result<Result<(Vec<u8>, KeySpec), String>, Error> {
    let types = [
        AttributeType::KeyType,
        AttributeType::EcParams,
        AttributeType::EcPoint,
        AttributeType::Modulus,
        AttributeType::PublicExponent,
    ];
    let (mut key_type, mut params, mut point, mut modulus, mut exponent) = (None, None, None, None, None);
    for attribute in session.get_attributes(handle, &types)? {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    Ok(match (key_type, params, point, modulus, exponent) {
        (Some(t), Some(params), Some(point), _, _) if t == P11KeyType::EC => match curve_bits(&params) {
            Some(bits) => {
                ec_spki(bits, &unwrap_point(&point)).map(|spki| (spki, KeySpec { key_type: KeyType::Ecdsa, bits }))
            }
            None => Err("the key is on a curve Shedu does not use".into()),
        },
        (Some(t), _, Some(point), _, _) if t == P11KeyType::EC_EDWARDS => {
            ed25519_spki(&unwrap_point(&point)).map(|spki| (spki, KeySpec { key_type: KeyType::Ed25519, bits: 256 }))
        }
        (Some(t), _, _, Some(modulus), Some(exponent)) if t == P11KeyType::RSA => {
            let significant: Vec<u8> = modulus.iter().copied().skip_while(|b| *b == 0).collect();
            let bits = significant.first().map_or(0, |b| significant.len() as u32 * 8 - b.leading_zeros());
            rsa_spki(&modulus, &exponent).map(|spki| (spki, KeySpec { key_type: KeyType::Rsa, bits }))
        }
        _ => Err("the token holds a public key Shedu cannot read".into()),
    })
}

/// A private key's parts as `C_CreateObject` takes them, from the DER the import was given.
/// Every buffer here holds key material: the attributes are built once and dropped at once.
/// `public_bits` is the subjectPublicKey of the key (the point, for EC and Ed25519 keys).
pub(super) fn import_attributes(
    der: &[u8],
    encoding: &str,
    public_bits: &[u8],
) -> Result<(Vec<Attribute>, Vec<Attribute>), String> {
    use der::Decode;
    let unreadable = |e: der::Error| format!("private_key: unreadable key ({e})");
    let (algorithm, private_key) = match encoding {
        "pkcs1" => (RSA, der),
        "sec1" => (EC, der),
        _ => {
            let info =
                pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| format!("private_key: unreadable key ({e})"))?;
            (info.algorithm.oid, info.private_key)
        }
    };
    // A private key whose parts must be on the token, and the public key made alongside.
    if algorithm == RSA {
        let key = pkcs1::RsaPrivateKey::from_der(private_key)
            .map_err(|e| format!("private_key: unreadable RSA key ({e})"))?;
        let bytes = |n: pkcs1::UintRef<'_>| n.as_bytes().to_vec();
        let private = vec![
            Attribute::KeyType(P11KeyType::RSA),
            Attribute::Modulus(bytes(key.modulus)),
            Attribute::PublicExponent(bytes(key.public_exponent)),
            Attribute::PrivateExponent(bytes(key.private_exponent)),
            Attribute::Prime1(bytes(key.prime1)),
            Attribute::Prime2(bytes(key.prime2)),
            Attribute::Exponent1(bytes(key.exponent1)),
            Attribute::Exponent2(bytes(key.exponent2)),
            Attribute::Coefficient(bytes(key.coefficient)),
        ];
        let public = vec![
            Attribute::KeyType(P11KeyType::RSA),
            Attribute::Modulus(bytes(key.modulus)),
            Attribute::PublicExponent(bytes(key.public_exponent)),
        ];
        return Ok((private, public));
    }
    if algorithm == ED25519 {
        let seed = OctetStringRef::from_der(private_key).map_err(unreadable)?;
        let params = ED25519_PARAMS.to_vec();
        let point = OctetStringRef::new(public_bits).and_then(|p| p.to_der()).map_err(|e| e.to_string())?;
        let private = vec![
            Attribute::KeyType(P11KeyType::EC_EDWARDS),
            Attribute::EcParams(params.clone()),
            Attribute::Value(seed.as_bytes().to_vec()),
        ];
        let public =
            vec![Attribute::KeyType(P11KeyType::EC_EDWARDS), Attribute::EcParams(params), Attribute::EcPoint(point)];
        return Ok((private, public));
    }
    if algorithm == EC {
        let key =
            sec1::EcPrivateKey::from_der(private_key).map_err(|e| format!("private_key: unreadable EC key ({e})"))?;
        let curve = match (key.parameters, encoding) {
            (Some(sec1::EcParameters::NamedCurve(oid)), _) => oid,
            _ => {
                let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| format!("private_key: {e}"))?;
                info.algorithm.parameters_oid().map_err(|_| "private_key: the EC key names no curve".to_string())?
            }
        };
        let params = curve.to_der().map_err(|e| e.to_string())?;
        let wrapped = OctetStringRef::new(public_bits).and_then(|p| p.to_der()).map_err(|e| e.to_string())?;
        let private = vec![
            Attribute::KeyType(P11KeyType::EC),
            Attribute::EcParams(params.clone()),
            Attribute::Value(key.private_key.to_vec()),
        ];
        let public = vec![Attribute::KeyType(P11KeyType::EC), Attribute::EcParams(params), Attribute::EcPoint(wrapped)];
        return Ok((private, public));
    }
    Err("private_key: unsupported key algorithm".into())
}

const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The key id as `CKA_ID` bytes.
pub(super) fn object_id(key_id: &str) -> Result<Vec<u8>, String> {
    hex::decode(key_id).map_err(|_| format!("key id {key_id} is not hex"))
}

pub(super) fn digest_info(spec: KeySpec, message: &[u8]) -> Vec<u8> {
    key_der::sha256_digest_info(&key_der::digest(spec, message))
}

/// Overwrites the key material in attributes built for an import.
pub(super) fn wipe(attributes: &mut [Attribute]) {
    use zeroize::Zeroize;
    for attribute in attributes {
        match attribute {
            Attribute::Value(v)
            | Attribute::PrivateExponent(v)
            | Attribute::Prime1(v)
            | Attribute::Prime2(v)
            | Attribute::Exponent1(v)
            | Attribute::Exponent2(v)
            | Attribute::Coefficient(v) => v.zeroize(),
            _ => {}
        }
    }
}
