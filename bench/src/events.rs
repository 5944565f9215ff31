//! Events out and time in (issue 11): the NATS relay and the expiration scheduler, on SQLite.
//!
//! - Relay backlog: a log of N seeded issuances published by `shedu relay` to a nats-server of
//!   the harness's own (JetStream, file storage); events/s until the stream holds the whole log.
//! - Relay lag: `shedu serve --nats-url` under the 32-client issuance load; for every message a
//!   subscriber receives, receive time minus the CloudEvent's `time` (the command's instant).
//! - Scheduler arming: the seeded log's views rebuilt (one expiry entry per certificate), then
//!   `shedu scheduler` started on it and on an empty log: resident memory of each after it has
//!   armed, and the in-process time of the index read that arms it.
//! - Scheduler delay: certificates issued over HTTP with a 15-second lifetime fall due while the
//!   issuance load runs; for each `certificate.expired`, its recorded time minus `valid_to`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, push};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use shedu_infra::Database;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::procs;
use crate::scale;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventsResult {
    pub backlog_events: i64,
    pub relay_seconds: f64,
    pub relay_events_per_second: f64,
    pub lag_clients: usize,
    pub lag_messages: usize,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub issuance_per_second: f64,
    pub tracked_expiries: i64,
    pub arm_read_ms: f64,
    pub scheduler_rss_empty_mib: f64,
    pub scheduler_rss_tracked_mib: f64,
    pub due: usize,
    pub delay_p50_ms: f64,
    pub delay_p99_ms: f64,
    pub delay_max_ms: f64,
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats(dir: &Path) -> anyhow::Result<(Running, String)> {
    let binary = std::env::var("SHEDU_NATS_SERVER").unwrap_or_else(|_| {
        if Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server".into() } else { "nats-server".into() }
    });
    let port = procs::free_port();
    std::fs::create_dir_all(dir)?;
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok((Running(child), format!("nats://127.0.0.1:{port}")))
}

async fn stream_messages(js: &jetstream::Context) -> u64 {
    match js.get_stream("SHEDU_EVENTS").await {
        Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

pub(crate) async fn run(binary: &Path, scratch: &Path, backlog: usize, cell: Duration) -> anyhow::Result<EventsResult> {
    // A log of `backlog` issuances, written as the scale phase writes it.
    let data = scratch.join("events-backlog");
    let issuing = {
        let server = procs::start_shedu(binary, &data, None).await?;
        let issuing = scale::create_cas(&server.base, 4).await?;
        let template = scale::sign_one(&server.base, &issuing[0]).await?;
        server.stop();
        (issuing, template)
    };
    let url = format!("sqlite://{}", data.join("shedu.db").display());
    let db = Database::open(&url).await?;
    let template = db.event_store().read_stream(&format!("certificate-{}", issuing.1)).await?.remove(0).data;
    scale::seed_certificates(db.event_store(), &template, &issuing.0, backlog, scale::REVOKED_EVERY, false).await?;
    let head = db.event_store().head().await?;
    drop(db);
    eprintln!("  seeded a log of {head} events");

    let (nats, nats_url) = start_nats(&scratch.join("nats"))?;
    procs::wait_ready_tcp(&nats_url).await?;
    let js = jetstream::new(async_nats::connect(&nats_url).await?);
    let started = Instant::now();
    let relay = Running(
        Command::new(binary)
            .args(["relay", "--nats-url", &nats_url, "--data-dir"])
            .arg(&data)
            .env("SHEDU_KEK", "5a".repeat(32))
            .env("SHEDU_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    while stream_messages(&js).await < head as u64 {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "the relay did not publish the backlog");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let relay_seconds = started.elapsed().as_secs_f64();
    drop(relay);
    eprintln!("  relay: {head} events in {relay_seconds:.1} s ({:.0}/s)", head as f64 / relay_seconds);

    // The scheduler's index over the backlog, then its memory armed, against an empty log's.
    let (_, rebuild_seconds, _) = scale::rebuild(binary, &data, None)?;
    let db = Database::open(&url).await?;
    let tracked = count_scheduled(&data).await?;
    let read = Instant::now();
    let first = shedu_projections::store::ViewStore::next_scheduled(db.views().as_ref(), 256).await?;
    let arm_read_ms = read.elapsed().as_secs_f64() * 1e3;
    drop(db);
    eprintln!(
        "  index: {tracked} expiries after a {rebuild_seconds:.1} s rebuild; first {} read in {arm_read_ms:.1} ms",
        first.len()
    );
    let scheduler_rss_tracked_mib = scheduler_rss(binary, &data).await?;
    let scheduler_rss_empty_mib = scheduler_rss(binary, &scratch.join("events-empty")).await?;
    eprintln!(
        "  scheduler RSS: {scheduler_rss_empty_mib:.1} MiB on an empty log, {scheduler_rss_tracked_mib:.1} MiB tracking {tracked}"
    );

    // Lag and delay under issuance.
    // Lag and delay under issuance, on a log of its own: the backlog's stream goes first, since
    // a relay resumes after the stream's last message, which names the backlog log's position.
    js.delete_stream("SHEDU_EVENTS").await?;
    let live = scratch.join("events-live");
    let server = procs::start_shedu_with(binary, &live, None, &["--nats-url", &nats_url]).await?;
    crate::setup(&server.base).await?;
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let profile = json!({"id": "brief", "name": "brief", "validity": {"type": "Duration", "duration": "15s"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]});
    anyhow::ensure!(post("/v2/profiles".into(), profile).await?.status().is_success(), "profile");
    let allow = json!({"profile_id": "device-1y", "allowed_profile_ids": ["brief"]});
    let put = client.put(format!("{}/v2/cas/issuing/profile", server.base)).header("content-type", "application/json");
    anyhow::ensure!(put.body(allow.to_string()).send().await?.status().is_success(), "allow brief");
    let (pems, _) = crate::csrs(64)?;
    let due = 500;
    for i in 0..due {
        let body = json!({"csr": pems[i % pems.len()], "profile_id": "brief"});
        anyhow::ensure!(post("/v2/cas/issuing/certificates/sign".into(), body).await?.status().is_success(), "brief");
    }
    let brief_issued = Instant::now();
    let lags = tokio::spawn(subscribe(js.clone(), cell + Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bodies: Arc<Vec<String>> = Arc::new(pems.iter().map(|p| json!({ "csr": p }).to_string()).collect());
    let url = format!("{}/v2/cas/issuing/certificates/sign", server.base);
    // The load runs across the instants the brief certificates fall due.
    let wait = Duration::from_secs(15).saturating_sub(brief_issued.elapsed() + cell / 2);
    tokio::time::sleep(wait).await;
    let load = crate::load::run(&url, bodies, crate::APPEND_CLIENTS, cell, server.pid()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.stop();
    let mut lags = lags.await??;
    let delays = expiry_delays(&live).await?;
    drop(nats);
    let (lag_p50_ms, lag_p99_ms) = (percentile(&mut lags, 0.50), percentile(&mut lags, 0.99));
    let mut sorted = delays.clone();
    let (delay_p50_ms, delay_p99_ms) = (percentile(&mut sorted, 0.50), percentile(&mut sorted, 0.99));
    let delay_max_ms = sorted.last().copied().unwrap_or(0.0);
    eprintln!(
        "  lag under {} clients ({:.0} certs/s): p50 {lag_p50_ms:.1} ms, p99 {lag_p99_ms:.1} ms over {} messages",
        crate::APPEND_CLIENTS,
        load.per_second,
        lags.len()
    );
    eprintln!(
        "  scheduler delay over {} expiries: p50 {delay_p50_ms:.1} ms, p99 {delay_p99_ms:.1} ms, max {delay_max_ms:.1} ms",
        delays.len()
    );
    Ok(EventsResult {
        backlog_events: head,
        relay_seconds,
        relay_events_per_second: head as f64 / relay_seconds,
        lag_clients: crate::APPEND_CLIENTS,
        lag_messages: lags.len(),
        lag_p50_ms,
        lag_p99_ms,
        issuance_per_second: load.per_second,
        tracked_expiries: tracked,
        arm_read_ms,
        scheduler_rss_empty_mib,
        scheduler_rss_tracked_mib,
        due: delays.len(),
        delay_p50_ms,
        delay_p99_ms,
        delay_max_ms,
    })
}

/// Receive time minus CloudEvent `time`, in ms, for every message published from now on.
async fn subscribe(js: jetstream::Context, within: Duration) -> anyhow::Result<Vec<f64>> {
    let stream = js.get_stream("SHEDU_EVENTS").await?;
    let inbox = js.client().new_inbox();
    let config =
        push::OrderedConfig { deliver_subject: inbox, deliver_policy: DeliverPolicy::New, ..Default::default() };
    let consumer = stream.create_consumer(config).await?;
    let mut messages = consumer.messages().await?;
    let deadline = tokio::time::Instant::now() + within;
    let mut lags = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, messages.next()).await {
        let received = OffsetDateTime::now_utc();
        let event: Value = serde_json::from_slice(&message.payload)?;
        if let Some(at) = event["time"].as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()) {
            lags.push((received - at).as_seconds_f64() * 1e3);
        }
    }
    Ok(lags)
}

/// For each `certificate.expired` in the log: when it was recorded minus `valid_to`, in ms.
async fn expiry_delays(data: &Path) -> anyhow::Result<Vec<f64>> {
    let db = Database::open(&format!("sqlite://{}", data.join("shedu.db").display())).await?;
    let store = db.event_store();
    let mut cursor = shedu_commands::event_store::LogCursor::START;
    let mut delays = Vec::new();
    loop {
        let batch = store.read_all(cursor, 5000).await?;
        let Some(last) = batch.last() else { break };
        cursor = last.cursor();
        for e in batch.iter().filter(|e| e.event_type == "certificate.expired") {
            let valid_to = e.data["valid_to"].as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            if let Some(valid_to) = valid_to {
                delays.push((e.recorded_at - valid_to).as_seconds_f64() * 1e3);
            }
        }
    }
    Ok(delays)
}

async fn count_scheduled(data: &Path) -> anyhow::Result<i64> {
    let url = format!("sqlite://{}", data.join("shedu.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM expiry_schedule").fetch_one(&mut conn).await?;
    Ok(n)
}

/// `shedu scheduler` on `data`: its resident memory 3 s after start (armed, idle).
async fn scheduler_rss(binary: &Path, data: &Path) -> anyhow::Result<f64> {
    std::fs::create_dir_all(data)?;
    let child = Running(
        Command::new(binary)
            .args(["scheduler", "--data-dir"])
            .arg(data)
            .env("SHEDU_KEK", "5a".repeat(32))
            .env("SHEDU_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap_or_default();
    Ok(procs::status_mib(&status, "VmRSS:"))
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}
