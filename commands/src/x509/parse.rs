//! Reading PEM and X.509 into the domain's [`CertificateInfo`], with x509-parser (not rcgen, which
//! wrote most of these certificates).

use sha1::{Digest, Sha1};
use shedu_domain::DomainError;
use shedu_domain::ca::CaType;
use shedu_domain::certificate::CertificateInfo;
use shedu_domain::ids::SerialNumber;
use shedu_domain::key::KeyMetadata;
use shedu_domain::names::check_attribute;
use shedu_domain::subject::Subject;
use time::OffsetDateTime;
use x509_parser::prelude::{ASN1Time, AttributeTypeAndValue, FromDer, ParsedExtension, X509Certificate, X509Name};

use crate::CommandError;
use crate::x509::keys::key_spec;
use crate::x509::pem_text;
use crate::x509::verify::verify;

/// The DER of every `CERTIFICATE` block in `pem`, in order, with nothing but whitespace around.
pub fn certificates_from_pem(pem: &str, field: &str) -> Result<Vec<Vec<u8>>, DomainError> {
    pem_text::blocks(pem, &["CERTIFICATE"], field)
}

pub fn to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// What a CA signs with besides its key: its subject name, DER byte for byte, and its key
/// identifier (its SKI, else RFC 5280 §4.2.1.2 method 1, the SHA-1 of its key), which becomes
/// the authority key identifier of what it signs.
pub fn issuer_facts(ca_certificate_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CommandError> {
    let (_, certificate) = X509Certificate::from_der(ca_certificate_der)
        .map_err(|e| CommandError::Internal(format!("issuer certificate unreadable: {e}")))?;
    let key_identifier = certificate
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .unwrap_or_else(|| Sha1::digest(certificate.public_key().subject_public_key.as_ref()).to_vec());
    Ok((certificate.subject().as_raw().to_vec(), key_identifier))
}

/// Parses a DER certificate completely (no trailing bytes) into its recorded facts.
pub fn certificate_info(der: &[u8], field: &str) -> Result<CertificateInfo, DomainError> {
    let cert = parse(der, field)?;
    let bad = |m: String| DomainError::invalid(field, m);
    let (key_type, bits) = key_spec(cert.public_key()).map_err(bad)?;
    let subject_key_id = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(hex::encode(id.0)),
            _ => None,
        })
        .unwrap_or_else(|| hex::encode(Sha1::digest(cert.public_key().subject_public_key.as_ref())));
    let authority_key_id = cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| hex::encode(id.0)),
        _ => None,
    });
    let basic = cert.basic_constraints().map_err(|e| bad(format!("bad BasicConstraints: {e}")))?;
    let mut serial = cert.raw_serial();
    while serial.len() > 1 && serial[0] == 0 {
        serial = &serial[1..];
    }
    Ok(CertificateInfo {
        serial_number: SerialNumber::from_bytes(serial),
        pem: to_pem(der),
        subject: subject(cert.subject()),
        issuer: subject(cert.issuer()),
        subject_key_id,
        authority_key_id,
        valid_from: to_time(cert.validity().not_before)?,
        valid_to: to_time(cert.validity().not_after)?,
        key_metadata: KeyMetadata::new(key_type, bits),
        key_usage: key_usage(&cert).map_err(bad)?,
        extended_key_usage: extended_key_usage(&cert).map_err(bad)?,
        is_ca: basic.as_ref().is_some_and(|b| b.value.ca),
        path_len_constraint: basic.and_then(|b| b.value.path_len_constraint),
    })
}

/// Refuses a certificate whose subject or issuer name carries unreadable or unsafe text.
pub fn check_names(der: &[u8], field: &str) -> Result<(), DomainError> {
    let cert = parse(der, field)?;
    check_name_text(cert.subject(), &format!("{field}.subject"))?;
    check_name_text(cert.issuer(), &format!("{field}.issuer"))
}

/// Refuses a CA certificate whose constraints Shedu would not honour in what it signs: a
/// critical extension it does not know (relying parties reject every chain through it), and,
/// for a CA that will sign here, name constraints, which Shedu does not apply to the names it
/// certifies yet.
pub fn check_constraints(der: &[u8], ca_type: CaType) -> Result<(), DomainError> {
    let cert = parse(der, "certificate")?;
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. } if ext.critical => {
                return Err(DomainError::NotAnIssuer { reason: "it has a critical extension Shedu does not know" });
            }
            ParsedExtension::NameConstraints(_) if ca_type == CaType::ImportedWithKey => {
                return Err(DomainError::NotAnIssuer {
                    reason: "it has name constraints, which Shedu does not apply to what it signs yet",
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub fn spki_der(certificate_der: &[u8]) -> Result<Vec<u8>, DomainError> {
    Ok(parse(certificate_der, "certificate")?.public_key().raw.to_vec())
}

/// How a certificate relates to a candidate issuer, by RFC 5280's name chaining (§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The child's issuer name is the candidate's subject, its AKI (when both carry key
    /// identifiers) the candidate's SKI, and the candidate's key made its signature with an
    /// allowed algorithm.
    Issued,
    /// Named and identified as the candidate, but not signed by its key: a forgery, or a
    /// broken certificate.
    Forged,
    /// Names another issuer.
    Unrelated,
}

/// How `child_der` relates to `issuer_der` (the same DER for its own self-signature).
pub fn link(child_der: &[u8], issuer_der: &[u8]) -> Link {
    let (Ok(child), Ok(issuer)) = (parse(child_der, "certificate"), parse(issuer_der, "issuer")) else {
        return Link::Unrelated;
    };
    let key_ids_agree = match (authority_key_id(&child), subject_key_id(&issuer)) {
        (Some(authority), Some(subject)) => authority == subject,
        _ => true,
    };
    if !names_match(child.issuer(), issuer.subject()) || !key_ids_agree {
        return Link::Unrelated;
    }
    let signed = verify(
        &child.signature_algorithm,
        issuer.public_key(),
        child.tbs_certificate.as_ref(),
        child.signature_value.as_ref(),
    );
    if signed.is_ok() { Link::Issued } else { Link::Forged }
}

/// RFC 5280 §7.1: names match byte for byte, or attribute by attribute ignoring case and
/// runs of spaces (an approximation of RFC 4518's preparation).
fn names_match(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    let normalised = |name: &X509Name<'_>| -> Option<Vec<(String, String)>> {
        name.iter_attributes()
            .map(|attribute| {
                let value = attribute.as_str().ok()?.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
                Some((attribute.attr_type().to_id_string(), value))
            })
            .collect()
    };
    a.as_raw() == b.as_raw() || normalised(a).is_some_and(|a| Some(a) == normalised(b))
}

fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
        _ => None,
    })
}

fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| id.0),
        _ => None,
    })
}

fn parse<'a>(der: &'a [u8], field: &str) -> Result<X509Certificate<'a>, DomainError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(DomainError::invalid(field, "trailing bytes after the certificate")),
        Err(e) => Err(DomainError::invalid(field, format!("not an X.509 certificate: {e}"))),
    }
}

/// Refuses a name with an attribute that is not readable text (invalid UTF-8, an unknown string
/// type) or that carries control, bidirectional-override or invisible characters.
pub(crate) fn check_name_text(name: &X509Name<'_>, field: &str) -> Result<(), DomainError> {
    for attribute in name.iter_attributes() {
        let oid = attribute.attr_type().to_id_string();
        let named = match oid.as_str() {
            "2.5.4.3" => "common_name",
            "2.5.4.10" => "organization",
            "2.5.4.11" => "organization_unit",
            "2.5.4.6" => "country",
            "2.5.4.8" => "state",
            "2.5.4.7" => "locality",
            other => other,
        };
        let attribute_field = format!("{field}.{named}");
        let text = attribute_text(attribute).ok_or_else(|| DomainError::SubjectNotAcceptable {
            field: attribute_field.clone(),
            message: "is not text Shedu reads (UTF8String, PrintableString, IA5String, BMPString, UniversalString)"
                .into(),
        })?;
        check_attribute(&attribute_field, &text)?;
    }
    Ok(())
}

/// An attribute's text: the string types x509-parser reads, and the legacy BMPString (UTF-16BE)
/// and UniversalString (UTF-32BE) some old roots carry. Invalid encodings read as nothing.
fn attribute_text(attribute: &AttributeTypeAndValue<'_>) -> Option<String> {
    if let Ok(text) = attribute.as_str() {
        return Some(text.to_owned());
    }
    let value = attribute.attr_value();
    match value.tag().0 {
        30 if value.data.len() % 2 == 0 => {
            let units: Vec<u16> = value.data.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        28 if value.data.len() % 4 == 0 => {
            value.data.chunks(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        _ => None,
    }
}

pub(crate) fn subject(name: &X509Name<'_>) -> Subject {
    let first = |mut it: Box<dyn Iterator<Item = &AttributeTypeAndValue<'_>> + '_>| {
        it.next().and_then(attribute_text).unwrap_or_default()
    };
    Subject {
        common_name: first(Box::new(name.iter_common_name())),
        organization: first(Box::new(name.iter_organization())),
        organization_unit: first(Box::new(name.iter_organizational_unit())),
        country: first(Box::new(name.iter_country())),
        state: first(Box::new(name.iter_state_or_province())),
        locality: first(Box::new(name.iter_locality())),
    }
}

fn to_time(t: ASN1Time) -> Result<OffsetDateTime, DomainError> {
    Ok(t.to_datetime())
}

fn key_usage(cert: &X509Certificate<'_>) -> Result<Vec<String>, String> {
    let Some(ku) = cert.key_usage().map_err(|e| format!("bad KeyUsage: {e}"))? else {
        return Ok(vec![]);
    };
    let ku = ku.value;
    Ok([
        (ku.digital_signature(), "DigitalSignature"),
        (ku.non_repudiation(), "ContentCommitment"),
        (ku.key_encipherment(), "KeyEncipherment"),
        (ku.data_encipherment(), "DataEncipherment"),
        (ku.key_agreement(), "KeyAgreement"),
        (ku.key_cert_sign(), "CertSign"),
        (ku.crl_sign(), "CRLSign"),
        (ku.encipher_only(), "EncipherOnly"),
        (ku.decipher_only(), "DecipherOnly"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name.to_owned())
    .collect())
}

fn extended_key_usage(cert: &X509Certificate<'_>) -> Result<Vec<String>, String> {
    let Some(eku) = cert.extended_key_usage().map_err(|e| format!("bad ExtendedKeyUsage: {e}"))? else {
        return Ok(vec![]);
    };
    let eku = eku.value;
    let mut names: Vec<String> = [
        (eku.any, "Any"),
        (eku.server_auth, "ServerAuth"),
        (eku.client_auth, "ClientAuth"),
        (eku.code_signing, "CodeSigning"),
        (eku.email_protection, "EmailProtection"),
        (eku.time_stamping, "TimeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name.to_owned())
    .collect();
    names.extend(eku.other.iter().map(|oid| oid.to_id_string()));
    Ok(names)
}
