//! Group commit for the hot path: appends that create one stream under guards (an issuance) and
//! arrive while a group is committing are written together in the next transaction, with one
//! statement locking every guarded stream and one inserting every stream and event. Other
//! appends take a transaction of their own (`event_store::append_in`).

use std::collections::{BTreeMap, HashMap, HashSet};

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::event_store::{EventColumns, insert_error};
use super::unavailable;
use crate::append::{chained, check_guard, steps};

/// Most appends folded into one transaction.
const MAX_GROUP: usize = 256;

pub(crate) type Job = (AppendRequest, oneshot::Sender<Result<Appended, StoreError>>);

/// Starts the writer task; groupable appends are sent to the returned channel.
pub(crate) fn start(pool: PgPool) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>(MAX_GROUP * 4);
    tokio::spawn(run(pool, rx));
    tx
}

async fn run(pool: PgPool, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.recv().await {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let requests: Vec<&AppendRequest> = group.iter().map(|(request, _)| request).collect();
        let results = match commit_group(&pool, &requests).await {
            Ok(results) => results,
            // The group's insert failed as a whole (an event id already stored, most likely):
            // nothing of it committed, so each append runs alone to find which one it was.
            Err(_) => {
                let mut results = Vec::with_capacity(requests.len());
                for request in &requests {
                    results.push(super::event_store::append_alone(&pool, request).await);
                }
                results
            }
        };
        for ((_, reply), result) in group.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// The group in one transaction. Each append's own failure (a guard that moved, a stream that
/// exists) is its result alone; an `Err` means nothing was committed.
async fn commit_group(
    pool: &PgPool,
    requests: &[&AppendRequest],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut results: Vec<Option<Result<Appended, StoreError>>> = requests
        .iter()
        .map(|request| match steps(request) {
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect();
    let mut tx = pool.begin().await.map_err(unavailable)?;

    // Every guarded stream of the group, locked shared in stream-id order by one statement.
    let guarded: Vec<&str> = requests
        .iter()
        .flat_map(|r| r.guards.iter().map(|g| g.stream_id.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let versions: HashMap<String, u64> = if guarded.is_empty() {
        HashMap::new()
    } else {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT stream_id, version FROM streams WHERE stream_id = ANY($1) ORDER BY stream_id FOR SHARE",
        )
        .bind(&guarded)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        rows.into_iter().map(|(id, version)| (id, version as u64)).collect()
    };

    // The streams to create, each once: a second append creating the same stream loses.
    let mut creating: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, request) in requests.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        let guard_failed =
            request.guards.iter().find_map(|g| check_guard(g, versions.get(&g.stream_id).copied().unwrap_or(0)).err());
        let write = &request.writes[0];
        results[i] = match guard_failed {
            Some(e) => Some(Err(e)),
            None if creating.contains_key(write.stream_id.as_str()) => Some(Err(StoreError::Conflict {
                stream_id: write.stream_id.clone(),
                expected: write.expected.to_string(),
                actual: requests[creating[write.stream_id.as_str()]].writes[0].events.len() as u64,
            })),
            None => {
                creating.insert(&write.stream_id, i);
                None
            }
        };
    }
    if creating.is_empty() {
        tx.rollback().await.map_err(unavailable)?;
        return Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect());
    }

    let (mut stream_ids, mut versions_after, mut heads) = (Vec::new(), Vec::new(), Vec::new());
    let mut columns = EventColumns::default();
    for (stream_id, &i) in &creating {
        let write = &requests[i].writes[0];
        let chained = chained(stream_id, 0, [0; 32], &write.events);
        stream_ids.push(*stream_id);
        versions_after.push(write.events.len() as i64);
        heads.push(chained.last().map_or(vec![0; 32], |c| c.3.to_vec()));
        for (event, version, prev, hash) in &chained {
            columns.push(stream_id, event, *version, prev, hash)?;
        }
    }
    let inserted: Vec<(i64, String)> = sqlx::query_as(CREATE_ALL)
        .bind(&stream_ids)
        .bind(&versions_after)
        .bind(&heads)
        .bind(&columns.ids)
        .bind(&columns.stream_ids)
        .bind(&columns.versions)
        .bind(&columns.types)
        .bind(&columns.schema_versions)
        .bind(&columns.data)
        .bind(&columns.metadata)
        .bind(&columns.recorded_at_us)
        .bind(&columns.prev_hashes)
        .bind(&columns.hashes)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| insert_error(e, columns.ids[0]))?;
    tx.commit().await.map_err(unavailable)?;

    let mut positions: HashMap<String, Vec<i64>> = HashMap::new();
    for (position, stream_id) in inserted {
        positions.entry(stream_id).or_default().push(position);
    }
    for (stream_id, &i) in &creating {
        let write = &requests[i].writes[0];
        results[i] = Some(match positions.get(*stream_id) {
            Some(p) => Ok(Appended {
                first_position: p.iter().copied().min().unwrap_or_default(),
                last_position: p.iter().copied().max().unwrap_or_default(),
            }),
            // The stream already existed: its row was kept and none of these events inserted.
            None => Err(StoreError::Conflict {
                stream_id: write.stream_id.clone(),
                expected: write.expected.to_string(),
                actual: existing_version(pool, stream_id).await?,
            }),
        });
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect())
}

async fn existing_version(pool: &PgPool, stream_id: &str) -> Result<u64, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT version FROM streams WHERE stream_id = $1")
        .bind(stream_id)
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
    Ok(row.map_or(0, |(v,)| v as u64))
}

fn lost() -> StoreError {
    StoreError::Unavailable("an append of a commit group got no result".into())
}

/// Inserts the streams' rows and the events of those rows that were new, in stream and version
/// order.
const CREATE_ALL: &str = "WITH s AS (INSERT INTO streams (stream_id, version, last_hash) \
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::bytea[]) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING stream_id) \
     INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, \
     recorded_at_us, prev_hash, hash) SELECT e.id, e.sid, e.v, e.t, e.sv, CAST(e.d AS json), CAST(e.m AS json), \
     e.at, e.ph, e.h FROM UNNEST($4::uuid[], $5::text[], $6::int8[], $7::text[], $8::int4[], $9::text[], \
     $10::text[], $11::int8[], $12::bytea[], $13::bytea[]) AS e(id, sid, v, t, sv, d, m, at, ph, h) \
     JOIN s ON s.stream_id = e.sid ORDER BY e.sid, e.v RETURNING position, stream_id";
