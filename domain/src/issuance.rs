//! Signing a certificate request: which profile applies, and what the certificate will say. Pure;
//! the caller parses the CSR, loads a stored profile and signs the plan.

use time::{Duration, OffsetDateTime};

use crate::DomainError;
use crate::ca::Ca;
use crate::ids::ProfileId;
use crate::key::KeyType;
use crate::names::SubjectAltName;
use crate::profile::{IssuanceProfile, ProfileInput};
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
    pub subject_alt_names: Vec<SubjectAltName>,
}

/// The certificate to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuancePlan {
    pub subject: Subject,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_usage: Vec<KeyUsage>,
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// The CSR's subjectAltNames when the profile honours its extensions, else none.
    pub subject_alt_names: Vec<SubjectAltName>,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// Whether the certificate says where to check its revocation (the profile's choice).
    pub revocation_urls: bool,
}

/// RSA below 2048 bits is refused whatever a profile says (NIST SP 800-131A).
pub const MIN_RSA_BITS: u32 = 2048;

/// Where the profile of a signing request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// A stored profile, for the caller to load (and to guard against changes while it signs).
    Stored(ProfileId),
    /// An inline profile that may only narrow the stored profile `base`: the caller loads the
    /// base and passes both to [`narrow`].
    Narrowed { base: ProfileId, inline: Box<IssuanceProfile> },
}

/// The profile `issuer` signs a request under. A CA signs with its default profile, or with a
/// stored profile it allows explicitly; an inline profile only narrows that profile. Minting a
/// CA, or outliving the issuer, takes a stored profile an administrator created.
pub fn choose_profile(
    issuer: &Ca,
    requested: Option<&ProfileId>,
    inline: Option<&ProfileInput>,
) -> Result<ProfileSource, DomainError> {
    let base =
        requested.or(issuer.profile_id.as_ref()).ok_or_else(|| DomainError::NoProfile { ca: issuer.id.clone() })?;
    if !issuer.allows_profile(base) {
        return Err(DomainError::ProfileNotAllowed { ca: issuer.id.clone(), profile: base.clone() });
    }
    let Some(input) = inline else {
        return Ok(ProfileSource::Stored(base.clone()));
    };
    if input.sign_as_ca || input.allow_validity_beyond_issuer {
        return Err(DomainError::InlineProfileTooPowerful);
    }
    let inline = IssuanceProfile::parse(ProfileId::parse("inline")?, input.clone())?;
    Ok(ProfileSource::Narrowed { base: base.clone(), inline: Box::new(inline) })
}

/// The profile a request that brings `inline` is signed under: the inline profile, provided it
/// widens `base` nowhere (shorter or equal validity, a subset of its usages, no honouring what
/// the base imposes, no key the base refuses), with the base's crypto enforcement when the inline
/// profile has none.
pub fn narrow(
    base: &IssuanceProfile,
    inline: &IssuanceProfile,
    now: OffsetDateTime,
) -> Result<IssuanceProfile, DomainError> {
    let widens = |field| Err(DomainError::InlineProfileWidens { base: base.id.clone(), field });
    if inline.validity()?.not_after(now)? > base.validity()?.not_after(now)? {
        return widens("validity");
    }
    if !subset(&inline.key_usage, &base.key_usage) || (inline.honor_key_usage && !base.honor_key_usage) {
        return widens("key_usage");
    }
    if !subset(&inline.extended_key_usages, &base.extended_key_usages)
        || (inline.honor_extended_key_usages && !base.honor_extended_key_usages)
    {
        return widens("extended_key_usages");
    }
    if !base.honor_subject && (inline.honor_subject || inline.subject != base.subject) {
        return widens("subject");
    }
    if inline.honor_extensions && !base.honor_extensions {
        return widens("honor_extensions");
    }
    // The base's SAN rule holds unless the inline profile turns it off outright, which widens.
    if base.requires_subject_alt_names() && inline.require_subject_alt_names == Some(false) {
        return widens("require_subject_alt_names");
    }
    let require_subject_alt_names = Some(base.requires_subject_alt_names() || inline.requires_subject_alt_names());
    let crypto_enforcement = match (&base.crypto_enforcement, &inline.crypto_enforcement) {
        (base, inline) if !base.enabled => inline.clone(),
        (base, inline) if !inline.enabled => base.clone(),
        (base, inline) if base.contains(inline) => inline.clone(),
        _ => return widens("crypto_enforcement"),
    };
    // Leaving out where to check revocation is the inline profile's to choose; adding it is not.
    let revocation_urls = base.revocation_urls && inline.revocation_urls;
    Ok(IssuanceProfile { crypto_enforcement, require_subject_alt_names, revocation_urls, ..inline.clone() })
}

