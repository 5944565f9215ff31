//! Status changes (with cascading revocation), metadata, profile assignment and deletion.

use std::collections::{BTreeSet, VecDeque};

use serde_json::Value;
use shedu_domain::DomainError;
use shedu_domain::aggregate::Aggregate;
use shedu_domain::ca::{Ca, CaCommand, decide};
use shedu_domain::expiry::Trigger;
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::issued::{self, CertificateCommand};
use shedu_domain::status::{RevocationReason, Status};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CaService, blocking};
use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{AppendRequest, ExpectedVersion, StoreError, StreamWrite};
use crate::once::{append, exactly_once};
use crate::profile_service::existing_profile;
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::new_events;

impl CaService {
    /// Sets ACTIVE, INACTIVE or REVOKED. A revocation for good also revokes every descendant CA
    /// (CessationOfOperation) in the same atomic append; CertificateHold does not cascade, since a
    /// hold is meant to be lifted.
    pub async fn change_status(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        status: Status,
        reason: Option<RevocationReason>,
        invalidity_date: Option<OffsetDateTime>,
    ) -> Result<Outcome<Ca>, CommandError> {
        let _turn = self.turns.take(&id.stream_id()).await;
        let command = CaCommand::ChangeStatus { status, reason, invalidity_date };
        exactly_once(self.store.as_ref(), ctx, self.change_status_once(ctx, id, &command)).await
    }

