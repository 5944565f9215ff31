//! SQLite: the embedded default. One writer connection (appends and view updates serialise
//! through it, as SQLite allows one writer anyway) and a small pool of readers, in WAL mode with
//! `synchronous=FULL` because a 2xx promises the events are on disk.

mod event_store;
mod group_commit;
pub(crate) mod views;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use shedu_commands::event_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, SqlitePool};

use crate::errors::classify;
use crate::migrate::{CREATE_TABLE, SQLITE};
use crate::private_files::{create_private_file, restrict_to_owner};

#[derive(Clone, Debug)]
pub struct SqliteDb {
    writer: SqlitePool,
    reader: SqlitePool,
    appender: tokio::sync::mpsc::Sender<crate::writer::Job>,
}

impl SqliteDb {
    /// Opens (creating if missing) the database at a `sqlite://` URL or a file path.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path).map_err(classify)?
        } else {
            SqliteConnectOptions::new().filename(Path::new(url_or_path))
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        owner_only(options.get_filename()).map_err(StoreError::unavailable)?;
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(classify)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(classify)?;
        let appender = group_commit::start(writer.clone());
        Ok(SqliteDb { writer, reader, appender })
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        self.writer.execute(CREATE_TABLE).await.map_err(classify)?;
        let mut applied = Vec::new();
        for migration in SQLITE {
            let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(classify)?;
            let done: Option<(String,)> = sqlx::query_as("SELECT version FROM shedu_migrations WHERE version = ?")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            if done.is_some() {
                continue;
            }
            tx.execute(sqlx::raw_sql(migration.sql)).await.map_err(classify)?;
            sqlx::query("INSERT INTO shedu_migrations (version, applied_at_us) VALUES (?, ?)")
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

    /// Refreshes the query planner's statistics. SQLite gathers none on its own, and without them
    /// a page of one CA's active certificates went through the status index and read every active
    /// certificate (155 ms at 10,000). The sampling limit keeps this to milliseconds at any size.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        self.writer.execute("PRAGMA analysis_limit = 1000; ANALYZE;").await.map_err(classify)?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(classify)?;
        Ok(())
    }
}

/// The database holds the log and stored responses: it is created 0600 before SQLite opens it (its
/// `-wal` and `-shm` files take the database's mode), and files left wider by earlier versions
/// are narrowed.
fn owner_only(path: &Path) -> Result<(), String> {
    // In-memory databases have no file: sqlx names them `file:sqlx-in-memory-…`.
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    create_private_file(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        restrict_to_owner(Path::new(&companion))?;
    }
    Ok(())
}
