//! PostgreSQL: the production event log and views. Many writers commit concurrently, issuances
//! in groups of one transaction each; readers stay gap-free by ordering on the writing transaction id (docs/adr/0002).

mod event_store;
mod group_commit;
mod views;
mod write;

use std::str::FromStr;
use std::time::Duration;

use shedu_commands::event_store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

use crate::errors::classify;
use crate::migrate::{CREATE_TABLE, POSTGRES};

#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
    /// Appends that create one stream (issuances) go through the group writer.
    appender: tokio::sync::mpsc::Sender<crate::writer::Job>,
}

/// Any fixed number serves, as long as every Shedu process uses the same one.
const MIGRATION_LOCK: i64 = 0x5348_4544_5530_0001;

impl PgDb {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(classify)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(classify)?;
        let appender = group_commit::start(pool.clone());
        Ok(PgDb { pool, appender })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations under an advisory lock, so replicas starting together apply
    /// each migration once.
    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await.map_err(classify)?;
        let result = async {
            conn.execute(CREATE_TABLE).await.map_err(classify)?;
            let mut applied = Vec::new();
            for migration in POSTGRES {
                let done: Option<(String,)> = sqlx::query_as("SELECT version FROM shedu_migrations WHERE version = $1")
                    .bind(migration.version)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(classify)?;
                if done.is_some() {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(classify)?;
                tx.execute(sqlx::raw_sql(migration.sql)).await.map_err(classify)?;
                sqlx::query("INSERT INTO shedu_migrations (version, applied_at_us) VALUES ($1, $2)")
                    .bind(migration.version)
                    .bind(crate::timestamps::now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                applied.push(migration.version);
            }
            Ok(applied)
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
        result
    }

    /// See [`crate::database::Database::optimize`].
    pub async fn optimize(&self) -> Result<(), StoreError> {
        // The log too: loaded in bulk (an import, the benchmark's seeding) and not yet analysed, it
        // made PostgreSQL read a CA's stream with a parallel scan of every event (80 ms at
        // 1,000,000 events instead of 0.1 ms).
        sqlx::query("ANALYZE events, streams, ca_view, certificate_view, profile_view")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Analyses the tables that changed by more than a tenth (plus 1,000 rows) since their last
    /// analysis. With autovacuum off, or behind, after 90,000 issuances the append benchmark ran
    /// at 1,750 commands/s instead of 3,350: reading a CA's stream went through a plan made for an
    /// empty log.
    pub async fn analyze_changed(&self) -> Result<(), StoreError> {
        let stale: Vec<(String,)> = sqlx::query_as(
            "SELECT relname::text FROM pg_stat_user_tables WHERE schemaname = current_schema() \
             AND relname IN ('events', 'streams', 'ca_view', 'certificate_view', 'profile_view') \
             AND n_mod_since_analyze > 1000 + n_live_tup / 10 ORDER BY relname",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        for (table,) in stale {
            // The name comes from the fixed list above, never from input.
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}"))).execute(&self.pool).await.map_err(classify)?;
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(classify)?;
        Ok(())
    }
}
