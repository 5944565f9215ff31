//! Creating a managed CA: a root signs itself, a subordinate is signed by its parent's key.

use shedu_domain::DomainError;
use shedu_domain::ca::{CaCommand, CaType, IssuerMetadata, KeyRef, NewCa, check_can_sign_subordinate, decide};
use shedu_domain::duration::Validity;
use shedu_domain::ids::{CaId, EngineId, ProfileId};
use shedu_domain::key::KeySpec;
use shedu_domain::metadata::Metadata;
use shedu_domain::subject::Subject;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CaService, CommandContext, MAX_ATTEMPTS, Outcome, backoff, blocking, to_new_events};
use crate::CommandError;
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamWrite};
use crate::x509::build::{CaCertificateSpec, EngineSigner, self_signed_ca, subordinate_ca};
use crate::x509::parse::{certificate_info, certificates_from_pem};

#[derive(Debug, Clone)]
pub struct CreateCa {
    pub id: Option<CaId>,
    pub parent_id: Option<CaId>,
    pub subject: Subject,
    pub key: KeySpec,
    pub validity: Validity,
    pub engine_id: Option<EngineId>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
}

impl CaService {
    pub async fn create_ca(&self, ctx: &CommandContext, request: CreateCa) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        if let Some(profile_id) = &request.profile_id {
            crate::profile_service::existing_profile(self.store.as_ref(), profile_id).await?;
        }
        let id = match request.id.clone() {
            Some(id) => id,
            None => CaId::parse(&Uuid::new_v4().to_string())?,
        };
        // Checked before generating a key so that a duplicate costs nothing; the append's
        // NoStream expectation is what actually guarantees uniqueness.
        if self.load(&id).await?.ca.is_some() {
            return Err(DomainError::Conflict(format!("a CA with id '{id}' already exists")).into());
        }
        let not_after = request.validity.not_after(now)?;
        let spec = CaCertificateSpec {
            subject: request.subject.clone(),
            not_before: now.replace_nanosecond(0).unwrap_or(now),
            not_after,
        };
        let parent = match &request.parent_id {
            Some(parent_id) => {
                let parent = self.load(parent_id).await?.ca;
                check_can_sign_subordinate(parent_id, parent.as_ref(), not_after, now)?;
                parent
            }
            None => None,
        };
        let engine = self.engines.resolve(request.engine_id.as_ref())?;
        let engine_info = engine.info().clone();
        let key_spec = request.key;
        let key = {
            let engine = engine.clone();
            blocking(move || Ok(engine.generate_key(key_spec)?)).await?
        };
        let key_ref = KeyRef { engine_id: engine_info.id.clone(), key_id: key.key_id.clone() };

