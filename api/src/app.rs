//! Wiring: open the database, build the engines and services, run the projector beside the HTTP
//! server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use axum::Router;
use shedu_commands::ca_service::CaService;
use shedu_commands::certificate_service::CertificateService;
use shedu_commands::clock::{Clock, SystemClock};
use shedu_commands::crl_service::CrlService;
use shedu_commands::event_store::{AppendRequest, Appended, EventStore, LogCursor, RecordedEvent, StoreError};
use shedu_commands::profile_service::ProfileService;
use shedu_infra::Database;
use shedu_infra::config::{KekSource, build_engines, rotate_software_kek};
use shedu_infra::private_files::create_private_dir;
use shedu_infra::relay::Relay;
use shedu_infra::software_engine::Rotation;
use shedu_projections::adoption::AdoptionReactor;
use shedu_projections::cascade::CascadeReactor;
use shedu_projections::crl_publisher::CrlPublisher;
use shedu_projections::fresh::FreshLookup;
use shedu_projections::progress::Progress;
use shedu_projections::runner::Projector;
use shedu_projections::scheduler::Scheduler;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::committed::Committed;
use crate::settings::Settings;
use crate::state::AppState;

/// How often the projector looks for events appended by other processes.
const PROJECTOR_POLL: Duration = Duration::from_millis(250);
/// The longest the scheduler sleeps without looking at its index again (another process's
/// projector may have added an earlier entry); it wakes at once on this process's own.
const SCHEDULER_POLL: Duration = Duration::from_secs(1);

