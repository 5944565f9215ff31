//! The lease port: a part that must run in one process at a time (the NATS relay) holds a named
//! lease, renews it well before it expires, and hands over to another process once it stops
//! renewing (docs/adr/0018).

use std::time::Duration;

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;

#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `holder` until `ttl` from now, if it is free, expired, or
    /// already `holder`'s (a renewal). Whether `holder` holds it now.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease up, if `holder` still holds it, so another process need not wait for it to
    /// expire.
    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}
