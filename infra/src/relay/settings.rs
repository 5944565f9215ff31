//! The relay's settings: which stream, which subjects, which deduplication window, which source.

use serde::Deserialize;

/// The relay's settings (`[relay]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// The JetStream stream, created if missing.
    pub stream: String,
    /// Events go to `<subject_prefix>.<aggregate>.<type>`; the stream captures `<prefix>.>`.
    pub subject_prefix: String,
    /// The stream's deduplication window: a message whose `Nats-Msg-Id` the stream saw this
    /// recently is acknowledged as a duplicate and not stored again.
    pub duplicate_window_seconds: u64,
    /// Names this deployment in each CloudEvent's `source` (`/shedu/<instance>`).
    pub instance: String,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            stream: "SHEDU_EVENTS".into(),
            subject_prefix: "shedu.events".into(),
            duplicate_window_seconds: 120,
            instance: "shedu".into(),
        }
    }
}

impl RelaySettings {
    pub fn check(&self) -> Result<(), String> {
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plain(&self.stream) {
            return Err(format!("relay.stream: '{}' must be letters, digits, '-' and '_'", self.stream));
        }
        if !self.subject_prefix.split('.').all(plain) {
            return Err(format!(
                "relay.subject_prefix: '{}' must be dot-separated tokens of letters, digits, '-' and '_'",
                self.subject_prefix
            ));
        }
        if !plain(&self.instance) {
            return Err(format!("relay.instance: '{}' must be letters, digits, '-' and '_'", self.instance));
        }
        if !(1..=7 * 24 * 3600).contains(&self.duplicate_window_seconds) {
            return Err("relay.duplicate_window_seconds must be between 1 and 604800 (a week)".into());
        }
        Ok(())
    }

    pub(super) fn source(&self) -> String {
        format!("/shedu/{}", self.instance)
    }
}
