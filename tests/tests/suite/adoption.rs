//! Imported CAs whose issuer is not in Shedu yet (orphans) are placed when it arrives: a
//! three-level chain imported bottom-up ends with the right levels and parents.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, both_backends, ca_body, openssl, temp_dir};

both_backends!(a_chain_imported_bottom_up_ends_at_the_right_levels);

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Waits until CA `id` sits at `level` under `parent` (the reactor acts after the import answers).
async fn placed(app: &TestApp, id: &str, level: u64, parent: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ca = app.ca(id).await.json();
        if ca["level"] == level && ca["issuer_metadata"]["id"] == parent {
            return ca;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never reached level {level} under {parent}: {ca}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_chain_imported_bottom_up_ends_at_the_right_levels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (root_key, int_key, sub_key) =
        (KeyPair::generate().unwrap(), KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let root_params = ca_params("Adopted Root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, &root_key);
    let int_params = ca_params("Adopted Intermediate");
    let int = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::new(int_params, &int_key);
    let sub = ca_params("Adopted Issuing").signed_by(&sub_key, &int_issuer).unwrap();

    // An unrelated root first: it signed none of them and adopts nobody.
    assert_eq!(app.create_ca(ca_body("stranger", None, "Adopted Root", ("ECDSA", 256), "5y")).await.status, 201);
    let body = json!({"id": "issuing", "certificate": sub.pem(), "private_key": sub_key.serialize_pem()});
    let issuing = app.import_ca(body).await;
    assert_eq!(issuing.status, 201, "{}", issuing.text);
    let issuing = issuing.json();
    assert_eq!(
        (issuing["level"].clone(), issuing["issuer_metadata"].clone()),
        (Value::Null, Value::Null),
        "an orphan: level unknown"
    );

    assert_eq!(app.import_ca(json!({"id": "int", "certificate": int.pem()})).await.status, 201);
    placed(&app, "issuing", 1, "int").await;
    assert_eq!(app.import_ca(json!({"id": "root", "certificate": root.pem()})).await.status, 201);
    let int_now = placed(&app, "int", 1, "root").await;
    let issuing_now = placed(&app, "issuing", 2, "int").await;
    assert_eq!(issuing_now["issuer_metadata"]["level"], 1);
    assert_eq!(issuing_now["issuer_metadata"]["serial_number"], int_now["certificate"]["serial_number"]);

    // The chain Shedu serves now reaches the root, and openssl agrees with it.
    let chain = app.chain("issuing").await.text;
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{chain}");
    let dir = temp_dir("adoption");
    std::fs::write(dir.join("root.pem"), root.pem()).unwrap();
    std::fs::write(dir.join("int.pem"), int.pem()).unwrap();
    std::fs::write(dir.join("issuing.pem"), sub.pem()).unwrap();
    let (ok, out) = openssl(&["verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "issuing.pem"], &dir);
    assert!(ok, "{out}");

    // The history says who placed them; the stranger adopted nobody; the views and stats follow.
    let history = app.events("issuing").await.json();
    let reparents: Vec<&Value> =
        history["list"].as_array().unwrap().iter().filter(|e| e["type"] == "ca.reparent").collect();
    assert_eq!(reparents.len(), 2, "{history}");
    assert!(reparents.iter().all(|e| e["actor"] == "shedu-adoption"));
    assert_eq!(app.ca("stranger").await.json()["level"], 0);
    let root_now = app.ca("root").await.json();
    assert_eq!(root_now["level"], 0);
    let listed = app.list_cas("filter=level[eq]2").await.json();
    assert_eq!(listed["list"][0]["id"], "issuing", "{listed}");
    let stats = app.get("/v2/stats/cas").await.json();
    assert_eq!(stats["level_distribution"], json!({"0": 2, "1": 1, "2": 1}), "{stats}");
    // Revoking the root now cascades down the adopted chain.
    let revoked = app.set_status("root", "REVOKED", Some("KeyCompromise")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(app.ca("issuing").await.json()["status"], "REVOKED");
    let _ = std::fs::remove_dir_all(dir);
}
