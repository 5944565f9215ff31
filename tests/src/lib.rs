//! Test harness: fresh databases (a SQLite file or a new PostgreSQL database per test) and a
//! `TestApp` that runs the real Shedu on 127.0.0.1:0 with one method per endpoint.

// Test support: a failed setup step should stop the test with its message.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shedu_api::Settings;
use shedu_commands::clock::{Clock, SystemClock};
use shedu_commands::event_store::{EventStore, LogCursor, RecordedEvent};
use shedu_domain::ca::SecurityPolicy;
use shedu_infra::Database;
use shedu_infra::config::{CrlSettings, EngineConfig, KekSource, Limits};
use shedu_infra::software_engine::Rotation;

pub mod crls;
pub mod engines;
pub mod nats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where PostgreSQL tests create their databases. CI starts the server (see scripts/test.sh).
pub fn pg_admin_url() -> String {
    std::env::var("SHEDU_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    pub dir: PathBuf,
}

/// Everything committed to the log before the call, in log order. PostgreSQL tests share one
/// cluster, whose oldest running transaction (another test's) may hide commits for a while.
pub async fn read_log(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let head = store.head_cursor().await.expect("head cursor");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut cursor = LogCursor::START;
    let mut events = Vec::new();
    while cursor < head {
        assert!(tokio::time::Instant::now() < deadline, "the log never became readable up to {head:?}");
        let batch = store.read_all(cursor, 1000).await.expect("read the log");
        match batch.last() {
            Some(last) => cursor = last.cursor(),
            None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
        events.extend(batch);
    }
    events
}

pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shedu-{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = temp_dir("test");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("shedu.db").display()),
            Backend::Postgres => {
                let name = format!("shedu_test_{}", uuid::Uuid::new_v4().simple());
                let admin = pg_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test: {e}"));
                sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
                format!("{base}/{name}")
            }
        };
        TestDb { url, dir }
    }

    /// Runs one SQL statement on the database directly, as an operator (or a crash) would
    /// leave it.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
            sqlx::Executor::execute(&mut conn, sql).await.expect("execute");
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
            sqlx::Executor::execute(&mut conn, sql).await.expect("execute");
        }
    }

    pub async fn open(&self) -> Database {
        let db = Database::open(&self.url).await.expect("open database");
        db.migrate().await.expect("migrate");
        db
    }
}

/// `shedu serve` as its own process, to be killed with SIGKILL: what no in-process server can
/// show. Needs the binary built (`cargo build --bin shedu`, which scripts/test.sh does).
pub struct ShedProcess {
    child: std::process::Child,
    pub base: String,
}

impl ShedProcess {
    /// Starts Shedu on `db` and a free port and waits until it answers `/ready`.
    pub async fn start(db: &TestDb) -> ShedProcess {
        Self::start_with(db, &[]).await
    }

    /// Like [`ShedProcess::start`], with more arguments to `shedu serve` (e.g. `--nats-url`).
    pub async fn start_with(db: &TestDb, args: &[&str]) -> ShedProcess {
        Self::start_logging(db, args, std::process::Stdio::null()).await
    }

    /// Like [`ShedProcess::start_with`], its log (at `info`) written to `log`.
    pub async fn start_logged(db: &TestDb, args: &[&str], log: &Path) -> ShedProcess {
        let file = std::fs::File::create(log).expect("log file");
        Self::start_logging(db, args, file.into()).await
    }

    async fn start_logging(db: &TestDb, args: &[&str], stderr: std::process::Stdio) -> ShedProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let binary = shedu_binary();
        let child = Command::new(&binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&db.dir)
            .args(["--database-url", &db.url])
            .args(args)
            .env("SHEDU_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e} (run `cargo build --bin shedu`)", binary.display()));
        let process = ShedProcess { child, base: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/ready", process.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("shedu serve did not become ready on port {port}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush, no answer to requests in flight.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ShedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `shedu` binary beside this test binary (`target/<profile>/deps/..`).
pub fn shedu_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).map(|dir| dir.join("shedu")).expect("target directory")
}

