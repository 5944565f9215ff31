//! Adoption: an imported CA whose issuer was not in Shedu (an orphan, level unknown) is placed
//! under that issuer when it arrives, created or imported, and everything below it is placed
//! again one level at a time. The adoption reactor drives these from the log.

use shedu_domain::ca::{CaCommand, SubordinateLink, decide, place_import};
use shedu_domain::ids::CaId;

use super::CaService;
use crate::CommandError;
use crate::context::CommandContext;
use crate::event_store::{AppendRequest, StoreError, StreamWrite};
use crate::once::append;
use crate::retry::{MAX_ATTEMPTS, backoff};
use crate::runner::new_events;
use crate::x509::parse::{Link, certificates_from_pem, link};

impl CaService {
    /// Adopts every orphan whose certificate `parent_id`'s key signed; how many were adopted.
    pub async fn adopt_orphans_of(&self, ctx: &CommandContext, parent_id: &CaId) -> Result<usize, CommandError> {
        let Some(parent) = self.cas.load(parent_id).await?.state.filter(|p| !p.deleted) else {
            return Ok(0);
        };
        let parent_der = certificates_from_pem(&parent.certificate.pem, "issuer")?.remove(0);
        let mut adopted = 0;
        for orphan_id in self.lookup.orphans().await? {
            if orphan_id == *parent_id {
                continue;
            }
            let Some(orphan) = self.cas.load(&orphan_id).await?.state.filter(|o| !o.deleted && o.is_orphan()) else {
                continue;
            };
            let der = certificates_from_pem(&orphan.certificate.pem, "certificate")?.remove(0);
            if link(&der, &parent_der) == Link::Issued && self.place_under(ctx, &orphan_id, parent_id).await? {
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    /// Looks again for the issuer of orphan `id` (it may have been committed while `id` was
    /// being imported); adopts it when found.
    pub async fn find_parent(&self, ctx: &CommandContext, id: &CaId) -> Result<bool, CommandError> {
        let Some(orphan) = self.cas.load(id).await?.state.filter(|o| !o.deleted && o.is_orphan()) else {
            return Ok(false);
        };
        let der = certificates_from_pem(&orphan.certificate.pem, "certificate")?.remove(0);
        let parent = match self.find_issuer(&der, &orphan.certificate).await {
            Ok(parent) => parent,
            // Named a CA here that did not sign it: nothing to adopt it under.
            Err(CommandError::Domain(_)) => None,
            Err(e) => return Err(e),
        };
        match parent.filter(|p| p.id != orphan.id) {
            Some(parent) => self.place_under(ctx, id, &parent.id).await,
            None => Ok(false),
        }
    }

    /// Places again every recorded subordinate of `id` under it, after `id`'s own place changed.
    pub async fn replace_subordinates(&self, ctx: &CommandContext, id: &CaId) -> Result<(), CommandError> {
        let Some(ca) = self.cas.load(id).await?.state.filter(|c| !c.deleted) else {
            return Ok(());
        };
        for child in &ca.subordinates {
            self.place_under(ctx, child, id).await?;
        }
        Ok(())
    }

    /// Records `child`'s place under `parent_id` (its level, issuer and path limit) and the
    /// parent's record of the child, in one append; false when there was nothing to change or
    /// the chain breaks a rule (the child outlives the parent, exceeds its path length, or the
    /// parent is revoked), which leaves the child where it is.
    async fn place_under(&self, ctx: &CommandContext, child_id: &CaId, parent_id: &CaId) -> Result<bool, CommandError> {
        let _turn = self.turns.take(&parent_id.stream_id()).await;
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let (child, parent) = (self.cas.load(child_id).await?, self.cas.load(parent_id).await?);
            let (Some(c), Some(p)) = (child.state.as_ref(), parent.state.as_ref()) else { return Ok(false) };
            if c.deleted || p.deleted || c.parent_id().is_some_and(|current| current != parent_id) {
                return Ok(false);
            }
            let placement = match place_import(child_id, &c.certificate, false, Some(p), now) {
                Ok(placement) => placement,
                Err(refused) => {
                    tracing::warn!(child = %child_id, parent = %parent_id, reason = %refused, "CA left unplaced");
                    return Ok(false);
                }
            };
            let events = decide(child_id, Some(c), &CaCommand::Adopt(placement), now)?;
            let add = CaCommand::AddSubordinate { child_id: child_id.clone(), link: SubordinateLink::Recognised };
            let parent_events = decide(parent_id, Some(p), &add, now)?;
            if events.is_empty() && parent_events.is_empty() {
                return Ok(false);
            }
            let writes = [(child_id, &child, &events), (parent_id, &parent, &parent_events)]
                .into_iter()
                .filter(|(_, _, events)| !events.is_empty())
                .map(|(id, loaded, events)| StreamWrite {
                    stream_id: id.stream_id(),
                    expected: loaded.expected(),
                    events: new_events(events, ctx, None, now),
                })
                .collect();
            let request = AppendRequest { writes, guards: vec![] };
            match append(self.store.as_ref(), ctx, request).await {
                Ok(_) => return Ok(!events.is_empty()),
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id: child_id.stream_id(), attempts: MAX_ATTEMPTS })
    }
}
