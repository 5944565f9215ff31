//! Publishing to JetStream so that the stream always holds a prefix of the log, in log order:
//! each message expects the stream's last sequence to be the one before it
//! (`Nats-Expected-Last-Sequence`), so when one publish of a pipelined window fails, every later
//! one fails too instead of landing ahead of it. The stream's last message then tells exactly how
//! far the log was published (docs/adr/0018).

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{ContextBuilder, GetStreamErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};
use shedu_commands::event_store::LogCursor;

use super::cloud_event::{Outgoing, POSITION_HEADER, RELAY_HEADER, TX_HEADER, cursor_of};
use super::settings::RelaySettings;

/// Publishes whose acknowledgements may be outstanding at once.
const WINDOW: usize = 512;
/// How long one request to NATS (an acknowledgement, a stream lookup) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(super) struct NatsError(pub(super) String);

fn nats_error(what: &str) -> impl Fn(&dyn std::fmt::Display) -> NatsError + '_ {
    move |e| NatsError(format!("{what}: {e}"))
}

/// Where the stream stands: its last sequence and, when its last message came from a relay, the
/// log cursor of that message's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamEnd {
    pub(super) last_sequence: u64,
    pub(super) cursor: Option<LogCursor>,
}

pub(super) struct JetStream {
    context: Context,
    stream: String,
    /// The relay publishing, named on each message (`Shedu-Relay`).
    holder: String,
}

impl JetStream {
    /// Connects once; the client then reconnects on its own whenever the connection drops.
    pub(super) async fn connect(settings: &RelaySettings, url: &str, holder: &str) -> Result<Self, NatsError> {
        let client = async_nats::ConnectOptions::new()
            .name("shedu-relay")
            .connection_timeout(REQUEST_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| nats_error(&format!("cannot connect to NATS at {url}"))(&e))?;
        let context = ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .max_ack_inflight(WINDOW)
            .backpressure_on_inflight(true)
            .build(client);
        Ok(JetStream { context, stream: settings.stream.clone(), holder: holder.to_owned() })
    }

    /// Creates the stream if it is missing, or adds the relay's subjects and duplicate window to
    /// one that exists, keeping every other setting an operator gave it.
    pub(super) async fn ensure_stream(&self, settings: &RelaySettings) -> Result<(), NatsError> {
        let subjects = format!("{}.>", settings.subject_prefix);
        let window = Duration::from_secs(settings.duplicate_window_seconds);
        match self.context.get_stream(&self.stream).await {
            Ok(mut stream) => {
                let info = stream.info().await.map_err(|e| nats_error("cannot read the stream")(&e))?;
                let mut config = info.config.clone();
                if config.subjects.contains(&subjects) && config.duplicate_window == window {
                    return Ok(());
                }
                if !config.subjects.contains(&subjects) {
                    config.subjects.push(subjects);
                }
                config.duplicate_window = window;
                self.context.update_stream(config).await.map_err(|e| nats_error("cannot update the stream")(&e))?;
                Ok(())
            }
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                let config = Config {
                    name: self.stream.clone(),
                    subjects: vec![subjects],
                    storage: StorageType::File,
                    duplicate_window: window,
                    ..Config::default()
                };
                self.context.create_stream(config).await.map_err(|e| nats_error("cannot create the stream")(&e))?;
                tracing::info!(stream = %self.stream, "created the JetStream stream");
                Ok(())
            }
            Err(e) => Err(nats_error("cannot look up the stream")(&e)),
        }
    }

    /// The stream's last sequence and the cursor its last message carries.
    pub(super) async fn end(&self) -> Result<StreamEnd, NatsError> {
        let mut stream =
            self.context.get_stream(&self.stream).await.map_err(|e| nats_error("cannot look up the stream")(&e))?;
        let last_sequence =
            stream.info().await.map_err(|e| nats_error("cannot read the stream")(&e))?.state.last_sequence;
        if last_sequence == 0 {
            return Ok(StreamEnd { last_sequence, cursor: None });
        }
        // Gone when limits or an operator removed it: the relay's own checkpoint says the rest.
        let cursor = match stream.get_raw_message(last_sequence).await {
            Ok(message) => cursor_of(
                message.headers.get(TX_HEADER).map(|v| v.as_str()),
                message.headers.get(POSITION_HEADER).map(|v| v.as_str()),
            ),
            Err(_) => None,
        };
        Ok(StreamEnd { last_sequence, cursor })
    }

    /// Publishes `batch` in order after stream sequence `last_sequence`, with up to [`WINDOW`]
    /// acknowledgements outstanding. Returns how many were acknowledged (always a prefix of the
    /// batch) and the failure that stopped the rest, if one did.
    pub(super) async fn publish(&self, batch: &[Outgoing], last_sequence: u64) -> (usize, Option<NatsError>) {
        let mut pending = VecDeque::with_capacity(WINDOW);
        let mut acked = 0;
        let mut sent = 0;
        while acked < batch.len() {
            // Keep the window full, then wait for the oldest acknowledgement.
            while sent < batch.len() && pending.len() < WINDOW {
                let message = &batch[sent];
                let publish = PublishMessage::build()
                    .payload(message.payload.clone())
                    .message_id(&message.message_id)
                    .expected_last_sequence(last_sequence + sent as u64)
                    .header(TX_HEADER, message.cursor.tx.to_string().as_str())
                    .header(POSITION_HEADER, message.cursor.position.to_string().as_str())
                    .header(RELAY_HEADER, self.holder.as_str())
                    .header("Content-Type", "application/cloudevents+json");
                match self.context.send_publish(message.subject.clone(), publish).await {
                    Ok(ack) => pending.push_back(ack),
                    Err(e) => return (acked, Some(nats_error("publish failed")(&e))),
                }
                sent += 1;
            }
            let Some(ack) = pending.pop_front() else { break };
            match ack.await {
                Ok(ack) if ack.duplicate || ack.sequence == last_sequence + acked as u64 + 1 => acked += 1,
                Ok(ack) => {
                    return (
                        acked,
                        Some(NatsError(format!(
                            "the stream stored the message at sequence {} instead of {}",
                            ack.sequence,
                            last_sequence + acked as u64 + 1
                        ))),
                    );
                }
                Err(e) => return (acked, Some(nats_error("publish not acknowledged")(&e))),
            }
        }
        (acked, None)
    }
}
