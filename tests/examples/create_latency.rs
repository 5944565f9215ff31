//! Single-client create-CA latency over HTTP, on SQLite and PostgreSQL:
//! `cargo run --release -p shedu-tests --example create_latency -- [count]`.
//! Each request creates a self-signed ECDSA P-256 root: key generation, signing, a durable append.

use std::time::{Duration, Instant};

use shedu_tests::{Backend, TestApp, ca_body};

#[tokio::main]
async fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(300);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn(backend).await;
        for i in 0..20 {
            app.create_ca(ca_body(&format!("warm-{i}"), None, "Warm", ("ECDSA", 256), "1y")).await;
        }
        let mut samples = Vec::with_capacity(count);
        let started = Instant::now();
        for i in 0..count {
            let t = Instant::now();
            let reply = app.create_ca(ca_body(&format!("ca-{i}"), None, "Latency Root", ("ECDSA", 256), "10y")).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            samples.push(t.elapsed());
        }
        let total = started.elapsed();
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{backend:?}: {count} creates, mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} CAs/s",
            ms(total) / count as f64,
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(samples[samples.len() - 1]),
            count as f64 / total.as_secs_f64()
        );
    }
}
