//! Child processes under test: the release `shedu` binary and `cfssl serve`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Server {
    pub child: Child,
    pub base: String,
    pub ready_after: Duration,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (VmRSS, VmHWM) in MiB: resident now and at peak.
    pub(crate) fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        (status_mib(&status, "VmRSS:"), status_mib(&status, "VmHWM:"))
    }

    pub(crate) fn stop(self) {
        drop(self)
    }
}

/// A failed run leaves no server behind.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` field given in kB (`VmRSS:`, `VmHWM:`), in MiB; 0 when absent.
pub(crate) fn status_mib(status: &str, field: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080)
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("target"))
}

/// Builds the release `shedu` binary (a no-op when it is current) and returns its path;
/// `SHEDU_BENCH_SERVER` names one already built (`scripts/bench.sh` builds both at once).
pub(crate) fn build_shedu() -> anyhow::Result<PathBuf> {
    if let Ok(built) = std::env::var("SHEDU_BENCH_SERVER") {
        anyhow::ensure!(Path::new(&built).is_file(), "SHEDU_BENCH_SERVER={built} is not a file");
        return Ok(PathBuf::from(built));
    }
    let status = Command::new("cargo").args(["build", "--release", "--quiet", "--bin", "shedu"]).status()?;
    anyhow::ensure!(status.success(), "cargo build --release --bin shedu failed");
    Ok(target_dir().join("release").join("shedu"))
}

pub(crate) async fn start_shedu(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
    start_shedu_with(binary, data_dir, database_url, &[]).await
}

/// `shedu serve` with `extra` flags (`--nats-url …`).
pub(crate) async fn start_shedu_with(
    binary: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    extra: &[&str],
) -> anyhow::Result<Server> {
    let port = free_port();
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("SHEDU_KEK", "5a".repeat(32))
        .env("SHEDU_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let started = Instant::now();
    let child = command.spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/health")).await?;
    Ok(Server { child, base, ready_after: started.elapsed() })
}

pub(crate) async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        // Any HTTP answer means the server is listening.
        if reqwest::get(url).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{url} did not answer within 60 s")
}

/// Waits until something listens at `url`'s host and port (`nats://127.0.0.1:4222`).
pub(crate) async fn wait_ready_tcp(url: &str) -> anyhow::Result<()> {
    let address = url.rsplit("//").next().unwrap_or(url).to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("nothing listens at {address} after 30 s")
}

/// Installs Debian's cfssl when it is missing, so that one command reproduces every figure.
fn ensure_cfssl() -> anyhow::Result<()> {
    if Command::new("cfssl").arg("version").output().is_ok() {
        return Ok(());
    }
    eprintln!("cfssl is missing; installing Debian's golang-cfssl");
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "golang-cfssl"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "apt-get install golang-cfssl failed; install cfssl and run again");
    Ok(())
}

/// cfssl with an ECDSA P-256 CA, signing leaves for a year with digital signature + client auth.
pub(crate) async fn start_cfssl(dir: &Path) -> anyhow::Result<Server> {
    ensure_cfssl()?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca-csr.json"), r#"{"CN":"cfssl bench CA","key":{"algo":"ecdsa","size":256}}"#)?;
    std::fs::write(
        dir.join("config.json"),
        r#"{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]}}}"#,
    )?;
    let output = Command::new("cfssl").args(["gencert", "-initca", "ca-csr.json"]).current_dir(dir).output()?;
    anyhow::ensure!(output.status.success(), "cfssl gencert: {}", String::from_utf8_lossy(&output.stderr));
    let made: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    std::fs::write(dir.join("ca.pem"), made["cert"].as_str().unwrap_or_default())?;
    std::fs::write(dir.join("ca-key.pem"), made["key"].as_str().unwrap_or_default())?;
    let port = free_port();
    let started = Instant::now();
    let child = Command::new("cfssl")
        .args(["serve", "-address", "127.0.0.1", "-port", &port.to_string(), "-ca", "ca.pem", "-ca-key", "ca-key.pem"])
        .args(["-config", "config.json", "-loglevel", "5"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/api/v1/cfssl/sign")).await?;
    Ok(Server { child, base, ready_after: started.elapsed() })
}
