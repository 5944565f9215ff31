//! Loading an aggregate from its stream and turning decided events into appendable ones, for
//! every aggregate alike.

use serde_json::Value;
use shedu_domain::ca::{CaEvent, UnknownEvent};
use shedu_domain::issued::CertificateEvent;
use shedu_domain::profile::ProfileEvent;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CommandError;
use crate::ca_service::CommandContext;
use crate::event_store::{EventMetadata, EventStore, NewEvent};

/// A domain event that can be stored.
pub trait Recordable {
    fn event_type(&self) -> &'static str;
    fn schema_version(&self) -> u32;
    fn to_data(&self) -> Value;
}

macro_rules! recordable {
    ($($event:ty),*) => {$(
        impl Recordable for $event {
            fn event_type(&self) -> &'static str {
                <$event>::event_type(self)
            }
            fn schema_version(&self) -> u32 {
                <$event>::schema_version(self)
            }
            fn to_data(&self) -> Value {
                <$event>::to_data(self)
            }
        }
    )*};
}

recordable!(CaEvent, ProfileEvent, CertificateEvent);

pub fn new_events<E: Recordable>(
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

/// An aggregate's state, its stream version and the log position of its last event.
pub struct Loaded<S> {
    pub state: Option<S>,
    pub version: u64,
    pub last_position: i64,
}

pub async fn load<S, E>(
    store: &dyn EventStore,
    stream_id: &str,
    read: fn(&str, u32, &Value) -> Result<E, UnknownEvent>,
    evolve: fn(Option<S>, &E) -> Option<S>,
) -> Result<Loaded<S>, CommandError> {
    load_after(store, stream_id, read, evolve, Loaded { state: None, version: 0, last_position: 0 }).await
}

/// Brings `known`, a stream's state at some version, up to the stream's head by reading only the
/// events after that version.
pub async fn load_after<S, E>(
    store: &dyn EventStore,
    stream_id: &str,
    read: fn(&str, u32, &Value) -> Result<E, UnknownEvent>,
    evolve: fn(Option<S>, &E) -> Option<S>,
    known: Loaded<S>,
) -> Result<Loaded<S>, CommandError> {
    let recorded = store.read_stream_after(stream_id, known.version).await?;
    let mut state = known.state;
    for event in &recorded {
        state = evolve(state, &read(&event.event_type, event.schema_version, &event.data)?);
    }
    Ok(Loaded {
        state,
        version: known.version + recorded.len() as u64,
        last_position: recorded.last().map_or(known.last_position, |e| e.position),
    })
}
