//! The NATS relay against real nats-servers of the tests' own: every committed event reaches an
//! outside subscriber once after deduplication by id, in per-aggregate order, across NATS outages,
//! SIGKILLed Shedu processes and a relay takeover (docs/adr/0018).

use std::collections::{BTreeMap, HashSet};

use std::time::Duration;

use serde_json::{Value, json};
use shedu_tests::nats::{NatsServer, Received};
use shedu_tests::{Backend, ShedProcess, TestApp, TestDb, both_backends, ca_body, read_log};

both_backends!(
    every_event_reaches_a_subscriber_once_across_outages_and_crashes,
    shedu_relay_alone_publishes_a_log_it_did_not_write,
);

async fn post(base: &str, path: &str, body: Value) -> u16 {
    let reply = reqwest::Client::new().post(format!("{base}{path}")).json(&body).send().await.expect("request");
    reply.status().as_u16()
}

async fn patch(base: &str, id: &str, n: usize) -> u16 {
    let reply = reqwest::Client::new()
        .patch(format!("{base}/v2/cas/{id}/metadata"))
        .header("content-type", "application/json-patch+json")
        .body(json!([{"op": "add", "path": format!("/step-{n}"), "value": n}]).to_string())
        .send()
        .await
        .expect("request");
    reply.status().as_u16()
}

/// Some commands: a CA and `patches` metadata patches on it.
async fn commands(base: &str, ca: &str, patches: usize) {
    assert_eq!(post(base, "/v2/cas", ca_body(ca, None, ca, ("ECDSA", 256), "1y")).await, 201);
    for n in 0..patches {
        assert_eq!(patch(base, ca, n).await, 200);
    }
}

/// The subscriber's view: every event of the log exactly once after dedup by id, each aggregate's
/// in stream order; returns how many messages arrived in all (duplicates included).
async fn assert_published_once(nats: &NatsServer, db: &TestDb) -> Vec<Received> {
    let log = read_log(db.open().await.event_store().as_ref()).await;
    let received = nats.read_events(log.len(), Duration::from_secs(30)).await;
    let mut seen = HashSet::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for message in &received {
        assert_eq!(message.message_id, message.event["id"], "Nats-Msg-Id is the event id");
        if !seen.insert(message.message_id.clone()) {
            continue;
        }
        let subject = message.event["subject"].as_str().expect("subject").to_owned();
        let version = message.event["streamversion"].as_u64().expect("streamversion");
        let last = versions.insert(subject.clone(), version).unwrap_or(0);
        assert_eq!(version, last + 1, "{subject}: version {version} arrived after {last}");
    }
    let logged: HashSet<String> = log.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(seen, logged, "the subscriber saw exactly the log's events");
    for message in &received {
        let kind = message.event["subject"].as_str().and_then(|s| s.split('/').next()).expect("subject");
        assert_eq!(message.subject, format!("shedu.events.{kind}.{}", message.event["type"].as_str().expect("type")));
    }
    received
}

/// A configuration file that turns CRL publishing off.
fn no_crls(db: &TestDb) -> String {
    let path = db.dir.join("no-crls.toml");
    std::fs::write(&path, "[crl]\nenabled = false\n").unwrap();
    path.display().to_string()
}

async fn every_event_reaches_a_subscriber_once_across_outages_and_crashes(backend: Backend) {
    let mut nats = NatsServer::start().await;
    let db = TestDb::new(backend).await;
    let url = nats.url();
    // What is published here is what the commands append: no CRLs beside them.
    let config = no_crls(&db);
    let args = ["--nats-url", url.as_str(), "--config", config.as_str()];
    let mut shedu = ShedProcess::start_with(&db, &args).await;
    commands(&shedu.base, "before-outage", 5).await;

    // NATS down: commands go on, the relay retries.
    nats.kill();
    commands(&shedu.base, "during-outage", 5).await;
    nats.resume().await;
    commands(&shedu.base, "after-outage", 3).await;

    // Shedu killed right after commands, before the relay had a chance to publish them all.
    commands(&shedu.base, "before-kill", 3).await;
    shedu.kill();
    let mut shedu = ShedProcess::start_with(&db, &args).await;
    commands(&shedu.base, "after-restart", 3).await;

    let received = assert_published_once(&nats, &db).await;
    // The stream is a prefix of the log at every instant: nothing was stored twice, and the
    // stream's order is the log's.
    let log = read_log(db.open().await.event_store().as_ref()).await;
    let published: Vec<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    let logged: Vec<String> = log.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(published, logged.iter().map(String::as_str).collect::<Vec<_>>());
    let first = &received[0].event;
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["source"], "/shedu/shedu");
    assert_eq!(first["type"], "ca.create");
    assert_eq!(first["subject"], "ca/before-outage");
    assert_eq!(first["datacontenttype"], "application/json");
    assert_eq!(first["data"]["id"], "before-outage");
    assert!(first["sequence"].as_str().is_some_and(|s| s.len() == 20));
    shedu.kill();
}

