//! Reads that see this process's writes without being asked, and bounds on what a request may
//! send: body size, the acting identity, log positions.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shedu_tests::{Backend, TestApp, both_backends, ca_body};

both_backends!(
    a_list_right_after_a_write_shows_it_without_being_asked,
    bodies_actors_and_positions_out_of_bounds_are_refused_and_nothing_is_appended,
);

async fn a_list_right_after_a_write_shows_it_without_being_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "5y")).await.status, 201);
    for round in 0..40 {
        let id = format!("sub-{round}");
        let created = app.create_ca(ca_body(&id, Some("root"), &id, ("ECDSA", 256), "1y")).await;
        assert_eq!(created.status, 201, "{}", created.text);
        // No Shedu-Min-Position: the query waits for what this process acknowledged.
        let listed: Value = app.list_cas("page_size=100").await.json();
        let ids: Vec<&str> = listed["list"].as_array().unwrap().iter().map(|ca| ca["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&id.as_str()), "round {round}: {id} missing from {ids:?}");
        let stats: Value = app.get("/v2/stats/cas").await.json();
        assert_eq!(stats["total"], round + 2, "round {round}: {stats}");
    }
}

async fn bodies_actors_and_positions_out_of_bounds_are_refused_and_nothing_is_appended(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let head = app.command_events().await;
    let mut big = ca_body("big", None, "Big", ("ECDSA", 256), "1y");
    big["metadata"] = json!({ "blob": "x".repeat(2 * 1024 * 1024) });
    // A declared length over the limit is refused before the body is read (so the test sends
    // none: a server closing on an unread body may reset the connection before the client reads).
    let length = big.to_string().len();
    for key in ["", "Idempotency-Key: big-1\r\n"] {
        let head = format!("Content-Length: {length}\r\n{key}");
        let reply = raw_post(&app.base, "/v2/cas", &head, &[]).await;
        assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
        assert!(reply.contains("urn:shedu:problem:payload-too-large"), "{reply}");
    }
    // Without Content-Length (chunked), the limit holds while reading: 1 MiB, then one byte more.
    let mut chunks = vec![format!("10000\r\n{}\r\n", "x".repeat(64 * 1024)); 16];
    chunks.push("1\r\nx\r\n".to_owned());
    let reply = raw_post(&app.base, "/v2/cas", "Transfer-Encoding: chunked\r\n", &chunks).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");

    let body = ca_body("actor", None, "Actor", ("ECDSA", 256), "1y");
    let long = "a".repeat(129);
    let non_ascii = reqwest::header::HeaderValue::from_bytes("jürgen".as_bytes()).unwrap();
    for actor in [long.as_str(), "tab\tinside", ""] {
        let reply = app.call(reqwest::Method::POST, "/v2/cas", Some(body.clone()), &[("shedu-actor", actor)]).await;
        assert_eq!(reply.status, 400, "actor {actor:?}: {}", reply.text);
        assert_eq!(reply.json()["errors"][0]["field"], "Shedu-Actor");
    }
    let reply = app
        .client
        .post(format!("{}/v2/cas", app.base))
        .header("content-type", "application/json")
        .header("shedu-actor", non_ascii)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400, "a non-ASCII actor is refused, not rewritten");
    let twice = app
        .client
        .post(format!("{}/v2/cas", app.base))
        .header("content-type", "application/json")
        .header("shedu-actor", "mallory")
        .header("shedu-actor", "alice")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400, "two actors: which one acted?");
    assert_eq!(app.command_events().await, head, "a refused request appended");

    // An actor is recorded as sent.
    let actor = "svc:pki-bot@acme (ci)";
    let created = app.call(reqwest::Method::POST, "/v2/cas", Some(body), &[("shedu-actor", actor)]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(app.events("actor").await.json()["list"][0]["actor"], actor);

    // Positions: negative or beyond the head are answered at once.
    let head = app.command_events().await;
    for position in ["-1".to_owned(), (head + 1000).to_string(), "soon".to_owned()] {
        let started = Instant::now();
        let reply = app.list_cas(&format!("min_position={position}")).await;
        assert_eq!(reply.status, 400, "{position}: {}", reply.text);
        assert!(started.elapsed() < Duration::from_secs(2), "{position} was waited for");
    }
    assert_eq!(app.list_cas(&format!("min_position={head}")).await.status, 200);

    // Every error is problem+json, an unknown route's too.
    let nowhere = app.get("/v2/nowhere").await;
    assert_eq!((nowhere.status.as_u16(), nowhere.content_type()), (404, "application/problem+json"));
    let wrong = app.call(reqwest::Method::DELETE, "/v2/stats/cas", None, &[]).await;
    assert_eq!((wrong.status.as_u16(), wrong.content_type()), (405, "application/problem+json"));
}

/// POSTs by hand: `head` adds header lines, `body` is written piece by piece; returns what the
/// server answered (status line, headers and body as far as one read gets them).
async fn raw_post(base: &str, path: &str, head: &str, body: &[String]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let start = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n{head}\r\n");
    stream.write_all(start.as_bytes()).await.unwrap();
    for piece in body {
        stream.write_all(piece.as_bytes()).await.unwrap();
    }
    let mut response = vec![0; 4096];
    let read = stream.read(&mut response).await.unwrap();
    String::from_utf8_lossy(&response[..read]).into_owned()
}

/// A request cut short by the timeout still completes: the CA whose key took too long is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_answered_by_the_timeout_still_completes() {
    let clock = std::sync::Arc::new(shedu_commands::clock::SystemClock);
    let mut app = TestApp::unstarted(Backend::Sqlite, vec![], clock).await;
    app.limits.request_timeout_seconds = 1;
    app.limits.key_generations = 1;
    app.try_start().await.unwrap();
    let ids = ["slow-1", "slow-2", "slow-3"];
    let replies = futures_join(&app, &ids).await;
    for reply in &replies {
        assert!(reply.status == 201 || reply.status == 503, "{}", reply.text);
    }
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(120);
        while app.ca(id).await.status != 200 {
            assert!(Instant::now() < deadline, "{id} was never created");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Three RSA-4096 CA creations at once, one key generation at a time.
async fn futures_join(app: &TestApp, ids: &[&str; 3]) -> Vec<shedu_tests::Reply> {
    let body = |id: &str| ca_body(id, None, id, ("RSA", 4096), "1y");
    let (a, b, c) = tokio::join!(app.create_ca(body(ids[0])), app.create_ca(body(ids[1])), app.create_ca(body(ids[2])));
    vec![a, b, c]
}
