//! The CA application service: every CA command goes load → decide → (sign) → append. The
//! commands live in the files below this one, each an `impl CaService` block; the request types
//! they take, in `requests`.

mod adopt;
mod create;
mod import;
mod lifecycle;
mod reads;
mod reissue;
mod requests;
mod sign;

use std::sync::Arc;

use async_trait::async_trait;
use shedu_domain::ca::{Ca, SecurityPolicy};
use shedu_domain::ids::{CaId, EngineId, KeyId, SerialNumber};
use shedu_domain::profile::IssuanceProfile;
use shedu_domain::subject::Subject;

pub use requests::{CreateCa, ImportCa, ReissueCa, SignRequest};

use crate::CommandError;
use crate::certificate_service::CertificateLookup;
use crate::clock::Clock;
use crate::crypto::Engines;
use crate::event_store::{EventStore, StoreError, StreamGuard};
use crate::read_cache::ReadCache;
use crate::runner::Runner;
use crate::turns::Turns;
use crate::x509::build::{IssuerUrls, Publishing};

/// CAs (and, separately, profiles) whose state issuance keeps in memory: a few MiB at most.
const CACHED_STATES: usize = 1024;

/// Finds CAs that may have issued a certificate, for import. Backed by a query view, so it may
/// lag the log; every candidate is re-read from the log and signature-checked before use.
#[async_trait]
pub trait CaLookup: Send + Sync {
    async fn issuer_candidates(
        &self,
        authority_key_id: Option<&str>,
        issuer: &Subject,
    ) -> Result<Vec<CaId>, StoreError>;

    /// The CAs whose certificate has serial number `serial` (any issuer's).
    async fn cas_with_serial(&self, serial: &SerialNumber) -> Result<Vec<CaId>, StoreError>;

    /// The CAs whose key is `key_id` in engine `engine_id`.
    async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError>;

    /// The imported CAs waiting for their issuer (no issuer known, not self-signed).
    async fn orphans(&self) -> Result<Vec<CaId>, StoreError>;
}

pub struct CaService {
    store: Arc<dyn EventStore>,
    engines: Arc<Engines>,
    clock: Arc<dyn Clock>,
    lookup: Arc<dyn CaLookup>,
    certificates: Arc<dyn CertificateLookup>,
    cas: Runner<Ca>,
    /// Commands of this process that append to one CA's stream at once take turns on it instead
    /// of losing races to each other: subordinates created under one parent, and a CA's status
    /// changes and metadata patches (a flood of patches must not starve a revocation).
    turns: Turns,
    /// Issuance's reads, skipped while the guards they feed keep holding (docs/adr/0011).
    signing_cas: ReadCache<SigningCa>,
    profiles: ReadCache<IssuanceProfile>,
    /// Key generations allowed at once: one request can ask for an RSA-4096 key, seconds of a core.
    key_generations: Arc<tokio::sync::Semaphore>,
    /// How securely CA keys must be held (`[policy]`); every rule off by default.
    policy: SecurityPolicy,
    /// Where relying parties reach Shedu (`public_base_url`): written into what CAs sign.
    public_base_url: Option<String>,
    /// Which CRLs are published, and so named in what CAs sign.
    crls: Publishing,
}

/// What signing needs of a CA, with its certificate already decoded.
struct SigningCa {
    ca: Ca,
    issuer_der: Vec<u8>,
    /// Its ancestors in Shedu, nearest first.
    ancestors: Vec<Ca>,
    /// The CA's and each ancestor's stream at the version read: an issuance appends under them.
    guards: Vec<StreamGuard>,
}

/// A CA's ancestors as read, nearest first, with guards on their streams at the versions read.
struct Lineage {
    ancestors: Vec<Ca>,
    guards: Vec<StreamGuard>,
}

const DEFAULT_KEY_GENERATIONS: usize = 2;

/// A chain deeper than this is a cycle in corrupted data, not a real hierarchy.
const MAX_CHAIN_DEPTH: usize = 32;

impl CaService {
    pub fn new(
        store: Arc<dyn EventStore>,
        engines: Arc<Engines>,
        clock: Arc<dyn Clock>,
        lookup: Arc<dyn CaLookup>,
        certificates: Arc<dyn CertificateLookup>,
    ) -> Self {
        CaService {
            cas: Runner::new(store.clone(), clock.clone(), CACHED_STATES),
            store,
            engines,
            clock,
            lookup,
            certificates,
            turns: Turns::new(64),
            signing_cas: ReadCache::new(CACHED_STATES),
            profiles: ReadCache::new(CACHED_STATES),
            key_generations: Arc::new(tokio::sync::Semaphore::new(DEFAULT_KEY_GENERATIONS)),
            policy: SecurityPolicy::default(),
            public_base_url: None,
            crls: Publishing::Nothing,
        }
    }

    /// Certificates signed from now on say where to find their issuer's certificate and the
    /// CRLs `crls` names, below `url`.
    pub fn with_public_base_url(mut self, url: Option<String>, crls: Publishing) -> Self {
        self.public_base_url = url;
        self.crls = crls;
        self
    }

    /// Where relying parties find what `issuer` publishes, when Shedu has a public URL.
    fn issuer_urls(&self, issuer: &CaId) -> Option<IssuerUrls> {
        self.public_base_url.as_deref().map(|base| IssuerUrls::below(base, issuer, self.crls))
    }

    /// How securely CA keys must be held, checked on create, import and rekey.
    pub fn with_policy(mut self, policy: SecurityPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// At most `permits` key generations at once; the others wait their turn.
    pub fn with_key_generations(mut self, permits: usize) -> Self {
        self.key_generations = Arc::new(tokio::sync::Semaphore::new(permits.max(1)));
        self
    }

    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// The ancestors Shedu holds of `ca`, up to its root or to the first issuer it does not hold.
    async fn lineage(&self, ca: &Ca) -> Result<Lineage, CommandError> {
        let mut lineage = Lineage { ancestors: Vec::new(), guards: Vec::new() };
        let mut next = ca.parent_id().cloned();
        while let Some(id) = next {
            if lineage.ancestors.len() >= MAX_CHAIN_DEPTH {
                return Err(CommandError::Internal(format!("CA '{}' has a cyclic issuer chain", ca.id)));
            }
            let loaded = self.cas.load(&id).await?;
            let Some(ancestor) = loaded.state else { break };
            next = ancestor.parent_id().cloned();
            lineage.guards.push(issuance_guard(&id, loaded.version));
            lineage.ancestors.push(ancestor);
        }
        Ok(lineage)
    }
}

/// A guard on a CA's stream for a decision that rests on what the CA can issue: its status, key,
/// profiles and validity, not its metadata (docs/adr/0017).
fn issuance_guard(id: &CaId, version: u64) -> StreamGuard {
    StreamGuard { stream_id: id.stream_id(), version, ignoring: shedu_domain::ca::IRRELEVANT_TO_ISSUANCE }
}

/// Runs blocking engine work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| CommandError::Internal(format!("engine task failed: {e}")))?
}
