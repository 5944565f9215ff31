//! What relying parties fetch: a CA's CRL (`/v2/cas/{id}/crl`) and its certificate
//! (`/v2/cas/{id}/certificate`, the caIssuers target), DER by default.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shedu_commands::context::CommandContext;
use shedu_commands::crl_service::CrlDocument;
use shedu_commands::x509::crl;
use shedu_commands::x509::parse::{certificates_from_pem, to_pem};
use shedu_domain::crl::CrlKind;
use shedu_domain::ids::CaId;
use shedu_domain::invalid::shown;
use time::format_description::well_known::Rfc2822;

use crate::problem::ApiError;
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v2/cas/{id}/crl", get(current_crl)).route("/v2/cas/{id}/certificate", get(certificate))
}

/// `?format=der|pem` and, for CRLs, `?delta=true|false`.
struct Wanted {
    pem: bool,
    delta: bool,
}

fn wanted(query: Option<String>, delta_allowed: bool) -> Result<Wanted, ApiError> {
    let mut wanted = Wanted { pem: false, delta: false };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.to_ascii_lowercase().as_str()) {
            ("format", "der") => wanted.pem = false,
            ("format", "pem") => wanted.pem = true,
            ("format", other) => {
                return Err(ApiError::bad_request("format", format!("{} is not der or pem", shown(other))));
            }
            ("delta", "true") if delta_allowed => wanted.delta = true,
            ("delta", "false") if delta_allowed => wanted.delta = false,
            ("delta", other) if delta_allowed => {
                return Err(ApiError::bad_request("delta", format!("{} is not true or false", shown(other))));
            }
            (other, _) => {
                return Err(ApiError::bad_request("query", format!("unknown query parameter {}", shown(other))));
            }
        }
    }
    Ok(wanted)
}

/// The CA's current CRL; the first request for a CA without one yet has it signed. A deleted
/// CA's last CRL is still served (its key is gone: nothing is signed for it any more).
async fn current_crl(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = CaId::parse(&id)?;
    let wanted = wanted(query, true)?;
    let ca = state.crls.ca(&id).await?;
    if !state.crl.enabled {
        return Err(ApiError::NoCrl("CRL publishing is off (crl.enabled = false)".into()));
    }
    let kind = match wanted.delta {
        false => CrlKind::Full,
        true if state.crl.delta => CrlKind::Delta,
        true => return Err(ApiError::NoCrl("delta CRLs are off (crl.delta = false)".into())),
    };
    let kept = state.crls.current(&id, kind).await?;
    let document = match kept {
        Some(document) => document,
        None if ca.deleted => return Err(ApiError::NoCrl(format!("CA '{id}' was deleted before it had a CRL"))),
        None if ca.key.is_none() => {
            return Err(ApiError::NoCrl(format!("CA '{id}' holds no private key, so Shedu signs no CRL for it")));
        }
        None => {
            let ctx = CommandContext {
                actor: "shedu-crl-publisher".into(),
                correlation_id: format!("crl:{id}"),
                request_key: None,
            };
            state.crls.kept_or_publish(&ctx, &id, kind).await?
        }
    };
    Ok(crl_response(&document, wanted.pem, &headers))
}

/// The CRL with its ETag (number and format) and Last-Modified (thisUpdate); 304 when the
/// client's `If-None-Match` names the CRL it has.
fn crl_response(document: &CrlDocument, pem: bool, request: &HeaderMap) -> Response {
    let last_modified = document.this_update.format(&Rfc2822).unwrap_or_default().replace("+0000", "GMT");
    let etag = format!("\"crl-{}-{}-{}\"", document.ca_id, document.number, if pem { "pem" } else { "der" });
    let headers = [(header::LAST_MODIFIED, last_modified), (header::ETAG, etag.clone())];
    let held = request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok());
    if held.flat_map(|v| v.split(',')).any(|tag| tag.trim() == etag || tag.trim() == "*") {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if pem {
        (headers, [(header::CONTENT_TYPE, "application/x-pem-file")], crl::pem(&document.der)).into_response()
    } else {
        (headers, [(header::CONTENT_TYPE, "application/pkix-crl")], document.der.clone()).into_response()
    }
}

/// The CA's certificate, for relying parties building a path (caIssuers).
async fn certificate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = CaId::parse(&id)?;
    let wanted = wanted(query, false)?;
    let ca = state.crls.ca(&id).await?;
    let der = certificates_from_pem(&ca.certificate.pem, "certificate")?.remove(0);
    Ok(if wanted.pem {
        ([(header::CONTENT_TYPE, "application/x-pem-file")], to_pem(&der)).into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()
    })
}
