//! What every handler reaches: the services, the views and the stores.

use std::sync::Arc;

use shedu_commands::ca_service::CaService;
use shedu_commands::certificate_service::CertificateService;
use shedu_commands::clock::Clock;
use shedu_commands::crl_service::CrlService;
use shedu_commands::event_store::EventStore;
use shedu_commands::idempotency::IdempotencyStore;
use shedu_commands::profile_service::ProfileService;
use shedu_infra::Database;
use shedu_infra::config::{CrlSettings, Limits};
use shedu_projections::progress::Progress;
use shedu_projections::store::ViewStore;

/// What every handler reaches.
pub(crate) struct AppState {
    pub(crate) cas: Arc<CaService>,
    pub(crate) certificates: Arc<CertificateService>,
    pub(crate) profiles: ProfileService,
    pub(crate) crls: Arc<CrlService>,
    pub(crate) crl: CrlSettings,
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) views: Arc<dyn ViewStore>,
    pub(crate) progress: Progress,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) db: Database,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Limits,
    /// Keyed requests running in this process.
    pub(crate) attempts: Arc<crate::attempts::Attempts>,
    /// What this process has committed, for queries to wait for.
    pub(crate) committed: Arc<crate::committed::Committed>,
}
