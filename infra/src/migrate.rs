//! Applies the SQL files in `migrations/` in order, once each. Files are embedded in the binary.

pub struct Migration {
    pub version: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($file:literal),* $(,)?) => {
        &[$(Migration {
            version: $file,
            sql: include_str!(concat!("../../migrations/", $dir, "/", $file, ".sql")),
        }),*]
    };
}

pub const SQLITE: &[Migration] = migrations!("sqlite": "20261127000001_create_event_log", "20261127000002_create_views", "20261127000003_create_certificate_views", "20261127000004_index_certificates_by_status_and_age", "20261127000005_view_rows_in_insertion_order", "20261201000001_index_cas_by_serial", "20261202000001_create_leases", "20261203000001_create_expiry_schedule", "20261204000001_create_crl_views");
pub const POSTGRES: &[Migration] = migrations!("postgres": "20261127000001_create_event_log", "20261127000002_create_views", "20261127000003_create_certificate_views", "20261127000004_index_certificates_by_status_and_age", "20261201000001_index_cas_by_serial", "20261202000001_create_leases", "20261203000001_create_expiry_schedule", "20261204000001_create_crl_views");

pub const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS shedu_migrations (version TEXT PRIMARY KEY, applied_at_us BIGINT NOT NULL)";
