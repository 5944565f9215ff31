//! Query views, checkpoints, the CA lookup and idempotency records on PostgreSQL.

use async_trait::async_trait;
use shedu_commands::ca_service::CaLookup;
use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_commands::idempotency::{Claim, IdempotencyStore, StoredResponse};
use shedu_domain::ca::Ca;
use shedu_domain::ids::{CaId, EngineId, KeyId};
use shedu_domain::subject::Subject;
use shedu_projections::query::{ListQuery, Page};
use shedu_projections::store::{ViewBatch, ViewStore};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Postgres};
use time::OffsetDateTime;

use super::{PgDb, unavailable};
use crate::sql::{Bind, CaRow, Dialect, Sql, ca_list, parse_ca, upsert_ca_sql};
use crate::timestamps::now_us;

const VIEWS: &str = "views";

fn arguments(binds: Vec<Bind>) -> Result<PgArguments, StoreError> {
    let mut args = PgArguments::default();
    for bind in binds {
        match bind {
            Bind::Text(t) => args.add(t),
            Bind::Int(i) => args.add(i),
        }
        .map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
    }
    Ok(args)
}

impl PgDb {
    async fn docs(&self, sql: Sql) -> Result<Vec<Ca>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as_with::<Postgres, _, _>(sqlx::AssertSqlSafe(sql.text), arguments(sql.binds)?)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.iter().map(|(doc,)| parse_ca(doc)).collect()
    }
}

#[async_trait]
impl ViewStore for PgDb {
    async fn checkpoint(&self) -> Result<LogCursor, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as("SELECT tx, position FROM checkpoints WHERE name = $1")
            .bind(VIEWS)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map_or(LogCursor::START, |(tx, position)| LogCursor { tx: tx as u64, position }))
    }

    async fn load_cas(&self, ids: &[CaId]) -> Result<Vec<Ca>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new(Dialect::Postgres, "SELECT doc FROM ca_view WHERE id IN (");
            let placeholders: Vec<String> = chunk.iter().map(|id| sql.bind(Bind::Text(id.to_string()))).collect();
            sql.text.push_str(&placeholders.join(", "));
            sql.text.push(')');
            found.extend(self.docs(sql).await?);
        }
        Ok(found)
    }

    async fn commit(&self, batch: ViewBatch) -> Result<(), StoreError> {
        let upsert = upsert_ca_sql(Dialect::Postgres);
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // A row to lock even on the first batch: two projectors starting from nothing must
        // still serialise on it.
        sqlx::query(
            "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ($1, 0, 0, $2) ON CONFLICT DO NOTHING",
        )
        .bind(VIEWS)
        .bind(now_us())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let current: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx, position FROM checkpoints WHERE name = $1 FOR UPDATE")
                .bind(VIEWS)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        let current = current.map_or(LogCursor::START, |(t, position)| LogCursor { tx: t as u64, position });
        if current != batch.previous {
            tx.rollback().await.map_err(unavailable)?;
            return Err(StoreError::Conflict {
                stream_id: "checkpoint:views".into(),
                expected: format!("{:?}", batch.previous),
                actual: current.position.max(0) as u64,
            });
        }
        for (ca, position) in &batch.upsert_cas {
            let row = CaRow::new(ca)?;
            sqlx::query(sqlx::AssertSqlSafe(upsert.as_str()))
                .bind(row.id)
                .bind(row.doc)
                .bind(row.ca_type)
                .bind(row.status)
                .bind(row.level)
                .bind(row.profile_id)
                .bind(row.engine_id)
                .bind(row.key_id)
                .bind(row.serial_number)
                .bind(row.subject_cn)
                .bind(row.subject_key_id)
                .bind(row.issuer_id)
                .bind(row.key_type)
                .bind(row.valid_from_us)
                .bind(row.valid_to_us)
                .bind(row.created_at_us)
                .bind(position)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        for id in &batch.delete_cas {
            sqlx::query("DELETE FROM ca_view WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query(
            "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(VIEWS)
        .bind(batch.checkpoint.tx as i64)
        .bind(batch.checkpoint.position)
        .bind(now_us())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn reset(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM ca_view").execute(&mut *tx).await.map_err(unavailable)?;
        sqlx::query("DELETE FROM checkpoints WHERE name = $1")
            .bind(VIEWS)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn ca(&self, id: &CaId) -> Result<Option<Ca>, StoreError> {
        Ok(self.load_cas(std::slice::from_ref(id)).await?.pop())
    }

    async fn list_cas(&self, query: &ListQuery, now: OffsetDateTime) -> Result<Page<Ca>, StoreError> {
        let mut items = self.docs(ca_list(Dialect::Postgres, query, now)).await?;
        Ok(crate::sqlite::views::page(query, &mut items))
    }
}

#[async_trait]
impl CaLookup for PgDb {
    async fn issuer_candidates(
        &self,
        authority_key_id: Option<&str>,
        issuer: &Subject,
    ) -> Result<Vec<CaId>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM ca_view WHERE subject_key_id = $1 OR subject_cn = $2")
                .bind(authority_key_id.unwrap_or_default())
                .bind(&issuer.common_name)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(rows.into_iter().filter_map(|(id,)| CaId::parse(&id).ok()).collect())
    }

    async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM ca_view WHERE engine_id = $1 AND key_id = $2")
            .bind(engine_id.as_str())
            .bind(key_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().filter_map(|(id,)| CaId::parse(&id).ok()).collect())
    }
}

#[async_trait]
impl IdempotencyStore for PgDb {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency (key, request_hash, created_at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, created_at_us = excluded.created_at_us \
             WHERE idempotency.status IS NULL AND idempotency.created_at_us < $4",
        )
        .bind(key)
        .bind(request_hash)
        .bind(now_us())
        .bind(now_us() - crate::database::ABANDONED_CLAIM_US)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Claimed);
        }
        let row: Option<crate::database::IdempotencyRow> =
            sqlx::query_as("SELECT request_hash, status, headers, body FROM idempotency WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        crate::database::claim_from_row(row, request_hash)
    }

    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE idempotency SET status = $1, headers = $2, body = $3 WHERE key = $4")
            .bind(i64::from(response.status))
            .bind(headers)
            .bind(&response.body)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
