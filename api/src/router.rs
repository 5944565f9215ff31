//! Every route, with the layers all requests pass through.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::problem::ApiError;
use crate::state::AppState;
use crate::{cas, certificates, context, crls, idempotency, ops, profiles};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .merge(cas::routes())
        .merge(certificates::routes())
        .merge(crls::routes())
        .merge(profiles::routes())
        .route("/v2/stats/cas", get(ops::stats))
        .route("/v2/engines", get(ops::engines))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(axum::extract::DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::limit_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::time_limit))
        // problem.rs logs each failure once, at the level it deserves (a client's 504 is no ERROR).
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Every error is problem+json, an unknown path's too.
async fn no_route() -> ApiError {
    ApiError::NoRoute
}

async fn no_method() -> ApiError {
    ApiError::NoMethod
}
