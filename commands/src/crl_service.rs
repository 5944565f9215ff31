//! Publishing CRLs: read the CA and its revocations from the views, plan the next number in the
//! CA's CRL series, sign in the CA's engine, record `crl.published` (expecting the series'
//! version, so a racing publisher's number is never reused) and keep the DER for serving.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use shedu_domain::ca::Ca;
use shedu_domain::crl::{self, Covered, CrlCommand, CrlKind, CrlPublished, CrlSeries, RevocationRecord};
use shedu_domain::ids::CaId;
use shedu_domain::{DomainError, Resource};
use time::OffsetDateTime;

use crate::CommandError;
use crate::clock::Clock;
use crate::context::CommandContext;
use crate::crypto::{EngineError, Engines};
use crate::event_store::{AppendRequest, EventStore, StoreError};
use crate::once::append;
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::{self, Runner, new_events};
use crate::turns::Turns;
use crate::x509::crl::{CrlHeader, assemble, tbs};
use crate::x509::parse::{certificates_from_pem, issuer_facts};

/// A signed CRL as served: the newest of each kind per CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlDocument {
    pub ca_id: CaId,
    pub kind: CrlKind,
    pub number: u64,
    pub base_number: Option<u64>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub covers: Covered,
    pub der: Vec<u8>,
}

/// A CA whose CRL of `kind` should be published now, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCrl {
    pub ca_id: CaId,
    pub kind: CrlKind,
}

/// Where revocations are read and CRLs kept: the views' database.
#[async_trait]
pub trait CrlStore: Send + Sync {
    /// The views' checkpoint, then `issuer`'s records that a CRL at `valid_at` may list: those
    /// revoked (`since` None), or those changed after `since` (a delta). The checkpoint is read
    /// first, so the records cover at least that point.
    async fn revocations(
        &self,
        issuer: &CaId,
        since: Option<Covered>,
        valid_at: OffsetDateTime,
    ) -> Result<(Covered, Vec<RevocationRecord>), StoreError>;
    /// Keeps `document` unless a newer one of its CA and kind is kept already.
    async fn save_crl(&self, document: &CrlDocument) -> Result<(), StoreError>;
    async fn crl(&self, ca: &CaId, kind: CrlKind) -> Result<Option<CrlDocument>, StoreError>;
    /// Up to `limit` CRLs to publish at `now`: CAs holding a key with none yet, revocations no CRL
    /// covers (a delta where `delta` and a full one exists), and CRLs whose nextUpdate is within
    /// `refresh_before`.
    async fn pending_crls(
        &self,
        now: OffsetDateTime,
        refresh_before: Duration,
        delta: bool,
        limit: usize,
    ) -> Result<Vec<PendingCrl>, StoreError>;
    /// When the soonest CRL `pending_crls` would refresh enters its refresh window.
    async fn next_crl_refresh(
        &self,
        now: OffsetDateTime,
        refresh_before: Duration,
        delta: bool,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
}

/// How long CRLs are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlValidity {
    pub full: Duration,
    pub delta: Duration,
}

impl Default for CrlValidity {
    fn default() -> Self {
        CrlValidity { full: Duration::from_secs(7 * 86_400), delta: Duration::from_secs(86_400) }
    }
}

pub struct CrlService {
    store: Arc<dyn EventStore>,
    crls: Arc<dyn CrlStore>,
    engines: Arc<Engines>,
    clock: Arc<dyn Clock>,
    series: Runner<CrlSeries>,
    validity: CrlValidity,
    /// Publications of one CA in this process take turns: a burst of first requests for a new
    /// CA's CRL signs it once.
    turns: Turns,
}

const CACHED_SERIES: usize = 1024;

impl CrlService {
    pub fn new(
        store: Arc<dyn EventStore>,
        crls: Arc<dyn CrlStore>,
        engines: Arc<Engines>,
        clock: Arc<dyn Clock>,
        validity: CrlValidity,
    ) -> Self {
        let series = Runner::new(store.clone(), clock.clone(), CACHED_SERIES);
        CrlService { store, crls, engines, clock, series, validity, turns: Turns::new(64) }
    }

    pub fn store(&self) -> &Arc<dyn CrlStore> {
        &self.crls
    }

    /// Signs and records the next CRL of `kind` for CA `id`, and keeps it for serving.
    pub async fn publish(&self, ctx: &CommandContext, id: &CaId, kind: CrlKind) -> Result<CrlDocument, CommandError> {
        let _turn = self.turns.take(&crl::stream_id(id)).await;
        self.publish_in_turn(ctx, id, kind).await
    }

