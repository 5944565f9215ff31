//! The one error type of the domain: every refusal has a name, and the API gives each name its own
//! problem type (docs/PROBLEMS.md), so a client can tell "already exists" from "on hold".

use std::fmt;

use crate::ids::{CaId, ProfileId, SerialNumber};
use crate::invalid::InvalidInput;
use crate::status::Status;

/// The resource an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Ca(CaId),
    Certificate(SerialNumber),
    Profile(ProfileId),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Ca(id) => write!(f, "CA '{id}'"),
            Resource::Certificate(serial) => write!(f, "certificate {serial}"),
            Resource::Profile(id) => write!(f, "profile '{id}'"),
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    // Malformed input (HTTP 400).
    /// A field is missing, out of range or unparsable.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },

    // The addressed resource does not exist (HTTP 404).
    #[error("{0} not found")]
    NotFound(Resource),

    // The resource's current state forbids the command (HTTP 409).
    #[error("{0} already exists")]
    AlreadyExists(Resource),
    #[error("CA '{id}' is {status} and cannot sign")]
    CaNotActive { id: CaId, status: Status },
    #[error("CA '{id}' holds no private key and cannot sign")]
    CaHoldsNoKey { id: CaId },
    /// A CA on hold (or revoked, expired, inactive) stops every CA below it from signing.
    #[error("CA '{id}' cannot sign while its ancestor '{ancestor}' is {status}")]
    AncestorNotActive { id: CaId, ancestor: CaId, status: Status },
    /// EXPIRED is terminal: no status change leaves it.
    #[error("{0} is EXPIRED; EXPIRED is terminal")]
    AlreadyExpired(Resource),
    /// Only a CertificateHold can be lifted.
    #[error("{0} is revoked for good; only a CertificateHold can be lifted")]
    RevokedForGood(Resource),
    #[error("CA '{id}' is on hold; revoke it for good before deleting it and its key")]
    CaOnHold { id: CaId },
    #[error("CA '{id}' cannot be reissued: {reason}")]
    CaNotReissuable { id: CaId, reason: String },
    #[error("CA '{id}' is {status}; only REVOKED or EXPIRED CAs (or ones imported without a key) can be deleted")]
    CaNotDeletable { id: CaId, status: Status },
    #[error("profile '{id}' is the default profile of CA(s) {}", list(cas))]
    ProfileInUse { id: ProfileId, cas: Vec<CaId> },
    /// RFC 5789 §2.2: a JSON Patch `test` that fails because the document changed is a conflict.
    #[error("the patch's test operation {operation} does not hold for the current metadata")]
    PatchTestFailed { operation: usize },
    /// The views have yet to show revocations the CA's last CRL lists (another process published
    /// it); the next CRL waits for them rather than list less.
    #[error("CRL {number} of CA '{ca}' lists revocations the views have yet to show")]
    CrlBehind { ca: CaId, number: u64 },
    #[error("CA '{ca}' has no full CRL for a delta CRL to complete")]
    NoBaseCrl { ca: CaId },
    #[error("its issuer, CA '{issuer}', is revoked; a subordinate of a revoked CA cannot be imported")]
    IssuerRevoked { issuer: CaId },
    /// The same certificate is already a CA in Shedu, imported or created here.
    #[error("this certificate is already CA '{existing}'")]
    AlreadyImported { existing: CaId },

    // Well-formed input that breaks a PKI rule (HTTP 422).
    #[error("parent CA '{0}' does not exist")]
    ParentNotFound(CaId),
    /// A profile named by another resource (a CA's default, a signing request) does not exist.
    #[error("issuance profile '{0}' does not exist")]
    UnknownProfile(ProfileId),
    #[error("a subordinate CA may not outlive its parent: requested validity ends after parent '{parent}' expires")]
    OutlivesParent { parent: CaId },
    /// RFC 5280 §4.2.1.9: a CA with pathLen 0 signs end-entity certificates only.
    #[error("CA '{id}' has pathLen 0 and cannot sign CA certificates")]
    PathLenExceeded { id: CaId },
    #[error("an inline profile cannot set sign_as_ca or allow_validity_beyond_issuer; use a stored profile")]
    InlineProfileTooPowerful,
    /// An inline profile may only narrow the stored profile that applies; `field` says where it
    /// would widen it.
    #[error("the inline profile widens profile '{base}' in {field}")]
    InlineProfileWidens { base: ProfileId, field: &'static str },
    /// A CA signs with its default profile or one it allows (`PUT /v2/cas/{ca}/profile`).
    #[error("CA '{ca}' does not sign with profile '{profile}'")]
    ProfileNotAllowed { ca: CaId, profile: ProfileId },
    #[error("no issuance profile: give profile_id or profile, or assign a default profile to CA '{ca}'")]
    NoProfile { ca: CaId },
    #[error("the certificate is not a CA certificate (BasicConstraints CA:FALSE)")]
    NotACaCertificate,
    /// The certificate names a CA here as its issuer, and that CA's key did not sign it.
    #[error("the certificate names CA '{issuer}' as its issuer, but that CA's key did not sign it")]
    NotSignedByNamedIssuer { issuer: CaId },
    #[error("the certificate names itself as its issuer, but its self-signature does not verify")]
    SelfSignatureInvalid,
    /// A CA certificate that cannot vouch for what it would sign.
    #[error("the certificate cannot issue certificates: {reason}")]
    NotAnIssuer { reason: &'static str },
    /// NIST SP 800-131A: RSA below 2048 bits is refused whatever a profile says.
    /// The configured policy (`[policy]`) asks for a key held more securely; `rule` names it.
    #[error("policy.{rule}: this CA's key must be held at {required} or above, and the engine's level is {actual}")]
    SecurityLevelTooLow { rule: &'static str, required: &'static str, actual: &'static str },
    #[error("{bits}-bit RSA keys are too weak to certify (minimum 2048)")]
    WeakKey { bits: u32 },
    /// The profile's crypto enforcement refuses the key; `rule` names the profile field.
    #[error("crypto_enforcement.{rule}: {message}")]
    KeyNotAllowed { rule: &'static str, message: String },
    #[error("the certificate's subject is not acceptable: {field} {message}")]
    SubjectNotAcceptable { field: String, message: String },
    /// Extended key usages that cannot go together, or that the issuer cannot vouch for.
    #[error("the extended key usages are not acceptable: {reason}")]
    IncompatibleUsages { reason: &'static str },
    #[error("the certificate would name nobody: empty subject and no subjectAltName")]
    NamesNobody,
    /// NUL, controls, bidirectional overrides or hidden characters in a name.
    #[error("{field} contains control, bidirectional-override or invisible characters")]
    UnsafeCharacters { field: String },
    /// `entry` says which one (`dNSName #2`), never its value.
    #[error("subjectAltName {entry} {reason}")]
    InvalidSubjectAltName { entry: String, reason: String },
    #[error("a certificate carries at most {limit} subjectAltName entries")]
    TooManySubjectAltNames { limit: usize },
    #[error("the profile requires at least one subjectAltName")]
    SubjectAltNameRequired,
    #[error("the profile requires the common name to be one of the subjectAltNames")]
    CommonNameNotInSubjectAltNames,
    #[error("{bits}-bit RSA keys are larger than Shedu certifies (at most 8192)")]
    KeyTooLarge { bits: u32 },
    /// Only SHA-2 (and Ed25519) signatures are accepted; `algorithm` is its name or OID.
    #[error("signature algorithm {algorithm} is not allowed")]
    AlgorithmNotAllowed { algorithm: String },
    #[error("the issuer expires too soon to issue anything")]
    IssuerExpiresTooSoon,
    #[error("the validity period is too long")]
    ValidityTooLong,
    #[error("the validity period ends before it starts")]
    ValidityEndsBeforeStart,
    #[error("patch does not apply: {0}")]
    PatchDoesNotApply(String),
    #[error("metadata must remain a JSON object")]
    MetadataNotAnObject,
    #[error("metadata is limited to {limit} bytes")]
    MetadataTooLarge { limit: usize },

    // A command the application layer should never have built (HTTP 500).
    #[error("broken invariant: {0}")]
    BrokenInvariant(&'static str),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<InvalidInput> for DomainError {
    fn from(e: InvalidInput) -> Self {
        DomainError::Invalid { field: e.field, message: e.message }
    }
}

fn list(ids: &[CaId]) -> String {
    ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ")
}
