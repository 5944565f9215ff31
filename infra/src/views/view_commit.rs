//! Writing the views: a projector's batch, or a reset for a rebuild. Each runs in one write
//! transaction that first takes the views' checkpoint row (locked on PostgreSQL; SQLite's single
//! writer needs no lock), so concurrent projectors and a rebuild serialise on it.

use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_projections::store::ViewBatch;

use super::{VIEWS, save_checkpoint};
use crate::backend::{Backend, Column, WriteTx};
use crate::sql::rows::{
    ADD_COUNTER, UPSERT_CA, UPSERT_CERTIFICATE, UPSERT_CRL_DIRTY, UPSERT_PROFILE, UPSERT_REVOCATION, UPSERT_SCHEDULED,
    ca_row, certificate_row, profile_row, revocation_row, upsert_groups,
};
use crate::sql::{Dialect, Sql};
use crate::timestamps::{micros, now_us};

/// Applies `batch` if the views' checkpoint is still `batch.previous`, else a conflict and no change.
pub(super) async fn commit<B: Backend>(backend: &B, batch: ViewBatch) -> Result<(), StoreError> {
    let dialect = B::DIALECT;
    let mut tx = backend.begin_write().await?;
    // A row to lock even on the first batch: two projectors starting from nothing must still
    // serialise on it. Later batches find it there (or, after a reset, find none and lose).
    if batch.previous == LogCursor::START {
        tx.execute(ensure_checkpoint(dialect)).await?;
    }
    let mut read = Sql::with(dialect, "SELECT tx, position FROM checkpoints WHERE name = {}", vec![VIEWS.into()]);
    read.push(dialect.row_lock());
    let current = match tx.fetch(read, &[Column::Int, Column::Int]).await?.into_iter().next() {
        Some(mut row) => LogCursor { tx: row.int()? as u64, position: row.int()? },
        None => LogCursor::START,
    };
    if current != batch.previous {
        tx.rollback().await?;
        return Err(StoreError::Conflict {
            stream_id: "checkpoint:views".into(),
            expected: format!("{:?}", batch.previous),
            actual: current.position.max(0) as u64,
        });
    }
    let cas = batch.upsert_cas.iter().map(|(ca, position)| ca_row(ca, *position));
    for group in upsert_groups(cas.collect::<Result<_, _>>()?) {
        tx.execute(UPSERT_CA.statement(dialect, group)).await?;
    }
    for id in &batch.delete_cas {
        tx.execute(Sql::with(dialect, "DELETE FROM ca_view WHERE id = {}", vec![id.as_str().into()])).await?;
    }
    let certificates = batch.upsert_certificates.iter().map(|(c, position)| certificate_row(c, *position));
    for group in upsert_groups(certificates.collect::<Result<_, _>>()?) {
        tx.execute(UPSERT_CERTIFICATE.statement(dialect, group)).await?;
    }
    for state in &batch.upsert_profiles {
        tx.execute(UPSERT_PROFILE.statement(dialect, [profile_row(state)?])).await?;
    }
    for id in &batch.delete_profiles {
        tx.execute(Sql::with(dialect, "DELETE FROM profile_view WHERE id = {}", vec![id.as_str().into()])).await?;
    }
    // The scheduler's index: each listed stream's entries replaced by what is pending now.
    let streams: Vec<_> = batch.schedule.iter().filter(|s| s.existed).map(|s| s.stream_id.as_str().into()).collect();
    for chunk in streams.chunks(500) {
        let mut delete = Sql::new(dialect, "DELETE FROM expiry_schedule WHERE stream_id IN ");
        delete.push_list(chunk.iter().cloned());
        tx.execute(delete).await?;
    }
    let entries = batch.schedule.iter().flat_map(|s| {
        s.due.iter().map(|d| vec![s.stream_id.as_str().into(), d.trigger.key().into(), micros(d.at).into()])
    });
    for group in upsert_groups(entries.collect()) {
        tx.execute(UPSERT_SCHEDULED.statement(dialect, group)).await?;
    }
    // One row per certificate: PostgreSQL refuses an upsert that reaches a row twice.
    let mut revocations = std::collections::BTreeMap::new();
    for record in &batch.revocations {
        revocations.insert((record.issuer.as_str(), record.serial.as_str()), revocation_row(record));
    }
    for group in upsert_groups(revocations.into_values().collect()) {
        tx.execute(UPSERT_REVOCATION.statement(dialect, group)).await?;
    }
    // The latest change per issuer, for the CRL publisher to compare with its CRLs.
    let mut latest = std::collections::BTreeMap::new();
    for record in &batch.revocations {
        let entry = latest.entry(record.issuer.as_str()).or_insert(record.changed);
        *entry = (*entry).max(record.changed);
    }
    let dirty = latest.into_iter().map(|(issuer, at)| vec![issuer.into(), (at.tx as i64).into(), at.position.into()]);
    for group in upsert_groups(dirty.collect()) {
        tx.execute(UPSERT_CRL_DIRTY.statement(dialect, group)).await?;
    }
    for (key, delta) in &batch.counters {
        tx.execute(ADD_COUNTER.statement(dialect, [vec![key.as_str().into(), (*delta).into()]])).await?;
    }
    tx.execute(save_checkpoint(dialect, VIEWS, batch.checkpoint)).await?;
    tx.commit().await
}

/// Empties every view and every checkpoint.
pub(super) async fn reset<B: Backend>(backend: &B) -> Result<(), StoreError> {
    let dialect = B::DIALECT;
    let mut tx = backend.begin_write().await?;
    // Hold the checkpoint row first: a live projector's commit then waits for the reset instead
    // of landing between its deletes (counters and rows would drift).
    tx.execute(ensure_checkpoint(dialect)).await?;
    let mut lock = Sql::with(dialect, "SELECT tx FROM checkpoints WHERE name = {}", vec![VIEWS.into()]);
    lock.push(dialect.row_lock());
    tx.execute(lock).await?;
    // The signed CRLs (crl_documents) stay: they are not views, and the log holds their numbers.
    for table in
        ["ca_view", "certificate_view", "profile_view", "stats", "expiry_schedule", "revocation_view", "crl_dirty"]
    {
        tx.execute(Sql::new(dialect, &format!("DELETE FROM {table}"))).await?;
    }
    // Reactors' checkpoints go too: they would otherwise wait on views that start over.
    tx.execute(Sql::new(dialect, "DELETE FROM checkpoints")).await?;
    tx.commit().await
}

/// The views' checkpoint row at the start of the log, unless it exists.
fn ensure_checkpoint(dialect: Dialect) -> Sql {
    Sql::with(
        dialect,
        "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ({}, 0, 0, {}) ON CONFLICT DO NOTHING",
        vec![VIEWS.into(), now_us().into()],
    )
}
