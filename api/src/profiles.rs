//! Issuance profile endpoints: `/v2/profiles…`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use shedu_commands::context::Outcome;
use shedu_domain::ids::ProfileId;
use shedu_domain::profile::{ProfileInput, ProfileState};
use shedu_projections::ca_projection::{PROFILE_FIELDS, PROFILE_SORTABLE};
use time::format_description::well_known::Rfc3339;

use crate::context::{Body, Ctx, command_reply, list_query, wait_for_views};
use crate::problem::ApiError;
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2/profiles", get(list).post(create))
        .route("/v2/profiles/{id}", get(one).put(update).delete(delete))
}

/// The profile as submitted, plus its id, version and times.
pub(crate) fn profile_json(state: &ProfileState) -> Value {
    let mut value = json!(state.profile);
    value["version"] = json!(state.version);
    value["creation_ts"] = json!(state.created_at.format(&Rfc3339).unwrap_or_default());
    value["updated_ts"] = json!(state.updated_at.format(&Rfc3339).unwrap_or_default());
    value
}

fn respond(status: StatusCode, outcome: &Outcome<ProfileState>) -> Response {
    command_reply(status, Some(profile_json(&outcome.state)), outcome.position)
}

async fn create(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Body(body): Body<ProfileInput>,
) -> Result<Response, ApiError> {
    Ok(respond(StatusCode::CREATED, &state.profiles.create(&ctx, body).await?))
}

async fn update(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<ProfileInput>,
) -> Result<Response, ApiError> {
    Ok(respond(StatusCode::OK, &state.profiles.update(&ctx, &ProfileId::parse(&id)?, body).await?))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = state.profiles.delete(&ctx, &ProfileId::parse(&id)?).await?;
    Ok(command_reply(StatusCode::NO_CONTENT, None, outcome.position))
}

async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(profile_json(&state.profiles.profile(&ProfileId::parse(&id)?).await?)).into_response())
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (query, min_position) = list_query(query, PROFILE_FIELDS, PROFILE_SORTABLE)?;
    let fresh = wait_for_views(&state, &headers, min_position.as_deref()).await?;
    let page = state.views.list_profiles(&query).await?;
    let list: Vec<Value> = page.items.iter().map(profile_json).collect();
    Ok(fresh.mark(Json(json!({ "list": list, "next": page.next })).into_response()))
}
