//! Crafted requests a relying party should never find signed: names that read one way to a
//! person and another to software, lenient encodings, weak algorithms. Each is refused with a
//! named problem and appends nothing; what is signed, pkilint and openssl accept.

use rcgen::{CertificateParams, DnType, DnValue, KeyPair, SanType};
use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, ca_body, openssl, pkilint, temp_dir};

/// A CSR for a fresh P-256 key with `cn` (written as a UTF8String, whatever it holds) and `sans`.
fn crafted_csr(cn: &str, sans: Vec<SanType>) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, DnValue::Utf8String(cn.to_owned()));
    params.subject_alt_names = sans;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn sign_body(csr: &str) -> Value {
    json!({"csr": csr, "profile_id": "tls"})
}

async fn pki(app: &TestApp) {
    let tls = json!({"id": "tls", "name": "TLS server", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]});
    assert_eq!(app.create_profile(tls).await.status, 201);
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    app.allow_profiles("root", Some("tls"), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_names_are_refused_and_what_is_signed_lints_clean() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    pki(&app).await;
    let dir = temp_dir("hostile");
    let head = app.command_events().await;
    let good = crafted_csr("svc.example.test", vec![dns("svc.example.test")]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "NUL in the CN",
            crafted_csr("good.example.com\0.evil.com", vec![dns("good.example.com")]),
            "unsafe-characters",
        ),
        ("ESC sequence", crafted_csr("a\u{1b}[31m.example.test", vec![dns("a.example.test")]), "unsafe-characters"),
        ("BEL", crafted_csr("bell\u{7}.example.test", vec![dns("bell.example.test")]), "unsafe-characters"),
        ("right-to-left override", crafted_csr("gnp.\u{202e}exe.example.test", vec![]), "unsafe-characters"),
        ("zero-width space", crafted_csr("pay\u{200b}pal.example.test", vec![]), "unsafe-characters"),
        ("wildcard over a TLD", crafted_csr("*.com", vec![dns("*.com")]), "invalid-subject-alt-name"),
        ("IP as a DNS name", crafted_csr("10.0.0.1", vec![dns("10.0.0.1")]), "invalid-subject-alt-name"),
        ("trailing dot", crafted_csr("a.example.test", vec![dns("a.example.test.")]), "invalid-subject-alt-name"),
        ("no SAN for a TLS server", crafted_csr("svc.example.test", vec![]), "subject-alt-name-required"),
        (
            "CN not among the SANs",
            crafted_csr("evil.example.test", vec![dns("svc.example.test")]),
            "common-name-not-in-subject-alt-names",
        ),
        (
            "30,000 SANs",
            crafted_csr("svc.example.test", (0..30_000).map(|i| dns(&format!("h{i}.example.test"))).collect()),
            "invalid-input",
        ),
        (
            "101 SANs",
            crafted_csr("svc.example.test", (0..101).map(|i| dns(&format!("h{i}.example.test"))).collect()),
            "too-many-subject-alt-names",
        ),
        ("two CSRs in one", format!("{good}{good}"), "invalid-input"),
        ("junk after the CSR", format!("{good}trailing junk"), "invalid-input"),
        ("junk before the CSR", format!("junk\n{good}"), "invalid-input"),
    ];
    for (name, csr, slug) in cases {
        let reply = app.sign("root", sign_body(&csr)).await;
        assert_eq!(reply.json()["type"], format!("urn:shedu:problem:{slug}"), "{name}: {}", reply.text);
        assert!(matches!(reply.status.as_u16(), 400 | 422), "{name}: {}", reply.text);
        assert!(!reply.text.contains("evil"), "{name}: the error echoes the submitted name: {}", reply.text);
    }
    assert_eq!(app.command_events().await, head, "refused requests appended events");

    let signed = app.sign("root", sign_body(&good)).await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    let pem = signed.json()["certificate"].as_str().unwrap().to_owned();
    assert!(pkilint(&dir, &pem).is_empty(), "{}", pkilint(&dir, &pem));
    let _ = std::fs::remove_dir_all(dir);
}

