//! [`IdempotencyStore`] over any [`Backend`]: a request's claim on its `Idempotency-Key`, the
//! response stored once it completes, and a claim released. The read after a refused claim goes
//! to the writer too, which has seen the row the claim ran into.

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;
use shedu_commands::idempotency::{Claim, IdempotencyStore, StoredResponse};

use super::Views;
use crate::backend::{Backend, Column, Row, Statements};
use crate::sql::Sql;
use crate::timestamps::now_us;

/// A claim never completed after this long belongs to a request whose process died: a retry with
/// the same key may take it over.
const ABANDONED_CLAIM_US: i64 = 60_000_000;

#[async_trait]
impl<B: Backend> IdempotencyStore for Views<B> {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
        let now = now_us();
        let claim = Sql::with(
            B::DIALECT,
            "INSERT INTO idempotency (key, request_hash, created_at_us) VALUES ({}, {}, {}) \
             ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, created_at_us = excluded.created_at_us \
             WHERE idempotency.status IS NULL AND idempotency.created_at_us < {} RETURNING key",
            vec![key.into(), request_hash.into(), now.into(), (now - ABANDONED_CLAIM_US).into()],
        );
        if !self.0.writer().fetch(claim, &[Column::Text]).await?.is_empty() {
            return Ok(Claim::Claimed);
        }
        let existing = Sql::with(
            B::DIALECT,
            "SELECT request_hash, status, headers, body FROM idempotency WHERE key = {}",
            vec![key.into()],
        );
        match self.0.writer().fetch(existing, &IdempotencyRow::COLUMNS).await?.into_iter().next() {
            Some(row) => IdempotencyRow::read(row)?.claim(request_hash),
            // Released between our insert and this read: the caller may simply try again.
            None => Ok(Claim::InFlight),
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

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.0.writer().execute(Sql::with(B::DIALECT, "DELETE FROM idempotency WHERE key = {}", vec![key.into()])).await
    }
}

/// A key's record: the hash of the request that claimed it and, once that request has completed,
/// its response.
struct IdempotencyRow {
    request_hash: String,
    status: Option<i64>,
    headers: Option<String>,
    body: Option<Vec<u8>>,
}

impl IdempotencyRow {
    const COLUMNS: [Column; 4] = [Column::Text, Column::Int, Column::Text, Column::Bytes];

    fn read(mut row: Row) -> Result<Self, StoreError> {
        Ok(IdempotencyRow {
            request_hash: row.text()?,
            status: row.optional_int()?,
            headers: row.optional_text()?,
            body: row.optional_bytes()?,
        })
    }

    /// What a new claim of the key for the request hashed `request_hash` comes to.
    fn claim(self, request_hash: &str) -> Result<Claim, StoreError> {
        if self.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        let Some(status) = self.status else { return Ok(Claim::InFlight) };
        let headers: Vec<(String, String)> = serde_json::from_str(self.headers.as_deref().unwrap_or("[]"))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Claim::Replay(StoredResponse { status: status as u16, headers, body: self.body.unwrap_or_default() }))
    }
}
