//! The shape every aggregate shares, so one command runner (in `shedu-commands`) serves them all:
//! load a stream, fold its events with [`Aggregate::evolve`], [`Aggregate::decide`], append.

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;

use crate::DomainError;
use crate::error::Resource;

/// An event as the log stores it: a stable type name, a schema version and JSON data. Stored
/// type names are strings, never Rust type names, so renaming code never breaks the log; every
/// past schema version stays readable through [`DomainEvent::from_stored`].
pub trait DomainEvent: Sized {
    fn event_type(&self) -> &'static str;
    /// The schema version written today. Bump it (and teach `from_stored` the old one) when a
    /// payload changes shape.
    fn schema_version(&self) -> u32;
    fn to_data(&self) -> Value;
    fn from_stored(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, UnknownEvent>;
}

/// A stored event this build cannot read: an unknown type or a schema version from the future.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read event {event_type} v{schema_version}: {reason}")]
pub struct UnknownEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl UnknownEvent {
    pub fn new(event_type: &str, schema_version: u32, reason: impl Into<String>) -> Self {
        UnknownEvent { event_type: event_type.to_owned(), schema_version, reason: reason.into() }
    }
}

/// One stream's state and rules. `decide` is pure and holds every rule; `evolve` cannot fail and
/// holds none: every event that was recorded applies.
pub trait Aggregate: Clone + Send + Sync + 'static {
    type Id: fmt::Display + Clone + Send + Sync;
    type Command: Send + Sync;
    type Event: DomainEvent + Send + Sync;

    fn stream_id(id: &Self::Id) -> String;

    /// How errors name the aggregate `id`.
    fn resource(id: &Self::Id) -> Resource;

    /// A deleted aggregate keeps its stream (and its id) but is gone for every command and read.
    fn is_deleted(&self) -> bool {
        false
    }

    /// The events `command` produces on the stream of `id`, whose state is `state` (`None`
    /// before its first event). No events means there is nothing to change.
    fn decide(
        id: &Self::Id,
        state: Option<&Self>,
        command: &Self::Command,
        now: OffsetDateTime,
    ) -> Result<Vec<Self::Event>, DomainError>;

    fn evolve(state: Option<Self>, event: &Self::Event) -> Option<Self>;

    /// Folds a whole stream.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Option<Self>
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(None, Self::evolve)
    }
}
