//! `Idempotency-Key` across crashes: a keyed request appends at most once per claim, and a retry
//! after any crash answers with the first outcome at once (docs/adr/0016).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shedu_tests::{Backend, ShedProcess, TestApp, TestDb, both_backends, ca_body, openssl_csr, read_log, temp_dir};

both_backends!(
    a_retry_after_a_crash_between_commit_and_answer_returns_the_first_outcome,
    two_processes_running_one_claim_append_once,
    kill_nine_rounds_never_issue_twice_for_one_key,
);

const SIGN: &str = "/v2/cas/issuing/certificates/sign";

fn profile() -> Value {
    json!({"id": "tls", "name": "TLS", "validity": {"type": "Duration", "duration": "90d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]})
}

fn csr() -> String {
    let dir = temp_dir("once-csr");
    let csr = openssl_csr(&dir, "svc", "ec:P-256", "svc.example.com", "DNS:svc.example.com");
    let _ = std::fs::remove_dir_all(dir);
    csr
}

fn issuing_ca() -> Value {
    let mut issuing = ca_body("issuing", None, "Issuing", ("ECDSA", 256), "5y");
    issuing["profile_id"] = json!("tls");
    issuing
}

/// The state a `kill -9` leaves between the append's commit and the stored answer: every claim
/// pending, its response lost.
async fn forget_answers(db: &TestDb) {
    db.execute("UPDATE idempotency SET status = NULL, headers = NULL, body = NULL").await;
}

async fn issued_certificates(db: &TestDb) -> usize {
    let log = read_log(db.open().await.event_store().as_ref()).await;
    log.iter().filter(|e| e.event_type == "ca.sign.certificate").count()
}

async fn a_retry_after_a_crash_between_commit_and_answer_returns_the_first_outcome(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    assert_eq!(app.create_profile(profile()).await.status, 201);
    let create_key = [("idempotency-key", "create-issuing")];
    let created = app.call(reqwest::Method::POST, "/v2/cas", Some(issuing_ca()), &create_key).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = json!({ "csr": csr() });
    let sign_key = [("idempotency-key", "sign-1"), ("shedu-actor", "alice")];
    let first = app.call(reqwest::Method::POST, SIGN, Some(body.clone()), &sign_key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let head = app.command_events().await;

    app.stop().await;
    forget_answers(&app.db).await;
    app.start_again().await;

    // Answered at once with the first certificate (not "still being processed", not a second
    // certificate), and the CA creation with the first CA (not "already exists").
    let started = Instant::now();
    let again = app.call(reqwest::Method::POST, SIGN, Some(body.clone()), &sign_key).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert!(started.elapsed() < Duration::from_secs(5), "the dead claimant was waited for");
    assert_eq!(again.json()["serial_number"], first.json()["serial_number"]);
    assert_eq!(again.json()["certificate"], first.json()["certificate"]);
    assert_eq!(again.position(), first.position());
    let recreated = app.call(reqwest::Method::POST, "/v2/cas", Some(issuing_ca()), &create_key).await;
    assert_eq!(recreated.status, 201, "{}", recreated.text);
    assert_eq!(recreated.json()["certificate"], created.json()["certificate"]);
    assert_eq!(app.command_events().await, head, "a retry appended");
    assert_eq!(issued_certificates(&app.db).await, 1);

    // Once answered, the key replays as before; another request under it is refused.
    let replay = app.call(reqwest::Method::POST, SIGN, Some(body), &sign_key).await;
    assert_eq!(replay.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let other = app.call(reqwest::Method::POST, SIGN, Some(json!({"csr": csr()})), &sign_key).await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(app.command_events().await, head);
}

/// Two processes holding no live attempt of a pending claim both run it: the log takes one
/// append, and both answer with it.
async fn two_processes_running_one_claim_append_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.create_profile(profile()).await.status, 201);
    assert_eq!(app.create_ca(issuing_ca()).await.status, 201);
    let other = app.another_instance().await;
    let body = json!({ "csr": csr() });
    let mut serials = HashSet::new();
    for round in 0..8 {
        let key = format!("race-{round}");
        let headers = [("idempotency-key", key.as_str())];
        let (a, b) = tokio::join!(
            app.call(reqwest::Method::POST, SIGN, Some(body.clone()), &headers),
            other.call(reqwest::Method::POST, SIGN, Some(body.clone()), &headers)
        );
        // Each process may also find the other's claim pending and run it: never two certificates.
        for reply in [&a, &b] {
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
        assert_eq!(a.json()["serial_number"], b.json()["serial_number"], "round {round}");
        serials.insert(a.json()["serial_number"].as_str().unwrap().to_owned());
    }
    assert_eq!(serials.len(), 8);
    assert_eq!(issued_certificates(&app.db).await, 8);

    // A keyed revocation raced in both: the loser's refusal ("already revoked") neither answers
    // nor frees the key; both answer with the one revocation.
    for serial in &serials {
        let key = format!("revoke-{serial}");
        let headers = [("idempotency-key", key.as_str())];
        let path = format!("/v2/certificates/{serial}/status");
        let body = json!({"status": "REVOKED", "revocation_reason": "KeyCompromise"});
        let (a, b) = tokio::join!(
            app.call(reqwest::Method::POST, &path, Some(body.clone()), &headers),
            other.call(reqwest::Method::POST, &path, Some(body.clone()), &headers)
        );
        assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200), "{} / {}", a.text, b.text);
        assert_eq!(a.position(), b.position());
        let again = app.call(reqwest::Method::POST, &path, Some(body), &headers).await;
        assert_eq!(again.status, 200, "{}", again.text);
    }
    drop(other);
}

/// `kill -9` at a random moment while keyed signings run, then every key retried: each key
/// answers 201, and the log holds exactly one certificate per key.
async fn kill_nine_rounds_never_issue_twice_for_one_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let client = reqwest::Client::new();
    let mut shedu = ShedProcess::start(&db).await;
    let post = |base: &str, path: &str, body: &Value, key: Option<&str>| {
        let mut request = client.post(format!("{base}{path}")).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    assert_eq!(post(&shedu.base, "/v2/profiles", &profile(), None).await.unwrap().status(), 201);
    assert_eq!(post(&shedu.base, "/v2/cas", &issuing_ca(), None).await.unwrap().status(), 201);
    let body = json!({ "csr": csr() });
    let mut serials = HashSet::new();
    let mut keys = 0;
    let mut lost_answers = 0;
    for round in 0..10u64 {
        let round_keys: Vec<String> = (0..6).map(|i| format!("kill-{round}-{i}")).collect();
        let mut running = Vec::new();
        for key in &round_keys {
            let request = post(&shedu.base, SIGN, &body, Some(key));
            running.push(tokio::spawn(request));
        }
        // A different moment each round: before, during and after the appends commit.
        tokio::time::sleep(Duration::from_millis(2 + (round * 7) % 40)).await;
        shedu.kill();
        for request in running {
            let _ = request.await;
        }
        shedu = ShedProcess::start(&db).await;
        let committed = issued_certificates(&db).await - keys;
        let mut replayed = 0;
        for key in &round_keys {
            let reply = post(&shedu.base, SIGN, &body, Some(key)).await.unwrap();
            let status = reply.status();
            replayed += usize::from(reply.headers().contains_key("idempotent-replayed"));
            let json: Value = reply.json().await.unwrap();
            assert_eq!(status, 201, "round {round}, key {key}: {json}");
            serials.insert(json["serial_number"].as_str().unwrap().to_owned());
            keys += 1;
        }
        // Certificates committed whose answers the kill lost: the window this test is about.
        lost_answers += committed - replayed;
    }
    eprintln!("{backend:?}: {lost_answers} of {keys} keys had their certificate committed and their answer lost");
    drop(shedu);
    assert_eq!(serials.len(), keys, "two keys answered with one certificate");
    assert_eq!(issued_certificates(&db).await, keys, "a key issued more than one certificate");
}
