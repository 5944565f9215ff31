//! CA endpoints: `/v2/cas…`.

mod model;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use shedu_commands::ca_service::{CreateCa, ImportCa, ReissueCa};
use shedu_commands::context::Outcome;
use shedu_domain::ca::Ca;
use shedu_domain::duration::Validity;
use shedu_domain::ids::{CaId, EngineId, ProfileId};
use shedu_domain::invalid::shown;
use shedu_domain::key::KeySpec;
use shedu_domain::status::{RevocationReason, Status};
use shedu_domain::subject::Subject;
use shedu_projections::ca_projection::{CA_FIELDS, CA_SORTABLE};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use self::model::{CaResponse, CreateCaBody, ImportCaBody, ProfileBody, ReissueBody, StatusBody};
use crate::context::{Body, Ctx, command_reply, list_query, wait_for_views};
use crate::input::{optional, optional_time, patch_operations};
use crate::problem::ApiError;
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2/cas", post(create).get(list))
        .route("/v2/cas/import", post(import))
        .route("/v2/cas/{id}", get(one).delete(delete))
        .route("/v2/cas/{id}/chain", get(chain))
        .route("/v2/cas/{id}/status", post(status))
        .route("/v2/cas/{id}/reissue", post(reissue))
        .route("/v2/cas/{id}/metadata", axum::routing::patch(metadata).put(metadata))
        .route("/v2/cas/{id}/profile", axum::routing::put(profile))
        .route("/v2/cas/{id}/events", get(events))
}

fn parse_id(raw: &str) -> Result<CaId, ApiError> {
    Ok(CaId::parse(raw)?)
}

/// A command's response: the CA, with the log position of its last event.
pub(crate) fn command_response(state: &AppState, status: StatusCode, outcome: &Outcome<Ca>) -> Response {
    command_reply(status, Some(json!(CaResponse::new(&outcome.state, state.clock.now()))), outcome.position)
}

async fn create(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Body(body): Body<CreateCaBody>,
) -> Result<Response, ApiError> {
    let request = CreateCa {
        id: optional(body.id, CaId::parse)?,
        parent_id: optional(body.parent_id, CaId::parse)?,
        subject: Subject::parse(body.subject)?,
        key: KeySpec::parse(&body.key_metadata.key_type, body.key_metadata.bits)?,
        validity: Validity::parse(&body.ca_expiration, "ca_expiration")?,
        engine_id: optional(body.engine_id, EngineId::parse)?,
        profile_id: optional(body.profile_id, ProfileId::parse)?,
        metadata: body.metadata,
    };
    let outcome = state.cas.create_ca(&ctx, request).await?;
    Ok(command_response(&state, StatusCode::CREATED, &outcome))
}

async fn import(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Body(body): Body<ImportCaBody>,
) -> Result<Response, ApiError> {
    let request = ImportCa {
        id: optional(body.id, CaId::parse)?,
        certificate_pem: body.certificate,
        chain_pem: body.chain.filter(|c| !c.trim().is_empty()),
        private_key_pem: body.private_key.filter(|k| !k.trim().is_empty()).map(zeroize::Zeroizing::new),
        engine_id: optional(body.engine_id, EngineId::parse)?,
        profile_id: optional(body.profile_id, ProfileId::parse)?,
        metadata: body.metadata,
    };
    let outcome = state.cas.import_ca(&ctx, request).await?;
    Ok(command_response(&state, StatusCode::CREATED, &outcome))
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (query, min_position) = list_query(query, CA_FIELDS, CA_SORTABLE)?;
    let fresh = wait_for_views(&state, &headers, min_position.as_deref()).await?;
    let now = state.clock.now();
    let page = state.views.list_cas(&query, now).await?;
    let list: Vec<_> = page.items.iter().map(|ca| CaResponse::new(ca, now)).collect();
    Ok(fresh.mark(Json(json!({ "list": list, "next": page.next })).into_response()))
}

