//! Creating a managed CA: a root signs itself, a subordinate is signed by its parent's key.

use std::sync::Arc;

use shedu_domain::aggregate::Aggregate;
use shedu_domain::ca::{
    Ca, CaCertificatePlan, CaCommand, Custody, KeyRef, NewCa, SubordinateLink, Under, check_id_free, decide,
    plan_managed,
};
use shedu_domain::ids::{CaId, KeyId};
use shedu_domain::{DomainError, Resource};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CaService, Lineage, blocking};
use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::crypto::{CryptoEngine, PublicKey};
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamGuard, StreamWrite};
use crate::once::{append, exactly_once};
use crate::profile_service::existing_profile;
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::new_events;
use crate::x509::build::{self_signed_ca, subordinate_ca};
use crate::x509::parse::{certificate_info, certificates_from_pem};
use crate::x509::signer::EngineSigner;

use super::requests::CreateCa;

impl CaService {
    pub async fn create_ca(&self, ctx: &CommandContext, request: CreateCa) -> Result<Outcome<Ca>, CommandError> {
        exactly_once(self.store.as_ref(), ctx, self.create_once(ctx, request)).await
    }

    async fn create_once(&self, ctx: &CommandContext, request: CreateCa) -> Result<Outcome<Ca>, CommandError> {
        let now = self.clock.now();
        if let Some(profile_id) = &request.profile_id {
            existing_profile(self.store.as_ref(), profile_id).await?;
        }
        let id = id_or_new(request.id.clone())?;
        // Checked before generating a key so that a duplicate costs nothing; the append's
        // NoStream expectation is what actually guarantees uniqueness.
        check_id_free(&id, self.cas.load(&id).await?.state.as_ref())?;
        let parent = match &request.parent_id {
            Some(parent_id) => self.cas.load(parent_id).await?.state,
            None => None,
        };
        let lineage = match &parent {
            Some(parent) => self.lineage(parent).await?,
            None => Lineage { ancestors: vec![], guards: vec![] },
        };
        let under = match &request.parent_id {
            Some(id) => Under::Parent { id, state: parent.as_ref(), ancestors: &lineage.ancestors },
            None => Under::Root,
        };
        let plan = plan_managed(request.subject.clone(), &request.validity, under, now)?;

        let engine = self.engines.resolve(request.engine_id.as_ref())?;
        let level = engine.info().security_level;
        match &parent {
            None => self.policy.check_root(level)?,
            Some(parent) => self.policy.check_subordinate(level, Some(parent))?,
        }
        let key = {
            let (engine, spec) = (engine.clone(), request.key);
            let _turn = self.key_generations.acquire().await.map_err(|e| CommandError::Internal(e.to_string()))?;
            blocking(move || Ok(engine.generate_key(spec)?)).await?
        };
        let custody = Custody {
            key: KeyRef { engine_id: engine.info().id.clone(), key_id: key.key_id.clone() },
            security_level: engine.info().security_level,
        };
        let key_id = key.key_id.clone();
        let result = async {
            let der = self.sign_ca_certificate(plan, key, parent.as_ref(), engine.clone()).await?;
            let certificate = certificate_info(&der, "certificate")
                .map_err(|e| CommandError::Internal(format!("Shedu signed an unreadable certificate: {e}")))?;
            let new = NewCa::managed(id, parent.as_ref(), certificate, custody, request.profile_id, request.metadata);
            self.commit_new_ca(ctx, CaCommand::Create(new), lineage.guards, now).await
        }
        .await;
        discard_unless_recorded(&result, engine, key_id).await;
        result
    }

    pub(super) async fn sign_ca_certificate(
        &self,
        plan: CaCertificatePlan,
        key: PublicKey,
        parent: Option<&Ca>,
        engine: Arc<dyn CryptoEngine>,
    ) -> Result<Vec<u8>, CommandError> {
        let issuer = match parent {
            Some(p) => {
                let parent_key = p.key.clone().ok_or_else(|| DomainError::CaHoldsNoKey { id: p.id.clone() })?;
                let parent_engine = self.engines.resolve(Some(&parent_key.engine_id))?;
                let parent_der = certificates_from_pem(&p.certificate.pem, "parent certificate")?.remove(0);
                Some((parent_engine, parent_key, parent_der, self.issuer_urls(&p.id)))
            }
            None => None,
        };
        blocking(move || {
            let subject_key = EngineSigner::new(engine, key)?;
            match issuer {
                None => self_signed_ca(&plan, &subject_key),
                Some((parent_engine, parent_key, parent_der, urls)) => {
                    let parent_public = parent_engine.public_key(&parent_key.key_id)?;
                    let issuer_key = EngineSigner::new(parent_engine, parent_public)?;
                    subordinate_ca(&plan, &subject_key, &parent_der, issuer_key, urls.as_ref())
                }
            }
        })
        .await
    }

