//! The views: one row per existing CA, per issued certificate and per profile, each holding the
//! aggregate's folded state, plus the statistics counters.

use std::collections::{BTreeMap, BTreeSet};

use shedu_commands::clock::micros;
use shedu_commands::event_store::{LogCursor, RecordedEvent};
use shedu_domain::aggregate::DomainEvent;
use shedu_domain::ca::{self, Ca, CaEvent};
use shedu_domain::crl::{Covered, RevocationRecord};
use shedu_domain::expiry::{self, Due};
use shedu_domain::ids::{CaId, ProfileId, SerialNumber};
use shedu_domain::issued::{self, CertificateEvent, IssuedCertificate};
use shedu_domain::profile::{self, ProfileEvent, ProfileState};
use shedu_domain::status::{Revocation, Status};
use time::OffsetDateTime;

use crate::counters;
use crate::error::ProjectionError;
use crate::query::{Field, FieldKind, SortField, SortValue};
use crate::store::{Scheduling, ViewBatch, ViewStore};

pub const CA_FIELDS: &[Field] = &[
    Field { name: "id", kind: FieldKind::String },
    Field { name: "type", kind: FieldKind::Enum(&["MANAGED", "IMPORTED_WITH_KEY", "IMPORTED_WITHOUT_KEY"]) },
    Field { name: "status", kind: FieldKind::Enum(STATUSES) },
    Field { name: "level", kind: FieldKind::Number },
    Field { name: "profile_id", kind: FieldKind::String },
    Field { name: "engine_id", kind: FieldKind::String },
    Field { name: "serial_number", kind: FieldKind::String },
    Field { name: "subject.common_name", kind: FieldKind::String },
    Field { name: "issuer_metadata.id", kind: FieldKind::String },
    Field { name: "valid_to", kind: FieldKind::Date },
    Field { name: "valid_from", kind: FieldKind::Date },
    Field { name: "key_metadata.type", kind: FieldKind::Enum(KEY_TYPES) },
];

pub const CERTIFICATE_FIELDS: &[Field] = &[
    Field { name: "serial_number", kind: FieldKind::String },
    Field { name: "status", kind: FieldKind::Enum(STATUSES) },
    Field { name: "issuer_metadata.id", kind: FieldKind::String },
    Field { name: "subject.common_name", kind: FieldKind::String },
    Field { name: "valid_to", kind: FieldKind::Date },
    Field { name: "valid_from", kind: FieldKind::Date },
    Field { name: "key_metadata.type", kind: FieldKind::Enum(KEY_TYPES) },
    Field { name: "profile_id", kind: FieldKind::String },
];

pub const PROFILE_FIELDS: &[Field] =
    &[Field { name: "id", kind: FieldKind::String }, Field { name: "name", kind: FieldKind::String }];

const STATUSES: &[&str] = &["ACTIVE", "EXPIRED", "REVOKED", "INACTIVE"];
const KEY_TYPES: &[&str] = &["RSA", "ECDSA", "Ed25519"];

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

pub const CERTIFICATE_SORTABLE: &[SortField] = &[
    SortField { name: "creation_ts", numeric: true },
    SortField { name: "serial_number", numeric: false },
    SortField { name: "subject.common_name", numeric: false },
    SortField { name: "valid_from", numeric: true },
    SortField { name: "valid_to", numeric: true },
];

pub const PROFILE_SORTABLE: &[SortField] =
    &[SortField { name: "id", numeric: false }, SortField { name: "name", numeric: false }];

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

pub fn certificate_sort_value(c: &IssuedCertificate, sort_by: &str) -> SortValue {
    match sort_by {
        "serial_number" => SortValue::Text(c.serial().to_string()),
        "subject.common_name" => SortValue::Text(c.certificate.subject.common_name.clone()),
        "valid_from" => SortValue::Number(micros(c.certificate.valid_from)),
        "valid_to" => SortValue::Number(micros(c.certificate.valid_to)),
        _ => SortValue::Number(micros(c.created_at)),
    }
}

pub fn profile_sort_value(p: &ProfileState, sort_by: &str) -> SortValue {
    match sort_by {
        "name" => SortValue::Text(p.profile.name.clone()),
        _ => SortValue::Text(p.profile.id.to_string()),
    }
}

fn ids<T: Ord>(events: &[RecordedEvent], prefix: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    let set: BTreeSet<T> = events.iter().filter_map(|e| e.stream_id.strip_prefix(prefix)).filter_map(parse).collect();
    set.into_iter().collect()
}

