//! A nats-server of the test's own, on a free port, so the test can stop and restart it without
//! touching the shared one; and a subscriber that reads back what the relay published.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures_util::StreamExt;
use serde_json::Value;

use crate::temp_dir;

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
}

/// One message as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub stream_sequence: u64,
    pub subject: String,
    pub message_id: String,
    /// The relay that published it (the `Shedu-Relay` header).
    pub relay: String,
    pub event: Value,
}

impl NatsServer {
    /// Starts `nats-server` (or `$SHEDU_NATS_SERVER`) with JetStream on a free port
    /// (scripts/test.sh installs Debian's).
    pub async fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut server = NatsServer { child: None, port, store: temp_dir("nats") };
        server.resume().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and store, after [`NatsServer::kill`].
    pub async fn resume(&mut self) {
        let binary = std::env::var("SHEDU_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e} (scripts/test.sh installs it)"));
        self.child = Some(child);
        for _ in 0..200 {
            if async_nats::connect(self.url()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message the stream `SHEDU_EVENTS` holds, read by a pull consumer from the first,
    /// once at least `at_least` have arrived (or after `within`, with what arrived).
    pub async fn read_events(&self, at_least: usize, within: Duration) -> Vec<Received> {
        let client = async_nats::connect(self.url()).await.expect("connect to NATS");
        let js = jetstream::new(client);
        let deadline = tokio::time::Instant::now() + within;
        let stream = loop {
            match js.get_stream("SHEDU_EVENTS").await {
                Ok(stream) => break stream,
                Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("no SHEDU_EVENTS stream: {e}"),
            }
        };
        let config =
            pull::Config { ack_policy: AckPolicy::None, deliver_policy: DeliverPolicy::All, ..Default::default() };
        let consumer = stream.create_consumer(config).await.expect("create a consumer");
        let mut messages = consumer.messages().await.expect("consume");
        let mut received = Vec::new();
        while received.len() < at_least {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Ok(Some(message)) = tokio::time::timeout(left, messages.next()).await else { break };
            let message = message.expect("a message");
            let header = |name: &str| {
                message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned()).unwrap_or_default()
            };
            received.push(Received {
                stream_sequence: message.info().expect("JetStream message").stream_sequence,
                subject: message.subject.to_string(),
                message_id: header("Nats-Msg-Id"),
                relay: header("Shedu-Relay"),
                event: serde_json::from_slice(&message.payload).expect("a JSON CloudEvent"),
            });
        }
        received
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
