//! The event log on PostgreSQL.

use async_trait::async_trait;
use shedu_commands::event_store::{
    AppendRequest, Appended, EventMetadata, EventStore, LogCursor, RecordedEvent, StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::{PgDb, unavailable};
use crate::append::{Step, chained, check_expected, check_guard, event_ids, idempotent_result, steps, to_hash};
use crate::timestamps::{from_micros, micros};

const SELECT_EVENT: &str = "SELECT position, tx_id::text AS tx, event_id, stream_id, stream_version, event_type, \
     schema_version, data::text AS data, metadata::text AS metadata, recorded_at_us, prev_hash, hash FROM events";

#[async_trait]
impl EventStore for PgDb {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let steps = steps(&request)?;
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        match append_in(&mut tx, &steps).await {
            Ok(appended) => {
                tx.commit().await.map_err(unavailable)?;
                Ok(appended)
            }
            Err(e) => {
                tx.rollback().await.map_err(unavailable)?;
                match e {
                    StoreError::Conflict { .. } | StoreError::DuplicateEvent(_) => {
                        self.retried(&request).await?.ok_or(e)
                    }
                    e => Err(e),
                }
            }
        }
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE stream_id = $1 ORDER BY stream_version");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(stream_id).fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(to_event).collect()
    }

    /// Only transactions older than every transaction still running are visible here: an event
    /// whose position was allocated earlier but commits later can then never be skipped.
    async fn read_all(&self, after: LogCursor, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "{SELECT_EVENT} WHERE (tx_id, position) > ($1::text::xid8, $2) \
             AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx_id, position LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.tx.to_string())
            .bind(after.position)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(to_event).collect()
    }

    async fn cursor_of(&self, position: i64) -> Result<Option<LogCursor>, StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT tx_id::text FROM events WHERE position = $1")
            .bind(position)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        found.map(|(tx,)| Ok(LogCursor { tx: parse_tx(&tx)?, position })).transpose()
    }

    async fn head(&self) -> Result<i64, StoreError> {
        let (head,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(position), 0)::bigint FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(head)
    }

    async fn head_cursor(&self) -> Result<LogCursor, StoreError> {
        let last: Option<(String, i64)> =
            sqlx::query_as("SELECT tx_id::text, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        last.map_or(Ok(LogCursor::START), |(tx, position)| Ok(LogCursor { tx: parse_tx(&tx)?, position }))
    }
}

impl PgDb {
    async fn retried(&self, request: &AppendRequest) -> Result<Option<Appended>, StoreError> {
        let ids = event_ids(request);
        let rows: Vec<(Uuid, i64, String, i64)> =
            sqlx::query_as("SELECT event_id, position, stream_id, stream_version FROM events WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        let found: Vec<(i64, String, u64)> = ids
            .iter()
            .filter_map(|id| rows.iter().find(|r| r.0 == *id))
            .map(|r| (r.1, r.2.clone(), r.3 as u64))
            .collect();
        idempotent_result(request, &found)
    }
}

async fn append_in(tx: &mut Transaction<'static, Postgres>, steps: &[Step<'_>]) -> Result<Appended, StoreError> {
    let mut positions = Vec::new();
    for step in steps {
        // Writers take the stream row exclusively; guards share it, so issuances guarded by one
        // CA run in parallel while a revocation of that CA waits for them (and they for it).
        let lock = match step {
            Step::Guard(_) => "SELECT version, last_hash FROM streams WHERE stream_id = $1 FOR SHARE",
            Step::Write(_) => "SELECT version, last_hash FROM streams WHERE stream_id = $1 FOR UPDATE",
        };
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as(lock).bind(step.stream_id()).fetch_optional(&mut **tx).await.map_err(unavailable)?;
        let current = row.as_ref().map_or(0, |r| r.0 as u64);
        let write = match step {
            Step::Guard(guard) => {
                check_guard(guard, current)?;
                continue;
            }
            Step::Write(write) => write,
        };
        check_expected(write, current)?;
        if write.events.is_empty() {
            continue;
        }
        let last_hash = match &row {
            Some((_, hash)) => to_hash(hash)?,
            None => [0; 32],
        };
        let chained = chained(&write.stream_id, current, last_hash, &write.events);
        let head = chained.last().map_or(last_hash, |c| c.3);
        let new_version = (current + write.events.len() as u64) as i64;
        // A new stream's row does not exist to be locked: a concurrent creator is caught here by
        // the primary key instead (the loser's INSERT waits, then inserts nothing).
        let stream_row = if row.is_none() {
            "INSERT INTO streams (stream_id, version, last_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        } else {
            "UPDATE streams SET version = $2, last_hash = $3 WHERE stream_id = $1"
        };
        let updated = sqlx::query(stream_row)
            .bind(&write.stream_id)
            .bind(new_version)
            .bind(head.as_slice())
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                stream_id: write.stream_id.clone(),
                expected: write.expected.to_string(),
                actual: 1,
            });
        }
        for (event, version, prev, hash) in chained {
            let metadata =
                serde_json::to_string(&event.metadata).map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
            let (position,): (i64,) = sqlx::query_as(
                "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, \
                 metadata, recorded_at_us, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, CAST($6 AS json), CAST($7 AS json), $8, $9, $10) \
                 RETURNING position",
            )
            .bind(event.event_id)
            .bind(&write.stream_id)
            .bind(version as i64)
            .bind(&event.event_type)
            .bind(event.schema_version as i32)
            .bind(event.data.to_string())
            .bind(metadata)
            .bind(micros(event.recorded_at))
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| insert_error(e, event.event_id))?;
            positions.push(position);
        }
    }
    Ok(Appended {
        first_position: positions.iter().copied().min().unwrap_or_default(),
        last_position: positions.iter().copied().max().unwrap_or_default(),
    })
}

fn insert_error(e: sqlx::Error, event_id: Uuid) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("events_event_id_key") => {
            StoreError::DuplicateEvent(event_id)
        }
        _ => unavailable(e),
    }
}

fn parse_tx(raw: &str) -> Result<u64, StoreError> {
    raw.parse().map_err(|_| StoreError::Corrupt(format!("transaction id '{raw}'")))
}

fn to_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let get_err = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    let tx: String = row.try_get("tx").map_err(get_err)?;
    let data: String = row.try_get("data").map_err(get_err)?;
    let metadata: String = row.try_get("metadata").map_err(get_err)?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let prev_hash: Vec<u8> = row.try_get("prev_hash").map_err(get_err)?;
    let hash: Vec<u8> = row.try_get("hash").map_err(get_err)?;
    Ok(RecordedEvent {
        position: row.try_get("position").map_err(get_err)?,
        tx: parse_tx(&tx)?,
        event_id: row.try_get("event_id").map_err(get_err)?,
        stream_id: row.try_get("stream_id").map_err(get_err)?,
        stream_version: row.try_get::<i64, _>("stream_version").map_err(get_err)? as u64,
        event_type: row.try_get("event_type").map_err(get_err)?,
        schema_version: row.try_get::<i32, _>("schema_version").map_err(get_err)? as u32,
        data: serde_json::from_str(&data).map_err(corrupt)?,
        metadata: serde_json::from_str::<EventMetadata>(&metadata).map_err(corrupt)?,
        recorded_at: from_micros(row.try_get("recorded_at_us").map_err(get_err)?)?,
        prev_hash: to_hash(&prev_hash)?,
        hash: to_hash(&hash)?,
    })
}
