//! `Idempotency-Key` on POST: the first successful (2xx) response is stored and returned again for
//! a retry with the same key and request; the same key with another request is refused with 422.
//! A 4xx or 5xx is not stored and frees the key for the next attempt. The command runs with the
//! key ([`RequestKey`]), so that it appends at most once per claim even when a process dies
//! between its commit and its response (docs/adr/0016). Claims are kept for the configured
//! retention (24 hours by default), then the key may be used afresh.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use shedu_commands::CommandError;
use shedu_commands::idempotency::{Claim, IdempotencyStore, RequestKey, StoredResponse};

use crate::attempts::Attempt;
use crate::problem::ApiError;
use crate::state::AppState;

/// Response headers worth replaying; the rest (dates, request ids) belong to each response.
const KEPT_HEADERS: [&str; 3] = ["content-type", "shedu-log-position", "location"];

pub(crate) async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get("idempotency-key").map(|v| v.to_str().map(str::to_owned)) else {
        return next.run(request).await;
    };
    match run(state, key, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    state: Arc<AppState>,
    key: Result<String, axum::http::header::ToStrError>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = key
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key", "must be 1-255 visible ASCII characters"))?;
    let (parts, body) = request.into_parts();
    let limit = state.limits.max_body_bytes;
    let bytes = to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(parts.uri.to_string());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());

    // Keys are per actor: one client's key never replays another's response.
    let actor = crate::context::actor(&parts.headers)?;
    let key = format!("{actor}\u{1f}{key}");
    let since = match state.idempotency.claim(&key, &request_hash).await? {
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::Mismatch => return Err(ApiError::IdempotencyMismatch),
        Claim::Claimed { since } | Claim::Pending { since } => since,
    };
    // A pending claim that no attempt in this process holds belongs to a process that died (or to
    // another process still running it): it runs again at once, as the log takes one append per
    // claim whoever makes it. Within this process, one attempt at a time.
    let attempt = Attempt::begin(&state.attempts, &key).ok_or(ApiError::IdempotencyInFlight)?;
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(RequestKey::new(&key, since));
    // Run to completion even if the client goes away, so the claim is always completed or
    // released and a retry finds the first outcome.
    tokio::spawn(async move {
        let response = finish(state, key, since, next.run(request).await).await;
        drop(attempt);
        response
    })
    .await
    .map_err(|e| ApiError::Command(CommandError::Internal(format!("request task failed: {e}"))))?
}

/// Forgets claims older than `retention`, every tenth of it (at most every ten minutes).
pub(crate) async fn purge_expired(
    store: Arc<dyn IdempotencyStore>,
    retention: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
    loop {
        let cutoff = time::OffsetDateTime::now_utc() - retention;
        let cutoff_us = (cutoff.unix_timestamp_nanos() / 1000) as i64;
        match store.purge(cutoff_us).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "forgot expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn finish(state: Arc<AppState>, key: String, since: i64, response: Response) -> Result<Response, ApiError> {
    if !response.status().is_success() {
        // Only a success is a promise worth replaying. A refusal is released so that a corrected
        // request may use the key, and is never stored: a 4xx body describes what was sent.
        state.idempotency.release(&key, since).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            parts.headers.get(*name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_owned()))
        })
        .collect();
    let stored = StoredResponse { status: parts.status.as_u16(), headers, body: body.to_vec() };
    state.idempotency.complete(&key, &stored).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = axum::http::StatusCode::from_u16(stored.status).unwrap_or_default();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
