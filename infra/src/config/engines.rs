//! PKCS#11 and AWS KMS engines from their `[[engines]]` entries.

use std::path::Path;

use cryptoki::types::AuthPin;
use shedu_domain::ca::SecurityLevel;
use shedu_domain::ids::EngineId;
use zeroize::Zeroizing;

use super::EngineConfig;
use crate::kms_engine::{KmsEngine, KmsSettings};
use crate::pkcs11_engine::{Pkcs11Engine, Pkcs11Settings};
use crate::private_files::refuse_shared;

const DEFAULT_SESSIONS: usize = 16;

/// Settings that belong to another type of engine are refused, so that a typo does not pass
/// unnoticed.
fn only(config: &EngineConfig, allowed: &[&str]) -> Result<(), String> {
    let set = [
        ("kek_env", config.kek_env.is_some()),
        ("kek_file", config.kek_file.is_some()),
        ("module", config.module.is_some()),
        ("token_label", config.token_label.is_some()),
        ("pin_env", config.pin_env.is_some()),
        ("pin_file", config.pin_file.is_some()),
        ("max_sessions", config.max_sessions.is_some()),
        ("region", config.region.is_some()),
        ("endpoint_url", config.endpoint_url.is_some()),
        ("profile", config.profile.is_some()),
        ("alias_prefix", config.alias_prefix.is_some()),
        ("deletion_window_days", config.deletion_window_days.is_some()),
    ];
    match set.iter().find(|(name, present)| *present && !allowed.contains(name)) {
        Some((name, _)) => Err(format!("engine '{}': {name} does not apply to type '{}'", config.id, config.kind)),
        None => Ok(()),
    }
}

pub(super) fn pkcs11(config: &EngineConfig, id: EngineId, level: SecurityLevel) -> Result<Pkcs11Engine, String> {
    only(config, &["module", "token_label", "pin_env", "pin_file", "max_sessions"])?;
    let module = config.module.as_deref().ok_or_else(|| format!("engine '{id}': set module (the PKCS#11 library)"))?;
    let token_label = config.token_label.clone().ok_or_else(|| format!("engine '{id}': set token_label"))?;
    let pin = pin(config, &id)?;
    let max_sessions = config.max_sessions.unwrap_or(DEFAULT_SESSIONS);
    if !(1..=1024).contains(&max_sessions) {
        return Err(format!("engine '{id}': max_sessions must be between 1 and 1024"));
    }
    Pkcs11Engine::new(id, level, Pkcs11Settings { module, token_label, pin, max_sessions })
}

/// The user PIN, from an environment variable or a file only the owner can read. Messages name
/// where it was looked for, never what it is.
fn pin(config: &EngineConfig, id: &EngineId) -> Result<AuthPin, String> {
    let text = match (&config.pin_env, &config.pin_file) {
        (Some(name), None) => Zeroizing::new(
            std::env::var(name).map_err(|_| format!("engine '{id}': the PIN variable {name} is not set"))?,
        ),
        (None, Some(path)) => read_pin_file(path).map_err(|e| format!("engine '{id}': {e}"))?,
        (Some(_), Some(_)) => return Err(format!("engine '{id}': set pin_env or pin_file, not both")),
        (None, None) => return Err(format!("engine '{id}': set pin_env or pin_file")),
    };
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(format!("engine '{id}': the PIN is empty"));
    }
    Ok(AuthPin::from(trimmed.to_owned()))
}

fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, String> {
    refuse_shared(path).map_err(|e| format!("PIN file {e}"))?;
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot read PIN file {}: {e}", path.display()))
}

pub(super) fn kms(config: &EngineConfig, id: EngineId, level: SecurityLevel) -> Result<KmsEngine, String> {
    only(config, &["region", "endpoint_url", "profile", "alias_prefix", "deletion_window_days"])?;
    let endpoint_url = match &config.endpoint_url {
        Some(url) => Some(super::http_url("endpoint_url", url).map_err(|e| format!("engine '{id}': {e}"))?),
        None => None,
    };
    let settings = KmsSettings {
        region: config.region.clone(),
        endpoint_url,
        profile: config.profile.clone(),
        alias_prefix: config.alias_prefix.clone().unwrap_or_else(|| "shedu".into()),
        deletion_window_days: config.deletion_window_days.unwrap_or(7),
    };
    KmsEngine::new(id, level, settings)
}
