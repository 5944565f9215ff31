//! Query latency under the issuance load: one client lists a CA's certificates, each list right
//! after a write of its own (a metadata patch), while `signers` clients sign through the same
//! server. Since issue 10 a list waits until the views include every write the server had
//! acknowledged when it arrived; this measures what that costs, and whether the list showed the
//! client's own write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{self, LoadResult};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Latency {
    pub requests: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Lists that did not show the client's own write made just before.
    pub stale: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ListResult {
    pub idle: Latency,
    pub under_load: Latency,
    pub signers: usize,
    pub signing: LoadResult,
}

pub(crate) async fn under_issuance(
    base: &str,
    sign_bodies: Arc<Vec<String>>,
    signers: usize,
    duration: Duration,
    server_pid: u32,
) -> ListResult {
    let idle = lists(base, duration).await;
    let sign_url = format!("{base}/v2/cas/issuing/certificates/sign");
    let load = tokio::spawn(async move { load::run(&sign_url, sign_bodies, signers, duration, server_pid).await });
    let under_load = lists(base, duration).await;
    let signing = load.await.expect("signing load");
    ListResult { idle, under_load, signers, signing }
}

/// For `duration`: patch the root CA's metadata (this client's own write), then list CAs; the
/// root in the list must show the value just written.
async fn lists(base: &str, duration: Duration) -> Latency {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + duration;
    let (mut samples, mut errors, mut stale) = (Vec::new(), 0, 0);
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let patch = serde_json::json!([{"op": "add", "path": "/bench-round", "value": n}]);
        let patched = client
            .patch(format!("{base}/v2/cas/root/metadata"))
            .header("content-type", "application/json-patch+json")
            .body(patch.to_string())
            .send()
            .await;
        if !patched.is_ok_and(|r| r.status().is_success()) {
            errors += 1;
            continue;
        }
        let started = Instant::now();
        // "root" sorts after "issuing" and the append phase's "append-N" CAs: first, descending.
        let listed = client.get(format!("{base}/v2/cas?page_size=10&sort_by=id&sort_mode=desc")).send().await;
        let body: Option<serde_json::Value> = match listed {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        let Some(body) = body else {
            errors += 1;
            continue;
        };
        samples.push(started.elapsed());
        let root = body["list"].as_array().and_then(|l| l.iter().find(|ca| ca["id"] == "root"));
        if root.is_none_or(|root| root["metadata"]["bench-round"] != n) {
            stale += 1;
        }
    }
    samples.sort();
    let pct = |p: f64| {
        samples
            .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Latency { requests: samples.len(), errors, p50_ms: pct(0.5), p99_ms: pct(0.99), stale }
}
