//! The CRL publisher keeps every CA's CRLs current. When the views move (a revocation reaches
//! the revocation view), it waits one batch window, so that a burst of revocations costs one
//! signature per CA, and then publishes what `pending_crls` names. Between wake-ups it sleeps
//! until the soonest CRL enters its refresh window, so every CRL is re-signed before its
//! nextUpdate. Two publishers (two processes on one PostgreSQL) race on each CA's CRL series in
//! the log; the loser plans again, and never reuses a number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use shedu_commands::CommandError;
use shedu_commands::clock::Clock;
use shedu_commands::context::CommandContext;
use shedu_commands::crl_service::{CrlService, PendingCrl};
use shedu_domain::ids::CaId;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::progress::Progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSchedule {
    /// How long after a revocation reaches the views the CRLs are signed, gathering others.
    pub batch: Duration,
    /// How long before its nextUpdate a CRL is re-signed.
    pub refresh_before: Duration,
    /// Publish a delta CRL on each change (and the full CRL on its schedule), rather than
    /// re-signing the full CRL on each change.
    pub delta: bool,
}

impl Default for CrlSchedule {
    fn default() -> Self {
        CrlSchedule { batch: Duration::from_millis(200), refresh_before: Duration::from_secs(86_400), delta: false }
    }
}

/// CRLs asked for at once.
const BATCH: usize = 256;
/// Signatures in flight at once.
const IN_FLIGHT: usize = 8;
/// The longest the publisher sleeps without looking again (another process's projector moved).
const POLL: Duration = Duration::from_secs(1);
/// A CA whose CRL failed (its engine unreachable) is retried after this, doubling up to a minute.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

pub struct CrlPublisher {
    crls: Arc<CrlService>,
    progress: Progress,
    clock: Arc<dyn Clock>,
    schedule: CrlSchedule,
    /// CAs whose last attempt failed: when to try again, and the wait after that.
    failing: Mutex<HashMap<CaId, (Instant, Duration)>>,
}

impl CrlPublisher {
    pub fn new(crls: Arc<CrlService>, progress: Progress, clock: Arc<dyn Clock>, schedule: CrlSchedule) -> Self {
        CrlPublisher { crls, progress, clock, schedule, failing: Mutex::new(HashMap::new()) }
    }

    /// Publishes every CRL due now, passing over CAs waiting out a failure; returns how many.
    pub async fn round(&self) -> Result<usize, CommandError> {
        let mut published = 0;
        loop {
            let now = self.clock.now();
            let pending =
                self.crls.store().pending_crls(now, self.schedule.refresh_before, self.schedule.delta, BATCH).await?;
            let due: Vec<PendingCrl> = pending.into_iter().filter(|p| !self.waiting(&p.ca_id)).collect();
            if due.is_empty() {
                return Ok(published);
            }
            let results: Vec<(PendingCrl, Result<(), CommandError>)> = futures_util::stream::iter(due)
                .map(|p| async move {
                    let result = self.publish(&p).await;
                    (p, result)
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            for (pending, result) in results {
                match result {
                    Ok(()) => {
                        published += 1;
                        self.lock().remove(&pending.ca_id);
                    }
                    Err(e) => self.failed(&pending, &e),
                }
            }
        }
    }

    async fn publish(&self, pending: &PendingCrl) -> Result<(), CommandError> {
        let ctx = CommandContext {
            actor: "shedu-crl-publisher".into(),
            correlation_id: format!("crl:{}", pending.ca_id),
            request_key: None,
        };
        self.crls.publish(&ctx, &pending.ca_id, pending.kind).await.map(|_| ())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CaId, (Instant, Duration)>> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn waiting(&self, ca: &CaId) -> bool {
        self.lock().get(ca).is_some_and(|(until, _)| Instant::now() < *until)
    }

    fn failed(&self, pending: &PendingCrl, error: &CommandError) {
        let mut failing = self.lock();
        let wait = failing.get(&pending.ca_id).map_or(FIRST_RETRY, |(_, wait)| (*wait * 2).min(LAST_RETRY));
        failing.insert(pending.ca_id.clone(), (Instant::now() + wait, wait));
        tracing::warn!(ca_id = %pending.ca_id, kind = pending.kind.as_str(), error = %error, retry_s = wait.as_secs(), "CRL not published");
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.progress.changes();
        loop {
            let nap = match self.round().await {
                Ok(published) => {
                    if published > 0 {
                        tracing::debug!(published, "CRLs published");
                    }
                    self.until_next_refresh().await
                }
                Err(e) => {
                    tracing::error!(error = %e, "CRL publisher failed; retrying");
                    FIRST_RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = changes.changed() => tokio::time::sleep(self.schedule.batch).await,
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    async fn until_next_refresh(&self) -> Duration {
        let now = self.clock.now();
        let next = self.crls.store().next_crl_refresh(now, self.schedule.refresh_before, self.schedule.delta).await;
        match next {
            Ok(Some(at)) => {
                Duration::try_from(at - now).unwrap_or(Duration::ZERO).clamp(Duration::from_millis(250), POLL)
            }
            _ => POLL,
        }
    }
}
