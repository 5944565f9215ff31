//! The sqlx side of [`Statements`] and [`WriteTx`], for any database sqlx can bind and read text,
//! integers and bytes on: in practice SQLite and PostgreSQL. The trait bounds sqlx needs are
//! spelled out here once, on [`Driver`]'s blanket implementation; everything else asks only for
//! `DB: Driver`.

use std::future::Future;

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _, Transaction, Type};

use super::{Column, Row, Statements, Value, WriteTx};
use crate::errors::classify;
use crate::sql::{Bind, Sql};

/// A sqlx database that can run a [`Sql`] statement and read its rows as [`Value`]s.
pub(crate) trait Driver: Database {
    fn execute<'e, E>(executor: E, sql: Sql) -> impl Future<Output = Result<(), StoreError>> + Send + 'e
    where
        E: Executor<'e, Database = Self> + 'e;

    fn fetch<'e, E>(
        executor: E,
        sql: Sql,
        columns: &'e [Column],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send + 'e
    where
        E: Executor<'e, Database = Self> + 'e;
}

impl<DB> Driver for DB
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    fn execute<'e, E>(executor: E, sql: Sql) -> impl Future<Output = Result<(), StoreError>> + Send + 'e
    where
        E: Executor<'e, Database = Self> + 'e,
    {
        let arguments = arguments::<DB>(sql.binds);
        async move {
            sqlx::query_with(sqlx::AssertSqlSafe(sql.text), arguments?).execute(executor).await.map_err(classify)?;
            Ok(())
        }
    }

    fn fetch<'e, E>(
        executor: E,
        sql: Sql,
        columns: &'e [Column],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send + 'e
    where
        E: Executor<'e, Database = Self> + 'e,
    {
        let arguments = arguments::<DB>(sql.binds);
        async move {
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql.text), arguments?)
                .fetch_all(executor)
                .await
                .map_err(classify)?;
            rows.iter().map(|row| read(row, columns)).collect()
        }
    }
}

fn arguments<DB>(binds: Vec<Bind>) -> Result<DB::Arguments, StoreError>
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
{
    use sqlx::Arguments as _;
    let mut arguments = DB::Arguments::default();
    for bind in binds {
        match bind {
            Bind::Text(text) => arguments.add(text),
            Bind::Int(n) => arguments.add(n),
            Bind::MaybeText(text) => arguments.add(text),
            Bind::MaybeInt(n) => arguments.add(n),
            Bind::Bytes(bytes) => arguments.add(bytes),
        }
        .map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
    }
    Ok(arguments)
}

fn read<DB>(row: &DB::Row, columns: &[Column]) -> Result<Row, StoreError>
where
    DB: Database,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let value = match column {
            Column::Text => row.try_get::<Option<String>, _>(i).map(|v| v.map_or(Value::Null, Value::Text)),
            Column::Int => row.try_get::<Option<i64>, _>(i).map(|v| v.map_or(Value::Null, Value::Int)),
            Column::Bytes => row.try_get::<Option<Vec<u8>>, _>(i).map(|v| v.map_or(Value::Null, Value::Bytes)),
        };
        values.push(value.map_err(classify)?);
    }
    Ok(Row::new(values))
}

#[async_trait]
impl<DB> Statements for Pool<DB>
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn execute(&self, sql: Sql) -> Result<(), StoreError> {
        DB::execute(self, sql).await
    }

    async fn fetch(&self, sql: Sql, columns: &[Column]) -> Result<Vec<Row>, StoreError> {
        DB::fetch(self, sql, columns).await
    }
}

#[async_trait]
impl<DB> WriteTx for Transaction<'static, DB>
where
    DB: Driver,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    async fn execute(&mut self, sql: Sql) -> Result<(), StoreError> {
        DB::execute(&mut **self, sql).await
    }

    async fn fetch(&mut self, sql: Sql, columns: &[Column]) -> Result<Vec<Row>, StoreError> {
        DB::fetch(&mut **self, sql, columns).await
    }

    async fn commit(self) -> Result<(), StoreError> {
        Transaction::commit(self).await.map_err(classify)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        Transaction::rollback(self).await.map_err(classify)
    }
}
