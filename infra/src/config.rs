//! Configuration: a TOML file (`--config`), overridden by flags and environment variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use shedu_commands::crypto::{CryptoEngine, Engines};
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::EngineId;

use crate::software_engine::{Kek, SoftwareEngine};

/// The file's shape. Every setting also has a flag or environment variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub nats_url: Option<String>,
    #[serde(default)]
    pub engines: Vec<EngineConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub default: bool,
    pub security_level: Option<SecurityLevel>,
    /// Software engine: environment variable holding the KEK as 64 hex digits.
    pub kek_env: Option<String>,
    /// Software engine: file holding the KEK as 64 hex digits.
    pub kek_file: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

pub const DEFAULT_ENGINE: &str = "software-default";
const DEFAULT_KEK_ENV: &str = "SHEDU_KEK";

/// Builds the configured engines; with none configured, one software engine named
/// `software-default`.
pub fn build_engines(configs: &[EngineConfig], data_dir: &Path) -> Result<Engines, String> {
    let default_config = [EngineConfig {
        id: DEFAULT_ENGINE.into(),
        kind: "software".into(),
        default: true,
        security_level: None,
        kek_env: None,
        kek_file: None,
    }];
    let configs = if configs.is_empty() { &default_config[..] } else { configs };
    let mut engines: Vec<Arc<dyn CryptoEngine>> = Vec::new();
    let mut default = None;
    for config in configs {
        let id = EngineId::parse(&config.id).map_err(|e| format!("engine id: {e}"))?;
        if config.default {
            if default.is_some() {
                return Err("more than one engine has default = true".into());
            }
            default = Some(id.clone());
        }
        match config.kind.as_str() {
            "software" => {
                let kek = software_kek(config, data_dir)?;
                let dir = data_dir.join("keys").join(id.as_str());
                let level = config.security_level.unwrap_or(SecurityLevel::SL0);
                engines.push(Arc::new(SoftwareEngine::new(id, dir, kek, level)?));
            }
            "pkcs11" | "aws_kms" => {
                return Err(format!(
                    "engine '{}': type '{}' is not available in this build yet",
                    config.id, config.kind
                ));
            }
            other => {
                return Err(format!("engine '{}': unknown type '{other}' (software, pkcs11, aws_kms)", config.id));
            }
        }
    }
    let default = match default {
        Some(id) => id,
        None if engines.len() == 1 => engines[0].info().id.clone(),
        None => return Err("several engines are configured; mark one with default = true".into()),
    };
    Engines::new(engines, default)
}

fn software_kek(config: &EngineConfig, data_dir: &Path) -> Result<Kek, String> {
    if let Some(path) = &config.kek_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read KEK file {}: {e}", path.display()))?;
        return Kek::from_hex(&text);
    }
    let env = config.kek_env.as_deref().unwrap_or(DEFAULT_KEK_ENV);
    if let Ok(value) = std::env::var(env) {
        return Kek::from_hex(&value).map_err(|e| format!("{env}: {e}"));
    }
    let path = data_dir.join("kek.hex");
    let (kek, generated) = Kek::load_or_generate(&path)?;
    if generated {
        tracing::warn!(
            path = %path.display(),
            "GENERATED A KEY-ENCRYPTION KEY NEXT TO THE KEYS IT PROTECTS. Fine for a trial; in production \
             set {env} (64 hex digits) or kek_file, and keep it away from the data directory."
        );
    } else if config.kek_env.is_none() {
        tracing::warn!(path = %path.display(), "software engine KEK read from the data directory; set {env} in production");
    }
    Ok(kek)
}