/// Folds a batch of events into the view rows and counters they touch.
pub async fn project(
    views: &dyn ViewStore,
    events: &[RecordedEvent],
    batch: &mut ViewBatch,
) -> Result<(), ProjectionError> {
    project_cas(views, events, batch).await?;
    project_certificates(views, events, batch).await?;
    project_profiles(views, events, batch).await
}

async fn project_cas(
    views: &dyn ViewStore,
    events: &[RecordedEvent],
    batch: &mut ViewBatch,
) -> Result<(), ProjectionError> {
    let ids = ids(events, "ca-", |id| CaId::parse(id).ok());
    if ids.is_empty() {
        return Ok(());
    }
    let before: BTreeMap<CaId, Ca> = views.load_cas(&ids).await?.into_iter().map(|ca| (ca.id.clone(), ca)).collect();
    let mut states: BTreeMap<CaId, Option<Ca>> = ids.iter().map(|id| (id.clone(), before.get(id).cloned())).collect();
    let mut positions = BTreeMap::new();
    for recorded in events {
        let Some(id) = recorded.stream_id.strip_prefix("ca-").and_then(|id| CaId::parse(id).ok()) else { continue };
        let event = CaEvent::from_stored(&recorded.event_type, recorded.schema_version, &recorded.data)?;
        let state = states.remove(&id).flatten();
        states.insert(id.clone(), ca::evolve(state, &event));
        positions.insert(id, recorded.cursor());
    }
    for (id, cursor) in positions {
        let position = cursor.position;
        let old = before.get(&id).map(counters::ca_keys);
        let after = states.get(&id).cloned().flatten().filter(|ca| !ca.deleted);
        if let Some(ca) = states.get(&id).and_then(Option::as_ref) {
            ca_revocations(batch, ca, before.get(&id), cursor);
        }
        schedule(batch, id.stream_id(), before.get(&id).map(ca_pending), after.as_ref().map(ca_pending));
        match states.remove(&id).flatten().filter(|ca| !ca.deleted) {
            Some(ca) => {
                counters::apply(&mut batch.counters, old, Some(counters::ca_keys(&ca)));
                batch.upsert_cas.push((ca, position));
            }
            None => {
                counters::apply(&mut batch.counters, old, None);
                batch.delete_cas.push(id);
            }
        }
    }
    Ok(())
}

async fn project_certificates(
    views: &dyn ViewStore,
    events: &[RecordedEvent],
    batch: &mut ViewBatch,
) -> Result<(), ProjectionError> {
    let serials = ids(events, "certificate-", |s| SerialNumber::parse(s).ok());
    if serials.is_empty() {
        return Ok(());
    }
    let before: BTreeMap<SerialNumber, IssuedCertificate> =
        views.load_certificates(&serials).await?.into_iter().map(|c| (c.serial().clone(), c)).collect();
    let mut states: BTreeMap<SerialNumber, Option<IssuedCertificate>> =
        serials.iter().map(|s| (s.clone(), before.get(s).cloned())).collect();
    let mut positions = BTreeMap::new();
    for recorded in events {
        let Some(serial) = recorded.stream_id.strip_prefix("certificate-").and_then(|s| SerialNumber::parse(s).ok())
        else {
            continue;
        };
        let event = CertificateEvent::from_stored(&recorded.event_type, recorded.schema_version, &recorded.data)?;
        let state = states.remove(&serial).flatten();
        states.insert(serial.clone(), issued::evolve(state, &event));
        positions.insert(serial, recorded.cursor());
    }
    for (serial, cursor) in positions {
        let position = cursor.position;
        if let Some(certificate) = states.remove(&serial).flatten() {
            let was = before.get(&serial).map(|b| (b.recorded_status, b.revocation));
            let now = (certificate.recorded_status, certificate.revocation);
            let issuer = &certificate.issuer_metadata.id;
            let facts = (&certificate.certificate.serial_number, certificate.certificate.valid_to);
            batch.revocations.extend(revocation_record(issuer, facts, was, now, cursor));
            let pending = certificate_pending(&certificate);
            schedule(batch, issued::stream_id(&serial), before.get(&serial).map(certificate_pending), Some(pending));
            let old = before.get(&serial).map(counters::certificate_keys);
            counters::apply(&mut batch.counters, old, Some(counters::certificate_keys(&certificate)));
            batch.upsert_certificates.push((certificate, position));
        }
    }
    Ok(())
}

