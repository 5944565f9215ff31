//! The CA user story of the event-sourced core, end to end over HTTP, on both backends.

use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl, openssl_ca_with, temp_dir};

both_backends!(
    a_three_level_hierarchy_verifies_with_openssl,
    cas_import_with_and_without_their_key,
    listing_filters_sorts_and_pages_with_bookmarks,
    lifecycle_hold_unhold_revoke_cascade_and_delete,
    everything_survives_a_restart_and_a_rebuild_gives_the_same_views,
    an_idempotency_key_returns_the_first_response,
    conflicting_concurrent_commands_one_wins_one_gets_409,
    subordinates_created_at_once_under_one_parent_all_succeed,
);

fn pem(reply: &shedu_tests::Reply) -> String {
    reply.json()["certificate"]["certificate"].as_str().expect("certificate PEM").to_owned()
}

async fn hierarchy(app: &TestApp) -> (String, String, String) {
    let root = app.create_ca(ca_body("root", None, "Shedu Root", ("ECDSA", 256), "20y")).await;
    assert_eq!(root.status, 201, "{}", root.text);
    let int = app.create_ca(ca_body("int", Some("root"), "Shedu Intermediate", ("ECDSA", 384), "10y")).await;
    assert_eq!(int.status, 201, "{}", int.text);
    let issuing = app.create_ca(ca_body("issuing", Some("int"), "Shedu Issuing", ("RSA", 2048), "5y")).await;
    assert_eq!(issuing.status, 201, "{}", issuing.text);
    (pem(&root), pem(&int), pem(&issuing))
}