/// What an HTTP call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    pub fn position(&self) -> i64 {
        self.headers
            .get("shedu-log-position")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Shedu-Log-Position on {} {}", self.status, self.text))
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub backend: Backend,
    /// The `[[engines]]` of a configuration file; empty for the embedded default.
    pub engines: Vec<EngineConfig>,
    /// The `[limits]` of a configuration file.
    pub limits: Limits,
    /// The `[policy]` of a configuration file.
    pub policy: SecurityPolicy,
    /// The `[crl]` of a configuration file.
    pub crl: CrlSettings,
    /// `public_base_url`, written into the certificates Shedu issues.
    pub public_base_url: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    clock: Arc<dyn Clock>,
    /// The first instance on a database removes its directory when dropped; others leave it.
    owns_dir: bool,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with_clock(backend, Arc::new(SystemClock)).await
    }

    pub async fn spawn_with_clock(backend: Backend, clock: Arc<dyn Clock>) -> TestApp {
        let mut app = Self::unstarted(backend, vec![], clock).await;
        app.start().await;
        app
    }

    /// An app on a fresh database with these engines, not started: `try_start` tells whether
    /// Shedu agrees to start.
    pub async fn unstarted(backend: Backend, engines: Vec<EngineConfig>, clock: Arc<dyn Clock>) -> TestApp {
        TestApp {
            base: String::new(),
            client: reqwest::Client::new(),
            db: TestDb::new(backend).await,
            backend,
            engines,
            limits: Limits::default(),
            policy: SecurityPolicy::default(),
            crl: CrlSettings::default(),
            public_base_url: None,
            stop: None,
            clock,
            owns_dir: true,
        }
    }

    /// A second Shedu on the same database and data directory, as another process would be.
    /// Drop it before the first.
    pub async fn another_instance(&self) -> TestApp {
        let mut app = TestApp {
            base: String::new(),
            client: reqwest::Client::new(),
            db: TestDb { url: self.db.url.clone(), dir: self.db.dir.clone() },
            backend: self.backend,
            engines: self.engines.clone(),
            limits: self.limits,
            policy: self.policy,
            crl: self.crl,
            public_base_url: self.public_base_url.clone(),
            stop: None,
            clock: self.clock.clone(),
            owns_dir: false,
        };
        app.start().await;
        app
    }

    fn settings(&self) -> Settings {
        Settings {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: self.db.dir.clone(),
            database_url: self.db.url.clone(),
            nats_url: None,
            engines: self.engines.clone(),
            limits: self.limits,
            relay: Default::default(),
            policy: self.policy,
            crl: self.crl,
            public_base_url: self.public_base_url.clone(),
        }
    }

    async fn start(&mut self) {
        self.try_start().await.expect("start Shedu");
    }

    /// Starts Shedu, or returns why it refused to start.
    pub async fn try_start(&mut self) -> anyhow::Result<()> {
        let (addr, stop) = shedu_api::spawn(&self.settings(), self.clock.clone()).await?;
        self.base = format!("http://{addr}");
        self.stop = Some(stop);
        Ok(())
    }

    /// Stops the server, leaving the database and data directory as they are.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    /// Starts the server again after [`TestApp::stop`].
    pub async fn start_again(&mut self) {
        self.start().await;
    }

    /// Stops the server and starts a new one on the same database and data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Runs `shedu keys rotate-kek` against this app's data directory and engines.
    pub fn rotate_kek(&self, new: &KekSource) -> anyhow::Result<(String, Rotation)> {
        shedu_api::app::rotate_kek(&self.settings(), None, new)
    }

    /// Runs `shedu projections rebuild` against this app's database.
    pub async fn rebuild_projections(&self) -> u64 {
        shedu_api::app::rebuild_projections(&self.settings()).await.expect("rebuild").0
    }

    /// How many events commands appended: what Shedu appends on its own schedule aside (CRL
    /// publications, and the scheduler's warnings and expiries, which a test clock may make due).
    pub async fn command_events(&self) -> i64 {
        let log = read_log(self.db.open().await.event_store().as_ref()).await;
        let own = |actor: &str| actor == "shedu-crl-publisher" || actor == "shedu-scheduler";
        log.iter().filter(|e| !e.stream_id.starts_with("crl-") && !own(&e.metadata.actor)).count() as i64
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.expect("request");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    pub async fn raw_post(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let response = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, None, &[]).await
    }

    pub async fn create_ca(&self, body: Value) -> Reply {
        self.call(reqwest::Method::POST, "/v2/cas", Some(body), &[]).await
    }

    pub async fn import_ca(&self, body: Value) -> Reply {
        self.call(reqwest::Method::POST, "/v2/cas/import", Some(body), &[]).await
    }

    pub async fn ca(&self, id: &str) -> Reply {
        self.get(&format!("/v2/cas/{id}")).await
    }

    pub async fn list_cas(&self, query: &str) -> Reply {
        self.get(&format!("/v2/cas?{query}")).await
    }

    pub async fn set_status(&self, id: &str, status: &str, reason: Option<&str>) -> Reply {
        let body = json!({ "status": status, "revocation_reason": reason });
        self.call(reqwest::Method::POST, &format!("/v2/cas/{id}/status"), Some(body), &[]).await
    }

    pub async fn patch_metadata(&self, id: &str, patch: Value) -> Reply {
        self.call(reqwest::Method::PATCH, &format!("/v2/cas/{id}/metadata"), Some(patch), &[]).await
    }

    pub async fn set_profile(&self, id: &str, profile_id: &str) -> Reply {
        self.call(
            reqwest::Method::PUT,
            &format!("/v2/cas/{id}/profile"),
            Some(json!({ "profile_id": profile_id })),
            &[],
        )
        .await
    }

    /// Sets the CA's default profile and the other profiles it may sign with.
    pub async fn allow_profiles(&self, id: &str, default: Option<&str>, allowed: &[&str]) -> Reply {
        let body = json!({ "profile_id": default, "allowed_profile_ids": allowed });
        let reply = self.call(reqwest::Method::PUT, &format!("/v2/cas/{id}/profile"), Some(body), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
    }

    pub async fn delete_ca(&self, id: &str) -> Reply {
        self.call(reqwest::Method::DELETE, &format!("/v2/cas/{id}"), None, &[]).await
    }

    pub async fn chain(&self, id: &str) -> Reply {
        self.get(&format!("/v2/cas/{id}/chain")).await
    }

    pub async fn create_profile(&self, body: Value) -> Reply {
        self.call(reqwest::Method::POST, "/v2/profiles", Some(body), &[]).await
    }

    pub async fn sign(&self, ca: &str, body: Value) -> Reply {
        self.call(reqwest::Method::POST, &format!("/v2/cas/{ca}/certificates/sign"), Some(body), &[]).await
    }

    pub async fn certificate(&self, serial: &str) -> Reply {
        self.get(&format!("/v2/certificates/{serial}")).await
    }

    pub async fn set_certificate_status(&self, serial: &str, status: &str, reason: Option<&str>) -> Reply {
        let body = json!({ "status": status, "revocation_reason": reason });
        self.call(reqwest::Method::POST, &format!("/v2/certificates/{serial}/status"), Some(body), &[]).await
    }

    pub async fn events(&self, id: &str) -> Reply {
        self.get(&format!("/v2/cas/{id}/events")).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.db.dir);
        }
    }
}

