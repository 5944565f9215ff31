//! [`IdempotencyStore`] over any [`Backend`]: a request's claim on its `Idempotency-Key`, the
//! response stored once it completes, a claim released, old claims purged. The read after a
//! refused claim goes to the writer too, which has seen the row the claim ran into.

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;
use shedu_commands::idempotency::{Claim, IdempotencyStore, StoredResponse};

use super::Views;
use crate::backend::{Backend, Column, Row, Statements};
use crate::sql::Sql;
use crate::timestamps::now_us;

#[async_trait]
impl<B: Backend> IdempotencyStore for Views<B> {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
        let now = now_us();
        let claim = Sql::with(
            B::DIALECT,
            "INSERT INTO idempotency (key, request_hash, created_at_us) VALUES ({}, {}, {}) \
             ON CONFLICT (key) DO NOTHING RETURNING key",
            vec![key.into(), request_hash.into(), now.into()],
        );
        if !self.0.writer().fetch(claim, &[Column::Text]).await?.is_empty() {
            return Ok(Claim::Claimed { since: now });
        }
        let existing = Sql::with(
            B::DIALECT,
            "SELECT request_hash, status, headers, body, created_at_us FROM idempotency WHERE key = {}",
            vec![key.into()],
        );
        match self.0.writer().fetch(existing, &IdempotencyRow::COLUMNS).await?.into_iter().next() {
            Some(row) => IdempotencyRow::read(row)?.claim(request_hash),
            // Released between our insert and this read: claim it again.
            None => self.claim(key, request_hash).await,
        }
    }

    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.0
            .writer()
            .execute(Sql::with(
                B::DIALECT,
                "UPDATE idempotency SET status = {}, headers = {}, body = {} WHERE key = {}",
                vec![i64::from(response.status).into(), headers.into(), response.body.clone().into(), key.into()],
            ))
            .await
    }

    async fn release(&self, key: &str, since: i64) -> Result<(), StoreError> {
        let release = Sql::with(
            B::DIALECT,
            "DELETE FROM idempotency WHERE key = {} AND created_at_us = {} AND status IS NULL",
            vec![key.into(), since.into()],
        );
        self.0.writer().execute(release).await
    }

    async fn purge(&self, before_us: i64) -> Result<u64, StoreError> {
        let purge = Sql::with(
            B::DIALECT,
            "DELETE FROM idempotency WHERE created_at_us < {} RETURNING key",
            vec![before_us.into()],
        );
        Ok(self.0.writer().fetch(purge, &[Column::Text]).await?.len() as u64)
    }
}

/// A key's record: the hash of the request that claimed it and, once that request has completed,
/// its response.
struct IdempotencyRow {
    request_hash: String,
    status: Option<i64>,
    headers: Option<String>,
    body: Option<Vec<u8>>,
    created_at_us: i64,
}

impl IdempotencyRow {
    const COLUMNS: [Column; 5] = [Column::Text, Column::Int, Column::Text, Column::Bytes, Column::Int];

    fn read(mut row: Row) -> Result<Self, StoreError> {
        Ok(IdempotencyRow {
            request_hash: row.text()?,
            status: row.optional_int()?,
            headers: row.optional_text()?,
            body: row.optional_bytes()?,
            created_at_us: row.int()?,
        })
    }

    /// What a new claim of the key for the request hashed `request_hash` comes to.
    fn claim(self, request_hash: &str) -> Result<Claim, StoreError> {
        if self.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        let Some(status) = self.status else { return Ok(Claim::Pending { since: self.created_at_us }) };
        let headers: Vec<(String, String)> = serde_json::from_str(self.headers.as_deref().unwrap_or("[]"))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Claim::Replay(StoredResponse { status: status as u16, headers, body: self.body.unwrap_or_default() }))
    }
}
