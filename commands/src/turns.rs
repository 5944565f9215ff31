//! In-process turns per stream: commands of this process that would race on one stream queue
//! for it instead, so optimistic retries are left for races with other processes.

use std::hash::{DefaultHasher, Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

/// A fixed set of locks a stream id hashes onto. Two streams sharing a stripe merely wait for
/// each other; no per-stream state grows with the number of CAs.
pub(crate) struct Turns {
    stripes: Vec<Mutex<()>>,
}

impl Turns {
    pub(crate) fn new(stripes: usize) -> Self {
        Turns { stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect() }
    }

    pub(crate) async fn take(&self, stream_id: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        stream_id.hash(&mut hasher);
        self.stripes[(hasher.finish() % self.stripes.len() as u64) as usize].lock().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_turn_on_one_stream_waits_for_the_first() {
        let turns = Arc::new(Turns::new(64));
        let held = turns.take("ca-root").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { drop(turns.take("ca-root").await) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second turn on the same stream must wait");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
    }
}
