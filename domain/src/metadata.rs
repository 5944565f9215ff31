//! Free-form metadata and RFC 6902 JSON Patch over it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::DomainError;

pub type Metadata = Map<String, Value>;

/// The most metadata one CA or certificate carries, serialised: every change is an event, and
/// the document is folded from the log on every read.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// A metadata change as recorded. Schema 2 records the patch alone, so a 30-byte change to a
/// large document stays 30 bytes in the log; schema 1 also recorded the whole document after
/// it, which still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataChanged {
    pub patch: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl MetadataChanged {
    /// The metadata after this change. The patch applied to this very document when it was
    /// decided, so it applies again; were it not to, the document stays as it was, since folding
    /// events holds no rules and cannot fail.
    pub fn applied_to(&self, current: &Metadata) -> Metadata {
        match &self.metadata {
            Some(recorded) => recorded.clone(),
            None => apply_patch(current, &self.patch).unwrap_or_else(|_| current.clone()),
        }
    }
}

/// Refuses metadata larger than [`MAX_METADATA_BYTES`].
pub fn check_size(metadata: &Metadata) -> Result<(), DomainError> {
    let bytes = serde_json::to_vec(metadata).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > MAX_METADATA_BYTES {
        return Err(DomainError::MetadataTooLarge { limit: MAX_METADATA_BYTES });
    }
    Ok(())
}

/// Applies an RFC 6902 patch atomically: either every operation applies or none does.
/// Errors name the failing operation by its index, never the submitted values or paths.
pub fn apply_patch(current: &Metadata, patch: &Value) -> Result<Metadata, DomainError> {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|_| DomainError::invalid("patch", "not an RFC 6902 JSON Patch (an array of operations)"))?;
    let mut doc = Value::Object(current.clone());
    json_patch::patch(&mut doc, &patch).map_err(|e| match e.kind {
        // RFC 5789 §2.2: a failed precondition is a conflict with the current state.
        json_patch::PatchErrorKind::TestFailed => DomainError::PatchTestFailed { operation: e.operation },
        kind => DomainError::PatchDoesNotApply(format!("operation {} failed: {kind}", e.operation)),
    })?;
    match doc {
        Value::Object(map) => Ok(map),
        _ => Err(DomainError::MetadataNotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failing_operation_leaves_metadata_unchanged() {
        let current = json!({"env": "prod"}).as_object().cloned().unwrap();
        let patch = json!([{"op": "add", "path": "/team", "value": "pki"}, {"op": "remove", "path": "/nope"}]);
        assert!(apply_patch(&current, &patch).is_err());
        let ok = apply_patch(&current, &json!([{"op": "replace", "path": "/env", "value": "dev"}])).unwrap();
        assert_eq!(ok["env"], "dev");
    }

    #[test]
    fn a_failed_test_is_a_conflict_and_errors_never_echo_the_patch() {
        let current = json!({"env": "prod"}).as_object().cloned().unwrap();
        let patch = json!([{"op": "test", "path": "/env", "value": "dev"}, {"op": "add", "path": "/x", "value": 1}]);
        assert_eq!(apply_patch(&current, &patch), Err(DomainError::PatchTestFailed { operation: 0 }));
        let pem_header = format!("-----BEGIN EC {}-----", "PRIVATE KEY");
        let secret = json!([{"op": "remove", "path": format!("/{pem_header}")}]);
        let refused = apply_patch(&current, &secret).unwrap_err().to_string();
        assert!(!refused.contains("PRIVATE"), "{refused}");
        let not_a_patch = apply_patch(&current, &json!(pem_header)).unwrap_err().to_string();
        assert!(!not_a_patch.contains("PRIVATE"), "{not_a_patch}");
    }

    #[test]
    fn replacing_the_root_with_a_non_object_is_refused() {
        let patch = json!([{"op": "replace", "path": "", "value": 3}]);
        assert!(apply_patch(&Metadata::new(), &patch).is_err());
    }
}
