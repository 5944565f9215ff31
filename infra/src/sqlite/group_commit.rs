//! Group commit for SQLite: appends that arrive while a commit is in flight are written together
//! in the next transaction, one fsync for all of them. An append that conflicts writes nothing
//! (its checks come before its writes, or its savepoint is rolled back), so the others still
//! commit; a database error fails the whole group, none of which is then durable.

use std::collections::{HashMap, HashSet};

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::{Executor, Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::event_store::{ROWS_PER_INSERT, append_in, insert_events, read_heads, write_heads};
use super::unavailable;
use crate::append::{Step, steps};
use crate::batch;

/// Most appends folded into one transaction.
const MAX_GROUP: usize = 256;

pub(crate) type Job = (AppendRequest, oneshot::Sender<Result<Appended, StoreError>>);

/// Starts the writer task; appends are sent to the returned channel.
pub(crate) fn start(writer: SqlitePool) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>(MAX_GROUP * 4);
    tokio::spawn(run(writer, rx));
    tx
}

async fn run(writer: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.recv().await {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let results = commit_group(&writer, group.iter().map(|(request, _)| request)).await;
        for ((_, reply), result) in group.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn commit_group<'a>(
    writer: &SqlitePool,
    requests: impl ExactSizeIterator<Item = &'a AppendRequest>,
) -> Vec<Result<Appended, StoreError>> {
    let count = requests.len();
    let failed = |e: &StoreError| (0..count).map(|_| Err(e.clone())).collect::<Vec<_>>();
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return failed(&unavailable(e)),
    };
    let requests: Vec<&AppendRequest> = requests.collect();
    let mut results: Vec<Option<Result<Appended, StoreError>>> = (0..count).map(|_| None).collect();
    let batch: Vec<usize> = (0..count).filter(|&i| batch::single_write(requests[i])).collect();
    match append_batch(&mut tx, &requests, &batch).await {
        Ok(batched) => batched.into_iter().for_each(|(i, result)| results[i] = Some(result)),
        Err(e) => {
            let _ = tx.rollback().await;
            return failed(&e);
        }
    }
    for (i, request) in requests.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        let steps = match steps(request) {
            Ok(steps) => steps,
            Err(e) => {
                results[i] = Some(Err(e));
                continue;
            }
        };
        // One write of up to 100 events is one insert statement: it fails before it writes
        // anything, or leaves the database broken. Anything larger needs a savepoint to fail
        // alone.
        let writes = request.writes.iter().filter(|w| !w.events.is_empty());
        let result = if writes.clone().count() > 1 || writes.map(|w| w.events.len()).sum::<usize>() > ROWS_PER_INSERT {
            in_savepoint(&mut tx, &steps).await
        } else {
            append_in(&mut tx, &steps).await
        };
        if let Err(e @ StoreError::Unavailable(_)) = &result {
            let _ = tx.rollback().await;
            return failed(e);
        }
        results[i] = Some(result);
    }
    let results: Vec<_> = results.into_iter().map(|r| r.unwrap_or_else(|| Err(lost()))).collect();
    match tx.commit().await {
        Ok(()) => results,
        // Nothing of the group is known to be durable.
        Err(e) => failed(&unavailable(e)),
    }
}

async fn in_savepoint(tx: &mut Transaction<'static, Sqlite>, steps: &[Step<'_>]) -> Result<Appended, StoreError> {
    tx.execute("SAVEPOINT append").await.map_err(unavailable)?;
    match append_in(tx, steps).await {
        Ok(appended) => {
            tx.execute("RELEASE append").await.map_err(unavailable)?;
            Ok(appended)
        }
        Err(e) => {
            tx.execute("ROLLBACK TO append").await.map_err(unavailable)?;
            tx.execute("RELEASE append").await.map_err(unavailable)?;
            Err(e)
        }
    }
}

/// The group's single-write appends (`batch`, indexes into `requests`) with one read of every
/// stream they name, one insert of all their events and one of all their streams' heads. Each
/// one's own failure is its result; an `Err` is a database failure that spoils the transaction.
async fn append_batch(
    tx: &mut Transaction<'static, Sqlite>,
    requests: &[&AppendRequest],
    batch: &[usize],
) -> Result<Vec<(usize, Result<Appended, StoreError>)>, StoreError> {
    if batch.is_empty() {
        return Ok(vec![]);
    }
    let named: HashSet<&str> = batch
        .iter()
        .flat_map(|&i| {
            let r = requests[i];
            r.guards.iter().map(|g| g.stream_id.as_str()).chain(r.writes.iter().map(|w| w.stream_id.as_str()))
        })
        .collect();
    let read = read_heads(tx, named.into_iter()).await?;
    let planned = batch::plan(requests, batch, &read)?;
    let mut results: Vec<(usize, Result<Appended, StoreError>)> =
        planned.refused.into_iter().map(|(i, e)| (i, Err(e))).collect();
    // The insert takes a statement per 100 events: a savepoint undoes the earlier ones if a later
    // one fails.
    tx.execute("SAVEPOINT batch").await.map_err(unavailable)?;
    let inserted = match insert_events(tx, &planned.rows).await {
        Ok(inserted) => inserted,
        // An event id already stored (a retry): each append of the batch goes alone, decided
        // afresh, as one refused for an append before it may now pass.
        Err(StoreError::DuplicateEvent(_)) => {
            tx.execute("ROLLBACK TO batch").await.map_err(unavailable)?;
            tx.execute("RELEASE batch").await.map_err(unavailable)?;
            let mut results = Vec::with_capacity(batch.len());
            for &i in batch {
                match in_savepoint(tx, &steps(requests[i])?).await {
                    Err(e @ StoreError::Unavailable(_)) => return Err(e),
                    result => results.push((i, result)),
                }
            }
            return Ok(results);
        }
        Err(e) => return Err(e),
    };
    tx.execute("RELEASE batch").await.map_err(unavailable)?;
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

fn lost() -> StoreError {
    StoreError::Unavailable("an append of a commit group got no result".into())
}
