//! Issuance rests on a CA's status, key, profiles and validity, never on its metadata: patching
//! a CA's metadata while it signs costs the signings nothing (docs/adr/0017), nor does it block
//! the CA's status changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl_csr, temp_dir};

both_backends!(metadata_patches_never_make_a_signing_fail);

async fn metadata_patches_never_make_a_signing_fail(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let profile = json!({"id": "tls", "name": "TLS", "validity": {"type": "Duration", "duration": "90d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]});
    assert_eq!(app.create_profile(profile).await.status, 201);
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    let mut issuing = ca_body("issuing", Some("root"), "Issuing", ("ECDSA", 256), "5y");
    issuing["profile_id"] = json!("tls");
    assert_eq!(app.create_ca(issuing).await.status, 201);
    let dir = temp_dir("meta-sign");
    let csr = openssl_csr(&dir, "svc", "ec:P-256", "svc.example.com", "DNS:svc.example.com");

    // Four clients patch the issuing CA's and the root's metadata as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let mut patchers = Vec::new();
    for client in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        patchers.push(tokio::spawn(async move {
            let mut patched = 0;
            while !stop.load(Ordering::Relaxed) {
                let ca = if client % 2 == 0 { "issuing" } else { "root" };
                let patch = json!([{"op": "add", "path": format!("/client-{client}"), "value": patched}]);
                // Two patchers of one CA race each other: the loser hears 409, as it should.
                let reply = app.patch_metadata(ca, patch).await;
                assert!(reply.status == 200 || reply.status == 409, "{}", reply.text);
                patched += usize::from(reply.status == 200);
            }
            patched
        }));
    }
    let mut signers = Vec::new();
    for signer in 0..8 {
        let (app, csr) = (app.clone(), csr.clone());
        signers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for n in 0..25 {
                let key = format!("sign-{signer}-{n}");
                let reply = app
                    .call(
                        reqwest::Method::POST,
                        "/v2/cas/issuing/certificates/sign",
                        Some(json!({ "csr": csr })),
                        &[("idempotency-key", key.as_str())],
                    )
                    .await;
                if reply.status != 201 {
                    failures.push(format!("{}: {}", reply.status, reply.text));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for signer in signers {
        failures.extend(signer.await.unwrap());
    }
    // A change issuance does rest on goes through while the patchers still run, and stops
    // issuance at once.
    let stopped = app.set_status("issuing", "INACTIVE", None).await;
    assert_eq!(stopped.status, 200, "metadata patches blocked a status change: {}", stopped.text);
    let refused = app.sign("issuing", json!({ "csr": csr })).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let revoked = app.set_status("issuing", "REVOKED", Some("KeyCompromise")).await;
    assert_eq!(revoked.status, 200, "metadata patches blocked a revocation: {}", revoked.text);
    stop.store(true, Ordering::Relaxed);
    let mut patched = 0;
    for patcher in patchers {
        patched += patcher.await.unwrap();
    }
    assert!(patched >= 20, "the patchers hardly ran ({patched} patches): nothing was contended");
    assert!(
        failures.is_empty(),
        "{} of 200 signings failed under {patched} metadata patches: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );

    let _ = std::fs::remove_dir_all(dir);
}
