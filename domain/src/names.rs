//! What a name in a certificate may contain: subject attributes free of characters that make a
//! name read differently to a person and to software, and subjectAltNames that follow RFC 5280
//! §4.2.1.6. Errors say which name is wrong and why, never the submitted value itself.

use std::fmt;
use std::net::IpAddr;

use crate::DomainError;

/// A subjectAltName entry Shedu certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

impl SubjectAltName {
    /// As many names as one certificate carries (the CA/Browser Forum's usual bound): a 30,000-
    /// name request made an 838 KB certificate.
    pub const MAX_PER_CERTIFICATE: usize = 100;

    /// A dNSName: LDH labels (IDNs as A-labels), optionally a leading `*.` wildcard over at least
    /// two labels; never an IP address written as a name.
    pub fn dns(raw: &str, index: usize) -> Result<Self, DomainError> {
        check_dns_name(raw).map_err(|reason| san_error("dNSName", index, reason))?;
        Ok(SubjectAltName::Dns(raw.to_owned()))
    }

    /// An rfc822Name: `local@domain`, ASCII, with a valid DNS domain.
    pub fn email(raw: &str, index: usize) -> Result<Self, DomainError> {
        let bad = |reason| san_error("rfc822Name", index, reason);
        let (local, domain) = raw.split_once('@').ok_or_else(|| bad("has no '@'"))?;
        if local.is_empty() || !local.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '@' | '<' | '>')) {
            return Err(bad("has an empty or non-printable local part"));
        }
        check_dns_name(domain).map_err(|_| bad("has an invalid domain"))?;
        Ok(SubjectAltName::Email(raw.to_owned()))
    }

    /// A uniformResourceIdentifier: an absolute URI (scheme and scheme-specific part), ASCII
    /// without spaces or controls; one with an authority names a host (RFC 5280 §4.2.1.6).
    pub fn uri(raw: &str, index: usize) -> Result<Self, DomainError> {
        let bad = |reason| san_error("uniformResourceIdentifier", index, reason);
        if !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad("contains spaces, controls or non-ASCII characters"));
        }
        let (scheme, rest) = raw.split_once(':').ok_or_else(|| bad("has no scheme"))?;
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() {
            return Err(bad("is not an absolute URI"));
        }
        // A URI names something by where it is (RFC 5280 §4.2.1.10 constrains by host), so
        // it carries an authority with a host: `https://…`, `spiffe://…`, not `urn:` or `javascript:`.
        let authority = rest.strip_prefix("//").ok_or_else(|| bad("has no authority (scheme://host/…)"))?;
        let host = authority.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(bad("has an authority without a host"));
        }
        Ok(SubjectAltName::Uri(raw.to_owned()))
    }

    /// An iPAddress: 4 octets (IPv4) or 16 (IPv6).
    pub fn ip(octets: &[u8], index: usize) -> Result<Self, DomainError> {
        match octets.len() {
            4 => Ok(SubjectAltName::Ip(IpAddr::from(<[u8; 4]>::try_from(octets).unwrap_or_default()))),
            16 => Ok(SubjectAltName::Ip(IpAddr::from(<[u8; 16]>::try_from(octets).unwrap_or_default()))),
            _ => Err(san_error("iPAddress", index, "is neither 4 nor 16 octets")),
        }
    }

    /// Whether this entry names `common_name`, as the CA/Browser Forum requires of a TLS server
    /// certificate's CN (DNS names compare case-insensitively).
    pub fn names(&self, common_name: &str) -> bool {
        match self {
            SubjectAltName::Dns(name) => name.eq_ignore_ascii_case(common_name),
            SubjectAltName::Ip(ip) => common_name.parse::<IpAddr>().is_ok_and(|cn| cn == *ip),
            SubjectAltName::Email(mail) => mail == common_name,
            SubjectAltName::Uri(uri) => uri == common_name,
        }
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(name) => write!(f, "DNS:{name}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
            SubjectAltName::Email(mail) => write!(f, "email:{mail}"),
            SubjectAltName::Uri(uri) => write!(f, "URI:{uri}"),
        }
    }
}

fn san_error(kind: &str, index: usize, reason: &str) -> DomainError {
    DomainError::InvalidSubjectAltName { entry: format!("{kind} #{}", index + 1), reason: reason.to_owned() }
}

/// RFC 1034 §3.5 preferred name syntax with RFC 5890 A-labels, RFC 6125 §6.4.3 wildcards.
fn check_dns_name(name: &str) -> Result<(), &'static str> {
    let (wildcard, name) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name),
    };
    if name.is_empty() || name.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    if !name.is_ascii() {
        return Err("is not ASCII: write an internationalised name as A-labels (xn--)");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if name.parse::<IpAddr>().is_ok() || labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit())) {
        return Err("is an IP address; use an iPAddress entry");
    }
    if labels.len() < 2 && !wildcard {
        return Err("is a single label; certify a fully qualified name");
    }
    if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return Err("ends in an all-numeric label, which no top-level domain is");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty label or one longer than 63 characters");
        }
        // RFC 5891 §4.2.3.1: hyphens in the third and fourth places are reserved for A-labels.
        if label.get(2..4) == Some("--") && !label.to_ascii_lowercase().starts_with("xn--") {
            return Err("has a label with '--' in the third and fourth places that is not an A-label");
        }
        if label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err("has a label that is not letters, digits and inner hyphens");
        }
    }
    // Without the Public Suffix List, `*.` over a single label (`*.com`) is the case refused:
    // it would match every name under a top-level domain.
    if wildcard && labels.len() < 2 {
        return Err("is a wildcard over a top-level domain");
    }
    Ok(())
}

