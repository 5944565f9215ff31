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

/// Checks a guard against its stream's `current` version, given the types of the events after
/// the guard's version (`later`, oldest first, as far as known): it holds when the stream has not
/// moved, or when every event since is one the guard ignores.
pub fn check_guard<'a>(
    guard: &StreamGuard,
    current: u64,
    later: impl Iterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let moved = current.saturating_sub(guard.version);
    let ignored = || later.take_while(|t| guard.ignoring.contains(t)).count() as u64 == moved;
    if current == guard.version || (current > guard.version && !guard.ignoring.is_empty() && ignored()) {
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

/// An event of a failed append's request found in the log.
pub struct Stored {
    pub position: i64,
    pub stream_id: String,
    pub version: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// A [`Stored`] as selected: position, stream id, stream version, predecessor hash, hash.
pub type StoredRow = (i64, String, i64, Vec<u8>, Vec<u8>);

impl Stored {
    pub fn from_row((position, stream_id, version, prev, hash): StoredRow) -> Result<Stored, StoreError> {
        Ok(Stored { position, stream_id, version: version as u64, prev: to_hash(&prev)?, hash: to_hash(&hash)? })
    }
}

/// Decides whether a failed append was a retry of one already stored (a commit whose answer was
/// lost). `found` holds, in request order, each event of the request whose id exists. It was a
/// retry only when every event is stored, in its stream, with the very content asked for (its
/// chain hash matches); the same ids with other content come from another attempt of the same
/// keyed request, which is [`StoreError::DuplicateEvent`].
pub fn idempotent_result(request: &AppendRequest, found: &[Stored]) -> Result<Option<Appended>, StoreError> {
    let wanted: Vec<(&str, &NewEvent)> =
        request.writes.iter().flat_map(|w| w.events.iter().map(move |e| (w.stream_id.as_str(), e))).collect();
    if found.is_empty() {
        return Ok(None);
    }
    let same = |f: &Stored, (stream, event): &(&str, &NewEvent)| {
        f.stream_id == *stream && chain_hash(&f.prev, stream, f.version, event) == f.hash
    };
    if found.len() != wanted.len() || !found.iter().zip(&wanted).all(|(f, w)| same(f, w)) {
        return Err(StoreError::DuplicateEvent(wanted[0].1.event_id));
    }
    let first_position = found.iter().map(|f| f.position).min().unwrap_or_default();
    let last_position = found.iter().map(|f| f.position).max().unwrap_or_default();
    Ok(Some(Appended { first_position, last_position }))
}

pub fn event_ids(request: &AppendRequest) -> Vec<uuid::Uuid> {
    request.writes.iter().flat_map(|w| w.events.iter().map(|e| e.event_id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IGNORED: &[&str] = &["ca.metadata.update", "ca.subordinate.add"];

    fn guard(version: u64, ignoring: &'static [&'static str]) -> StreamGuard {
        StreamGuard { stream_id: "ca-x".into(), version, ignoring }
    }

    #[test]
    fn a_guard_lets_pass_only_the_events_it_ignores() {
        let none = std::iter::empty::<&str>;
        assert!(check_guard(&guard(3, &[]), 3, none()).is_ok());
        assert!(check_guard(&guard(3, &[]), 4, ["ca.metadata.update"].into_iter()).is_err(), "an exact guard");
        let metadata = ["ca.metadata.update", "ca.subordinate.add"];
        assert!(check_guard(&guard(3, IGNORED), 5, metadata.into_iter()).is_ok());
        let revoked = ["ca.metadata.update", "ca.status.update"];
        assert!(check_guard(&guard(3, IGNORED), 5, revoked.into_iter()).is_err());
        // Events unknown to the caller (more moved than it was told of) break the guard.
        assert!(check_guard(&guard(3, IGNORED), 6, metadata.into_iter()).is_err());
        assert!(check_guard(&guard(3, IGNORED), 2, none()).is_err(), "a stream behind its guard");
    }
}
