//! Issuance profiles, CSR signing, the certificate inventory and revocation, end to end.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use shedu_tests::{
    Backend, TestApp, both_backends, ca_body, openssl, openssl_ca_with, openssl_csr, pkilint, read_log, temp_dir,
};

fn tls_server_90d() -> Value {
    json!({"id": "tls-server-90d", "name": "TLS server, 90 days", "validity": {"type": "Duration", "duration": "90d"},
        "key_usage": ["DigitalSignature", "KeyEncipherment"], "extended_key_usages": ["ServerAuth"],
        "crypto_enforcement": {"enabled": true, "allow_ecdsa_keys": true, "allowed_ecdsa_key_sizes": [256, 384],
            "allow_rsa_keys": true, "allowed_rsa_key_sizes": [2048, 3072, 4096]}})
}

fn device_1y() -> Value {
    json!({"id": "device-1y", "name": "Device identity, 1 year", "validity": {"type": "Duration", "duration": "1y"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]})
}

fn sub_ca_5y() -> Value {
    json!({"id": "sub-ca-5y", "name": "Subordinate CA, 5 years", "validity": {"type": "Duration", "duration": "5y"},
        "sign_as_ca": true, "path_len": 0, "key_usage": ["CertSign", "CRLSign", "DigitalSignature"]})
}

/// Root → issuing CA (ECDSA P-256, default profile tls-server-90d) and the three profiles.
async fn pki(app: &TestApp) {
    for profile in [tls_server_90d(), device_1y(), sub_ca_5y()] {
        let reply = app.create_profile(profile).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 384), "20y")).await.status, 201);
    let mut issuing = ca_body("issuing", Some("root"), "Issuing", ("ECDSA", 256), "10y");
    issuing["profile_id"] = json!("tls-server-90d");
    let reply = app.create_ca(issuing).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    app.allow_profiles("issuing", Some("tls-server-90d"), &["device-1y", "sub-ca-5y"]).await;
    app.allow_profiles("root", None, &["device-1y"]).await;
}

fn csr_body(csr: &str, profile: Option<&str>) -> Value {
    json!({ "csr": csr, "profile_id": profile })
}

