//! Query views, checkpoints, lookups and idempotency records, written once for both databases:
//! [`Views`] implements the ports of `shedu-projections` and `shedu-commands` over any
//! [`Backend`], one file per port.

mod ca_lookup;
mod certificate_lookup;
mod crl_store;
mod idempotency;
mod lease;
mod profile_usage;
mod view_commit;
mod view_store;

use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_domain::ids::CaId;

use crate::backend::{Backend, Column, Statements};
use crate::sql::{Dialect, Sql};
use crate::timestamps::now_us;

/// The views, lookups and idempotency records of the database `B`.
#[derive(Clone, Debug)]
pub(crate) struct Views<B>(pub(crate) B);

/// The checkpoint of the views themselves, beside reactors' named ones.
const VIEWS: &str = "views";

impl<B: Backend> Views<B> {
    /// The `doc` column of each row `sql` reads.
    async fn docs(&self, sql: Sql) -> Result<Vec<String>, StoreError> {
        let rows = self.0.readers().fetch(sql, &[Column::Text]).await?;
        rows.into_iter().map(|mut row| row.text()).collect()
    }

    /// The CA ids `sql` reads; a malformed id (none is ever stored) is passed over.
    async fn ca_ids(&self, sql: Sql) -> Result<Vec<CaId>, StoreError> {
        let rows = self.0.readers().fetch(sql, &[Column::Text]).await?;
        let ids = rows.into_iter().map(|mut row| row.text()).collect::<Result<Vec<_>, _>>()?;
        Ok(ids.iter().filter_map(|id| CaId::parse(id).ok()).collect())
    }
}

fn save_checkpoint(dialect: Dialect, name: &str, cursor: LogCursor) -> Sql {
    Sql::with(
        dialect,
        "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ({}, {}, {}, {}) \
         ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position, \
         updated_at_us = excluded.updated_at_us",
        vec![name.into(), (cursor.tx as i64).into(), cursor.position.into(), now_us().into()],
    )
}
