//! The event log on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use shedu_commands::event_store::{
    AppendRequest, Appended, EventMetadata, EventStore, LogCursor, RecordedEvent, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::SqliteDb;
use crate::append::{Stored, StoredRow, event_ids, idempotent_result, to_hash};
use crate::batch::Row as EventRow;
use crate::errors::{classify, insert_error};
use crate::timestamps::{from_micros, micros};
use crate::writer;

const SELECT_EVENT: &str = "SELECT position, event_id, stream_id, stream_version, event_type, schema_version, \
     data, metadata, recorded_at_us, prev_hash, hash FROM events";

#[async_trait]
impl EventStore for SqliteDb {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let result = writer::submit(&self.appender, request.clone()).await;
        match result {
            Err(e @ (StoreError::Conflict { .. } | StoreError::DuplicateEvent(_))) => {
                self.retried(&request).await?.ok_or(e)
            }
            other => other,
        }
    }

    async fn read_stream_page(
        &self,
        stream_id: &str,
        version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE stream_id = ? AND stream_version > ? ORDER BY stream_version LIMIT ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream_id)
            .bind(version as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await
            .map_err(classify)?;
        rows.iter().map(to_event).collect()
    }

    async fn events_with_ids(&self, first: Uuid, last: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        // Ids are stored as hyphenated lower-case text, which sorts as the bytes do.
        let sql = format!("{SELECT_EVENT} WHERE event_id BETWEEN ? AND ? ORDER BY position");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(first.to_string())
            .bind(last.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(classify)?;
        rows.iter().map(to_event).collect()
    }

    async fn read_all(&self, after: LogCursor, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE position > ? ORDER BY position LIMIT ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.position)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(classify)?;
        rows.iter().map(to_event).collect()
    }

    async fn cursor_of(&self, position: i64) -> Result<Option<LogCursor>, StoreError> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT position FROM events WHERE position = ?")
            .bind(position)
            .fetch_optional(&self.reader)
            .await
            .map_err(classify)?;
        Ok(found.map(|(position,)| LogCursor { tx: 0, position }))
    }

    async fn head(&self) -> Result<i64, StoreError> {
        let (head,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.reader)
            .await
            .map_err(classify)?;
        Ok(head)
    }

    async fn head_cursor(&self) -> Result<LogCursor, StoreError> {
        Ok(LogCursor { tx: 0, position: self.head().await? })
    }
}

impl SqliteDb {
    /// After a failed append: was it a retry of events already stored?
    async fn retried(&self, request: &AppendRequest) -> Result<Option<Appended>, StoreError> {
        let mut found = Vec::new();
        for id in event_ids(request) {
            let row: Option<StoredRow> = sqlx::query_as(
                "SELECT position, stream_id, stream_version, prev_hash, hash FROM events WHERE event_id = ?",
            )
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(classify)?;
            if let Some(row) = row {
                found.push(Stored::from_row(row)?);
            }
        }
        idempotent_result(request, &found)
    }
}

/// The version and type of a stream's events after `version` (at most a thousand: a guard that
/// far behind is stale anyway).
pub(crate) async fn read_later(
    tx: &mut Transaction<'static, Sqlite>,
    stream_id: &str,
    version: u64,
) -> Result<Vec<(u64, String)>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT stream_version, event_type FROM events WHERE stream_id = ? AND stream_version > ? \
         ORDER BY stream_version LIMIT 1000",
    )
    .bind(stream_id)
    .bind(version as i64)
    .fetch_all(&mut **tx)
    .await
    .map_err(classify)?;
    Ok(rows.into_iter().map(|(version, event_type)| (version as u64, event_type)).collect())
}

