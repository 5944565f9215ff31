//! A CA's certificate revocation lists as a series in the log (stream `crl-<ca id>`): one
//! `crl.published` event per CRL Shedu signs, full or delta, numbered in one sequence (RFC 5280
//! §5.2.3: the complete and delta CRLs of one scope share it). A CRL's number is its stream
//! version, so two processes on one log cannot publish two CRLs under one number: the second
//! append expects the version the first one took, loses, and plans again.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::DomainError;
use crate::aggregate::{Aggregate, DomainEvent, UnknownEvent};
use crate::ca::KeyRef;
use crate::error::Resource;
use crate::ids::{CaId, SerialNumber};
use crate::status::{Revocation, RevocationReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CrlKind {
    Full,
    Delta,
}

impl CrlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrlKind::Full => "FULL",
            CrlKind::Delta => "DELTA",
        }
    }
}

/// The point in the log a CRL was built at: it lists every revocation recorded up to there.
/// Ordered as the log is read (`tx`, then `position`; `tx` is 0 on SQLite).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Covered {
    pub tx: u64,
    pub position: i64,
}

/// One CRL as signed and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlPublished {
    pub ca_id: CaId,
    pub number: u64,
    pub kind: CrlKind,
    /// A delta CRL's base: the number of the full CRL it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_number: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    pub covers: Covered,
    /// Revoked certificates listed.
    pub entries: u64,
    /// The CA key that signed it.
    pub key: KeyRef,
    /// SHA-256 of the CRL's DER, hex: an auditor holding a CRL file can find the event for it.
    pub sha256: String,
}

/// What the log says of one CA's CRLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSeries {
    pub ca_id: CaId,
    pub last: CrlPublished,
    /// The latest full CRL: the base every later delta refers to.
    pub last_full: Option<CrlPublished>,
}

/// The number the next CRL takes and, for a delta, the full CRL it completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlPlan {
    pub number: u64,
    pub base: Option<CrlPublished>,
}

/// Plans the next CRL of `ca`, built at `covers`. Refuses a CRL that would list less than the
/// last one (`covers` behind it: the views lag what another process already published) and a
/// delta without a full CRL to complete.
pub fn plan(ca: &CaId, series: Option<&CrlSeries>, kind: CrlKind, covers: Covered) -> Result<CrlPlan, DomainError> {
    if let Some(series) = series
        && covers < series.last.covers
    {
        return Err(DomainError::CrlBehind { ca: ca.clone(), number: series.last.number });
    }
    let number = series.map_or(1, |s| s.last.number + 1);
    Ok(CrlPlan { number, base: base(ca, series, kind)? })
}

/// The full CRL a CRL of `kind` completes: none for a full CRL, the latest full one for a delta.
pub fn base(ca: &CaId, series: Option<&CrlSeries>, kind: CrlKind) -> Result<Option<CrlPublished>, DomainError> {
    match kind {
        CrlKind::Full => Ok(None),
        CrlKind::Delta => {
            series.and_then(|s| s.last_full.clone()).map(Some).ok_or_else(|| DomainError::NoBaseCrl { ca: ca.clone() })
        }
    }
}

/// One certificate's place on its issuer's CRLs, as the revocation view keeps it: revoked, or
/// released from a hold (which a delta CRL announces with removeFromCRL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    pub issuer: CaId,
    pub serial: SerialNumber,
    pub revoked: bool,
    pub revocation: Revocation,
    pub valid_to: OffsetDateTime,
    /// Where in the log its status last changed.
    pub changed: Covered,
}

/// An entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    pub serial: SerialNumber,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
    pub invalidity_date: Option<OffsetDateTime>,
}