        let signed = self.sign_ca_certificate(spec, key, parent.as_ref(), engine.clone()).await;
        let result = match signed {
            Ok(der) => {
                let certificate = certificate_info(&der, "certificate")
                    .map_err(|e| CommandError::Internal(format!("Shedu signed an unreadable certificate: {e}")))?;
                let issuer_metadata = match &parent {
                    Some(p) => IssuerMetadata {
                        id: p.id.clone(),
                        serial_number: p.certificate.serial_number.clone(),
                        level: p.level,
                    },
                    None => {
                        IssuerMetadata { id: id.clone(), serial_number: certificate.serial_number.clone(), level: 0 }
                    }
                };
                let new = NewCa {
                    id,
                    ca_type: CaType::Managed,
                    level: parent.as_ref().map_or(0, |p| p.level + 1),
                    issuer_metadata: Some(issuer_metadata),
                    certificate,
                    key: Some(key_ref.clone()),
                    security_level: Some(engine_info.security_level),
                    profile_id: request.profile_id,
                    metadata: request.metadata,
                };
                self.commit_new_ca(ctx, CaCommand::Create(new), request.parent_id.as_ref(), true, now).await
            }
            Err(e) => Err(e),
        };
        match &result {
            // The store did not answer: the CA may have been committed, so its key must stay.
            Err(CommandError::Store(StoreError::Unavailable(_))) => {
                tracing::warn!(key_id = %key_ref.key_id, "append outcome unknown; keeping the new key");
            }
            // Refused: the key was made for this CA alone and nothing refers to it.
            Err(_) => {
                let key_id = key_ref.key_id;
                let _ = blocking(move || Ok(engine.delete_key(&key_id)?)).await;
            }
            Ok(_) => {}
        }
        result
    }

    async fn sign_ca_certificate(
        &self,
        spec: CaCertificateSpec,
        key: crate::crypto::PublicKey,
        parent: Option<&shedu_domain::ca::Ca>,
        engine: std::sync::Arc<dyn crate::crypto::CryptoEngine>,
    ) -> Result<Vec<u8>, CommandError> {
        let issuer = match parent {
            Some(p) => {
                let parent_key = p.key.clone().ok_or_else(|| DomainError::Conflict("parent has no key".into()))?;
                let parent_engine = self.engines.resolve(Some(&parent_key.engine_id))?;
                let parent_der = certificates_from_pem(&p.certificate.certificate, "parent certificate")?.remove(0);
                Some((parent_engine, parent_key, parent_der))
            }
            None => None,
        };
        blocking(move || {
            let subject_key = EngineSigner::new(engine, key)?;
            match issuer {
                None => self_signed_ca(&spec, &subject_key),
                Some((parent_engine, parent_key, parent_der)) => {
                    let parent_public = parent_engine.public_key(&parent_key.key_id)?;
                    let issuer_key = EngineSigner::new(parent_engine, parent_public)?;
                    subordinate_ca(&spec, &subject_key, &parent_der, issuer_key)
                }
            }
        })
        .await
    }

    /// Appends a new CA's first event and, when it has a parent in Shedu, the parent's record of
    /// the child, atomically. Creations under one parent take turns within this process; a race
    /// lost to another process (another child, a status change) is re-decided against the
    /// parent's new state after a random back-off.
    pub(super) async fn commit_new_ca(
        &self,
        ctx: &CommandContext,
        command: CaCommand,
        parent_id: Option<&CaId>,
        signed_by_parent: bool,
        now: OffsetDateTime,
    ) -> Result<Outcome, CommandError> {
        let events = decide(None, &command, now)?;
        let child_id = match &command {
            CaCommand::Create(new) | CaCommand::Import(new) => new.id.clone(),
            _ => {
                return Err(CommandError::Internal("commit_new_ca takes a creation".into()));
            }
        };
        let child_stream = child_id.stream_id();
        let ca = shedu_domain::ca::replay(&events)
            .ok_or_else(|| CommandError::Internal("creation produced no CA".into()))?;
        let _turn = match parent_id {
            Some(parent_id) => Some(self.parent_turns.take(&parent_id.stream_id()).await),
            None => None,
        };
        for attempt in 0..MAX_ATTEMPTS {
            let mut request = AppendRequest::single(
                child_stream.clone(),
                ExpectedVersion::NoStream,
                to_new_events(&events, ctx, None, now),
            );
            if let Some(parent_id) = parent_id {
                let loaded = self.load(parent_id).await?;
                let version = loaded.version;
                let add = CaCommand::AddSubordinate { child_id: child_id.clone(), signed_here: signed_by_parent };
                let parent_events = decide(loaded.ca.as_ref(), &add, now)?;
                request.writes.push(StreamWrite {
                    stream_id: parent_id.stream_id(),
                    expected: ExpectedVersion::Exact(version),
                    events: to_new_events(&parent_events, ctx, None, now),
                });
            }
            match self.store.append(request).await {
                Ok(appended) => {
                    return Ok(Outcome { ca, position: appended.last_position });
                }
                Err(StoreError::Conflict { stream_id, .. }) if stream_id == child_stream => {
                    return Err(DomainError::Conflict(format!("a CA with id '{child_id}' already exists")).into());
                }
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { stream_id: "parent CA".into(), expected: "stable".into(), actual: 0 }.into())
    }
}
