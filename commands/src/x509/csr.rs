//! Certificate signing requests: parsed strictly (one PEM block or one DER value), their
//! signature checked against the allow-list (proof of possession), their names checked by the
//! domain's rules, and reduced to what an issuance profile looks at.

use base64::Engine;
use shedu_domain::DomainError;
use shedu_domain::issuance::{CsrFacts, MIN_RSA_BITS};
use shedu_domain::key::KeyType;
use shedu_domain::names::SubjectAltName;
use shedu_domain::usage::{ExtendedKeyUsage, KeyUsage};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Name};

use crate::x509::keys::key_spec;
use crate::x509::parse::{check_name_text, subject};
use crate::x509::pem_text;
use crate::x509::verify::{Refusal, verify};

/// The largest RSA key Shedu certifies.
const MAX_RSA_BITS: u32 = 8192;
/// A request larger than this is not a certificate request anyone needs (an RSA-8192 CSR with
/// 100 names is under 8 KiB).
const MAX_CSR_BYTES: usize = 64 * 1024;

/// A CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    pub facts: CsrFacts,
    /// DER SubjectPublicKeyInfo of the requested key.
    pub spki_der: Vec<u8>,
}

/// Accepts one PEM block (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or base64 DER.
pub fn parse_csr(text: &str) -> Result<ParsedCsr, DomainError> {
    let bad = |m: &str| DomainError::invalid("csr", m.to_owned());
    if text.len() > MAX_CSR_BYTES {
        return Err(bad("larger than 64 KiB"));
    }
    let text = text.trim();
    let der = if text.starts_with("-----BEGIN") {
        pem_text::one_block(text, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], "csr")?
    } else {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad("neither PEM nor base64 DER"))?
    };
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok(([], csr)) => csr,
        Ok(_) => return Err(bad("trailing bytes after the request")),
        Err(_) => return Err(bad("not a PKCS#10 request")),
    };
    let info = &csr.certification_request_info;
    // PKCS#10 (RFC 2986 §4.1) knows version 0 only.
    if info.version.0 != 0 {
        return Err(bad("not a version 1 (0) request"));
    }
    let (key_type, bits) = key_spec(&info.subject_pki).map_err(|e| bad(&e))?;
    // RFC 5758 §3.2, RFC 8410 §3: ECDSA and Ed25519 signature algorithms carry no parameters.
    if key_type != KeyType::Rsa && csr.signature_algorithm.parameters.is_some() {
        return Err(bad("the signature algorithm carries parameters it must not have"));
    }
    // Checked before the signature, so that a weak key is reported as weak, not as a forgery.
    if key_type == KeyType::Rsa && bits < MIN_RSA_BITS {
        return Err(DomainError::WeakKey { bits });
    }
    match verify(&csr.signature_algorithm, &info.subject_pki, info.raw, csr.signature_value.as_ref()) {
        Ok(()) => {}
        Err(Refusal::NotAllowed(algorithm)) => return Err(DomainError::AlgorithmNotAllowed { algorithm }),
        Err(Refusal::KeyTooLarge(bits)) => return Err(DomainError::KeyTooLarge { bits }),
        Err(Refusal::Invalid) => return Err(bad("the request's signature does not verify (no proof of possession)")),
    }
    if key_type == KeyType::Rsa && bits > MAX_RSA_BITS {
        return Err(DomainError::KeyTooLarge { bits });
    }
    check_subject(&info.subject)?;
    let mut key_usage = Vec::new();
    let mut extended_key_usage = Vec::new();
    let mut subject_alt_names = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::KeyUsage(ku) => {
                for (set, usage) in [
                    (ku.digital_signature(), KeyUsage::DigitalSignature),
                    (ku.non_repudiation(), KeyUsage::ContentCommitment),
                    (ku.key_encipherment(), KeyUsage::KeyEncipherment),
                    (ku.data_encipherment(), KeyUsage::DataEncipherment),
                    (ku.key_agreement(), KeyUsage::KeyAgreement),
                    (ku.key_cert_sign(), KeyUsage::CertSign),
                    (ku.crl_sign(), KeyUsage::CrlSign),
                ] {
                    if set {
                        key_usage.push(usage);
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                for (set, usage) in [
                    (eku.any, ExtendedKeyUsage::Any),
                    (eku.server_auth, ExtendedKeyUsage::ServerAuth),
                    (eku.client_auth, ExtendedKeyUsage::ClientAuth),
                    (eku.code_signing, ExtendedKeyUsage::CodeSigning),
                    (eku.email_protection, ExtendedKeyUsage::EmailProtection),
                    (eku.time_stamping, ExtendedKeyUsage::TimeStamping),
                    (eku.ocsp_signing, ExtendedKeyUsage::OcspSigning),
                ] {
                    if set {
                        extended_key_usage.push(usage);
                    }
                }
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                // RFC 5280 §4.2: an extension appears at most once.
                if !subject_alt_names.is_empty() {
                    return Err(bad("more than one subjectAltName extension"));
                }
                if subject_alt_names.len() + san.general_names.len() > SubjectAltName::MAX_PER_CERTIFICATE {
                    return Err(DomainError::TooManySubjectAltNames { limit: SubjectAltName::MAX_PER_CERTIFICATE });
                }
                for name in &san.general_names {
                    subject_alt_names.push(subject_alt_name(name, subject_alt_names.len())?);
                }
            }
            _ => {}
        }
    }
    if let Some(index) = (1..subject_alt_names.len()).find(|&i| subject_alt_names[..i].contains(&subject_alt_names[i]))
    {
        return Err(DomainError::InvalidSubjectAltName {
            entry: format!("#{}", index + 1),
            reason: "repeats an earlier entry".into(),
        });
    }
    Ok(ParsedCsr {
        facts: CsrFacts {
            subject: subject(&info.subject),
            key_type,
            bits,
            key_usage,
            extended_key_usage,
            subject_alt_names,
        },
        spki_der: info.subject_pki.raw.to_vec(),
    })
}

/// The CSR's subject must read the same to every relying party, and Shedu keeps one value of
/// each attribute it records: a second one would be silently dropped.
fn check_subject(name: &X509Name<'_>) -> Result<(), DomainError> {
    check_name_text(name, "subject")?;
    let recorded = [
        ("subject.common_name", name.iter_common_name().count()),
        ("subject.organization", name.iter_organization().count()),
        ("subject.organization_unit", name.iter_organizational_unit().count()),
        ("subject.country", name.iter_country().count()),
        ("subject.state", name.iter_state_or_province().count()),
        ("subject.locality", name.iter_locality().count()),
    ];
    match recorded.into_iter().find(|(_, count)| *count > 1) {
        Some((field, _)) => {
            Err(DomainError::SubjectNotAcceptable { field: field.to_owned(), message: "appears more than once".into() })
        }
        None => Ok(()),
    }
}

fn subject_alt_name(name: &GeneralName<'_>, index: usize) -> Result<SubjectAltName, DomainError> {
    match name {
        GeneralName::DNSName(dns) => SubjectAltName::dns(dns, index),
        GeneralName::RFC822Name(mail) => SubjectAltName::email(mail, index),
        GeneralName::URI(uri) => SubjectAltName::uri(uri, index),
        GeneralName::IPAddress(octets) => SubjectAltName::ip(octets, index),
        _ => Err(DomainError::InvalidSubjectAltName {
            entry: format!("#{}", index + 1),
            reason: "is of a type Shedu does not certify (DNS, IP, email and URI only)".into(),
        }),
    }
}
