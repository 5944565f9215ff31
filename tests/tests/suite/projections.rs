//! Projectors racing each other (two replicas, or a rebuild beside a running server) must leave
//! the same views as one projector alone.

use std::sync::Arc;

use serde_json::json;
use shedu_projections::progress::Progress;
use shedu_projections::runner::Projector;
use shedu_tests::{Backend, TestApp, both_backends, ca_body};

both_backends!(racing_projectors_leave_the_views_a_single_one_would);

async fn racing_projectors_leave_the_views_a_single_one_would(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut last = 0;
    for i in 0..12 {
        let created = app.create_ca(ca_body(&format!("r{i}"), None, "Race", ("ECDSA", 256), "1y")).await;
        assert_eq!(created.status, 201, "{}", created.text);
        last = app.patch_metadata(&format!("r{i}"), json!([{"op": "add", "path": "/n", "value": i}])).await.position();
    }
    let all = format!("min_position={last}&page_size=100&sort_by=id");
    let expected = app.list_cas(&all).await.json();

    let db = app.db.open().await;
    let views = db.views();
    views.reset().await.unwrap();
    let projectors: Vec<Arc<Projector>> =
        (0..3).map(|_| Arc::new(Projector::new(db.event_store(), views.clone(), Progress::default()))).collect();
    let runs: Vec<_> = projectors
        .iter()
        .map(|p| {
            let p = p.clone();
            tokio::spawn(async move { p.catch_up().await.unwrap() })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    // The server's own projector raced too; wait for the log head and compare.
    let after = app.list_cas(&all).await.json();
    assert_eq!(after, expected, "concurrent projectors double-applied or skipped events");
    for ca in after["list"].as_array().unwrap() {
        assert_eq!(ca["version"], 2, "{ca}");
    }
}
