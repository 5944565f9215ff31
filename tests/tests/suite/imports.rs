//! Imported CAs are validated as issuers and linked by RFC 5280 name chaining, not by a
//! signature alone.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose};
use serde_json::json;
use shedu_tests::{Backend, TestApp, openssl, temp_dir};

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// An openssl self-signed CA for a fresh key (`-newkey` arguments); returns (certificate, key).
fn openssl_root(dir: &std::path::Path, name: &str, newkey: &[&str], extra: &[&str]) -> (String, String) {
    let (key, pem, subject) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={name}"));
    let mut args = vec!["req", "-x509", "-nodes", "-keyout", &key, "-out", &pem, "-days", "365", "-subj", &subject];
    args.extend(newkey);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    args.extend(extra);
    let (ok, out) = openssl(&args, dir);
    assert!(ok, "{out}");
    (std::fs::read_to_string(dir.join(pem)).unwrap(), std::fs::read_to_string(dir.join(key)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_naming_itself_but_signed_by_another_key_is_nobodys_child() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let root_key = KeyPair::generate().unwrap();
    let mut root = ca_params("Real Root");
    root.key_identifier_method = KeyIdMethod::PreSpecified(vec![0x11; 20]);
    let root_pem = root.self_signed(&root_key).unwrap().pem();
    let imported =
        app.import_ca(json!({"id": "real", "certificate": root_pem, "private_key": root_key.serialize_pem()}));
    assert_eq!(imported.await.status, 201);

    // Issuer = subject = "Selfish", AKI = the real root's SKI, signature by the real root's key.
    let mut forged_issuer = ca_params("Selfish");
    forged_issuer.key_identifier_method = KeyIdMethod::PreSpecified(vec![0x11; 20]);
    let issuer = Issuer::new(forged_issuer, &root_key);
    let selfish_key = KeyPair::generate().unwrap();
    let mut selfish = ca_params("Selfish");
    selfish.use_authority_key_identifier_extension = true;
    let selfish = selfish.signed_by(&selfish_key, &issuer).unwrap().pem();
    // Without the AKI it is self-issued with a self-signature that does not verify: refused.
    let unverifiable = ca_params("Selfish").signed_by(&selfish_key, &issuer).unwrap().pem();
    let refused = app.import_ca(json!({"id": "unverifiable", "certificate": unverifiable})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:self-signature-invalid");
    let reply = app.import_ca(json!({"id": "selfish", "certificate": selfish})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let ca = reply.json();
    assert!(ca["issuer_metadata"].is_null(), "filed under a CA whose name it does not carry: {ca}");
    assert!(ca["level"].is_null(), "an orphan is not a level-0 root: {ca}");
    let roots = app.list_cas(&format!("min_position={}&filter=level[eq]0", reply.position())).await.json();
    let ids: Vec<&str> = roots["list"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["real"], "orphans are not listed as roots");
    let stats = app.get(&format!("/v2/stats/cas?min_position={}", reply.position())).await.json();
    assert_eq!(stats["level_distribution"]["0"], 1, "{stats}");

    // Naming the real root as its issuer (name and AKI) but signed by another key: refused.
    let mut forged = ca_params("Forged Sub");
    forged.use_authority_key_identifier_extension = true;
    let real_name = Issuer::new(
        {
            let mut p = ca_params("Real Root");
            p.key_identifier_method = KeyIdMethod::PreSpecified(vec![0x11; 20]);
            p
        },
        &selfish_key,
    );
    let forged = forged.signed_by(&KeyPair::generate().unwrap(), &real_name).unwrap().pem();
    let refused = app.import_ca(json!({"id": "forged", "certificate": forged})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:forged-issuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imported_cas_must_be_able_to_issue() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = temp_dir("importable");
    let head = app.command_events().await;
    let (no_cert_sign, key) = openssl_root(
        &dir,
        "nocertsign",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["-addext", "keyUsage=critical,digitalSignature,cRLSign"],
    );
    let refused = app.import_ca(json!({"id": "x", "certificate": no_cert_sign, "private_key": key})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:not-an-issuer");

    let (weak, _) = openssl_root(&dir, "weak", &["-newkey", "rsa:1024"], &["-addext", "keyUsage=critical,keyCertSign"]);
    let refused = app.import_ca(json!({"id": "weak", "certificate": weak})).await;
    assert_eq!(refused.status, 422, "an RSA-1024 trust anchor was accepted: {}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:weak-key");
    assert_eq!(app.command_events().await, head, "refused imports appended events");

    // P-521 with SHA-512 verifies, so the root is recognised as self-signed.
    let (p521, _) = openssl_root(
        &dir,
        "p521",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-sha512"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    );
    let imported = app.import_ca(json!({"id": "p521", "certificate": p521})).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    assert_eq!(imported.json()["issuer_metadata"]["id"], "p521", "a P-521 root is its own issuer");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_subordinate_ends_no_later_than_its_issuer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let root_key = KeyPair::generate().unwrap();
    let mut root = ca_params("Short Root");
    root.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let root_certificate = root.self_signed(&root_key).unwrap();
    let body = json!({"id": "short", "certificate": root_certificate.pem()});
    assert_eq!(app.import_ca(body).await.status, 201);
    let issuer = Issuer::new(root, &root_key);
    let mut sub = ca_params("Long Sub");
    sub.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let sub = sub.signed_by(&KeyPair::generate().unwrap(), &issuer).unwrap().pem();
    let refused = app.import_ca(json!({"id": "long", "certificate": sub})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:outlives-parent");
}

/// Two CAs on one key (a cross-certificate, a CA reissued without a new key): deleting one keeps
/// the key for the other, and only the engine's confirmation records a key as destroyed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_key_outlives_the_first_ca_deleted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = KeyPair::generate().unwrap();
    for (id, cn) in [("first", "First Name"), ("second", "Second Name")] {
        let certificate = ca_params(cn).self_signed(&key).unwrap().pem();
        let reply = app.import_ca(json!({"id": id, "certificate": certificate, "private_key": key.serialize_pem()}));
        assert_eq!(reply.await.status, 201);
    }
    let types = |history: serde_json::Value| -> Vec<String> {
        history["list"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(app.set_status("first", "REVOKED", Some("Superseded")).await.status, 200);
    assert_eq!(app.delete_ca("first").await.status, 204);
    assert!(!types(app.events("first").await.json()).contains(&"ca.key.destroyed".to_owned()), "a shared key is kept");
    let sub = app.create_ca(shedu_tests::ca_body("sub", Some("second"), "Sub", ("ECDSA", 256), "30d")).await;
    assert_eq!(sub.status, 201, "the other CA still signs: {}", sub.text);

    assert_eq!(app.set_status("second", "REVOKED", Some("Superseded")).await.status, 200);
    assert_eq!(app.delete_ca("second").await.status, 204);
    assert_eq!(types(app.events("second").await.json()).last().map(String::as_str), Some("ca.key.destroyed"));
}

/// An import with its `chain` brings the CAs above it in first (as trust anchors), in whatever
/// order the chain lists them, so the certificate lands at its real level under its real parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_brings_its_chain_in_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (root_key, int_key, sub_key) =
        (KeyPair::generate().unwrap(), KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let root_params = ca_params("Chain Root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, &root_key);
    let int_params = ca_params("Chain Intermediate");
    let int = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::new(int_params, &int_key);
    let sub = ca_params("Chain Issuing").signed_by(&sub_key, &int_issuer).unwrap();
    let chain = format!("{}{}", root.pem(), int.pem());
    // With the wrong key, refused before anything of it is appended: its chain neither.
    let head = app.command_events().await;
    let wrong =
        json!({"id": "issuing", "certificate": sub.pem(), "private_key": int_key.serialize_pem(), "chain": chain});
    let refused = app.import_ca(wrong).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(app.command_events().await, head, "a refused import left its chain behind");
    let body =
        json!({"id": "issuing", "certificate": sub.pem(), "private_key": sub_key.serialize_pem(), "chain": chain});
    let reply = app.import_ca(body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let issuing = reply.json();
    assert_eq!(issuing["level"], 2, "{issuing}");
    let parent = issuing["issuer_metadata"]["id"].as_str().unwrap().to_owned();
    let parent = app.ca(&parent).await.json();
    assert_eq!(parent["certificate"]["subject"]["common_name"], "Chain Intermediate");
    assert_eq!(parent["type"], "IMPORTED_WITHOUT_KEY");
    assert_eq!(parent["level"], 1);
    let listed = app.list_cas(&format!("min_position={}", reply.position())).await.json();
    assert_eq!(listed["list"].as_array().unwrap().len(), 3, "{listed}");

    // The same chain again is recognised, not imported twice.
    let again = json!({"id": "issuing-2", "certificate": int.pem(), "chain": format!("{}{}", int.pem(), root.pem())});
    let reply = app.import_ca(again).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.json()["type"], "urn:shedu:problem:already-imported");
}

/// Roots whose certificates Shedu once mishandled: a multi-valued RDN in the subject made every
/// use a 500; name constraints and EKUs on an issuer were not honoured in what it signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issuer_constraints_are_honoured_or_the_import_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = temp_dir("constraints");
    let device = json!({"id": "device", "name": "Device", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"]});
    assert_eq!(app.create_profile(device).await.status, 201);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let ku = ["-addext", "keyUsage=critical,keyCertSign,cRLSign"];
    let import = |name: &'static str, cert: String, key: String| {
        let app = &app;
        async move { app.import_ca(json!({"id": name, "certificate": cert, "private_key": key})).await }
    };

    let (ok, out) = openssl(
        &[
            &["req", "-x509", "-nodes", "-multivalue-rdn", "-subj", "/O=Org+CN=Multi Root", "-days", "365"][..],
            &ec,
            &["-keyout", "mv.key", "-out", "mv.pem", "-addext", "basicConstraints=critical,CA:TRUE"],
            &ku,
        ]
        .concat(),
        &dir,
    );
    assert!(ok, "{out}");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(import("mv", read("mv.pem"), read("mv.key")).await.status, 201);
    app.allow_profiles("mv", Some("device"), &[]).await;
    let csr = shedu_tests::openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let leaf = app.sign("mv", json!({"csr": csr})).await;
    assert_eq!(leaf.status, 201, "{}", leaf.text);
    std::fs::write(dir.join("leaf.pem"), leaf.json()["certificate"].as_str().unwrap()).unwrap();
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "mv.pem", "leaf.pem"], &dir);
    assert!(ok, "{out}");

    let (nc, nc_key) = openssl_root(
        &dir,
        "nc",
        &ec,
        &[&ku[..], &["-addext", "nameConstraints=critical,permitted;DNS:example.test"]].concat(),
    );
    let refused = import("nc", nc, nc_key).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:not-an-issuer");

    let (tls, tls_key) =
        openssl_root(&dir, "tls", &ec, &[&ku[..], &["-addext", "extendedKeyUsage=serverAuth"]].concat());
    assert_eq!(import("tls", tls, tls_key).await.status, 201);
    app.allow_profiles("tls", Some("device"), &[]).await;
    let client = app.sign("tls", json!({"csr": csr})).await;
    assert_eq!(client.status, 422, "a TLS-only CA signed a client certificate: {}", client.text);
    assert_eq!(client.json()["type"], "urn:shedu:problem:incompatible-usages");
    let _ = std::fs::remove_dir_all(dir);
}

/// Legacy roots name themselves in BMPString: a legal DirectoryString, read and imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bmp_string_name_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = KeyPair::generate().unwrap();
    let mut params = ca_params("ignored");
    params.distinguished_name = rcgen::DistinguishedName::new();
    let bmp = rcgen::string::BmpString::try_from("BMP Root").unwrap();
    params.distinguished_name.push(DnType::CommonName, rcgen::DnValue::BmpString(bmp));
    let certificate = params.self_signed(&key).unwrap().pem();
    let reply = app.import_ca(json!({"id": "bmp", "certificate": certificate})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["certificate"]["subject"]["common_name"], "BMP Root");
}