/// Characters that must not appear in a name a relying party reads: C0 and C1 controls (NUL
/// truncates names in C software, ESC drives terminals) and DEL; Unicode format characters
/// (bidirectional overrides and isolates reorder what a person sees; zero-width joiners, soft
/// hyphens, word joiners and tags hide); line and paragraph separators; characters that render
/// as nothing (Hangul fillers, the braille blank, variation selectors); private-use characters
/// and noncharacters, which mean nothing to anyone else.
pub fn is_unsafe_char(c: char) -> bool {
    let code = u32::from(c);
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
                | '\u{E000}'..='\u{F8FF}'
                | '\u{F0000}'..='\u{10FFFF}'
                | '\u{FDD0}'..='\u{FDEF}'
        )
        || code & 0xFFFE == 0xFFFE
}

/// Refuses a name attribute with characters no certificate should carry, or one that is blank
/// (nothing but spaces reads as no name at all).
pub fn check_attribute(field: &str, value: &str) -> Result<(), DomainError> {
    if value.chars().any(is_unsafe_char) || (!value.is_empty() && value.trim().is_empty()) {
        return Err(DomainError::UnsafeCharacters { field: field.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ThenErr;

    fn dns_ok(name: &str) -> bool {
        SubjectAltName::dns(name, 0).is_ok()
    }

    #[test]
    fn dns_names_are_ldh_labels_or_a_labels() {
        for good in ["svc.example.test", "*.example.test", "xn--bcher-kva.example", "a-b.c0", "1.example.test"] {
            assert!(dns_ok(good), "{good}");
        }
        for bad in ["", "bad name.test", "-a.test", "a-.test", "a..b", "a.test.", "b\u{fc}cher.de", "under_score.test"]
        {
            assert!(!dns_ok(bad), "{bad:?}");
        }
        assert!(!dns_ok(&format!("{}.test", "a".repeat(64))));
    }

    #[test]
    fn an_ip_address_is_not_a_dns_name() {
        for bad in ["1.2.3.4", "10.0.0.1", "::1", "127.1"] {
            SubjectAltName::dns(bad, 1).then_err(DomainError::InvalidSubjectAltName {
                entry: "dNSName #2".into(),
                reason: "is an IP address; use an iPAddress entry".into(),
            });
        }
    }

    #[test]
    fn a_wildcard_never_covers_a_top_level_domain() {
        assert!(!dns_ok("*.com") && !dns_ok("*") && !dns_ok("*.*.example.test") && !dns_ok("a.*.example.test"));
        assert!(dns_ok("*.example.com"));
    }

    #[test]
    fn emails_and_uris_follow_rfc_5280() {
        assert!(SubjectAltName::email("ops@example.test", 0).is_ok());
        for bad in ["@example.test", "ops", "o ps@example.test", "ops@bad domain", "ops@1.2.3.4"] {
            assert!(SubjectAltName::email(bad, 0).is_err(), "{bad}");
        }
        for good in ["https://example.test/x", "spiffe://trust.example/ns/a", "ldap://ldap.example.test/cn=x"] {
            assert!(SubjectAltName::uri(good, 0).is_ok(), "{good}");
        }
        for bad in [
            "no scheme",
            "1x:y",
            "https://",
            "https:///path",
            "https://ex\u{e4}mple.test",
            "x:",
            "urn:uuid:1",
            "javascript:alert(1)",
        ] {
            assert!(SubjectAltName::uri(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_addresses_are_four_or_sixteen_octets() {
        assert_eq!(SubjectAltName::ip(&[10, 0, 0, 1], 0).unwrap().to_string(), "IP:10.0.0.1");
        assert!(SubjectAltName::ip(&[0; 16], 0).is_ok());
        assert!(SubjectAltName::ip(&[1, 2, 3], 0).is_err());
    }

    #[test]
    fn controls_bidi_overrides_and_hidden_characters_are_refused() {
        for bad in
            ["good.example.com\0.evil.com", "a\u{1b}[31mred", "bell\u{7}", "gnp.\u{202e}exe", "a\u{200b}b", "\u{85}"]
        {
            check_attribute("subject.common_name", bad)
                .then_err(DomainError::UnsafeCharacters { field: "subject.common_name".into() });
        }
        assert!(check_attribute("subject.organization", "Acme S.A. — Zürich 東京").is_ok());
    }

    #[test]
    fn the_common_name_must_be_among_the_names() {
        let dns = SubjectAltName::dns("svc.example.test", 0).unwrap();
        assert!(dns.names("SVC.example.test") && !dns.names("other.example.test"));
        assert!(SubjectAltName::ip(&[10, 0, 0, 1], 0).unwrap().names("10.0.0.1"));
    }
}
