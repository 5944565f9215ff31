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
