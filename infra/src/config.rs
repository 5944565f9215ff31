//! Configuration: a TOML file (`--config`), overridden by flags and environment variables.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use shedu_commands::crypto::{CryptoEngine, Engines};
use shedu_domain::ca::{SecurityLevel, SecurityPolicy};
use shedu_domain::ids::EngineId;

use zeroize::Zeroizing;

use crate::private_files::create_private_dir;

mod crl;
mod engines;
use crate::relay::RelaySettings;
use crate::software_engine::{Kek, Rotation, SoftwareEngine, rotate_kek};
pub use crl::CrlSettings;

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
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub relay: RelaySettings,
    #[serde(default)]
    pub policy: SecurityPolicy,
    #[serde(default)]
    pub crl: CrlSettings,
    /// The URL relying parties reach Shedu at, written into the CRL distribution points and
    /// authority information access of the certificates it issues.
    pub public_base_url: Option<String>,
}

/// An http(s) URL with a host (at most 253 characters, no user or password: a base URL is written
/// into every certificate) and no query or fragment, kept without its trailing slash; `field`
/// names the setting in the error.
pub fn http_url(field: &str, url: &str) -> Result<String, String> {
    let lower = url.to_ascii_lowercase();
    let scheme = ["https://", "http://"].into_iter().find(|s| lower.starts_with(s));
    let rest = scheme.map(|s| &url[s.len()..]).unwrap_or_default();
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    let fine = !host.is_empty()
        && host.len() <= 253
        && url.len() <= 1024
        && url.is_ascii()
        && !authority.contains('@')
        && !url.chars().any(|c| c.is_ascii_control() || matches!(c, '?' | '#' | ' ' | '"' | '<' | '>' | '\\'));
    if !fine {
        return Err(format!(
            "{field}: '{url}' must be an http:// or https:// URL with a host (no user or password) and no \
             query or fragment"
        ));
    }
    let scheme = scheme.unwrap_or_default();
    Ok(format!("{scheme}{}", rest.trim_end_matches('/')))
}

/// Bounds on what one request may ask of Shedu (`[limits]` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body; a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// A request still running after this long is answered with 503 `request-timeout`; a command
    /// already under way still completes, and a keyed retry finds its outcome.
    pub request_timeout_seconds: u64,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_retention_seconds: u64,
    /// Key generations running at once; more wait their turn (an RSA-4096 key takes seconds).
    pub key_generations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            idempotency_retention_seconds: 24 * 3600,
            key_generations: 2,
        }
    }
}

impl Limits {
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("request_timeout_seconds", self.request_timeout_seconds),
            ("idempotency_retention_seconds", self.idempotency_retention_seconds),
            ("key_generations", self.key_generations as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("limits.{name} must be at least 1"));
        }
        // Beyond these a setting is a typo, and a retention past the calendar overflows dates.
        let most = [
            ("request_timeout_seconds", self.request_timeout_seconds, 3600),
            ("idempotency_retention_seconds", self.idempotency_retention_seconds, 366 * 24 * 3600),
            ("key_generations", self.key_generations as u64, 1024),
        ];
        match most.iter().find(|(_, value, max)| value > max) {
            Some((name, _, max)) => Err(format!("limits.{name} must be at most {max}")),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub default: bool,
    pub security_level: Option<SecurityLevel>,
    /// Software engine: environment variable holding the KEK as 64 hex digits; Shedu refuses to
    /// start when it is not set.
    pub kek_env: Option<String>,
    /// Software engine: file holding the KEK as 64 hex digits.
    pub kek_file: Option<PathBuf>,
    /// PKCS#11: the module (shared library) to load.
    pub module: Option<PathBuf>,
    /// PKCS#11: the token's label (slot ids change; labels do not).
    pub token_label: Option<String>,
    /// PKCS#11: environment variable holding the user PIN.
    pub pin_env: Option<String>,
    /// PKCS#11: file holding the user PIN (mode 0600).
    pub pin_file: Option<PathBuf>,
    /// PKCS#11: sessions open at most (signing tasks beyond it wait their turn).
    pub max_sessions: Option<usize>,
    /// AWS KMS: region, else the AWS default chain.
    pub region: Option<String>,
    /// AWS KMS: a KMS-compatible endpoint instead of AWS's.
    pub endpoint_url: Option<String>,
    /// AWS KMS: a profile of the shared AWS config files.
    pub profile: Option<String>,
    /// AWS KMS: keys are named `alias/<alias_prefix>/<key id>` (default `shedu`).
    pub alias_prefix: Option<String>,
    /// AWS KMS: days before KMS deletes a key Shedu deleted (7 to 30, default 7).
    pub deletion_window_days: Option<i32>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

pub const DEFAULT_ENGINE: &str = "software-default";
const DEFAULT_KEK_ENV: &str = "SHEDU_KEK";

/// Where a software engine's KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// An environment variable that must be set (`kek_env`, or `SHEDU_KEK` when set).
    Env(String),
    /// A file of 64 hex digits, refused when group or others can read it.
    File(PathBuf),
    /// `<data-dir>/kek.hex`, generated on first start: the embedded default's development
    /// convenience, announced loudly in the log.
    Generated(PathBuf),
}

