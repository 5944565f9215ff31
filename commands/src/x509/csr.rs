//! Certificate signing requests: parsed, signature-checked (proof of possession), and reduced to
//! what an issuance profile looks at.

use std::net::IpAddr;

use base64::Engine;
use rcgen::SanType;
use shedu_domain::DomainError;
use shedu_domain::issuance::{CsrFacts, MIN_RSA_BITS};
use shedu_domain::key::KeyType;
use shedu_domain::usage::{ExtendedKeyUsage, KeyUsage};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::x509::parse::{key_spec, subject};

/// A CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    pub facts: CsrFacts,
    /// DER SubjectPublicKeyInfo of the requested key.
    pub spki_der: Vec<u8>,
    pub subject_alt_names: Vec<SanType>,
}

/// Accepts PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or base64 DER.
pub fn parse_csr(text: &str) -> Result<ParsedCsr, DomainError> {
    let bad = |m: &str| DomainError::invalid("csr", m.to_owned());
    let text = text.trim();
    let der = if text.starts_with("-----BEGIN") {
        let block = pem::parse(text).map_err(|_| bad("not valid PEM"))?;
        if !matches!(block.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") {
            return Err(bad(&format!("expected a CERTIFICATE REQUEST, found {}", block.tag())));
        }
        block.into_contents()
    } else {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| bad("neither PEM nor base64 DER"))?
    };
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok(([], csr)) => csr,
        Ok(_) => return Err(bad("trailing bytes after the request")),
        Err(e) => return Err(bad(&format!("not a PKCS#10 request: {e}"))),
    };
    let info = &csr.certification_request_info;
    let (key_type, bits) = key_spec(&info.subject_pki).map_err(|e| bad(&e))?;
    // Checked before the signature: the verifier refuses weak RSA outright, which would
    // misreport a weak key as a forged request.
    if key_type == KeyType::Rsa && bits < MIN_RSA_BITS {
        return Err(DomainError::WeakKey { bits });
    }
    csr.verify_signature().map_err(|_| bad("the request's signature does not verify (no proof of possession)"))?;
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
                for name in &san.general_names {
                    subject_alt_names.push(san_type(name)?);
                }
            }
            _ => {}
        }
    }
    Ok(ParsedCsr {
        facts: CsrFacts {
            subject: subject(&info.subject),
            key_type,
            bits,
            key_usage,
            extended_key_usage,
            has_subject_alt_names: !subject_alt_names.is_empty(),
        },
        spki_der: info.subject_pki.raw.to_vec(),
        subject_alt_names,
    })
}

/// A DNS name a certificate may carry: LDH labels of 1-63 characters, at most 253 in all, and
/// an optional leading `*.` wildcard label (RFC 1034 §3.5, RFC 5280 §4.2.1.6, RFC 6125).
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn valid_mailbox(mail: &str) -> bool {
    mail.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && valid_dns_name(domain) && !mail.contains(' '))
}

fn valid_uri(uri: &str) -> bool {
    uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !uri.contains(' ')
    })
}

fn san_type(name: &GeneralName<'_>) -> Result<SanType, DomainError> {
    let bad = |m: String| DomainError::invalid("csr", m);
    match name {
        GeneralName::DNSName(dns) if !valid_dns_name(dns) => Err(bad(format!("'{dns}' is not a valid DNS name"))),
        GeneralName::RFC822Name(mail) if !valid_mailbox(mail) => {
            Err(bad(format!("'{mail}' is not a valid e-mail address")))
        }
        GeneralName::URI(uri) if !valid_uri(uri) => Err(bad(format!("'{uri}' is not a valid URI"))),
        GeneralName::DNSName(dns) => {
            Ok(SanType::DnsName((*dns).try_into().map_err(|_| bad(format!("'{dns}' is not an IA5 DNS name")))?))
        }
        GeneralName::RFC822Name(mail) => {
            Ok(SanType::Rfc822Name((*mail).try_into().map_err(|_| bad(format!("'{mail}' is not an IA5 e-mail")))?))
        }
        GeneralName::URI(uri) => {
            Ok(SanType::URI((*uri).try_into().map_err(|_| bad(format!("'{uri}' is not an IA5 URI")))?))
        }
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Ok(SanType::IpAddress(IpAddr::from(<[u8; 4]>::try_from(*bytes).map_err(|_| bad("bad IPv4".into()))?))),
            16 => {
                Ok(SanType::IpAddress(IpAddr::from(<[u8; 16]>::try_from(*bytes).map_err(|_| bad("bad IPv6".into()))?)))
            }
            n => Err(bad(format!("an IP address SAN of {n} bytes"))),
        },
        other => Err(bad(format!("unsupported subjectAltName type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_syntax_is_checked() {
        assert!(valid_dns_name("svc.example.test") && valid_dns_name("*.example.test") && valid_dns_name("localhost"));
        assert!(
            !valid_dns_name("")
                && !valid_dns_name("bad name.test")
                && !valid_dns_name("-a.test")
                && !valid_dns_name("a..b")
        );
        assert!(valid_mailbox("ops@example.test") && !valid_mailbox("@example.test") && !valid_mailbox("ops"));
        assert!(
            valid_uri("https://example.test/x")
                && valid_uri("urn:uuid:1")
                && !valid_uri("no scheme")
                && !valid_uri("1x:y")
        );
    }
}