both_backends!(
    profiles_are_validated_and_refused_deletion_while_used,
    an_instance_never_signs_with_what_another_changed,
    a_storm_of_signings_never_outruns_a_revocation,
    certificates_are_listed_revoked_held_and_counted,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_profile_and_key_type_issues_certificates_openssl_and_pkilint_accept() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    pki(&app).await;
    let dir = temp_dir("lint");
    let root = app.ca("root").await.json()["certificate"]["certificate"].as_str().unwrap().to_owned();
    let chain = app.chain("issuing").await.text;
    std::fs::write(dir.join("root.pem"), &root).unwrap();
    std::fs::write(dir.join("chain.pem"), &chain).unwrap();
    let keys = ["rsa:2048", "ec:P-256", "ec:P-384", "ed25519"];
    let mut issued = 0;
    for profile in ["tls-server-90d", "device-1y", "sub-ca-5y"] {
        for key in keys {
            let name = format!("{profile}-{}", key.replace(':', "-"));
            let csr =
                openssl_csr(&dir, &name, key, &format!("{name}.example.test"), &format!("DNS:{name}.example.test"));
            let reply = app.sign("issuing", csr_body(&csr, Some(profile))).await;
            if profile == "tls-server-90d" && key == "ed25519" {
                assert_eq!(reply.status, 422, "{}", reply.text);
                assert!(reply.text.contains("allow_ed25519_keys"), "{}", reply.text);
                continue;
            }
            assert_eq!(reply.status, 201, "{profile} {key}: {}", reply.text);
            let body = reply.json();
            let pem = body["certificate"].as_str().unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
            let (ok, out) = openssl(
                &["verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "chain.pem", &format!("{name}.pem")],
                &dir,
            );
            assert!(ok, "{profile} {key}: {out}");
            let findings = pkilint(&dir, pem);
            assert!(findings.is_empty(), "{profile} {key}: pkilint found:\n{findings}");
            assert_eq!(body["is_ca"], profile == "sub-ca-5y", "{profile}");
            assert_eq!(body["issuer_metadata"]["id"], "issuing");
            assert_eq!(body["profile_id"], profile);
            let (_, text) = openssl(&["x509", "-in", &format!("{name}.pem"), "-noout", "-text"], &dir);
            assert!(text.contains(&format!("DNS:{name}.example.test")), "{text}");
            if profile == "sub-ca-5y" {
                assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
                // Recorded like any certificate (Lamassu returns it without keeping it).
                let serial = body["serial_number"].as_str().unwrap();
                assert_eq!(app.certificate(serial).await.json()["is_ca"], true);
            }
            if profile == "tls-server-90d" {
                let expected =
                    if key.starts_with("rsa") { "Digital Signature, Key Encipherment" } else { "Digital Signature" };
                assert!(text.contains(expected), "{key}: {text}");
            }
            issued += 1;
        }
    }
    assert_eq!(issued, 11);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signing_requests_are_refused_and_append_nothing() {
    let clock = Arc::new(shedu_commands::clock::ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = TestApp::spawn_with_clock(Backend::Sqlite, clock.clone()).await;
    pki(&app).await;
    let dir = temp_dir("badsign");
    let good = openssl_csr(&dir, "good", "ec:P-256", "good.example.test", "DNS:good.example.test");
    let weak = openssl_csr(&dir, "weak", "rsa:1024", "weak.example.test", "DNS:weak.example.test");
    let bad_san = openssl_csr(&dir, "badsan", "ec:P-256", "bad.example.test", "DNS:bad name.example.test");
    // An imported CA whose certificate says pathLen 0: it may sign leaves, never CAs.
    let (certificate, private_key) = openssl_ca_with(&dir, "p0", "PathLen Zero", 365, "CA:TRUE,pathlen:0");
    let p0 = json!({"id": "leafonly", "certificate": certificate, "private_key": private_key});
    assert_eq!(app.import_ca(p0).await.status, 201);
    app.allow_profiles("leafonly", None, &["sub-ca-5y"]).await;
    // Flip a byte inside the signature: still DER, but no proof of possession.
    let der = pem::parse(&good).unwrap().into_contents();
    let mut tampered = der.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x01;
    let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", tampered));
    // A trust anchor imported without its key.
    let (ok, out) = openssl(
        &[
            "req",
            "-x509",
            "-key",
            "p0.key",
            "-out",
            "anchor.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Anchor",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &dir,
    );
    assert!(ok, "{out}");
    let anchor = std::fs::read_to_string(dir.join("anchor.pem")).unwrap();
    assert_eq!(app.import_ca(json!({"id": "keyless", "certificate": anchor})).await.status, 201);
    // openssl dated the anchor from its own clock, a moment after the test's: catch up, or the
    // anchor reads INACTIVE (not yet valid) instead of keyless.
    clock.set(time::OffsetDateTime::now_utc());
    let short = app.create_ca(ca_body("short", Some("root"), "Short", ("ECDSA", 256), "1d")).await;
    assert_eq!(short.status, 201);
    assert_eq!(app.create_ca(ca_body("revoked", Some("root"), "Revoked", ("ECDSA", 256), "1y")).await.status, 201);
    assert_eq!(app.set_status("revoked", "REVOKED", Some("KeyCompromise")).await.status, 200);
    let head = app.command_events().await;

    // (what, reply, status, problem type, a word the detail must contain)
    let cases: Vec<(&str, shedu_tests::Reply, u16, &str, &str)> = vec![
        ("bad signature", app.sign("issuing", csr_body(&tampered, None)).await, 400, "invalid-input", "signature"),
        ("garbage", app.sign("issuing", csr_body("not a csr", None)).await, 400, "invalid-input", "csr"),
        (
            "a certificate, not a CSR",
            app.sign("issuing", csr_body(&app.chain("root").await.text, None)).await,
            400,
            "invalid-input",
            "CERTIFICATE REQUEST",
        ),
        ("weak RSA", app.sign("issuing", csr_body(&weak, None)).await, 422, "weak-key", "RSA"),
        (
            "a profile the CA does not allow",
            app.sign("issuing", csr_body(&good, Some("nope"))).await,
            422,
            "profile-not-allowed",
            "nope",
        ),
        ("no profile at all", app.sign("root", csr_body(&good, None)).await, 422, "no-profile", "no issuance profile"),
        ("revoked CA", app.sign("revoked", csr_body(&good, Some("device-1y"))).await, 409, "ca-not-active", "REVOKED"),
        ("unknown CA", app.sign("ghost", csr_body(&good, None)).await, 404, "not-found", "ghost"),
        (
            "keyless CA",
            app.sign("keyless", csr_body(&good, Some("device-1y"))).await,
            409,
            "ca-holds-no-key",
            "no private key",
        ),
        (
            "bad inline profile",
            app.sign(
                "issuing",
                json!({"csr": good, "profile": {"name": "x", "validity": {"type": "Duration", "duration": "0d"}}}),
            )
            .await,
            400,
            "invalid-input",
            "validity",
        ),
        (
            "inline CA profile",
            app.sign(
                "issuing",
                json!({"csr": good, "profile": {"name": "x", "validity": {"type": "Duration", "duration": "1y"},
                "sign_as_ca": true, "key_usage": ["CertSign"]}}),
            )
            .await,
            422,
            "inline-profile-too-powerful",
            "sign_as_ca",
        ),
        (
            "bad DNS name",
            app.sign("issuing", csr_body(&bad_san, None)).await,
            422,
            "invalid-subject-alt-name",
            "dNSName #1",
        ),
        (
            "pathLen 0 issuer",
            app.sign("leafonly", csr_body(&good, Some("sub-ca-5y"))).await,
            422,
            "path-len-exceeded",
            "pathLen 0",
        ),
    ];
    for (name, reply, status, slug, needle) in cases {
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json", "{name}");
        assert_eq!(reply.json()["type"], format!("urn:shedu:problem:{slug}"), "{name}");
        assert!(reply.text.contains(needle), "{name}: expected '{needle}' in {}", reply.text);
    }
    clock.set(time::OffsetDateTime::now_utc() + time::Duration::days(2));
    let expired = app.sign("short", csr_body(&good, Some("device-1y"))).await;
    assert_eq!(expired.status, 409, "an expired CA signs nothing: {}", expired.text);
    assert!(expired.text.contains("EXPIRED"), "{}", expired.text);
    assert_eq!(expired.json()["type"], "urn:shedu:problem:ca-not-active");
    assert_eq!(app.command_events().await, head, "refused requests appended events");

    // A retried request with the same Idempotency-Key gets the same certificate.
    clock.set(time::OffsetDateTime::now_utc());
    let key = [("idempotency-key", "sign-good-1")];
    let first =
        app.call(reqwest::Method::POST, "/v2/cas/issuing/certificates/sign", Some(csr_body(&good, None)), &key).await;
    let again =
        app.call(reqwest::Method::POST, "/v2/cas/issuing/certificates/sign", Some(csr_body(&good, None)), &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.text, again.text);
    assert_eq!(app.command_events().await, head + 1);
    let _ = std::fs::remove_dir_all(dir);
}

async fn profiles_are_validated_and_refused_deletion_while_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    pki(&app).await;
    let bad = [
        json!({"name": "x", "validity": {"type": "Duration", "duration": "0d"}}),
        json!({"name": "x", "validity": {"type": "Duration", "duration": "1y"}, "key_usage": ["Teleport"]}),
        json!({"name": "x", "validity": {"type": "Duration", "duration": "1y"}, "sign_as_ca": true, "key_usage": ["DigitalSignature"]}),
        json!({"name": "x", "validity": {"type": "Duration", "duration": "1y"}, "crypto_enforcement": {"enabled": true, "allow_rsa_keys": true, "allowed_rsa_key_sizes": [1024]}}),
        json!({"name": "", "validity": {"type": "Duration", "duration": "1y"}}),
    ];
    for body in bad {
        let reply = app.create_profile(body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
    }
    assert_eq!(app.create_profile(tls_server_90d()).await.status, 409, "duplicate id");
    let fetched = app.get("/v2/profiles/device-1y").await.json();
    assert_eq!(fetched["extended_key_usages"], json!(["ClientAuth"]));
    let mut changed = device_1y();
    changed["validity"] = json!({"type": "Duration", "duration": "2y"});
    let updated = app.call(reqwest::Method::PUT, "/v2/profiles/device-1y", Some(changed), &[]).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["version"], 2);
    let listed = app.get(&format!("/v2/profiles?min_position={}&sort_by=id", updated.position())).await.json();
    let ids: Vec<&str> = listed["list"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["device-1y", "sub-ca-5y", "tls-server-90d"]);

    let in_use = app.call(reqwest::Method::DELETE, "/v2/profiles/tls-server-90d", None, &[]).await;
    assert_eq!(in_use.status, 409, "{}", in_use.text);
    assert!(in_use.text.contains("issuing"), "{}", in_use.text);
    assert_eq!(in_use.json()["type"], "urn:shedu:problem:profile-in-use");
    assert_eq!(app.call(reqwest::Method::DELETE, "/v2/profiles/device-1y", None, &[]).await.status, 204);
    assert_eq!(app.get("/v2/profiles/device-1y").await.status, 404);
    assert_eq!(app.set_profile("issuing", "device-1y").await.status, 422, "a deleted profile cannot be assigned");
    let unknown = app
        .create_ca(json!({"subject": {"common_name": "X"}, "key_metadata": {"type": "ECDSA", "bits": 256},
        "ca_expiration": {"type": "Duration", "duration": "1y"}, "profile_id": "missing"}))
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert_eq!(unknown.json()["type"], "urn:shedu:problem:unknown-profile");
}

/// Issuance keeps the CA and profile it last read (docs/adr/0011). Changed by another
/// instance on the same database, they are read again before anything is recorded: a
/// certificate follows the profile as it is now, and a revoked CA signs nothing.
async fn an_instance_never_signs_with_what_another_changed(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    pki(&first).await;
    let dir = temp_dir("instances");
    let csr = openssl_csr(&dir, "device", "ec:P-256", "device.example.test", "DNS:device.example.test");
    let signed = first.sign("issuing", csr_body(&csr, Some("device-1y"))).await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    assert_eq!(signed.json()["extended_key_usage"], json!(["ClientAuth"]));

    let second = first.another_instance().await;
    let mut changed = device_1y();
    changed["extended_key_usages"] = json!(["ServerAuth"]);
    let updated = second.call(reqwest::Method::PUT, "/v2/profiles/device-1y", Some(changed), &[]).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let signed = first.sign("issuing", csr_body(&csr, Some("device-1y"))).await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    assert_eq!(signed.json()["extended_key_usage"], json!(["ServerAuth"]), "signed under a stale profile");

    assert_eq!(
        second.patch_metadata("issuing", json!([{"op": "add", "path": "/team", "value": "pki"}])).await.status,
        200
    );
    assert_eq!(first.sign("issuing", csr_body(&csr, Some("device-1y"))).await.status, 201);

    // A hold placed elsewhere stops this instance signing; lifted elsewhere, it signs again.
    assert_eq!(second.set_status("issuing", "REVOKED", Some("CertificateHold")).await.status, 200);
    assert_eq!(first.sign("issuing", csr_body(&csr, Some("device-1y"))).await.status, 409, "signed while on hold");
    assert_eq!(second.set_status("issuing", "ACTIVE", None).await.status, 200);
    let lifted = first.sign("issuing", csr_body(&csr, Some("device-1y"))).await;
    assert_eq!(lifted.status, 201, "still refused after the hold was lifted: {}", lifted.text);

    assert_eq!(second.set_status("issuing", "REVOKED", Some("KeyCompromise")).await.status, 200);
    let issued = || async {
        let store = first.db.open().await.event_store();
        read_log(store.as_ref()).await.iter().filter(|e| e.event_type == "ca.sign.certificate").count()
    };
    let before = issued().await;
    let refused = first.sign("issuing", csr_body(&csr, Some("device-1y"))).await;
    assert_eq!(refused.status, 409, "a CA revoked elsewhere signed: {}", refused.text);
    assert!(refused.text.contains("REVOKED"), "{}", refused.text);
    assert_eq!(issued().await, before, "a refused signing recorded a certificate");

    assert_eq!(second.call(reqwest::Method::DELETE, "/v2/profiles/device-1y", None, &[]).await.status, 204);
    let deleted = first.sign("root", csr_body(&csr, Some("device-1y"))).await;
    assert_eq!(deleted.status, 422, "signed under a deleted profile: {}", deleted.text);
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}

/// 16 clients sign as fast as they can while the CA is revoked. No issuance may come after the
/// revocation in the log, and every certificate the CA issued ends up revoked.
async fn a_storm_of_signings_never_outruns_a_revocation(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    pki(&app).await;
    let dir = temp_dir("storm");
    let csr = openssl_csr(&dir, "storm", "ec:P-256", "storm.example.test", "DNS:storm.example.test");
    let mut clients = Vec::new();
    for _ in 0..16 {
        let app = app.clone();
        let csr = csr.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut refused) = (0, 0);
            for _ in 0..400 {
                let reply = app.sign("issuing", csr_body(&csr, None)).await;
                match reply.status.as_u16() {
                    201 => ok += 1,
                    409 => {
                        refused += 1;
                        break;
                    }
                    other => panic!("unexpected {other}: {}", reply.text),
                }
            }
            (ok, refused)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let revoked = app.set_status("issuing", "REVOKED", Some("KeyCompromise")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let mut signed = 0;
    for client in clients {
        let (ok, refused) = client.await.unwrap();
        signed += ok;
        assert_eq!(refused, 1, "every client is eventually refused");
    }
    assert!(signed > 0, "the storm issued nothing before the revocation");

    let store = app.db.open().await.event_store();
    let events = read_log(store.as_ref()).await;
    let revocation = events
        .iter()
        .find(|e| e.stream_id == "ca-issuing" && e.event_type == "ca.status.update")
        .expect("the revocation is in the log")
        .position;
    let issued: Vec<_> = events.iter().filter(|e| e.event_type == "ca.sign.certificate").collect();
    assert_eq!(issued.len(), signed, "one issuance event per 201");
    assert!(issued.iter().all(|e| e.position < revocation), "a certificate was issued after the revocation committed");

    // Every one of them is revoked: in the revocation's own append or by the cascade reactor.
    let serials: HashSet<String> =
        issued.iter().map(|e| e.stream_id.trim_start_matches("certificate-").to_owned()).collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut active = 0;
        for serial in &serials {
            if app.certificate(serial).await.json()["status"] != "REVOKED" {
                active += 1;
            }
        }
        if active == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{active} certificates still valid under a revoked CA");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

async fn certificates_are_listed_revoked_held_and_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    pki(&app).await;
    assert_eq!(app.create_ca(ca_body("other", Some("root"), "Other", ("ECDSA", 256), "5y")).await.status, 201);
    app.allow_profiles("other", Some("device-1y"), &[]).await;
    let dir = temp_dir("inventory");
    let mut serials = Vec::new();
    for (i, key) in ["ec:P-256", "rsa:2048", "ec:P-384", "ed25519", "ec:P-256", "rsa:2048"].iter().enumerate() {
        let csr = openssl_csr(
            &dir,
            &format!("c{i}"),
            key,
            &format!("host{i}.example.test"),
            &format!("DNS:host{i}.example.test"),
        );
        let (ca, profile) = if i < 4 { ("issuing", "device-1y") } else { ("other", "device-1y") };
        let reply = app.sign(ca, csr_body(&csr, Some(profile))).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        serials.push(reply.json()["serial_number"].as_str().unwrap().to_owned());
    }
    let revoked = app.set_certificate_status(&serials[0], "REVOKED", Some("KeyCompromise")).await;
    assert_eq!(revoked.json()["revocation"]["reason"], "KeyCompromise");
    assert_eq!(app.set_certificate_status(&serials[0], "ACTIVE", None).await.status, 409, "revoked for good");
    assert_eq!(app.set_certificate_status(&serials[1], "REVOKED", Some("CertificateHold")).await.status, 200);
    let lifted = app.set_certificate_status(&serials[1], "ACTIVE", None).await;
    assert_eq!(lifted.json()["status"], "ACTIVE");
    assert_eq!(app.set_certificate_status(&serials[2], "REVOKED", Some("CertificateHold")).await.status, 200);
    let patched = app
        .call(
            reqwest::Method::PATCH,
            &format!("/v2/certificates/{}/metadata", serials[3]),
            Some(json!([{"op": "add", "path": "/owner", "value": "ops"}])),
            &[],
        )
        .await;
    assert_eq!(patched.json()["metadata"]["owner"], "ops");

    let last = app.set_status("other", "REVOKED", Some("Superseded")).await.position();
    let wait = format!("min_position={last}");
    let serials_of = |reply: &shedu_tests::Reply| -> Vec<String> {
        reply.json()["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial_number"].as_str().unwrap().to_owned())
            .collect()
    };
    let of_issuing = app.get(&format!("/v2/cas/issuing/certificates?{wait}&page_size=2")).await;
    assert_eq!(serials_of(&of_issuing).len(), 2);
    let next = of_issuing.json()["next"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/v2/cas/issuing/certificates?page_size=2&bookmark={next}")).await;
    assert_eq!(serials_of(&of_issuing).into_iter().chain(serials_of(&rest)).collect::<Vec<_>>(), serials[..4].to_vec());
    let revoked_list =
        app.get(&format!("/v2/certificates?{wait}&filter=status[eq]REVOKED&sort_by=serial_number")).await;
    let mut expected: Vec<String> =
        vec![serials[0].clone(), serials[2].clone(), serials[4].clone(), serials[5].clone()];
    expected.sort();
    assert_eq!(serials_of(&revoked_list), expected, "CA revocation cascades to its certificates");
    let by_cn = app.get(&format!("/v2/certificates?{wait}&filter=subject.common_name[eq]host3.example.test")).await;
    assert_eq!(serials_of(&by_cn), vec![serials[3].clone()]);
    let rsa = app.get(&format!("/v2/certificates?{wait}&filter=key_metadata.type[eq]RSA")).await;
    assert_eq!(serials_of(&rsa).len(), 2);
    let window = app
        .get(&format!(
            "/v2/certificates?{wait}&filter=valid_to[af]2026-01-01T00:00:00Z&filter=valid_to[bf]2099-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(serials_of(&window).len(), 6);
    assert_eq!(app.get("/v2/cas/ghost/certificates").await.status, 404);

    // Statistics equal a recount from the views after creations, revocations, a cascade, a
    // deletion.
    assert_eq!(app.delete_ca("other").await.status, 204);
    let last = app.set_certificate_status(&serials[3], "INACTIVE", None).await.position();
    let stats = app.get(&format!("/v2/stats/cas?min_position={last}")).await.json();
    let cas = app.list_cas(&format!("min_position={last}&page_size=1000")).await.json();
    let certificates = app.get(&format!("/v2/certificates?min_position={last}&page_size=1000")).await.json();
    let count = |list: &Value, field: &dyn Fn(&Value) -> String| -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for item in list["list"].as_array().unwrap() {
            *counts.entry(field(item)).or_default() += 1;
        }
        counts
    };
    let nonzero = |v: &Value| -> BTreeMap<String, i64> {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_i64() != Some(0))
            .map(|(k, n)| (k.clone(), n.as_i64().unwrap()))
            .collect()
    };
    assert_eq!(stats["total"], cas["list"].as_array().unwrap().len());
    assert_eq!(nonzero(&stats["status_distribution"]), count(&cas, &|c| c["status"].as_str().unwrap().to_owned()));
    assert_eq!(nonzero(&stats["type_distribution"]), count(&cas, &|c| c["type"].as_str().unwrap().to_owned()));
    assert_eq!(nonzero(&stats["level_distribution"]), count(&cas, &|c| c["level"].to_string()));
    assert_eq!(
        nonzero(&stats["engine_distribution"]),
        count(&cas, &|c| c["engine_id"].as_str().unwrap_or("none").to_owned())
    );
    assert_eq!(stats["certificates"]["total"], certificates["list"].as_array().unwrap().len());
    assert_eq!(
        nonzero(&stats["certificates"]["status_distribution"]),
        count(&certificates, &|c| c["status"].as_str().unwrap().to_owned())
    );
    let _ = std::fs::remove_dir_all(dir);
}
