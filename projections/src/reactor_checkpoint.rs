//! A reactor's place in the log: kept in memory between wake-ups and saved under the reactor's
//! name at most once a second (or at once, when asked). After a crash a reactor redoes at most
//! that much, and its commands are idempotent; saving per batch would cost a write per issuance.

use std::time::Duration;

use shedu_commands::event_store::{LogCursor, StoreError};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

use crate::store::ViewStore;

const SAVE_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct ReactorCheckpoint {
    name: &'static str,
    position: Mutex<Option<LogCursor>>,
    saved: Mutex<Instant>,
}

/// Held for a whole catch-up, so that two catch-ups of one reactor take turns.
pub(crate) struct Held<'a> {
    position: MutexGuard<'a, Option<LogCursor>>,
    pub(crate) cursor: LogCursor,
}

impl ReactorCheckpoint {
    pub(crate) fn new(name: &'static str) -> Self {
        let long_ago = Instant::now().checked_sub(SAVE_EVERY).unwrap_or_else(Instant::now);
        ReactorCheckpoint { name, position: Mutex::new(None), saved: Mutex::new(long_ago) }
    }

    /// Where this process has got to; the stored checkpoint is only read the first time.
    pub(crate) async fn hold(&self, views: &dyn ViewStore) -> Result<Held<'_>, StoreError> {
        let position = self.position.lock().await;
        let cursor = match *position {
            Some(cursor) => cursor,
            None => views.named_checkpoint(self.name).await?,
        };
        Ok(Held { position, cursor })
    }

    /// Moves to `to`; saves it when `now` or when a second has passed since the last save.
    pub(crate) async fn advance(
        &self,
        views: &dyn ViewStore,
        held: &mut Held<'_>,
        to: LogCursor,
        now: bool,
    ) -> Result<(), StoreError> {
        held.cursor = to;
        *held.position = Some(to);
        let mut saved = self.saved.lock().await;
        if now || saved.elapsed() >= SAVE_EVERY {
            views.save_named_checkpoint(self.name, to).await?;
            *saved = Instant::now();
        }
        Ok(())
    }
}

impl Held<'_> {
    /// Ends a catch-up where it got to.
    pub(crate) fn finish(mut self) {
        *self.position = Some(self.cursor);
    }
}