/// One CA, read from its stream (always current); `?as_of=<RFC 3339>` replays it to that instant.
async fn one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let mut as_of = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "as_of" => {
                as_of = Some(
                    OffsetDateTime::parse(&value, &Rfc3339)
                        .map_err(|_| ApiError::bad_request("as_of", "must be an RFC 3339 time"))?,
                )
            }
            "min_position" => {}
            other => {
                return Err(ApiError::bad_request("query", format!("unknown query parameter {}", shown(other))));
            }
        }
    }
    let (ca, now) = match as_of {
        Some(at) => (state.cas.ca_as_of(&id, at).await?, at),
        None => (state.cas.ca(&id).await?, state.clock.now()),
    };
    Ok(Json(json!(CaResponse::new(&ca, now))).into_response())
}

async fn chain(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let chain = state.cas.chain(&parse_id(&id)?).await?;
    let body: String = chain.concat();
    Ok(([(header::CONTENT_TYPE, "application/pem-certificate-chain")], body).into_response())
}

async fn status(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<StatusBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let status = Status::parse(&body.status)?;
    let reason = optional(body.revocation_reason, RevocationReason::parse)?;
    let invalid_since = optional_time(body.invalidity_date, "invalidity_date")?;
    let outcome = state.cas.change_status(&ctx, &id, status, reason, invalid_since).await?;
    Ok(command_response(&state, StatusCode::OK, &outcome))
}

async fn reissue(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<ReissueBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let request = ReissueCa {
        reason: body.reason,
        rekey: body.rekey,
        key: body.key_metadata.map(|k| KeySpec::parse(&k.key_type, k.bits)).transpose()?,
        validity: body.ca_expiration.map(|v| Validity::parse(&v, "ca_expiration")).transpose()?,
        engine_id: optional(body.engine_id, EngineId::parse)?,
    };
    let outcome = state.cas.reissue(&ctx, &id, request).await?;
    Ok(command_response(&state, StatusCode::OK, &outcome))
}

async fn metadata(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> Result<Response, ApiError> {
    let outcome = state.cas.update_metadata(&ctx, &parse_id(&id)?, patch_operations(body)).await?;
    Ok(command_response(&state, StatusCode::OK, &outcome))
}

async fn profile(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<ProfileBody>,
) -> Result<Response, ApiError> {
    let profile_id = match body.profile_id {
        None => return Err(ApiError::bad_request("profile_id", "is required: a profile id, or null to clear")),
        Some(None) => None,
        Some(Some(raw)) => Some(ProfileId::parse(&raw)?),
    };
    let allowed = body
        .allowed_profile_ids
        .map(|ids| ids.iter().map(|id| ProfileId::parse(id)).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let outcome = state.cas.assign_profile(&ctx, &parse_id(&id)?, profile_id, allowed).await?;
    Ok(command_response(&state, StatusCode::OK, &outcome))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let outcome = state.cas.delete_ca(&ctx, &parse_id(&id)?).await?;
    Ok(command_reply(StatusCode::NO_CONTENT, None, outcome.position))
}

/// The CA's history, oldest first, a page at a time (`page_size`, default 25, at most 1000;
/// `bookmark` from the previous page's `next`).
async fn events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (mut page_size, mut after) = (25usize, 0u64);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "page_size" => {
                page_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError::bad_request("page_size", "must be 1 to 1000"))?
            }
            "bookmark" => {
                after = value
                    .parse()
                    .map_err(|_| ApiError::bad_request("bookmark", "is not a bookmark this server issued"))?
            }
            "min_position" => {}
            other => return Err(ApiError::bad_request("query", format!("unknown query parameter {}", shown(other)))),
        }
    }
    // One more than the page: whether there is a next page.
    let mut events = state.cas.history(&parse_id(&id)?, after, page_size + 1).await?;
    let next = (events.len() > page_size).then(|| events[page_size - 1].stream_version.to_string());
    events.truncate(page_size);
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "position": e.position,
                "event_id": e.event_id,
                "version": e.stream_version,
                "type": e.event_type,
                "schema_version": e.schema_version,
                "time": e.recorded_at.format(&Rfc3339).unwrap_or_default(),
                "actor": e.metadata.actor,
                "correlation_id": e.metadata.correlation_id,
                "causation_id": e.metadata.causation_id,
                "hash": hex::encode(e.hash),
                "prev_hash": hex::encode(e.prev_hash),
                "data": e.data,
            })
        })
        .collect();
    Ok(Json(json!({ "list": list, "next": next })).into_response())
}
