//! Liveness, readiness and engine listing.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::AppState;

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
