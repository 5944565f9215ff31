//! Writing appends in a PostgreSQL transaction, the same way for a commit group and for an append
//! alone: lock the streams read, decide every append against them, then one statement writing
//! every stream and event.

use std::collections::{BTreeMap, HashMap};

use shedu_commands::event_store::{AppendRequest, Appended, ExpectedVersion, NewEvent, StoreError, StreamWrite};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::batch;
use crate::errors::{classify, insert_error};
use crate::timestamps::micros;
use crate::writer::lost;

/// An append in a transaction of its own: all of it or, on any failure, nothing.
pub(crate) async fn append_alone(pool: &PgPool, request: &AppendRequest) -> Result<Appended, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let result = write_in(&mut tx, &[request]).await?.pop();
    match result {
        Some(Ok(appended)) => {
            tx.commit().await.map_err(classify)?;
            Ok(appended)
        }
        other => {
            tx.rollback().await.map_err(classify)?;
            Err(other.and_then(Result::err).unwrap_or_else(|| StoreError::unavailable("an append got no result")))
        }
    }
}

/// Writes appends in `tx`, for a group or an append alone: the rows of every stream they read,
/// locked in stream-id order (shared for guards, exclusive for writes; one statement per run of
/// alike), then one statement inserting every new stream, moving every existing one and
/// inserting every event. A stream created by an append locks nothing: the primary key catches a
/// concurrent creator instead. Since every transaction takes its row locks before any insert,
/// and each phase goes in stream-id order, two transactions never wait on each other in a cycle.
/// Each append's own failure (a guard or expectation, a stream created elsewhere first, whose
/// events are then left out) is its result.
pub(crate) async fn write_in(
    tx: &mut Transaction<'static, Postgres>,
    requests: &[&AppendRequest],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    // Streams the group writes are locked exclusively, even where another append only guards them.
    let mut modes: BTreeMap<&str, Lock> = BTreeMap::new();
    for request in requests {
        for guard in &request.guards {
            modes.entry(&guard.stream_id).or_insert(Lock::Shared);
        }
        for write in request.writes.iter().filter(|w| !creates(w)) {
            modes.insert(&write.stream_id, Lock::Exclusive);
        }
    }
    let mut read: HashMap<String, (u64, Vec<u8>)> = HashMap::new();
    let locks: Vec<(&str, Lock)> = modes.into_iter().collect();
    for run in locks.chunk_by(|(_, a), (_, b)| a == b) {
        let (_, lock) = run[0];
        let ids: Vec<&str> = run.iter().map(|(id, _)| *id).collect();
        let rows: Vec<(String, i64, Vec<u8>)> =
            sqlx::query_as(lock.statement()).bind(&ids).fetch_all(&mut **tx).await.map_err(classify)?;
        read.extend(rows.into_iter().map(|(id, version, hash)| (id, (version as u64, hash))));
    }
    // A stream created here was not locked above; its row may exist all the same.
    let all: Vec<usize> = (0..requests.len()).collect();
    // Under their row locks, the events of the guarded streams are all committed and visible.
    let mut later = batch::Later::new();
    for (stream_id, after) in batch::needs_later(requests, &all, &read) {
        let events = read_later(tx, &stream_id, after).await?;
        later.insert(stream_id, events);
    }
    let planned = batch::plan(requests, &all, &read, &later)?;
    let mut results: Vec<Option<Result<Appended, StoreError>>> = (0..requests.len()).map(|_| None).collect();
    for (i, e) in planned.refused {
        results[i] = Some(Err(e));
    }
    if planned.accepted.is_empty() {
        return Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect());
    }

    let (mut created, mut moved) = (StreamColumns::default(), StreamColumns::default());
    for (id, head) in &planned.heads {
        let columns = if head.existed { &mut moved } else { &mut created };
        columns.ids.push(id);
        columns.versions.push(head.version as i64);
        columns.hashes.push(head.hash.to_vec());
    }
    let mut columns = EventColumns::default();
    for row in &planned.rows {
        columns.push(row.stream_id, row.event, row.version, &row.prev, &row.hash)?;
    }
    let inserted: Vec<(i64, Uuid)> = sqlx::query_as(WRITE_ALL)
        .bind(&created.ids)
        .bind(&created.versions)
        .bind(&created.hashes)
        .bind(&moved.ids)
        .bind(&moved.versions)
        .bind(&moved.hashes)
        .bind(&columns.ids)
        .bind(&columns.stream_ids)
        .bind(&columns.versions)
        .bind(&columns.types)
        .bind(&columns.schema_versions)
        .bind(&columns.data)
        .bind(&columns.metadata)
        .bind(&columns.recorded_at_us)
        .bind(&columns.prev_hashes)
        .bind(&columns.hashes)
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| insert_error(e, columns.ids[0]))?;
    let positions: HashMap<Uuid, i64> = inserted.into_iter().map(|(position, id)| (id, position)).collect();
    // Streams another transaction created first: their events were left out. Read before the
    // commit, as nothing after a successful commit may fail the group.
    let left_out = |write: &&StreamWrite| write.events.first().is_some_and(|e| !positions.contains_key(&e.event_id));
    let mut missing = HashMap::new();
    for write in planned.accepted.iter().flat_map(|&i| requests[i].writes.iter()).filter(left_out) {
        if !missing.contains_key(&write.stream_id) {
            missing.insert(write.stream_id.clone(), existing_version(tx, &write.stream_id).await?);
        }
    }
    let conflict = |request: &AppendRequest| {
        let write = request.writes.iter().find(left_out).unwrap_or(&request.writes[0]);
        StoreError::Conflict {
            stream_id: write.stream_id.clone(),
            expected: write.expected.to_string(),
            actual: missing.get(&write.stream_id).copied().unwrap_or(0),
        }
    };
    for (i, result) in batch::outcomes(requests, &planned.accepted, &positions, conflict) {
        results[i] = Some(result);
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect())
}

