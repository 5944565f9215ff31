//! Key custody: a KEK that is missing or wrong stops Shedu at start, naming the problem; what
//! Shedu writes is owner-only; a secret pasted into the wrong field is neither echoed nor stored.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use shedu_commands::clock::SystemClock;
use shedu_infra::config::{DEFAULT_ENGINE, EngineConfig, KekSource};
use shedu_tests::{Backend, TestApp, both_backends, ca_body};

fn software_engine(kek_env: Option<&str>, kek_file: Option<&Path>) -> EngineConfig {
    EngineConfig {
        id: DEFAULT_ENGINE.into(),
        kind: "software".into(),
        default: true,
        security_level: None,
        kek_env: kek_env.map(str::to_owned),
        kek_file: kek_file.map(Path::to_path_buf),
        ..EngineConfig::default()
    }
}

/// Writes a KEK file of `byte` repeated, readable by its owner only.
fn kek_file(path: &Path, byte: &str) {
    std::fs::write(path, byte.repeat(32)).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// The permission bits in octal, as `chmod` writes them.
#[cfg(unix)]
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode();
    format!("{:o}", mode & 0o777)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_configured_kek_variable_that_is_not_set_stops_the_start() {
    let variable = format!("SHEDU_TEST_UNSET_KEK_{}", uuid::Uuid::new_v4().simple());
    let engines = vec![software_engine(Some(&variable), None)];
    let mut app = TestApp::unstarted(Backend::Sqlite, engines, Arc::new(SystemClock)).await;
    let refused = format!("{:#}", app.try_start().await.expect_err("Shedu must not start without its KEK"));
    assert!(refused.contains(&variable) && refused.contains("not set"), "{refused}");
    assert!(!app.db.dir.join("kek.hex").exists(), "no KEK is generated in place of a configured one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_kek_on_an_existing_data_directory_stops_the_start() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    app.stop().await;
    let generated = std::fs::read_to_string(app.db.dir.join("kek.hex")).unwrap();
    kek_file(&app.db.dir.join("kek.hex"), "42");
    let refused = format!("{:#}", app.try_start().await.expect_err("a wrong KEK must stop the start"));
    assert!(refused.contains(&format!("software engine '{DEFAULT_ENGINE}'")), "{refused}");
    assert!(refused.contains("does not open its keys"), "{refused}");
    assert!(!refused.contains(&"42".repeat(32)) && !refused.contains(generated.trim()), "{refused}");

    std::fs::write(app.db.dir.join("kek.hex"), generated).unwrap();
    app.try_start().await.unwrap();
    assert_eq!(app.create_ca(ca_body("sub", Some("root"), "Sub", ("ECDSA", 256), "1y")).await.status, 201);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_data_directory_database_and_keys_are_owner_only() {
    let mut app = TestApp::unstarted(Backend::Sqlite, vec![], Arc::new(SystemClock)).await;
    // A data directory that does not exist yet: Shedu creates it, and the KEK it generates there.
    std::fs::remove_dir_all(&app.db.dir).unwrap();
    app.try_start().await.unwrap();
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    let dir = &app.db.dir;
    assert_eq!(mode(dir), "700", "the data directory");
    for file in ["shedu.db", "shedu.db-wal", "shedu.db-shm", "kek.hex"] {
        assert_eq!(mode(&dir.join(file)), "600", "{file}");
    }
    let keys = dir.join("keys").join(DEFAULT_ENGINE);
    assert_eq!((mode(&dir.join("keys")).as_str(), mode(&keys).as_str()), ("700", "700"), "the key directories");
    for entry in std::fs::read_dir(&keys).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), "600", "{}", path.display());
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kek_file_readable_by_others_stops_the_start() {
    let dir = shedu_tests::temp_dir("kek-mode");
    let path = dir.join("kek.hex");
    kek_file(&path, "5a");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let engines = vec![software_engine(None, Some(&path))];
    let mut app = TestApp::unstarted(Backend::Sqlite, engines, Arc::new(SystemClock)).await;
    let refused = format!("{:#}", app.try_start().await.expect_err("a shared KEK file must stop the start"));
    assert!(refused.contains(&path.display().to_string()) && refused.contains("chmod 600"), "{refused}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_the_kek_reseals_the_keys_and_the_old_kek_no_longer_starts() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "10y")).await.status, 201);
    assert_eq!(app.create_ca(ca_body("other", None, "Other", ("Ed25519", 0), "10y")).await.status, 201);
    app.stop().await;
    let new_kek = app.db.dir.join("new-kek.hex");
    kek_file(&new_kek, "6b");
    let (engine, rotation) = app.rotate_kek(&KekSource::File(new_kek.clone())).unwrap();
    assert_eq!((engine.as_str(), rotation.resealed, rotation.already), (DEFAULT_ENGINE, 2, 0));

    let refused = format!("{:#}", app.try_start().await.expect_err("the old KEK opens nothing now"));
    assert!(refused.contains("does not open its keys"), "{refused}");
    app.engines = vec![software_engine(None, Some(&new_kek))];
    app.try_start().await.unwrap();
    assert_eq!(app.create_ca(ca_body("sub", Some("root"), "Sub", ("ECDSA", 256), "1y")).await.status, 201);
}

both_backends!(a_private_key_pasted_into_metadata_is_neither_echoed_nor_stored);

async fn a_private_key_pasted_into_metadata_is_neither_echoed_nor_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let secret_line = pem.lines().nth(1).unwrap().to_owned();
    let mut body = ca_body("root", None, "Root", ("ECDSA", 256), "10y");
    body["metadata"] = json!(pem);
    let key = [("idempotency-key", "create-root")];

    let refused = app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &key).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["type"], "urn:shedu:problem:invalid-input");
    assert!(refused.text.contains("expected a map at line 1"), "{}", refused.text);
    assert!(!refused.text.contains("PRIVATE KEY") && !refused.text.contains(&secret_line), "{}", refused.text);

    // The refusal was not stored: the same key with a corrected body is a new request.
    body["metadata"] = json!({ "team": "pki" });
    let created = app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &key).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let replayed = app.call(reqwest::Method::POST, "/v2/cas", Some(body), &key).await;
    assert_eq!((replayed.status.as_u16(), replayed.text.as_str()), (201, created.text.as_str()));
    assert_eq!(replayed.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));

    if backend == Backend::Sqlite {
        for file in ["shedu.db", "shedu.db-wal"] {
            let bytes = std::fs::read(app.db.dir.join(file)).unwrap_or_default();
            let stored = String::from_utf8_lossy(&bytes);
            assert!(!stored.contains(&secret_line) && !stored.contains("PRIVATE KEY"), "{file} holds the key");
        }
    }
}