    async fn change_status_once(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        command: &CaCommand,
    ) -> Result<Outcome<Ca>, CommandError> {
        let CaCommand::ChangeStatus { status, reason, .. } = *command else {
            return Err(DomainError::BrokenInvariant("change_status_once takes a status change").into());
        };
        let stream = id.stream_id();
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let loaded = self.cas.load(id).await?;
            let ca = loaded.require(id)?;
            let events = decide(id, Some(ca), command, now)?;
            if events.is_empty() {
                return Ok(Outcome { state: ca.clone(), position: loaded.last_position });
            }
            let new_events = new_events(&events, ctx, None, now);
            let cause = new_events[0].event_id;
            let mut request = AppendRequest::single(stream.clone(), loaded.expected(), new_events);
            if status == Status::Revoked && reason != Some(RevocationReason::CertificateHold) {
                let (writes, mut revoked) = self.cascade_writes(ca, reason, ctx, cause, now).await?;
                request.writes.extend(writes);
                revoked.push(ca.id.clone());
                // The certificates ride along while that works. If they keep conflicting (a
                // lagging view, busy certificates), the CA revocation goes ahead without them and
                // the cascade reactor revokes them right after (docs/adr/0008).
                if attempt < 2 {
                    let certificates = self.certificate_cascade(&revoked, &ca.id, reason, ctx, cause, now).await?;
                    request.writes.extend(certificates);
                }
            }
            match append(self.store.as_ref(), ctx, request).await {
                Ok(appended) => {
                    let after = events.iter().fold(loaded.state, Ca::evolve);
                    let state = after.ok_or(DomainError::BrokenInvariant("a status change keeps the CA"))?;
                    return Ok(Outcome { state, position: appended.last_position });
                }
                // The CA or a descendant changed meanwhile: decide again on what it is now. A
                // metadata patch must never block a revocation; a status change that lost to
                // another one hears the domain's answer (already revoked, on hold) next round.
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: stream, attempts: MAX_ATTEMPTS })
    }

    async fn cascade_writes(
        &self,
        root: &Ca,
        reason: Option<RevocationReason>,
        ctx: &CommandContext,
        cause: Uuid,
        now: OffsetDateTime,
    ) -> Result<(Vec<StreamWrite>, Vec<CaId>), CommandError> {
        let mut writes = Vec::new();
        let mut revoked = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<CaId> = root.subordinates.iter().cloned().collect();
        let command = CaCommand::CascadeRevoke { from: root.id.clone(), cause: reason };
        while let Some(child_id) = queue.pop_front() {
            if !seen.insert(child_id.clone()) {
                continue;
            }
            let loaded = self.cas.load(&child_id).await?;
            let Some(child) = &loaded.state else {
                continue;
            };
            // A deleted CA is not revoked again, but its own subordinates still are.
            queue.extend(child.subordinates.iter().cloned());
            if child.deleted {
                continue;
            }
            let events = decide(&child_id, Some(child), &command, now)?;
            if !events.is_empty() {
                writes.push(StreamWrite {
                    stream_id: child_id.stream_id(),
                    expected: loaded.expected(),
                    events: new_events(&events, ctx, Some(cause), now),
                });
            }
            revoked.push(child_id);
        }
        Ok((writes, revoked))
    }

    /// Revocations of every certificate the revoked CAs issued, as far as the caught-up view
    /// knows. A certificate committed in the instant between this read and the revocation's
    /// commit is revoked by the cascade reactor instead (docs/adr/0008).
    async fn certificate_cascade(
        &self,
        issuers: &[CaId],
        root: &CaId,
        reason: Option<RevocationReason>,
        ctx: &CommandContext,
        cause: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<StreamWrite>, CommandError> {
        let mut writes = Vec::new();
        let command = CertificateCommand::CascadeRevoke { from: root.clone(), cause: reason };
        for certificate in self.certificates.revocable_issued_by(issuers).await? {
            let events = issued::decide(certificate.serial(), Some(&certificate), &command, now)?;
            if !events.is_empty() {
                writes.push(StreamWrite {
                    stream_id: issued::stream_id(certificate.serial()),
                    expected: ExpectedVersion::Exact(certificate.version),
                    events: new_events(&events, ctx, Some(cause), now),
                });
            }
        }
        Ok(writes)
    }

    pub async fn update_metadata(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        patch: Value,
    ) -> Result<Outcome<Ca>, CommandError> {
        let _turn = self.turns.take(&id.stream_id()).await;
        self.cas.execute(ctx, id, &CaCommand::UpdateMetadata { patch }).await
    }

    /// The scheduler: records `trigger` (an expiration warning, the expiry) if it is pending and
    /// due; the log position appended, or `None` when there was nothing to record.
    pub async fn fire(&self, ctx: &CommandContext, id: &CaId, trigger: Trigger) -> Result<Option<i64>, CommandError> {
        self.cas.execute_settled(ctx, id, &CaCommand::Fire { trigger }).await
    }

    /// Sets the CA's default profile and, when `allowed_profile_ids` is given, the other stored
    /// profiles it may sign with (every one must exist).
    pub async fn assign_profile(
        &self,
        ctx: &CommandContext,
        id: &CaId,
        profile_id: Option<ProfileId>,
        allowed_profile_ids: Option<Vec<ProfileId>>,
    ) -> Result<Outcome<Ca>, CommandError> {
        for profile_id in profile_id.iter().chain(allowed_profile_ids.iter().flatten()) {
            existing_profile(self.store.as_ref(), profile_id).await?;
        }
        self.cas.execute(ctx, id, &CaCommand::AssignProfile { profile_id, allowed_profile_ids }).await
    }

    /// Deletes a revoked, expired or keyless CA, then destroys its key. The deletion is recorded
    /// first, and the destruction once the engine confirms it (`ca.key.destroyed`): a key kept
    /// because another CA uses it, or whose destruction failed, is never recorded as destroyed.
    pub async fn delete_ca(&self, ctx: &CommandContext, id: &CaId) -> Result<Outcome<Ca>, CommandError> {
        let mut outcome = self.cas.execute(ctx, id, &CaCommand::Delete).await?;
        // Keys retired by a rekey go with the CA, unless another CA signs with one of them.
        for key in outcome.state.retired_keys.clone() {
            if self.lookup.cas_using_key(&key.engine_id, &key.key_id).await?.iter().any(|other| other != id) {
                continue;
            }
            let engine = self.engines.resolve(Some(&key.engine_id))?;
            let key_id = key.key_id.clone();
            match blocking(move || Ok(engine.delete_key(&key_id)?)).await {
                Ok(()) => {
                    outcome = self.cas.execute(ctx, id, &CaCommand::RecordRetiredKeyDestroyed { key }).await?;
                }
                Err(e) => tracing::error!(ca = %id, key_id = %key.key_id, error = %e,
                    "CA deleted but a key it signed with before a rekey could not be destroyed"),
            }
        }
        let Some(key) = outcome.state.key.clone() else {
            return Ok(outcome);
        };
        // One key can back several CAs (a cross-certificate, a CA reissued without a new key):
        // destroy it only when no other CA uses it.
        let others = self.lookup.cas_using_key(&key.engine_id, &key.key_id).await?;
        if others.iter().any(|other| other != id) {
            tracing::info!(ca = %id, key_id = %key.key_id, "key kept: another CA still uses it");
            return Ok(outcome);
        }
        let engine = self.engines.resolve(Some(&key.engine_id))?;
        let key_id = key.key_id.clone();
        match blocking(move || Ok(engine.delete_key(&key_id)?)).await {
            Ok(()) => self.cas.execute(ctx, id, &CaCommand::RecordKeyDestroyed).await,
            Err(e) => {
                tracing::error!(ca = %id, engine = %key.engine_id, key_id = %key.key_id, error = %e,
                    "CA deleted but its key could not be destroyed");
                Ok(outcome)
            }
        }
    }
}
