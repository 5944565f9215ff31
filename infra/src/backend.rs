//! What the views, lookups and idempotency records need of a database: its dialect, statements
//! run on its readers or its writer, and a write transaction. Rows come back as plain values of
//! the column kinds asked for, so the code above is written once for SQLite and PostgreSQL; the
//! sqlx side of it is written once too (`backend/driver.rs`).

mod driver;

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;

use crate::sql::{Dialect, Sql};

pub(crate) trait Backend: Send + Sync + 'static {
    const DIALECT: Dialect;
    type Pool: Statements;
    type Tx: WriteTx;

    /// Where reads go: they see every committed write.
    fn readers(&self) -> &Self::Pool;
    /// Where writes outside a transaction go, each committed on its own.
    fn writer(&self) -> &Self::Pool;
    /// A transaction that may write, serialised against other writers where the database needs it.
    fn begin_write(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
}

/// Statements on a pool of connections.
#[async_trait]
pub(crate) trait Statements: Send + Sync {
    async fn execute(&self, sql: Sql) -> Result<(), StoreError>;
    async fn fetch(&self, sql: Sql, columns: &[Column]) -> Result<Vec<Row>, StoreError>;
}

/// Statements in a transaction, which ends committed or rolled back.
#[async_trait]
pub(crate) trait WriteTx: Send {
    async fn execute(&mut self, sql: Sql) -> Result<(), StoreError>;
    async fn fetch(&mut self, sql: Sql, columns: &[Column]) -> Result<Vec<Row>, StoreError>;
    async fn commit(self) -> Result<(), StoreError>;
    async fn rollback(self) -> Result<(), StoreError>;
}

/// The kind of a column read back; any of them may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Text,
    Int,
    Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// A row read back, its values taken in column order.
#[derive(Debug)]
pub(crate) struct Row(std::vec::IntoIter<Value>);

impl Row {
    pub(crate) fn new(values: Vec<Value>) -> Self {
        Row(values.into_iter())
    }

    pub(crate) fn text(&mut self) -> Result<String, StoreError> {
        self.optional_text()?.ok_or_else(|| mismatch("text"))
    }

    pub(crate) fn int(&mut self) -> Result<i64, StoreError> {
        self.optional_int()?.ok_or_else(|| mismatch("an integer"))
    }

    pub(crate) fn optional_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Text(text) => Ok(Some(text)),
            Value::Null => Ok(None),
            _ => Err(mismatch("text")),
        }
    }

    pub(crate) fn optional_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::Int(n) => Ok(Some(n)),
            Value::Null => Ok(None),
            _ => Err(mismatch("an integer")),
        }
    }

    pub(crate) fn optional_bytes(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.next()? {
            Value::Bytes(bytes) => Ok(Some(bytes)),
            Value::Null => Ok(None),
            _ => Err(mismatch("bytes")),
        }
    }

    fn next(&mut self) -> Result<Value, StoreError> {
        self.0.next().ok_or_else(|| StoreError::unexpected("a row read back has fewer columns than its reader takes"))
    }
}

/// The statement and the code reading its rows disagree about a column.
fn mismatch(expected: &str) -> StoreError {
    StoreError::unexpected(format!("a column read back as {expected} holds another kind of value or NULL"))
}
