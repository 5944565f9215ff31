//! Deciding appends together, for both event stores: each append is checked against the streams
//! as the appends before it left them, so a group commits as if its appends had run one after
//! another. An append alone is a group of one.

use std::collections::{BTreeMap, HashMap};

use shedu_commands::event_store::{AppendRequest, Appended, NewEvent, StoreError};
use uuid::Uuid;

use crate::append::{chained, check_expected, check_guard, to_hash, validate};

/// Whether an append can join a batch: exactly one write, with events.
pub fn single_write(request: &AppendRequest) -> bool {
    matches!(request.writes.as_slice(), [w] if !w.events.is_empty())
}

/// One event as it is inserted.
pub struct Row<'a> {
    pub stream_id: &'a str,
    pub event: &'a NewEvent,
    pub version: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// A stream's head after the batch.
pub struct Head {
    pub version: u64,
    pub hash: [u8; 32],
    /// Whether the stream existed before the batch (its row is updated, not inserted).
    pub existed: bool,
}

pub struct Batch<'a> {
    /// Indexes of the appends that passed their checks, in order.
    pub accepted: Vec<usize>,
    /// The appends that failed their checks, with why.
    pub refused: Vec<(usize, StoreError)>,
    pub rows: Vec<Row<'a>>,
    /// Every stream the batch writes, by id.
    pub heads: BTreeMap<&'a str, Head>,
}

/// The stored events after some version of some streams, as (stream version, event type),
/// oldest first: what a guard that ignores some event types needs to know of its stream.
pub type Later = HashMap<String, Vec<(u64, String)>>;

/// The guarded streams whose stored version moved past a guard that ignores some event types,
/// with the lowest such guard version: the events after it decide whether those guards hold.
pub fn needs_later(
    requests: &[&AppendRequest],
    batch: &[usize],
    read: &HashMap<String, (u64, Vec<u8>)>,
) -> Vec<(String, u64)> {
    let mut needed: BTreeMap<&str, u64> = BTreeMap::new();
    for guard in batch.iter().flat_map(|&i| &requests[i].guards).filter(|g| !g.ignoring.is_empty()) {
        if read.get(&guard.stream_id).is_some_and(|(version, _)| *version > guard.version) {
            let lowest = needed.entry(&guard.stream_id).or_insert(guard.version);
            *lowest = (*lowest).min(guard.version);
        }
    }
    needed.into_iter().map(|(id, version)| (id.to_owned(), version)).collect()
}

/// Plans `batch` (indexes into `requests`) given the stored `read` heads (version and last hash)
/// of every stream they name and the stored events `later` than the guards [`needs_later`]
/// named. An append passes all its checks or is refused whole.
pub fn plan<'a>(
    requests: &[&'a AppendRequest],
    batch: &[usize],
    read: &HashMap<String, (u64, Vec<u8>)>,
    later: &Later,
) -> Result<Batch<'a>, StoreError> {
    let mut planned = Batch { accepted: vec![], refused: vec![], rows: vec![], heads: BTreeMap::new() };
    for &i in batch {
        let request = requests[i];
        let head = |planned: &Batch<'a>, id: &str| -> Result<(u64, [u8; 32]), StoreError> {
            match (planned.heads.get(id), read.get(id)) {
                (Some(h), _) => Ok((h.version, h.hash)),
                (None, Some((version, hash))) => Ok((*version, to_hash(hash)?)),
                (None, None) => Ok((0, [0; 32])),
            }
        };
        let mut refusal = validate(request).err();
        for guard in &request.guards {
            let current = head(&planned, &guard.stream_id)?.0;
            // The events since the guard's version: stored ones, then those of this batch.
            let stored = later.get(&guard.stream_id).into_iter().flatten().map(|(v, t)| (*v, t.as_str()));
            let batched = planned
                .rows
                .iter()
                .filter(|r| r.stream_id == guard.stream_id)
                .map(|r| (r.version, r.event.event_type.as_str()));
            let since = stored.chain(batched).filter(|(v, _)| *v > guard.version).map(|(_, t)| t);
            refusal = refusal.or(check_guard(guard, current, since).err());
        }
        let mut bases = Vec::with_capacity(request.writes.len());
        for write in &request.writes {
            let (version, last_hash) = head(&planned, &write.stream_id)?;
            refusal = refusal.or(check_expected(write, version).err());
            bases.push((write, version, last_hash));
        }
        if let Some(e) = refusal {
            planned.refused.push((i, e));
            continue;
        }
        for (write, version, last_hash) in bases.into_iter().filter(|(w, _, _)| !w.events.is_empty()) {
            let chain = chained(&write.stream_id, version, last_hash, &write.events);
            let hash = chain.last().map_or(last_hash, |c| c.3);
            let existed = read.contains_key(&write.stream_id);
            let version_after = version + write.events.len() as u64;
            planned.heads.insert(&write.stream_id, Head { version: version_after, hash, existed });
            planned.rows.extend(chain.into_iter().map(|(event, version, prev, hash)| Row {
                stream_id: &write.stream_id,
                event,
                version,
                prev,
                hash,
            }));
        }
        planned.accepted.push(i);
    }
    Ok(planned)
}

/// Each accepted append's positions, from the inserted events' positions by event id; an append
/// whose events were not all inserted gets `missing` (a stream it creates was created elsewhere
/// first).
pub fn outcomes(
    requests: &[&AppendRequest],
    accepted: &[usize],
    positions: &HashMap<Uuid, i64>,
    missing: impl Fn(&AppendRequest) -> StoreError,
) -> Vec<(usize, Result<Appended, StoreError>)> {
    accepted
        .iter()
        .map(|&i| {
            let events = requests[i].writes.iter().flat_map(|w| &w.events);
            let found: Option<Vec<i64>> = events.map(|e| positions.get(&e.event_id).copied()).collect();
            let result = match found {
                Some(p) => Ok(Appended {
                    first_position: p.iter().copied().min().unwrap_or_default(),
                    last_position: p.iter().copied().max().unwrap_or_default(),
                }),
                None => Err(missing(requests[i])),
            };
            (i, result)
        })
        .collect()
}
