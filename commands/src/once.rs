//! Exactly once for keyed requests (see [`crate::idempotency`]): every command a POST can carry an
//! `Idempotency-Key` on runs through [`exactly_once`], and appends through [`append`].

use std::future::Future;

use shedu_domain::DomainError;
use shedu_domain::aggregate::{Aggregate, DomainEvent};

use crate::CommandError;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{AppendRequest, Appended, EventStore, StoreError};

/// Appends `request`, its events named after the request's key when it has one.
pub(crate) async fn append(
    store: &dyn EventStore,
    ctx: &CommandContext,
    mut request: AppendRequest,
) -> Result<Appended, StoreError> {
    if let Some(key) = &ctx.request_key {
        key.stamp(&mut request);
    }
    store.append(request).await
}

/// Runs `command` unless an earlier attempt of the same keyed request already appended, in which
/// case that append is the outcome. An attempt that races another attempt of the same request
/// and loses (its event ids exist) also answers with the winner's append.
pub(crate) async fn exactly_once<A: Aggregate>(
    store: &dyn EventStore,
    ctx: &CommandContext,
    command: impl Future<Output = Result<Outcome<A>, CommandError>>,
) -> Result<Outcome<A>, CommandError> {
    if let Some(prior) = prior(store, ctx).await? {
        return Ok(prior);
    }
    match command.await {
        // Whatever the refusal (an id taken, "already revoked", an engine that is not this
        // process's), another attempt of the same request may have committed meanwhile: its
        // append is the answer.
        Err(e) if ctx.request_key.is_some() => match prior(store, ctx).await {
            Ok(Some(prior)) => Ok(prior),
            _ => Err(e),
        },
        other => other,
    }
}

/// The outcome of what the request's earlier attempt appended: the first stream it wrote (the
/// aggregate every command answers with) as it was right after, and the append's last position.
async fn prior<A: Aggregate>(store: &dyn EventStore, ctx: &CommandContext) -> Result<Option<Outcome<A>>, CommandError> {
    let Some(key) = &ctx.request_key else { return Ok(None) };
    let (first, last) = key.id_range();
    let appended = store.events_with_ids(first, last).await?;
    let Some(head) = appended.first() else { return Ok(None) };
    let stream = &head.stream_id;
    let version = appended.iter().filter(|e| &e.stream_id == stream).map(|e| e.stream_version).max();
    let mut state = None;
    for event in store.read_stream(stream).await?.iter().take_while(|e| Some(e.stream_version) <= version) {
        state = A::evolve(state, &A::Event::from_stored(&event.event_type, event.schema_version, &event.data)?);
    }
    let state = state.ok_or(DomainError::BrokenInvariant("a committed append leaves its aggregate in place"))?;
    let position = appended.iter().map(|e| e.position).max().unwrap_or(head.position);
    Ok(Some(Outcome { state, position }))
}
