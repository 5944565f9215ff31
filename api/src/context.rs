//! Request-scoped inputs: who is acting, the correlation id, read-your-writes positions, and
//! JSON bodies with problem+json errors.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shedu_commands::context::CommandContext;
use shedu_commands::idempotency::RequestKey;
use shedu_domain::invalid::shown;

use crate::problem::ApiError;
use crate::state::AppState;

pub(crate) const LOG_POSITION: &str = "shedu-log-position";

/// A command's response: `status`, an optional JSON body, and the log position of its last event
/// in `Shedu-Log-Position` (what a later query passes as `Shedu-Min-Position`).
pub(crate) fn command_reply(
    status: axum::http::StatusCode,
    body: Option<serde_json::Value>,
    position: i64,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Ok(value) = axum::http::HeaderValue::from_str(&position.to_string()) {
        response.headers_mut().insert(LOG_POSITION, value);
    }
    response
}
pub(crate) const MIN_POSITION: &str = "shedu-min-position";
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The acting identity and correlation id. Authentication is not built yet: the actor is taken
/// from the `Shedu-Actor` header as set by a trusted gateway, else "anonymous". An actor is
/// recorded exactly as sent or refused, never rewritten: 1-128 visible ASCII characters.
pub(crate) struct Ctx(pub CommandContext);

const MAX_ACTOR: usize = 128;

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Ctx(CommandContext {
            actor: actor(&parts.headers)?,
            correlation_id: header("x-request-id").unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            request_key: parts.extensions.get::<RequestKey>().cloned(),
        }))
    }
}

/// The `Shedu-Actor` header, or "anonymous" without one.
pub(crate) fn actor(headers: &HeaderMap) -> Result<String, ApiError> {
    let mut values = headers.get_all("shedu-actor").iter();
    let Some(value) = values.next() else { return Ok("anonymous".into()) };
    // Two actors: a gateway that appended its own rather than replacing the client's.
    if values.next().is_some() {
        return Err(ApiError::bad_request("Shedu-Actor", "sent more than once"));
    }
    let refused = || ApiError::bad_request("Shedu-Actor", format!("must be 1-{MAX_ACTOR} visible ASCII characters"));
    let text = value.to_str().map_err(|_| refused())?;
    let visible = |c: char| c.is_ascii_graphic() || c == ' ';
    if text.is_empty() || text.len() > MAX_ACTOR || !text.chars().all(visible) || text.trim() != text {
        return Err(refused());
    }
    Ok(text.to_owned())
}

/// The largest body a request may send (`limits.max_body_bytes`), as the router set it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// Refuses a body larger than the limit with 413: at once when `Content-Length` says so, else
/// when reading it (axum's body limit, set to the same number).
pub(crate) async fn limit_body(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<AppState>>,
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = state.limits.max_body_bytes;
    let declared = request.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return ApiError::PayloadTooLarge(limit).into_response();
    }
    request.extensions_mut().insert(BodyLimit(limit));
    next.run(request).await
}

/// Answers 503 `request-timeout` for a request still running after `limits.request_timeout_seconds`.
/// The request runs in a task of its own, so a command under way still completes (a CA whose key
/// took long to generate is still created, and its key not left behind); the client reads the
/// resource, or retries with its `Idempotency-Key`.
pub(crate) async fn time_limit(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = Duration::from_secs(state.limits.request_timeout_seconds);
    let running = tokio::spawn(next.run(request));
    match tokio::time::timeout(limit, running).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => ApiError::Command(shedu_commands::CommandError::Internal(format!("request task failed: {e}")))
            .into_response(),
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// A JSON body whose errors become problem+json (400, or 415 without a JSON content type).
pub(crate) struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !(content_type.starts_with("application/json") || content_type.starts_with("application/json-patch+json")) {
            return Err(ApiError::UnsupportedMediaType("send the body as application/json".into()));
        }
        // axum's rejection text names the inner error; a fixed text says as much without it.
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(limit),
            _ => ApiError::BadRequest { field: None, message: "the request body could not be read".into() },
        })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| ApiError::BadRequest {
            field: None,
            message: format!("malformed JSON body: {}", json_error(&e)),
        })
    }
}

