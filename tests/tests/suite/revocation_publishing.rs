//! CRLs as relying parties see them: fetched over HTTP, checked by openssl and pkilint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shedu_commands::clock::ManualClock;
use shedu_tests::crls::{crl_number, crl_text, crl_until, fetch_crl, listed};
use shedu_tests::{
    Backend, TestApp, both_backends, ca_body, openssl, openssl_csr, pkilint, pkilint_crl, read_log, temp_dir,
};
use time::OffsetDateTime;

both_backends!(crls_list_revocations_as_openssl_and_pkilint_check_them);

const PUBLIC_URL: &str = "http://pki.example.test";

fn device_1y() -> Value {
    json!({"id": "device-1y", "name": "Device identity, 1 year", "validity": {"type": "Duration", "duration": "1y"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]})
}

/// Root → issuing CA with default profile device-1y.
async fn pki(app: &TestApp) {
    assert_eq!(app.create_profile(device_1y()).await.status, 201);
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 384), "20y")).await.status, 201);
    let mut issuing = ca_body("issuing", Some("root"), "Issuing", ("ECDSA", 256), "10y");
    issuing["profile_id"] = json!("device-1y");
    let reply = app.create_ca(issuing).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// Signs a fresh openssl key's request under `ca`; writes `<name>.pem`; returns the serial.
async fn issue(app: &TestApp, dir: &Path, ca: &str, name: &str) -> String {
    let csr = openssl_csr(dir, name, "ec:P-256", &format!("{name}.example.test"), &format!("DNS:{name}.example.test"));
    let reply = app.sign(ca, json!({ "csr": csr })).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    std::fs::write(dir.join(format!("{name}.pem")), body["certificate"].as_str().unwrap()).unwrap();
    body["serial_number"].as_str().unwrap().to_owned()
}

