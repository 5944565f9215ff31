//! Revocation publishing settings (`[crl]` in the configuration file).

use std::time::Duration;

use serde::Deserialize;
use shedu_commands::crl_service::CrlValidity;
use shedu_commands::x509::build::Publishing;
use shedu_projections::crl_publisher::CrlSchedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrlSettings {
    /// Publish CRLs at all (the CRL routes then answer 404 for CAs without one).
    pub enabled: bool,
    /// A full CRL's nextUpdate, after its thisUpdate.
    pub validity_seconds: u64,
    /// Publish a delta CRL on each change and the full CRL on its schedule, instead of re-signing
    /// the full CRL on each change.
    pub delta: bool,
    pub delta_validity_seconds: u64,
    /// How long before its nextUpdate a CRL is re-signed: the overlap relying parties get.
    /// Unset: a day, or half the shortest validity when that is less.
    pub refresh_before_seconds: Option<u64>,
    /// How long after a revocation the CRLs are signed, gathering the revocations meanwhile.
    pub batch_ms: u64,
}

impl Default for CrlSettings {
    fn default() -> Self {
        CrlSettings {
            enabled: true,
            validity_seconds: 7 * 86_400,
            delta: false,
            delta_validity_seconds: 86_400,
            refresh_before_seconds: None,
            batch_ms: 200,
        }
    }
}

impl CrlSettings {
    pub fn check(&self) -> Result<(), String> {
        if !(60..=366 * 86_400).contains(&self.validity_seconds) {
            return Err("crl.validity_seconds must be between 60 and 31622400 (a year)".into());
        }
        if self.delta && !(60..=self.validity_seconds).contains(&self.delta_validity_seconds) {
            return Err("crl.delta_validity_seconds must be between 60 and crl.validity_seconds".into());
        }
        let shortest = self.shortest_validity();
        if self.refresh_before_seconds.is_some_and(|s| s == 0 || s >= shortest) {
            return Err(format!(
                "crl.refresh_before_seconds must be at least 1 and less than the validity it refreshes ({shortest} s)"
            ));
        }
        if self.batch_ms > 10_000 {
            return Err("crl.batch_ms must be at most 10000".into());
        }
        Ok(())
    }

    fn shortest_validity(&self) -> u64 {
        if self.delta { self.delta_validity_seconds.min(self.validity_seconds) } else { self.validity_seconds }
    }

    /// The refresh window: as set, else a day or half the shortest validity, whichever is less.
    pub fn refresh_before(&self) -> Duration {
        Duration::from_secs(self.refresh_before_seconds.unwrap_or((self.shortest_validity() / 2).min(86_400)))
    }

    /// What certificates may name: nothing when CRLs are off.
    pub fn publishing(&self) -> Publishing {
        match (self.enabled, self.delta) {
            (false, _) => Publishing::Nothing,
            (true, false) => Publishing::Full,
            (true, true) => Publishing::FullAndDelta,
        }
    }

    pub fn validity(&self) -> CrlValidity {
        CrlValidity {
            full: Duration::from_secs(self.validity_seconds),
            delta: Duration::from_secs(self.delta_validity_seconds),
        }
    }

    pub fn schedule(&self) -> CrlSchedule {
        CrlSchedule {
            batch: Duration::from_millis(self.batch_ms),
            refresh_before: self.refresh_before(),
            delta: self.delta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_a_refresh_must_come_before_expiry() {
        assert_eq!(CrlSettings::default().check(), Ok(()));
        assert_eq!(CrlSettings::default().refresh_before(), Duration::from_secs(86_400));
        let late = CrlSettings { refresh_before_seconds: Some(7 * 86_400), ..CrlSettings::default() };
        assert!(late.check().unwrap_err().contains("refresh_before_seconds"));
        // One setting alone starts: the refresh window follows the validities.
        let deltas = CrlSettings { delta: true, ..CrlSettings::default() };
        assert_eq!((deltas.check(), deltas.refresh_before()), (Ok(()), Duration::from_secs(43_200)));
        let hourly = CrlSettings { validity_seconds: 3600, ..CrlSettings::default() };
        assert_eq!((hourly.check(), hourly.refresh_before()), (Ok(()), Duration::from_secs(1800)));
        // With deltas the delta's validity bounds the refresh window.
        let short =
            CrlSettings { delta: true, delta_validity_seconds: 3600, refresh_before_seconds: Some(7200), ..deltas };
        assert!(short.check().is_err());
        assert!(CrlSettings { refresh_before_seconds: Some(600), ..short }.check().is_ok());
    }
}