/// What is wrong with a JSON body and where, never what was sent: serde's messages quote the
/// offending value (`invalid type: string "<the PEM of a private key>…"`), and a client that
/// pastes a secret into the wrong field must not find it in the response, the log or a stored reply.
fn json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    let kind = match error.classify() {
        // serde_json's own syntax texts ("expected value", "EOF while parsing a string") quote nothing.
        Category::Syntax | Category::Eof => message.to_owned(),
        Category::Data => data_error(message),
        Category::Io => "unreadable".to_owned(),
    };
    if error.line() == 0 { kind } else { format!("{kind}{position}") }
}

/// A data error by its kind, for serde's own kinds of error. What follows the last ", expected "
/// is the target type's own wording (a quoted value may contain the phrase, the type's wording
/// does not); field names are the type's, except an unknown one, named only when it looks like a
/// field name.
fn data_error(message: &str) -> String {
    let expected = message.rsplit_once(", expected ").map(|(_, expected)| expected);
    let quoted = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next());
    for prefix in ["missing field `", "duplicate field `"] {
        if let Some(field) = quoted(prefix) {
            return format!("{prefix}{field}`");
        }
    }
    let kind = match quoted("unknown field `") {
        Some(field) if field.len() <= 64 && field.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) => {
            format!("unknown field `{field}`")
        }
        Some(_) => "unknown field".to_owned(),
        None => match ["invalid type", "invalid value", "invalid length", "unknown variant"]
            .into_iter()
            .find(|kind| message.starts_with(kind))
        {
            Some(kind) => kind.to_owned(),
            // A message of the type's own making: its wording is unknown, so none of it is kept.
            None => return "invalid data".to_owned(),
        },
    };
    match expected {
        Some(expected) => format!("{kind}, expected {expected}"),
        None => kind,
    }
}

/// Waits until the views include what this query must see, at most five seconds: every write
/// this process had acknowledged when the query arrived, and `min_position` (header
/// `Shedu-Min-Position` or query parameter) when the client names one, for writes made through
/// another process. When the views are current this costs no query at all.
///
/// A named position not reached in time is a 504: the client asked for a guarantee. The default
/// wait, not asked for, answers from the views as they are after the five seconds (a long
/// transaction anywhere in the PostgreSQL cluster holds every reader of the log back), saying so
/// in `Shedu-Views-Behind`: a list that fails whenever the views lag would be worse than one that
/// says it lags.
pub(crate) async fn wait_for_views(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Freshness, ApiError> {
    let own = state.committed.position();
    let raw =
        headers.get(MIN_POSITION).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| query.map(str::to_owned));
    if let Some(raw) = raw {
        let position: i64 = raw
            .trim()
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| ApiError::bad_request("min_position", "must be a log position (0 or more)"))?;
        if position > 0 {
            wait_for_position(state, position).await?;
        }
    }
    if own <= 0 {
        return Ok(Freshness(None));
    }
    let target = state.committed.cursor(state.store.as_ref(), own).await?;
    if state.progress.current() >= target {
        return Ok(Freshness(None));
    }
    if state.progress.wait_for_cursor(state.views.as_ref(), target, MAX_WAIT).await? {
        Ok(Freshness(None))
    } else {
        tracing::warn!(position = own, "views behind this process's writes after 5 s; answering from them as they are");
        Ok(Freshness(Some(own)))
    }
}

/// Whether a query's answer includes every write it should have seen: if not, the position the
/// views had not reached, sent as `Shedu-Views-Behind`.
#[must_use]
pub(crate) struct Freshness(Option<i64>);

impl Freshness {
    pub(crate) fn mark(self, mut response: axum::response::Response) -> axum::response::Response {
        if let Some(value) = self.0.and_then(|p| axum::http::HeaderValue::from_str(&p.to_string()).ok()) {
            response.headers_mut().insert(VIEWS_BEHIND, value);
        }
        response
    }
}

