//! CA certificates built with rcgen and signed by an engine-held key.
//!
//! Every field rcgen would default is set on purpose (see the machine notes on pkilint): validity,
//! a random positive serial, RFC 5280 method-1 key identifiers, AKI on everything but roots.

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm,
};
use sha1::{Digest, Sha1};
use shedu_domain::DomainError;
use shedu_domain::ca::CaCertificatePlan;
use shedu_domain::ids::CaId;
use shedu_domain::issuance::IssuancePlan;
use shedu_domain::key::KeySpec;
use shedu_domain::names::SubjectAltName;
use shedu_domain::subject::Subject;
use shedu_domain::usage::{ExtendedKeyUsage, KeyUsage};

use crate::CommandError;
use crate::x509::der_out;
use crate::x509::keys::{key_spec_of_spki, subject_public_key_bits};
use crate::x509::parse::issuer_facts;
use crate::x509::signer::{EngineSigner, signature_algorithm};
use crate::x509::splice::{Placeholder, sign_with_issuer};

/// A self-signed root CA certificate, DER.
pub fn self_signed_ca(plan: &CaCertificatePlan, key: &EngineSigner) -> Result<Vec<u8>, CommandError> {
    let params = ca_params(plan, key, false)?;
    let cert = params.self_signed(key).map_err(|e| key.failure(e))?;
    Ok(cert.der().to_vec())
}

/// Which CRLs Shedu publishes, and so names in what it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Publishing {
    #[default]
    Nothing,
    Full,
    FullAndDelta,
}

/// Where relying parties find what an issuer publishes: its CRL, its certificate (caIssuers)
/// and, where one answers, its OCSP responder (RFC 5280 §4.2.1.13, §4.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerUrls {
    /// None when Shedu publishes no CRLs.
    pub crl: Option<String>,
    /// The delta CRL (Freshest CRL, §4.2.1.15), when deltas are published: relying parties
    /// such as openssl only look for deltas where a certificate names one.
    pub delta_crl: Option<String>,
    pub ca_issuers: String,
    pub ocsp: Option<String>,
}

impl IssuerUrls {
    /// The URLs Shedu serves for `issuer` below `public_base_url`.
    pub fn below(public_base_url: &str, issuer: &CaId, crls: Publishing) -> Self {
        let base = public_base_url.trim_end_matches('/');
        IssuerUrls {
            crl: (crls != Publishing::Nothing).then(|| format!("{base}/v2/cas/{issuer}/crl")),
            delta_crl: (crls == Publishing::FullAndDelta).then(|| format!("{base}/v2/cas/{issuer}/crl?delta=true")),
            ca_issuers: format!("{base}/v2/cas/{issuer}/certificate"),
            ocsp: None,
        }
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), CommandError> {
        if let Some(crl) = &self.crl {
            params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![crl.clone()] }];
        }
        let access = |method: &str, uri: &str| -> Result<Vec<u8>, CommandError> {
            Ok(der_out::sequence(&[&der_out::oid(method)?, &der_out::tlv(0x86, uri.as_bytes())]))
        };
        let mut descriptions = Vec::new();
        if let Some(ocsp) = &self.ocsp {
            descriptions.push(access("1.3.6.1.5.5.7.48.1", ocsp)?);
        }
        descriptions.push(access("1.3.6.1.5.5.7.48.2", &self.ca_issuers)?);
        let value = der_out::tlv(der_out::SEQUENCE, &descriptions.concat());
        params.custom_extensions.push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], value));
        if let Some(delta) = &self.delta_crl {
            // CRLDistributionPoints syntax: one DistributionPoint whose fullName is the URI.
            let full_name = der_out::explicit(0, &der_out::tlv(0x86, delta.as_bytes()));
            let point = der_out::sequence(&[&der_out::explicit(0, &full_name)]);
            let value = der_out::sequence(&[&point]);
            params.custom_extensions.push(CustomExtension::from_oid_content(&[2, 5, 29, 46], value));
        }
        Ok(())
    }
}

