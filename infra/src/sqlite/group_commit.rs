//! Group commit for SQLite: appends that arrive while a commit is in flight are written together
//! in the next transaction, one fsync for all of them. Each append runs inside its own savepoint,
//! so one that conflicts is rolled back alone and the others still commit.

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::{Executor, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::event_store::append_in;
use super::unavailable;
use crate::append::steps;

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
    // Alone in its group, an append needs no savepoint: failing, it rolls back the transaction.
    if count == 1 {
        let request = requests.into_iter().next();
        let result = match request.map(steps) {
            Some(Ok(steps)) => append_in(&mut tx, &steps).await,
            Some(Err(e)) => Err(e),
            None => return vec![],
        };
        return match result {
            Ok(appended) => match tx.commit().await {
                Ok(()) => vec![Ok(appended)],
                Err(e) => failed(&unavailable(e)),
            },
            Err(e) => {
                let _ = tx.rollback().await;
                vec![Err(e)]
            }
        };
    }
    for request in requests {
        let result = async {
            let steps = steps(request)?;
            tx.execute("SAVEPOINT append").await.map_err(unavailable)?;
            match append_in(&mut tx, &steps).await {
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
        .await;
        results.push(result);
    }
    match tx.commit().await {
        Ok(()) => results,
        // Nothing of the group is known to be durable.
        Err(e) => failed(&unavailable(e)),
    }
}
