//! Malformed input, named by its field. A leaf of the crate: the value types that parse input
//! (ids, statuses) return it, and [`crate::DomainError`] wraps it, without either depending on
//! the other.

/// A field is missing, out of range or unparsable (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidInput { field: field.into(), message: message.into() }
    }
}

/// A submitted value as an error may show it: quoted when it is a short plain token (a name, an
/// operator, a unit someone typed), otherwise only said to be there. Errors never echo free text:
/// a private key pasted into the wrong field must not come back in a response or a log.
pub fn shown(raw: &str) -> String {
    let plain = !raw.is_empty()
        && raw.len() <= 40
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+'));
    if plain { format!("'{raw}'") } else { "the value sent".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_echoed() {
        assert_eq!(shown("colour"), "'colour'");
        let pem_header = format!("-----BEGIN EC {}-----", "PRIVATE KEY");
        for hidden in [pem_header.as_str(), "a\u{1b}b", "x y", &"a".repeat(41), ""] {
            assert_eq!(shown(hidden), "the value sent", "{hidden:?}");
        }
    }
}
