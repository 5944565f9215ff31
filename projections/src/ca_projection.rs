//! The CA view: one row per existing CA, holding the CA's folded state.

use std::collections::{BTreeMap, BTreeSet};

use shedu_commands::event_store::RecordedEvent;
use shedu_domain::ca::{Ca, CaEvent, evolve};
use shedu_domain::ids::CaId;

use crate::query::{Field, FieldKind, SortField, SortValue};
use crate::runner::ProjectionError;
use crate::store::{ViewBatch, ViewStore};

pub const CA_FIELDS: &[Field] = &[
    Field { name: "id", kind: FieldKind::String },
    Field { name: "type", kind: FieldKind::Enum(&["MANAGED", "IMPORTED_WITH_KEY", "IMPORTED_WITHOUT_KEY"]) },
    Field { name: "status", kind: FieldKind::Enum(&["ACTIVE", "EXPIRED", "REVOKED", "INACTIVE"]) },
    Field { name: "level", kind: FieldKind::Number },
    Field { name: "profile_id", kind: FieldKind::String },
    Field { name: "engine_id", kind: FieldKind::String },
    Field { name: "serial_number", kind: FieldKind::String },
    Field { name: "subject.common_name", kind: FieldKind::String },
    Field { name: "issuer_metadata.id", kind: FieldKind::String },
    Field { name: "valid_to", kind: FieldKind::Date },
    Field { name: "valid_from", kind: FieldKind::Date },
    Field { name: "key_metadata.type", kind: FieldKind::Enum(&["RSA", "ECDSA", "Ed25519"]) },
];

/// `sort_by` values; the first is the default.
pub const CA_SORTABLE: &[SortField] = &[
    SortField { name: "creation_ts", numeric: true },
    SortField { name: "id", numeric: false },
    SortField { name: "level", numeric: true },
    SortField { name: "serial_number", numeric: false },
    SortField { name: "subject.common_name", numeric: false },
    SortField { name: "valid_from", numeric: true },
    SortField { name: "valid_to", numeric: true },
];

fn micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The value a CA sorts by, as stored in the view's sort columns.
pub fn ca_sort_value(ca: &Ca, sort_by: &str) -> SortValue {
    match sort_by {
        "id" => SortValue::Text(ca.id.to_string()),
        "level" => SortValue::Number(i64::from(ca.level)),
        "serial_number" => SortValue::Text(ca.certificate.serial_number.to_string()),
        "subject.common_name" => SortValue::Text(ca.certificate.subject.common_name.clone()),
        "valid_from" => SortValue::Number(micros(ca.certificate.valid_from)),
        "valid_to" => SortValue::Number(micros(ca.certificate.valid_to)),
        _ => SortValue::Number(micros(ca.created_at)),
    }
}

/// Folds a batch of events into the CA view rows they touch.
pub async fn project(
    views: &dyn ViewStore,
    events: &[RecordedEvent],
    batch: &mut ViewBatch,
) -> Result<(), ProjectionError> {
    let touched: BTreeSet<CaId> =
        events.iter().filter_map(|e| e.stream_id.strip_prefix("ca-")).filter_map(|id| CaId::parse(id).ok()).collect();
    if touched.is_empty() {
        return Ok(());
    }
    let ids: Vec<CaId> = touched.into_iter().collect();
    let mut states: BTreeMap<CaId, Option<Ca>> = ids.iter().map(|id| (id.clone(), None)).collect();
    for ca in views.load_cas(&ids).await? {
        states.insert(ca.id.clone(), Some(ca));
    }
    let mut positions: BTreeMap<CaId, i64> = BTreeMap::new();
    for recorded in events {
        let Some(id) = recorded.stream_id.strip_prefix("ca-").and_then(|id| CaId::parse(id).ok()) else {
            continue;
        };
        let event = CaEvent::from_stored(&recorded.event_type, recorded.schema_version, &recorded.data)?;
        let state = states.remove(&id).flatten();
        states.insert(id.clone(), evolve(state, &event));
        positions.insert(id, recorded.position);
    }
    for (id, position) in positions {
        match states.remove(&id).flatten() {
            Some(ca) if !ca.deleted => batch.upsert_cas.push((ca, position)),
            _ => batch.delete_cas.push(id),
        }
    }
    Ok(())
}
