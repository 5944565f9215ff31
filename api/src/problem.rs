//! RFC 7807 problem responses, rendered from one exhaustive match. 5xx bodies name the kind of
//! failure only; the detail goes to the log.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shedu_commands::CommandError;
use shedu_commands::crypto::EngineError;
use shedu_commands::event_store::StoreError;
use shedu_domain::DomainError;

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

/// `(status, type slug, title, detail, invalid field)`.
type Parts = (StatusCode, &'static str, &'static str, String, Option<String>);

fn parts(error: &ApiError) -> Parts {
    use StatusCode as S;
    let internal = |slug, title| (S::INTERNAL_SERVER_ERROR, slug, title, "see the server log".to_owned(), None);
    match error {
        ApiError::BadRequest { field, message } => {
            (S::BAD_REQUEST, "invalid-input", "Invalid input", message.clone(), field.clone())
        }
        ApiError::UnsupportedMediaType(m) => {
            (S::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type", m.clone(), None)
        }
        ApiError::ViewsBehind(position) => (
            S::GATEWAY_TIMEOUT,
            "views-behind",
            "Views have not caught up",
            format!("the query views did not reach log position {position} in time; retry"),
            None,
        ),
        ApiError::IdempotencyMismatch => (
            S::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request".into(),
            None,
        ),
        ApiError::IdempotencyInFlight => (
            S::CONFLICT,
            "idempotency-key-in-flight",
            "Request in progress",
            "a request with this Idempotency-Key is still being processed".into(),
            None,
        ),
        ApiError::Command(command) => match command {
            CommandError::Domain(domain) => match domain {
                DomainError::Invalid { field, message } => (
                    S::BAD_REQUEST,
                    "invalid-input",
                    "Invalid input",
                    format!("{field}: {message}"),
                    Some(field.clone()),
                ),
                DomainError::NotFound(what) => {
                    (S::NOT_FOUND, "not-found", "Not found", format!("{what} not found"), None)
                }
                DomainError::Conflict(m) => (S::CONFLICT, "conflict", "Conflict", m.clone(), None),
                DomainError::Rule(m) => (S::UNPROCESSABLE_ENTITY, "rule-violation", "Rule violation", m.clone(), None),
            },
            CommandError::Store(store) => match store {
                StoreError::Conflict { .. } => (
                    S::CONFLICT,
                    "concurrency-conflict",
                    "Concurrent modification",
                    "another command changed this resource first; read it again and retry".into(),
                    None,
                ),
                StoreError::DuplicateEvent(_) => {
                    (S::CONFLICT, "duplicate-event", "Duplicate event", store.to_string(), None)
                }
                StoreError::Unavailable(_) => (
                    S::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "Event store unavailable",
                    "the event store could not be reached or did not confirm the write; read the resource before retrying".into(),
                    None,
                ),
                StoreError::Corrupt(_) => internal("store-corrupt", "Unreadable stored data"),
                StoreError::InvalidAppend(_) => internal("internal", "Internal error"),
            },
            CommandError::Engine(engine) => match engine {
                EngineError::Unsupported(m) => {
                    (S::UNPROCESSABLE_ENTITY, "unsupported-key", "Unsupported by the crypto engine", m.clone(), None)
                }
                EngineError::MalformedKey(m) => {
                    (S::BAD_REQUEST, "invalid-input", "Invalid input", m.clone(), Some("private_key".into()))
                }
                EngineError::KeyMismatch => (
                    S::UNPROCESSABLE_ENTITY,
                    "key-mismatch",
                    "Key does not match",
                    engine.to_string(),
                    Some("private_key".into()),
                ),
                EngineError::KeyNotFound(_) => internal("key-unavailable", "Key unavailable in its engine"),
                EngineError::Failed(_) => internal("engine-failure", "Crypto engine failure"),
            },
            CommandError::UnreadableEvent(_) => internal("store-corrupt", "Unreadable stored data"),
            CommandError::Internal(_) => internal("internal", "Internal error"),
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail, field) = parts(&self);
        match &self {
            // A client asked to wait longer than the views needed; not a fault of the server.
            ApiError::ViewsBehind(_) => tracing::warn!(error = ?self, "views behind"),
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