/// A subordinate CA certificate for `subject_key`, signed by the issuer's key; DER.
pub fn subordinate_ca(
    plan: &CaCertificatePlan,
    subject_key: &EngineSigner,
    issuer_certificate_der: &[u8],
    issuer_key: EngineSigner,
    urls: Option<&IssuerUrls>,
) -> Result<Vec<u8>, CommandError> {
    let mut params = ca_params(plan, subject_key, true)?;
    if let Some(urls) = urls {
        urls.apply(&mut params)?;
    }
    signed_under(params, subject_key, issuer_certificate_der, &issuer_key)
}

fn ca_params(
    plan: &CaCertificatePlan,
    key: &EngineSigner,
    has_issuer: bool,
) -> Result<CertificateParams, CommandError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&plan.subject)?;
    params.not_before = plan.not_before;
    params.not_after = plan.not_after;
    params.serial_number = Some(random_serial()?.to_vec().into());
    params.is_ca = IsCa::Ca(basic_constraints(plan.path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = KeyIdMethod::PreSpecified(key.key_identifier());
    // RFC 5280 §4.2.1.1: AKI MUST be present except in self-signed certificates.
    params.use_authority_key_identifier_extension = has_issuer;
    Ok(params)
}

/// CA:TRUE with the pathLen given (profiles and the domain keep it at most 64).
fn basic_constraints(path_len: Option<u32>) -> BasicConstraints {
    match path_len {
        Some(n) => BasicConstraints::Constrained(n.min(u32::from(u8::MAX)) as u8),
        None => BasicConstraints::Unconstrained,
    }
}

pub fn distinguished_name(subject: &Subject) -> Result<DistinguishedName, CommandError> {
    let mut dn = DistinguishedName::new();
    // RFC 5280 §4.1.2.4 and Appendix A: countryName is a PrintableString.
    if !subject.country.is_empty() {
        let country = subject
            .country
            .clone()
            .try_into()
            .map_err(|_| DomainError::invalid("subject.country", "must be printable"))?;
        dn.push(DnType::CountryName, DnValue::PrintableString(country));
    }
    for (ty, value) in [
        (DnType::StateOrProvinceName, &subject.state),
        (DnType::LocalityName, &subject.locality),
        (DnType::OrganizationName, &subject.organization),
        (DnType::OrganizationalUnitName, &subject.organization_unit),
        (DnType::CommonName, &subject.common_name),
    ] {
        if !value.is_empty() {
            dn.push(ty, DnValue::Utf8String(value.clone()));
        }
    }
    Ok(dn)
}

/// 16 random bytes with the top bit cleared (a positive INTEGER) and the next set (no leading zero
/// octet, so the hex form always has 32 digits): 126 bits of entropy, well over CA/B's 64.
pub fn random_serial() -> Result<[u8; 16], CommandError> {
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| CommandError::Internal(format!("no randomness: {e}")))?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// `params` for `subject_key`, signed by the issuer's key, with the issuer's subject name copied
/// byte for byte from its certificate (see `splice`). rcgen only needs the issuer's key
/// identifier for the AKI: its SKI, else (RFC 5280 §4.2.1.2 method 1) the SHA-1 of its key. Its
/// name is never parsed by rcgen, which refuses some (multi-valued RDNs).
fn signed_under(
    params: CertificateParams,
    subject_key: &impl PublicKeyData,
    issuer_certificate_der: &[u8],
    issuer_key: &EngineSigner,
) -> Result<Vec<u8>, CommandError> {
    let (issuer_name, key_identifier) = issuer_facts(issuer_certificate_der)?;
    let mut issuer_params = CertificateParams::default();
    issuer_params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier);
    let issuer = Issuer::new(issuer_params, Placeholder(issuer_key));
    let draft = params.signed_by(subject_key, &issuer).map_err(signing_failed)?;
    sign_with_issuer(draft.der(), &issuer_name, issuer_key)
}

fn signing_failed(e: rcgen::Error) -> CommandError {
    CommandError::Internal(format!("certificate signing failed: {e}"))
}

