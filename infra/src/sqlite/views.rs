//! What the views need of SQLite (see `crate::backend`): reads on the read-only pool, writes on
//! the single writer connection, and `BEGIN IMMEDIATE` so that a write transaction holds the
//! write lock from its start, serialising writers without row locks.

use shedu_commands::event_store::StoreError;
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::SqliteDb;
use crate::backend::Backend;
use crate::errors::classify;
use crate::sql::Dialect;

impl Backend for SqliteDb {
    const DIALECT: Dialect = Dialect::Sqlite;
    type Pool = SqlitePool;
    type Tx = Transaction<'static, Sqlite>;

    fn readers(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(classify)
    }
}
