//! Telling a database outage from a bug. Every sqlx error the stores meet passes through
//! [`classify`]: an outage becomes `StoreError::Unavailable` (503, retry later), anything else
//! `StoreError::Unexpected` (500, a bug to fix), both keeping the sqlx error as their source.

use std::sync::Arc;

use shedu_commands::event_store::StoreError;
use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;
use uuid::Uuid;

pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    if is_outage(&e) { StoreError::Unavailable(Arc::new(e)) } else { StoreError::Unexpected(Arc::new(e)) }
}

/// An insert of events that failed: `DuplicateEvent` (naming the first event inserted, as the
/// database does not say which) if the log already holds one of their ids.
pub(crate) fn insert_error(e: sqlx::Error, first_event_id: Uuid) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if is_duplicate_event_id(db.as_ref()) => StoreError::DuplicateEvent(first_event_id),
        _ => classify(e),
    }
}

fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<PgDatabaseError>().is_some() {
                db.code().is_some_and(|code| is_outage_sqlstate(&code))
            } else if db.try_downcast_ref::<SqliteError>().is_some() {
                sqlite_code(db.as_ref()).is_some_and(is_outage_sqlite_code)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL: a connection lost or refused (class 08), resources exhausted (53: disk, memory,
/// connections), the server shutting down (57P0x), or a transaction aborted to break a
/// serialization conflict or a deadlock (40001, 40P01), which the same request may pass later.
fn is_outage_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0") || code == "40001" || code == "40P01"
}

/// SQLite reports extended result codes; their low byte is the primary code. Outages: BUSY (5),
/// LOCKED (6), READONLY (8), IOERR (10), FULL (13), CANTOPEN (14).
fn is_outage_sqlite_code(extended: i32) -> bool {
    matches!(extended & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

/// A unique violation of the log's event ids. PostgreSQL names the constraint. SQLite names
/// none, but of the events table's other unique keys, `position` is allocated by SQLite and
/// `(stream_id, stream_version)` comes from the heads its single writer read in the same
/// transaction, so neither can collide.
fn is_duplicate_event_id(db: &dyn DatabaseError) -> bool {
    if db.try_downcast_ref::<PgDatabaseError>().is_some() {
        db.code().as_deref() == Some("23505") && db.constraint() == Some("events_event_id_key")
    } else if db.try_downcast_ref::<SqliteError>().is_some() {
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
        matches!(sqlite_code(db), Some(2067 | 1555))
    } else {
        false
    }
}

/// sqlx gives SQLite's extended result code as a decimal string.
fn sqlite_code(db: &dyn DatabaseError) -> Option<i32> {
    db.code()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    #[test]
    fn connection_resource_and_shutdown_states_are_outages() {
        for code in ["08006", "08001", "53100", "53300", "57P01", "57P03", "40001", "40P01"] {
            assert!(is_outage_sqlstate(code), "{code}");
        }
        for code in ["42601", "42P01", "23505", "22P02", "57014", "40002"] {
            assert!(!is_outage_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn sqlite_outages_are_told_by_the_primary_code_of_an_extended_one() {
        // SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE, SQLITE_IOERR_FSYNC, SQLITE_READONLY_DBMOVED
        for code in [5, 517, 262, 1034, 8, 1032, 13, 14, 10] {
            assert!(is_outage_sqlite_code(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_UNIQUE, SQLITE_MISMATCH, SQLITE_CORRUPT
        for code in [1, 2067, 20, 11] {
            assert!(!is_outage_sqlite_code(code), "{code}");
        }
    }

    #[tokio::test]
    async fn a_malformed_statement_is_a_bug_and_a_closed_pool_an_outage() {
        let pool = SqlitePoolOptions::new().connect("sqlite::memory:").await.unwrap();
        let malformed = sqlx::query("SELEC 1").execute(&pool).await.unwrap_err();
        assert!(matches!(classify(malformed), StoreError::Unexpected(_)));
        pool.close().await;
        let closed = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
        let error = classify(closed);
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(std::error::Error::source(&error).is_some(), "the sqlx error is kept");
    }
}