/// An openssl CSR for a fresh key (`-newkey` arguments), with extra `req` arguments.
fn openssl_req(dir: &std::path::Path, name: &str, newkey: &[&str], extra: &[&str]) -> String {
    let (keyout, out) = (format!("{name}.key"), format!("{name}.csr"));
    let mut args = vec!["req", "-new", "-nodes", "-keyout", &keyout, "-out", &out, "-subj", "/CN=alg.example.test"];
    args.extend(["-addext", "subjectAltName=DNS:alg.example.test"]);
    args.extend(newkey);
    args.extend(extra);
    let (ok, text) = openssl(&args, dir);
    assert!(ok, "openssl req {name}: {text}");
    std::fs::read_to_string(dir.join(out)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csr_algorithms_come_from_an_allow_list_and_p521_is_supported() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    pki(&app).await;
    let dir = temp_dir("algorithms");
    let sha1 = openssl_req(&dir, "sha1", &["-newkey", "rsa:2048"], &["-sha1"]);
    let refused = app.sign("root", sign_body(&sha1)).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:algorithm-not-allowed");
    assert!(refused.text.contains("sha1WithRSAEncryption"), "{}", refused.text);

    let p521 = openssl_req(&dir, "p521", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"], &["-sha512"]);
    let signed = app.sign("root", sign_body(&p521)).await;
    assert_eq!(signed.status, 201, "a P-521 CSR has proof of possession: {}", signed.text);
    assert_eq!(signed.json()["key_metadata"]["bits"], 521);
    let pem = signed.json()["certificate"].as_str().unwrap().to_owned();
    assert!(pkilint(&dir, &pem).is_empty(), "{}", pkilint(&dir, &pem));

    let ecdsa_sha384 =
        openssl_req(&dir, "p256sha384", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], &["-sha384"]);
    assert_eq!(app.sign("root", sign_body(&ecdsa_sha384)).await.status, 201, "SHA-384 over P-256 is allowed");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ca_subjects_with_unsafe_characters_are_refused_on_creation_and_import() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let head = app.command_events().await;
    let mut body = ca_body("nul", None, "Root", ("ECDSA", 256), "1y");
    body["subject"]["organization"] = json!("a\u{0}b");
    let created = app.create_ca(body).await;
    assert_eq!(created.status, 422, "{}", created.text);
    assert_eq!(created.json()["type"], "urn:shedu:problem:unsafe-characters");
    assert!(created.text.contains("subject.organization"), "{}", created.text);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, DnValue::Utf8String("Root\u{202e}gnp".into()));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).unwrap().pem();
    let imported = app.import_ca(json!({"id": "rlo", "certificate": certificate})).await;
    assert_eq!(imported.status, 422, "{}", imported.text);
    assert_eq!(imported.json()["type"], "urn:shedu:problem:unsafe-characters");
    assert_eq!(app.command_events().await, head);
}

/// Anyone who can sign could once name any stored profile: a `sign_as_ca` one minted an
/// unconstrained sub-CA from a CA meant for TLS servers. A CA now signs with its default profile
/// or those it allows, and an inline profile only narrows the one that applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ca_signs_only_under_the_profiles_bound_to_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    pki(&app).await;
    let sub_ca = json!({"id": "sub-ca", "name": "Sub-CA", "validity": {"type": "Duration", "duration": "5y"},
        "sign_as_ca": true, "key_usage": ["CertSign", "CRLSign"]});
    assert_eq!(app.create_profile(sub_ca).await.status, 201);
    let good = crafted_csr("svc.example.test", vec![dns("svc.example.test")]);
    let head = app.command_events().await;
    let minted = app.sign("root", json!({"csr": good, "profile_id": "sub-ca"})).await;
    assert_eq!(minted.status, 422, "a TLS CA minted a sub-CA: {}", minted.text);
    assert_eq!(minted.json()["type"], "urn:shedu:problem:profile-not-allowed");
    let longer = json!({"csr": good, "profile": {"name": "long", "validity": {"type": "Duration", "duration": "2y"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]}});
    let widened = app.sign("root", longer).await;
    assert_eq!(widened.status, 422, "{}", widened.text);
    assert_eq!(widened.json()["type"], "urn:shedu:problem:inline-profile-widens");
    let more_usages = json!({"csr": good, "profile": {"name": "more", "validity": {"type": "Duration", "duration": "7d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth", "CodeSigning", "OCSPSigning"]}});
    assert_eq!(app.sign("root", more_usages).await.json()["type"], "urn:shedu:problem:inline-profile-widens");
    assert_eq!(app.command_events().await, head, "refused requests appended events");

    let narrower = json!({"csr": good, "profile": {"name": "week", "validity": {"type": "Duration", "duration": "7d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]}});
    let signed = app.sign("root", narrower).await;
    assert_eq!(signed.status, 201, "{}", signed.text);
    assert_eq!(signed.json()["profile_id"], "tls", "recorded under the stored profile it narrowed");

    app.allow_profiles("root", Some("tls"), &["sub-ca"]).await;
    let allowed = app.sign("root", json!({"csr": good, "profile_id": "sub-ca"})).await;
    assert_eq!(allowed.status, 201, "an allowed profile signs: {}", allowed.text);
    assert_eq!(allowed.json()["is_ca"], true);
}