async fn a_three_level_hierarchy_verifies_with_openssl(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (root, int, issuing) = hierarchy(&app).await;
    let dir = temp_dir("openssl");
    std::fs::write(dir.join("root.pem"), &root).unwrap();
    std::fs::write(dir.join("int.pem"), &int).unwrap();
    std::fs::write(dir.join("issuing.pem"), &issuing).unwrap();
    let (ok, out) =
        openssl(&["verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "int.pem", "issuing.pem"], &dir);
    assert!(ok, "openssl verify: {out}");

    // An independent parser reads what Shedu reports.
    let (ok, text) = openssl(&["x509", "-in", "int.pem", "-noout", "-text"], &dir);
    assert!(ok, "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("Subject: C = ES, O = Shedu Test, CN = Shedu Intermediate"), "{text}");
    assert!(text.contains("Issuer: C = ES, O = Shedu Test, CN = Shedu Root"), "{text}");
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
    let int_json = app.ca("int").await.json();
    let (_, serial) = openssl(&["x509", "-in", "int.pem", "-noout", "-serial"], &dir);
    assert_eq!(serial.trim().trim_start_matches("serial=").to_lowercase(), int_json["certificate"]["serial_number"]);
    let (_, ski) = openssl(&["x509", "-in", "int.pem", "-noout", "-ext", "subjectKeyIdentifier"], &dir);
    assert!(ski.to_lowercase().replace(':', "").contains(int_json["certificate"]["subject_key_id"].as_str().unwrap()));

    assert_eq!(int_json["level"], 1);
    assert_eq!(int_json["issuer_metadata"]["id"], "root");
    assert_eq!(int_json["type"], "MANAGED");
    assert_eq!(int_json["engine_id"], "software-default");
    assert_eq!(int_json["security_level"], "SL0");
    assert_eq!(int_json["certificate"]["key_metadata"], json!({"type": "ECDSA", "bits": 384, "strength": "HIGH"}));
    assert_eq!(app.ca("issuing").await.json()["level"], 2);

    let chain = app.chain("issuing").await;
    assert_eq!(chain.content_type(), "application/pem-certificate-chain");
    assert_eq!(chain.text, format!("{issuing}{int}{root}"));
    let _ = std::fs::remove_dir_all(dir);
}

async fn cas_import_with_and_without_their_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("import");
    let (cert, key) = openssl_ca_with(&dir, "ext", "External Root", 3650, "CA:TRUE");

    let with_key = app.import_ca(json!({"id": "ext", "certificate": cert, "private_key": key})).await;
    assert_eq!(with_key.status, 201, "{}", with_key.text);
    let body = with_key.json();
    assert_eq!(body["type"], "IMPORTED_WITH_KEY");
    assert_eq!(body["level"], 0);
    assert!(!with_key.text.contains("PRIVATE KEY"), "the key must not be echoed");

    // A key imported with its CA signs: a subordinate under it verifies against the original.
    let sub = app.create_ca(ca_body("ext-sub", Some("ext"), "Under External", ("ECDSA", 256), "1y")).await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    std::fs::write(dir.join("sub.pem"), pem(&sub)).unwrap();
    let (ok, out) = openssl(&["verify", "-CAfile", "ext.pem", "sub.pem"], &dir);
    assert!(ok, "{out}");

    // A certificate is one CA: the subordinate's own certificate cannot be imported again.
    let again = app.import_ca(json!({"id": "copy", "certificate": pem(&sub)})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json()["type"], "urn:shedu:problem:already-imported");
    assert!(again.text.contains("'ext-sub'"), "names the existing CA: {}", again.text);

    // A subordinate the external root signed elsewhere, imported without a key, is placed under it.
    let child =
        ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "child.key"];
    let (ok, out) = openssl(&[&child[..], &["-out", "child.csr", "-subj", "/CN=External Child"]].concat(), &dir);
    assert!(ok, "{out}");
    std::fs::write(
        dir.join("child.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let sign = ["x509", "-req", "-in", "child.csr", "-CA", "ext.pem", "-CAkey", "ext.key", "-CAcreateserial"];
    let (ok, out) =
        openssl(&[&sign[..], &["-out", "child.pem", "-days", "365", "-extfile", "child.ext"]].concat(), &dir);
    assert!(ok, "{out}");
    let child_pem = std::fs::read_to_string(dir.join("child.pem")).unwrap();
    let without_key = app.import_ca(json!({"id": "trust-only", "certificate": child_pem})).await;
    assert_eq!(without_key.status, 201, "{}", without_key.text);
    let body = without_key.json();
    assert_eq!(body["type"], "IMPORTED_WITHOUT_KEY");
    assert_eq!(body["level"], 1);
    assert_eq!(body["issuer_metadata"]["id"], "ext");
    assert!(body["engine_id"].is_null());

    // A keyless CA cannot sign.
    let refused = app.create_ca(ca_body("nope", Some("trust-only"), "Nope", ("ECDSA", 256), "30d")).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let _ = std::fs::remove_dir_all(dir);
}

async fn listing_filters_sorts_and_pages_with_bookmarks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut last = 0;
    for i in 0..7 {
        let key = if i % 2 == 0 { ("ECDSA", 256) } else { ("Ed25519", 0) };
        let reply =
            app.create_ca(ca_body(&format!("ca-{i}"), None, &format!("Root {i}"), key, &format!("{}y", i + 1))).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        last = reply.position();
    }
    let ids = |reply: &shedu_tests::Reply| -> Vec<String> {
        reply.json()["list"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    let wait = format!("min_position={last}");

    let ed = app.list_cas(&format!("{wait}&filter=key_metadata.type[eq]Ed25519")).await;
    assert_eq!(ids(&ed), vec!["ca-1", "ca-3", "ca-5"]);
    let by_cn = app.list_cas(&format!("{wait}&filter=subject.common_name[ct_ic]root 4")).await;
    assert_eq!(ids(&by_cn), vec!["ca-4"]);
    let soon =
        app.list_cas(&format!("{wait}&filter=valid_to[bf]2030-12-31T00:00:00Z&sort_by=valid_to&sort_mode=desc")).await;
    assert!(ids(&soon).len() >= 3 && ids(&soon)[0] != "ca-0", "{}", soon.text);
    let in_list = app.list_cas(&format!("{wait}&filter=id[in]ca-2,ca-6&filter=status[eq]ACTIVE")).await;
    assert_eq!(ids(&in_list), vec!["ca-2", "ca-6"]);

    let mut seen = Vec::new();
    let mut query = format!("{wait}&page_size=3&sort_by=valid_to&sort_mode=desc");
    loop {
        let page = app.list_cas(&query).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(ids(&page));
        match page.json()["next"].as_str() {
            Some(next) => query = format!("page_size=3&sort_by=valid_to&sort_mode=desc&bookmark={next}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["ca-6", "ca-5", "ca-4", "ca-3", "ca-2", "ca-1", "ca-0"]);
}

async fn lifecycle_hold_unhold_revoke_cascade_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    hierarchy(&app).await;

    let patched = app.patch_metadata("int", json!([{"op": "add", "path": "/env", "value": "prod"}])).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json()["metadata"], json!({"env": "prod"}));
    let lamassu_style =
        app.patch_metadata("int", json!({"patches": [{"op": "add", "path": "/team", "value": "pki"}]})).await;
    assert_eq!(lamassu_style.json()["metadata"], json!({"env": "prod", "team": "pki"}));
    assert_eq!(app.set_profile("int", "tls-server-90d").await.status, 422, "profiles must exist");
    let profile = json!({"id": "tls-server-90d", "name": "TLS", "validity": {"type": "Duration", "duration": "90d"}});
    assert_eq!(app.create_profile(profile).await.status, 201);
    let profiled = app.set_profile("int", "tls-server-90d").await;
    assert_eq!(profiled.json()["profile_id"], "tls-server-90d");

    let held = app.set_status("int", "REVOKED", Some("CertificateHold")).await;
    assert_eq!(held.status, 200, "{}", held.text);
    assert_eq!(held.json()["revocation"]["reason"], "CertificateHold");
    assert_eq!(app.ca("issuing").await.json()["status"], "ACTIVE", "a hold does not cascade");
    let delete_held = app.delete_ca("int").await;
    assert_eq!(delete_held.status, 409, "{}", delete_held.text);
    assert_eq!(delete_held.json()["type"], "urn:shedu:problem:ca-on-hold");
    let lifted = app.set_status("int", "ACTIVE", None).await;
    assert_eq!(lifted.json()["status"], "ACTIVE");
    assert!(lifted.json()["revocation"].is_null());

    let revoked = app.set_status("int", "REVOKED", Some("KeyCompromise")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let issuing = app.ca("issuing").await.json();
    assert_eq!(issuing["status"], "REVOKED");
    // Its parent's key was compromised: what the parent signed is compromised with it.
    assert_eq!(issuing["revocation"]["reason"], "CACompromise");
    assert_eq!(app.ca("root").await.json()["status"], "ACTIVE");
    let listed = app.list_cas(&format!("min_position={}&filter=status[eq]REVOKED", revoked.position())).await;
    assert_eq!(listed.json()["list"].as_array().unwrap().len(), 2, "{}", listed.text);

    let again = app.set_status("int", "ACTIVE", None).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json()["type"], "urn:shedu:problem:revoked-for-good");
    let delete_active = app.delete_ca("root").await;
    assert_eq!(delete_active.status, 409, "an ACTIVE CA cannot be deleted");
    assert_eq!(delete_active.json()["type"], "urn:shedu:problem:ca-not-deletable");

    let issuing_key_id = app.ca("issuing").await.json()["key_id"].clone();
    let deleted = app.delete_ca("issuing").await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(app.ca("issuing").await.status, 404);
    let after = app.list_cas(&format!("min_position={}", deleted.position())).await;
    assert!(!after.text.contains("\"id\":\"issuing\""), "{}", after.text);

    let first_page = app.get("/v2/cas/issuing/events?page_size=2").await.json();
    assert_eq!(first_page["list"].as_array().unwrap().len(), 2);
    let bookmark = first_page["next"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/v2/cas/issuing/events?page_size=2&bookmark={bookmark}")).await.json();
    assert_eq!(rest["list"][0]["version"], 3, "the next page starts after the first");
    assert!(rest["next"].is_null(), "{rest}");
    let history = app.events("issuing").await.json();
    let types: Vec<&str> = history["list"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ca.create", "ca.status.update", "ca.delete", "ca.key.destroyed"]);
    assert_eq!(history["list"][2]["schema_version"], 2, "ca.delete no longer claims the key is gone");
    assert!(history["list"][2]["data"].get("key_destroyed").is_none());
    assert_eq!(history["list"][3]["data"]["key"]["key_id"], issuing_key_id, "recorded once the engine confirmed");
    let cascade = &history["list"][1];
    assert!(cascade["causation_id"].is_string(), "a cascaded revocation names its cause");
    let int_history = app.events("int").await.json();
    let int_types: Vec<&str> =
        int_history["list"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(int_types[0], "ca.create");
    assert!(int_types.contains(&"ca.subordinate.add"));

    let before_revocation = int_history["list"][2]["time"].as_str().unwrap();
    let as_of = app.get(&format!("/v2/cas/int?as_of={before_revocation}")).await;
    assert_eq!(as_of.status, 200, "{}", as_of.text);
    assert!(as_of.json()["metadata"].as_object().unwrap().len() <= 2);
}

async fn everything_survives_a_restart_and_a_rebuild_gives_the_same_views(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    hierarchy(&app).await;
    app.patch_metadata("root", json!([{"op": "add", "path": "/owner", "value": "pki-team"}])).await;
    let last = app.set_status("int", "REVOKED", Some("Superseded")).await.position();
    let all = format!("min_position={last}&page_size=100&sort_by=id");
    let before: Value = app.list_cas(&all).await.json();

    app.restart().await;
    let after_restart: Value = app.list_cas(&all).await.json();
    assert_eq!(before, after_restart);
    assert_eq!(app.ca("root").await.json()["metadata"]["owner"], "pki-team");

    // The running server's projector replays beside the rebuild (whichever commits a batch
    // first applies it), so the rebuild applies at most the whole log; the views must come out
    // the same either way.
    let replayed = app.rebuild_projections().await as i64;
    assert!(replayed <= app.db.open().await.event_store().head().await.unwrap(), "{replayed}");
    let rebuilt: Value = app.list_cas(&all).await.json();
    assert_eq!(before, rebuilt, "rebuilt views differ from incrementally built ones");

    // The keys survived too: the restarted server can still sign under the root.
    let child = app.create_ca(ca_body("after-restart", Some("root"), "After Restart", ("ECDSA", 256), "1y")).await;
    assert_eq!(child.status, 201, "{}", child.text);
}

async fn an_idempotency_key_returns_the_first_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = ca_body("idem", None, "Idem Root", ("ECDSA", 256), "1y");
    let key = [("idempotency-key", "create-idem-1")];
    let first = app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let head = app.command_events().await;
    let retry = app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &key).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.position(), first.position());
    assert_eq!(app.command_events().await, head, "a replay appends nothing");
    let mut other = body.clone();
    other["id"] = json!("idem-2");
    let mismatch = app.call(reqwest::Method::POST, "/v2/cas", Some(other), &key).await;
    assert_eq!(mismatch.status, 422, "{}", mismatch.text);
    assert_eq!(app.command_events().await, head);
    let other_actor =
        app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &[key[0], ("shedu-actor", "bob")]).await;
    assert_eq!(other_actor.status, 409, "another actor's key is not replayed: {}", other_actor.text);
    let without_key = app.create_ca(body).await;
    assert_eq!(without_key.status, 409, "the same id without a key is a duplicate: {}", without_key.text);
}

async fn conflicting_concurrent_commands_one_wins_one_gets_409(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let create = ca_body("race", None, "Race", ("ECDSA", 256), "1y");
    let (a, b) = tokio::join!(app.create_ca(create.clone()), app.create_ca(create));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);

    let mut revocations = Vec::new();
    for reason in ["KeyCompromise", "Superseded", "AffiliationChanged", "CACompromise"] {
        let app = app.clone();
        revocations
            .push(tokio::spawn(async move { app.set_status("race", "REVOKED", Some(reason)).await.status.as_u16() }));
    }
    let mut codes = Vec::new();
    for r in revocations {
        codes.push(r.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
    let history = app.events("race").await.json();
    assert_eq!(history["list"].as_array().unwrap().len(), 2);
}

/// Sixteen children of one root created at once each record themselves on the root's stream:
/// the losers of each race re-decide (with a random back-off) instead of answering 409.
async fn subordinates_created_at_once_under_one_parent_all_succeed(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    assert_eq!(app.create_ca(ca_body("busy-root", None, "Busy Root", ("ECDSA", 256), "5y")).await.status, 201);
    let mut children = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        children.push(tokio::spawn(async move {
            let body = ca_body(&format!("child-{i}"), Some("busy-root"), &format!("Child {i}"), ("ECDSA", 256), "1y");
            let reply = app.create_ca(body).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.position()
        }));
    }
    let mut last = 0;
    for child in children {
        last = last.max(child.await.unwrap());
    }
    let listed = app
        .list_cas(&format!(
            "filter=issuer_metadata.id[eq]busy-root&filter=level[eq]1&page_size=100&min_position={last}"
        ))
        .await;
    assert_eq!(listed.json()["list"].as_array().unwrap().len(), 16);
}

both_backends!(every_supported_key_type_makes_a_verifiable_ca);

/// RSA 2048/3072/4096, ECDSA P-256/384/521 and Ed25519 roots, each with a subordinate of another
/// type, all checked by openssl.
async fn every_supported_key_type_makes_a_verifiable_ca(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("keytypes");
    let keys =
        [("RSA", 2048), ("RSA", 3072), ("RSA", 4096), ("ECDSA", 256), ("ECDSA", 384), ("ECDSA", 521), ("Ed25519", 0)];
    for (i, key) in keys.iter().enumerate() {
        let root_id = format!("root-{i}");
        let root = app.create_ca(ca_body(&root_id, None, &format!("Root {}", key.0), *key, "2y")).await;
        assert_eq!(root.status, 201, "{key:?}: {}", root.text);
        let bits = if key.0 == "Ed25519" { 256 } else { key.1 };
        assert_eq!(root.json()["certificate"]["key_metadata"]["bits"], bits, "{key:?}");
        let sub_key = keys[(i + 3) % keys.len()];
        let sub = app.create_ca(ca_body(&format!("sub-{i}"), Some(&root_id), "Sub", sub_key, "1y")).await;
        assert_eq!(sub.status, 201, "{sub_key:?} under {key:?}: {}", sub.text);
        std::fs::write(dir.join("root.pem"), pem(&root)).unwrap();
        std::fs::write(dir.join("sub.pem"), pem(&sub)).unwrap();
        let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "root.pem", "sub.pem"], &dir);
        assert!(ok, "{sub_key:?} under {key:?}: {out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

both_backends!(keys_shared_by_two_cas_survive_deleting_one, revoking_a_root_reaches_children_of_a_deleted_keyless_ca);

/// The same key imported with two certificates (a re-issue): deleting one CA keeps the key.
async fn keys_shared_by_two_cas_survive_deleting_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("shared-key");
    let ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
    let (ok, out) =
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem"], &dir);
    assert!(ok, "{out}");
    for (name, days) in [("old", "30"), ("new", "365")] {
        let mut args = vec!["req", "-x509", "-key", "k.pem", "-out", name, "-days", days, "-subj", "/CN=Rotated Root"];
        args.extend(ca_ext);
        let (ok, out) = openssl(&args, &dir);
        assert!(ok, "{out}");
    }
    let key = std::fs::read_to_string(dir.join("k.pem")).unwrap();
    for (id, file) in [("old-root", "old"), ("new-root", "new")] {
        let cert = std::fs::read_to_string(dir.join(file)).unwrap();
        let reply = app.import_ca(json!({"id": id, "certificate": cert, "private_key": key})).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    assert_eq!(app.set_status("old-root", "REVOKED", Some("Superseded")).await.status, 200);
    assert_eq!(app.delete_ca("old-root").await.status, 204);
    let child = app.create_ca(ca_body("still-signs", Some("new-root"), "Child", ("ECDSA", 256), "30d")).await;
    assert_eq!(child.status, 201, "the shared key was destroyed: {}", child.text);
    let _ = std::fs::remove_dir_all(dir);
}

/// Root (with key) → intermediate imported without key → issuing imported without key. Deleting
/// the keyless intermediate must not cut the issuing CA off from the root's revocation, and no
/// CA can be imported under a revoked one.
async fn revoking_a_root_reaches_children_of_a_deleted_keyless_ca(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("deleted-middle");
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args, &dir);
        assert!(ok, "{args:?}: {out}");
    };
    std::fs::write(dir.join("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "365",
        "-subj",
        "/CN=Ext Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    // Each CA ends well before its issuer: an imported subordinate may not outlive its parent.
    for (name, issuer, days) in [("int", "root", "200"), ("leafca", "int", "100")] {
        run(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN=Ext {name}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            days,
            "-extfile",
            "ca.ext",
        ]);
    }
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(
        app.import_ca(json!({"id": "root", "certificate": read("root.pem"), "private_key": read("root.key")}))
            .await
            .status,
        201
    );
    let int = app.import_ca(json!({"id": "int", "certificate": read("int.pem")})).await;
    assert_eq!(int.json()["issuer_metadata"]["id"], "root", "{}", int.text);
    let leaf = app.import_ca(json!({"id": "leafca", "certificate": read("leafca.pem")})).await;
    assert_eq!(leaf.json()["issuer_metadata"]["id"], "int", "{}", leaf.text);
    assert_eq!(leaf.json()["level"], 2);

    assert_eq!(app.delete_ca("int").await.status, 204, "a keyless CA can be deleted");
    assert_eq!(app.set_status("root", "REVOKED", Some("KeyCompromise")).await.status, 200);
    assert_eq!(app.ca("leafca").await.json()["status"], "REVOKED");

    let again = app.import_ca(json!({"id": "int-again", "certificate": read("int.pem")})).await;
    assert_eq!(again.status, 409, "importing under a revoked CA: {}", again.text);
    let _ = std::fs::remove_dir_all(dir);
}
