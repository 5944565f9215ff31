//! Time as a port, so that tests and replays decide what "now" is.

use std::sync::Mutex;

use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    /// Now, truncated to microseconds: the precision both event stores keep, so a timestamp
    /// reads back exactly as it was hashed.
    fn now(&self) -> OffsetDateTime;
}

/// Microseconds since the epoch: how the stores and the views keep instants (PostgreSQL's
/// precision, the unit the hash chain uses, sortable as a plain integer).
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(truncate_to_micros(at)))
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = truncate_to_micros(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
