//! Group commit for SQLite: appends that arrive while a commit is in flight are written together
//! in the next transaction, one fsync for all of them. An append that conflicts writes nothing
//! (its checks come before its writes, or its savepoint is rolled back), so the others still
//! commit; a database error fails the whole group, none of which is then durable.

use std::collections::{HashMap, HashSet};

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::{Executor, Sqlite, SqlitePool, Transaction};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::event_store::{insert_events, read_heads, read_later, write_heads};
use crate::batch;
use crate::errors::classify;
use crate::writer::{self, Job, lost};

/// Starts the writer task; appends are sent to the returned channel.
pub(crate) fn start(writer: SqlitePool) -> mpsc::Sender<Job> {
    writer::start(move |requests| {
        let writer = writer.clone();
        async move { commit_group(&writer, &requests.iter().collect::<Vec<_>>()).await }
    })
}

async fn commit_group(writer: &SqlitePool, requests: &[&AppendRequest]) -> Vec<Result<Appended, StoreError>> {
    let count = requests.len();
    let failed = |e: &StoreError| (0..count).map(|_| Err(e.clone())).collect::<Vec<_>>();
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return failed(&classify(e)),
    };
    let all: Vec<usize> = (0..count).collect();
    let decided = match append_batch(&mut tx, requests, &all).await {
        Ok(decided) => decided,
        // An event id already stored (a retry): nothing of the group was written, so each append
        // goes alone, decided afresh, as one refused because of an append before it may now pass.
        Err(StoreError::DuplicateEvent(_)) => {
            let mut decided = Vec::with_capacity(count);
            for i in 0..count {
                match append_batch(&mut tx, requests, &[i]).await {
                    Ok(one) => decided.extend(one),
                    Err(e @ StoreError::DuplicateEvent(_)) => decided.push((i, Err(e))),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        return failed(&e);
                    }
                }
            }
            decided
        }
        Err(e) => {
            let _ = tx.rollback().await;
            return failed(&e);
        }
    };
    let mut results: Vec<Option<Result<Appended, StoreError>>> = (0..count).map(|_| None).collect();
    decided.into_iter().for_each(|(i, result)| results[i] = Some(result));
    let results: Vec<_> = results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect();
    match tx.commit().await {
        Ok(()) => results,
        // Nothing of the group is known to be durable.
        Err(e) => failed(&classify(e)),
    }
}

/// Appends (`batch`, indexes into `requests`) with one read of every stream they name, one
/// insert of all their events and one write of all their streams' heads. An append's own failure
/// (a guard or expectation that does not hold) is its result; an `Err` writes nothing: a
/// duplicate event id, or a database failure that spoils the transaction.
async fn append_batch(
    tx: &mut Transaction<'static, Sqlite>,
    requests: &[&AppendRequest],
    batch: &[usize],
) -> Result<Vec<(usize, Result<Appended, StoreError>)>, StoreError> {
    let named: HashSet<&str> = batch
        .iter()
        .flat_map(|&i| {
            let r = requests[i];
            r.guards.iter().map(|g| g.stream_id.as_str()).chain(r.writes.iter().map(|w| w.stream_id.as_str()))
        })
        .collect();
    let read = read_heads(tx, named.into_iter()).await?;
    let mut later = batch::Later::new();
    for (stream_id, after) in batch::needs_later(requests, batch, &read) {
        let events = read_later(tx, &stream_id, after).await?;
        later.insert(stream_id, events);
    }
    let planned = batch::plan(requests, batch, &read, &later)?;
    let mut results: Vec<(usize, Result<Appended, StoreError>)> =
        planned.refused.into_iter().map(|(i, e)| (i, Err(e))).collect();
    // The insert takes a statement per 100 events: a savepoint undoes the earlier ones if a later
    // one fails.
    tx.execute("SAVEPOINT batch").await.map_err(classify)?;
    let inserted = match insert_events(tx, &planned.rows).await {
        Ok(inserted) => inserted,
        Err(e) => {
            tx.execute("ROLLBACK TO batch").await.map_err(classify)?;
            tx.execute("RELEASE batch").await.map_err(classify)?;
            return Err(e);
        }
    };
    tx.execute("RELEASE batch").await.map_err(classify)?;
    let heads: Vec<(&str, u64, [u8; 32])> =
        planned.heads.iter().map(|(id, head)| (*id, head.version, head.hash)).collect();
    write_heads(tx, &heads).await?;
    let mut positions = HashMap::with_capacity(inserted.len());
    for (position, event_id) in inserted {
        let id = Uuid::parse_str(&event_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        positions.insert(id, position);
    }
    // One writer: every accepted append's events were inserted.
    results.extend(batch::outcomes(requests, &planned.accepted, &positions, |_| lost()));
    Ok(results)
}