impl KekSource {
    /// The source an engine's configuration names. Only the embedded default (no engines
    /// configured) may fall back to a generated KEK; a configured source that is missing is fatal.
    fn of(config: &EngineConfig, embedded: bool, data_dir: &Path) -> Result<Self, String> {
        match (&config.kek_file, &config.kek_env) {
            (Some(path), None) => Ok(KekSource::File(path.clone())),
            (None, Some(env)) => Ok(KekSource::Env(env.clone())),
            (Some(_), Some(_)) => Err(format!("engine '{}': set kek_env or kek_file, not both", config.id)),
            (None, None) if std::env::var_os(DEFAULT_KEK_ENV).is_some() => Ok(KekSource::Env(DEFAULT_KEK_ENV.into())),
            (None, None) if embedded => Ok(KekSource::Generated(data_dir.join("kek.hex"))),
            (None, None) => {
                Err(format!("engine '{}': no KEK configured: set kek_env or kek_file, or {DEFAULT_KEK_ENV}", config.id))
            }
        }
    }

    pub fn load(&self) -> Result<Kek, String> {
        match self {
            KekSource::Env(name) => {
                let value = Zeroizing::new(std::env::var(name).map_err(|_| {
                    format!("the KEK is configured to come from the environment variable {name}, which is not set")
                })?);
                Kek::from_hex(&value).map_err(|e| format!("{name}: {e}"))
            }
            KekSource::File(path) => Kek::from_file(path),
            KekSource::Generated(path) => {
                let (kek, generated) = Kek::load_or_generate(path)?;
                let verb = if generated { "GENERATED" } else { "USING THE GENERATED" };
                tracing::warn!(
                    path = %path.display(),
                    "{verb} KEY-ENCRYPTION KEY STORED NEXT TO THE KEYS IT PROTECTS. Fine for a trial; in \
                     production set {DEFAULT_KEK_ENV} (64 hex digits) or an engine's kek_env or kek_file, keep it \
                     away from the data directory, and move the keys to it with `shedu keys rotate-kek`."
                );
                Ok(kek)
            }
        }
    }
}

