//! The expiration scheduler: turns time into events. It reads the soonest entries of the index
//! the projector keeps (`expiry_schedule`: what falls due for each CA and certificate, and
//! when), records those that are due through commands, and sleeps until the next one.
//!
//! Exactly once without a lock: a command records a trigger only while it is pending in the
//! state it decides on, and appends expecting that state's version. Two schedulers (two
//! processes on one PostgreSQL, or a restart mid-batch) race on the stream; the loser decides
//! again and finds nothing to record.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use shedu_commands::CommandError;
use shedu_commands::ca_service::CaService;
use shedu_commands::certificate_service::CertificateService;
use shedu_commands::clock::{Clock, micros};
use shedu_commands::context::CommandContext;
use shedu_commands::event_store::EventStore;
use shedu_domain::ids::{CaId, SerialNumber};
use tokio::sync::watch;

use crate::progress::Progress;
use crate::store::{Scheduled, ViewStore};

/// Entries read at once: what falls due in one instant beyond this is read by the next round.
const BATCH: usize = 256;
/// Commands in flight at once while a burst falls due.
const IN_FLIGHT: usize = 16;
/// How long the views may take to include what this round appended.
const CATCH_UP: Duration = Duration::from_secs(5);

pub struct Scheduler {
    store: Arc<dyn EventStore>,
    views: Arc<dyn ViewStore>,
    progress: Progress,
    cas: Arc<CaService>,
    certificates: Arc<CertificateService>,
    clock: Arc<dyn Clock>,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Events appended.
    pub recorded: usize,
    /// Due entries that had nothing to record (another scheduler was first, or the index lagged).
    pub settled: usize,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn EventStore>,
        views: Arc<dyn ViewStore>,
        progress: Progress,
        cas: Arc<CaService>,
        certificates: Arc<CertificateService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Scheduler { store, views, progress, cas, certificates, clock }
    }

    /// Records everything due now, skipping `passed` (entries that already had nothing to
    /// record); returns what it did and when the next entry falls due.
    pub async fn round(
        &self,
        passed: &mut BTreeSet<(String, String, i64)>,
    ) -> Result<(Round, Option<time::OffsetDateTime>), CommandError> {
        let mut round = Round::default();
        loop {
            let now = self.clock.now();
            let entries = self.views.next_scheduled(BATCH + passed.len()).await?;
            let mut due = Vec::new();
            let mut next = None;
            for entry in entries {
                if passed.contains(&key(&entry)) {
                    continue;
                }
                if entry.due_at <= now {
                    due.push(entry);
                } else {
                    next = Some(entry.due_at);
                    break;
                }
            }
            if due.is_empty() {
                return Ok((round, next));
            }
            let results: Vec<Result<Option<i64>, CommandError>> =
                futures_util::stream::iter(due.iter().cloned().map(|entry| async move { self.fire(&entry).await }))
                    .buffered(IN_FLIGHT)
                    .collect()
                    .await;
            let mut last = None;
            for (entry, result) in due.iter().zip(results) {
                match result? {
                    Some(position) => {
                        round.recorded += 1;
                        last = last.max(Some(position));
                    }
                    None => {
                        round.settled += 1;
                        passed.insert(key(entry));
                    }
                }
            }
            // The next read must not see this round's entries again: wait for the views to
            // include what it appended (they then hold no entry for it).
            if let Some(position) = last {
                self.progress.wait_for(self.store.as_ref(), self.views.as_ref(), position, CATCH_UP).await?;
            }
        }
    }

    async fn fire(&self, entry: &Scheduled) -> Result<Option<i64>, CommandError> {
        let ctx = CommandContext {
            actor: "shedu-scheduler".into(),
            correlation_id: format!("{}:{}", entry.stream_id, entry.trigger.key()),
            request_key: None,
        };
        let trigger = entry.trigger.clone();
        if let Some(id) = entry.stream_id.strip_prefix("ca-") {
            self.cas.fire(&ctx, &CaId::parse(id)?, trigger).await
        } else if let Some(serial) = entry.stream_id.strip_prefix("certificate-") {
            self.certificates.fire(&ctx, &SerialNumber::parse(serial)?, trigger).await
        } else {
            Ok(None)
        }
    }

    /// Runs until `shutdown` turns true: a round, then sleep until the next entry falls due, the
    /// local projector moves (an earlier entry may have arrived) or `poll` passes (another
    /// process's projector, or a test clock, moved).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, poll: Duration) {
        let mut changes = self.progress.changes();
        let mut passed = BTreeSet::new();
        loop {
            let nap = match self.round(&mut passed).await {
                Ok((round, next)) => {
                    if round.recorded + round.settled > 0 {
                        tracing::info!(recorded = round.recorded, settled = round.settled, "scheduler round");
                    }
                    let until = next.map(|at| at - self.clock.now());
                    until.map_or(poll, |d| Duration::try_from(d).unwrap_or(Duration::ZERO).min(poll))
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduler failed; retrying");
                    Duration::from_secs(1)
                }
            };
            // Settled entries stay passed over until the index moves past them.
            if passed.len() > 10 * BATCH {
                passed.clear();
            }
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = changes.changed() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

fn key(entry: &Scheduled) -> (String, String, i64) {
    (entry.stream_id.clone(), entry.trigger.key(), micros(entry.due_at))
}
