//! X.509 distinguished names in the flat shape Lamassu's users know.

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::names::check_attribute;

/// A subject or issuer name. Empty strings mean "attribute absent", as in Lamassu's models.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub common_name: String,
    #[serde(default)]
    pub organization: String,
    #[serde(default)]
    pub organization_unit: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub locality: String,
}

/// RFC 5280 Appendix A upper bounds.
const UB_COMMON_NAME: usize = 64;
const UB_OTHER: usize = 128;

impl Subject {
    /// Builds a subject for a certificate Shedu will sign: CN required, RFC 5280 length bounds,
    /// country as two ASCII letters (ISO 3166).
    pub fn parse(raw: Subject) -> Result<Self, DomainError> {
        let clean = |s: String| s.trim().to_owned();
        let subject = Subject {
            common_name: clean(raw.common_name),
            organization: clean(raw.organization),
            organization_unit: clean(raw.organization_unit),
            country: clean(raw.country).to_ascii_uppercase(),
            state: clean(raw.state),
            locality: clean(raw.locality),
        };
        if subject.common_name.is_empty() {
            return Err(DomainError::invalid("subject.common_name", "is required"));
        }
        subject.check_bounds()?;
        Ok(subject)
    }

    /// The attributes with their field names, in one place for every check.
    pub fn attributes(&self) -> [(&'static str, &str); 6] {
        [
            ("subject.common_name", &self.common_name),
            ("subject.organization", &self.organization),
            ("subject.organization_unit", &self.organization_unit),
            ("subject.country", &self.country),
            ("subject.state", &self.state),
            ("subject.locality", &self.locality),
        ]
    }

    /// RFC 5280 Appendix A bounds, a two-letter country and no unsafe characters; an empty CN is
    /// allowed (the caller decides whether a name is required).
    pub fn check_bounds(&self) -> Result<(), DomainError> {
        let subject = self;
        for (field, value) in subject.attributes() {
            check_attribute(field, value)?;
        }
        if subject.common_name.chars().count() > UB_COMMON_NAME {
            return Err(DomainError::invalid("subject.common_name", "at most 64 characters"));
        }
        for (field, value) in [
            ("subject.organization", &subject.organization),
            ("subject.organization_unit", &subject.organization_unit),
            ("subject.state", &subject.state),
            ("subject.locality", &subject.locality),
        ] {
            if value.chars().count() > UB_OTHER {
                return Err(DomainError::invalid(field, "at most 128 characters"));
            }
        }
        let country_ok = subject.country.is_empty()
            || (subject.country.len() == 2 && subject.country.chars().all(|c| c.is_ascii_alphabetic()));
        if !country_ok {
            return Err(DomainError::invalid("subject.country", "must be a two-letter ISO 3166 code"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cn(cn: &str) -> Subject {
        Subject { common_name: cn.into(), ..Subject::default() }
    }

    #[test]
    fn a_subject_needs_a_common_name() {
        assert!(Subject::parse(with_cn("  ")).is_err());
        assert_eq!(Subject::parse(with_cn(" Root ")).unwrap().common_name, "Root");
    }

    #[test]
    fn no_attribute_carries_control_or_bidi_characters() {
        let mut s = with_cn("Root");
        s.organization = "a\0b".into();
        assert_eq!(Subject::parse(s), Err(DomainError::UnsafeCharacters { field: "subject.organization".into() }));
    }

    #[test]
    fn country_must_be_two_letters() {
        let mut s = with_cn("x");
        s.country = "es".into();
        assert_eq!(Subject::parse(s.clone()).unwrap().country, "ES");
        s.country = "Spain".into();
        assert!(Subject::parse(s).is_err());
    }
}
