//! Crypto engines with real devices: a SoftHSM2 token (PKCS#11) and a moto KMS endpoint. For
//! each: a root and an intermediate, CSRs signed, a reissue, 16 signatures at once, every chain
//! verified by openssl and every leaf linted by pkilint; keys deleted with their CA; keys that
//! stay on the token, sensitive and never extractable; CRLs signed there and checked by openssl.

use serde_json::{Value, json};
use shedu_domain::ca::{SecurityLevel, SecurityPolicy};
use shedu_infra::config::EngineConfig;
use shedu_tests::crls::{crl_until, fetch_crl, listed};
use shedu_tests::engines::{HSM_PIN, Moto, SoftHsmToken};
use shedu_tests::{Backend, TestApp, ca_body, openssl, openssl_ca, openssl_csr, pkilint, pkilint_crl, temp_dir};

/// The software engine beside the one under test, as a configuration file would give it.
fn software(dir: &std::path::Path) -> EngineConfig {
    let kek = dir.join("kek.hex");
    std::fs::write(&kek, "ab".repeat(32)).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    EngineConfig {
        id: "software".into(),
        kind: "software".into(),
        default: true,
        kek_file: Some(kek),
        ..EngineConfig::default()
    }
}

async fn app_with(engine: EngineConfig, policy: SecurityPolicy) -> TestApp {
    let dir = temp_dir("engine-kek");
    let mut app = TestApp::unstarted(
        Backend::Sqlite,
        vec![software(&dir), engine],
        std::sync::Arc::new(shedu_commands::clock::SystemClock),
    )
    .await;
    app.policy = policy;
    app.try_start().await.expect("Shedu starts");
    app
}

fn pem(value: &Value) -> String {
    value["certificate"]["certificate"].as_str().or(value["certificate"].as_str()).expect("PEM").to_owned()
}

fn on(mut body: Value, engine: &str) -> Value {
    body["engine_id"] = json!(engine);
    body
}

/// openssl verifies `leaf` under `root` through `intermediate`, strictly.
fn verify_chain(dir: &std::path::Path, root: &str, intermediate: &str, leaf: &str) {
    let name = uuid::Uuid::new_v4().simple().to_string();
    let (r, i, l) = (format!("{name}-root.pem"), format!("{name}-int.pem"), format!("{name}-leaf.pem"));
    std::fs::write(dir.join(&r), root).unwrap();
    std::fs::write(dir.join(&i), intermediate).unwrap();
    std::fs::write(dir.join(&l), leaf).unwrap();
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", &r, "-untrusted", &i, &l], dir);
    assert!(ok, "openssl verify: {out}");
}

struct Exercised {
    root: Value,
    intermediate: Value,
}

