//! Request-scoped inputs: who is acting, the correlation id, read-your-writes positions, and
//! JSON bodies with problem+json errors.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shedu_commands::context::CommandContext;
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
/// from the `Shedu-Actor` header as set by a trusted gateway, else "anonymous".
pub(crate) struct Ctx(pub CommandContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Ctx(CommandContext {
            actor: header("shedu-actor").unwrap_or_else(|| "anonymous".into()),
            correlation_id: header("x-request-id").unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        }))
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
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest { field: None, message: e.body_text() })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::BadRequest { field: None, message: format!("malformed JSON body: {e}") })
    }
}

/// Waits until the views include `min_position` (header `Shedu-Min-Position` or query
/// parameter), at most five seconds.
pub(crate) async fn wait_for_views(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Result<(), ApiError> {
    let raw =
        headers.get(MIN_POSITION).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| query.map(str::to_owned));
    let Some(raw) = raw else { return Ok(()) };
    let position: i64 =
        raw.trim().parse().map_err(|_| ApiError::bad_request("min_position", "must be a log position"))?;
    if position <= 0 {
        return Ok(());
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
