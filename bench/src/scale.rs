//! Scale: a log holding many CAs and certificates. How long `shedu projections rebuild` takes,
//! how long a restart takes to be ready, and how fast list pages and statistics answer.
//!
//! The CAs are created over HTTP (real keys and certificates). The certificates are seeded
//! straight through the event-log port, in batches: each is a copy of one real issuance event
//! with its own serial number, subject and issuing CA — signing a million CSRs over HTTP would
//! take longer than the rest of the harness together, and what is measured here is the log and
//! the views, not signing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use shedu_commands::event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamWrite};
use shedu_domain::aggregate::DomainEvent;
use shedu_domain::issued::{CertificateEvent, CertificateStatusChanged};
use shedu_domain::status::{Revocation, RevocationReason, Status};
use shedu_infra::Database;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

use crate::procs::{self, Server};

/// One CA in this many is a root; the others are issuing CAs spread over the roots.
const CAS_PER_ROOT: usize = 100;
/// One certificate in this many is revoked, so status filters have something to find.
pub(crate) const REVOKED_EVERY: usize = 100;
/// One certificate in this many comes from the first issuing CA: a busy CA beside typical ones.
const BUSY_SHARE: usize = 10;
const SEED_BATCH: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    pub cas: usize,
    pub certificates: usize,
    pub requests_per_query: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueryResult {
    pub name: &'static str,
    pub path: String,
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScaleResult {
    pub cas: usize,
    pub certificates: usize,
    pub events: u64,
    pub seed_seconds: f64,
    pub rebuild_seconds: f64,
    pub rebuild_events_per_second: f64,
    pub rebuild_peak_rss_mib: f64,
    pub ready_after_s: f64,
    pub queries: Vec<QueryResult>,
    pub server_idle_rss_mib: f64,
    pub server_peak_rss_mib: f64,
}

pub(crate) async fn run(
    binary: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    size: Size,
) -> anyhow::Result<ScaleResult> {
    let seeding = Instant::now();
    let server = procs::start_shedu(binary, data_dir, database_url).await?;
    let issuing = create_cas(&server.base, size.cas).await?;
    let template = sign_one(&server.base, &issuing[0]).await?;
    server.stop();

    let url = database_url.map_or_else(|| format!("sqlite://{}", data_dir.join("shedu.db").display()), str::to_owned);
    let db = Database::open(&url).await?;
    let store = db.event_store();
    let template = store
        .read_stream(&format!("certificate-{template}"))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the signed certificate is not in the log"))?
        .data;
    seed_certificates(store, &template, &issuing, size.certificates, REVOKED_EVERY, database_url.is_some()).await?;
    drop(db);
    let seed_seconds = seeding.elapsed().as_secs_f64();
    eprintln!("  seeded {} CAs and {} certificates in {seed_seconds:.0} s", size.cas, size.certificates);

    let (events, rebuild_seconds, rebuild_peak_rss_mib) = rebuild(binary, data_dir, database_url)?;
    eprintln!("  rebuild: {events} events in {rebuild_seconds:.1} s, peak RSS {rebuild_peak_rss_mib:.0} MiB");

    let started = Instant::now();
    let server = procs::start_shedu(binary, data_dir, database_url).await?;
    wait_until_ready(&server.base).await?;
    let ready_after_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_idle_rss_mib = server.rss_mib().0;
    let queries = queries(&server, &issuing, size, size.requests_per_query).await?;
    let server_peak_rss_mib = server.rss_mib().1;
    server.stop();
    Ok(ScaleResult {
        cas: size.cas,
        certificates: size.certificates,
        events,
        seed_seconds,
        rebuild_seconds,
        rebuild_events_per_second: events as f64 / rebuild_seconds.max(1e-9),
        rebuild_peak_rss_mib,
        ready_after_s,
        queries,
        server_idle_rss_mib,
        server_peak_rss_mib,
    })
}

/// Roots first, then issuing CAs under them, 16 requests at a time; returns the issuing CA ids.
pub(crate) async fn create_cas(base: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client.post(format!("{base}{path}")).header("content-type", "application/json").body(body.to_string()).send()
    };
    anyhow::ensure!(post("/v2/profiles", device_profile()).await?.status().is_success(), "profile");
    let roots = count.div_ceil(CAS_PER_ROOT);
    let body = |id: String, parent: Option<String>, duration: &str| {
        json!({"id": id, "parent_id": parent, "subject": {"common_name": id, "organization": "Bench"},
            "profile_id": "device-1y", "key_metadata": {"type": "ECDSA", "bits": 256},
            "ca_expiration": {"type": "Duration", "duration": duration}})
    };
    let root_bodies: Vec<Value> = (0..roots).map(|r| body(format!("root-{r}"), None, "20y")).collect();
    post_all(base, root_bodies).await?;
    let issuing: Vec<String> = (0..count - roots).map(|i| format!("issuing-{i}")).collect();
    let issuing_bodies = issuing
        .iter()
        .enumerate()
        .map(|(i, id)| body(id.clone(), Some(format!("root-{}", i % roots)), "10y"))
        .collect();
    post_all(base, issuing_bodies).await?;
    Ok(issuing)
}

