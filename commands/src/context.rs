//! Who issues a command, and what a command returns: shared by every service.

use crate::idempotency::RequestKey;

/// Who issues a command, recorded on every event it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    pub actor: String,
    pub correlation_id: String,
    /// The request's `Idempotency-Key` and claim, when it carried one.
    pub request_key: Option<RequestKey>,
}

/// A command's result: the aggregate after it, and the log position of its last event (or of the
/// aggregate's last event when nothing changed), for read-your-writes.
#[derive(Debug, Clone)]
pub struct Outcome<A> {
    pub state: A,
    pub position: i64,
}
