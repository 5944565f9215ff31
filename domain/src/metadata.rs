//! Free-form metadata and RFC 6902 JSON Patch over it.

use serde_json::{Map, Value};

use crate::DomainError;

pub type Metadata = Map<String, Value>;

/// Applies an RFC 6902 patch atomically: either every operation applies or none does.
pub fn apply_patch(current: &Metadata, patch: &Value) -> Result<Metadata, DomainError> {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| DomainError::invalid("patch", format!("not an RFC 6902 JSON Patch: {e}")))?;
    let mut doc = Value::Object(current.clone());
    json_patch::patch(&mut doc, &patch).map_err(|e| DomainError::PatchDoesNotApply(e.to_string()))?;
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
    fn replacing_the_root_with_a_non_object_is_refused() {
        let patch = json!([{"op": "replace", "path": "", "value": 3}]);
        assert!(apply_patch(&Metadata::new(), &patch).is_err());
    }
}
