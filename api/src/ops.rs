//! Liveness, readiness and engine listing.

use shedu_domain::invalid::shown;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// Readiness allows the views to trail the log by this many positions.
const MAX_LAG: i64 = 1_000;

pub(crate) async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let checks = async {
        state.db.ping().await?;
        let head = state.store.head().await?;
        let checkpoint = state.views.checkpoint().await?;
        Ok::<_, shedu_commands::event_store::StoreError>((head, checkpoint.position))
    };
    match checks.await {
        Ok((head, position)) => {
            let lag = (head - position).max(0);
            let status = if lag <= MAX_LAG { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let body = json!({ "status": if lag <= MAX_LAG { "ready" } else { "catching-up" },
                "database": state.db.kind(), "log_head": head, "projection_lag": lag });
            (status, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store-unavailable", "database": state.db.kind() })),
            )
        }
    }
}

pub(crate) async fn engines(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let default = state.cas.engines().default_id().clone();
    let list: Vec<_> = state
        .cas
        .engines()
        .list()
        .map(|info| {
            let mut value = json!(info);
            value["default"] = json!(info.id == default);
            value
        })
        .collect();
    Json(list)
}

/// `GET /v2/stats/cas`: counters kept by the projector (constant time), with expiries the
/// scheduler has not recorded yet moved to EXPIRED by one indexed count.
pub(crate) async fn stats(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<axum::response::Response, crate::problem::ApiError> {
    let mut min_position = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "min_position" => min_position = Some(value.into_owned()),
            other => {
                return Err(crate::problem::ApiError::bad_request(
                    "query",
                    format!("unknown query parameter {}", shown(other)),
                ));
            }
        }
    }
    let fresh = crate::context::wait_for_views(&state, &headers, min_position.as_deref()).await?;
    let now = state.clock.now();
    // The expiries not yet recorded are counted after the counters are read: the other way
    // round, an expiry recorded in between would be moved to EXPIRED twice. The checkpoint is
    // read meanwhile on another connection.
    let counted = async {
        let counters = state.views.counters().await?;
        Ok::<_, shedu_commands::event_store::StoreError>((counters, state.views.unrecorded_expiry(now).await?))
    };
    let ((counters, unrecorded), checkpoint) = tokio::try_join!(counted, state.views.checkpoint())?;
    let group = |prefix: &str| -> serde_json::Map<String, serde_json::Value> {
        counters.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|name| (name.to_owned(), json!(v)))).collect()
    };
    let statuses = |prefix: &str, moved: &[(String, i64)]| {
        let mut out = serde_json::Map::new();
        for status in ["ACTIVE", "EXPIRED", "REVOKED", "INACTIVE"] {
            let mut n = counters.get(&format!("{prefix}{status}")).copied().unwrap_or(0);
            let expired: i64 = moved.iter().map(|(_, c)| c).sum();
            n += match status {
                "EXPIRED" => expired,
                s => -moved.iter().filter(|(from, _)| from == s).map(|(_, c)| c).sum::<i64>(),
            };
            out.insert(status.to_owned(), json!(n));
        }
        out
    };
    Ok(fresh.mark(
        Json(json!({
            "total": counters.get("ca.total").copied().unwrap_or(0),
            "status_distribution": statuses("ca.status.", &unrecorded.cas),
            "type_distribution": group("ca.type."),
            "engine_distribution": group("ca.engine."),
            "level_distribution": group("ca.level."),
            "certificates": {
                "total": counters.get("certificate.total").copied().unwrap_or(0),
                "status_distribution": statuses("certificate.status.", &unrecorded.certificates),
            },
            "as_of_position": checkpoint.position,
        }))
        .into_response(),
    ))
}
