//! The hierarchy's rules reach every CA below the one they apply to: a hold on an intermediate
//! stops its subordinates, and a parent's path length bounds the CAs created or imported under it.

use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl, openssl_csr, temp_dir};

both_backends!(a_hold_on_an_intermediate_stops_every_ca_below_it, a_parents_path_length_bounds_its_subordinates);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_issuer_name_with_repeated_attributes_is_copied_byte_for_byte() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.create_profile(device_profile()).await.status, 201);
    let dir = temp_dir("dcname");
    let args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "dc.key"];
    let mut args = args.to_vec();
    args.extend(["-out", "dc.pem", "-days", "3650", "-subj", "/DC=com/DC=example/CN=Example Root"]);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    let (ok, out) = openssl(&args, &dir);
    assert!(ok, "{out}");
    let body = json!({"id": "dc", "certificate": std::fs::read_to_string(dir.join("dc.pem")).unwrap(),
        "private_key": std::fs::read_to_string(dir.join("dc.key")).unwrap()});
    assert_eq!(app.import_ca(body).await.status, 201);
    app.allow_profiles("dc", Some("device"), &[]).await;
    let sub = app.create_ca(ca_body("dc-sub", Some("dc"), "Example Issuing", ("ECDSA", 256), "1y")).await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    std::fs::write(dir.join("sub.pem"), sub.json()["certificate"]["certificate"].as_str().unwrap()).unwrap();
    let csr = openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let leaf = app.sign("dc", json!({"csr": csr, "profile_id": "device"})).await;
    assert_eq!(leaf.status, 201, "{}", leaf.text);
    std::fs::write(dir.join("leaf.pem"), leaf.json()["certificate"].as_str().unwrap()).unwrap();
    for signed in ["sub.pem", "leaf.pem"] {
        let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "dc.pem", signed], &dir);
        assert!(ok, "{signed}: {out}");
        let (_, issuer) = openssl(&["x509", "-in", signed, "-noout", "-issuer"], &dir);
        assert!(issuer.contains("DC = com, DC = example, CN = Example Root"), "{signed}: {issuer}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn device_profile() -> Value {
    json!({"id": "device", "name": "Device", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]})
}

async fn a_hold_on_an_intermediate_stops_every_ca_below_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.create_profile(device_profile()).await.status, 201);
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    assert_eq!(app.create_ca(ca_body("int", Some("root"), "Int", ("ECDSA", 256), "5y")).await.status, 201);
    assert_eq!(app.create_ca(ca_body("issuing", Some("int"), "Issuing", ("ECDSA", 256), "2y")).await.status, 201);
    app.allow_profiles("issuing", Some("device"), &[]).await;
    let dir = temp_dir("hold");
    let csr = openssl_csr(&dir, "d", "ec:P-256", "d.example.test", "DNS:d.example.test");
    let body = json!({"csr": csr, "profile_id": "device"});
    assert_eq!(app.sign("issuing", body.clone()).await.status, 201, "signs while its chain is active");

    assert_eq!(app.set_status("int", "REVOKED", Some("CertificateHold")).await.status, 200);
    assert_eq!(app.ca("issuing").await.json()["status"], "ACTIVE", "a hold does not cascade");
    let head = app.command_events().await;
    let refused = app.sign("issuing", body.clone()).await;
    assert_eq!(refused.status, 409, "a CA under a held intermediate signed: {}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:ancestor-not-active");
    assert!(refused.text.contains("'int'"), "{}", refused.text);
    let sub = app.create_ca(ca_body("sub", Some("issuing"), "Sub", ("ECDSA", 256), "1y")).await;
    assert_eq!(sub.status, 409, "a subordinate created under a held ancestor: {}", sub.text);
    assert_eq!(app.command_events().await, head, "refusals appended events");

    assert_eq!(app.set_status("int", "ACTIVE", None).await.status, 200);
    assert_eq!(app.sign("issuing", body).await.status, 201, "signs again once the hold is lifted");
    let _ = std::fs::remove_dir_all(dir);
}

/// A self-signed root made by openssl with `pathlen`, imported with its key.
async fn import_root(app: &TestApp, dir: &std::path::Path, id: &str, pathlen: u32) {
    let constraints = format!("basicConstraints=critical,CA:TRUE,pathlen:{pathlen}");
    let (key, pem) = (format!("{id}.key"), format!("{id}.pem"));
    let subject = format!("/CN=Root {id}");
    let args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &key];
    let mut args = args.to_vec();
    args.extend(["-out", &pem, "-days", "3650", "-subj", &subject, "-addext", &constraints]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    let (ok, out) = openssl(&args, dir);
    assert!(ok, "{out}");
    let body = json!({"id": id, "certificate": std::fs::read_to_string(dir.join(&pem)).unwrap(),
        "private_key": std::fs::read_to_string(dir.join(&key)).unwrap()});
    let reply = app.import_ca(body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

async fn a_parents_path_length_bounds_its_subordinates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = temp_dir("pathlen");
    import_root(&app, &dir, "leafonly", 0).await;
    import_root(&app, &dir, "one", 1).await;
    let refused = app.create_ca(ca_body("int0", Some("leafonly"), "Int", ("ECDSA", 256), "1y")).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:path-len-exceeded");

    let int = app.create_ca(ca_body("int1", Some("one"), "Int", ("ECDSA", 256), "1y")).await;
    assert_eq!(int.status, 201, "{}", int.text);
    assert_eq!(int.json()["certificate"]["path_len_constraint"], 0, "one less than its parent's");
    let below = app.create_ca(ca_body("int2", Some("int1"), "Below", ("ECDSA", 256), "180d")).await;
    assert_eq!(below.status, 422, "pathLen 1 allows one CA below the root: {}", below.text);

    std::fs::write(
        dir.join("one-root.pem"),
        app.ca("one").await.json()["certificate"]["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("int1.pem"), app.ca("int1").await.json()["certificate"]["certificate"].as_str().unwrap())
        .unwrap();
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "one-root.pem", "int1.pem"], &dir);
    assert!(ok, "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ca_not_yet_valid_reads_inactive_and_signs_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.create_profile(device_profile()).await.status, 201);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Future Root");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    params.not_before = time::macros::datetime!(2030-01-01 0:00 UTC);
    params.not_after = time::macros::datetime!(2040-01-01 0:00 UTC);
    let certificate = params.self_signed(&key).unwrap().pem();
    let imported =
        app.import_ca(json!({"id": "future", "certificate": certificate, "private_key": key.serialize_pem()})).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    assert_eq!(imported.json()["status"], "INACTIVE");
    app.allow_profiles("future", Some("device"), &[]).await;
    let listed = app.list_cas(&format!("min_position={}&filter=status[eq]INACTIVE", imported.position())).await;
    assert_eq!(listed.json()["list"].as_array().unwrap().len(), 1, "{}", listed.text);
    let dir = temp_dir("future");
    let csr = openssl_csr(&dir, "d", "ec:P-256", "d.example.test", "DNS:d.example.test");
    let refused = app.sign("future", json!({"csr": csr, "profile_id": "device"})).await;
    assert_eq!(refused.status, 409, "a CA not yet valid signed: {}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:ca-not-active");
    let _ = std::fs::remove_dir_all(dir);
}
