//! Liveness, readiness and engine listing.

use shedu_domain::invalid::shown;
use std::sync::Arc;
use std::time::Duration;

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
    let (checked, engines) = tokio::join!(checks, engine_health(&state));
    // An engine that cannot be reached is reported by name, and the instance stays ready: the
    // CAs on every other engine keep working, and taking the instance out would stop them too.
    let unreachable: Vec<&str> = engines.iter().filter(|e| !e.reachable).map(|e| e.id.as_str()).collect();
    let engines_json: Vec<_> = engines.iter().map(EngineHealth::json).collect();
    match checked {
        Ok((head, position)) => {
            let lag = (head - position).max(0);
            let status = if lag <= MAX_LAG { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let word = match (lag <= MAX_LAG, unreachable.is_empty()) {
                (false, _) => "catching-up",
                (true, true) => "ready",
                (true, false) => "degraded",
            };
            let body = json!({ "status": word, "database": state.db.kind(), "log_head": head,
                "projection_lag": lag, "engines": engines_json, "unreachable_engines": unreachable });
            (status, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store-unavailable", "database": state.db.kind(), "engines": engines_json })),
            )
        }
    }
}

/// How long an engine may take to answer a health check before it counts as unreachable.
const ENGINE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

struct EngineHealth {
    id: String,
    reachable: bool,
    error: Option<String>,
    supported: Option<serde_json::Value>,
}

impl EngineHealth {
    fn json(&self) -> serde_json::Value {
        let mut value = json!({ "id": self.id, "reachable": self.reachable });
        if let Some(error) = &self.error {
            value["error"] = json!(error);
        }
        value
    }
}

/// Every engine checked at once, each on a blocking thread (PKCS#11 and the KMS client block).
async fn engine_health(state: &AppState) -> Vec<EngineHealth> {
    let checks = state.cas.engines().list().cloned().map(|engine| async move {
        let id = engine.info().id.to_string();
        let work = tokio::task::spawn_blocking(move || engine.check().and_then(|()| engine.supported_key_types()));
        let (reachable, error, supported) = match tokio::time::timeout(ENGINE_CHECK_TIMEOUT, work).await {
            Ok(Ok(Ok(types))) => (true, None, Some(json!(types))),
            Ok(Ok(Err(e))) => (false, Some(e.to_string()), None),
            Ok(Err(_)) => (false, Some("the check failed".to_owned()), None),
            Err(_) => (false, Some(format!("no answer within {} s", ENGINE_CHECK_TIMEOUT.as_secs())), None),
        };
        EngineHealth { id, reachable, error, supported }
    });
    futures_util::future::join_all(checks).await
}

/// `GET /v2/engines`: each engine with its level, what it can generate (as its device reports
/// it now) and whether it can be reached.
pub(crate) async fn engines(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let default = state.cas.engines().default_id().clone();
    let health = engine_health(&state).await;
    let list: Vec<_> = state
        .cas
        .engines()
        .list()
        .zip(health)
        .map(|(engine, health)| {
            let info = engine.info();
            let mut value = json!(info);
            value["default"] = json!(info.id == default);
            value["reachable"] = json!(health.reachable);
            value["supported_key_types"] = health.supported.unwrap_or_else(|| json!([]));
            if let Some(error) = health.error {
                value["error"] = json!(error);
            }
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
