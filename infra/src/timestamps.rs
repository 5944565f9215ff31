//! Both stores keep instants as microseconds since the epoch: the precision of PostgreSQL's
//! timestamps, the unit the hash chain uses, and sortable as a plain integer in SQLite.

use shedu_commands::event_store::StoreError;
use time::OffsetDateTime;

pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1_000).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn now_us() -> i64 {
    micros(OffsetDateTime::now_utc())
}
