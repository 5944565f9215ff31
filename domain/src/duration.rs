//! Validity periods: `{"type": "Duration", "duration": "10y"}` or `{"type": "Time", "time": …}`.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::DomainError;
use crate::invalid::shown;

/// How long a certificate lives, as requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Duration(Period),
    Until(OffsetDateTime),
}

/// A requested lifetime: calendar years plus a fixed duration, so "10y" from 27 November ends on
/// 27 November ten years later whatever the leap days in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub years: i32,
    pub rest: Duration,
}

impl Period {
    pub fn after(&self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        let year = start.year().checked_add(self.years)?;
        // 29 February plus whole years lands on 28 February in a common year.
        let shifted = start.replace_year(year).or_else(|_| (start - Duration::DAY).replace_year(year)).ok()?;
        shifted.checked_add(self.rest)
    }

    /// The instant this period before `end`: the fixed part first, then whole years.
    pub fn before(&self, end: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = end.checked_sub(self.rest)?;
        let year = start.year().checked_sub(self.years)?;
        start.replace_year(year).or_else(|_| (start - Duration::DAY).replace_year(year)).ok()
    }
}

/// The wire shape of a validity, before parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidityInput {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub time: Option<OffsetDateTime>,
}

impl Validity {
    pub fn parse(input: &ValidityInput, field: &str) -> Result<Self, DomainError> {
        match input.kind.as_str() {
            "Duration" => {
                let raw = input
                    .duration
                    .as_deref()
                    .ok_or_else(|| DomainError::invalid(field, "a Duration needs 'duration'"))?;
                Ok(Validity::Duration(parse_duration(raw).map_err(|m| DomainError::invalid(field, m))?))
            }
            "Time" => input
                .time
                .map(Validity::Until)
                .ok_or_else(|| DomainError::invalid(field, "a Time needs 'time' (RFC 3339)")),
            other => Err(DomainError::invalid(field, format!("type must be Duration or Time, not {}", shown(other)))),
        }
    }

    /// The notAfter of a certificate issued at `now`, truncated to whole seconds as X.509 stores it.
    pub fn not_after(&self, now: OffsetDateTime) -> Result<OffsetDateTime, DomainError> {
        let end = match self {
            Validity::Duration(period) => period.after(now).ok_or(DomainError::ValidityTooLong)?,
            Validity::Until(t) => *t,
        };
        let end = end.replace_nanosecond(0).unwrap_or(end);
        if end <= now {
            return Err(DomainError::ValidityEndsBeforeStart);
        }
        Ok(end)
    }
}

/// Parses `90d`, `10y`, `1y30d`: units s, m (minutes), h, d, w and y, summed. Lamassu's `y` is
/// 364 days; Shedu's is a calendar year, so that "10y" means what an operator reads.
pub fn parse_duration(raw: &str) -> Result<Period, String> {
    let mut years: i32 = 0;
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    let mut any = false;
    for c in raw.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| format!("{} is not a duration like 10y or 90d", shown(raw)))?;
        digits.clear();
        if c == 'y' {
            years = i32::try_from(n)
                .ok()
                .and_then(|n| years.checked_add(n))
                .ok_or_else(|| format!("{} is too long", shown(raw)))?;
            any = true;
            continue;
        }
        let unit = match c {
            's' => Duration::SECOND,
            'm' => Duration::MINUTE,
            'h' => Duration::HOUR,
            'd' => Duration::DAY,
            'w' => Duration::WEEK,
            _ => {
                return Err(format!("unknown unit {} in {} (use s, m, h, d, w, y)", shown(&c.to_string()), shown(raw)));
            }
        };
        total = unit
            .checked_mul(i32::try_from(n).map_err(|_| format!("{} is too long", shown(raw)))?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("{} is too long", shown(raw)))?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(format!("{} is not a duration like 10y or 90d", shown(raw)));
    }
    if years < 0 || total < Duration::ZERO || (years == 0 && total == Duration::ZERO) {
        return Err("duration must be positive".into());
    }
    Ok(Period { years, rest: total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_sum_their_parts() {
        assert_eq!(parse_duration("10y").unwrap(), Period { years: 10, rest: Duration::ZERO });
        assert_eq!(parse_duration("1d12h").unwrap(), Period { years: 0, rest: Duration::hours(36) });
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn years_are_calendar_years() {
        let start = datetime!(2026-11-27 13:10:08 UTC);
        let ten_years = Validity::Duration(parse_duration("10y").unwrap());
        assert_eq!(ten_years.not_after(start).unwrap(), datetime!(2036-11-27 13:10:08 UTC));
        let leap = datetime!(2028-02-29 0:00 UTC);
        assert_eq!(
            Validity::Duration(parse_duration("1y").unwrap()).not_after(leap).unwrap(),
            datetime!(2029-02-28 0:00 UTC)
        );
    }

    #[test]
    fn a_time_in_the_past_is_refused() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let v = Validity::Until(datetime!(2025-01-01 0:00 UTC));
        assert!(v.not_after(now).is_err());
    }
}
