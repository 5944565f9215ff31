//! The projector: reads the log after its checkpoint, folds events into the views and commits the
//! view rows with the new checkpoint in one transaction, so each event takes effect exactly once.

use std::sync::Arc;
use std::time::Duration;

use shedu_commands::event_store::{EventStore, LogCursor, StoreError};
use tokio::sync::{Notify, watch};

use crate::ca_projection;
use crate::error::ProjectionError;
use crate::progress::Progress;
use crate::store::{ViewBatch, ViewStore};

/// Events per view transaction: large enough to amortise commits during a rebuild, small enough
/// to keep a live batch's latency low.
const BATCH: usize = 2000;

pub struct Projector {
    store: Arc<dyn EventStore>,
    views: Arc<dyn ViewStore>,
    progress: Progress,
    /// The checkpoint this projector last committed or read; `None` until first read.
    position: tokio::sync::Mutex<Option<LogCursor>>,
}

impl Projector {
    pub fn new(store: Arc<dyn EventStore>, views: Arc<dyn ViewStore>, progress: Progress) -> Self {
        Projector { store, views, progress, position: tokio::sync::Mutex::new(None) }
    }

    /// Applies everything committed so far; returns the number of events applied.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut applied = 0;
        let mut position = self.position.lock().await;
        // Kept in memory between wake-ups; the compare-and-set commit catches anyone else moving
        // the stored checkpoint meanwhile.
        let mut checkpoint = match *position {
            Some(cursor) => cursor,
            None => self.views.checkpoint().await?,
        };
        loop {
            let events = self.store.read_all(checkpoint, BATCH).await?;
            let Some(last) = events.last() else { break };
            let mut batch = ViewBatch { previous: checkpoint, checkpoint: last.cursor(), ..ViewBatch::default() };
            ca_projection::project(self.views.as_ref(), &events, &mut batch).await?;
            match self.views.commit(batch).await {
                Ok(()) => {
                    checkpoint = last.cursor();
                    applied += events.len() as u64;
                    self.progress.advance(checkpoint);
                }
                // Another projector (a replica, a rebuild) moved the checkpoint first: continue
                // from what it committed instead of applying the same events twice.
                Err(StoreError::Conflict { .. }) => {
                    checkpoint = self.views.checkpoint().await?;
                    self.progress.advance(checkpoint);
                }
                Err(e) => return Err(e.into()),
            }
        }
        *position = Some(checkpoint);
        Ok(applied)
    }

    /// Empties the views and replays the whole log into them: at least every event committed
    /// before the call.
    pub async fn rebuild(&self) -> Result<u64, ProjectionError> {
        let head = self.store.head_cursor().await?;
        self.views.reset().await?;
        *self.position.lock().await = None;
        let mut applied = 0;
        let started = tokio::time::Instant::now();
        let mut next_warning = Duration::from_secs(10);
        loop {
            applied += self.catch_up().await?;
            if self.position.lock().await.is_some_and(|at| at >= head) {
                return Ok(applied);
            }
            // On PostgreSQL a transaction still running anywhere in the cluster hides the commits
            // that came after it; an early stop would leave the views short of the log.
            if started.elapsed() >= next_warning {
                tracing::warn!(
                    waited_s = started.elapsed().as_secs(),
                    head = head.position,
                    "rebuild waits for a transaction still open in the database cluster to end"
                );
                next_warning *= 2;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs until `shutdown` turns true: woken by local appends, and polling for appends made by
    /// other processes.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: watch::Receiver<bool>, poll: Duration) {
        keep_caught_up("projector", wake, shutdown, poll, || self.catch_up()).await
    }
}

/// Runs `catch_up` until `shutdown` turns true: after each local append (`wake`), and every `poll`
/// for appends made by other processes. A failure is logged and retried a second later.
pub async fn keep_caught_up<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    poll: Duration,
    catch_up: impl Fn() -> F,
) {
    loop {
        if let Err(e) = catch_up().await {
            tracing::error!(error = %e, "{what} failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