    /// Appends a new CA's first event and, when it has a parent in Shedu, the parent's record of
    /// the child, atomically, under `guards` (the parent's ancestors as checked). Creations under
    /// one parent take turns within this process; a race lost to another process (another child,
    /// a status change) is re-decided against the parent's new state after a random back-off.
    pub(super) async fn commit_new_ca(
        &self,
        ctx: &CommandContext,
        command: CaCommand,
        guards: Vec<StreamGuard>,
        now: OffsetDateTime,
    ) -> Result<Outcome<Ca>, CommandError> {
        let (new, link) = match &command {
            CaCommand::Create(new) => (new, SubordinateLink::SignedHere),
            CaCommand::Import(new) => (new, SubordinateLink::Recognised),
            _ => return Err(DomainError::BrokenInvariant("commit_new_ca takes a creation").into()),
        };
        let events = decide(&new.id, None, &command, now)?;
        let child_stream = new.id.stream_id();
        let ca = Ca::replay(&events).ok_or(DomainError::BrokenInvariant("a creation creates its CA"))?;
        let creation =
            || AppendRequest::single(&child_stream, ExpectedVersion::NoStream, new_events(&events, ctx, None, now));
        let Some(parent_id) = new.parent_id() else {
            return self.append_new(ctx, creation(), &new.id, ca).await;
        };
        let _turn = self.turns.take(&parent_id.stream_id()).await;
        for attempt in 0..MAX_ATTEMPTS {
            let parent = self.cas.load(parent_id).await?;
            let add = CaCommand::AddSubordinate { child_id: new.id.clone(), link };
            let parent_events = decide(parent_id, parent.state.as_ref(), &add, now)?;
            let mut request = creation();
            request.guards = guards.clone();
            request.writes.push(StreamWrite {
                stream_id: parent_id.stream_id(),
                expected: parent.expected(),
                events: new_events(&parent_events, ctx, None, now),
            });
            match self.append_new(ctx, request, &new.id, ca.clone()).await {
                Err(CommandError::Store(StoreError::Conflict { .. })) => backoff(attempt).await,
                other => return other,
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: parent_id.stream_id(), attempts: MAX_ATTEMPTS })
    }

    /// Appends a creation; the new stream existing already means the id was taken meanwhile.
    async fn append_new(
        &self,
        ctx: &CommandContext,
        request: AppendRequest,
        id: &CaId,
        ca: Ca,
    ) -> Result<Outcome<Ca>, CommandError> {
        match append(self.store.as_ref(), ctx, request).await {
            Ok(appended) => Ok(Outcome { state: ca, position: appended.last_position }),
            Err(StoreError::Conflict { stream_id, .. }) if stream_id == id.stream_id() => {
                Err(DomainError::AlreadyExists(Resource::Ca(id.clone())).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The requested id, or a new UUID.
pub(super) fn id_or_new(requested: Option<CaId>) -> Result<CaId, CommandError> {
    match requested {
        Some(id) => Ok(id),
        None => Ok(CaId::parse(&Uuid::new_v4().to_string())?),
    }
}

/// Destroys a key made for a CA whose creation was refused: nothing refers to it. When the store
/// did not answer, or failed in a way it did not expect, the CA may have been committed, so the
/// key stays.
pub(super) async fn discard_unless_recorded(
    result: &Result<Outcome<Ca>, CommandError>,
    engine: Arc<dyn CryptoEngine>,
    key_id: KeyId,
) {
    match result {
        Ok(_) => {}
        Err(CommandError::Store(StoreError::Unavailable(_) | StoreError::Unexpected(_))) => {
            tracing::warn!(%key_id, "append outcome unknown; keeping the new key");
        }
        Err(_) => {
            if let Err(e) = blocking(move || Ok(engine.delete_key(&key_id)?)).await {
                tracing::warn!(error = %e, "could not destroy the key of a refused CA");
            }
        }
    }
}
