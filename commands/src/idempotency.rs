//! `Idempotency-Key`: a retried POST returns the first outcome instead of acting twice, even when
//! the process that ran the first attempt died between committing and answering.
//!
//! Two records carry it. The idempotency store keeps the key's claim and, once the request
//! completed, its response: a retry replays that. The events themselves carry the key too: every
//! event a keyed request appends has an id derived from the key and the claim ([`RequestKey`]),
//! and ids are unique in the log, so one claim's request appends at most once however often it
//! runs, in one process or several, and a retry whose first attempt committed but never completed
//! finds that append and answers with it (docs/adr/0016).

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event_store::{AppendRequest, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key: the caller must run the request, then `complete` or `release`.
    /// `since` identifies the claim (its creation time, in microseconds).
    Claimed { since: i64 },
    /// The key is claimed by a request that has not completed: one still running, or one whose
    /// process died. Whoever holds no live attempt of it may run it again under the same claim.
    Pending { since: i64 },
    /// The key was used before with the same request: replay this response.
    Replay(StoredResponse),
    /// The key was used with a different request body.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError>;
    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError>;
    /// Forgets the claim made at `since` if its request did not succeed (a 4xx or 5xx), so the
    /// key can be used again; a claim completed meanwhile (by another process's attempt) stays.
    async fn release(&self, key: &str, since: i64) -> Result<(), StoreError>;
    /// Forgets every claim made before `before_us` (microseconds since the epoch), completed or
    /// not; returns how many. A key is reusable after that.
    async fn purge(&self, before_us: i64) -> Result<u64, StoreError>;
}

/// A keyed request as the command path sees it: the key (scoped to its actor) and the claim it
/// runs under. Its events' ids are derived from both, so every attempt of one claim appends the
/// same ids, while the same key claimed afresh after its retention appends new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    prefix: [u8; 12],
}

impl RequestKey {
    pub fn new(scoped_key: &str, since: i64) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(scoped_key.as_bytes());
        hasher.update([0]);
        hasher.update(since.to_be_bytes());
        let digest = hasher.finalize();
        let mut prefix = [0; 12];
        prefix.copy_from_slice(&digest[..12]);
        RequestKey { prefix }
    }

    /// The id of the request's `index`th event: 96 bits of the key's digest (less the UUID
    /// version and variant bits), then the index, so that one range holds all of them.
    pub fn event_id(&self, index: u32) -> Uuid {
        let mut bytes = [0; 16];
        bytes[..12].copy_from_slice(&self.prefix);
        bytes[12..].copy_from_slice(&index.to_be_bytes());
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// The first and last id the request's events can have.
    pub fn id_range(&self) -> (Uuid, Uuid) {
        (self.event_id(0), self.event_id(u32::MAX))
    }

    /// Gives the append's events, in order across its writes, the ids of this request; a
    /// causation id naming an event of the append follows that event's new id.
    pub fn stamp(&self, request: &mut AppendRequest) {
        let mut renamed = Vec::new();
        let events = request.writes.iter_mut().flat_map(|w| w.events.iter_mut());
        for (index, event) in events.enumerate() {
            let id = self.event_id(index as u32);
            renamed.push((event.event_id.to_string(), id.to_string()));
            event.event_id = id;
        }
        for event in request.writes.iter_mut().flat_map(|w| w.events.iter_mut()) {
            let cause = &mut event.metadata.causation_id;
            if let Some((_, new)) = renamed.iter().find(|(old, _)| Some(old) == cause.as_ref()) {
                *cause = Some(new.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;

    use super::*;
    use crate::event_store::{EventMetadata, ExpectedVersion, NewEvent, StreamWrite};

    fn event(id: Uuid, cause: Option<Uuid>) -> NewEvent {
        NewEvent {
            event_id: id,
            event_type: "t".into(),
            schema_version: 1,
            data: json!({}),
            metadata: EventMetadata {
                actor: "a".into(),
                correlation_id: "c".into(),
                causation_id: cause.map(|c| c.to_string()),
            },
            recorded_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn one_claim_always_gets_the_same_ids_and_another_claim_other_ones() {
        let key = RequestKey::new("alice\u{1f}k1", 5);
        assert_eq!(key.event_id(3), RequestKey::new("alice\u{1f}k1", 5).event_id(3));
        assert_ne!(key.event_id(0), RequestKey::new("alice\u{1f}k1", 6).event_id(0));
        assert_ne!(key.event_id(0), RequestKey::new("bob\u{1f}k1", 5).event_id(0));
        let (first, last) = key.id_range();
        assert!(first <= key.event_id(0) && key.event_id(7) <= last && key.event_id(0) < key.event_id(1));
        // The string form orders like the bytes, as a TEXT column compares it.
        assert!(first.to_string() < key.event_id(1).to_string() && key.event_id(1).to_string() < last.to_string());
        assert_eq!(key.event_id(0).get_version_num(), 8);
    }

    #[test]
    fn stamping_numbers_events_across_writes_and_keeps_causation_inside_the_append() {
        let (root, other) = (Uuid::now_v7(), Uuid::now_v7());
        let write = |events| StreamWrite { stream_id: "s".into(), expected: ExpectedVersion::NoStream, events };
        let mut request = AppendRequest {
            writes: vec![write(vec![event(root, None)]), write(vec![event(Uuid::now_v7(), Some(root))])],
            guards: vec![],
        };
        request.writes[1].events.push(event(Uuid::now_v7(), Some(other)));
        let key = RequestKey::new("k", 1);
        key.stamp(&mut request);
        assert_eq!(request.writes[0].events[0].event_id, key.event_id(0));
        assert_eq!(request.writes[1].events[0].event_id, key.event_id(1));
        assert_eq!(request.writes[1].events[1].event_id, key.event_id(2));
        assert_eq!(request.writes[1].events[0].metadata.causation_id, Some(key.event_id(0).to_string()));
        assert_eq!(request.writes[1].events[1].metadata.causation_id, Some(other.to_string()));
    }
}