/// How a stream read by an append is locked until its transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// A guard: other guards may hold the stream too, a writer waits.
    Shared,
    /// A write: the stream's head moves.
    Exclusive,
}

impl Lock {
    /// ORDER BY sorts before rows are locked, so a run of streams is locked in stream-id order.
    fn statement(self) -> &'static str {
        match self {
            Lock::Shared => {
                "SELECT stream_id, version, last_hash FROM streams WHERE stream_id = ANY($1) ORDER BY stream_id FOR SHARE"
            }
            Lock::Exclusive => {
                "SELECT stream_id, version, last_hash FROM streams WHERE stream_id = ANY($1) ORDER BY stream_id FOR UPDATE"
            }
        }
    }
}

/// A write that creates its stream (and so has no row to lock).
fn creates(write: &StreamWrite) -> bool {
    !write.events.is_empty() && matches!(write.expected, ExpectedVersion::NoStream | ExpectedVersion::Exact(0))
}

/// Events as one array per column, for UNNEST.
#[derive(Default)]
struct EventColumns {
    ids: Vec<Uuid>,
    stream_ids: Vec<String>,
    versions: Vec<i64>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    data: Vec<String>,
    metadata: Vec<String>,
    recorded_at_us: Vec<i64>,
    prev_hashes: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
}

impl EventColumns {
    fn push(
        &mut self,
        stream_id: &str,
        event: &NewEvent,
        version: u64,
        prev: &[u8; 32],
        hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.ids.push(event.event_id);
        self.stream_ids.push(stream_id.to_owned());
        self.versions.push(version as i64);
        self.types.push(event.event_type.clone());
        self.schema_versions.push(event.schema_version as i32);
        self.data.push(event.data.to_string());
        self.metadata
            .push(serde_json::to_string(&event.metadata).map_err(|e| StoreError::InvalidAppend(e.to_string()))?);
        self.recorded_at_us.push(micros(event.recorded_at));
        self.prev_hashes.push(prev.to_vec());
        self.hashes.push(hash.to_vec());
        Ok(())
    }
}

/// Streams' new heads as one array per column, for UNNEST.
#[derive(Default)]
struct StreamColumns<'a> {
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    hashes: Vec<Vec<u8>>,
}

/// The version and type of a stream's events after `version` (at most a thousand: a guard that
/// far behind is stale anyway).
async fn read_later(
    tx: &mut Transaction<'static, Postgres>,
    stream_id: &str,
    version: u64,
) -> Result<Vec<(u64, String)>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT stream_version, event_type FROM events WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version LIMIT 1000",
    )
    .bind(stream_id)
    .bind(version as i64)
    .fetch_all(&mut **tx)
    .await
    .map_err(classify)?;
    Ok(rows.into_iter().map(|(version, event_type)| (version as u64, event_type)).collect())
}

async fn existing_version(tx: &mut Transaction<'static, Postgres>, stream_id: &str) -> Result<u64, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT version FROM streams WHERE stream_id = $1")
        .bind(stream_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(classify)?;
    Ok(row.map_or(0, |(v,)| v as u64))
}

/// Inserts the new streams (those that are still new), moves the locked existing ones, and
/// inserts the events of every stream either touched, in stream and version order.
const WRITE_ALL: &str = "WITH c AS (INSERT INTO streams (stream_id, version, last_hash) \
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::bytea[]) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING stream_id), \
     m AS (UPDATE streams SET version = x.v, last_hash = x.h FROM UNNEST($4::text[], $5::int8[], $6::bytea[]) \
     AS x(id, v, h) WHERE streams.stream_id = x.id RETURNING streams.stream_id), \
     s AS (SELECT stream_id FROM c UNION ALL SELECT stream_id FROM m) \
     INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, \
     recorded_at_us, prev_hash, hash) SELECT e.id, e.sid, e.v, e.t, e.sv, CAST(e.d AS json), CAST(e.m AS json), \
     e.at, e.ph, e.h FROM UNNEST($7::uuid[], $8::text[], $9::int8[], $10::text[], $11::int4[], $12::text[], \
     $13::text[], $14::int8[], $15::bytea[], $16::bytea[]) AS e(id, sid, v, t, sv, d, m, at, ph, h) \
     JOIN s ON s.stream_id = e.sid ORDER BY e.sid, e.v RETURNING position, event_id";