/// Version and last hash of each named stream that exists, a thousand streams per statement
/// (SQLite takes at most 32,766 variables in one; a revocation cascading to 34,000 certificates
/// names as many streams).
pub(crate) async fn read_heads<'a>(
    tx: &mut Transaction<'static, Sqlite>,
    stream_ids: impl ExactSizeIterator<Item = &'a str>,
) -> Result<HashMap<String, (u64, Vec<u8>)>, StoreError> {
    let ids: Vec<&str> = stream_ids.collect();
    let mut heads = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(STREAMS_PER_READ) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT stream_id, version, last_hash FROM streams WHERE stream_id IN ({placeholders})");
        let mut query = sqlx::query_as::<_, (String, i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut **tx).await.map_err(classify)?;
        heads.extend(rows.into_iter().map(|(id, version, hash)| (id, (version as u64, hash))));
    }
    Ok(heads)
}

const STREAMS_PER_READ: usize = 1000;

/// Inserts events, a hundred per statement; returns each one's position and event id. A
/// statement that fails writes nothing.
pub(crate) async fn insert_events(
    tx: &mut Transaction<'static, Sqlite>,
    rows: &[EventRow<'_>],
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut inserted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, \
             metadata, recorded_at_us, prev_hash, hash) VALUES {values} RETURNING position, event_id"
        );
        let mut insert = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            let metadata =
                serde_json::to_string(&row.event.metadata).map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
            insert = insert
                .bind(row.event.event_id.to_string())
                .bind(row.stream_id)
                .bind(row.version as i64)
                .bind(&row.event.event_type)
                .bind(row.event.schema_version as i64)
                .bind(row.event.data.to_string())
                .bind(metadata)
                .bind(micros(row.event.recorded_at))
                .bind(row.prev.to_vec())
                .bind(row.hash.to_vec());
        }
        inserted.extend(insert.fetch_all(&mut **tx).await.map_err(|e| insert_error(e, chunk[0].event.event_id))?);
    }
    Ok(inserted)
}

/// Sets streams' versions and last hashes, creating the streams that do not exist yet.
pub(crate) async fn write_heads(
    tx: &mut Transaction<'static, Sqlite>,
    heads: &[(&str, u64, [u8; 32])],
) -> Result<(), StoreError> {
    for chunk in heads.chunks(ROWS_PER_INSERT) {
        let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO streams (stream_id, version, last_hash) VALUES {values} \
             ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_hash = excluded.last_hash"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (stream_id, version, hash) in chunk {
            query = query.bind(*stream_id).bind(*version as i64).bind(hash.to_vec());
        }
        query.execute(&mut **tx).await.map_err(classify)?;
    }
    Ok(())
}

/// Rows per INSERT statement: at most ten parameters each, well under SQLite's limit of 32,766.
const ROWS_PER_INSERT: usize = 100;

fn to_event(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let get_err = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    let event_id: String = row.try_get("event_id").map_err(get_err)?;
    let data: String = row.try_get("data").map_err(get_err)?;
    let metadata: String = row.try_get("metadata").map_err(get_err)?;
    let prev_hash: Vec<u8> = row.try_get("prev_hash").map_err(get_err)?;
    let hash: Vec<u8> = row.try_get("hash").map_err(get_err)?;
    Ok(RecordedEvent {
        position: row.try_get("position").map_err(get_err)?,
        tx: 0,
        event_id: Uuid::parse_str(&event_id).map_err(|e| corrupt(e.to_string()))?,
        stream_id: row.try_get("stream_id").map_err(get_err)?,
        stream_version: row.try_get::<i64, _>("stream_version").map_err(get_err)? as u64,
        event_type: row.try_get("event_type").map_err(get_err)?,
        schema_version: row.try_get::<i64, _>("schema_version").map_err(get_err)? as u32,
        data: serde_json::from_str(&data).map_err(|e| corrupt(e.to_string()))?,
        metadata: serde_json::from_str::<EventMetadata>(&metadata).map_err(|e| corrupt(e.to_string()))?,
        recorded_at: from_micros(row.try_get("recorded_at_us").map_err(get_err)?)?,
        prev_hash: to_hash(&prev_hash)?,
        hash: to_hash(&hash)?,
    })
}