const VIEWS_BEHIND: &str = "shedu-views-behind";

/// Waits for a position the client names. One beyond the log's head is no write anyone was told
/// about: refused at once rather than waited for.
async fn wait_for_position(state: &AppState, position: i64) -> Result<(), ApiError> {
    let head = state.store.head().await?;
    if position > head {
        return Err(ApiError::bad_request("min_position", format!("{position} is beyond the log's head ({head})")));
    }
    let reached = state.progress.wait_for(state.store.as_ref(), state.views.as_ref(), position, MAX_WAIT).await?;
    if reached { Ok(()) } else { Err(ApiError::ViewsBehind(position)) }
}

/// Parses a list request's query string: `filter` (repeatable), `sort_by`, `sort_mode`,
/// `page_size`, `bookmark`; returns the query and any `min_position`. Unknown parameters are
/// refused rather than ignored, so a typo never silently widens a listing.
pub(crate) fn list_query(
    query: Option<String>,
    fields: &[shedu_projections::query::Field],
    sortable: &[shedu_projections::query::SortField],
) -> Result<(shedu_projections::query::ListQuery, Option<String>), ApiError> {
    let mut raw = shedu_projections::query::RawListQuery::default();
    let mut min_position = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "filter" => raw.filters.push(value),
            "sort_by" => raw.sort_by = Some(value),
            "sort_mode" => raw.sort_mode = Some(value),
            "page_size" => raw.page_size = Some(value),
            "bookmark" => raw.bookmark = Some(value),
            "min_position" => min_position = Some(value),
            other => return Err(ApiError::bad_request("query", format!("unknown query parameter {}", shown(other)))),
        }
    }
    Ok((shedu_projections::query::ListQuery::parse(&raw, fields, sortable)?, min_position))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // Only its deserialisation is under test.
    struct Request {
        id: String,
        #[serde(default)]
        metadata: serde_json::Map<String, serde_json::Value>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        Root,
    }

    fn error_of(json: &str) -> String {
        json_error(&serde_json::from_str::<Request>(json).unwrap_err())
    }

    #[test]
    fn json_errors_say_what_and_where_but_never_echo_the_value() {
        // A pasted key's shape, assembled so that no key header stands in the source.
        let (begin, end) =
            (format!("-----BEGIN EC {}-----", "PRIVATE KEY"), format!("-----END EC {}-----", "PRIVATE KEY"));
        let key = format!("{begin}\\nMHcCAQEEIBc, expected a secret at line 9\\n{end}");
        let pasted = error_of(&format!(r#"{{"id": "x", "metadata": "{key}"}}"#));
        assert_eq!(pasted, "invalid type, expected a map at line 1 column 128");
        let variant = error_of(r#"{"id": "x", "kind": "MHcCAQEEIBc"}"#);
        assert!(variant.starts_with("unknown variant, expected `Root`"), "{variant}");
        assert_eq!(
            error_of(r#"{"id": "x", "colour": 1}"#),
            "unknown field `colour`, expected one of `id`, `metadata`, `kind` at line 1 column 20"
        );
        let odd_field = error_of(r#"{"id": "x", "-----BEGIN KEY----- MHc": 1}"#);
        assert!(odd_field.starts_with("unknown field, expected") && !odd_field.contains("MHc"), "{odd_field}");
        assert_eq!(error_of(r#"{"metadata": {}}"#), "missing field `id` at line 1 column 16");
        assert_eq!(error_of(r#"{"id": "#), "EOF while parsing a value at line 1 column 7");
        assert_eq!(error_of(r#"{"id": 5}"#), "invalid type, expected a string at line 1 column 8");
        let custom = serde_json::from_str::<std::net::SocketAddr>(r#""MHcCAQEEIBc, expected x""#).unwrap_err();
        assert_eq!(json_error(&custom), "invalid data at line 1 column 25");
    }
}
