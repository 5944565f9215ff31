//! The event log on PostgreSQL.

use async_trait::async_trait;
use shedu_commands::event_store::{
    AppendRequest, Appended, EventMetadata, EventStore, LogCursor, RecordedEvent, StoreError,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PgDb;
use super::write::append_alone;
use crate::append::{Stored, StoredRow, event_ids, idempotent_result, to_hash};
use crate::errors::classify;
use crate::timestamps::from_micros;
use crate::writer;

const SELECT_EVENT: &str = "SELECT position, tx_id::text AS tx, event_id, stream_id, stream_version, event_type, \
     schema_version, data::text AS data, metadata::text AS metadata, recorded_at_us, prev_hash, hash FROM events";

#[async_trait]
impl EventStore for PgDb {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let result = if crate::batch::single_write(&request) {
            writer::submit(&self.appender, request.clone()).await
        } else {
            append_alone(&self.pool, &request).await
        };
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
        let sql =
            format!("{SELECT_EVENT} WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream_id)
            .bind(version as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(to_event).collect()
    }

    async fn events_with_ids(&self, first: Uuid, last: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("{SELECT_EVENT} WHERE event_id BETWEEN $1 AND $2 ORDER BY position");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
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
            .map_err(classify)?;
        rows.iter().map(to_event).collect()
    }

    async fn cursor_of(&self, position: i64) -> Result<Option<LogCursor>, StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT tx_id::text FROM events WHERE position = $1")
            .bind(position)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        found.map(|(tx,)| Ok(LogCursor { tx: parse_tx(&tx)?, position })).transpose()
    }

    async fn head(&self) -> Result<i64, StoreError> {
        let (head,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(position), 0)::bigint FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(head)
    }

    async fn head_cursor(&self) -> Result<LogCursor, StoreError> {
        let last: Option<(String, i64)> =
            sqlx::query_as("SELECT tx_id::text, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        last.map_or(Ok(LogCursor::START), |(tx, position)| Ok(LogCursor { tx: parse_tx(&tx)?, position }))
    }
}

impl PgDb {
    async fn retried(&self, request: &AppendRequest) -> Result<Option<Appended>, StoreError> {
        let ids = event_ids(request);
        // In the request's order, as `idempotent_result` compares them.
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT position, stream_id, stream_version, prev_hash, hash FROM events WHERE event_id = ANY($1) \
             ORDER BY array_position($1, event_id)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let found = rows.into_iter().map(Stored::from_row).collect::<Result<Vec<_>, StoreError>>()?;
        idempotent_result(request, &found)
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
