//! RFC 7807 problem responses, rendered from one exhaustive match. 5xx bodies name the kind of
//! failure only; the detail goes to the log.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shedu_commands::CommandError;
use shedu_commands::crypto::EngineError;
use shedu_commands::event_store::StoreError;
use shedu_domain::{DomainError, InvalidInput};

#[derive(Debug)]
pub(crate) enum ApiError {
    Command(CommandError),
    /// Malformed request: body, query string or header.
    BadRequest {
        field: Option<String>,
        message: String,
    },
    UnsupportedMediaType(String),
    /// Read-your-writes: the views did not reach the requested position in time.
    ViewsBehind(i64),
    IdempotencyMismatch,
    IdempotencyInFlight,
    /// The body is larger than `limits.max_body_bytes` (the limit).
    PayloadTooLarge(usize),
    /// The request ran longer than `limits.request_timeout_seconds`.
    RequestTimeout,
    /// No endpoint at this path.
    NoRoute,
    /// The path exists, not with this method.
    NoMethod,
    /// The CA exists and publishes no CRL of the kind asked for; the message says why.
    NoCrl(String),
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        ApiError::Command(e)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Command(e.into())
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::Command(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Command(e.into())
    }
}

impl ApiError {
    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { field: Some(field.to_owned()), message: message.into() }
    }
}

/// A problem as rendered: its status, the stable slug of its `type` URI, its title, the detail
/// and, for invalid input, the field.
struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Problem { status, slug, title, detail: String::new(), field: None }
    }

    fn detail(mut self, detail: impl ToString) -> Self {
        self.detail = detail.to_string();
        self
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A server fault: the body names its kind only; the detail goes to the log.
    fn internal(slug: &'static str, title: &'static str) -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, slug, title).detail("see the server log")
    }
}

fn problem(error: &ApiError) -> Problem {
    use StatusCode as S;
    match error {
        ApiError::BadRequest { field, message } => {
            let p = Problem::new(S::BAD_REQUEST, "invalid-input", "Invalid input").detail(message);
            match field {
                Some(field) => p.field(field.clone()),
                None => p,
            }
        }
        ApiError::UnsupportedMediaType(m) => {
            Problem::new(S::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type").detail(m)
        }
        ApiError::ViewsBehind(position) => Problem::new(S::GATEWAY_TIMEOUT, "views-behind", "Views have not caught up")
            .detail(format!("the query views did not reach log position {position} in time; retry")),
        ApiError::IdempotencyMismatch => {
            Problem::new(S::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency key reused")
                .detail("this Idempotency-Key was used with a different request")
        }
        ApiError::IdempotencyInFlight => Problem::new(S::CONFLICT, "idempotency-key-in-flight", "Request in progress")
            .detail("a request with this Idempotency-Key is still being processed"),
        ApiError::PayloadTooLarge(limit) => Problem::new(S::PAYLOAD_TOO_LARGE, "payload-too-large", "Body too large")
            .detail(format!("request bodies are limited to {limit} bytes")),
        // A command under way completes all the same: a keyed retry finds its outcome.
        ApiError::RequestTimeout => Problem::new(S::SERVICE_UNAVAILABLE, "request-timeout", "Request timed out")
            .detail("the request took too long; a command may still complete: read the resource, or retry with the same Idempotency-Key"),
        ApiError::NoRoute => Problem::new(S::NOT_FOUND, "no-such-endpoint", "No such endpoint")
            .detail("no endpoint at this path; the README lists them"),
        ApiError::NoMethod => Problem::new(S::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed")
            .detail("this endpoint does not take this method"),
        ApiError::NoCrl(why) => Problem::new(S::NOT_FOUND, "no-crl", "No CRL").detail(why),
        ApiError::Command(command) => command_problem(command),
    }
}

fn command_problem(error: &CommandError) -> Problem {
    use StatusCode as S;
    match error {
        CommandError::Domain(domain) => match domain_problem(domain) {
            p if p.status.is_server_error() => p,
            p => p.detail(domain),
        },
        CommandError::Store(store) => match store {
            StoreError::Conflict { .. } => Problem::new(S::CONFLICT, "concurrency-conflict", "Concurrent modification")
                .detail("another command changed this resource first; read it again and retry"),
            StoreError::DuplicateEvent(_) => {
                Problem::new(S::CONFLICT, "duplicate-event", "Duplicate event").detail(store)
            }
            StoreError::Unavailable(_) => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Event store unavailable",
            )
            .detail(
                "the event store could not be reached or did not confirm the write; read the resource before retrying",
            ),
            StoreError::Unexpected(_) => Problem::internal("internal", "Internal error"),
            StoreError::Corrupt(_) => Problem::internal("store-corrupt", "Unreadable stored data"),
            StoreError::InvalidAppend(_) => Problem::internal("internal", "Internal error"),
        },
        CommandError::Engine(engine) => match engine {
            EngineError::Unsupported(m) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "unsupported-key", "Unsupported by the crypto engine").detail(m)
            }
            EngineError::MalformedKey(m) => {
                Problem::new(S::BAD_REQUEST, "invalid-input", "Invalid input").detail(m).field("private_key")
            }
            EngineError::KeyMismatch => Problem::new(S::UNPROCESSABLE_ENTITY, "key-mismatch", "Key does not match")
                .detail(engine)
                .field("private_key"),
            EngineError::KeyNotFound(_) => Problem::internal("key-unavailable", "Key unavailable in its engine"),
            EngineError::ImportUnsupported(m) => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "key-import-unsupported",
                "The engine does not take imported keys",
            )
            .detail(m)
            .field("engine_id"),
            EngineError::Unavailable { engine: id, .. } => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "engine-unavailable",
                "Crypto engine unavailable",
            )
            .detail(format!(
                "crypto engine '{id}' cannot be reached now; CAs on other engines are unaffected; retry once it is back"
            )),
            // A fault of the engine (a key that does not open, a device gone): not the client's, and
            // the same request may succeed once the operator has fixed it.
            EngineError::Failed(_) => {
                Problem::new(S::SERVICE_UNAVAILABLE, "engine-unavailable", "Crypto engine unavailable")
                    .detail("the crypto engine could not perform the operation; see the server log")
            }
        },
        CommandError::RetriesExhausted { .. } => Problem::new(S::CONFLICT, "contention", "Too much contention")
            .detail("other commands kept changing what this one depends on; retry"),
        CommandError::UnreadableEvent(_) => Problem::internal("store-corrupt", "Unreadable stored data"),
        CommandError::Internal(_) => Problem::internal("internal", "Internal error"),
    }
}

