//! Raw command throughput: JSON Patch metadata updates, each on its own CA (no contention), at a
//! fixed concurrency; and pgbench inserting one event-shaped row per transaction, for reference.

use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AppendResult {
    pub clients: usize,
    pub commands_per_second: f64,
    pub p99_ms: f64,
}

/// Creates one CA per client (ECDSA P-256 roots), then each client patches its CA for `duration`.
pub(crate) async fn metadata_patches(base: &str, clients: usize, duration: Duration) -> anyhow::Result<AppendResult> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    for c in 0..clients {
        let body = json!({"id": format!("append-{c}"), "subject": {"common_name": format!("Append {c}")},
            "key_metadata": {"type": "ECDSA", "bits": 256}, "ca_expiration": {"type": "Duration", "duration": "1y"}});
        let reply = client
            .post(format!("{base}/v2/cas"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        anyhow::ensure!(reply.status().is_success(), "create CA for the append benchmark: {}", reply.status());
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..clients {
        let (client, url) = (client.clone(), format!("{base}/v2/cas/append-{c}/metadata"));
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                // A new value every time: an unchanged document would append nothing.
                let body = json!([{"op": "add", "path": "/n", "value": n}]).to_string();
                let t = Instant::now();
                let ok = client
                    .patch(&url)
                    .header("content-type", "application/json-patch+json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    samples.push(t.elapsed());
                }
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    samples.sort();
    let p99 = samples.get((samples.len() as f64 * 0.99) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    Ok(AppendResult { clients, commands_per_second: samples.len() as f64 / seconds, p99_ms: p99 })
}

/// pgbench, `clients` connections, one INSERT per transaction into a table shaped like `events`.
pub(crate) fn pgbench(
    database_url: &str,
    clients: usize,
    duration: Duration,
    scratch: &std::path::Path,
) -> anyhow::Result<f64> {
    let ddl = "CREATE TABLE bench_events (position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
        tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(), event_id UUID NOT NULL UNIQUE, stream_id TEXT NOT NULL, \
        stream_version BIGINT NOT NULL, event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, data JSON NOT NULL, \
        metadata JSON NOT NULL, recorded_at_us BIGINT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL, \
        UNIQUE (stream_id, stream_version)); CREATE INDEX ON bench_events (tx_id, position);";
    let status = Command::new("psql").args([database_url, "-qc", ddl]).status()?;
    anyhow::ensure!(status.success(), "psql create table");
    let script = scratch.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, \
         recorded_at_us, prev_hash, hash) VALUES (gen_random_uuid(), 'ca-' || gen_random_uuid(), 1, 'ca.metadata.update', 1, \
         '{\"patch\":[{\"op\":\"add\",\"path\":\"/n\",\"value\":1}],\"metadata\":{\"n\":1},\"at\":\"2026-11-27T00:00:00Z\"}', \
         '{\"actor\":\"anonymous\",\"correlation_id\":\"0192f000-0000-7000-8000-000000000000\",\"causation_id\":null}', \
         1795700000000000, decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'));\n",
    )?;
    let output = Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(&script)
        .arg(database_url)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("pgbench printed no tps: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
