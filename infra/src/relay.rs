//! The NATS relay: tails the log in log order and publishes every committed event to the
//! JetStream stream `SHEDU_EVENTS` as a CloudEvent, with `Nats-Msg-Id` = event id.
//!
//! - One relay publishes at a time: it holds the `relay` lease and renews it; another process
//!   takes over once it stops renewing.
//! - The stream always holds a prefix of the log (see [`jetstream`]), so the relay resumes after
//!   the stream's last message; its own checkpoint, saved after each acknowledged batch, is the
//!   fallback when the stream's last message is gone or not the relay's.
//! - NATS unreachable: retried with a capped backoff. Commands never wait for the relay.
//!
//! Delivery is at least once (JetStream acknowledges before it fsyncs unless told
//! `sync_interval: always`; a subscriber may see a message again after a redelivery), and
//! exactly once after deduplication by event id (docs/adr/0018).

mod cloud_event;
mod jetstream;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use shedu_commands::event_store::{EventStore, LogCursor, StoreError};
use shedu_projections::lease::Leases;
use shedu_projections::store::ViewStore;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use cloud_event::{Outgoing, outgoing};
pub use cloud_event::{POSITION_HEADER, RELAY_HEADER, TX_HEADER, cloud_event, subject};
use jetstream::{JetStream, NatsError};
pub use settings::RelaySettings;

/// The lease that makes one relay publish at a time, and the relay's checkpoint.
pub const LEASE: &str = "relay";
pub const CHECKPOINT: &str = "relay";
/// A lease not renewed for this long is taken over by another process.
const LEASE_TTL: Duration = Duration::from_secs(6);
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// Events read from the log per round.
const BATCH: usize = 4096;
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Nats(#[from] NatsError),
}

/// Why the relay stopped publishing without a failure.
enum Stop {
    Shutdown,
    /// Another process holds the lease.
    NotHolder,
}

pub struct Relay {
    store: Arc<dyn EventStore>,
    views: Arc<dyn ViewStore>,
    leases: Arc<dyn Leases>,
    settings: RelaySettings,
    url: String,
    /// This process, as the lease records it.
    holder: String,
}

impl Relay {
    pub fn new(
        store: Arc<dyn EventStore>,
        views: Arc<dyn ViewStore>,
        leases: Arc<dyn Leases>,
        settings: RelaySettings,
        url: String,
    ) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let holder = format!("{host}/{}/{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Relay { store, views, leases, settings, url, holder }
    }

    /// Publishes until `shutdown` turns true: woken by local appends (`wake`), polling every `poll`
    /// for appends of other processes, standing by while another process holds the lease.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>, poll: Duration) {
        let mut retry = FIRST_RETRY;
        loop {
            let pause = match self.lead(&wake, &mut shutdown, poll, &mut retry).await {
                Ok(Stop::Shutdown) => break,
                Ok(Stop::NotHolder) => RENEW_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = retry.as_millis() as u64, "relay cannot publish; retrying");
                    let pause = retry;
                    retry = (retry * 2).min(LAST_RETRY);
                    pause
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        if let Err(e) = self.leases.release(LEASE, &self.holder).await {
            tracing::warn!(error = %e, "relay could not give up its lease; another process takes over once it expires");
        }
    }

    /// Holds the lease and publishes until shutdown, the loss of the lease, or a failure.
    async fn lead(
        &self,
        wake: &Notify,
        shutdown: &mut watch::Receiver<bool>,
        poll: Duration,
        retry: &mut Duration,
    ) -> Result<Stop, RelayError> {
        if !self.leases.acquire(LEASE, &self.holder, LEASE_TTL).await? {
            return Ok(Stop::NotHolder);
        }
        let mut renewed = Instant::now();
        let nats = JetStream::connect(&self.settings, &self.url, &self.holder).await?;
        nats.ensure_stream(&self.settings).await?;
        let end = nats.end().await?;
        let mut cursor = match end.cursor {
            Some(cursor) => cursor,
            None => self.views.named_checkpoint(CHECKPOINT).await?,
        };
        let mut last_sequence = end.last_sequence;
        tracing::info!(holder = %self.holder, stream = %self.settings.stream, after = cursor.position, "relay publishing");
        let (prefix, source) = (&self.settings.subject_prefix, self.settings.source());
        loop {
            if renewed.elapsed() >= RENEW_EVERY {
                if !self.leases.acquire(LEASE, &self.holder, LEASE_TTL).await? {
                    tracing::warn!("relay lost its lease to another process; standing by");
                    return Ok(Stop::NotHolder);
                }
                renewed = Instant::now();
            }
            let events = self.store.read_all(cursor, BATCH).await?;
            if events.is_empty() {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll.min(RENEW_EVERY)) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return Ok(Stop::Shutdown);
                }
                continue;
            }
            let batch: Vec<Outgoing> = events.iter().map(|e| outgoing(prefix, &source, e)).collect();
            let (acked, failure) = nats.publish(&batch, last_sequence).await;
            if let Some(last) = batch[..acked].last() {
                cursor = last.cursor;
                last_sequence += acked as u64;
                self.views.save_named_checkpoint(CHECKPOINT, cursor).await?;
                *retry = FIRST_RETRY;
            }
            if let Some(e) = failure {
                return Err(e.into());
            }
        }
    }
}

/// The relay's checkpoint: how far it has published, as far as it has recorded.
pub async fn checkpoint(views: &dyn ViewStore) -> Result<LogCursor, StoreError> {
    views.named_checkpoint(CHECKPOINT).await
}