/// Each domain refusal by name; the detail is the error's own message.
fn domain_problem(error: &DomainError) -> Problem {
    use StatusCode as S;
    let rule = |slug, title| Problem::new(S::UNPROCESSABLE_ENTITY, slug, title);
    let conflict = |slug, title| Problem::new(S::CONFLICT, slug, title);
    match error {
        DomainError::Invalid { field, .. } => {
            Problem::new(S::BAD_REQUEST, "invalid-input", "Invalid input").field(field.clone())
        }
        DomainError::NotFound(_) => Problem::new(S::NOT_FOUND, "not-found", "Not found"),
        DomainError::AlreadyExists(_) => conflict("already-exists", "Already exists"),
        DomainError::CaNotActive { .. } => conflict("ca-not-active", "CA cannot sign in its status"),
        DomainError::CaHoldsNoKey { .. } => conflict("ca-holds-no-key", "CA holds no private key"),
        DomainError::AncestorNotActive { .. } => conflict("ancestor-not-active", "An ancestor CA cannot sign"),
        DomainError::AlreadyExpired(_) => conflict("already-expired", "Already expired"),
        DomainError::RevokedForGood(_) => conflict("revoked-for-good", "Revoked for good"),
        DomainError::CaOnHold { .. } => conflict("ca-on-hold", "CA on hold"),
        DomainError::CaNotDeletable { .. } => conflict("ca-not-deletable", "CA cannot be deleted in its status"),
        DomainError::CaNotReissuable { .. } => conflict("ca-not-reissuable", "CA cannot be reissued"),
        DomainError::ProfileInUse { .. } => conflict("profile-in-use", "Profile in use"),
        DomainError::IssuerRevoked { .. } => conflict("issuer-revoked", "Issuer revoked"),
        DomainError::PatchTestFailed { .. } => conflict("patch-test-failed", "Patch precondition failed"),
        DomainError::AlreadyImported { .. } => conflict("already-imported", "Certificate already imported"),
        DomainError::CrlBehind { .. } => conflict("crl-behind", "Views behind the last CRL"),
        DomainError::NoBaseCrl { .. } => conflict("no-base-crl", "No full CRL to complete"),
        DomainError::ParentNotFound(_) => rule("parent-not-found", "Parent CA not found"),
        DomainError::UnknownProfile(_) => rule("unknown-profile", "Unknown issuance profile"),
        DomainError::OutlivesParent { .. } => rule("outlives-parent", "Validity beyond the parent's"),
        DomainError::PathLenExceeded { .. } => rule("path-len-exceeded", "Path length constraint exceeded"),
        DomainError::InlineProfileTooPowerful => rule("inline-profile-too-powerful", "Inline profile too powerful"),
        DomainError::InlineProfileWidens { .. } => rule("inline-profile-widens", "Inline profile widens its base"),
        DomainError::ProfileNotAllowed { .. } => rule("profile-not-allowed", "Profile not allowed for this CA"),
        DomainError::NoProfile { .. } => rule("no-profile", "No issuance profile"),
        DomainError::NotACaCertificate => rule("not-a-ca-certificate", "Not a CA certificate"),
        DomainError::NotAnIssuer { .. } => rule("not-an-issuer", "Certificate cannot issue"),
        DomainError::NotSignedByNamedIssuer { .. } => rule("forged-issuer", "Not signed by the issuer it names"),
        DomainError::SelfSignatureInvalid => rule("self-signature-invalid", "Self-signature does not verify"),
        DomainError::WeakKey { .. } => rule("weak-key", "Key too weak"),
        DomainError::SecurityLevelTooLow { .. } => {
            rule("security-level-too-low", "Key not held securely enough for the policy")
        }
        DomainError::KeyNotAllowed { .. } => rule("key-not-allowed", "Key not allowed by the profile"),
        DomainError::SubjectNotAcceptable { .. } => rule("subject-not-acceptable", "Subject not acceptable"),
        DomainError::NamesNobody => rule("names-nobody", "Certificate would name nobody"),
        DomainError::IncompatibleUsages { .. } => rule("incompatible-usages", "Extended key usages not acceptable"),
        DomainError::UnsafeCharacters { .. } => rule("unsafe-characters", "Unsafe characters in a name"),
        DomainError::InvalidSubjectAltName { .. } => rule("invalid-subject-alt-name", "Invalid subjectAltName"),
        DomainError::TooManySubjectAltNames { .. } => rule("too-many-subject-alt-names", "Too many subjectAltNames"),
        DomainError::SubjectAltNameRequired => rule("subject-alt-name-required", "subjectAltName required"),
        DomainError::CommonNameNotInSubjectAltNames => {
            rule("common-name-not-in-subject-alt-names", "Common name not among the subjectAltNames")
        }
        DomainError::KeyTooLarge { .. } => rule("key-too-large", "Key too large"),
        DomainError::AlgorithmNotAllowed { .. } => rule("algorithm-not-allowed", "Signature algorithm not allowed"),
        DomainError::IssuerExpiresTooSoon => rule("issuer-expires-too-soon", "Issuer expires too soon"),
        DomainError::ValidityTooLong => rule("validity-too-long", "Validity too long"),
        DomainError::ValidityEndsBeforeStart => rule("validity-ends-before-start", "Validity ends before it starts"),
        DomainError::PatchDoesNotApply(_) => rule("patch-does-not-apply", "Patch does not apply"),
        DomainError::MetadataNotAnObject => rule("metadata-not-an-object", "Metadata must be an object"),
        DomainError::MetadataTooLarge { .. } => rule("metadata-too-large", "Metadata too large"),
        DomainError::BrokenInvariant(_) => Problem::internal("internal", "Internal error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Problem { status, slug, title, detail, field } = problem(&self);
        match &self {
            // A client asked to wait longer than the views needed; not a fault of the server.
            ApiError::ViewsBehind(_) => tracing::warn!(error = ?self, "views behind"),
            ApiError::RequestTimeout => tracing::warn!("request timed out"),
            _ if status.is_server_error() => tracing::error!(error = ?self, "request failed"),
            _ => {}
        }
        let mut body = json!({
            "type": format!("urn:shedu:problem:{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(field) = field {
            body["errors"] = json!([{ "field": field, "message": detail }]);
        }
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slug `problem.rs` renders: the first string of each `Problem::new`, `internal`,
    /// `rule` or `conflict` call in its own source.
    fn slugs() -> Vec<&'static str> {
        let source = include_str!("problem.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let mut slugs = Vec::new();
        for marker in ["Problem::new(", "Problem::internal(", "rule(\"", "conflict(\""] {
            for (at, _) in source.match_indices(marker) {
                let call = &source[at + marker.len() - usize::from(marker.ends_with('"'))..];
                let call = &call[..call.find(')').unwrap_or(call.len())];
                if let Some(slug) = call.split('"').nth(1) {
                    slugs.push(slug);
                }
            }
        }
        slugs.sort();
        slugs.dedup();
        slugs
    }

    #[test]
    fn every_problem_type_is_documented() {
        let table = include_str!("../../docs/PROBLEMS.md");
        let slugs = slugs();
        assert!(slugs.len() > 30, "found only {slugs:?}");
        for slug in slugs {
            assert!(table.contains(&format!("| `{slug}` |")), "docs/PROBLEMS.md does not document `{slug}`");
        }
    }

    #[test]
    fn domain_refusals_keep_their_status_and_say_why() {
        let id = shedu_domain::ids::CaId::parse("root").unwrap();
        let held = ApiError::from(DomainError::CaOnHold { id: id.clone() });
        let p = problem(&held);
        assert_eq!((p.status, p.slug), (StatusCode::CONFLICT, "ca-on-hold"));
        assert!(p.detail.contains("'root' is on hold"), "{}", p.detail);
        let broken = problem(&ApiError::from(DomainError::BrokenInvariant("secret detail")));
        assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!broken.detail.contains("secret"), "a 5xx body names the kind of failure only");
        let invalid = problem(&ApiError::from(DomainError::invalid("subject.country", "two letters")));
        assert_eq!((invalid.status, invalid.field.as_deref()), (StatusCode::BAD_REQUEST, Some("subject.country")));
    }
}
