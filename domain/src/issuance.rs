//! Applying an issuance profile to a certificate request: what the certificate will say. Pure;
//! the caller parses the CSR and signs the result.

use time::{Duration, OffsetDateTime};

use crate::DomainError;
use crate::key::KeyType;
use crate::profile::IssuanceProfile;
use crate::subject::Subject;
use crate::usage::{ExtendedKeyUsage, KeyUsage};

/// What a (signature-checked) CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrFacts {
    pub subject: Subject,
    pub key_type: KeyType,
    pub bits: u32,
    pub key_usage: Vec<KeyUsage>,
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    pub has_subject_alt_names: bool,
}

/// The certificate to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuancePlan {
    pub subject: Subject,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_usage: Vec<KeyUsage>,
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Copy the CSR's subjectAltName (honor_extensions).
    pub copy_subject_alt_names: bool,
    pub is_ca: bool,
    pub path_len: Option<u32>,
}

/// RSA below 2048 bits is refused whatever a profile says (NIST SP 800-131A).
pub const MIN_RSA_BITS: u32 = 2048;

/// Decides the certificate's contents. `issuer_valid_to` bounds its validity unless the profile
/// allows otherwise: the notAfter is then cut to the issuer's, not refused.
pub fn plan(
    profile: &IssuanceProfile,
    csr: &CsrFacts,
    issuer_valid_to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<IssuancePlan, DomainError> {
    if csr.key_type == KeyType::Rsa && csr.bits < MIN_RSA_BITS {
        return Err(DomainError::Rule(format!("{}-bit RSA keys are too weak to certify (minimum 2048)", csr.bits)));
    }
    profile.crypto_enforcement.check(csr.key_type, csr.bits)?;

    let subject = match (&profile.subject, profile.honor_subject) {
        (Some(fixed), false) => {
            let mut subject = fixed.clone();
            if subject.common_name.is_empty() {
                subject.common_name = csr.subject.common_name.clone();
            }
            subject
        }
        _ => csr.subject.clone(),
    };
    subject
        .check_bounds()
        .map_err(|e| DomainError::Rule(format!("the certificate's subject is not acceptable: {e}")))?;
    let copy_subject_alt_names = profile.honor_extensions && csr.has_subject_alt_names;
    if subject.common_name.is_empty() && subject == Subject::default() && !copy_subject_alt_names {
        return Err(DomainError::Rule("the certificate would name nobody: empty subject and no subjectAltName".into()));
    }

    let requested_ku = profile.honor_key_usage && !csr.key_usage.is_empty();
    let mut key_usage: Vec<KeyUsage> = if requested_ku { csr.key_usage.clone() } else { profile.key_usage.clone() };
    if profile.sign_as_ca {
        // A CA certificate must be able to sign certificates and CRLs, whatever the CSR asked for.
        key_usage.extend([KeyUsage::CertSign, KeyUsage::CrlSign]);
    } else {
        key_usage.retain(|u| !matches!(u, KeyUsage::CertSign | KeyUsage::CrlSign));
    }
    key_usage.retain(|u| u.fits(csr.key_type));
    key_usage.sort();
    key_usage.dedup();
    let requested_eku = profile.honor_extended_key_usages && !csr.extended_key_usage.is_empty();
    let mut extended_key_usage =
        if requested_eku { csr.extended_key_usage.clone() } else { profile.extended_key_usages.clone() };
    extended_key_usage.sort();
    extended_key_usage.dedup();

    // Backdated by a minute so relying parties with a slightly slow clock accept it at once.
    let not_before = (now - Duration::MINUTE).replace_nanosecond(0).unwrap_or(now);
    let mut not_after = profile.validity()?.not_after(now)?;
    if not_after > issuer_valid_to && !profile.allow_validity_beyond_issuer {
        not_after = issuer_valid_to;
    }
    if not_after <= now {
        return Err(DomainError::Rule("the issuer expires too soon to issue anything".into()));
    }
    Ok(IssuancePlan {
        subject,
        not_before,
        not_after,
        key_usage,
        extended_key_usage,
        copy_subject_alt_names,
        is_ca: profile.sign_as_ca,
        path_len: profile.path_len,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::ids::ProfileId;
    use crate::profile::ProfileInput;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
    const ISSUER_END: OffsetDateTime = datetime!(2027-01-01 0:00 UTC);

    fn profile(extra: serde_json::Value) -> IssuanceProfile {
        let mut input = json!({
            "name": "tls-server-90d",
            "validity": {"type": "Duration", "duration": "90d"},
            "key_usage": ["DigitalSignature", "KeyEncipherment"],
            "extended_key_usages": ["ServerAuth"],
        });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let input: ProfileInput = serde_json::from_value(input).unwrap();
        IssuanceProfile::parse(ProfileId::parse("p").unwrap(), input).unwrap()
    }

    fn csr(key_type: KeyType, bits: u32) -> CsrFacts {
        CsrFacts {
            subject: Subject { common_name: "svc.example.test".into(), ..Subject::default() },
            key_type,
            bits,
            key_usage: vec![KeyUsage::CertSign],
            extended_key_usage: vec![ExtendedKeyUsage::CodeSigning],
            has_subject_alt_names: true,
        }
    }

    #[test]
    fn the_profile_decides_usages_unless_told_to_honor_the_request() {
        let plan = plan(&profile(json!({})), &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap();
        assert_eq!(plan.key_usage, vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]);
        assert_eq!(plan.extended_key_usage, vec![ExtendedKeyUsage::ServerAuth]);
        assert!(!plan.is_ca);
        let honoring = profile(json!({"honor_extended_key_usages": true}));
        let plan = super::plan(&honoring, &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap();
        assert_eq!(plan.extended_key_usage, vec![ExtendedKeyUsage::CodeSigning]);
    }

    #[test]
    fn a_leaf_never_gets_cert_sign_and_ec_keys_never_get_encipherment() {
        let honoring = profile(json!({"honor_key_usage": true}));
        let plan = plan(&honoring, &csr(KeyType::Ecdsa, 256), ISSUER_END, NOW).unwrap();
        assert!(plan.key_usage.is_empty(), "{:?}", plan.key_usage);
        let plan = super::plan(&profile(json!({})), &csr(KeyType::Ecdsa, 256), ISSUER_END, NOW).unwrap();
        assert_eq!(plan.key_usage, vec![KeyUsage::DigitalSignature]);
    }

    #[test]
    fn a_ca_certificate_can_always_sign_whatever_the_csr_asked() {
        let sub_ca = profile(json!({"sign_as_ca": true, "honor_key_usage": true, "key_usage": ["CertSign"]}));
        let mut request = csr(KeyType::Ecdsa, 256);
        request.key_usage = vec![KeyUsage::DigitalSignature];
        let plan = plan(&sub_ca, &request, ISSUER_END, NOW).unwrap();
        assert!(plan.is_ca);
        assert!(plan.key_usage.contains(&KeyUsage::CertSign) && plan.key_usage.contains(&KeyUsage::CrlSign));
    }

    #[test]
    fn subjects_beyond_rfc_5280_bounds_are_refused() {
        let mut request = csr(KeyType::Ecdsa, 256);
        request.subject.country = "USA".into();
        assert!(matches!(plan(&profile(json!({})), &request, ISSUER_END, NOW), Err(DomainError::Rule(_))));
        request.subject.country = String::new();
        request.subject.common_name = "x".repeat(65);
        assert!(plan(&profile(json!({})), &request, ISSUER_END, NOW).is_err());
    }

    #[test]
    fn crypto_enforcement_names_the_rule_it_breaks() {
        let strict = profile(json!({"crypto_enforcement": {"enabled": true, "allow_ecdsa_keys": true,
            "allowed_ecdsa_key_sizes": [256, 384], "allow_rsa_keys": true, "allowed_rsa_key_sizes": [3072]}}));
        assert!(plan(&strict, &csr(KeyType::Ecdsa, 384), ISSUER_END, NOW).is_ok());
        let err = plan(&strict, &csr(KeyType::Ecdsa, 521), ISSUER_END, NOW).unwrap_err().to_string();
        assert!(err.contains("allowed_ecdsa_key_sizes"), "{err}");
        let err = plan(&strict, &csr(KeyType::Ed25519, 256), ISSUER_END, NOW).unwrap_err().to_string();
        assert!(err.contains("allow_ed25519_keys"), "{err}");
        let err = plan(&strict, &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap_err().to_string();
        assert!(err.contains("allowed_rsa_key_sizes"), "{err}");
    }

    #[test]
    fn weak_rsa_is_refused_even_without_enforcement() {
        assert!(matches!(
            plan(&profile(json!({})), &csr(KeyType::Rsa, 1024), ISSUER_END, NOW),
            Err(DomainError::Rule(_))
        ));
    }

    #[test]
    fn validity_is_cut_to_the_issuers_unless_allowed_beyond() {
        let long = profile(json!({"validity": {"type": "Duration", "duration": "2y"}}));
        assert_eq!(plan(&long, &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap().not_after, ISSUER_END);
        let beyond =
            profile(json!({"validity": {"type": "Duration", "duration": "2y"}, "allow_validity_beyond_issuer": true}));
        assert!(plan(&beyond, &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap().not_after > ISSUER_END);
        let short = plan(&profile(json!({})), &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap();
        assert_eq!(short.not_after, NOW + Duration::days(90));
        assert!(short.not_before < NOW);
    }

    #[test]
    fn a_fixed_subject_keeps_the_requested_common_name_when_it_has_none() {
        let fixed = profile(json!({"honor_subject": false, "subject": {"organization": "Acme", "country": "ES"}}));
        let plan = plan(&fixed, &csr(KeyType::Rsa, 2048), ISSUER_END, NOW).unwrap();
        assert_eq!(plan.subject.organization, "Acme");
        assert_eq!(plan.subject.common_name, "svc.example.test");
    }

    #[test]
    fn profiles_are_validated() {
        let parse = |v: serde_json::Value| {
            let mut input = json!({"name": "x", "validity": {"type": "Duration", "duration": "1y"}});
            input.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
            serde_json::from_value::<ProfileInput>(input)
                .map_err(|e| e.to_string())
                .and_then(|i| IssuanceProfile::parse(ProfileId::parse("p").unwrap(), i).map_err(|e| e.to_string()))
        };
        assert!(parse(json!({})).is_ok());
        assert!(parse(json!({"validity": {"type": "Duration", "duration": "0d"}})).is_err());
        assert!(parse(json!({"key_usage": ["Teleport"]})).is_err());
        assert!(parse(json!({"extended_key_usages": ["Nope"]})).is_err());
        assert!(parse(json!({"sign_as_ca": true, "key_usage": ["DigitalSignature"]})).is_err());
        assert!(parse(json!({"crypto_enforcement": {"enabled": true, "allow_rsa_keys": true, "allowed_rsa_key_sizes": [1024]}})).is_err());
        assert!(parse(json!({"crypto_enforcement": {"enabled": true}})).is_err());
        assert!(parse(json!({"honor_subject": false})).is_err());
        assert!(parse(json!({"validity": {"type": "Duration", "duration": "3650000d"}})).is_err());
        assert!(parse(json!({"sign_as_ca": true, "key_usage": ["CertSign"], "path_len": 300})).is_err());
    }
}