async fn shedu_relay_alone_publishes_a_log_it_did_not_write(backend: Backend) {
    let nats = NatsServer::start().await;
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.create_ca(ca_body("root", None, "Root", ("ECDSA", 256), "1y")).await.status, 201);
    let mut relay = RelayProcess::start(&app.db, &nats.url());
    assert_eq!(app.create_ca(ca_body("sub", Some("root"), "Sub", ("ECDSA", 256), "6m")).await.status, 201);
    relay.wait_for(&nats, 3).await;
    relay.kill();
    assert_eq!(app.patch_metadata("sub", json!([{"op": "add", "path": "/k", "value": 1}])).await.status, 200);
    let _relay = RelayProcess::start(&app.db, &nats.url());
    let received = assert_published_once(&nats, &app.db).await;
    assert_eq!(received.len(), 4, "create root, create sub, subordinate added, metadata patched");
}

both_backends!(two_relays_publish_one_at_a_time_and_take_over_when_one_dies,);

/// Two `shedu serve` on one log, each with the relay on: one holds the lease and publishes; kill
/// it and the other takes over within seconds, losing nothing.
async fn two_relays_publish_one_at_a_time_and_take_over_when_one_dies(backend: Backend) {
    let nats = NatsServer::start().await;
    let db = TestDb::new(backend).await;
    let url = nats.url();
    // What is published here is what the commands append: no CRLs beside them.
    let config = no_crls(&db);
    let args = ["--nats-url", url.as_str(), "--config", config.as_str()];
    let mut first = ShedProcess::start_with(&db, &args).await;
    let mut second = ShedProcess::start_with(&db, &args).await;
    commands(&first.base, "one", 3).await;
    commands(&second.base, "two", 3).await;
    let before = nats.read_events(8, Duration::from_secs(20)).await;
    assert_eq!(before.len(), 8);
    let holder = before[0].relay.clone();
    assert!(before.iter().all(|m| m.relay == holder), "one relay published everything so far");

    // Kill whichever process holds the lease; the survivor takes the next commands.
    let holder_pid: u32 = holder.split('/').nth(1).and_then(|p| p.parse().ok()).expect("pid in the holder");
    let survivor = if first.pid() == holder_pid {
        first.kill();
        &second
    } else {
        second.kill();
        &first
    };
    let killed_at = tokio::time::Instant::now();
    commands(&survivor.base, "three", 2).await;
    let after = assert_published_once(&nats, &db).await;
    let took_over = killed_at.elapsed();
    assert_eq!(after.len(), 11);
    let new_holder = &after.last().expect("messages").relay;
    assert_ne!(*new_holder, holder, "the survivor's relay took over");
    // One switch of publisher, never back and forth.
    let switches = after.windows(2).filter(|w| w[0].relay != w[1].relay).count();
    assert_eq!(switches, 1, "publishers: {:?}", after.iter().map(|m| &m.relay).collect::<Vec<_>>());
    assert!(took_over < Duration::from_secs(20), "takeover took {took_over:?}");
    first.kill();
    second.kill();
}

/// `shedu relay` as its own process.
struct RelayProcess(std::process::Child);

impl RelayProcess {
    fn start(db: &TestDb, url: &str) -> RelayProcess {
        let child = std::process::Command::new(shedu_tests::shedu_binary())
            .args(["relay", "--database-url", &db.url, "--nats-url", url])
            .arg("--data-dir")
            .arg(&db.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run shedu relay");
        RelayProcess(child)
    }

    async fn wait_for(&self, nats: &NatsServer, messages: usize) {
        let received = nats.read_events(messages, Duration::from_secs(20)).await;
        assert_eq!(received.len(), messages, "the relay published {} of {messages}", received.len());
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