fn subset<T: PartialEq>(small: &[T], large: &[T]) -> bool {
    small.iter().all(|item| large.contains(item))
}

/// Decides what the certificate `issuer` signs for `csr` under `profile` says. The issuer and
/// its `ancestors` (nearest first) must all be able to sign. The issuer's validity bounds the
/// certificate unless the profile allows otherwise: the notAfter is then cut to the issuer's, not
/// refused; its notBefore never precedes the issuer's.
pub fn plan(
    issuer: &Ca,
    ancestors: &[Ca],
    profile: &IssuanceProfile,
    csr: &CsrFacts,
    now: OffsetDateTime,
) -> Result<IssuancePlan, DomainError> {
    issuer.ensure_lineage_can_sign(ancestors, now)?;
    let mut plan = plan_contents(profile, csr, issuer.certificate.valid_to, now)?;
    if plan.is_ca {
        // RFC 5280 §4.2.1.9: a subordinate's path length stays below its issuer's.
        if let Some(limit) = issuer.child_path_len()? {
            plan.path_len = Some(plan.path_len.map_or(limit, |p| p.min(limit)));
        }
    }
    plan.not_before = plan.not_before.max(issuer.certificate.valid_from);
    // An issuer restricted to some purposes (an EKU extension without anyExtendedKeyUsage)
    // vouches for those alone: relying parties refuse a leaf that claims more.
    let vouched = &issuer.certificate.extended_key_usage;
    if !plan.is_ca
        && !vouched.is_empty()
        && !vouched.iter().any(|name| name == "Any")
        && !plan.extended_key_usage.iter().all(|usage| vouched.contains(&usage.recorded_name()))
    {
        return Err(DomainError::IncompatibleUsages { reason: "the issuer's extended key usages do not cover them" });
    }
    Ok(plan)
}

/// Checks what the engine signed against the plan: it names its issuer, starts before it ends
/// and within the plan. A mismatch is a bug in Shedu, never recorded.
pub fn check_signed(
    issuer: &Ca,
    plan: &IssuancePlan,
    certificate: &crate::certificate::CertificateInfo,
) -> Result<(), DomainError> {
    if certificate.issuer != issuer.certificate.subject {
        return Err(DomainError::BrokenInvariant("a signed certificate names another issuer"));
    }
    if certificate.valid_from >= certificate.valid_to || certificate.valid_to != plan.not_after {
        return Err(DomainError::BrokenInvariant("a signed certificate's validity is not the planned one"));
    }
    Ok(())
}

