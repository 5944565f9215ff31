//! The expiration scheduler, driven by a test clock: warnings at `valid_to - delta` and the
//! expiry just after `valid_to`, each recorded once with two Shedu instances on one database and
//! a restart in between; the lists and statistics follow; a metadata patch re-arms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shedu_commands::clock::ManualClock;
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl_csr, read_log, temp_dir};
use time::OffsetDateTime;

both_backends!(warnings_and_expiries_fire_once_at_their_instants);

fn deltas(entries: &[(&str, &str)]) -> Value {
    Value::Array(
        entries.iter().map(|(name, delta)| json!({"name": name, "delta": delta, "triggered": false})).collect(),
    )
}

/// How many events of each `(stream, type)` the log holds, scheduler events only.
async fn recorded(app: &TestApp) -> BTreeMap<(String, String), usize> {
    let db = app.db.open().await;
    let mut counts = BTreeMap::new();
    for e in read_log(db.event_store().as_ref()).await {
        if e.event_type.ends_with("expiration.warning") || e.event_type.ends_with("expired") {
            *counts.entry((e.stream_id.clone(), e.event_type.clone())).or_default() += 1;
        }
    }
    counts
}

/// Waits until `expected` (stream, type, count) entries are all in the log; the schedulers
/// look again at most a second after the clock moves.
async fn wait_for(app: &TestApp, expected: &[(&str, &str, usize)]) -> BTreeMap<(String, String), usize> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counts = recorded(app).await;
        let all = expected.iter().all(|(s, t, n)| counts.get(&(s.to_string(), t.to_string())) >= Some(n));
        if all {
            return counts;
        }
        assert!(tokio::time::Instant::now() < deadline, "still missing some of {expected:?}: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn warnings_and_expiries_fire_once_at_their_instants(backend: Backend) {
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let mut app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let mut root = ca_body("short", None, "Short-lived Root", ("ECDSA", 256), "30d");
    root["metadata"] = json!({"lamassu.io/ca/expiration-deltas": deltas(&[("Preventive", "10d"), ("Critical", "2d")])});
    assert_eq!(app.create_ca(root).await.status, 201);
    assert_eq!(app.create_ca(ca_body("long", None, "Long-lived Root", ("ECDSA", 256), "1y")).await.status, 201);
    let profile = json!({"id": "leaf-5d", "name": "leaf", "validity": {"type": "Duration", "duration": "5d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]});
    assert_eq!(app.create_profile(profile).await.status, 201);
    app.allow_profiles("short", Some("leaf-5d"), &[]).await;
    let dir = temp_dir("scheduler");
    let csr = openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let signed = app
        .sign(
            "short",
            json!({"csr": csr, "metadata": {"lamassu.io/ca/expiration-deltas": deltas(&[("Preventive", "1d")])}}),
        )
        .await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    let serial = signed.json()["serial_number"].as_str().unwrap().to_owned();
    let cert = format!("certificate-{serial}");
    let mut second = app.another_instance().await;
    let at = |days: i64, seconds: i64| t0 + time::Duration::days(days) + time::Duration::seconds(seconds);

    // Just before the certificate's warning: nothing.
    clock.set(at(4, -1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(recorded(&app).await.is_empty());

    clock.set(at(4, 0));
    wait_for(&app, &[(&cert, "certificate.expiration.warning", 1)]).await;
    let reply = app.certificate(&serial).await.json();
    assert_eq!(reply["metadata"]["lamassu.io/ca/expiration-deltas"][0]["triggered"], true, "{reply}");
    assert_eq!(reply["status"], "ACTIVE");

    // One instance restarts; the other keeps running.
    app.restart().await;
    clock.set(at(5, 1));
    wait_for(&app, &[(&cert, "certificate.expired", 1)]).await;
    let listed = app.get("/v2/certificates?filter=status[eq]EXPIRED").await.json();
    assert_eq!(listed["list"].as_array().map(Vec::len), Some(1), "{listed}");

    // Past both of the CA's warnings at once: each is recorded, in order, once.
    clock.set(at(29, 0));
    wait_for(&app, &[("ca-short", "ca.expiration.warning", 2)]).await;
    let history = app.events("short").await.json();
    let types: Vec<&str> = history["list"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.ends_with(&["ca.expiration.warning", "ca.expiration.warning"]), "{types:?}");
    let warned = app.ca("short").await.json();
    let flags = &warned["metadata"]["lamassu.io/ca/expiration-deltas"];
    assert_eq!((flags[0]["triggered"].clone(), flags[1]["triggered"].clone()), (json!(true), json!(true)));

    // Stopped while the expiry falls due, started after it: recorded on start.
    second.stop().await;
    app.stop().await;
    clock.set(at(30, 1));
    app.start_again().await;
    second.start_again().await;
    wait_for(&app, &[("ca-short", "ca.expired", 1)]).await;
    let stats = app.get("/v2/stats/cas").await.json();
    assert_eq!(stats["status_distribution"]["EXPIRED"], 1, "{stats}");
    assert_eq!(stats["status_distribution"]["ACTIVE"], 1, "{stats}");
    let expired = app.list_cas("filter=status[eq]EXPIRED").await.json();
    assert_eq!(expired["list"][0]["id"], "short", "{expired}");

    // A delta set by a patch fires; setting `triggered` back to false re-arms it.
    let patch =
        json!([{"op": "add", "path": "/lamassu.io~1ca~1expiration-deltas", "value": deltas(&[("Soon", "400d")])}]);
    assert_eq!(app.patch_metadata("long", patch).await.status, 200);
    wait_for(&app, &[("ca-long", "ca.expiration.warning", 1)]).await;
    let rearm = json!([{"op": "replace", "path": "/lamassu.io~1ca~1expiration-deltas/0/triggered", "value": false}]);
    assert_eq!(app.patch_metadata("long", rearm).await.status, 200);
    wait_for(&app, &[("ca-long", "ca.expiration.warning", 2)]).await;

    // Nothing more: every entry was recorded exactly once by the two instances.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let counts = recorded(&app).await;
    let expected: BTreeMap<(String, String), usize> = [
        ((cert.clone(), "certificate.expiration.warning".to_owned()), 1),
        ((cert.clone(), "certificate.expired".to_owned()), 1),
        (("ca-long".to_owned(), "ca.expiration.warning".to_owned()), 2),
        (("ca-short".to_owned(), "ca.expiration.warning".to_owned()), 2),
        (("ca-short".to_owned(), "ca.expired".to_owned()), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    let malformed =
        json!([{"op": "add", "path": "/lamassu.io~1ca~1expiration-deltas", "value": [{"name": "x", "delta": "soon"}]}]);
    assert_eq!(app.patch_metadata("long", malformed).await.status, 400);
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}