pub struct App {
    state: Arc<AppState>,
    projector: Arc<Projector>,
    reactor: Arc<CascadeReactor>,
    scheduler: Arc<Scheduler>,
    adoption: Arc<AdoptionReactor>,
    /// Absent when CRL publishing is off (`crl.enabled = false`).
    crl_publisher: Option<Arc<CrlPublisher>>,
    /// Present when a NATS URL is configured.
    relay: Option<Arc<Relay>>,
    wake: Arc<Notify>,
    reactor_wake: Arc<Notify>,
    relay_wake: Arc<Notify>,
    adoption_wake: Arc<Notify>,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Engines first: a KEK that does not open its keys stops the start before the database is
        // touched. The embedded default may generate its KEK in the data directory, so that comes first.
        create_private_dir(&settings.data_dir)
            .map_err(anyhow::Error::msg)
            .context("cannot create the data directory")?;
        let engines = build_engines(&settings.engines, &settings.data_dir).map_err(anyhow::Error::msg)?;
        let db = open(settings).await?;
        let wake = Arc::new(Notify::new());
        let reactor_wake = Arc::new(Notify::new());
        let relay_wake = Arc::new(Notify::new());
        let adoption_wake = Arc::new(Notify::new());
        let committed = Arc::new(Committed::default());
        let store: Arc<dyn EventStore> = Arc::new(Notifying {
            inner: db.event_store(),
            wakes: [wake.clone(), reactor_wake.clone(), relay_wake.clone(), adoption_wake.clone()],
            committed: committed.clone(),
        });
        let relay = settings.nats_url.as_ref().map(|url| {
            Arc::new(Relay::new(store.clone(), db.views(), db.leases(), settings.relay.clone(), url.clone()))
        });
        let views = db.views();
        let progress = Progress::default();
        let lookup = Arc::new(FreshLookup {
            cas: db.ca_lookup(),
            certificates: db.certificate_lookup(),
            profiles: db.profile_usage(),
            store: store.clone(),
            views: views.clone(),
            progress: progress.clone(),
        });
        let engines = Arc::new(engines);
        let crls = Arc::new(CrlService::new(
            store.clone(),
            db.crl_store(),
            engines.clone(),
            clock.clone(),
            settings.crl.validity(),
        ));
        let crl_publisher = settings.crl.enabled.then(|| {
            Arc::new(CrlPublisher::new(crls.clone(), progress.clone(), clock.clone(), settings.crl.schedule()))
        });
        let cas = Arc::new(
            CaService::new(store.clone(), engines, clock.clone(), lookup.clone(), lookup.clone())
                .with_key_generations(settings.limits.key_generations)
                .with_policy(settings.policy)
                .with_public_base_url(settings.public_base_url.clone(), settings.crl.publishing()),
        );
        let certificates = Arc::new(CertificateService::new(store.clone(), clock.clone()));
        let profiles = ProfileService::new(store.clone(), clock.clone(), lookup.clone());
        let projector = Arc::new(Projector::new(store.clone(), views.clone(), progress.clone()));
        let reactor = Arc::new(CascadeReactor::new(
            store.clone(),
            views.clone(),
            progress.clone(),
            cas.clone(),
            certificates.clone(),
            lookup,
        ));
        let scheduler = Arc::new(Scheduler::new(
            store.clone(),
            views.clone(),
            progress.clone(),
            cas.clone(),
            certificates.clone(),
            clock.clone(),
        ));
        let adoption = Arc::new(AdoptionReactor::new(store.clone(), views.clone(), progress.clone(), cas.clone()));
        let idempotency = db.idempotency();
        let state = Arc::new(AppState {
            cas,
            certificates,
            profiles,
            crls,
            crl: settings.crl,
            store,
            views,
            progress,
            idempotency,
            db,
            clock,
            limits: settings.limits,
            attempts: Default::default(),
            committed,
        });
        Ok(App {
            state,
            projector,
            reactor,
            scheduler,
            adoption,
            crl_publisher,
            relay,
            wake,
            reactor_wake,
            relay_wake,
            adoption_wake,
        })
    }

    /// `shedu scheduler`: the projector (which keeps the scheduler's index) and the scheduler,
    /// without the API, until `shutdown` completes.
    pub async fn run_scheduler(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let projector = tokio::spawn(self.projector.clone().run(self.wake.clone(), stop_rx.clone(), PROJECTOR_POLL));
        let scheduler = tokio::spawn(self.scheduler.clone().run(stop_rx, SCHEDULER_POLL));
        tracing::info!(database = self.state.db.kind(), "Shedu's scheduler is running");
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = projector.await;
        let _ = scheduler.await;
        Ok(())
    }

    pub fn router(&self) -> Router {
        crate::router::router(self.state.clone())
    }

    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        tracing::info!(address = %addr, database = self.state.db.kind(), "Shedu is listening");
        self.serve_on(listener, shutdown).await
    }

    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let projector = tokio::spawn(self.projector.clone().run(self.wake.clone(), stop_rx.clone(), PROJECTOR_POLL));
        let reactor =
            tokio::spawn(self.reactor.clone().run(self.reactor_wake.clone(), stop_rx.clone(), PROJECTOR_POLL));
        let relay = self
            .relay
            .clone()
            .map(|relay| tokio::spawn(relay.run(self.relay_wake.clone(), stop_rx.clone(), PROJECTOR_POLL)));
        let scheduler = tokio::spawn(self.scheduler.clone().run(stop_rx.clone(), SCHEDULER_POLL));
        let adoption =
            tokio::spawn(self.adoption.clone().run(self.adoption_wake.clone(), stop_rx.clone(), PROJECTOR_POLL));
        let crl_publisher = self.crl_publisher.clone().map(|publisher| tokio::spawn(publisher.run(stop_rx.clone())));
        let planner = tokio::spawn(keep_planner_informed(self.state.db.clone(), stop_rx.clone()));
        let retention = Duration::from_secs(self.state.limits.idempotency_retention_seconds);
        let purger =
            tokio::spawn(crate::idempotency::purge_expired(self.state.idempotency.clone(), retention, stop_rx));
        let router = self.router();
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
        let _ = stop_tx.send(true);
        let _ = projector.await;
        let _ = reactor.await;
        let _ = scheduler.await;
        let _ = adoption.await;
        let _ = planner.await;
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        if let Some(crl_publisher) = crl_publisher {
            let _ = crl_publisher.await;
        }
        let _ = purger.await;
        Ok(())
    }
}

