//! Group commit: appends of one write each (an issuance, a metadata change) that arrive while a
//! group is committing are written together in the next transaction, with one statement locking
//! the streams they read and one writing every stream and event. Appends of several writes take
//! a transaction of their own, written the same way (`super::write`), as a stream one of them
//! creates may turn out to exist and the whole append must then roll back.

use shedu_commands::event_store::{AppendRequest, Appended, StoreError};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::write::{append_alone, write_in};
use crate::errors::classify;
use crate::writer::{self, Job};

/// Starts the writer task; single-write appends are sent to the returned channel.
pub(crate) fn start(pool: PgPool) -> mpsc::Sender<Job> {
    writer::start(move |requests| {
        let pool = pool.clone();
        async move {
            let requests: Vec<&AppendRequest> = requests.iter().collect();
            match commit_group(&pool, &requests).await {
                Ok(results) => results,
                // The group's insert failed as a whole (an event id already stored, most likely):
                // nothing of it committed, so each append runs alone to find which one it was.
                Err(_) => {
                    let mut results = Vec::with_capacity(requests.len());
                    for request in &requests {
                        results.push(append_alone(&pool, request).await);
                    }
                    results
                }
            }
        }
    })
}

/// The group in one transaction. Each append's own failure is its result; an `Err` means nothing
/// was committed.
async fn commit_group(
    pool: &PgPool,
    requests: &[&AppendRequest],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let results = write_in(&mut tx, requests).await?;
    if results.iter().any(Result::is_ok) {
        tx.commit().await.map_err(classify)?;
    } else {
        tx.rollback().await.map_err(classify)?;
    }
    Ok(results)
}
