//! Crypto engines (issue 12): ECDSA P-256 signatures/s straight through each engine (software,
//! a SoftHSM2 token, a moto KMS endpoint) from 1 and 16 threads, and certificates/s over HTTP
//! at 1 and 16 clients with the issuing CA's key in that engine. scripts/bench.sh prepares the
//! token (`SOFTHSM2_CONF`, `SHEDU_BENCH_HSM_LABEL`, `SHEDU_BENCH_HSM_PIN_FILE`) and moto
//! (`SHEDU_MOTO_SERVER`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use shedu_commands::crypto::CryptoEngine;
use shedu_domain::key::KeySpec;
use shedu_infra::config::{EngineConfig, build_engines};

use crate::{load, procs};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EngineResult {
    pub engine: String,
    pub signatures_per_second_1: f64,
    pub signatures_per_second_16: f64,
    pub certificates_per_second_1: f64,
    pub certificates_per_second_16: f64,
}

/// A TBSCertificate-sized message.
const MESSAGE: [u8; 600] = [0x5a; 600];

fn signatures_per_second(engine: Arc<dyn CryptoEngine>, threads: usize, cell: Duration) -> anyhow::Result<f64> {
    let key = engine.generate_key(KeySpec::parse("ECDSA", 256)?)?.key_id;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (engine, key, done) = (engine.clone(), key.clone(), done.clone());
            std::thread::spawn(move || {
                while started.elapsed() < cell {
                    if engine.sign(&key, &MESSAGE).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let _ = engine.delete_key(&key);
    Ok(rate)
}

struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_moto() -> anyhow::Result<Moto> {
    let binary = std::env::var("SHEDU_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = procs::free_port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let moto = Moto(child, format!("http://127.0.0.1:{port}"));
    procs::wait_ready_tcp(&moto.1).await?;
    Ok(moto)
}

fn toml_engine(config: &EngineConfig) -> String {
    let mut out =
        format!("[[engines]]\nid = \"{}\"\ntype = \"{}\"\ndefault = {}\n", config.id, config.kind, config.default);
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("{name} = \"{value}\"\n"));
        }
    };
    put("module", config.module.as_ref().map(|p| p.display().to_string()));
    put("token_label", config.token_label.clone());
    put("pin_file", config.pin_file.as_ref().map(|p| p.display().to_string()));
    put("region", config.region.clone());
    put("endpoint_url", config.endpoint_url.clone());
    put("kek_env", config.kek_env.clone());
    out
}

pub(crate) async fn run(
    binary: &Path,
    scratch: &Path,
    bodies: Arc<Vec<String>>,
    cell: Duration,
) -> anyhow::Result<Vec<EngineResult>> {
    let moto = start_moto().await?;
    let software = EngineConfig {
        id: "software".into(),
        kind: "software".into(),
        kek_env: Some("SHEDU_KEK".into()),
        ..EngineConfig::default()
    };
    let hsm = EngineConfig {
        id: "hsm".into(),
        kind: "pkcs11".into(),
        module: Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")),
        token_label: std::env::var("SHEDU_BENCH_HSM_LABEL").ok(),
        pin_file: std::env::var("SHEDU_BENCH_HSM_PIN_FILE").ok().map(PathBuf::from),
        ..EngineConfig::default()
    };
    let kms = EngineConfig {
        id: "kms".into(),
        kind: "aws_kms".into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.1.clone()),
        ..EngineConfig::default()
    };
    let mut results = Vec::new();
    for config in [software, hsm, kms] {
        let name = config.id.clone();
        eprintln!("engine {name}");
        let dir = scratch.join(format!("engine-{name}"));
        std::fs::create_dir_all(&dir)?;
        let default = EngineConfig { default: true, ..config.clone() };
        // The software engine's KEK comes from SHEDU_KEK, which bench.sh and procs set alike.
        let engines = build_engines(std::slice::from_ref(&default), &dir).map_err(anyhow::Error::msg)?;
        let engine = engines.resolve(None)?;
        let one = signatures_per_second(engine.clone(), 1, cell)?;
        let sixteen = signatures_per_second(engine.clone(), 16, cell)?;
        eprintln!("  signatures/s: {one:.0} (1 thread), {sixteen:.0} (16 threads)");
        drop(engines);
        drop(engine);

        let config_path = dir.join("shedu.toml");
        std::fs::write(&config_path, toml_engine(&default))?;
        let server = procs::start_shedu_with(
            binary,
            &dir.join("server"),
            None,
            &["--config", config_path.to_str().unwrap_or_default()],
        )
        .await?;
        crate::setup(&server.base).await?;
        let url = format!("{}/v2/cas/issuing/certificates/sign", server.base);
        let mut certificates = Vec::new();
        for clients in [1, 16] {
            let result = load::run(&url, bodies.clone(), clients, cell, server.pid()).await;
            eprintln!("  {clients:>2} clients: {:.0} certs/s (errors {})", result.per_second, result.errors);
            certificates.push(result.per_second);
        }
        server.stop();
        results.push(EngineResult {
            engine: name,
            signatures_per_second_1: one,
            signatures_per_second_16: sixteen,
            certificates_per_second_1: certificates[0],
            certificates_per_second_16: certificates[1],
        });
    }
    Ok(results)
}