/// Builds the configured engines; with none configured, one software engine named
/// `software-default`.
pub fn build_engines(configs: &[EngineConfig], data_dir: &Path) -> Result<Engines, String> {
    let (configs, embedded) = with_default(configs);
    let mut engines: Vec<Arc<dyn CryptoEngine>> = Vec::new();
    let mut default = None;
    for config in configs.iter() {
        let id = EngineId::parse(&config.id).map_err(|e| format!("engine id: {e}"))?;
        if config.default {
            if default.is_some() {
                return Err("more than one engine has default = true".into());
            }
            default = Some(id.clone());
        }
        match config.kind.as_str() {
            "software" => {
                let kek = KekSource::of(config, embedded, data_dir)?
                    .load()
                    .map_err(|e| format!("software engine '{}': {e}", config.id))?;
                let dir = key_dir(data_dir, &id)?;
                let level = config.security_level.unwrap_or(SecurityLevel::SL0);
                engines.push(Arc::new(SoftwareEngine::new(id, dir, kek, level)?));
            }
            "pkcs11" => {
                let level = config.security_level.unwrap_or(SecurityLevel::SL2);
                engines.push(Arc::new(engines::pkcs11(config, id, level)?));
            }
            "aws_kms" => {
                let level = config.security_level.unwrap_or(SecurityLevel::SL1);
                engines.push(Arc::new(engines::kms(config, id, level)?));
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

/// `shedu keys rotate-kek`: re-seals the keys of the software engine `engine` (or of the only
/// one) from the KEK its configuration names to `new`.
pub fn rotate_software_kek(
    configs: &[EngineConfig],
    data_dir: &Path,
    engine: Option<&str>,
    new: &KekSource,
) -> Result<(String, Rotation), String> {
    let (configs, embedded) = with_default(configs);
    let software: Vec<&EngineConfig> = configs.iter().filter(|c| c.kind == "software").collect();
    let config = match (engine, software.as_slice()) {
        (Some(id), _) => {
            software.iter().find(|c| c.id == id).ok_or_else(|| format!("no software engine '{id}' is configured"))?
        }
        (None, [only]) => only,
        (None, []) => return Err("no software engine is configured".into()),
        (None, _) => return Err("several software engines are configured; name one with --engine".into()),
    };
    let id = EngineId::parse(&config.id).map_err(|e| format!("engine id: {e}"))?;
    let old = KekSource::of(config, embedded, data_dir)?;
    if matches!(old, KekSource::Generated(ref path) if !path.exists()) {
        return Err(format!("engine '{id}' has no KEK yet: nothing to rotate"));
    }
    let dir = key_dir(data_dir, &id)?;
    let rotation = rotate_kek(&dir, id.as_str(), &old.load()?, &new.load()?)
        .map_err(|e| format!("software engine '{id}': {e}"))?;
    Ok((id.as_str().to_owned(), rotation))
}

/// The configured engines, or the embedded default when there are none (and whether it is).
fn with_default(configs: &[EngineConfig]) -> (Cow<'_, [EngineConfig]>, bool) {
    if !configs.is_empty() {
        return (Cow::Borrowed(configs), false);
    }
    let embedded = EngineConfig {
        id: DEFAULT_ENGINE.into(),
        kind: "software".into(),
        default: true,
        security_level: None,
        ..EngineConfig::default()
    };
    (Cow::Owned(vec![embedded]), true)
}

/// `<data-dir>/keys/<engine-id>`, below a `keys` directory only the owner may open.
fn key_dir(data_dir: &Path, id: &EngineId) -> Result<PathBuf, String> {
    let keys = data_dir.join("keys");
    create_private_dir(&keys)?;
    Ok(keys.join(id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::http_url;

    #[test]
    fn an_http_url_has_a_host_and_no_user_query_or_fragment() {
        assert_eq!(http_url("u", "https://pki.example.com/").unwrap(), "https://pki.example.com");
        assert_eq!(http_url("u", "http://127.0.0.1:8080/shedu").unwrap(), "http://127.0.0.1:8080/shedu");
        assert_eq!(http_url("u", "HTTPS://PKI.example.com").unwrap(), "https://PKI.example.com");
        let long = format!("https://{}.example", "a".repeat(3000));
        for bad in ["pki.example.com", "ftp://x", "https://", "https://x/?a=1", "https://x/#f", "https://u:p@x", &long]
        {
            assert!(http_url("u", bad).is_err(), "{bad}");
        }
    }
}
