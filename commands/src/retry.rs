//! Re-deciding a command after it lost a race on a stream it touches only as a side effect.

use std::time::Duration;

/// How many times a command decides before giving up with
/// [`crate::CommandError::RetriesExhausted`].
pub(crate) const MAX_ATTEMPTS: usize = 12;

/// Waits before re-deciding a lost race: a random pause whose range doubles with each attempt
/// (up to 64 ms), so that commands contending for one stream (sixteen subordinates created under
/// one root at once) spread out instead of colliding again in lockstep.
pub(crate) async fn backoff(attempt: usize) {
    if attempt + 1 >= MAX_ATTEMPTS {
        return; // No attempt follows: answer at once.
    }
    let ceiling_us = 500u64 << attempt.min(7);
    let mut bytes = [0u8; 8];
    // Without randomness the pause is simply the ceiling: slower, still correct.
    let pause_us = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) % ceiling_us,
        Err(_) => ceiling_us,
    };
    tokio::time::sleep(Duration::from_micros(pause_us)).await;
}
