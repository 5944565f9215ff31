//! Statistics as counters the projector keeps: O(1) to read however many CAs and certificates
//! exist. Counters follow recorded statuses; expiry not yet recorded is corrected at read time.

use std::collections::BTreeMap;

use shedu_domain::ca::Ca;
use shedu_domain::issued::IssuedCertificate;

pub type Counters = BTreeMap<String, i64>;

pub fn ca_keys(ca: &Ca) -> Vec<String> {
    let engine = ca.key.as_ref().map_or("none".to_owned(), |k| k.engine_id.to_string());
    let mut keys = vec![
        "ca.total".into(),
        format!("ca.status.{}", ca.recorded_status.as_str()),
        format!("ca.type.{}", ca.ca_type.as_str()),
        format!("ca.engine.{engine}"),
    ];
    // An orphan has no level until its parent arrives.
    if !ca.is_orphan() {
        keys.push(format!("ca.level.{}", ca.level));
    }
    keys
}

pub fn certificate_keys(certificate: &IssuedCertificate) -> Vec<String> {
    vec!["certificate.total".into(), format!("certificate.status.{}", certificate.recorded_status.as_str())]
}

/// Adds the change from `old` to `new` (either may be absent) to `counters`.
pub fn apply(counters: &mut Counters, old: Option<Vec<String>>, new: Option<Vec<String>>) {
    for key in old.into_iter().flatten() {
        *counters.entry(key).or_default() -= 1;
    }
    for key in new.into_iter().flatten() {
        *counters.entry(key).or_default() += 1;
    }
    counters.retain(|_, delta| *delta != 0);
}
