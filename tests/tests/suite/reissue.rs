//! Reissuing CAs: root and intermediate, with and without a new key. openssl verifies the new
//! chains (and that what was issued before still verifies), both certificates stay in the
//! history, metadata keeps its keys, and what may not be reissued is refused.

use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl, openssl_ca, openssl_csr, temp_dir};

both_backends!(roots_and_intermediates_are_reissued_with_and_without_a_new_key);

fn pem(ca: &Value) -> String {
    ca["certificate"]["certificate"].as_str().expect("PEM").to_owned()
}

async fn reissue(app: &TestApp, id: &str, body: Value) -> shedu_tests::Reply {
    app.call(reqwest::Method::POST, &format!("/v2/cas/{id}/reissue"), Some(body), &[]).await
}

fn verify(dir: &std::path::Path, files: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    for (name, pem) in files {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let mut all = vec!["verify", "-x509_strict"];
    all.extend_from_slice(args);
    openssl(&all, dir)
}

async fn roots_and_intermediates_are_reissued_with_and_without_a_new_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("reissue");
    let root = app.create_ca(ca_body("root", None, "Reissue Root", ("ECDSA", 256), "20y")).await.json();
    let mut int = ca_body("int", Some("root"), "Reissue Intermediate", ("ECDSA", 256), "10y");
    int["metadata"] = json!({"team": "pki", "lamassu.io/ca/expiration-deltas": [{"name": "Preventive", "delta": "5000d", "triggered": true}]});
    let int = app.create_ca(int).await.json();
    let profile = json!({"id": "leaf", "name": "leaf", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]});
    assert_eq!(app.create_profile(profile).await.status, 201);
    app.allow_profiles("int", Some("leaf"), &[]).await;
    let csr = openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let old_leaf = app.sign("int", json!({"csr": csr})).await.json();

    // The root, same key: new serial, same SKI, still self-signed with CertSign and CRLSign.
    let reply = reissue(&app, "root", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let new_root = reply.json();
    assert_eq!(new_root["id"], "root");
    assert_ne!(new_root["certificate"]["serial_number"], root["certificate"]["serial_number"]);
    assert_eq!(new_root["certificate"]["subject_key_id"], root["certificate"]["subject_key_id"]);
    assert_eq!(new_root["key_id"], root["key_id"]);
    assert_eq!(new_root["certificate"]["key_usage"], json!(["CertSign", "CRLSign"]));
    assert_eq!(new_root["status"], "ACTIVE");
    assert_eq!(new_root["issuer_metadata"]["serial_number"], new_root["certificate"]["serial_number"]);
    assert_eq!(new_root["metadata"]["lamassu.io/ca/reissued-from"], root["certificate"]["serial_number"]);
    assert_eq!(new_root["metadata"]["lamassu.io/ca/reissue-reason"], "certificate-reissuance");
    assert!(new_root["metadata"]["lamassu.io/ca/reissued-at"].is_string());
    // The intermediate the old root certificate signed verifies under the new one (same key).
    let (ok, out) = verify(
        &dir,
        &[("root2.pem", &pem(&new_root)), ("int1.pem", &pem(&int))],
        &["-CAfile", "root2.pem", "int1.pem"],
    );
    assert!(ok, "{out}");

    // The intermediate on a new key, P-384, signed by the root: metadata keys kept, deltas re-armed.
    let body = json!({"rekey": true, "key_metadata": {"type": "ECDSA", "bits": 384}, "reason": "key rotation",
        "ca_expiration": {"type": "Duration", "duration": "5y"}});
    let reply = reissue(&app, "int", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let new_int = reply.json();
    assert_ne!(new_int["key_id"], int["key_id"]);
    assert_ne!(new_int["certificate"]["subject_key_id"], int["certificate"]["subject_key_id"]);
    assert_eq!(new_int["certificate"]["key_metadata"]["bits"], 384);
    assert_eq!(new_int["certificate"]["authority_key_id"], root["certificate"]["subject_key_id"]);
    assert_eq!(new_int["certificate"]["key_usage"], json!(["CertSign", "CRLSign"]));
    assert_eq!((new_int["level"].clone(), new_int["issuer_metadata"]["id"].clone()), (json!(1), json!("root")));
    assert_eq!(new_int["issuer_metadata"]["serial_number"], new_root["certificate"]["serial_number"]);
    assert_eq!(new_int["metadata"]["team"], "pki");
    assert_eq!(new_int["metadata"]["lamassu.io/ca/reissue-reason"], "key rotation");
    assert_eq!(new_int["metadata"]["lamassu.io/ca/expiration-deltas"][0]["triggered"], false);
    let (ok, out) = verify(&dir, &[("int2.pem", &pem(&new_int))], &["-CAfile", "root2.pem", "int2.pem"]);
    assert!(ok, "{out}");
    let (_, text) = openssl(&["x509", "-in", "int2.pem", "-noout", "-text"], &dir);
    assert!(text.contains("Certificate Sign, CRL Sign") && text.contains("P-384"), "{text}");

    // It keeps issuing, on the new key; the certificate it issued before verifies under the old one.
    let csr = openssl_csr(&dir, "leaf2", "ec:P-256", "leaf2.example.test", "DNS:leaf2.example.test");
    let reply = app.sign("int", json!({"csr": csr})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let chain = app.chain("int").await.text;
    let leaf2 = reply.json()["certificate"].as_str().unwrap().to_owned();
    let (ok, out) =
        verify(&dir, &[("chain.pem", &chain), ("leaf2.pem", &leaf2)], &["-CAfile", "chain.pem", "leaf2.pem"]);
    assert!(ok, "{out}");
    let old = old_leaf["certificate"].as_str().unwrap().to_owned();
    let (ok, out) =
        verify(&dir, &[("leaf1.pem", &old)], &["-CAfile", "root2.pem", "-untrusted", "int1.pem", "leaf1.pem"]);
    assert!(ok, "{out}");
    let (ok, _) = verify(&dir, &[], &["-CAfile", "chain.pem", "leaf1.pem"]);
    assert!(!ok, "the old leaf does not verify under the new key");

    // Both certificates are in the history.
    let history = app.events("int").await.json();
    let list = history["list"].as_array().unwrap();
    let types: Vec<&str> = list.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"ca.create"));
    let reissued = list.iter().find(|e| e["type"] == "ca.reissue").expect("a ca.reissue event");
    assert_eq!(list[0]["data"]["certificate"]["serial_number"], int["certificate"]["serial_number"]);
    assert_eq!(reissued["data"]["certificate"]["serial_number"], new_int["certificate"]["serial_number"]);
    assert_eq!(reissued["data"]["previous_serial_number"], int["certificate"]["serial_number"]);
    assert!(!reissued.to_string().contains("PRIVATE KEY"));

    // Refused: outliving the parent, a revoked CA, a CA without its key, a key without rekey.
    let long = reissue(&app, "int", json!({"ca_expiration": {"type": "Duration", "duration": "30y"}})).await;
    assert_eq!(
        (long.status.as_u16(), long.json()["type"].clone()),
        (422, json!("urn:shedu:problem:outlives-parent")),
        "{}",
        long.text
    );
    assert_eq!(app.create_ca(ca_body("gone", None, "Gone", ("ECDSA", 256), "1y")).await.status, 201);
    app.set_status("gone", "REVOKED", Some("KeyCompromise")).await;
    let revoked = reissue(&app, "gone", json!({})).await;
    assert_eq!(
        (revoked.status.as_u16(), revoked.json()["type"].clone()),
        (409, json!("urn:shedu:problem:ca-not-reissuable"))
    );
    let (external, _) = openssl_ca(&dir, "ext", "External Anchor");
    let anchor = app.import_ca(json!({"id": "anchor", "certificate": external})).await;
    assert_eq!(anchor.status, 201, "{}", anchor.text);
    let keyless = reissue(&app, "anchor", json!({"rekey": true})).await;
    assert_eq!(
        (keyless.status.as_u16(), keyless.json()["type"].clone()),
        (409, json!("urn:shedu:problem:ca-not-reissuable"))
    );
    let no_rekey = reissue(&app, "int", json!({"key_metadata": {"type": "ECDSA", "bits": 256}})).await;
    assert_eq!(no_rekey.status, 400, "{}", no_rekey.text);
    let unknown = reissue(&app, "nobody", json!({})).await;
    assert_eq!(unknown.status, 404);

    // Deleting the rekeyed CA destroys both its keys: the current one and the one it retired.
    assert_eq!(app.set_status("int", "REVOKED", Some("Superseded")).await.status, 200);
    assert_eq!(app.delete_ca("int").await.status, 204);
    let history = app.events("int").await.json();
    let mut destroyed: Vec<String> = history["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ca.key.destroyed")
        .map(|e| e["data"]["key"]["key_id"].as_str().unwrap().to_owned())
        .collect();
    destroyed.sort();
    let mut keys = vec![int["key_id"].as_str().unwrap().to_owned(), new_int["key_id"].as_str().unwrap().to_owned()];
    keys.sort();
    assert_eq!(destroyed, keys, "{history}");
    let _ = std::fs::remove_dir_all(dir);
}
