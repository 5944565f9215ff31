//! Group commit for SQLite: appends that arrive while a commit is in flight are written together
//! in the next transaction, one fsync for all of them. An append that conflicts writes nothing
//! (its checks come before its writes, or its savepoint is rolled back), so the others still
//! commit; a database error fails the whole group, none of which is then durable.

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::{Executor, Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::event_store::append_in;
use super::unavailable;
use crate::append::{Step, steps};

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
    let mut results = Vec::with_capacity(count);
    for request in requests {
        let steps = match steps(request) {
            Ok(steps) => steps,
            Err(e) => {
                results.push(Err(e));
                continue;
            }
        };
        // One write either fails before it writes anything or leaves the database broken, so
        // only an append with several writes needs a savepoint to fail alone.
        let result = if request.writes.iter().filter(|w| !w.events.is_empty()).count() > 1 {
            in_savepoint(&mut tx, &steps).await
        } else {
            append_in(&mut tx, &steps).await
        };
        if let Err(e @ StoreError::Unavailable(_)) = &result {
            let _ = tx.rollback().await;
            return failed(e);
        }
        results.push(result);
    }
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
