//! The queue in front of an event store's group commit, the same for both stores: a writer task
//! takes every append waiting when it becomes free and commits them as one group.

use std::future::Future;

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most appends folded into one group.
const MAX_GROUP: usize = 256;

pub(crate) type Job = (AppendRequest, oneshot::Sender<Result<Appended, StoreError>>);

/// Starts the writer task. `commit` gets each group and returns one result per append, in order.
pub(crate) fn start<F, Fut>(commit: F) -> mpsc::Sender<Job>
where
    F: Fn(Vec<AppendRequest>) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Result<Appended, StoreError>>> + Send,
{
    let (tx, mut jobs) = mpsc::channel::<Job>(MAX_GROUP * 4);
    tokio::spawn(async move {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = jobs.recv().await {
            group.push(first);
            while group.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            let (requests, replies): (Vec<_>, Vec<_>) = group.drain(..).unzip();
            let mut results = commit(requests).await.into_iter();
            for reply in replies {
                let _ = reply.send(results.next().unwrap_or_else(|| Err(lost())));
            }
        }
    });
    tx
}

/// Hands `request` to the writer and waits for its result.
pub(crate) async fn submit(writer: &mpsc::Sender<Job>, request: AppendRequest) -> Result<Appended, StoreError> {
    let (reply, answer) = oneshot::channel();
    writer.send((request, reply)).await.map_err(|_| StoreError::unavailable("the event log's writer has stopped"))?;
    answer.await.map_err(|_| StoreError::unavailable("the event log's writer dropped an append"))?
}

/// The result of an append its group gave none: never expected, reported as unknown.
pub(crate) fn lost() -> StoreError {
    StoreError::unavailable("an append of a commit group got no result")
}
