//! How securely a CA's key must be held: the security level of its engine against the rules the
//! operator configured (`[policy]`). Every rule is off unless set.

use serde::Deserialize;

use super::state::{Ca, SecurityLevel};
use crate::DomainError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityPolicy {
    /// A root's key must be held at this level or above.
    pub min_security_level_for_roots: Option<SecurityLevel>,
    /// A subordinate's key (created, imported with its key, or rekeyed) must be held at this
    /// level or above.
    pub min_security_level_for_subordinates: Option<SecurityLevel>,
    /// A subordinate's key must be held at least as securely as its parent's.
    pub subordinates_at_least_parent_level: bool,
}

impl SecurityPolicy {
    /// Refuses a root's key held at `level` when a rule forbids it, naming the rule.
    pub fn check_root(&self, level: SecurityLevel) -> Result<(), DomainError> {
        match self.min_security_level_for_roots {
            Some(required) if level < required => refuse("min_security_level_for_roots", required, level),
            _ => Ok(()),
        }
    }

    /// Refuses a subordinate's key held at `level` under `parent` (`None`: an imported CA whose
    /// issuer is not in Shedu) when a rule forbids it, naming the rule.
    pub fn check_subordinate(&self, level: SecurityLevel, parent: Option<&Ca>) -> Result<(), DomainError> {
        if let Some(required) = self.min_security_level_for_subordinates
            && level < required
        {
            return refuse("min_security_level_for_subordinates", required, level);
        }
        match parent.and_then(|p| p.security_level) {
            Some(required) if self.subordinates_at_least_parent_level && level < required => {
                refuse("subordinates_at_least_parent_level", required, level)
            }
            _ => Ok(()),
        }
    }
}

fn refuse(rule: &'static str, required: SecurityLevel, actual: SecurityLevel) -> Result<(), DomainError> {
    Err(DomainError::SecurityLevelTooLow { rule, required: required.as_str(), actual: actual.as_str() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ca_after, ca_created};

    fn active_root(id: &str) -> Ca {
        ca_after(&[ca_created(id)])
    }

    #[test]
    fn every_rule_is_off_by_default() {
        let policy = SecurityPolicy::default();
        assert!(policy.check_root(SecurityLevel::SL0).is_ok());
        assert!(policy.check_subordinate(SecurityLevel::SL0, Some(&active_root("root"))).is_ok());
    }

    #[test]
    fn a_rule_refuses_a_lower_level_and_is_named() {
        let mut root = active_root("root");
        root.security_level = Some(SecurityLevel::SL2);
        let policy = SecurityPolicy {
            min_security_level_for_roots: Some(SecurityLevel::SL2),
            min_security_level_for_subordinates: Some(SecurityLevel::SL1),
            subordinates_at_least_parent_level: true,
        };
        let rule = |r: Result<(), DomainError>| match r {
            Err(DomainError::SecurityLevelTooLow { rule, .. }) => rule,
            other => panic!("{other:?}"),
        };
        assert_eq!(rule(policy.check_root(SecurityLevel::SL1)), "min_security_level_for_roots");
        assert!(policy.check_root(SecurityLevel::SL2).is_ok());
        let under = |level| policy.check_subordinate(level, Some(&root));
        assert_eq!(rule(under(SecurityLevel::SL0)), "min_security_level_for_subordinates");
        assert_eq!(rule(under(SecurityLevel::SL1)), "subordinates_at_least_parent_level");
        assert!(under(SecurityLevel::SL2).is_ok());
        assert!(policy.check_subordinate(SecurityLevel::SL1, None).is_ok(), "no parent here to match");
        root.security_level = None; // imported without a key: nothing to match
        assert!(policy.check_subordinate(SecurityLevel::SL1, Some(&root)).is_ok());
    }
}