/// The issuance profile every benchmarked CA signs with.
pub(crate) fn device_profile() -> Value {
    json!({"id": "device-1y", "name": "Device", "validity": {"type": "Duration", "duration": "1y"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]})
}

async fn post_all(base: &str, bodies: Vec<Value>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for body in bodies {
        let (client, url, permit) = (client.clone(), format!("{base}/v2/cas"), permits.clone().acquire_owned().await?);
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let reply =
                client.post(url).header("content-type", "application/json").body(body.to_string()).send().await?;
            anyhow::ensure!(reply.status().is_success(), "create CA: {}", reply.text().await.unwrap_or_default());
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Signs one CSR and returns the certificate's serial number.
pub(crate) async fn sign_one(base: &str, ca: &str) -> anyhow::Result<String> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec!["template.example.test".to_owned()])?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "template.example.test");
    let csr = params.serialize_request(&key)?.pem()?;
    let reply = reqwest::Client::new()
        .post(format!("{base}/v2/cas/{ca}/certificates/sign"))
        .header("content-type", "application/json")
        .body(json!({ "csr": csr }).to_string())
        .send()
        .await?;
    anyhow::ensure!(reply.status().is_success(), "sign: {}", reply.status());
    let signed: Value = reply.json().await?;
    signed["serial_number"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no serial_number"))
}

/// Appends `count` certificates in batches of a thousand streams per append; one in
/// `revoked_every` is revoked in the same write. PostgreSQL takes four appenders at once.
pub(crate) async fn seed_certificates(
    store: Arc<dyn EventStore>,
    template: &Value,
    issuing: &[String],
    count: usize,
    revoked_every: usize,
    parallel: bool,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(if parallel { 4 } else { 1 }));
    let mut tasks = Vec::new();
    let now = OffsetDateTime::now_utc();
    let seeded_at = now.replace_nanosecond(now.microsecond() * 1000).unwrap_or(now);
    for start in (0..count).step_by(SEED_BATCH) {
        let writes: Vec<StreamWrite> = (start..(start + SEED_BATCH).min(count))
            .map(|i| certificate_write(template, issuing, i, count, revoked_every, seeded_at))
            .collect();
        let (store, permit) = (store.clone(), permits.clone().acquire_owned().await?);
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            store.append(AppendRequest { writes, guards: Vec::new() }).await
        }));
        if tasks.len() >= 8 {
            tasks.remove(0).await??;
        }
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// The `i`-th of `count` seeded certificates: a random serial (as Shedu issues them), issued
/// `count - i` seconds before the seeding started and valid for a year, by the busy CA one time
/// in ten and otherwise by the issuing CAs in turn.
fn certificate_write(
    template: &Value,
    issuing: &[String],
    i: usize,
    count: usize,
    revoked_every: usize,
    seeded_at: OffsetDateTime,
) -> StreamWrite {
    let serial = format!("5e{}", uuid::Uuid::new_v4().simple());
    let ca = if i.is_multiple_of(BUSY_SHARE) { &issuing[0] } else { &issuing[i % issuing.len()] };
    let at = seeded_at - time::Duration::seconds((count - i) as i64);
    let rfc3339 = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut data = template.clone();
    data["at"] = json!(rfc3339(at));
    data["certificate"]["serial_number"] = json!(serial);
    data["certificate"]["subject"]["common_name"] = json!(format!("device-{i}.example.test"));
    data["certificate"]["issuer"]["common_name"] = json!(ca);
    data["certificate"]["valid_from"] = json!(rfc3339(at));
    data["certificate"]["valid_to"] = json!(rfc3339(at + time::Duration::days(365)));
    data["issuer_metadata"]["id"] = json!(ca);
    let mut events = vec![new_event("ca.sign.certificate", data, seeded_at)];
    if i % revoked_every == revoked_every - 1 {
        let revoked = CertificateEvent::StatusChanged(CertificateStatusChanged {
            status: Status::Revoked,
            previous: Status::Active,
            revocation: Some(Revocation::new(RevocationReason::KeyCompromise, at)),
            cascaded_from: None,
            at,
        });
        events.push(new_event(revoked.event_type(), revoked.to_data(), seeded_at));
    }
    StreamWrite { stream_id: format!("certificate-{serial}"), expected: ExpectedVersion::NoStream, events }
}

