//! [`Leases`] over any [`Backend`]: one row per lease, taken over by a conditional upsert, so two
//! processes racing for an expired lease cannot both win.

use std::time::Duration;

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;
use shedu_projections::lease::Leases;

use super::Views;
use crate::backend::{Backend, Column, Statements};
use crate::sql::Sql;
use crate::timestamps::now_us;

#[async_trait]
impl<B: Backend> Leases for Views<B> {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = now_us();
        let until = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
        let take = Sql::with(
            B::DIALECT,
            "INSERT INTO leases (name, holder, expires_at_us) VALUES ({}, {}, {}) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_us = excluded.expires_at_us \
             WHERE leases.holder = excluded.holder OR leases.expires_at_us < {} RETURNING holder",
            vec![name.into(), holder.into(), until.into(), now.into()],
        );
        Ok(!self.0.writer().fetch(take, &[Column::Text]).await?.is_empty())
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let release = Sql::with(
            B::DIALECT,
            "DELETE FROM leases WHERE name = {} AND holder = {}",
            vec![name.into(), holder.into()],
        );
        self.0.writer().execute(release).await
    }
}
