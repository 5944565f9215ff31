//! Signing throughput and mass revocation, over HTTP, on SQLite and PostgreSQL:
//! `cargo run --release -p shedu-tests --example issuance_throughput -- [sequential] [concurrent] [mass]`
//! (defaults 1000, 4000, 10000). ECDSA P-256 issuing CA, one pre-generated P-256 CSR, profile
//! device-1y. Client and server share the machine's two cores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shedu_tests::{Backend, TestApp, ca_body};

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn setup(app: &TestApp, ca: &str) {
    let profile = json!({"id": "device-1y", "name": "Device", "validity": {"type": "Duration", "duration": "1y"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]});
    app.create_profile(profile).await;
    if app.ca("root").await.status != 200 {
        assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "20y")).await.status, 201);
    }
    let mut body = ca_body(ca, Some("root"), "Issuing", ("ECDSA", 256), "10y");
    body["profile_id"] = json!("device-1y");
    assert_eq!(app.create_ca(body).await.status, 201);
}

/// Signs `total` certificates with `clients` concurrent clients; returns per-request latencies and
/// the wall time.
async fn storm(app: &Arc<TestApp>, ca: &str, csr: &str, total: usize, clients: usize) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let app = app.clone();
        let (ca, csr) = (ca.to_owned(), csr.to_owned());
        let share = total / clients + usize::from(c < total % clients);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(share);
            for _ in 0..share {
                let t = Instant::now();
                let reply = app.sign(&ca, json!({ "csr": csr })).await;
                assert_eq!(reply.status, 201, "{}", reply.text);
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("client"));
    }
    (samples, started.elapsed())
}

fn report(label: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{label}: {} certs in {:.2} s = {:.0} certs/s, p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}

#[tokio::main]
async fn main() {
    let (sequential, concurrent, mass) = (arg(1, 1000), arg(2, 4000), arg(3, 10_000));
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["device.example.test".to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "device.example.test");
    let csr = params.serialize_request(&key).expect("csr").pem().expect("pem");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = Arc::new(TestApp::spawn(backend).await);
        setup(&app, "issuing").await;
        storm(&app, "issuing", &csr, 50, 1).await;
        let (samples, wall) = storm(&app, "issuing", &csr, sequential, 1).await;
        report(&format!("{backend:?} sequential"), samples, wall);
        let (samples, wall) = storm(&app, "issuing", &csr, concurrent, 16).await;
        report(&format!("{backend:?} 16 clients"), samples, wall);

        setup(&app, "mass").await;
        let (samples, wall) = storm(&app, "mass", &csr, mass, 16).await;
        report(&format!("{backend:?} filling 'mass'"), samples, wall);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let reply = app.set_status("mass", "REVOKED", Some("KeyCompromise")).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let answered = started.elapsed();
        let position = reply.position();
        let query = format!(
            "/v2/certificates?min_position={position}&filter=issuer_metadata.id[eq]mass&filter=status[eq]REVOKED&page_size=1000"
        );
        let mut revoked = 0;
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(b) => format!(
                    "/v2/certificates?filter=issuer_metadata.id[eq]mass&filter=status[eq]REVOKED&page_size=1000&bookmark={b}"
                ),
                None => query.clone(),
            };
            let page = app.get(&path).await.json();
            revoked += page["list"].as_array().map_or(0, Vec::len);
            match page["next"].as_str() {
                Some(b) => next = Some(b.to_owned()),
                None => break,
            }
        }
        println!(
            "{backend:?} revoke CA with {mass} certificates: response in {:.2} s, {revoked} shown REVOKED in the views after {:.2} s",
            answered.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
}
