//! A test binary of its own: it holds a transaction open in the shared PostgreSQL cluster, which
//! holds back every log reader of the cluster, so it must not run beside the integration suite
//! (cargo runs test binaries one after another).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use shedu_tests::{Backend, TestApp, ca_body};

/// A transaction left open anywhere in the PostgreSQL cluster holds every log reader back: a
/// list then answers after its bounded wait, saying that its views lag; a client that named a
/// position gets its 504.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_held_back_by_a_long_transaction_say_so() {
    use sqlx::{Connection, Executor};
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut other = sqlx::PgConnection::connect(&shedu_tests::pg_admin_url()).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other.execute("SELECT pg_current_xact_id()").await.unwrap();
    let created = app.create_ca(ca_body("held", None, "Held", ("ECDSA", 256), "1y")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let started = Instant::now();
    let listed = app.list_cas("page_size=10").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(started.elapsed() >= Duration::from_secs(4), "answered before the bounded wait");
    let behind = listed.headers.get("shedu-views-behind").map(|v| v.to_str().unwrap().parse::<i64>().unwrap());
    assert_eq!(behind, Some(created.position()));
    let named = app.list_cas(&format!("min_position={}", created.position())).await;
    assert_eq!(named.status, 504, "{}", named.text);
    other.execute("ROLLBACK").await.unwrap();
    let listed = app.list_cas("page_size=10").await;
    assert!(listed.headers.get("shedu-views-behind").is_none());
    assert_eq!(listed.json()["list"][0]["id"], "held");
}
