//! The issuer's name, copied byte for byte into what it signs. rcgen writes an issuer name from
//! the attributes it parsed, kept in a map: repeated attribute types (`DC=com, DC=example`)
//! collapse into one and the chain breaks. So rcgen drafts the certificate with a placeholder in
//! place of the signature, the draft's issuer is replaced with the issuer's subject DER, and the
//! result is signed once, by the engine.

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::CommandError;
use crate::x509::der_out::tlv;
use crate::x509::signer::EngineSigner;

/// Stands in for the issuer's key while rcgen drafts: the same public key and algorithm, and
/// an empty signature.
pub(crate) struct Placeholder<'a>(pub(crate) &'a EngineSigner);

impl PublicKeyData for Placeholder<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl SigningKey for Placeholder<'_> {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

/// The certificate `draft` (DER) with `issuer_name` (a DER Name) as its issuer, signed by
/// `issuer_key`.
pub(crate) fn sign_with_issuer(
    draft: &[u8],
    issuer_name: &[u8],
    issuer_key: &EngineSigner,
) -> Result<Vec<u8>, CommandError> {
    let (tbs, rest) = split(contents(draft)?)?;
    let (signature_algorithm, _) = split(rest)?;
    // TBSCertificate: [0] version, serialNumber, signature, issuer, and the rest as drafted.
    let (version, fields) = split(contents(tbs)?)?;
    let (serial, fields) = split(fields)?;
    let (inner_algorithm, fields) = split(fields)?;
    let (_drafted_issuer, fields) = split(fields)?;
    if version.first() != Some(&0xa0) {
        return Err(malformed());
    }
    let tbs = tlv(0x30, &[version, serial, inner_algorithm, issuer_name, fields].concat());
    let signature = issuer_key.sign_message(&tbs)?;
    let bit_string = tlv(0x03, &[&[0u8][..], &signature].concat());
    Ok(tlv(0x30, &[&tbs[..], signature_algorithm, &bit_string].concat()))
}

fn malformed() -> CommandError {
    CommandError::Internal("rcgen drafted a certificate Shedu cannot read".into())
}

/// The first TLV of `der` and what follows it. Tags here are single octets (universal and
/// context-specific tags below 31), lengths definite.
fn split(der: &[u8]) -> Result<(&[u8], &[u8]), CommandError> {
    let (header, length) = header(der)?;
    let end = header.checked_add(length).filter(|end| *end <= der.len()).ok_or_else(malformed)?;
    Ok(der.split_at(end))
}

/// The contents of the TLV that `der` is.
fn contents(der: &[u8]) -> Result<&[u8], CommandError> {
    let (header, length) = header(der)?;
    if header + length != der.len() {
        return Err(malformed());
    }
    Ok(&der[header..])
}

/// The header's size and the contents' length.
fn header(der: &[u8]) -> Result<(usize, usize), CommandError> {
    let first = *der.get(1).ok_or_else(malformed)?;
    if first < 0x80 {
        return Ok((2, usize::from(first)));
    }
    let octets = usize::from(first & 0x7f);
    if octets == 0 || octets > 4 || der.len() < 2 + octets {
        return Err(malformed());
    }
    let length = der[2..2 + octets].iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
    Ok((2 + octets, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_overlong_input_is_refused() {
        assert!(split(&[0x30]).is_err());
        assert!(split(&[0x30, 0x05, 1, 2]).is_err());
        assert!(contents(&[0x30, 0x01, 1, 2]).is_err());
        assert!(header(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
    }
}
