//! Append logic shared by both event stores: validation, version checks, the hash chain and
//! idempotent retries.

use shedu_commands::event_store::{
    AppendRequest, Appended, ExpectedVersion, NewEvent, StoreError, StreamGuard, StreamWrite, chain_hash,
};

/// Refuses an append that names a stream twice or writes nothing.
pub fn validate(request: &AppendRequest) -> Result<(), StoreError> {
    let mut ids: Vec<&str> = request
        .guards
        .iter()
        .map(|g| g.stream_id.as_str())
        .chain(request.writes.iter().map(|w| w.stream_id.as_str()))
        .collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::InvalidAppend("a stream appears twice in one append".into()));
    }
    if request.writes.iter().all(|w| w.events.is_empty()) {
        return Err(StoreError::InvalidAppend("nothing to append".into()));
    }
    Ok(())
}

/// Checks a write's expectation against the stream's current version (0 = no stream).
pub fn check_expected(write: &StreamWrite, current: u64) -> Result<(), StoreError> {
    let ok = match write.expected {
        ExpectedVersion::NoStream => current == 0,
        ExpectedVersion::Exact(v) => current == v,
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            stream_id: write.stream_id.clone(),
            expected: write.expected.to_string(),
            actual: current,
        })
    }
}

pub fn check_guard(guard: &StreamGuard, current: u64) -> Result<(), StoreError> {
    if current == guard.version {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            stream_id: guard.stream_id.clone(),
            expected: format!("version {} (guard)", guard.version),
            actual: current,
        })
    }
}

/// Each event with its stream version, predecessor hash and hash, continuing the chain.
pub fn chained<'a>(
    stream_id: &str,
    current_version: u64,
    last_hash: [u8; 32],
    events: &'a [NewEvent],
) -> Vec<(&'a NewEvent, u64, [u8; 32], [u8; 32])> {
    let mut prev = last_hash;
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let version = current_version + i as u64 + 1;
            let hash = chain_hash(&prev, stream_id, version, event);
            let row = (event, version, prev, hash);
            prev = hash;
            row
        })
        .collect()
}

pub fn to_hash(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

/// Decides whether a failed append was a retry of one already stored. `found` holds, for each
/// event id of the request that exists, its (position, stream id, stream version).
pub fn idempotent_result(
    request: &AppendRequest,
    found: &[(i64, String, u64)],
) -> Result<Option<Appended>, StoreError> {
    let wanted: Vec<(&str, &NewEvent)> =
        request.writes.iter().flat_map(|w| w.events.iter().map(move |e| (w.stream_id.as_str(), e))).collect();
    if found.is_empty() {
        return Ok(None);
    }
    if found.len() != wanted.len() || found.iter().zip(&wanted).any(|(f, (stream, _))| f.1 != *stream) {
        return Err(StoreError::DuplicateEvent(wanted[0].1.event_id));
    }
    let first_position = found.iter().map(|f| f.0).min().unwrap_or_default();
    let last_position = found.iter().map(|f| f.0).max().unwrap_or_default();
    Ok(Some(Appended { first_position, last_position }))
}

pub fn event_ids(request: &AppendRequest) -> Vec<uuid::Uuid> {
    request.writes.iter().flat_map(|w| w.events.iter().map(|e| e.event_id)).collect()
}