/// Keeps the database's planner statistics current while the log and views grow.
async fn keep_planner_informed(db: Database, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Database::STATISTICS_CHECK) => {}
            _ = shutdown.changed() => return,
        }
        statistics_refreshed(db.refresh_statistics().await);
    }
}

/// Stale statistics slow queries down but break nothing: a failure is worth a warning only.
fn statistics_refreshed(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not refresh the query planner's statistics");
    }
}

/// Starts Shedu on an already bound listener in the background (tests, embedding). Dropping the
/// returned sender stops it.
pub async fn spawn(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let app = App::build_with_clock(settings, clock).await?;
    let listener = TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        if let Err(e) = app
            .serve_on(listener, async {
                let _ = rx.await;
            })
            .await
        {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok((addr, tx))
}

async fn open(settings: &Settings) -> anyhow::Result<Database> {
    create_private_dir(&settings.data_dir).map_err(anyhow::Error::msg).context("cannot create the data directory")?;
    let db = Database::open(&settings.database_url).await.context("cannot open the database")?;
    let applied = db.migrate().await.context("cannot migrate the database")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    statistics_refreshed(db.refresh_statistics().await);
    Ok(db)
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<Vec<&'static str>> {
    create_private_dir(&settings.data_dir).map_err(anyhow::Error::msg)?;
    let db = Database::open(&settings.database_url).await?;
    Ok(db.migrate().await?)
}

/// Drops the views and replays the whole log into them.
pub async fn rebuild_projections(settings: &Settings) -> anyhow::Result<(u64, Duration)> {
    let db = open(settings).await?;
    let projector = Projector::new(db.event_store(), db.views(), Progress::default());
    let started = Instant::now();
    let events = projector.rebuild().await?;
    let elapsed = started.elapsed();
    statistics_refreshed(db.optimize().await);
    Ok((events, elapsed))
}

/// `shedu relay`: publishes the log to NATS until `shutdown` completes.
pub async fn run_relay(settings: &Settings, url: &str, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let relay = Arc::new(Relay::new(db.event_store(), db.views(), db.leases(), settings.relay.clone(), url.to_owned()));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Nothing appends in this process: the relay polls.
    let running = tokio::spawn(relay.run(Arc::new(Notify::new()), stop_rx, PROJECTOR_POLL));
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = running.await;
    Ok(())
}

/// `shedu keys rotate-kek`: re-seals a software engine's keys under the KEK `new` names; returns
/// the engine's id and what was done.
pub fn rotate_kek(settings: &Settings, engine: Option<&str>, new: &KekSource) -> anyhow::Result<(String, Rotation)> {
    rotate_software_kek(&settings.engines, &settings.data_dir, engine, new).map_err(anyhow::Error::msg)
}

/// Wakes the local projector after every append, so views follow commands within milliseconds,
/// and records what was committed, for queries to wait for.
struct Notifying {
    inner: Arc<dyn EventStore>,
    /// The projector's, the cascade reactor's, the relay's and the adoption reactor's: each has its own, as `notify_one`
    /// wakes one.
    wakes: [Arc<Notify>; 4],
    committed: Arc<Committed>,
}

#[async_trait]
impl EventStore for Notifying {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let appended = self.inner.append(request).await?;
        self.committed.record(appended.last_position);
        self.wakes.iter().for_each(|wake| wake.notify_one());
        Ok(appended)
    }

    async fn read_stream_page(
        &self,
        stream_id: &str,
        version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream_page(stream_id, version, limit).await
    }

    async fn events_with_ids(&self, first: Uuid, last: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.events_with_ids(first, last).await
    }

    async fn read_all(&self, after: LogCursor, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn cursor_of(&self, position: i64) -> Result<Option<LogCursor>, StoreError> {
        self.inner.cursor_of(position).await
    }

    async fn head(&self) -> Result<i64, StoreError> {
        self.inner.head().await
    }

    async fn head_cursor(&self) -> Result<LogCursor, StoreError> {
        self.inner.head_cursor().await
    }
}
