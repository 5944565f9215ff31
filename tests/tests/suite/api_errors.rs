//! Bad input gets a clear 4xx problem+json and appends nothing.

use serde_json::json;
use shedu_tests::{Backend, TestApp, both_backends, ca_body};

both_backends!(bad_input_is_refused_and_the_log_is_unchanged);

async fn bad_input_is_refused_and_the_log_is_unchanged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    assert_eq!(app.set_status("root", "REVOKED", Some("KeyCompromise")).await.status, 200);
    let short = app.create_ca(ca_body("short", None, "Short", ("ECDSA", 256), "1d")).await;
    assert_eq!(short.status, 201);
    let head = app.command_events().await;

    let garbage_pem =
        "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBBQUA\n-----END CERTIFICATE-----\n";
    let root_pem = app.ca("root").await.json()["certificate"]["certificate"].as_str().unwrap().to_owned();
    let truncated = &root_pem[..root_pem.len() / 2];
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let external = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "External");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem()
    };
    // (what, reply, status, problem type, a word the detail must contain)
    let cases: Vec<(&str, shedu_tests::Reply, u16, &str, &str)> = vec![
        (
            "malformed JSON",
            app.raw_post("/v2/cas", "application/json", "{\"subject\": ").await,
            400,
            "invalid-input",
            "malformed JSON",
        ),
        (
            "wrong content type",
            app.raw_post("/v2/cas", "text/plain", "{}").await,
            415,
            "unsupported-media-type",
            "application/json",
        ),
        (
            "missing CN",
            app.create_ca(ca_body("x", None, " ", ("ECDSA", 256), "1y")).await,
            400,
            "invalid-input",
            "subject.common_name",
        ),
        (
            "unsupported key type",
            app.create_ca(ca_body("x", None, "X", ("DSA", 2048), "1y")).await,
            400,
            "invalid-input",
            "key_metadata.type",
        ),
        (
            "unsupported key size",
            app.create_ca(ca_body("x", None, "X", ("RSA", 1024), "1y")).await,
            400,
            "invalid-input",
            "key_metadata.bits",
        ),
        (
            "bad duration",
            app.create_ca(ca_body("x", None, "X", ("ECDSA", 256), "ten years")).await,
            400,
            "invalid-input",
            "ca_expiration",
        ),
        ("bad id", app.create_ca(ca_body("a/b", None, "X", ("ECDSA", 256), "1y")).await, 400, "invalid-input", "id"),
        (
            "unknown parent",
            app.create_ca(ca_body("x", Some("ghost"), "X", ("ECDSA", 256), "1y")).await,
            422,
            "parent-not-found",
            "ghost",
        ),
        (
            "revoked parent",
            app.create_ca(ca_body("x", Some("root"), "X", ("ECDSA", 256), "1y")).await,
            409,
            "ca-not-active",
            "REVOKED",
        ),
        (
            "outlives parent",
            app.create_ca(ca_body("x", Some("short"), "X", ("ECDSA", 256), "2d")).await,
            422,
            "outlives-parent",
            "outlive",
        ),
        (
            "duplicate id",
            app.create_ca(ca_body("root", None, "X", ("ECDSA", 256), "1y")).await,
            409,
            "already-exists",
            "already exists",
        ),
        (
            "unknown field",
            app.create_ca(json!({"subject": {"common_name": "X"}, "key_metadata": {"type": "ECDSA", "bits": 256},
            "ca_expiration": {"type": "Duration", "duration": "1y"}, "colour": "red"}))
                .await,
            400,
            "invalid-input",
            "colour",
        ),
        ("garbage PEM", app.import_ca(json!({"certificate": "not pem"})).await, 400, "invalid-input", "certificate"),
        (
            "bad DER in PEM",
            app.import_ca(json!({"certificate": garbage_pem})).await,
            400,
            "invalid-input",
            "certificate",
        ),
        ("truncated PEM", app.import_ca(json!({"certificate": truncated})).await, 400, "invalid-input", "certificate"),
        (
            "key does not match",
            app.import_ca(json!({"id": "m", "certificate": external, "private_key": other_key})).await,
            422,
            "key-mismatch",
            "does not match",
        ),
        (
            "garbage key",
            app.import_ca(json!({"id": "g", "certificate": external, "private_key": "nope"})).await,
            400,
            "invalid-input",
            "private_key",
        ),
        (
            "already imported",
            app.import_ca(json!({"id": "copy", "certificate": root_pem})).await,
            409,
            "already-imported",
            "'root'",
        ),
        (
            "a profile change that says nothing",
            app.call(reqwest::Method::PUT, "/v2/cas/short/profile", Some(json!({})), &[]).await,
            400,
            "invalid-input",
            "profile_id",
        ),
        (
            "an empty profile id",
            app.call(reqwest::Method::PUT, "/v2/cas/short/profile", Some(json!({"profile_id": ""})), &[]).await,
            400,
            "invalid-input",
            "profile_id",
        ),
        (
            "a key pasted as a key type",
            app.create_ca(ca_body("x", None, "X", ("-----BEGIN EC PRIVATE KEY-----", 256), "1y")).await,
            400,
            "invalid-input",
            "the value sent",
        ),
        (
            "a control character in a filter",
            app.list_cas("filter=bo%1Bgus[eq]1").await,
            400,
            "invalid-input",
            "the value sent",
        ),
        (
            "a key followed by junk",
            app.import_ca(json!({"id": "j", "certificate": external, "private_key": format!("{other_key}junk")})).await,
            400,
            "invalid-input",
            "outside a PEM block",
        ),
        ("bad filter syntax", app.list_cas("filter=status=ACTIVE").await, 400, "invalid-input", "<field>[<op>]<value>"),
        ("unknown filter field", app.list_cas("filter=colour[eq]red").await, 400, "invalid-input", "colour"),
        ("bad filter operator", app.list_cas("filter=level[ct]1").await, 400, "invalid-input", "operator"),
        ("bad page size", app.list_cas("page_size=0").await, 400, "invalid-input", "page_size"),
        ("unknown CA", app.ca("ghost").await, 404, "not-found", "ghost"),
        ("unknown CA status", app.set_status("ghost", "REVOKED", None).await, 404, "not-found", "ghost"),
        ("unknown status", app.set_status("short", "DESTROYED", None).await, 400, "invalid-input", "status"),
        ("expired by hand", app.set_status("short", "EXPIRED", None).await, 400, "invalid-input", "EXPIRED"),
        (
            "reason without revocation",
            app.set_status("short", "INACTIVE", Some("KeyCompromise")).await,
            400,
            "invalid-input",
            "revocation_reason",
        ),
        (
            "bad patch",
            app.patch_metadata("short", json!([{"op": "remove", "path": "/missing"}])).await,
            422,
            "patch-does-not-apply",
            "patch",
        ),
        ("not a patch", app.patch_metadata("short", json!({"op": "add"})).await, 400, "invalid-input", "patch"),
        ("delete active", app.delete_ca("short").await, 409, "ca-not-deletable", "ACTIVE"),
    ];
    for (name, reply, status, slug, needle) in cases {
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json", "{name}");
        let problem = reply.json();
        assert_eq!(problem["status"], status, "{name}");
        assert_eq!(problem["type"], format!("urn:shedu:problem:{slug}"), "{name}");
        assert!(reply.text.contains(needle), "{name}: expected '{needle}' in {}", reply.text);
        assert!(!reply.text.contains("PRIVATE KEY"), "{name} leaks key material");
        assert!(!reply.text.contains("\\u001b"), "{name} echoes a control character");
    }
    assert_eq!(app.command_events().await, head, "refused commands must append nothing");
}
