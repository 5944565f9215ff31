//! Reissuing a CA: a new certificate (and serial) for the same CA, optionally on a new key. A
//! root signs itself again, a subordinate is signed by its parent; certificates the CA issued
//! before keep verifying under the old certificate, which stays valid until it expires.

use shedu_domain::DomainError;
use shedu_domain::ca::{Ca, CaCommand, Custody, DEFAULT_REASON, IssuerMetadata, KeyRef, Reissue, decide, plan_reissue};
use shedu_domain::ids::CaId;
use shedu_domain::key::KeySpec;

use super::create::discard_unless_recorded;
use super::{CaService, Lineage, blocking};
use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{AppendRequest, StoreError};
use crate::once::{append, exactly_once};
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::new_events;
use crate::x509::parse::certificate_info;

use super::requests::ReissueCa;

/// Longest reissue reason kept in the metadata.
const MAX_REASON: usize = 256;

impl CaService {
    pub async fn reissue(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        request: ReissueCa,
    ) -> Result<Outcome<Ca>, CommandError> {
        let _turn = self.turns.take(&id.stream_id()).await;
        exactly_once(self.store.as_ref(), ctx, self.reissue_once(ctx, id, request)).await
    }

    async fn reissue_once(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        request: ReissueCa,
    ) -> Result<Outcome<Ca>, CommandError> {
        let reason = reason(request.reason.as_deref())?;
        if !request.rekey && (request.key.is_some() || request.engine_id.is_some()) {
            return Err(DomainError::invalid("rekey", "key_metadata and engine_id need \"rekey\": true").into());
        }
        let now = self.clock.now();
        let loaded = self.cas.load(id).await?;
        let ca = loaded.require(id)?.clone();
        let lineage = match ca.parent_id() {
            Some(_) => self.lineage(&ca).await?,
            None => Lineage { ancestors: vec![], guards: vec![] },
        };
        let parent = lineage.ancestors.split_first();
        if ca.parent_id().is_some() && parent.is_none() {
            return Err(DomainError::ParentNotFound(ca.parent_id().cloned().unwrap_or_else(|| ca.id.clone())).into());
        }
        let plan = plan_reissue(&ca, parent, request.validity.as_ref(), now)?;
        let current = ca.key.clone().ok_or_else(|| DomainError::CaHoldsNoKey { id: ca.id.clone() })?;

        let (engine, key, custody) = if request.rekey {
            let engine = self.engines.resolve(Some(request.engine_id.as_ref().unwrap_or(&current.engine_id)))?;
            let level = engine.info().security_level;
            match parent {
                None => self.policy.check_root(level)?,
                Some((parent, _)) => self.policy.check_subordinate(level, Some(parent))?,
            }
            let spec = match request.key {
                Some(spec) => spec,
                None => {
                    let current = &ca.certificate.key_metadata;
                    KeySpec { key_type: current.key_type, bits: current.bits }
                }
            };
            let key = {
                let engine = engine.clone();
                let _turn = self.key_generations.acquire().await.map_err(|e| CommandError::Internal(e.to_string()))?;
                blocking(move || Ok(engine.generate_key(spec)?)).await?
            };
            let custody = Custody {
                key: KeyRef { engine_id: engine.info().id.clone(), key_id: key.key_id.clone() },
                security_level: engine.info().security_level,
            };
            (engine, key, Some(custody))
        } else {
            let engine = self.engines.resolve(Some(&current.engine_id))?;
            let key = {
                let (engine, key_id) = (engine.clone(), current.key_id.clone());
                blocking(move || Ok(engine.public_key(&key_id)?)).await?
            };
            (engine, key, None)
        };
        let new_key = custody.as_ref().map(|c| c.key.key_id.clone());
        let result = async {
            let parent_state = parent.map(|(p, _)| p);
            let der = self.sign_ca_certificate(plan.clone(), key, parent_state, engine.clone()).await?;
            let certificate = certificate_info(&der, "certificate")
                .map_err(|e| CommandError::Internal(format!("Shedu signed an unreadable certificate: {e}")))?;
            let issuer_metadata = match parent_state {
                Some(p) => p.as_issuer(),
                None => {
                    IssuerMetadata { id: ca.id.clone(), serial_number: certificate.serial_number.clone(), level: 0 }
                }
            };
            let reissue = Reissue { certificate, custody, issuer_metadata, max_path_len: plan.path_len, reason };
            self.commit_reissue(ctx, &ca, reissue, lineage.guards.clone()).await
        }
        .await;
        if let Some(key_id) = new_key {
            discard_unless_recorded(&result, engine, key_id).await;
        }
        result
    }

    /// Appends `ca.reissue` under the lineage's guards. Another change to the CA meanwhile (a
    /// metadata patch) is decided again with the same certificate; a change to what the
    /// certificate rests on (another reissue, a revocation) refuses it.
    async fn commit_reissue(
        &self,
        ctx: &CommandContext,
        planned_on: &Ca,
        reissue: Reissue,
        guards: Vec<crate::event_store::StreamGuard>,
    ) -> Result<Outcome<Ca>, CommandError> {
        let id = &planned_on.id;
        let command = CaCommand::Reissue(Box::new(reissue));
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let loaded = self.cas.load(id).await?;
            let ca = loaded.require(id)?;
            if ca.certificate.serial_number != planned_on.certificate.serial_number || ca.key != planned_on.key {
                return Err(StoreError::Conflict {
                    stream_id: id.stream_id(),
                    expected: "the CA as planned".into(),
                    actual: loaded.version,
                }
                .into());
            }
            let events = decide(id, Some(ca), &command, now)?;
            let mut request =
                AppendRequest::single(id.stream_id(), loaded.expected(), new_events(&events, ctx, None, now));
            request.guards = guards.clone();
            match append(self.store.as_ref(), ctx, request).await {
                Ok(appended) => {
                    let state = events.iter().fold(loaded.state, <Ca as shedu_domain::aggregate::Aggregate>::evolve);
                    let state = state.ok_or(DomainError::BrokenInvariant("a reissue keeps the CA"))?;
                    return Ok(Outcome { state, position: appended.last_position });
                }
                Err(StoreError::Conflict { stream_id, .. }) if stream_id == id.stream_id() => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: id.stream_id(), attempts: MAX_ATTEMPTS })
    }
}

/// The reason recorded: given (printable, at most 256 characters) or Lamassu's default.
fn reason(given: Option<&str>) -> Result<String, DomainError> {
    match given.map(str::trim) {
        None | Some("") => Ok(DEFAULT_REASON.into()),
        Some(r) if r.chars().count() > MAX_REASON || r.chars().any(char::is_control) => {
            Err(DomainError::invalid("reason", format!("must be at most {MAX_REASON} printable characters")))
        }
        Some(r) => Ok(r.to_owned()),
    }
}
