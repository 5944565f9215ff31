//! Opening the configured database and handing out its ports.

use std::sync::Arc;

use shedu_commands::ca_service::CaLookup;
use shedu_commands::certificate_service::CertificateLookup;
use shedu_commands::crl_service::CrlStore;
use shedu_commands::event_store::{EventStore, StoreError};
use shedu_commands::idempotency::IdempotencyStore;
use shedu_commands::profile_service::ProfileUsage;
use shedu_projections::lease::Leases;
use shedu_projections::store::ViewStore;

use crate::postgres::PgDb;
use crate::sqlite::SqliteDb;
use crate::views::Views;

/// The event log and views, on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

impl Database {
    /// `postgres://…` opens PostgreSQL; `sqlite://…` or a path opens SQLite.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(PgDb::open(url, 16).await?))
        } else {
            Ok(Database::Sqlite(SqliteDb::open(url).await?))
        }
    }

    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        match self {
            Database::Sqlite(db) => db.migrate().await,
            Database::Postgres(db) => db.migrate().await,
        }
    }

    /// Refreshes the query planner's statistics of the log and views. SQLite gathers none unless told;
    /// PostgreSQL's autovacuum does, but only a while after a bulk load such as a rebuild, and
    /// until then a name lookup walked 50,000 rows in creation order (45 ms instead of 0.2 ms).
    pub async fn optimize(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(db) => db.optimize().await,
            Database::Postgres(db) => db.optimize().await,
        }
    }

    /// Keeps the planner's statistics current while the log and views grow, called every
    /// [`Database::STATISTICS_CHECK`]. SQLite: a sampled `ANALYZE` (milliseconds). PostgreSQL:
    /// `ANALYZE` of the tables changed by more than a tenth since their last analysis, the rule
    /// autovacuum applies; where autovacuum runs, there is seldom anything left to do.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(db) => db.optimize().await,
            Database::Postgres(db) => db.analyze_changed().await,
        }
    }

    pub const STATISTICS_CHECK: std::time::Duration = std::time::Duration::from_secs(15);

    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(db) => db.ping().await,
            Database::Postgres(db) => db.ping().await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    pub fn event_store(&self) -> Arc<dyn EventStore> {
        match self {
            Database::Sqlite(db) => Arc::new(db.clone()),
            Database::Postgres(db) => Arc::new(db.clone()),
        }
    }

    pub fn views(&self) -> Arc<dyn ViewStore> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn ca_lookup(&self) -> Arc<dyn CaLookup> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn certificate_lookup(&self) -> Arc<dyn CertificateLookup> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn crl_store(&self) -> Arc<dyn CrlStore> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn profile_usage(&self) -> Arc<dyn ProfileUsage> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn idempotency(&self) -> Arc<dyn IdempotencyStore> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }

    pub fn leases(&self) -> Arc<dyn Leases> {
        match self {
            Database::Sqlite(db) => Arc::new(Views(db.clone())),
            Database::Postgres(db) => Arc::new(Views(db.clone())),
        }
    }
}