/// The entries of a CRL issued at `this_update`: a full CRL (`base` None) lists every revoked
/// certificate not yet expired; a delta lists what changed after its base, a released hold as
/// removeFromCRL (RFC 5280 §5.2.4). An expired certificate leaves the lists (§3.3: a CRL need
/// only list certificates within their validity).
pub fn entries(records: &[RevocationRecord], base: Option<Covered>, this_update: OffsetDateTime) -> Vec<CrlEntry> {
    records
        .iter()
        .filter(|r| r.valid_to >= this_update)
        .filter(|r| match base {
            None => r.revoked,
            Some(base) => r.changed > base,
        })
        .map(|r| CrlEntry {
            serial: r.serial.clone(),
            revoked_at: r.revocation.revoked_at,
            reason: if r.revoked { r.revocation.reason } else { RevocationReason::RemoveFromCRL },
            invalidity_date: r.revocation.invalidity_date.filter(|_| r.revoked),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlCommand {
    /// Record a CRL signed under a plan from [`plan`].
    Record(Box<CrlPublished>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlEvent {
    Published(CrlPublished),
}

const PUBLISHED: &str = "crl.published";

impl DomainEvent for CrlEvent {
    fn event_type(&self) -> &'static str {
        PUBLISHED
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn to_data(&self) -> Value {
        let CrlEvent::Published(e) = self;
        serde_json::to_value(e).unwrap_or(Value::Null)
    }

    fn from_stored(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, UnknownEvent> {
        if event_type != PUBLISHED || schema_version != 1 {
            return Err(UnknownEvent::new(event_type, schema_version, "not a CRL event this build reads"));
        }
        CrlPublished::deserialize(data)
            .map(CrlEvent::Published)
            .map_err(|e| UnknownEvent::new(event_type, schema_version, e.to_string()))
    }
}

pub fn stream_id(ca: &CaId) -> String {
    format!("crl-{ca}")
}

impl Aggregate for CrlSeries {
    type Id = CaId;
    type Command = CrlCommand;
    type Event = CrlEvent;

    fn stream_id(id: &CaId) -> String {
        stream_id(id)
    }

    fn resource(id: &CaId) -> Resource {
        Resource::Ca(id.clone())
    }

    fn decide(
        id: &CaId,
        state: Option<&CrlSeries>,
        command: &CrlCommand,
        _now: OffsetDateTime,
    ) -> Result<Vec<CrlEvent>, DomainError> {
        let CrlCommand::Record(crl) = command;
        let planned = plan(id, state, crl.kind, crl.covers)?;
        if crl.ca_id != *id
            || crl.number != planned.number
            || crl.base_number != planned.base.map(|b| b.number)
            || crl.next_update <= crl.this_update
        {
            return Err(DomainError::BrokenInvariant("a CRL is recorded as it was planned"));
        }
        Ok(vec![CrlEvent::Published((**crl).clone())])
    }

    fn evolve(state: Option<CrlSeries>, event: &CrlEvent) -> Option<CrlSeries> {
        let CrlEvent::Published(crl) = event;
        let last_full = match crl.kind {
            CrlKind::Full => Some(crl.clone()),
            CrlKind::Delta => state.and_then(|s| s.last_full),
        };
        Some(CrlSeries { ca_id: crl.ca_id.clone(), last: crl.clone(), last_full })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ids::{EngineId, KeyId};

    fn ca() -> CaId {
        CaId::parse("issuing").unwrap()
    }

    fn at(position: i64) -> Covered {
        Covered { tx: 0, position }
    }

    fn published(number: u64, kind: CrlKind, base_number: Option<u64>, covers: Covered) -> CrlPublished {
        CrlPublished {
            ca_id: ca(),
            number,
            kind,
            base_number,
            this_update: datetime!(2026-12-03 12:00 UTC),
            next_update: datetime!(2026-12-04 12:00 UTC),
            covers,
            entries: 0,
            key: KeyRef { engine_id: EngineId::parse("software").unwrap(), key_id: KeyId::parse("k1").unwrap() },
            sha256: "00".repeat(32),
        }
    }

    fn series(events: &[CrlPublished]) -> Option<CrlSeries> {
        events.iter().cloned().map(CrlEvent::Published).fold(None, |s, e| CrlSeries::evolve(s, &e))
    }

    #[test]
    fn numbers_run_in_one_sequence_for_full_and_delta() {
        assert_eq!(plan(&ca(), None, CrlKind::Full, at(5)).unwrap().number, 1);
        let s = series(&[published(1, CrlKind::Full, None, at(5)), published(2, CrlKind::Delta, Some(1), at(9))]);
        let next = plan(&ca(), s.as_ref(), CrlKind::Delta, at(12)).unwrap();
        assert_eq!((next.number, next.base.map(|b| b.number)), (3, Some(1)));
        assert_eq!(plan(&ca(), s.as_ref(), CrlKind::Full, at(12)).unwrap().number, 3);
    }

    #[test]
    fn a_crl_never_lists_less_than_the_one_before() {
        let s = series(&[published(1, CrlKind::Full, None, at(9))]);
        assert_eq!(plan(&ca(), s.as_ref(), CrlKind::Full, at(8)), Err(DomainError::CrlBehind { ca: ca(), number: 1 }));
        // The same point again is a re-signing (a refresh before nextUpdate), not a regression.
        assert!(plan(&ca(), s.as_ref(), CrlKind::Full, at(9)).is_ok());
    }

    #[test]
    fn a_delta_needs_a_full_crl_to_complete() {
        assert_eq!(plan(&ca(), None, CrlKind::Delta, at(1)), Err(DomainError::NoBaseCrl { ca: ca() }));
    }

    #[test]
    fn only_what_was_planned_is_recorded() {
        let s = series(&[published(1, CrlKind::Full, None, at(5))]);
        let skipped = CrlCommand::Record(Box::new(published(3, CrlKind::Full, None, at(6))));
        assert!(CrlSeries::decide(&ca(), s.as_ref(), &skipped, datetime!(2026-12-03 12:00 UTC)).is_err());
        let next = CrlCommand::Record(Box::new(published(2, CrlKind::Delta, Some(1), at(6))));
        let events = CrlSeries::decide(&ca(), s.as_ref(), &next, datetime!(2026-12-03 12:00 UTC)).unwrap();
        let s = events.iter().fold(s, CrlSeries::evolve).unwrap();
        assert_eq!((s.last.number, s.last_full.map(|f| f.number)), (2, Some(1)));
    }

    fn record(serial: &str, revoked: bool, reason: RevocationReason, changed: i64) -> RevocationRecord {
        RevocationRecord {
            issuer: ca(),
            serial: SerialNumber::parse(serial).unwrap(),
            revoked,
            revocation: Revocation { reason, revoked_at: datetime!(2026-12-01 0:00 UTC), invalidity_date: None },
            valid_to: datetime!(2027-12-01 0:00 UTC),
            changed: at(changed),
        }
    }

    #[test]
    fn a_full_crl_lists_what_is_revoked_and_a_delta_what_changed_after_its_base() {
        let now = datetime!(2026-12-03 12:00 UTC);
        let mut expired = record("04", true, RevocationReason::Superseded, 2);
        expired.valid_to = datetime!(2026-12-02 0:00 UTC);
        let records = [
            record("01", true, RevocationReason::KeyCompromise, 3),
            record("02", false, RevocationReason::CertificateHold, 8),
            record("03", true, RevocationReason::CertificateHold, 9),
            expired,
        ];
        let serials = |entries: Vec<CrlEntry>| -> Vec<(String, RevocationReason)> {
            entries.into_iter().map(|e| (e.serial.to_string(), e.reason)).collect()
        };
        assert_eq!(
            serials(entries(&records, None, now)),
            [("01".into(), RevocationReason::KeyCompromise), ("03".into(), RevocationReason::CertificateHold)]
        );
        assert_eq!(
            serials(entries(&records, Some(at(5)), now)),
            [("02".into(), RevocationReason::RemoveFromCRL), ("03".into(), RevocationReason::CertificateHold)]
        );
    }

    #[test]
    fn events_read_back_as_written() {
        let event = CrlEvent::Published(published(2, CrlKind::Delta, Some(1), at(6)));
        let read = CrlEvent::from_stored(event.event_type(), event.schema_version(), &event.to_data()).unwrap();
        assert_eq!(read, event);
    }
}
