//! The CA application service: every CA command goes load → decide → (sign) → append.

mod create;
mod import;
mod lifecycle;
mod reads;
mod sign;

use std::sync::Arc;

use async_trait::async_trait;
use shedu_domain::DomainError;
use shedu_domain::ca::{Ca, CaEvent, evolve};
use shedu_domain::ids::{CaId, EngineId, KeyId};
use shedu_domain::profile::IssuanceProfile;
use shedu_domain::subject::Subject;

pub use create::CreateCa;
pub use import::ImportCa;
pub use sign::SignRequest;

use crate::CommandError;
use crate::certificate_service::CertificateLookup;
use crate::clock::Clock;
use crate::crypto::Engines;
use crate::event_store::{EventStore, StoreError};
use crate::read_cache::{ReadCache, Versioned};
// One way to turn decided events into stored ones, for every aggregate.
use crate::stream::new_events as to_new_events;

/// How many times a command re-decides after losing a race on a stream it only touches as a side
/// effect (a parent's subordinate list, a descendant revoked by cascade).
const MAX_ATTEMPTS: usize = 12;

/// CAs (and, separately, profiles) whose state issuance keeps in memory: a few MiB at most.
const CACHED_STATES: usize = 1024;

/// Waits before re-deciding a lost race: a random pause whose range doubles with each attempt
/// (up to 64 ms), so that commands contending for one stream (sixteen subordinates created under
/// one root at once) spread out instead of colliding again in lockstep.
async fn backoff(attempt: usize) {
    if attempt + 1 >= MAX_ATTEMPTS {
        return; // No attempt follows: answer at once.
    }
    let ceiling_us = 500u64 << attempt.min(7);
    let mut bytes = [0u8; 8];
    // Without randomness the pause is simply the ceiling: slower, still correct.
    let pause_us = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) % ceiling_us,
        Err(_) => ceiling_us,
    };
    tokio::time::sleep(std::time::Duration::from_micros(pause_us)).await;
}

/// Finds CAs that may have issued a certificate, for import. Backed by a query view, so it may
/// lag the log; every candidate is re-read from the log and signature-checked before use.
#[async_trait]
pub trait CaLookup: Send + Sync {
    async fn issuer_candidates(
        &self,
        authority_key_id: Option<&str>,
        issuer: &Subject,
    ) -> Result<Vec<CaId>, StoreError>;

    /// The CAs whose key is `key_id` in engine `engine_id`.
    async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError>;
}

/// Who issues a command, recorded on every event it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    pub actor: String,
    pub correlation_id: String,
}

/// A command's result: the CA after it, and the log position of its last event (or of the CA's
/// last event when nothing changed).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ca: Ca,
    pub position: i64,
}

pub struct CaService {
    store: Arc<dyn EventStore>,
    engines: Arc<Engines>,
    clock: Arc<dyn Clock>,
    lookup: Arc<dyn CaLookup>,
    certificates: Arc<dyn CertificateLookup>,
    /// Subordinates created at once under one parent all append to the parent's stream.
    parent_turns: crate::turns::Turns,
    /// CAs as last read, with the log position of their last event; brought up to date by
    /// reading only newer events.
    known_cas: ReadCache<(Ca, i64)>,
    /// Issuance's reads, skipped while the guards they feed keep holding (docs/adr/0011).
    signing_cas: ReadCache<sign::SigningCa>,
    profiles: ReadCache<IssuanceProfile>,
}

struct Loaded {
    ca: Option<Ca>,
    version: u64,
    last_position: i64,
}

impl Loaded {
    fn existing(self, id: &CaId) -> Result<(Ca, u64, i64), CommandError> {
        match self.ca {
            Some(ca) if !ca.deleted => Ok((ca, self.version, self.last_position)),
            _ => Err(DomainError::NotFound(format!("CA '{id}'")).into()),
        }
    }
}

impl CaService {
    pub fn new(
        store: Arc<dyn EventStore>,
        engines: Arc<Engines>,
        clock: Arc<dyn Clock>,
        lookup: Arc<dyn CaLookup>,
        certificates: Arc<dyn CertificateLookup>,
    ) -> Self {
        CaService {
            store,
            engines,
            clock,
            lookup,
            certificates,
            parent_turns: crate::turns::Turns::new(64),
            known_cas: ReadCache::new(CACHED_STATES),
            signing_cas: ReadCache::new(CACHED_STATES),
            profiles: ReadCache::new(CACHED_STATES),
        }
    }

    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// The CA as its stream says now. Only the events this process has not read yet are read:
    /// a stream only grows, so a state at version v plus the events after v is the state at the
    /// head (a CA's stream grows with every metadata change).
    async fn load(&self, id: &CaId) -> Result<Loaded, CommandError> {
        let stream_id = id.stream_id();
        let known = match self.known_cas.get(&stream_id) {
            Some(known) => crate::stream::Loaded {
                state: Some(known.state.0.clone()),
                version: known.version,
                last_position: known.state.1,
            },
            None => crate::stream::Loaded { state: None, version: 0, last_position: 0 },
        };
        let before = known.version;
        let loaded =
            crate::stream::load_after(self.store.as_ref(), &stream_id, CaEvent::from_stored, evolve, known).await?;
        if let Some(ca) = loaded.state.as_ref().filter(|_| loaded.version != before) {
            let entry = Versioned { state: (ca.clone(), loaded.last_position), version: loaded.version };
            self.known_cas.put(stream_id, Arc::new(entry));
        }
        Ok(Loaded { ca: loaded.state, version: loaded.version, last_position: loaded.last_position })
    }
}

fn apply_all(ca: Ca, events: &[CaEvent]) -> Ca {
    events.iter().fold(Some(ca.clone()), evolve).unwrap_or(ca)
}

/// Runs blocking engine work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| CommandError::Internal(format!("engine task failed: {e}")))?
}
