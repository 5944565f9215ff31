//! The event log port: append with optimistic concurrency, read a stream, read the global log.
//!
//! Adapters (SQLite, PostgreSQL) live in `shedu-infra` and must pass the same conformance suite.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::canonical::to_canonical_bytes;

/// Who did it and why: stored with every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    pub actor: String,
    pub correlation_id: String,
    pub causation_id: Option<String>,
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub data: Value,
    pub metadata: EventMetadata,
    /// Microsecond precision (see [`crate::clock::Clock`]).
    pub recorded_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold exactly this many events.
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamWrite {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// A stream that must still be at `version` when the append commits, without being written, but
/// for events of the types it ignores. Concurrent appends guarded by the same stream do not
/// conflict with each other; an append that writes the guarded stream does, unless all it writes
/// is ignored (docs/adr/0003, docs/adr/0017).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGuard {
    pub stream_id: String,
    pub version: u64,
    /// Event types that may follow `version` without breaking the guard: they change nothing the
    /// guarded decision rests on.
    pub ignoring: &'static [&'static str],
}

impl StreamGuard {
    /// The stream must be exactly at `version`.
    pub fn exact(stream_id: impl Into<String>, version: u64) -> Self {
        StreamGuard { stream_id: stream_id.into(), version, ignoring: &[] }
    }
}

/// One atomic append: every write and guard holds, or nothing is appended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendRequest {
    pub writes: Vec<StreamWrite>,
    pub guards: Vec<StreamGuard>,
}

impl AppendRequest {
    pub fn single(stream_id: impl Into<String>, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        AppendRequest { writes: vec![StreamWrite { stream_id: stream_id.into(), expected, events }], guards: vec![] }
    }
}

/// Global log positions of an append's first and last events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first_position: i64,
    pub last_position: i64,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    /// The writing transaction, where the store orders by it (PostgreSQL xid8); 0 elsewhere.
    pub tx: u64,
    pub event_id: Uuid,
    pub stream_id: String,
    /// 1-based position within the stream.
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub data: Value,
    pub metadata: EventMetadata,
    pub recorded_at: OffsetDateTime,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl RecordedEvent {
    pub fn cursor(&self) -> LogCursor {
        LogCursor { tx: self.tx, position: self.position }
    }
}

/// A point in the global log, in the order readers consume it. Ordered by `(tx, position)`, which
/// on SQLite degenerates to `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct LogCursor {
    pub tx: u64,
    pub position: i64,
}

impl LogCursor {
    pub const START: LogCursor = LogCursor { tx: 0, position: 0 };
}

/// The database's own error behind a [`StoreError`], kept for the log. Shared, so that one failure
/// can be the result of every append in a commit group.
pub type StoreSource = Arc<dyn Error + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version: another command won the race.
    #[error("stream {stream_id} was expected at {expected} but is at {actual}")]
    Conflict { stream_id: String, expected: String, actual: u64 },
    /// An event id that already exists, appended with different content or to another stream.
    #[error("event {0} already exists with other content")]
    DuplicateEvent(Uuid),
    /// The database could not be reached or could not serve the statement now (a lost
    /// connection, an exhausted pool, a busy or full disk, a server shutting down). A write's
    /// outcome is unknown; the same request may succeed later.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] StoreSource),
    /// The database refused a statement for a reason that waiting will not change (a malformed
    /// statement, a constraint the code should have kept, a value of the wrong type): a bug.
    #[error("unexpected database error: {0}")]
    Unexpected(#[source] StoreSource),
    #[error("event store holds unreadable data: {0}")]
    Corrupt(String),
    #[error("invalid append: {0}")]
    InvalidAppend(String),
}

impl StoreError {
    /// An outage known only by its description, such as a writer task that has stopped.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        StoreError::Unavailable(Arc::from(Box::<dyn Error + Send + Sync>::from(reason.into())))
    }

    /// A bug known only by its description, such as rows that do not match their statement.
    pub fn unexpected(reason: impl Into<String>) -> Self {
        StoreError::Unexpected(Arc::from(Box::<dyn Error + Send + Sync>::from(reason.into())))
    }
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends atomically. Appending events whose ids are all already stored, at the same stream
    /// positions, succeeds without writing and returns their original positions (idempotent retry).
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError>;

    /// The events whose ids lie in `first..=last` (byte order), in log order: what one keyed
    /// request appended (see [`crate::idempotency::RequestKey`]).
    async fn events_with_ids(&self, first: Uuid, last: Uuid) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A stream's events, oldest first; empty when the stream does not exist.
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_after(stream_id, 0).await
    }

    /// A stream's events after its first `version` ones, oldest first: what a reader holding the
    /// stream's state at `version` has yet to apply.
    async fn read_stream_after(&self, stream_id: &str, version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_page(stream_id, version, usize::MAX).await
    }

    /// At most `limit` of a stream's events after its first `version` ones, oldest first: one
    /// page of its history.
    async fn read_stream_page(
        &self,
        stream_id: &str,
        version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events after `after`, in log order. Never returns an event while one that
    /// sorts before it may still commit, so a reader that checkpoints the last cursor it saw
    /// never skips an event.
    async fn read_all(&self, after: LogCursor, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The cursor of the event at `position`, to compare with a reader's checkpoint.
    async fn cursor_of(&self, position: i64) -> Result<Option<LogCursor>, StoreError>;

    /// The highest committed position (0 for an empty log).
    async fn head(&self) -> Result<i64, StoreError>;

    /// The greatest cursor among committed events (`START` for an empty log). A reader whose
    /// checkpoint reaches it has read everything committed before the call, even where log order
    /// and position order differ.
    async fn head_cursor(&self) -> Result<LogCursor, StoreError>;
}

/// The hash of an event in its stream's chain: SHA-256 over the predecessor's hash followed by the
/// canonical JSON of everything the event says. The first event's predecessor is 32 zero bytes.
pub fn chain_hash(prev_hash: &[u8; 32], stream_id: &str, stream_version: u64, event: &NewEvent) -> [u8; 32] {
    let recorded_at_us = event.recorded_at.unix_timestamp_nanos() / 1_000;
    let canonical = to_canonical_bytes(&json!({
        "event_id": event.event_id.to_string(),
        "stream_id": stream_id,
        "stream_version": stream_version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "recorded_at_us": recorded_at_us.to_string(),
        "data": event.data,
        "metadata": event.metadata,
    }));
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(&canonical);
    hasher.finalize().into()
}

/// Checks a stream's chain from its first event: every hash recomputes and links to the previous.
pub fn verify_chain(events: &[RecordedEvent]) -> Result<(), String> {
    let mut prev = [0u8; 32];
    for (i, e) in events.iter().enumerate() {
        let expected_version = i as u64 + 1;
        if e.stream_version != expected_version || e.prev_hash != prev {
            return Err(format!("{} v{}: broken link", e.stream_id, e.stream_version));
        }
        let new = NewEvent {
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            data: e.data.clone(),
            metadata: e.metadata.clone(),
            recorded_at: e.recorded_at,
        };
        if chain_hash(&prev, &e.stream_id, e.stream_version, &new) != e.hash {
            return Err(format!("{} v{}: hash does not match content", e.stream_id, e.stream_version));
        }
        prev = e.hash;
    }
    Ok(())
}
