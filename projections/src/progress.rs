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
        Progress { checkpoint: Arc::new(watch::channel(LogCursor::START).0) }
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

    /// Hears each move of the local projector's checkpoint.
    pub fn changes(&self) -> watch::Receiver<LogCursor> {
        self.checkpoint.subscribe()
    }

    /// The local projector's checkpoint.
    pub fn current(&self) -> LogCursor {
        *self.checkpoint.borrow()
    }

    /// Waits until the views include the event at `position`; false when `timeout` passes first.
    /// Only the stored checkpoint counts (another process may have rebuilt the views); the local
    /// projector's progress merely wakes the wait early.
    pub async fn wait_for(
        &self,
        store: &dyn EventStore,
        views: &dyn ViewStore,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        let target = loop {
            if position <= store.head().await?
                && let Some(cursor) = store.cursor_of(position).await?
            {
                break cursor;
            }
            // Not committed yet, or never will be (a rolled-back position): back off.
            if Instant::now() + pause >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        };
        self.wait_for_cursor(views, target, deadline.saturating_duration_since(Instant::now())).await
    }

    /// Waits until the views' stored checkpoint reaches `target`; false when `timeout` passes.
    pub async fn wait_for_cursor(
        &self,
        views: &dyn ViewStore,
        target: LogCursor,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.checkpoint.subscribe();
        loop {
            if views.checkpoint().await? >= target {
                return Ok(true);
            }
            let wake = tokio::time::timeout(Duration::from_millis(25), changes.changed());
            if tokio::time::timeout_at(deadline, wake).await.is_err() {
                return Ok(false);
            }
        }
    }
}
