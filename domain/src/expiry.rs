//! Expiration monitoring: the named deltas of `lamassu.io/ca/expiration-deltas`, and what falls
//! due for a CA or a certificate — a warning at `valid_to - delta` for each delta not yet
//! triggered, and the expiry itself once `valid_to` has passed.
//!
//! The scheduler's index and the commands it runs both read [`pending`], so an entry in the index
//! is exactly a trigger whose command appends an event once due.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::DomainError;
use crate::certificate::CertificateInfo;
use crate::duration::{Period, parse_duration};
use crate::metadata::Metadata;
use crate::status::Status;

/// The metadata key holding `[{"name", "delta", "triggered"}, …]` (Lamassu's).
pub const EXPIRATION_DELTAS: &str = "lamassu.io/ca/expiration-deltas";

/// Longest delta name kept; names are recorded in events and index rows.
const MAX_NAME: usize = 64;

/// One named warning before expiry, as the metadata holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpirationDelta {
    pub name: String,
    pub delta: String,
    #[serde(default)]
    pub triggered: bool,
}

/// What falls due: a named warning, or the expiry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    Warning { name: String },
    Expired,
}

impl Trigger {
    /// Stable text for the scheduler's index: `warning:<name>` or `expired`.
    pub fn key(&self) -> String {
        match self {
            Trigger::Warning { name } => format!("warning:{name}"),
            Trigger::Expired => "expired".into(),
        }
    }

    pub fn from_key(key: &str) -> Option<Trigger> {
        match key {
            "expired" => Some(Trigger::Expired),
            _ => key.strip_prefix("warning:").map(|name| Trigger::Warning { name: name.to_owned() }),
        }
    }
}

/// A trigger and the instant it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub trigger: Trigger,
    pub at: OffsetDateTime,
}

/// The deltas in `metadata`, as recorded; entries that do not parse are left out (they were
/// refused when set, unless recorded before Shedu checked them).
pub fn deltas(metadata: &Metadata) -> Vec<(ExpirationDelta, Period)> {
    let Some(Value::Array(entries)) = metadata.get(EXPIRATION_DELTAS) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| ExpirationDelta::deserialize(entry).ok())
        .filter_map(|d| parse_duration(&d.delta).ok().map(|period| (d, period)))
        .collect()
}

/// Refuses deltas that would be silently ignored: not an array of `{name, delta, triggered?}`,
/// a delta that is not a duration, an empty, overlong or repeated name.
pub fn check_deltas(metadata: &Metadata) -> Result<(), DomainError> {
    let Some(value) = metadata.get(EXPIRATION_DELTAS) else {
        return Ok(());
    };
    let field = EXPIRATION_DELTAS;
    let Value::Array(entries) = value else {
        return Err(DomainError::invalid(field, "must be an array of {\"name\", \"delta\", \"triggered\"}"));
    };
    let mut names = std::collections::BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let delta = ExpirationDelta::deserialize(entry).map_err(|_| {
            DomainError::invalid(
                field,
                format!("entry {i} must be {{\"name\": text, \"delta\": \"30d\", \"triggered\": bool}}"),
            )
        })?;
        parse_duration(&delta.delta).map_err(|m| DomainError::invalid(field, format!("entry {i}: {m}")))?;
        if delta.name.is_empty() || delta.name.len() > MAX_NAME || delta.name.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                field,
                format!("entry {i}: name must be 1-{MAX_NAME} printable characters"),
            ));
        }
        if !names.insert(delta.name) {
            return Err(DomainError::invalid(field, format!("entry {i}: name is repeated")));
        }
    }
    Ok(())
}

/// Marks the delta `name` triggered; other entries, and anything unparsable, stay as they are.
pub fn mark_triggered(metadata: &mut Metadata, name: &str) {
    if let Some(Value::Array(entries)) = metadata.get_mut(EXPIRATION_DELTAS) {
        for entry in entries.iter_mut() {
            if let Some(object) = entry.as_object_mut()
                && object.get("name").and_then(Value::as_str) == Some(name)
            {
                object.insert("triggered".into(), Value::Bool(true));
            }
        }
    }
}

/// Clears every delta's `triggered`: a new certificate (a reissue) has a new `valid_to`.
pub fn rearm(metadata: &mut Metadata) {
    if let Some(Value::Array(entries)) = metadata.get_mut(EXPIRATION_DELTAS) {
        for object in entries.iter_mut().filter_map(Value::as_object_mut) {
            if object.contains_key("triggered") {
                object.insert("triggered".into(), Value::Bool(false));
            }
        }
    }
}

/// What is still to fall due for something with this certificate, recorded status and metadata.
/// Only what can still expire is watched: ACTIVE or INACTIVE (a hold, lifted, watches again).
/// The expiry falls due one microsecond past `valid_to`, when [`CertificateInfo::expired_at`]
/// turns true; warnings are ordered before it.
pub fn pending(certificate: &CertificateInfo, recorded: Status, metadata: &Metadata) -> Vec<Due> {
    if !matches!(recorded, Status::Active | Status::Inactive) {
        return Vec::new();
    }
    let end = certificate.valid_to;
    let mut due: Vec<Due> = deltas(metadata)
        .into_iter()
        .filter(|(d, _)| !d.triggered)
        .map(|(d, period)| Due {
            trigger: Trigger::Warning { name: d.name },
            // A delta longer than the calendar allows is due at once.
            at: period.before(end).unwrap_or(OffsetDateTime::UNIX_EPOCH).min(end),
        })
        .collect();
    due.push(Due { trigger: Trigger::Expired, at: end + time::Duration::microseconds(1) });
    due
}

/// The pending `trigger` if it is due at `now`.
pub fn due_now(pending: &[Due], trigger: &Trigger, now: OffsetDateTime) -> Option<Due> {
    pending.iter().find(|d| d.trigger == *trigger && d.at <= now).cloned()
}

/// A warning recorded by the scheduler: the delta `name` fell due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpirationWarning {
    pub name: String,
    pub delta: String,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_to: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The expiry recorded by the scheduler: status EXPIRED from `previous`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    pub previous: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_to: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a due trigger records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Warning(ExpirationWarning),
    Expired(Expired),
}

/// Decides what `trigger` records for something in this state at `now`: nothing unless it is
/// pending and due (not already triggered, due by now, still watched).
pub fn decide(
    certificate: &CertificateInfo,
    recorded: Status,
    metadata: &Metadata,
    trigger: &Trigger,
    now: OffsetDateTime,
) -> Option<Fired> {
    let due = due_now(&pending(certificate, recorded, metadata), trigger, now)?;
    let valid_to = certificate.valid_to;
    match due.trigger {
        Trigger::Warning { name } => {
            let delta = deltas(metadata).into_iter().find(|(d, _)| d.name == name)?.0.delta;
            Some(Fired::Warning(ExpirationWarning { name, delta, valid_to, due_at: due.at, at: now }))
        }
        Trigger::Expired => Some(Fired::Expired(Expired { previous: recorded, valid_to, at: now })),
    }
}

#[cfg(test)]
#[path = "expiry_tests.rs"]
mod tests;