fn new_event(event_type: &str, data: Value, at: OffsetDateTime) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        data,
        metadata: EventMetadata {
            actor: "shedu-bench-seed".into(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            causation_id: None,
        },
        recorded_at: at,
    }
}

/// Runs `shedu projections rebuild`; returns (events, seconds, peak RSS in MiB).
pub(crate) fn rebuild(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<(u64, f64, f64)> {
    let mut command = Command::new(binary);
    command.args(["projections", "rebuild", "--data-dir"]).arg(data_dir).env("SHEDU_LOG", "error");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0.0_f64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = peak.max(procs::status_mib(&std::fs::read_to_string(&status_file).unwrap_or_default(), "VmHWM:"));
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped stdout"), &mut out)?;
    anyhow::ensure!(status.success(), "shedu projections rebuild failed: {out}");
    // "rebuilt the views from N event(s) in …"
    let events = out.split_whitespace().find_map(|w| w.parse::<u64>().ok()).unwrap_or(0);
    Ok((events, seconds, peak))
}

async fn wait_until_ready(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/ready")).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("{base}/ready stayed unready for 10 minutes")
}

/// A query's path for its `i`-th request.
type PathFor<'a> = Box<dyn Fn(usize) -> String + 'a>;

/// One client, keep-alive, each query `n` times after a short warm-up. Where a query names a CA
/// or a certificate, each request names another, so one cached answer cannot carry the figure.
async fn queries(server: &Server, issuing: &[String], size: Size, n: usize) -> anyhow::Result<Vec<QueryResult>> {
    // Spread over the whole keyspace: consecutive requests land far apart.
    let spread = |i: usize, range: usize| (i.wrapping_mul(7919) + 13) % range.max(1);
    let cases: Vec<(&'static str, String, PathFor<'_>)> = vec![
        (
            "revoked certificates, first page of 50",
            "/v2/certificates?filter=status[eq]REVOKED&page_size=50".into(),
            Box::new(|_| "/v2/certificates?filter=status[eq]REVOKED&page_size=50".into()),
        ),
        (
            "the busy CA's active certificates, first page of 50",
            format!("/v2/cas/{}/certificates?filter=status[eq]ACTIVE&page_size=50", issuing[0]),
            Box::new(|_| format!("/v2/cas/{}/certificates?filter=status[eq]ACTIVE&page_size=50", issuing[0])),
        ),
        (
            "a typical CA's active certificates, first page of 50",
            "/v2/cas/{issuing-k}/certificates?filter=status[eq]ACTIVE&page_size=50".into(),
            Box::new(move |i| {
                let ca = &issuing[1 + spread(i, issuing.len() - 1)];
                format!("/v2/cas/{ca}/certificates?filter=status[eq]ACTIVE&page_size=50")
            }),
        ),
        (
            "a certificate by common name",
            "/v2/certificates?filter=subject.common_name[eq]device-{k}.example.test".into(),
            Box::new(move |i| {
                let k = spread(i, size.certificates);
                format!("/v2/certificates?filter=subject.common_name[eq]device-{k}.example.test")
            }),
        ),
        (
            "issuing CAs (level 1), first page of 50",
            "/v2/cas?filter=level[eq]1&page_size=50".into(),
            Box::new(|_| "/v2/cas?filter=level[eq]1&page_size=50".into()),
        ),
        ("statistics", "/v2/stats/cas".into(), Box::new(|_| "/v2/stats/cas".into())),
    ];
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for (name, shown, path_for) in cases {
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let path = path_for(i);
            let t = Instant::now();
            let reply = client.get(format!("{}{path}", server.base)).send().await?;
            let ok = reply.status().is_success();
            let body = reply.text().await?;
            anyhow::ensure!(ok, "{path}: {body}");
            if i >= n / 10 {
                samples.push(t.elapsed());
            }
        }
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3;
        let result = QueryResult { name, path: shown, requests: samples.len(), p50_ms: pct(0.5), p99_ms: pct(0.99) };
        eprintln!("  {name}: p50 {:.2} ms, p99 {:.2} ms", result.p50_ms, result.p99_ms);
        results.push(result);
    }
    Ok(results)
}
