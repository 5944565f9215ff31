//! What this process has committed: the newest log position it acknowledged, and that position's
//! log cursor once looked up, so that queries can wait for it (docs/adr/0005).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use shedu_commands::event_store::{EventStore, LogCursor, StoreError};

#[derive(Default)]
pub(crate) struct Committed {
    position: AtomicI64,
    /// The last position looked up and its cursor: under reads alone, no lookup at all.
    known: Mutex<(i64, LogCursor)>,
}

impl Committed {
    pub(crate) fn record(&self, position: i64) {
        self.position.fetch_max(position, Ordering::SeqCst);
    }

    /// The newest position this process acknowledged (0 before its first write).
    pub(crate) fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    /// The cursor of `position`, a committed one: on PostgreSQL, log order is by transaction first.
    pub(crate) async fn cursor(&self, store: &dyn EventStore, position: i64) -> Result<LogCursor, StoreError> {
        let known = *self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.0 == position {
            return Ok(known.1);
        }
        let cursor = store
            .cursor_of(position)
            .await?
            .ok_or_else(|| StoreError::unexpected(format!("committed position {position} is not in the log")))?;
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if position > known.0 {
            *known = (position, cursor);
        }
        Ok(cursor)
    }
}