/// A requested public key, as rcgen writes it into the certificate.
struct RequestedKey {
    raw: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl PublicKeyData for RequestedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

/// A certificate for a CSR's key, as the issuance plan says, signed by the issuer's key; DER.
pub fn issued_certificate(
    plan: &IssuancePlan,
    subject_spki_der: &[u8],
    issuer_certificate_der: &[u8],
    issuer_key: EngineSigner,
    urls: Option<&IssuerUrls>,
) -> Result<Vec<u8>, CommandError> {
    let raw = subject_public_key_bits(subject_spki_der).map_err(|e| DomainError::invalid("csr", e))?;
    let (key_type, bits) = key_spec_of_spki(subject_spki_der).map_err(|e| DomainError::invalid("csr", e))?;
    let subject_key = RequestedKey { algorithm: signature_algorithm(KeySpec { key_type, bits }), raw };
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&plan.subject)?;
    params.not_before = plan.not_before;
    params.not_after = plan.not_after;
    params.serial_number = Some(random_serial()?.to_vec().into());
    params.subject_alt_names = plan.subject_alt_names.iter().map(san_type).collect::<Result<_, _>>()?;
    params.is_ca = if plan.is_ca {
        IsCa::Ca(basic_constraints(plan.path_len))
    } else {
        // Explicit CA:FALSE: rcgen's NoCa would omit BasicConstraints and the SKI with it.
        IsCa::ExplicitNoCa
    };
    params.key_usages = plan.key_usage.iter().map(|u| key_usage_purpose(*u)).collect();
    params.extended_key_usages = plan.extended_key_usage.iter().map(|u| extended_key_usage_purpose(*u)).collect();
    params.key_identifier_method = KeyIdMethod::PreSpecified(Sha1::digest(&subject_key.raw).to_vec());
    params.use_authority_key_identifier_extension = true;
    if let Some(urls) = urls.filter(|_| plan.revocation_urls) {
        urls.apply(&mut params)?;
    }
    signed_under(params, &subject_key, issuer_certificate_der, &issuer_key)
}

/// A checked subjectAltName as rcgen writes it.
fn san_type(name: &SubjectAltName) -> Result<SanType, CommandError> {
    let ia5 =
        |text: &str| text.to_owned().try_into().map_err(|_| CommandError::Internal("a checked name is not IA5".into()));
    Ok(match name {
        SubjectAltName::Dns(dns) => SanType::DnsName(ia5(dns)?),
        SubjectAltName::Email(mail) => SanType::Rfc822Name(ia5(mail)?),
        SubjectAltName::Uri(uri) => SanType::URI(ia5(uri)?),
        SubjectAltName::Ip(ip) => SanType::IpAddress(*ip),
    })
}

fn key_usage_purpose(usage: KeyUsage) -> KeyUsagePurpose {
    match usage {
        KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
        KeyUsage::ContentCommitment => KeyUsagePurpose::ContentCommitment,
        KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
        KeyUsage::DataEncipherment => KeyUsagePurpose::DataEncipherment,
        KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
        KeyUsage::CertSign => KeyUsagePurpose::KeyCertSign,
        KeyUsage::CrlSign => KeyUsagePurpose::CrlSign,
        KeyUsage::EncipherOnly => KeyUsagePurpose::EncipherOnly,
        KeyUsage::DecipherOnly => KeyUsagePurpose::DecipherOnly,
    }
}

fn extended_key_usage_purpose(usage: ExtendedKeyUsage) -> ExtendedKeyUsagePurpose {
    match usage {
        ExtendedKeyUsage::Any => ExtendedKeyUsagePurpose::Any,
        ExtendedKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsage::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
        ExtendedKeyUsage::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
        ExtendedKeyUsage::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
        ExtendedKeyUsage::OcspSigning => ExtendedKeyUsagePurpose::OcspSigning,
        other => ExtendedKeyUsagePurpose::Other(other.oid().to_vec()),
    }
}
