//! X.509 v2 CRLs (RFC 5280 §5), written here rather than by rcgen: the issuer name is the CA
//! certificate's subject byte for byte (as in the issuer splice), the authority key identifier is
//! the CA certificate's own, and a delta CRL needs the Delta CRL Indicator rcgen does not write.

use shedu_domain::crl::CrlEntry;
use shedu_domain::key::{KeySpec, KeyType};
use shedu_domain::status::RevocationReason;
use time::OffsetDateTime;

use crate::CommandError;
use crate::x509::der_out::{
    BIT_STRING, ENUMERATED, explicit, extension, generalized_time, integer, oid, sequence, time, time_into, tlv,
    tlv_into, unsigned,
};

const AUTHORITY_KEY_IDENTIFIER: &str = "2.5.29.35";
const CRL_NUMBER: &str = "2.5.29.20";
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const INVALIDITY_DATE: &str = "2.5.29.24";

/// What goes into one CRL besides its entries.
pub struct CrlHeader<'a> {
    /// The CA certificate's subject, DER.
    pub issuer_name: &'a [u8],
    /// The CA certificate's subject key identifier.
    pub authority_key_id: &'a [u8],
    pub number: u64,
    /// Set for a delta CRL: the number of its base.
    pub base_number: Option<u64>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// The TBSCertList of a CRL signed by a key of `spec`.
pub fn tbs(header: &CrlHeader<'_>, entries: &[CrlEntry], spec: KeySpec) -> Result<Vec<u8>, CommandError> {
    let version = integer(1)?;
    let revoked = if entries.is_empty() {
        // §5.1.2.6: with no revoked certificates the list is absent, not empty.
        Vec::new()
    } else {
        let mut all = Vec::with_capacity(entries.len() * 52);
        let mut scratch = Vec::with_capacity(64);
        for entry in entries {
            revoked_certificate(entry, &mut scratch, &mut all)?;
        }
        tlv(0x30, &all)
    };
    let aki = sequence(&[&tlv(0x80, header.authority_key_id)]);
    let mut extensions = vec![
        extension(AUTHORITY_KEY_IDENTIFIER, false, &aki)?,
        extension(CRL_NUMBER, false, &integer(header.number)?)?,
    ];
    if let Some(base) = header.base_number {
        extensions.push(extension(DELTA_CRL_INDICATOR, true, &integer(base)?)?);
    }
    Ok(sequence(&[
        &version,
        &algorithm_identifier(spec)?,
        header.issuer_name,
        &time(header.this_update)?,
        &time(header.next_update)?,
        &revoked,
        &explicit(0, &sequence(&extensions.iter().map(Vec::as_slice).collect::<Vec<_>>())),
    ]))
}

/// The CertificateList: `tbs`, the algorithm again, and the engine's signature over `tbs`.
pub fn assemble(tbs: &[u8], spec: KeySpec, signature: &[u8]) -> Result<Vec<u8>, CommandError> {
    let bits = tlv(BIT_STRING, &[&[0u8][..], signature].concat());
    Ok(sequence(&[tbs, &algorithm_identifier(spec)?, &bits]))
}

/// The reasonCode extension (§5.3.1) up to its value: SEQUENCE { OID 2.5.29.21, OCTET STRING {
/// ENUMERATED } }. A CRL has an entry per revoked certificate, so the one entry part that never
/// changes is written from here rather than encoded afresh each time.
const REASON_CODE_EXTENSION: [u8; 11] = [0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, ENUMERATED, 0x01];