/// A subordinate's revocation goes on its issuer's CRLs, for its certificate and for each earlier
/// one a reissue replaced (they stay valid until they expire).
fn ca_revocations(batch: &mut ViewBatch, ca: &Ca, before: Option<&Ca>, cursor: LogCursor) {
    let was = before.map(|b| (b.recorded_status, b.revocation));
    let now = (ca.recorded_status, ca.revocation);
    if let Some(issuer) = ca.issuer_metadata.as_ref().filter(|_| !ca.certificate.is_self_signed()) {
        let current = (&ca.certificate.serial_number, ca.certificate.valid_to);
        batch.revocations.extend(revocation_record(&issuer.id, current, was, now, cursor));
    }
    for earlier in &ca.earlier_certificates {
        // An earlier certificate new to this batch (a reissue) takes the CA's revocation too.
        let known = before.is_some_and(|b| b.earlier_certificates.contains(earlier));
        if let Some(issuer) = &earlier.issuer {
            let was = if known { was } else { None };
            let certificate = (&earlier.serial_number, earlier.valid_to);
            batch.revocations.extend(revocation_record(issuer, certificate, was, now, cursor));
        }
    }
}

/// The revocation view's row for a certificate whose revocation changed from `was` to `now`: it
/// was revoked, revoked for another reason, or released from a hold (kept as not revoked, for
/// a delta CRL's removeFromCRL). Nothing when its revocation did not change.
fn revocation_record(
    issuer: &CaId,
    (serial, valid_to): (&SerialNumber, OffsetDateTime),
    was: Option<(Status, Option<Revocation>)>,
    now: (Status, Option<Revocation>),
    cursor: LogCursor,
) -> Option<RevocationRecord> {
    let revoked = |(status, revocation): (Status, Option<Revocation>)| revocation.filter(|_| status == Status::Revoked);
    let (before, after) = (was.and_then(revoked), revoked(now));
    if before == after {
        return None;
    }
    Some(RevocationRecord {
        issuer: issuer.clone(),
        serial: serial.clone(),
        revoked: after.is_some(),
        revocation: after.or(before)?,
        valid_to,
        changed: Covered { tx: cursor.tx, position: cursor.position },
    })
}

fn ca_pending(ca: &Ca) -> Vec<Due> {
    expiry::pending(&ca.certificate, ca.recorded_status, &ca.metadata)
}

fn certificate_pending(c: &IssuedCertificate) -> Vec<Due> {
    expiry::pending(&c.certificate, c.recorded_status, &c.metadata)
}

/// Replaces a stream's entries in the scheduler's index when what is pending for it changed
/// (most events, an issuance's status or metadata aside, change nothing there).
fn schedule(batch: &mut ViewBatch, stream_id: String, before: Option<Vec<Due>>, after: Option<Vec<Due>>) {
    let existed = before.is_some();
    let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
    if before != after {
        batch.schedule.push(Scheduling { stream_id, due: after, existed });
    }
}

async fn project_profiles(
    views: &dyn ViewStore,
    events: &[RecordedEvent],
    batch: &mut ViewBatch,
) -> Result<(), ProjectionError> {
    let ids = ids(events, "profile-", |id| ProfileId::parse(id).ok());
    if ids.is_empty() {
        return Ok(());
    }
    let mut states: BTreeMap<ProfileId, Option<ProfileState>> = ids.iter().map(|id| (id.clone(), None)).collect();
    for state in views.load_profiles(&ids).await? {
        states.insert(state.profile.id.clone(), Some(state));
    }
    let mut touched = BTreeSet::new();
    for recorded in events {
        let Some(id) = recorded.stream_id.strip_prefix("profile-").and_then(|id| ProfileId::parse(id).ok()) else {
            continue;
        };
        let event = ProfileEvent::from_stored(&recorded.event_type, recorded.schema_version, &recorded.data)?;
        let state = states.remove(&id).flatten();
        states.insert(id.clone(), profile::evolve(state, &event));
        touched.insert(id);
    }
    for id in touched {
        match states.remove(&id).flatten().filter(|p| !p.deleted) {
            Some(state) => batch.upsert_profiles.push(state),
            None => batch.delete_profiles.push(id),
        }
    }
    Ok(())
}
