//! A closed-loop HTTP load client: `concurrency` workers, keep-alive connections, for a fixed
//! time; latency percentiles and the client's own CPU use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadResult {
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU seconds the load client itself used per wall second (2.0 = both cores).
    pub client_cpu: f64,
    /// The same for the server process (database processes not included).
    pub server_cpu: f64,
}

/// Sends POST `url` with bodies taken round-robin from `bodies`.
pub(crate) async fn run(
    url: &str,
    bodies: Arc<Vec<String>>,
    concurrency: usize,
    duration: Duration,
    server_pid: u32,
) -> LoadResult {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("http client");
    let server_stat = format!("/proc/{server_pid}/stat");
    let server_before = proc_stat_ticks(&server_stat).unwrap_or(0.0) / 100.0;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, url, bodies) = (client.clone(), url.to_owned(), bodies.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0;
            let mut i = w;
            while Instant::now() < deadline {
                let body = bodies[i % bodies.len()].clone();
                i += concurrency;
                let t = Instant::now();
                let ok = match client.post(&url).header("content-type", "application/json").body(body).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if ok {
                    samples.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (s, e) = worker.await.expect("worker");
        samples.extend(s);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let server_cpu = proc_stat_ticks(&server_stat).unwrap_or(0.0) / 100.0 - server_before;
    samples.sort();
    let pct = |p: f64| {
        samples
            .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    LoadResult {
        concurrency,
        requests: samples.len(),
        errors,
        seconds,
        per_second: samples.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        client_cpu: cpu / seconds,
        server_cpu: server_cpu / seconds,
    }
}

/// This process's user + system CPU time, from /proc (clock ticks of 1/100 s on Linux).
pub(crate) fn cpu_seconds() -> f64 {
    proc_stat_ticks("/proc/self/stat").unwrap_or(0.0) / 100.0
}

pub(crate) fn proc_stat_ticks(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