    /// The CA's CRL of `kind` as kept, or, when there is none yet, the one this signs (after
    /// the full CRL a first delta completes).
    pub async fn kept_or_publish(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        kind: CrlKind,
    ) -> Result<CrlDocument, CommandError> {
        let _turn = self.turns.take(&crl::stream_id(id)).await;
        if let Some(kept) = self.crls.crl(id, kind).await? {
            return Ok(kept);
        }
        if kind == CrlKind::Delta && self.crls.crl(id, CrlKind::Full).await?.is_none() {
            self.publish_in_turn(ctx, id, CrlKind::Full).await?;
        }
        self.publish_in_turn(ctx, id, kind).await
    }

    async fn publish_in_turn(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        kind: CrlKind,
    ) -> Result<CrlDocument, CommandError> {
        let loaded = runner::read::<Ca>(self.store.as_ref(), id).await?;
        let ca = loaded.require(id)?.clone();
        let key = ca.key.clone().ok_or(DomainError::CaHoldsNoKey { id: id.clone() })?;
        let engine = self.engines.resolve(Some(&key.engine_id))?;
        let certificate = certificates_from_pem(&ca.certificate.pem, "certificate")?.remove(0);
        let (issuer_name, authority_key_id) = issuer_facts(&certificate)?;
        // The algorithm follows the key the engine holds (an imported CA's as imported).
        let spec = {
            let (engine, key_id) = (engine.clone(), key.key_id.clone());
            on_engine(move || engine.public_key(&key_id).map(|k| k.spec)).await?
        };
        for attempt in 0..MAX_ATTEMPTS {
            let series = self.series.load(id).await?;
            let base = crl::base(id, series.state.as_ref(), kind)?;
            let now = whole_seconds(self.clock.now());
            let since = base.as_ref().map(|b| b.covers);
            let (covers, records) = self.crls.revocations(id, since, now).await?;
            let plan = crl::plan(id, series.state.as_ref(), kind, covers)?;
            let entries = crl::entries(&records, since, now);
            let validity = match kind {
                CrlKind::Full => self.validity.full,
                CrlKind::Delta => self.validity.delta,
            };
            let header = CrlHeader {
                issuer_name: &issuer_name,
                authority_key_id: &authority_key_id,
                number: plan.number,
                base_number: plan.base.as_ref().map(|b| b.number),
                this_update: now,
                next_update: now + validity,
            };
            let tbs = tbs(&header, &entries, spec)?;
            let (engine, key_id) = (engine.clone(), key.key_id.clone());
            let (tbs, signature) = on_engine(move || engine.sign(&key_id, &tbs).map(|s| (tbs, s))).await?;
            let der = assemble(&tbs, spec, &signature)?;
            let published = CrlPublished {
                ca_id: id.clone(),
                number: plan.number,
                kind,
                base_number: header.base_number,
                this_update: now,
                next_update: header.next_update,
                covers,
                entries: entries.len() as u64,
                key: key.clone(),
                sha256: hex::encode(Sha256::digest(&der)),
            };
            let events = <CrlSeries as shedu_domain::aggregate::Aggregate>::decide(
                id,
                series.state.as_ref(),
                &CrlCommand::Record(Box::new(published)),
                now,
            )?;
            let request =
                AppendRequest::single(crl::stream_id(id), series.expected(), new_events(&events, ctx, None, now));
            match append(self.store.as_ref(), ctx, request).await {
                Ok(_) => {
                    let document = CrlDocument {
                        ca_id: id.clone(),
                        kind,
                        number: plan.number,
                        base_number: header.base_number,
                        this_update: now,
                        next_update: header.next_update,
                        covers,
                        der,
                    };
                    self.crls.save_crl(&document).await?;
                    return Ok(document);
                }
                // Another publisher took this number: plan again from what it recorded.
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: crl::stream_id(id), attempts: MAX_ATTEMPTS })
    }

    /// The CA's current CRL of `kind`; `None` until its first is published.
    pub async fn current(&self, id: &CaId, kind: CrlKind) -> Result<Option<CrlDocument>, CommandError> {
        Ok(self.crls.crl(id, kind).await?)
    }

    /// CA `id`, deleted or not: relying parties still fetch a deleted CA's last CRL and its
    /// certificate. A CA that never existed is a 404.
    pub async fn ca(&self, id: &CaId) -> Result<Ca, CommandError> {
        let loaded = runner::read::<Ca>(self.store.as_ref(), id).await?;
        loaded.state.ok_or_else(|| DomainError::NotFound(Resource::Ca(id.clone())).into())
    }
}

/// Runs blocking engine work off the async runtime.
async fn on_engine<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, CommandError> {
    let done = tokio::task::spawn_blocking(work).await;
    done.map_err(|e| CommandError::Internal(format!("engine task failed: {e}")))?.map_err(CommandError::Engine)
}

/// DER times carry whole seconds; a CRL's recorded times are the ones it carries.
fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}
