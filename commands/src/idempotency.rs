//! Port for `Idempotency-Key`: a retried POST returns the first response instead of acting twice.

use async_trait::async_trait;

use crate::event_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key: the caller must run the request, then `complete` or `release`.
    Claimed,
    /// The key was used before with the same request: replay this response.
    Replay(StoredResponse),
    /// The key is in use by a request still running.
    InFlight,
    /// The key was used with a different request body.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError>;
    async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError>;
    /// Forgets a claim whose request did not succeed (a 4xx or 5xx), so the key can be used again.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}