/// What every engine must do: a root and an intermediate held in it, a CSR signed, the
/// intermediate reissued with a new key, 16 signatures at once. Returns the CAs.
async fn exercise(app: &TestApp, engine: &str, level: &str) -> Exercised {
    let dir = temp_dir("engine");
    let engines = app.get("/v2/engines").await.json();
    let info = engines.as_array().unwrap().iter().find(|e| e["id"] == engine).cloned().expect("engine listed");
    assert_eq!(info["reachable"], true, "{info}");
    assert_eq!(info["security_level"], level);
    assert_eq!(info["default"], false);
    let ecdsa = info["supported_key_types"].as_array().unwrap().iter().find(|t| t["type"] == "ECDSA").cloned();
    assert!(ecdsa.is_some_and(|t| t["sizes"].as_array().unwrap().contains(&json!(256))), "{info}");

    let reply = app.create_ca(on(ca_body("root", None, "Engine Root", ("ECDSA", 256), "10y"), engine)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let root = reply.json();
    assert_eq!((root["engine_id"].as_str(), root["security_level"].as_str()), (Some(engine), Some(level)));
    let reply =
        app.create_ca(on(ca_body("int", Some("root"), "Engine Intermediate", ("RSA", 2048), "5y"), engine)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let intermediate = reply.json();
    let profile = json!({"id": "leaf", "name": "leaf", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]});
    assert_eq!(app.create_profile(profile).await.status, 201);
    app.allow_profiles("int", Some("leaf"), &[]).await;
    let csr = openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let reply = app.sign("int", json!({"csr": csr})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let leaf = pem(&reply.json());
    verify_chain(&dir, &pem(&root), &pem(&intermediate), &leaf);
    assert_eq!(pkilint(&dir, &leaf), "", "pkilint findings");

    // A reissue with a new key, signed by the root in the engine.
    let reply = app.call(reqwest::Method::POST, "/v2/cas/int/reissue", Some(json!({"rekey": true})), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let intermediate = reply.json();
    assert_eq!(intermediate["engine_id"], engine);

    // 16 signatures at once, each verified.
    let csrs: Vec<String> = (0..16)
        .map(|n| {
            openssl_csr(
                &dir,
                &format!("c{n}"),
                "ec:P-256",
                &format!("c{n}.example.test"),
                &format!("DNS:c{n}.example.test"),
            )
        })
        .collect();
    let replies = futures_util::future::join_all(csrs.iter().map(|csr| app.sign("int", json!({"csr": csr})))).await;
    let mut serials = Vec::new();
    for reply in replies {
        assert_eq!(reply.status, 201, "{}", reply.text);
        verify_chain(&dir, &pem(&root), &pem(&intermediate), &pem(&reply.json()));
        serials.push(reply.json()["serial_number"].as_str().unwrap().to_owned());
    }

    // CRLs are signed in the engine too: the intermediate's (RSA) lists a revoked certificate.
    assert_eq!(app.set_certificate_status(&serials[0], "REVOKED", Some("KeyCompromise")).await.status, 200);
    crl_until(app, &dir, "int", "", |t| listed(t, &serials[0])).await;
    std::fs::write(dir.join("int.pem"), pem(&intermediate)).unwrap();
    let (ok, out) = openssl(&["crl", "-in", "polled.pem", "-noout", "-CAfile", "int.pem"], &dir);
    assert!(ok && out.contains("verify OK"), "{engine}: {out}");
    assert_eq!(pkilint_crl(&dir, "polled.der"), "", "pkilint on the CRL");
    // And the root's (ECDSA), with nothing on it yet.
    fetch_crl(app, &dir, "root", "", "root-crl").await;
    std::fs::write(dir.join("root.pem"), pem(&root)).unwrap();
    let (ok, out) = openssl(&["crl", "-in", "root-crl.pem", "-noout", "-CAfile", "root.pem"], &dir);
    assert!(ok && out.contains("verify OK"), "{engine}: {out}");
    Exercised { root, intermediate }
}

/// Revokes and deletes a CA: 204, and its key is destroyed in its engine.
async fn revoke_and_delete(app: &TestApp, id: &str) {
    assert_eq!(app.set_status(id, "REVOKED", Some("CessationOfOperation")).await.status, 200);
    let reply = app.delete_ca(id).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pkcs11_token_holds_and_uses_the_keys() {
    let token = SoftHsmToken::new();
    let app = app_with(token.engine("hsm"), SecurityPolicy::default()).await;
    let cas = exercise(&app, "hsm", "SL2").await;

    // The keys are on the token, sensitive and never extractable.
    let root_key = cas.root["key_id"].as_str().unwrap();
    let private = token.object("Private Key", root_key).expect("the root's private key is on the token");
    assert!(private.contains("sensitive") && private.contains("never extractable"), "{private}");
    assert!(!private.contains("decrypt") && private.contains("sign"), "{private}");

    // An Ed25519 root, where the token offers EdDSA.
    let reply = app.create_ca(on(ca_body("ed", None, "Ed Root", ("Ed25519", 256), "1y"), "hsm")).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let dir = temp_dir("engine-ed");
    std::fs::write(dir.join("ed.pem"), pem(&reply.json())).unwrap();
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "ed.pem", "ed.pem"], &dir);
    assert!(ok, "{out}");

    // A CA imported with its key: the key goes onto the token.
    let (certificate, private_key) = openssl_ca(&dir, "imp", "Imported HSM Root");
    let reply = app
        .import_ca(
            json!({"id": "imported", "certificate": certificate, "private_key": private_key, "engine_id": "hsm"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let imported = reply.json();
    assert_eq!(
        (imported["type"].as_str(), imported["security_level"].as_str()),
        (Some("IMPORTED_WITH_KEY"), Some("SL2"))
    );
    let key = token.object("Private Key", imported["key_id"].as_str().unwrap()).expect("imported key on the token");
    assert!(key.contains("sensitive"), "{key}");
    assert!(!reply.text.contains("PRIVATE KEY"));
    app.allow_profiles("imported", Some("leaf"), &[]).await;
    let csr = openssl_csr(&dir, "imp-leaf", "ec:P-256", "imp.example.test", "DNS:imp.example.test");
    let reply = app.sign("imported", json!({"csr": csr})).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    std::fs::write(dir.join("imp-leaf.pem"), pem(&reply.json())).unwrap();
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", "imp.pem", "imp-leaf.pem"], &dir);
    assert!(ok, "{out}");

    // Deleting the intermediate destroys its key, and the key it had before the reissue.
    let int_key = cas.intermediate["key_id"].as_str().unwrap().to_owned();
    assert!(token.object("Private Key", &int_key).is_some());
    revoke_and_delete(&app, "int").await;
    assert!(token.object("Private Key", &int_key).is_none(), "the deleted CA's key is gone");
    assert!(token.object("Public Key", &int_key).is_none());

    // Nothing in the log carries the PIN.
    for id in ["root", "int", "imported"] {
        assert!(!app.events(id).await.text.contains(HSM_PIN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kms_endpoint_holds_and_uses_the_keys() {
    let moto = Moto::start().await;
    let app = app_with(moto.engine("kms"), SecurityPolicy::default()).await;
    let cas = exercise(&app, "kms", "SL1").await;
    let alias = |ca: &Value| format!("alias/shedu/{}", ca["key_id"].as_str().unwrap());
    assert_eq!(moto.key_state(&alias(&cas.root)).await.as_deref(), Some("Enabled"));

    // KMS does not take imported keys here: a clear 422, and nothing recorded.
    let dir = temp_dir("kms-import");
    let (certificate, private_key) = openssl_ca(&dir, "c", "Not In KMS");
    let reply = app
        .import_ca(json!({"id": "nokey", "certificate": certificate, "private_key": private_key, "engine_id": "kms"}))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        reply.json()["type"].as_str().map(|t| t.ends_with(":key-import-unsupported")),
        Some(true),
        "{}",
        reply.text
    );
    assert_eq!(app.ca("nokey").await.status, 404);

    // Deleting the intermediate removes its alias and schedules its key's deletion.
    revoke_and_delete(&app, "int").await;
    assert_eq!(moto.key_state(&alias(&cas.intermediate)).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_security_policy_refuses_keys_held_below_its_levels() {
    let token = SoftHsmToken::new();
    let policy = SecurityPolicy {
        min_security_level_for_roots: Some(SecurityLevel::SL2),
        subordinates_at_least_parent_level: true,
        ..SecurityPolicy::default()
    };
    let app = app_with(token.engine("hsm"), policy).await;
    let reply = app.create_ca(ca_body("soft-root", None, "Soft Root", ("ECDSA", 256), "1y")).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let problem = reply.json();
    assert!(problem["type"].as_str().unwrap().ends_with(":security-level-too-low"), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("min_security_level_for_roots"), "{problem}");
    assert_eq!(app.ca("soft-root").await.status, 404);

    assert_eq!(app.create_ca(on(ca_body("hsm-root", None, "HSM Root", ("ECDSA", 256), "1y"), "hsm")).await.status, 201);
    let reply = app.create_ca(ca_body("soft-sub", Some("hsm-root"), "Soft Sub", ("ECDSA", 256), "180d")).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert!(reply.json()["detail"].as_str().unwrap().contains("subordinates_at_least_parent_level"));
    let reply = app.create_ca(on(ca_body("hsm-sub", Some("hsm-root"), "HSM Sub", ("ECDSA", 256), "180d"), "hsm")).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// The token goes away under a running Shedu (its own process, so that restarting the module
/// touches no other test): that engine's CAs get 503 and the others keep signing; `/ready` names
/// it; when the token returns, its CAs sign again. The log never shows the PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_token_gives_503_for_its_cas_only_and_recovers_when_it_returns() {
    let token = SoftHsmToken::new();
    let db = shedu_tests::TestDb::new(Backend::Sqlite).await;
    let hsm = token.engine("hsm");
    let kek = db.dir.join("kek.hex");
    std::fs::write(&kek, "cd".repeat(32)).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = format!(
        "[[engines]]\nid = \"software\"\ntype = \"software\"\ndefault = true\nkek_file = \"{}\"\n\n\
         [[engines]]\nid = \"hsm\"\ntype = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"{}\"\npin_file = \"{}\"\n",
        kek.display(),
        hsm.module.unwrap().display(),
        token.label,
        token.pin_file.display()
    );
    let config_path = db.dir.join("shedu.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = db.dir.join("shedu.log");
    let shedu = shedu_tests::ShedProcess::start_logged(&db, &["--config", config_path.to_str().unwrap()], &log).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = client.post(format!("{}{path}", shedu.base)).json(&body);
        async move {
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            (status, reply.text().await.unwrap())
        }
    };
    let profile = json!({"id": "leaf", "name": "leaf", "validity": {"type": "Duration", "duration": "30d"},
        "key_usage": ["DigitalSignature"], "extended_key_usages": ["ServerAuth"]});
    assert_eq!(post("/v2/profiles", profile).await.0, 201);
    for (id, engine) in [("hsm-ca", "hsm"), ("soft-ca", "software")] {
        let mut body = on(ca_body(id, None, id, ("ECDSA", 256), "1y"), engine);
        body["profile_id"] = json!("leaf");
        let (status, text) = post("/v2/cas", body).await;
        assert_eq!(status, 201, "{text}");
    }
    let dir = temp_dir("token-removed");
    let csr = openssl_csr(&dir, "leaf", "ec:P-256", "leaf.example.test", "DNS:leaf.example.test");
    let sign = |ca: &str| post(&format!("/v2/cas/{ca}/certificates/sign"), json!({"csr": csr}));
    assert_eq!(sign("hsm-ca").await.0, 201);

    let away = token.remove();
    // SoftHSM notices a missing token directory at its next rescan, not at once.
    let mut refused = (0, String::new());
    for _ in 0..50 {
        refused = sign("hsm-ca").await;
        if refused.0 != 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, text) = refused;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("engine-unavailable") && text.contains("'hsm'"), "{text}");
    assert_eq!(sign("soft-ca").await.0, 201, "the software engine's CAs keep signing");
    let ready: Value = client.get(format!("{}/ready", shedu.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["unreachable_engines"], json!(["hsm"]), "{ready}");

    token.put_back(&away);
    let mut recovered = None;
    for _ in 0..50 {
        let (status, text) = sign("hsm-ca").await;
        if status == 201 {
            recovered = Some(text);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(recovered.is_some(), "the token's CAs sign again once it is back");
    let ready: Value = client.get(format!("{}/ready", shedu.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    drop(shedu);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("PKCS#11 token"), "the log tells what happened: {log}");
    assert!(!log.contains(HSM_PIN), "the PIN is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_pin_is_tried_once_and_not_again_until_a_restart() {
    let token = SoftHsmToken::new();
    let dir = temp_dir("wrong-pin");
    let wrong = dir.join("wrong-pin");
    std::fs::write(&wrong, "0000-not-the-pin").unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let engine = EngineConfig { pin_file: Some(wrong), ..token.engine("hsm") };
    let app = app_with(engine, SecurityPolicy::default()).await;
    // Each of these would have tried the PIN again: a token counts every wrong try toward locking
    // its user PIN, and anyone reaching /ready could drive the count.
    for _ in 0..3 {
        let reply = app.create_ca(on(ca_body("r", None, "Root", ("ECDSA", 256), "1y"), "hsm")).await;
        assert_eq!(reply.status, 503, "{}", reply.text);
        assert!(!reply.text.contains("0000-not-the-pin"));
        let engines = app.get("/v2/engines").await.text;
        assert!(engines.contains("refused the PIN") && engines.contains("will not try it again"), "{engines}");
        assert!(!engines.contains("0000-not-the-pin"));
        let ready = app.get("/ready").await.json();
        assert_eq!(ready["status"], "degraded", "{ready}");
    }
    // The token was not locked: the right PIN still logs in.
    assert!(token.logs_in(), "the right PIN no longer works");
}
