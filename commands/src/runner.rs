//! The one command runner: load an aggregate's stream, decide, append with the expected
//! version, fold — the same for every aggregate. Commands that write several streams at once
//! (creating a subordinate, a cascading revocation, issuance under guards) build their appends
//! from the same pieces: [`Runner::load`] and [`new_events`].

use std::sync::Arc;

use shedu_domain::DomainError;
use shedu_domain::aggregate::{Aggregate, DomainEvent};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CommandError;
use crate::clock::Clock;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError};
use crate::once::{append, exactly_once};
use crate::read_cache::{ReadCache, Versioned};
use crate::retry::{MAX_ATTEMPTS, backoff};

/// An aggregate's state, its stream version and the log position of its last event.
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    pub state: Option<A>,
    pub version: u64,
    pub last_position: i64,
}

impl<A: Aggregate> Loaded<A> {
    /// The state, unless the aggregate never existed or was deleted.
    pub fn require(&self, id: &A::Id) -> Result<&A, DomainError> {
        self.state.as_ref().filter(|s| !s.is_deleted()).ok_or_else(|| DomainError::NotFound(A::resource(id)))
    }

    /// What an append after this read expects the stream to be at.
    pub fn expected(&self) -> ExpectedVersion {
        if self.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(self.version) }
    }
}

impl<A> Loaded<A> {
    /// Before a stream's first event.
    const NONE: Loaded<A> = Loaded { state: None, version: 0, last_position: 0 };
}

/// The aggregate `id` as its stream says now, read whole: for reads outside a [`Runner`].
pub async fn read<A: Aggregate>(store: &dyn EventStore, id: &A::Id) -> Result<Loaded<A>, CommandError> {
    read_after(store, &A::stream_id(id), Loaded::NONE).await
}

/// Brings `known`, a stream's state at some version, up to the stream's head by reading only the
/// events after that version.
async fn read_after<A: Aggregate>(
    store: &dyn EventStore,
    stream_id: &str,
    known: Loaded<A>,
) -> Result<Loaded<A>, CommandError> {
    let recorded = store.read_stream_after(stream_id, known.version).await?;
    let Some(last) = recorded.last() else {
        return Ok(known);
    };
    let mut state = known.state;
    for event in &recorded {
        state = A::evolve(state, &A::Event::from_stored(&event.event_type, event.schema_version, &event.data)?);
    }
    Ok(Loaded { state, version: known.version + recorded.len() as u64, last_position: last.position })
}

/// A state as last read, and the log position of its stream's last event.
struct Known<A> {
    state: A,
    last_position: i64,
}

/// Runs commands on one kind of aggregate. Keeps the states it last read, so that a load reads
/// only the events appended since (docs/adr/0011): a stream only grows, so a state at version v
/// plus the events after v is the state at the head.
pub struct Runner<A: Aggregate> {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    known: ReadCache<Known<A>>,
}

impl<A: Aggregate> Runner<A> {
    /// `remembered`: how many states to keep (a few MiB at most).
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, remembered: usize) -> Self {
        Runner { store, clock, known: ReadCache::new(remembered) }
    }

    /// The aggregate as its stream says now; `state` is `None` when the stream does not exist.
    pub async fn load(&self, id: &A::Id) -> Result<Loaded<A>, CommandError> {
        let stream_id = A::stream_id(id);
        let known = match self.known.get(&stream_id) {
            Some(known) => Loaded {
                state: Some(known.state.state.clone()),
                version: known.version,
                last_position: known.state.last_position,
            },
            None => Loaded::NONE,
        };
        let before = known.version;
        let loaded = read_after(self.store.as_ref(), &stream_id, known).await?;
        if loaded.version != before {
            self.remember(&stream_id, &loaded);
        }
        Ok(loaded)
    }

    /// Load, decide, append (expecting the version read), fold. A lost race surfaces as a
    /// conflict: the caller decided on a state that no longer holds. A keyed request runs once.
    pub async fn execute(
        &self,
        ctx: &CommandContext,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<Outcome<A>, CommandError> {
        exactly_once(self.store.as_ref(), ctx, self.execute_once(ctx, id, command)).await
    }

    async fn execute_once(
        &self,
        ctx: &CommandContext,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<Outcome<A>, CommandError> {
        let now = self.clock.now();
        let loaded = self.load(id).await?;
        let events = A::decide(id, loaded.state.as_ref(), command, now)?;
        if events.is_empty() {
            return Ok(Outcome { state: loaded.require(id)?.clone(), position: loaded.last_position });
        }
        let stream_id = A::stream_id(id);
        let request = AppendRequest::single(stream_id.clone(), loaded.expected(), new_events(&events, ctx, None, now));
        let appended = append(self.store.as_ref(), ctx, request).await?;
        let after = Loaded {
            state: events.iter().fold(loaded.state, A::evolve),
            version: loaded.version + events.len() as u64,
            last_position: appended.last_position,
        };
        self.remember(&stream_id, &after);
        let state = after.state.ok_or(DomainError::BrokenInvariant("a decided event leaves its aggregate in place"))?;
        Ok(Outcome { state, position: appended.last_position })
    }

    /// Like [`Runner::execute`] for a command that is decided afresh when it loses a race (the
    /// scheduler's: whoever wins, the loser then decides nothing). The log position of what it
    /// appended, or `None` when there was nothing to append.
    pub async fn execute_settled(
        &self,
        ctx: &CommandContext,
        id: &A::Id,
        command: &A::Command,
    ) -> Result<Option<i64>, CommandError> {
        let stream_id = A::stream_id(id);
        for attempt in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let loaded = self.load(id).await?;
            let events = A::decide(id, loaded.state.as_ref(), command, now)?;
            if events.is_empty() {
                return Ok(None);
            }
            let request =
                AppendRequest::single(stream_id.clone(), loaded.expected(), new_events(&events, ctx, None, now));
            match append(self.store.as_ref(), ctx, request).await {
                Ok(appended) => {
                    let version = loaded.version + events.len() as u64;
                    let state = events.iter().fold(loaded.state, A::evolve);
                    self.remember(&stream_id, &Loaded { state, version, last_position: appended.last_position });
                    return Ok(Some(appended.last_position));
                }
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::RetriesExhausted { stream_id, attempts: MAX_ATTEMPTS })
    }

    fn remember(&self, stream_id: &str, loaded: &Loaded<A>) {
        if let Some(state) = &loaded.state {
            let known = Known { state: state.clone(), last_position: loaded.last_position };
            self.known.put(stream_id.to_owned(), Arc::new(Versioned { state: known, version: loaded.version }));
        }
    }
}

/// Decided events as the log stores them, each with a fresh id and who caused it.
pub fn new_events<E: DomainEvent>(
    events: &[E],
    ctx: &CommandContext,
    causation_id: Option<Uuid>,
    now: OffsetDateTime,
) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            data: event.to_data(),
            metadata: EventMetadata {
                actor: ctx.actor.clone(),
                correlation_id: ctx.correlation_id.clone(),
                causation_id: causation_id.map(|id| id.to_string()),
            },
            recorded_at: now,
        })
        .collect()
}
