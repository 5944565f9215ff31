//! What the views need of PostgreSQL (see `crate::backend`): one pool for reads and writes, and
//! plain transactions; writers serialise on the rows they lock `FOR UPDATE`.

use shedu_commands::event_store::StoreError;
use sqlx::{PgPool, Postgres, Transaction};

use super::PgDb;
use crate::backend::Backend;
use crate::errors::classify;
use crate::sql::Dialect;

impl Backend for PgDb {
    const DIALECT: Dialect = Dialect::Postgres;
    type Pool = PgPool;
    type Tx = Transaction<'static, Postgres>;

    fn readers(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        self.pool.begin().await.map_err(classify)
    }
}
