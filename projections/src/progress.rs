//! Read-your-writes: a query carrying a log position waits until the views include it.

use std::sync::Arc;
use std::time::Duration;

use shedu_commands::event_store::{EventStore, LogCursor, StoreError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::ViewStore;

/// The projector's checkpoint as seen in this process.
#[derive(Clone, Debug)]
pub struct Progress {
    checkpoint: Arc<watch::Sender<LogCursor>>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            checkpoint: Arc::new(watch::channel(LogCursor::START).0),
        }
    }
}

impl Progress {
    pub fn advance(&self, to: LogCursor) {
        self.checkpoint.send_if_modified(|current| {
            let moved = to > *current;
            if moved {
                *current = to;
            }
            moved
        });
    }

    /// Waits until the views include the event at `position`; false when `timeout` passes first.
    /// The views' own checkpoint is consulted too, so this works in a process that runs no
    /// projector (an API replica).
    pub async fn wait_for(
        &self,
        store: &dyn EventStore,
        views: &dyn ViewStore,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.checkpoint.subscribe();
        let target = loop {
            if let Some(cursor) = store.cursor_of(position).await? {
                break cursor;
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        loop {
            if *changes.borrow_and_update() >= target || views.checkpoint().await? >= target {
                return Ok(true);
            }
            let wait = tokio::time::timeout_at(deadline, changes.changed());
            if tokio::time::timeout(Duration::from_millis(25), wait)
                .await
                .is_ok_and(|r| r.is_err())
            {
                return Ok(false);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }
}