/// A create-CA request body.
pub fn ca_body(id: &str, parent: Option<&str>, cn: &str, key: (&str, u32), duration: &str) -> Value {
    json!({
        "id": id,
        "parent_id": parent,
        "subject": { "common_name": cn, "organization": "Shedu Test", "country": "ES" },
        "key_metadata": { "type": key.0, "bits": key.1 },
        "ca_expiration": { "type": "Duration", "duration": duration },
    })
}

/// A PKCS#10 request made by openssl for a fresh key: `key` is `rsa:2048`, `ec:P-256`,
/// `ec:P-384` or `ed25519`. Returns the PEM.
pub fn openssl_csr(dir: &Path, name: &str, key: &str, cn: &str, san: &str) -> String {
    let keyout = format!("{name}.key");
    let out = format!("{name}.csr");
    let subj = format!("/CN={cn}");
    let san = format!("subjectAltName={san}");
    let mut args: Vec<&str> =
        vec!["req", "-new", "-nodes", "-keyout", &keyout, "-out", &out, "-subj", &subj, "-addext", &san];
    let curve;
    match key.split_once(':') {
        Some(("rsa", bits)) => {
            curve = format!("rsa:{bits}");
            args.extend(["-newkey", &curve]);
        }
        Some(("ec", name)) => {
            curve = format!("ec_paramgen_curve:{name}");
            args.extend(["-newkey", "ec", "-pkeyopt", &curve]);
        }
        _ => args.extend(["-newkey", key]),
    }
    let (ok, text) = openssl(&args, dir);
    assert!(ok, "openssl req {key}: {text}");
    std::fs::read_to_string(dir.join(out)).expect("csr written")
}

