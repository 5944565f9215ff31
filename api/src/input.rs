//! Request input that several resources parse alike.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::problem::ApiError;

/// An optional field: absent or empty means `None`; anything else must parse.
pub(crate) fn optional<T, E: Into<ApiError>>(
    raw: Option<String>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    raw.filter(|s| !s.is_empty()).map(|s| parse(&s)).transpose().map_err(Into::into)
}

/// An optional RFC 3339 time, `field` naming it in the error.
pub(crate) fn optional_time(raw: Option<String>, field: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    optional(raw, |s| {
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ApiError::bad_request(field, "must be an RFC 3339 time"))
    })
}

/// RFC 6902 patch, or Lamassu's `{"patches": [...]}` wrapper around one.
pub(crate) fn patch_operations(body: Value) -> Value {
    match body {
        Value::Object(mut map) if map.contains_key("patches") => map.remove("patches").unwrap_or(Value::Null),
        other => other,
    }
}