/// Appends one revokedCertificates entry to `out`, built in `scratch`.
fn revoked_certificate(entry: &CrlEntry, scratch: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<(), CommandError> {
    scratch.clear();
    let serial = serial_octets(entry)?;
    scratch.extend_from_slice(&unsigned(&serial)?);
    time_into(scratch, entry.revoked_at)?;
    // §5.3.1: the reason code unspecified SHOULD be absent.
    let reason = entry.reason != RevocationReason::Unspecified;
    if reason || entry.invalidity_date.is_some() {
        let mut extensions = Vec::with_capacity(40);
        if reason {
            extensions.extend_from_slice(&REASON_CODE_EXTENSION);
            extensions.push(entry.reason as u8);
        }
        if let Some(invalid_since) = entry.invalidity_date {
            extensions.extend(extension(INVALIDITY_DATE, false, &generalized_time(invalid_since)?)?);
        }
        tlv_into(scratch, 0x30, &extensions);
    }
    tlv_into(out, 0x30, scratch);
    Ok(())
}

/// The serial number's octets from its hex (at most 20 octets: `SerialNumber` checks).
fn serial_octets(entry: &CrlEntry) -> Result<Vec<u8>, CommandError> {
    let hex = entry.serial.as_str().as_bytes();
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut octets = Vec::with_capacity(hex.len().div_ceil(2));
    // An odd count of digits reads as if led by a zero.
    let (first, rest) = if hex.len() % 2 == 1 { hex.split_at(1) } else { hex.split_at(0) };
    if let Some(c) = first.first() {
        octets.push(digit(*c).ok_or_else(|| bad_serial(entry))?);
    }
    for pair in rest.chunks(2) {
        let (high, low) = (digit(pair[0]), pair.get(1).and_then(|c| digit(*c)));
        octets.push(high.zip(low).map(|(h, l)| h << 4 | l).ok_or_else(|| bad_serial(entry))?);
    }
    Ok(octets)
}

fn bad_serial(entry: &CrlEntry) -> CommandError {
    CommandError::Internal(format!("serial {} is not hex", entry.serial))
}

/// The signature AlgorithmIdentifier for a key: the algorithm every engine signs with
/// (`CryptoEngine`): PKCS#1 v1.5 SHA-256 for RSA, ECDSA with the curve's hash, Ed25519.
pub fn algorithm_identifier(spec: KeySpec) -> Result<Vec<u8>, CommandError> {
    const NULL: [u8; 2] = [0x05, 0x00];
    Ok(match (spec.key_type, spec.bits) {
        (KeyType::Rsa, _) => sequence(&[&oid("1.2.840.113549.1.1.11")?, &NULL]),
        (KeyType::Ecdsa, 384) => sequence(&[&oid("1.2.840.10045.4.3.3")?]),
        (KeyType::Ecdsa, 521) => sequence(&[&oid("1.2.840.10045.4.3.4")?]),
        (KeyType::Ecdsa, _) => sequence(&[&oid("1.2.840.10045.4.3.2")?]),
        (KeyType::Ed25519, _) => sequence(&[&oid("1.3.101.112")?]),
    })
}

/// The DER CRL as PEM (`X509 CRL`).
pub fn pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("X509 CRL", der.to_vec()))
}

#[cfg(test)]
mod tests {
    use shedu_domain::ids::SerialNumber;
    use time::macros::datetime;
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;

    use super::*;

    #[test]
    fn a_delta_crl_reads_back_with_its_entries_numbers_and_reasons() {
        let name =
            [0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'r', b'o', b'o', b't'];
        let header = CrlHeader {
            issuer_name: &name,
            authority_key_id: &[0xaa; 20],
            number: 300,
            base_number: Some(299),
            this_update: datetime!(2026-12-03 12:00 UTC),
            next_update: datetime!(2051-01-01 0:00 UTC),
        };
        let entries = [
            CrlEntry {
                serial: SerialNumber::parse("ff01").unwrap(),
                revoked_at: datetime!(2026-12-02 8:00 UTC),
                reason: RevocationReason::KeyCompromise,
                invalidity_date: Some(datetime!(2026-12-01 0:00 UTC)),
            },
            CrlEntry {
                serial: SerialNumber::parse("abc").unwrap(),
                revoked_at: datetime!(2026-12-02 9:00 UTC),
                reason: RevocationReason::Unspecified,
                invalidity_date: None,
            },
        ];
        let spec = KeySpec::parse("ECDSA", 256).unwrap();
        let tbs = tbs(&header, &entries, spec).unwrap();
        let der = assemble(&tbs, spec, &[0x30, 0x00]).unwrap();
        let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(crl.crl_number().map(|n| n.to_u64_digits()), Some(vec![300]));
        assert_eq!(crl.tbs_cert_list.issuer.to_string(), "CN=root");
        assert_eq!(crl.next_update().map(|t| t.timestamp()), Some(datetime!(2051-01-01 0:00 UTC).unix_timestamp()));
        let listed: Vec<(Vec<u8>, Option<u8>)> = crl
            .iter_revoked_certificates()
            .map(|r| (r.raw_serial().to_vec(), r.reason_code().map(|(_, code)| code.0)))
            .collect();
        assert_eq!(listed, [(vec![0x00, 0xff, 0x01], Some(1)), (vec![0x0a, 0xbc], None)]);
        let delta = crl.extensions().iter().find(|e| e.oid.to_id_string() == DELTA_CRL_INDICATOR).unwrap();
        assert!(delta.critical);
    }

    #[test]
    fn the_written_reason_code_extension_is_the_encoded_one() {
        let encoded = extension("2.5.29.21", false, &tlv(ENUMERATED, &[1])).unwrap();
        assert_eq!(encoded, [&REASON_CODE_EXTENSION[..], &[1]].concat());
    }

    #[test]
    fn an_empty_crl_has_no_revoked_list() {
        let header = CrlHeader {
            issuer_name: &[0x30, 0x00],
            authority_key_id: &[1; 20],
            number: 1,
            base_number: None,
            this_update: datetime!(2026-12-03 12:00 UTC),
            next_update: datetime!(2026-12-04 12:00 UTC),
        };
        let spec = KeySpec::parse("RSA", 2048).unwrap();
        let der = assemble(&tbs(&header, &[], spec).unwrap(), spec, &[1, 2, 3]).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
        assert_eq!(crl.signature_algorithm.algorithm.to_id_string(), "1.2.840.113549.1.1.11");
    }
}
