//! Reads served from the log itself: a CA's history, its state at a past instant, its chain.

use shedu_domain::aggregate::DomainEvent;
use shedu_domain::ca::{Ca, CaEvent, evolve};
use shedu_domain::ids::CaId;
use shedu_domain::{DomainError, Resource};
use time::OffsetDateTime;

use super::{CaService, MAX_CHAIN_DEPTH};
use crate::CommandError;
use crate::event_store::RecordedEvent;

impl CaService {
    /// The current CA, read from its stream: never behind a command that returned.
    pub async fn ca(&self, id: &CaId) -> Result<Ca, CommandError> {
        Ok(self.cas.load(id).await?.require(id)?.clone())
    }

    /// The CA as its stream says, deleted or not; `None` when it never existed.
    pub async fn ca_record(&self, id: &CaId) -> Result<Option<Ca>, CommandError> {
        Ok(self.cas.load(id).await?.state)
    }

    /// At most `limit` events of the CA's stream after its first `after` ones, oldest first
    /// (deleted CAs keep their history).
    pub async fn history(&self, id: &CaId, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, CommandError> {
        let events = self.store.read_stream_page(&id.stream_id(), after, limit).await?;
        if events.is_empty() && (after == 0 || self.cas.load(id).await?.state.is_none()) {
            return Err(DomainError::NotFound(Resource::Ca(id.clone())).into());
        }
        Ok(events)
    }

    /// The CA as it was at `at`, replayed from the log.
    pub async fn ca_as_of(&self, id: &CaId, at: OffsetDateTime) -> Result<Ca, CommandError> {
        let mut ca = None;
        for event in self.store.read_stream(&id.stream_id()).await? {
            if event.recorded_at > at {
                break;
            }
            ca = evolve(ca, &CaEvent::from_stored(&event.event_type, event.schema_version, &event.data)?);
        }
        ca.filter(|ca| !ca.deleted).ok_or_else(|| DomainError::NotFound(Resource::Ca(id.clone())).into())
    }

    /// The CA's certificate followed by each known ancestor's, ending at a root or at the first
    /// issuer Shedu does not hold.
    pub async fn chain(&self, id: &CaId) -> Result<Vec<String>, CommandError> {
        let mut ca = self.ca(id).await?;
        let mut chain = vec![ca.certificate.pem.clone()];
        while let Some(issuer) = ca.issuer_metadata.clone().filter(|i| i.id != ca.id) {
            if chain.len() > MAX_CHAIN_DEPTH {
                return Err(CommandError::Internal(format!("CA '{id}' has a cyclic issuer chain")));
            }
            match self.cas.load(&issuer.id).await?.state {
                Some(parent) => {
                    chain.push(parent.certificate.pem.clone());
                    ca = parent;
                }
                None => break,
            }
        }
        Ok(chain)
    }
}
