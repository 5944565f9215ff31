//! DER that Shedu writes itself (CRLs, OCSP responses, the issuer splice): TLVs assembled from
//! contents, with the `der` crate encoding the leaves whose rules are easy to get wrong
//! (integers, object identifiers). Times are written here: the `der` crate's start in 1970, and
//! an invalidity date may lie before.

use der::Encode;
use der::asn1::{ObjectIdentifier, UintRef};
use time::OffsetDateTime;

use crate::CommandError;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const BOOLEAN_TRUE: [u8; 3] = [0x01, 0x01, 0xff];

/// A DER TLV with a definite length in its shortest form.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    tlv_into(&mut out, tag, contents);
    out
}

/// [`tlv`], appended to `out`: for the many small values of a long list, without a buffer each.
pub(crate) fn tlv_into(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    match contents.len() {
        n if n < 0x80 => out.push(n as u8),
        n => {
            let bytes = n.to_be_bytes();
            let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len() - 1);
            out.push(0x80 | (bytes.len() - first) as u8);
            out.extend_from_slice(&bytes[first..]);
        }
    }
    out.extend_from_slice(contents);
}

pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// `[n] EXPLICIT`, constructed.
pub(crate) fn explicit(n: u8, contents: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, contents)
}

fn encoded(value: &impl Encode) -> Result<Vec<u8>, CommandError> {
    value.to_der().map_err(|e| CommandError::Internal(format!("cannot encode DER: {e}")))
}

/// A non-negative INTEGER from its big-endian magnitude (leading zeros allowed).
pub(crate) fn unsigned(magnitude: &[u8]) -> Result<Vec<u8>, CommandError> {
    let trimmed = match magnitude.iter().position(|b| *b != 0) {
        Some(first) => &magnitude[first..],
        None => &[0u8][..],
    };
    encoded(&UintRef::new(trimmed).map_err(|e| CommandError::Internal(format!("cannot encode an integer: {e}")))?)
}

pub(crate) fn integer(n: u64) -> Result<Vec<u8>, CommandError> {
    unsigned(&n.to_be_bytes())
}

pub(crate) fn oid(dotted: &str) -> Result<Vec<u8>, CommandError> {
    let oid = ObjectIdentifier::new(dotted).map_err(|e| CommandError::Internal(format!("bad OID {dotted}: {e}")))?;
    encoded(&oid)
}

/// RFC 5280 §4.1.2.5: UTCTime from 1950 through 2049, GeneralizedTime otherwise; whole seconds,
/// in UTC.
pub(crate) fn time(at: OffsetDateTime) -> Result<Vec<u8>, CommandError> {
    let mut out = Vec::with_capacity(17);
    time_into(&mut out, at)?;
    Ok(out)
}

/// [`time`], appended to `out`.
pub(crate) fn time_into(out: &mut Vec<u8>, at: OffsetDateTime) -> Result<(), CommandError> {
    let at = at.to_offset(time::UtcOffset::UTC);
    if (1950..=2049).contains(&at.year()) {
        out.extend_from_slice(&[0x17, 13]);
        two_digits(out, (at.year() % 100) as u8);
        clock(out, at);
        Ok(())
    } else {
        generalized_time_into(out, at)
    }
}

pub(crate) fn generalized_time(at: OffsetDateTime) -> Result<Vec<u8>, CommandError> {
    let mut out = Vec::with_capacity(17);
    generalized_time_into(&mut out, at)?;
    Ok(out)
}

fn generalized_time_into(out: &mut Vec<u8>, at: OffsetDateTime) -> Result<(), CommandError> {
    let at = at.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&at.year()) {
        return Err(CommandError::Internal(format!("{at} cannot be written as a GeneralizedTime")));
    }
    out.extend_from_slice(&[0x18, 15]);
    two_digits(out, (at.year() / 100) as u8);
    two_digits(out, (at.year() % 100) as u8);
    clock(out, at);
    Ok(())
}

/// `MMDDHHMMSSZ`.
fn clock(out: &mut Vec<u8>, at: OffsetDateTime) {
    for part in [u8::from(at.month()), at.day(), at.hour(), at.minute(), at.second()] {
        two_digits(out, part);
    }
    out.push(b'Z');
}

fn two_digits(out: &mut Vec<u8>, n: u8) {
    out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
}

/// An X.509 Extension: `extnID`, `critical` when set, `extnValue` wrapping `value`.
pub(crate) fn extension(id: &str, critical: bool, value: &[u8]) -> Result<Vec<u8>, CommandError> {
    let flag: &[u8] = if critical { &BOOLEAN_TRUE } else { &[] };
    Ok(sequence(&[&oid(id)?, flag, &tlv(OCTET_STRING, value)]))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn lengths_are_written_in_their_shortest_form() {
        for (n, header) in [(0usize, 2), (127, 2), (128, 3), (255, 3), (256, 4), (65_535, 4), (65_536, 5)] {
            assert_eq!(tlv(OCTET_STRING, &vec![7; n]).len() - n, header, "{n}");
        }
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(0).unwrap(), [0x02, 0x01, 0x00]);
        assert_eq!(integer(127).unwrap(), [0x02, 0x01, 0x7f]);
        assert_eq!(integer(128).unwrap(), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned(&[0x00, 0x00, 0x9c]).unwrap(), [0x02, 0x02, 0x00, 0x9c]);
    }

    #[test]
    fn times_are_utc_from_1950_to_2049_and_generalized_outside() {
        assert_eq!(time(datetime!(2049-12-31 23:59:59 UTC)).unwrap()[0], 0x17);
        assert_eq!(time(datetime!(2050-01-01 00:00:00 UTC)).unwrap()[0], 0x18);
        assert_eq!(&time(datetime!(2026-12-03 12:00:00 UTC)).unwrap()[2..], b"261203120000Z");
        assert_eq!(&time(datetime!(1949-12-31 23:59:59 UTC)).unwrap()[..], b"\x18\x0f19491231235959Z");
        assert_eq!(&generalized_time(datetime!(0001-01-01 0:00 UTC)).unwrap()[2..], b"00010101000000Z");
        assert_eq!(&time(datetime!(2026-12-03 13:00:00 +1)).unwrap()[2..], b"261203120000Z");
    }
}