fn plan_contents(
    profile: &IssuanceProfile,
    csr: &CsrFacts,
    issuer_valid_to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<IssuancePlan, DomainError> {
    if csr.key_type == KeyType::Rsa && csr.bits < MIN_RSA_BITS {
        return Err(DomainError::WeakKey { bits: csr.bits });
    }
    profile.crypto_enforcement.check(csr.key_type, csr.bits)?;

    let mut subject = match (&profile.subject, profile.honor_subject) {
        (Some(fixed), false) => {
            let mut subject = fixed.clone();
            if subject.common_name.is_empty() {
                subject.common_name = csr.subject.common_name.clone();
            }
            subject
        }
        _ => csr.subject.clone(),
    };
    // ISO 3166 codes are upper case; PrintableString keeps what it is given.
    subject.country = subject.country.to_ascii_uppercase();
    subject.check_bounds().map_err(|e| match e {
        DomainError::Invalid { field, message } => DomainError::SubjectNotAcceptable { field, message },
        other => other,
    })?;
    let subject_alt_names = if profile.honor_extensions { csr.subject_alt_names.clone() } else { vec![] };
    if subject == Subject::default() && subject_alt_names.is_empty() {
        return Err(DomainError::NamesNobody);
    }
    if profile.requires_subject_alt_names() {
        if subject_alt_names.is_empty() {
            return Err(DomainError::SubjectAltNameRequired);
        }
        let cn = &subject.common_name;
        if !cn.is_empty() && !subject_alt_names.iter().any(|san| san.names(cn)) {
            return Err(DomainError::CommonNameNotInSubjectAltNames);
        }
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
    // RFC 3161 §2.3: a time-stamping certificate has that purpose alone.
    if extended_key_usage.contains(&ExtendedKeyUsage::TimeStamping) && extended_key_usage.len() > 1 {
        return Err(DomainError::IncompatibleUsages { reason: "TimeStamping must be the only extended key usage" });
    }

    // Backdated by a minute so relying parties with a slightly slow clock accept it at once.
    let not_before = (now - Duration::MINUTE).replace_nanosecond(0).unwrap_or(now);
    let mut not_after = profile.validity()?.not_after(now)?;
    if not_after > issuer_valid_to && !profile.allow_validity_beyond_issuer {
        not_after = issuer_valid_to;
    }
    if not_after <= now {
        return Err(DomainError::IssuerExpiresTooSoon);
    }
    Ok(IssuancePlan {
        subject,
        not_before,
        not_after,
        key_usage,
        extended_key_usage,
        subject_alt_names,
        is_ca: profile.sign_as_ca,
        path_len: profile.path_len,
        revocation_urls: profile.revocation_urls,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::ca::{CaCommand, CaEvent, CaStatusChanged, NewCa};
    use crate::ids::CaId;
    use crate::status::{Revocation, RevocationReason, Status};
    use crate::testing::{NOW, ThenErr, ca_after, ca_certificate, new_ca};

    const ISSUER_END: OffsetDateTime = datetime!(2027-01-01 0:00 UTC);

    fn issuer_id() -> CaId {
        CaId::parse("issuing").unwrap()
    }

    /// An ACTIVE issuing CA valid until `ISSUER_END`, with `change` applied to its creation.
    fn issuer_with(change: impl FnOnce(&mut NewCa)) -> Ca {
        let mut new = new_ca("issuing");
        new.certificate = ca_certificate(ISSUER_END);
        change(&mut new);
        let created = crate::ca::decide(&issuer_id(), None, &CaCommand::Create(new), NOW).unwrap();
        ca_after(&created)
    }

    fn issuer() -> Ca {
        issuer_with(|_| {})
    }

    fn held(ca: Ca) -> Ca {
        let hold = CaEvent::StatusChanged(CaStatusChanged {
            status: Status::Revoked,
            previous: Status::Active,
            revocation: Some(Revocation::new(RevocationReason::CertificateHold, NOW)),
            cascaded_from: None,
            at: NOW,
        });
        crate::ca::evolve(Some(ca), &hold).unwrap()
    }

    fn input(extra: serde_json::Value) -> ProfileInput {
        let mut input = json!({
            "name": "tls-server-90d",
            "validity": {"type": "Duration", "duration": "90d"},
            "key_usage": ["DigitalSignature", "KeyEncipherment"],
            "extended_key_usages": ["ServerAuth"],
        });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(input).unwrap()
    }

    fn profile(extra: serde_json::Value) -> IssuanceProfile {
        IssuanceProfile::parse(ProfileId::parse("p").unwrap(), input(extra)).unwrap()
    }

    fn sub_ca_profile() -> IssuanceProfile {
        profile(json!({"sign_as_ca": true, "key_usage": ["CertSign", "CRLSign"], "extended_key_usages": []}))
    }

    fn csr(key_type: KeyType, bits: u32) -> CsrFacts {
        CsrFacts {
            subject: Subject { common_name: "svc.example.test".into(), ..Subject::default() },
            key_type,
            bits,
            key_usage: vec![KeyUsage::CertSign],
            extended_key_usage: vec![ExtendedKeyUsage::CodeSigning],
            subject_alt_names: vec![SubjectAltName::dns("svc.example.test", 0).unwrap()],
        }
    }

    fn ec_csr() -> CsrFacts {
        csr(KeyType::Ecdsa, 256)
    }

    fn with_default() -> Ca {
        issuer_with(|ca| ca.profile_id = Some(ProfileId::parse("default").unwrap()))
    }

    #[test]
    fn a_ca_signs_with_its_default_profile_or_one_it_allows() {
        let named = ProfileId::parse("named").unwrap();
        let default = ProfileId::parse("default").unwrap();
        assert_eq!(choose_profile(&with_default(), None, None), Ok(ProfileSource::Stored(default.clone())));
        assert_eq!(choose_profile(&with_default(), Some(&default), None), Ok(ProfileSource::Stored(default)));
        choose_profile(&with_default(), Some(&named), None)
            .then_err(DomainError::ProfileNotAllowed { ca: issuer_id(), profile: named.clone() });
        let allowing = issuer_with(|ca| ca.profile_id = Some(ProfileId::parse("default").unwrap()));
        let allowing = crate::ca::evolve(
            Some(allowing),
            &CaEvent::ProfileAssigned(crate::ca::CaProfileAssigned {
                profile_id: Some(ProfileId::parse("default").unwrap()),
                previous: None,
                allowed_profile_ids: Some(vec![named.clone()]),
                at: NOW,
            }),
        )
        .unwrap();
        assert_eq!(choose_profile(&allowing, Some(&named), None), Ok(ProfileSource::Stored(named)));
    }

    #[test]
    fn an_inline_profile_narrows_the_profile_that_applies() {
        let inline = input(json!({}));
        let source = choose_profile(&with_default(), None, Some(&inline)).unwrap();
        assert!(matches!(source, ProfileSource::Narrowed { ref base, .. } if base.as_str() == "default"));
    }

    #[test]
    fn a_ca_without_a_default_profile_needs_one_named() {
        choose_profile(&issuer(), None, None).then_err(DomainError::NoProfile { ca: issuer_id() });
        choose_profile(&issuer(), None, Some(&input(json!({})))).then_err(DomainError::NoProfile { ca: issuer_id() });
    }

    #[test]
    fn an_inline_profile_cannot_mint_a_ca_or_outlive_its_issuer() {
        let minting = input(json!({"sign_as_ca": true, "key_usage": ["CertSign"]}));
        choose_profile(&with_default(), None, Some(&minting)).then_err(DomainError::InlineProfileTooPowerful);
        let outliving = input(json!({"allow_validity_beyond_issuer": true}));
        choose_profile(&with_default(), None, Some(&outliving)).then_err(DomainError::InlineProfileTooPowerful);
    }

    #[test]
    fn an_inline_profile_is_validated_like_a_stored_one() {
        let broken = input(json!({"validity": {"type": "Duration", "duration": "0d"}}));
        assert!(matches!(choose_profile(&with_default(), None, Some(&broken)), Err(DomainError::Invalid { .. })));
    }

    #[test]
    fn an_inline_profile_never_widens_its_base() {
        let base = profile(json!({"crypto_enforcement": {"enabled": true, "allow_ecdsa_keys": true,
            "allowed_ecdsa_key_sizes": [256]}}));
        let widens = |extra: serde_json::Value, field: &'static str| {
            narrow(&base, &profile(extra), NOW)
                .then_err(DomainError::InlineProfileWidens { base: base.id.clone(), field });
        };
        widens(json!({"validity": {"type": "Duration", "duration": "1y"}}), "validity");
        widens(json!({"key_usage": ["DigitalSignature", "KeyEncipherment", "ContentCommitment"]}), "key_usage");
        widens(json!({"honor_key_usage": true}), "key_usage");
        widens(json!({"extended_key_usages": ["ServerAuth", "CodeSigning"]}), "extended_key_usages");
        widens(json!({"require_subject_alt_names": false}), "require_subject_alt_names");
        let no_usages = narrow(&base, &profile(json!({"extended_key_usages": []})), NOW).unwrap();
        assert!(no_usages.requires_subject_alt_names(), "dropping ServerAuth keeps the base's SAN rule");
        widens(json!({"crypto_enforcement": {"enabled": true, "allow_rsa_keys": true}}), "crypto_enforcement");
        let narrower =
            profile(json!({"validity": {"type": "Duration", "duration": "7d"}, "key_usage": ["DigitalSignature"]}));
        let effective = narrow(&base, &narrower, NOW).unwrap();
        assert_eq!(effective.key_usage, vec![KeyUsage::DigitalSignature]);
        assert_eq!(effective.crypto_enforcement, base.crypto_enforcement, "the base's enforcement still applies");
        let rsa = plan(&issuer(), &[], &effective, &csr(KeyType::Rsa, 2048), NOW).unwrap_err();
        assert!(matches!(rsa, DomainError::KeyNotAllowed { .. }), "{rsa:?}");
    }

    #[test]
    fn a_leaf_claims_no_purpose_its_issuer_cannot_vouch_for() {
        let tls_only = issuer_with(|ca| ca.certificate.extended_key_usage = vec!["ServerAuth".into()]);
        let client = profile(json!({"extended_key_usages": ["ClientAuth"]}));
        plan(&tls_only, &[], &client, &ec_csr(), NOW)
            .then_err(DomainError::IncompatibleUsages { reason: "the issuer's extended key usages do not cover them" });
        assert!(plan(&tls_only, &[], &profile(json!({})), &ec_csr(), NOW).is_ok());
        let anything = issuer_with(|ca| ca.certificate.extended_key_usage = vec!["Any".into()]);
        assert!(plan(&anything, &[], &client, &ec_csr(), NOW).is_ok());
    }

    #[test]
    fn time_stamping_stands_alone_and_countries_are_upper_case() {
        let stamping = profile(json!({"extended_key_usages": ["TimeStamping", "OCSPSigning"]}));
        plan(&issuer(), &[], &stamping, &ec_csr(), NOW)
            .then_err(DomainError::IncompatibleUsages { reason: "TimeStamping must be the only extended key usage" });
        let mut request = ec_csr();
        request.subject.country = "es".into();
        assert_eq!(plan(&issuer(), &[], &profile(json!({})), &request, NOW).unwrap().subject.country, "ES");
    }

    #[test]
    fn a_held_ca_cannot_sign() {
        plan(&held(issuer()), &[], &profile(json!({})), &ec_csr(), NOW)
            .then_err(DomainError::CaNotActive { id: issuer_id(), status: Status::Revoked });
    }

    #[test]
    fn an_expired_ca_cannot_sign_even_before_its_expiry_is_recorded() {
        plan(&issuer(), &[], &profile(json!({})), &ec_csr(), datetime!(2027-02-01 0:00 UTC))
            .then_err(DomainError::CaNotActive { id: issuer_id(), status: Status::Expired });
    }

    #[test]
    fn a_hold_on_an_ancestor_stops_its_subordinates() {
        let root = ca_after(&[crate::testing::ca_created("root")]);
        plan(&issuer(), &[held(root.clone())], &profile(json!({})), &ec_csr(), NOW).then_err(
            DomainError::AncestorNotActive {
                id: issuer_id(),
                ancestor: CaId::parse("root").unwrap(),
                status: Status::Revoked,
            },
        );
        assert!(plan(&issuer(), &[root], &profile(json!({})), &ec_csr(), NOW).is_ok());
    }

    #[test]
    fn a_ca_not_yet_valid_is_inactive_and_signs_nothing() {
        let future = issuer_with(|ca| ca.certificate.valid_from = NOW + Duration::days(30));
        assert_eq!(future.status_at(NOW), Status::Inactive);
        assert_eq!(future.status_at(NOW + Duration::days(31)), Status::Active);
        plan(&future, &[], &profile(json!({})), &ec_csr(), NOW)
            .then_err(DomainError::CaNotActive { id: issuer_id(), status: Status::Inactive });
    }

    #[test]
    fn a_signed_certificate_must_match_its_plan() {
        let planned = plan(&issuer(), &[], &profile(json!({})), &ec_csr(), NOW).unwrap();
        let mut signed = ca_certificate(planned.not_after);
        signed.valid_from = planned.not_before;
        assert!(check_signed(&issuer(), &planned, &signed).is_ok());
        let mut other_issuer = signed.clone();
        other_issuer.issuer.common_name = "Someone Else".into();
        assert!(check_signed(&issuer(), &planned, &other_issuer).is_err());
        let mut backwards = signed;
        backwards.valid_from = backwards.valid_to;
        assert!(check_signed(&issuer(), &planned, &backwards).is_err());
    }

    #[test]
    fn a_ca_imported_without_its_key_cannot_sign() {
        let keyless = issuer_with(|ca| {
            ca.ca_type = crate::ca::CaType::ImportedWithoutKey;
            ca.key = None;
        });
        plan(&keyless, &[], &profile(json!({})), &ec_csr(), NOW)
            .then_err(DomainError::CaHoldsNoKey { id: issuer_id() });
    }

    #[test]
    fn a_ca_with_path_len_zero_cannot_sign_a_ca() {
        let constrained = issuer_with(|ca| ca.certificate.path_len_constraint = Some(0));
        plan(&constrained, &[], &sub_ca_profile(), &ec_csr(), NOW)
            .then_err(DomainError::PathLenExceeded { id: issuer_id() });
        assert!(plan(&constrained, &[], &profile(json!({})), &ec_csr(), NOW).is_ok(), "leaves are still allowed");
    }

    #[test]
    fn a_sub_ca_gets_a_path_len_below_its_issuers() {
        let constrained = issuer_with(|ca| ca.certificate.path_len_constraint = Some(2));
        assert_eq!(plan(&constrained, &[], &sub_ca_profile(), &ec_csr(), NOW).unwrap().path_len, Some(1));
        let asks_more = profile(json!({"sign_as_ca": true, "key_usage": ["CertSign"], "path_len": 5}));
        assert_eq!(plan(&constrained, &[], &asks_more, &ec_csr(), NOW).unwrap().path_len, Some(1));
        let asks_less = profile(json!({"sign_as_ca": true, "key_usage": ["CertSign"], "path_len": 0}));
        assert_eq!(plan(&constrained, &[], &asks_less, &ec_csr(), NOW).unwrap().path_len, Some(0));
        assert_eq!(plan(&issuer(), &[], &sub_ca_profile(), &ec_csr(), NOW).unwrap().path_len, None);
    }

    #[test]
    fn a_certificate_never_starts_before_its_issuer() {
        let young = issuer_with(|ca| ca.certificate.valid_from = NOW - Duration::SECOND);
        assert_eq!(plan(&young, &[], &profile(json!({})), &ec_csr(), NOW).unwrap().not_before, NOW - Duration::SECOND);
        let old = plan(&issuer(), &[], &profile(json!({})), &ec_csr(), NOW).unwrap();
        assert_eq!(old.not_before, NOW - Duration::MINUTE, "backdated a minute for slow clocks");
    }

    #[test]
    fn the_profile_decides_usages_unless_told_to_honor_the_request() {
        let plan = plan(&issuer(), &[], &profile(json!({})), &csr(KeyType::Rsa, 2048), NOW).unwrap();
        assert_eq!(plan.key_usage, vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]);
        assert_eq!(plan.extended_key_usage, vec![ExtendedKeyUsage::ServerAuth]);
        assert!(!plan.is_ca);
        let honoring = profile(json!({"honor_extended_key_usages": true}));
        let plan = super::plan(&issuer(), &[], &honoring, &csr(KeyType::Rsa, 2048), NOW).unwrap();
        assert_eq!(plan.extended_key_usage, vec![ExtendedKeyUsage::CodeSigning]);
    }

    #[test]
    fn a_leaf_never_gets_cert_sign_and_ec_keys_never_get_encipherment() {
        let honoring = profile(json!({"honor_key_usage": true}));
        let plan = plan(&issuer(), &[], &honoring, &ec_csr(), NOW).unwrap();
        assert!(plan.key_usage.is_empty(), "{:?}", plan.key_usage);
        let plan = super::plan(&issuer(), &[], &profile(json!({})), &ec_csr(), NOW).unwrap();
        assert_eq!(plan.key_usage, vec![KeyUsage::DigitalSignature]);
    }

    #[test]
    fn a_ca_certificate_can_always_sign_whatever_the_csr_asked() {
        let sub_ca = profile(json!({"sign_as_ca": true, "honor_key_usage": true, "key_usage": ["CertSign"]}));
        let mut request = ec_csr();
        request.key_usage = vec![KeyUsage::DigitalSignature];
        let plan = plan(&issuer(), &[], &sub_ca, &request, NOW).unwrap();
        assert!(plan.is_ca);
        assert!(plan.key_usage.contains(&KeyUsage::CertSign) && plan.key_usage.contains(&KeyUsage::CrlSign));
    }

    #[test]
    fn subjects_beyond_rfc_5280_bounds_are_refused() {
        let mut request = ec_csr();
        request.subject.country = "USA".into();
        plan(&issuer(), &[], &profile(json!({})), &request, NOW).then_err(DomainError::SubjectNotAcceptable {
            field: "subject.country".into(),
            message: "must be a two-letter ISO 3166 code".into(),
        });
        request.subject.country = String::new();
        request.subject.common_name = "x".repeat(65);
        assert!(matches!(
            plan(&issuer(), &[], &profile(json!({})), &request, NOW),
            Err(DomainError::SubjectNotAcceptable { field, .. }) if field == "subject.common_name"
        ));
    }

    #[test]
    fn a_certificate_must_name_someone() {
        let mut request = ec_csr();
        request.subject = Subject::default();
        let sans = std::mem::take(&mut request.subject_alt_names);
        plan(&issuer(), &[], &profile(json!({})), &request, NOW).then_err(DomainError::NamesNobody);
        request.subject_alt_names = sans;
        assert!(plan(&issuer(), &[], &profile(json!({})), &request, NOW).is_ok(), "a SAN names the subject");
    }

    #[test]
    fn a_tls_server_certificate_names_its_common_name_among_its_sans() {
        let tls = profile(json!({}));
        let mut request = ec_csr();
        request.subject_alt_names.clear();
        plan(&issuer(), &[], &tls, &request, NOW).then_err(DomainError::SubjectAltNameRequired);
        request.subject_alt_names = vec![SubjectAltName::dns("other.example.test", 0).unwrap()];
        plan(&issuer(), &[], &tls, &request, NOW).then_err(DomainError::CommonNameNotInSubjectAltNames);
        let relaxed = profile(json!({"require_subject_alt_names": false}));
        assert!(plan(&issuer(), &[], &relaxed, &request, NOW).is_ok(), "the profile may turn the rule off");
        let client = profile(json!({"extended_key_usages": ["ClientAuth"]}));
        request.subject_alt_names.clear();
        assert!(plan(&issuer(), &[], &client, &request, NOW).is_ok(), "off by default beyond TLS servers");
    }

    #[test]
    fn unsafe_characters_in_the_subject_are_refused_naming_the_attribute() {
        let mut request = ec_csr();
        request.subject.common_name = "good.example.com\0.evil.com".into();
        plan(&issuer(), &[], &profile(json!({})), &request, NOW)
            .then_err(DomainError::UnsafeCharacters { field: "subject.common_name".into() });
    }

    #[test]
    fn crypto_enforcement_names_the_rule_it_breaks() {
        let strict = profile(json!({"crypto_enforcement": {"enabled": true, "allow_ecdsa_keys": true,
            "allowed_ecdsa_key_sizes": [256, 384], "allow_rsa_keys": true, "allowed_rsa_key_sizes": [3072]}}));
        assert!(plan(&issuer(), &[], &strict, &csr(KeyType::Ecdsa, 384), NOW).is_ok());
        let rule = |key_type, bits| match plan(&issuer(), &[], &strict, &csr(key_type, bits), NOW) {
            Err(DomainError::KeyNotAllowed { rule, .. }) => rule,
            other => panic!("{other:?}"),
        };
        assert_eq!(rule(KeyType::Ecdsa, 521), "allowed_ecdsa_key_sizes");
        assert_eq!(rule(KeyType::Ed25519, 256), "allow_ed25519_keys");
        assert_eq!(rule(KeyType::Rsa, 2048), "allowed_rsa_key_sizes");
    }

    #[test]
    fn weak_rsa_is_refused_even_without_enforcement() {
        plan(&issuer(), &[], &profile(json!({})), &csr(KeyType::Rsa, 1024), NOW)
            .then_err(DomainError::WeakKey { bits: 1024 });
    }

    #[test]
    fn validity_is_cut_to_the_issuers_unless_allowed_beyond() {
        let long = profile(json!({"validity": {"type": "Duration", "duration": "2y"}}));
        assert_eq!(plan(&issuer(), &[], &long, &csr(KeyType::Rsa, 2048), NOW).unwrap().not_after, ISSUER_END);
        let beyond =
            profile(json!({"validity": {"type": "Duration", "duration": "2y"}, "allow_validity_beyond_issuer": true}));
        assert!(plan(&issuer(), &[], &beyond, &csr(KeyType::Rsa, 2048), NOW).unwrap().not_after > ISSUER_END);
        let short = plan(&issuer(), &[], &profile(json!({})), &csr(KeyType::Rsa, 2048), NOW).unwrap();
        assert_eq!(short.not_after, NOW + Duration::days(90));
        assert!(short.not_before < NOW);
    }

    #[test]
    fn an_issuer_about_to_expire_issues_nothing() {
        let now = ISSUER_END - Duration::SECOND;
        let beyond = profile(json!({"allow_validity_beyond_issuer": false}));
        assert!(plan(&issuer(), &[], &beyond, &ec_csr(), now).is_ok());
        plan(&issuer(), &[], &beyond, &ec_csr(), ISSUER_END).then_err(DomainError::IssuerExpiresTooSoon);
    }

    #[test]
    fn a_fixed_subject_keeps_the_requested_common_name_when_it_has_none() {
        let fixed = profile(json!({"honor_subject": false, "subject": {"organization": "Acme", "country": "ES"}}));
        let plan = plan(&issuer(), &[], &fixed, &csr(KeyType::Rsa, 2048), NOW).unwrap();
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
