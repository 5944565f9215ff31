//! Validity periods: `{"type": "Duration", "duration": "10y"}` or `{"type": "Time", "time": …}`.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::DomainError;

/// How long a certificate lives, as requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Duration(Duration),
    Until(OffsetDateTime),
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
            other => Err(DomainError::invalid(field, format!("type must be Duration or Time, not '{other}'"))),
        }
    }

    /// The notAfter of a certificate issued at `now`, truncated to whole seconds as X.509 stores it.
    pub fn not_after(&self, now: OffsetDateTime) -> Result<OffsetDateTime, DomainError> {
        let end = match *self {
            Validity::Duration(d) => now + d,
            Validity::Until(t) => t,
        };
        let end = end.replace_nanosecond(0).unwrap_or(end);
        if end <= now {
            return Err(DomainError::Rule("the validity period ends before it starts".into()));
        }
        Ok(end)
    }
}

/// Parses `90d`, `10y`, `1y30d`: units s, m (minutes), h, d, w, y (365 days), summed. Lamassu's `y` is 364 days; Shedu uses 365 so that "10y" means what an
/// operator reads.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    let mut any = false;
    for c in raw.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| format!("'{raw}' is not a duration like 10y or 90d"))?;
        digits.clear();
        let unit = match c {
            's' => Duration::SECOND,
            'm' => Duration::MINUTE,
            'h' => Duration::HOUR,
            'd' => Duration::DAY,
            'w' => Duration::WEEK,
            'y' => Duration::days(365),
            _ => return Err(format!("unknown unit '{c}' in '{raw}' (use s, m, h, d, w, y)")),
        };
        total = unit
            .checked_mul(i32::try_from(n).map_err(|_| format!("'{raw}' is too long"))?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("'{raw}' is too long"))?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(format!("'{raw}' is not a duration like 10y or 90d"));
    }
    if total <= Duration::ZERO {
        return Err("duration must be positive".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_sum_their_parts() {
        assert_eq!(parse_duration("10y").unwrap(), Duration::days(3650));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::hours(36));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_time_in_the_past_is_refused() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let v = Validity::Until(datetime!(2025-01-01 0:00 UTC));
        assert!(v.not_after(now).is_err());
    }
}