/// A self-signed ECDSA P-256 CA certificate made by openssl (CA:TRUE, keyCertSign and cRLSign,
/// a year), as an operator would bring one to import: `(certificate PEM, private key PEM)`.
pub fn openssl_ca(dir: &Path, name: &str, cn: &str) -> (String, String) {
    openssl_ca_with(dir, name, cn, 365, "CA:TRUE")
}

/// [`openssl_ca`] valid for `days`, with `basic_constraints` (`CA:TRUE,pathlen:0`, say). Writes
/// `<name>.pem` and `<name>.key` in `dir`.
pub fn openssl_ca_with(dir: &Path, name: &str, cn: &str, days: u32, basic_constraints: &str) -> (String, String) {
    let (key, cert, subj) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={cn}"));
    let (days, constraints) = (days.to_string(), format!("basicConstraints=critical,{basic_constraints}"));
    let args = [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-subj",
        &subj,
        "-days",
        &days,
        "-addext",
        &constraints,
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    let (ok, text) = openssl(&args, dir);
    assert!(ok, "openssl req -x509: {text}");
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect("written by openssl");
    (read(&cert), read(&key))
}

/// Lints a PEM certificate with pkilint's RFC 5280 linter at WARNING and above; returns the
/// findings (empty when clean).
pub fn pkilint(dir: &Path, pem: &str) -> String {
    let linter = std::env::var("SHEDU_PKILINT").unwrap_or_else(|_| "lint_pkix_cert".into());
    let file = dir.join(format!("lint-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, pem).expect("write");
    let output = Command::new(&linter)
        .args(["lint", "-s", "WARNING"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("pkilint ({linter}) is required; scripts/test.sh installs it: {e}"));
    if output.status.success() { String::new() } else { String::from_utf8_lossy(&output.stdout).into_owned() }
}

/// Lints the DER CRL `file` (in `dir`) with pkilint's PKIX CRL linter at WARNING and above;
/// returns the findings (empty when clean). The linter sits beside `SHEDU_PKILINT`'s.
pub fn pkilint_crl(dir: &Path, file: &str) -> String {
    let certificate_linter = std::env::var("SHEDU_PKILINT").unwrap_or_else(|_| "lint_pkix_cert".into());
    let linter = Path::new(&certificate_linter).with_file_name("lint_crl");
    let output = Command::new(&linter)
        .args(["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING"])
        .arg(dir.join(file))
        .output()
        .unwrap_or_else(|e| panic!("pkilint ({}) is required; scripts/test.sh installs it: {e}", linter.display()));
    if output.status.success() { String::new() } else { String::from_utf8_lossy(&output.stdout).into_owned() }
}

/// Runs openssl; returns (success, stdout + stderr).
pub fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Generates defining parameterised tests for both backends: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        })*
    };
}
