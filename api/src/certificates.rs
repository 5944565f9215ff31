//! Certificate endpoints: signing under a CA, the inventory, status and metadata.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shedu_commands::ca_service::SignRequest;
use shedu_commands::context::Outcome;
use shedu_domain::ca::IssuerMetadata;
use shedu_domain::certificate::CertificateInfo;
use shedu_domain::ids::{CaId, ProfileId, SerialNumber};
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::metadata::Metadata;
use shedu_domain::profile::ProfileInput;
use shedu_domain::status::{Revocation, RevocationReason, Status};
use shedu_domain::{DomainError, Resource};
use shedu_projections::ca_projection::{CERTIFICATE_FIELDS, CERTIFICATE_SORTABLE};
use time::OffsetDateTime;

use crate::context::{Body, Ctx, command_reply, list_query, wait_for_views};
use crate::input::{optional, optional_time, patch_operations};
use crate::problem::ApiError;
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2/cas/{id}/certificates/sign", post(sign))
        .route("/v2/cas/{id}/certificates", get(list_by_ca))
        .route("/v2/certificates", get(list))
        .route("/v2/certificates/{serial}", get(one))
        .route("/v2/certificates/{serial}/status", post(status))
        .route("/v2/certificates/{serial}/metadata", axum::routing::patch(metadata).put(metadata))
}

/// Lamassu's flat certificate model: the X.509 facts plus Shedu's record of them.
#[derive(Serialize)]
struct CertificateResponse<'a> {
    #[serde(flatten)]
    certificate: &'a CertificateInfo,
    status: Status,
    issuer_metadata: &'a IssuerMetadata,
    metadata: &'a Metadata,
    profile_id: Option<&'a ProfileId>,
    revocation: Option<Revocation>,
    #[serde(with = "time::serde::rfc3339")]
    creation_ts: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_ts: OffsetDateTime,
    version: u64,
}

fn render(c: &IssuedCertificate, now: OffsetDateTime) -> Value {
    json!(CertificateResponse {
        certificate: &c.certificate,
        status: c.status_at(now),
        issuer_metadata: &c.issuer_metadata,
        metadata: &c.metadata,
        profile_id: c.profile_id.as_ref(),
        revocation: c.revocation,
        creation_ts: c.created_at,
        updated_ts: c.updated_at,
        version: c.version,
    })
}

fn respond(state: &AppState, status: StatusCode, outcome: &Outcome<IssuedCertificate>) -> Response {
    command_reply(status, Some(render(&outcome.state, state.clock.now())), outcome.position)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    csr: String,
    profile_id: Option<String>,
    profile: Option<ProfileInput>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    revocation_reason: Option<String>,
    invalidity_date: Option<String>,
}

async fn sign(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Body(body): Body<SignBody>,
) -> Result<Response, ApiError> {
    let request = SignRequest {
        csr: body.csr,
        profile_id: optional(body.profile_id, ProfileId::parse)?,
        profile: body.profile,
        metadata: body.metadata,
    };
    let outcome = state.cas.sign_certificate(&ctx, &CaId::parse(&id)?, request).await?;
    Ok(respond(&state, StatusCode::CREATED, &outcome))
}

async fn one(State(state): State<Arc<AppState>>, Path(serial): Path<String>) -> Result<Response, ApiError> {
    let certificate = state.certificates.certificate(&SerialNumber::parse(&serial)?).await?;
    Ok(Json(render(&certificate, state.clock.now())).into_response())
}

async fn status(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(serial): Path<String>,
    Body(body): Body<StatusBody>,
) -> Result<Response, ApiError> {
    let status = Status::parse(&body.status)?;
    let reason = optional(body.revocation_reason, RevocationReason::parse)?;
    let invalid_since = optional_time(body.invalidity_date, "invalidity_date")?;
    let serial = SerialNumber::parse(&serial)?;
    let outcome = state.certificates.change_status(&ctx, &serial, status, reason, invalid_since).await?;
    Ok(respond(&state, StatusCode::OK, &outcome))
}

async fn metadata(
    State(state): State<Arc<AppState>>,
    Ctx(ctx): Ctx,
    Path(serial): Path<String>,
    Body(body): Body<Value>,
) -> Result<Response, ApiError> {
    let patch = patch_operations(body);
    let outcome = state.certificates.update_metadata(&ctx, &SerialNumber::parse(&serial)?, patch).await?;
    Ok(respond(&state, StatusCode::OK, &outcome))
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    listing(&state, &headers, query, None).await
}

async fn list_by_ca(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = CaId::parse(&id)?;
    // Certificates outlive a deleted CA, so a CA that ever existed may be listed.
    if state.cas.ca_record(&id).await?.is_none() {
        return Err(DomainError::NotFound(Resource::Ca(id)).into());
    }
    listing(&state, &headers, query, Some(&id)).await
}

async fn listing(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<String>,
    issuer: Option<&CaId>,
) -> Result<Response, ApiError> {
    let (query, min_position) = list_query(query, CERTIFICATE_FIELDS, CERTIFICATE_SORTABLE)?;
    let fresh = wait_for_views(state, headers, min_position.as_deref()).await?;
    let now = state.clock.now();
    let page = state.views.list_certificates(&query, issuer, now).await?;
    let list: Vec<Value> = page.items.iter().map(|c| render(c, now)).collect();
    Ok(fresh.mark(Json(json!({ "list": list, "next": page.next })).into_response()))
}
