//! Fetching and reading CRLs as a relying party would: over HTTP, through openssl.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{TestApp, openssl};

/// The CA's CRL as served (DER), written to `<file>.der` and `<file>.pem`.
pub async fn fetch_crl(app: &TestApp, dir: &Path, ca: &str, query: &str, file: &str) -> Vec<u8> {
    let reply = app.client.get(format!("{}/v2/cas/{ca}/crl{query}", app.base)).send().await.unwrap();
    assert_eq!(reply.status(), 200, "{}", ca);
    assert_eq!(reply.headers()["content-type"], "application/pkix-crl");
    let der = reply.bytes().await.unwrap().to_vec();
    std::fs::write(dir.join(format!("{file}.der")), &der).unwrap();
    let (ok, out) =
        openssl(&["crl", "-inform", "DER", "-in", &format!("{file}.der"), "-out", &format!("{file}.pem")], dir);
    assert!(ok, "openssl crl: {out}");
    der
}

/// openssl's reading of a CRL file (text).
pub fn crl_text(dir: &Path, file: &str) -> String {
    let (ok, text) = openssl(&["crl", "-in", &format!("{file}.pem"), "-noout", "-text"], dir);
    assert!(ok, "{text}");
    text
}

/// Fetches the CRL until `done` holds of openssl's reading of it; returns that reading.
pub async fn crl_until(app: &TestApp, dir: &Path, ca: &str, query: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        fetch_crl(app, dir, ca, query, "polled").await;
        let text = crl_text(dir, "polled");
        if done(&text) {
            return text;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the CRL of {ca} never got there:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// openssl prints serials in upper-case hex.
pub fn listed(text: &str, serial: &str) -> bool {
    text.to_ascii_uppercase().contains(&format!("SERIAL NUMBER: {}", serial.to_ascii_uppercase()))
}

pub fn crl_number(text: &str) -> u64 {
    let after = text.split("X509v3 CRL Number:").nth(1).expect("a CRL number");
    after.split_whitespace().next().unwrap().parse().unwrap()
}
