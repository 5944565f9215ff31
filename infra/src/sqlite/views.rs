//! The view store on SQLite: the shared implementation in `crate::views`, with SQLite's types.
//! No row locks: `BEGIN IMMEDIATE` on the single writer connection already serialises writers.

use std::collections::BTreeMap;

use async_trait::async_trait;
use shedu_commands::ca_service::CaLookup;
use shedu_commands::certificate_service::CertificateLookup;
use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_commands::idempotency::{Claim, IdempotencyStore, StoredResponse};
use shedu_commands::profile_service::ProfileUsage;
use shedu_domain::ca::Ca;
use shedu_domain::ids::{CaId, EngineId, KeyId, ProfileId, SerialNumber};
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::profile::ProfileState;
use shedu_domain::subject::Subject;
use shedu_projections::ca_projection::{ca_sort_value, certificate_sort_value, profile_sort_value};
use shedu_projections::counters::Counters;
use shedu_projections::query::{ListQuery, Page};
use shedu_projections::store::{UnrecordedExpiry, ViewBatch, ViewStore};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;

use super::SqliteDb;
use crate::errors::classify;
use crate::sql::{
    ADD_COUNTER, Bind, CA_COLUMNS, CA_VIEW, CERTIFICATE_COLUMNS, CERTIFICATE_VIEW, CaRow, CertificateRow, Dialect,
    PROFILE_VIEW, Sql, UPSERT_CA, UPSERT_CERTIFICATE, UPSERT_PROFILE, list, parse_ca, parse_certificate, parse_profile,
    q, unrecorded_expiry, upsert_groups, with_placeholders, with_rows,
};
use crate::timestamps::{micros, now_us};
use crate::views::{SAVE_CHECKPOINT, VIEWS, page, view_store};

impl SqliteDb {
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(classify)
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    fn write_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

view_store!(SqliteDb, Sqlite, SqliteArguments, Dialect::Sqlite, "");
