//! The one error type of the domain; each variant maps to one HTTP problem in the API.

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed: a field is missing, out of range or unparsable (HTTP 400).
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    /// The addressed resource does not exist (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// The resource already exists, or its current state forbids the operation (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed input that breaks a PKI rule: validity, policy, references (HTTP 422).
    #[error("{0}")]
    Rule(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid { field: field.into(), message: message.into() }
    }
}