async fn crls_list_revocations_as_openssl_and_pkilint_check_them(backend: Backend) {
    let mut app = TestApp::unstarted(backend, vec![], Arc::new(shedu_commands::clock::SystemClock)).await;
    app.public_base_url = Some(PUBLIC_URL.into());
    app.try_start().await.unwrap();
    pki(&app).await;
    let dir = temp_dir("crl");
    let root = app.ca("root").await.json()["certificate"]["certificate"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("root.pem"), &root).unwrap();
    // The caIssuers target: the CA certificate in DER, and in PEM on request.
    let reply = app.client.get(format!("{}/v2/cas/issuing/certificate", app.base)).send().await.unwrap();
    assert_eq!(reply.headers()["content-type"], "application/pkix-cert");
    std::fs::write(dir.join("issuing.der"), reply.bytes().await.unwrap()).unwrap();
    let (ok, out) = openssl(&["x509", "-inform", "DER", "-in", "issuing.der", "-out", "issuing.pem"], &dir);
    assert!(ok, "{out}");
    let pem = app.get("/v2/cas/issuing/certificate?format=pem").await;
    assert_eq!(pem.text, std::fs::read_to_string(dir.join("issuing.pem")).unwrap());

    let (compromised, held, good) = (
        issue(&app, &dir, "issuing", "compromised").await,
        issue(&app, &dir, "issuing", "held").await,
        issue(&app, &dir, "issuing", "good").await,
    );
    // Issued certificates say where their issuer's CRL and certificate are.
    let (ok, leaf) = openssl(&["x509", "-in", "good.pem", "-noout", "-text"], &dir);
    assert!(ok);
    assert!(leaf.contains(&format!("URI:{PUBLIC_URL}/v2/cas/issuing/crl")), "{leaf}");
    assert!(leaf.contains(&format!("CA Issuers - URI:{PUBLIC_URL}/v2/cas/issuing/certificate")), "{leaf}");
    assert!(pkilint(&dir, &std::fs::read_to_string(dir.join("good.pem")).unwrap()).is_empty());

    let revoke =
        json!({"status": "REVOKED", "revocation_reason": "KeyCompromise", "invalidity_date": "1969-12-31T23:59:59Z"});
    let reply = app
        .client
        .post(format!("{}/v2/certificates/{compromised}/status", app.base))
        .json(&revoke)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
    assert_eq!(app.set_certificate_status(&held, "REVOKED", Some("CertificateHold")).await.status, 200);
    let text = crl_until(&app, &dir, "issuing", "", |t| listed(t, &compromised) && listed(t, &held)).await;
    assert!(text.contains("Key Compromise") && text.contains("Certificate Hold"), "{text}");
    // A date before 1970 too: written as a GeneralizedTime.
    assert!(text.contains("Invalidity Date") && text.contains("Dec 31 23:59:59 1969 GMT"), "{text}");
    assert!(!listed(&text, &good), "{text}");
    let first = crl_number(&text);

    // openssl checks the CRL's signature, and the certificates against it.
    std::fs::copy(dir.join("polled.pem"), dir.join("crl.pem")).unwrap();
    let (ok, out) = openssl(&["crl", "-in", "crl.pem", "-noout", "-CAfile", "issuing.pem"], &dir);
    assert!(ok && out.contains("verify OK"), "{out}");
    let verify = |leaf: &str| {
        openssl(
            &[
                "verify",
                "-x509_strict",
                "-crl_check",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
                "-CRLfile",
                "crl.pem",
                leaf,
            ],
            &dir,
        )
    };
    let (ok, out) = verify("compromised.pem");
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = verify("good.pem");
    assert!(ok, "{out}");
    assert_eq!(pkilint_crl(&dir, "crl.der"), "", "pkilint on the CRL");

    // Lifting the hold takes the certificate off the next CRL.
    assert_eq!(app.set_certificate_status(&held, "ACTIVE", None).await.status, 200);
    let text = crl_until(&app, &dir, "issuing", "", |t| !listed(t, &held)).await;
    assert!(listed(&text, &compromised) && crl_number(&text) > first, "{text}");

    // Revoking the issuing CA puts it on the root's CRL, with the certificate a reissue replaced
    // (it stays valid until it expires), and what it issued on its own.
    let earlier = app.ca("issuing").await.json()["certificate"]["serial_number"].as_str().unwrap().to_owned();
    let reply = app.call(reqwest::Method::POST, "/v2/cas/issuing/reissue", Some(json!({})), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(app.set_status("issuing", "REVOKED", Some("KeyCompromise")).await.status, 200);
    let issuing_serial = app.ca("issuing").await.json()["certificate"]["serial_number"].as_str().unwrap().to_owned();
    assert_ne!(earlier, issuing_serial);
    let text = crl_until(&app, &dir, "root", "", |t| listed(t, &issuing_serial) && listed(t, &earlier)).await;
    assert!(text.contains("Key Compromise"), "{text}");
    std::fs::copy(dir.join("polled.der"), dir.join("root-crl.der")).unwrap();
    assert_eq!(pkilint_crl(&dir, "root-crl.der"), "", "pkilint on the root's CRL");
    let text = crl_until(&app, &dir, "issuing", "", |t| listed(t, &good) && listed(t, &held)).await;
    // The CA's key was compromised: what it signed is revoked for cACompromise.
    assert!(text.contains("CA Compromise"), "{text}");

    // Every CRL was recorded in the log, numbered without a gap; the last is the one served.
    let served = fetch_crl(&app, &dir, "issuing", "", "last").await;
    let (published, _) = published_crls(&app, "issuing").await;
    let digest = sha256_hex(&served);
    assert_eq!(published.last().unwrap()["sha256"], digest);

    // A client holding the current CRL is told so; DER and PEM are told apart.
    let reply = app.client.get(format!("{}/v2/cas/issuing/crl", app.base)).send().await.unwrap();
    let etag = reply.headers()["etag"].to_str().unwrap().to_owned();
    let pem_reply = app.client.get(format!("{}/v2/cas/issuing/crl?format=PEM", app.base)).send().await.unwrap();
    assert_ne!(pem_reply.headers()["etag"].to_str().unwrap(), etag);
    assert!(pem_reply.text().await.unwrap().starts_with("-----BEGIN X509 CRL-----"));
    let again = app.client.get(format!("{}/v2/cas/issuing/crl", app.base)).header("if-none-match", &etag).send();
    assert_eq!(again.await.unwrap().status(), 304);

    // A deleted CA's last CRL and its certificate stay where its certificates point.
    assert_eq!(app.delete_ca("issuing").await.status, 204);
    assert_eq!(fetch_crl(&app, &dir, "issuing", "", "after-delete").await, served);
    assert_eq!(app.get("/v2/cas/issuing/certificate").await.status, 200);

    // Asking wrongly.
    assert_eq!(app.get("/v2/cas/nobody/crl").await.status, 404);
    let reply = app.get("/v2/cas/issuing/crl?format=xml").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let reply = app.get("/v2/cas/issuing/crl?delta=true").await;
    assert_eq!((reply.status.as_u16(), reply.json()["type"].as_str().unwrap()), (404, "urn:shedu:problem:no-crl"));
    app.stop().await;
}

/// The CA's `crl.published` events and their numbers, checked to run 1, 2, … without a gap or a
/// number used twice.
async fn published_crls(app: &TestApp, ca: &str) -> (Vec<Value>, Vec<u64>) {
    let stream = format!("crl-{ca}");
    let log = read_log(app.db.open().await.event_store().as_ref()).await;
    let published: Vec<Value> = log.into_iter().filter(|e| e.stream_id == stream).map(|e| e.data).collect();
    let numbers: Vec<u64> = published.iter().map(|e| e["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "one CRL per number");
    (published, numbers)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delta_crls_announce_a_hold_and_its_release() {
    let mut app = TestApp::unstarted(Backend::Sqlite, vec![], Arc::new(shedu_commands::clock::SystemClock)).await;
    app.crl.delta = true;
    app.crl.refresh_before_seconds = Some(3600);
    app.public_base_url = Some(PUBLIC_URL.into());
    app.try_start().await.unwrap();
    pki(&app).await;
    let dir = temp_dir("delta");
    let reply = app.client.get(format!("{}/v2/cas/issuing/certificate?format=pem", app.base)).send().await.unwrap();
    std::fs::write(dir.join("issuing.pem"), reply.text().await.unwrap()).unwrap();
    let root = app.ca("root").await.json()["certificate"]["certificate"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("root.pem"), &root).unwrap();
    let held = issue(&app, &dir, "issuing", "held").await;
    fetch_crl(&app, &dir, "issuing", "", "full").await;
    let base = crl_number(&crl_text(&dir, "full"));

    assert_eq!(app.set_certificate_status(&held, "REVOKED", Some("CertificateHold")).await.status, 200);
    let text = crl_until(&app, &dir, "issuing", "?delta=true", |t| listed(t, &held)).await;
    assert!(text.contains("Certificate Hold"), "{text}");
    let indicated = text.split("Delta CRL Indicator: critical").nth(1).and_then(|t| t.split_whitespace().next());
    assert_eq!(indicated, Some(base.to_string().as_str()), "{text}");
    std::fs::copy(dir.join("polled.pem"), dir.join("delta.pem")).unwrap();
    std::fs::copy(dir.join("polled.der"), dir.join("delta.der")).unwrap();
    let (ok, out) = openssl(&["crl", "-in", "delta.pem", "-noout", "-CAfile", "issuing.pem"], &dir);
    assert!(ok && out.contains("verify OK"), "{out}");
    assert_eq!(pkilint_crl(&dir, "delta.der"), "", "pkilint on the delta CRL");
    // The full CRL stays as it was: changes go to deltas until its refresh.
    fetch_crl(&app, &dir, "issuing", "", "full-again").await;
    let full = crl_text(&dir, "full-again");
    assert!(!listed(&full, &held) && crl_number(&full) == base, "{full}");
    // A relying party that reads both sees the hold.
    let verify = || {
        openssl(
            &[
                "verify",
                "-crl_check",
                "-use_deltas",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
                "-CRLfile",
                "full.pem",
                "-CRLfile",
                "delta.pem",
                "held.pem",
            ],
            &dir,
        )
    };
    let (ok, out) = verify();
    assert!(!ok && out.contains("revoked"), "{out}");

    assert_eq!(app.set_certificate_status(&held, "ACTIVE", None).await.status, 200);
    let text = crl_until(&app, &dir, "issuing", "?delta=true", |t| t.contains("Remove From CRL")).await;
    assert!(listed(&text, &held), "{text}");
    std::fs::copy(dir.join("polled.pem"), dir.join("delta.pem")).unwrap();
    let (ok, out) = verify();
    assert!(ok, "{out}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crls_are_signed_again_before_next_update_and_not_on_restart() {
    let t0 = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(t0));
    let mut app = TestApp::unstarted(Backend::Sqlite, vec![], clock.clone()).await;
    app.crl.validity_seconds = 3600;
    app.crl.refresh_before_seconds = Some(600);
    app.try_start().await.unwrap();
    pki(&app).await;
    let dir = temp_dir("refresh");
    fetch_crl(&app, &dir, "issuing", "", "first").await;
    let first = crl_number(&crl_text(&dir, "first"));
    assert!(crl_text(&dir, "first").contains("Next Update"));

    // A restart serves the CRL it kept; nothing is signed again.
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fetch_crl(&app, &dir, "issuing", "", "after-restart").await;
    assert_eq!(crl_number(&crl_text(&dir, "after-restart")), first);

    // 50 minutes on, the CRL is within 10 minutes of its nextUpdate: it is signed again.
    clock.set(t0 + time::Duration::minutes(50) + time::Duration::seconds(1));
    let text = crl_until(&app, &dir, "issuing", "", |t| crl_number(t) > first).await;
    assert!(!text.contains(&format_openssl_time(t0 + time::Duration::hours(1))), "{text}");
    app.stop().await;
}

/// How `openssl crl -text` prints a time, to whole seconds.
fn format_openssl_time(at: OffsetDateTime) -> String {
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        months[usize::from(u8::from(at.month())) - 1],
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.year()
    )
}

/// Two processes on one PostgreSQL (one SQLite file serves one process).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_share_a_crl_number() {
    let mut first = TestApp::unstarted(Backend::Postgres, vec![], Arc::new(shedu_commands::clock::SystemClock)).await;
    first.crl.batch_ms = 0;
    first.try_start().await.unwrap();
    let second = first.another_instance().await;
    pki(&first).await;
    let dir = temp_dir("two");
    let mut serials = Vec::new();
    for i in 0..12 {
        serials.push(issue(&first, &dir, "issuing", &format!("leaf{i}")).await);
    }
    // Revocations through both processes, so both publishers race for every next number.
    for (i, serial) in serials.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        assert_eq!(app.set_certificate_status(serial, "REVOKED", Some("Superseded")).await.status, 200);
    }
    let text = crl_until(&second, &dir, "issuing", "", |t| serials.iter().all(|s| listed(t, s))).await;
    let served = crl_number(&text);
    let (published, numbers) = published_crls(&first, "issuing").await;
    assert!(numbers.contains(&served));
    // A later CRL never lists less than an earlier one: its point in the log only moves forward.
    let covers: Vec<(u64, i64)> = published
        .iter()
        .map(|e| (e["covers"]["tx"].as_u64().unwrap(), e["covers"]["position"].as_i64().unwrap()))
        .collect();
    assert!(covers.windows(2).all(|w| w[0] <= w[1]), "{covers:?}");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_crls_off_certificates_name_no_crl_and_none_is_served() {
    let mut app = TestApp::unstarted(Backend::Sqlite, vec![], Arc::new(shedu_commands::clock::SystemClock)).await;
    app.crl.enabled = false;
    app.public_base_url = Some(PUBLIC_URL.into());
    app.try_start().await.unwrap();
    pki(&app).await;
    let dir = temp_dir("crl-off");
    issue(&app, &dir, "issuing", "leaf").await;
    let (ok, leaf) = openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"], &dir);
    assert!(ok);
    assert!(!leaf.contains("CRL Distribution Points"), "{leaf}");
    assert!(leaf.contains(&format!("CA Issuers - URI:{PUBLIC_URL}/v2/cas/issuing/certificate")), "{leaf}");
    let reply = app.get("/v2/cas/issuing/crl").await;
    assert_eq!((reply.status.as_u16(), reply.json()["type"].as_str().unwrap()), (404, "urn:shedu:problem:no-crl"));
    let published = read_log(app.db.open().await.event_store().as_ref()).await;
    assert!(published.iter().all(|e| !e.stream_id.starts_with("crl-")), "a CRL was published");
    app.stop().await;
}
