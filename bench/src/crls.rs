//! Revocation publishing (issue 13): how long a CRL of a CA with many revoked certificates takes
//! to publish, and how long a revocation takes to reach the CRL a relying party downloads.
//!
//! - Generation: N certificates under one issuing CA, every one revoked, seeded through the
//!   event-log port and projected by `shedu projections rebuild`; then the CRL service publishes
//!   the full CRL in-process, as the publisher does (read the revocation view, build the DER, sign
//!   in the software engine, append `crl.published`, keep the DER), five times.
//! - Revocation → CRL: `shedu serve` on that log; certificates issued over HTTP under a second,
//!   quiet CA and under the big one are revoked one at a time, and a client polls the CRL (its
//!   ETag, then the DER) until the serial is on it; the time from the revocation's response.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use shedu_commands::clock::SystemClock;
use shedu_commands::context::CommandContext;
use shedu_commands::crl_service::{CrlService, CrlValidity};
use shedu_domain::crl::CrlKind;
use shedu_domain::ids::CaId;
use shedu_infra::Database;
use shedu_infra::config::build_engines;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{procs, scale};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CrlResult {
    pub backend: &'static str,
    pub revoked: usize,
    pub crl_bytes: usize,
    pub generation_p50_ms: f64,
    pub generation_max_ms: f64,
    pub quiet_ca_p50_ms: f64,
    pub quiet_ca_max_ms: f64,
    pub busy_ca_p50_ms: f64,
    pub busy_ca_max_ms: f64,
    pub revocations_timed: usize,
}

const GENERATIONS: usize = 5;

pub(crate) async fn run(
    binary: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    backend: &'static str,
    revoked: usize,
    revocations: usize,
) -> anyhow::Result<CrlResult> {
    let server = procs::start_shedu(binary, data_dir, database_url).await?;
    // One root, two issuing CAs: "issuing-0" gets the revoked certificates, "issuing-1" stays quiet.
    let issuing = scale::create_cas(&server.base, 3).await?;
    let template = scale::sign_one(&server.base, &issuing[0]).await?;
    server.stop();

    let url = database_url.map_or_else(|| format!("sqlite://{}", data_dir.join("shedu.db").display()), str::to_owned);
    let db = Database::open(&url).await?;
    let store = db.event_store();
    let template = store.read_stream(&format!("certificate-{template}")).await?.remove(0).data;
    scale::seed_certificates(store.clone(), &template, &issuing[..1], revoked, 1, database_url.is_some()).await?;
    let (events, seconds, _) = scale::rebuild(binary, data_dir, database_url)?;
    eprintln!("  seeded {revoked} revoked certificates; rebuilt {events} events in {seconds:.1} s");

    let engines = build_engines(&[], data_dir).map_err(anyhow::Error::msg)?;
    let crls = CrlService::new(store, db.crl_store(), Arc::new(engines), Arc::new(SystemClock), CrlValidity::default());
    let ctx = CommandContext { actor: "shedu-bench".into(), correlation_id: "crl".into(), request_key: None };
    let busy = CaId::parse(&issuing[0])?;
    let mut generation = Vec::new();
    let mut crl_bytes = 0;
    for _ in 0..GENERATIONS {
        let started = Instant::now();
        let document = crls.publish(&ctx, &busy, CrlKind::Full).await?;
        generation.push(started.elapsed().as_secs_f64() * 1000.0);
        crl_bytes = document.der.len();
        let (_, crl) = CertificateRevocationList::from_der(&document.der).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(crl.iter_revoked_certificates().count() == revoked, "the CRL lists every revocation");
    }
    // Where a CRL's time goes: reading the revocation view, and building the DER to sign.
    let started = Instant::now();
    let (_, records) = db.crl_store().revocations(&busy, None, time::OffsetDateTime::now_utc()).await?;
    let read_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let entries = shedu_domain::crl::entries(&records, None, time::OffsetDateTime::now_utc());
    let header = shedu_commands::x509::crl::CrlHeader {
        issuer_name: &[0x30, 0x00],
        authority_key_id: &[0; 20],
        number: 1,
        base_number: None,
        this_update: time::OffsetDateTime::now_utc(),
        next_update: time::OffsetDateTime::now_utc() + time::Duration::days(7),
    };
    let spec = shedu_domain::key::KeySpec::parse("ECDSA", 256)?;
    shedu_commands::x509::crl::tbs(&header, &entries, spec)?;
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(db);
    eprintln!("  full CRL of {revoked} entries ({crl_bytes} bytes): p50 {:.0} ms", percentile(&mut generation, 0.5));
    eprintln!("    of which: revocation view read {read_ms:.0} ms, DER built {build_ms:.0} ms");

    let server = procs::start_shedu(binary, data_dir, database_url).await?;
    let quiet = revocation_to_crl(&server.base, &issuing[1], revocations).await?;
    eprintln!("  revocation → CRL, quiet CA: p50 {:.0} ms", percentile(&mut quiet.clone(), 0.5));
    let busy_delays = revocation_to_crl(&server.base, &issuing[0], revocations).await?;
    eprintln!("  revocation → CRL, CA with {revoked} revoked: p50 {:.0} ms", percentile(&mut busy_delays.clone(), 0.5));
    server.stop();
    let (mut quiet, mut busy_delays) = (quiet, busy_delays);
    Ok(CrlResult {
        backend,
        revoked,
        crl_bytes,
        generation_p50_ms: percentile(&mut generation, 0.5),
        generation_max_ms: percentile(&mut generation, 1.0),
        quiet_ca_p50_ms: percentile(&mut quiet, 0.5),
        quiet_ca_max_ms: percentile(&mut quiet, 1.0),
        busy_ca_p50_ms: percentile(&mut busy_delays, 0.5),
        busy_ca_max_ms: percentile(&mut busy_delays, 1.0),
        revocations_timed: revocations,
    })
}

/// Issues `count` certificates under `ca`, then revokes them one at a time; for each, the time
/// from the revocation's response until the CRL served lists it (ms).
async fn revocation_to_crl(base: &str, ca: &str, count: usize) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let mut serials = Vec::new();
    for _ in 0..count {
        serials.push(scale::sign_one(base, ca).await?);
    }
    let crl_url = format!("{base}/v2/cas/{ca}/crl");
    let mut etag = String::new();
    let mut delays = Vec::new();
    for serial in serials {
        let reply = client
            .post(format!("{base}/v2/certificates/{serial}/status"))
            .header("content-type", "application/json")
            .body(json!({"status": "REVOKED", "revocation_reason": "KeyCompromise"}).to_string())
            .send()
            .await?;
        anyhow::ensure!(reply.status().is_success(), "revoke: {}", reply.status());
        let revoked_at = Instant::now();
        let wanted = hex::decode(format!("{serial:0>2}"))?;
        loop {
            anyhow::ensure!(revoked_at.elapsed() < Duration::from_secs(30), "the CRL never listed {serial}");
            let head = client.head(&crl_url).send().await?;
            let now_tag = head.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            if now_tag != etag {
                let der = client.get(&crl_url).send().await?.bytes().await?;
                etag = now_tag;
                let (_, crl) = CertificateRevocationList::from_der(&der).map_err(|e| anyhow::anyhow!("{e}"))?;
                let listed = crl.iter_revoked_certificates().any(|r| trimmed(r.raw_serial()) == trimmed(&wanted));
                if listed {
                    delays.push(revoked_at.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(delays)
}

fn trimmed(serial: &[u8]) -> &[u8] {
    let first = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    &serial[first..]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}
