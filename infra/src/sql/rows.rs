//! View rows as they are stored: a CA's, certificate's or profile's JSON document beside the
//! columns that list queries filter and sort on, the upserts that write them, and reading the
//! documents back.

use serde::de::DeserializeOwned;
use shedu_commands::event_store::StoreError;
use shedu_domain::ca::Ca;
use shedu_domain::crl::RevocationRecord;
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::profile::ProfileState;

use super::{Bind, Dialect, Sql};
use crate::timestamps::micros;

/// An `INSERT … VALUES … ON CONFLICT …` for any number of rows.
pub(crate) struct Upsert {
    /// Up to `VALUES`: the columns, in the order of a row's values.
    into: &'static str,
    on_conflict: &'static str,
}

impl Upsert {
    pub(crate) fn statement(&self, dialect: Dialect, rows: impl IntoIterator<Item = Vec<Bind>>) -> Sql {
        let mut sql = Sql::new(dialect, self.into);
        sql.push(" VALUES ");
        sql.push_rows(rows);
        sql.push(" ");
        sql.push(self.on_conflict);
        sql
    }
}

pub(crate) const UPSERT_CA: Upsert = Upsert {
    into: "INSERT INTO ca_view (id, doc, ca_type, status, level, profile_id, engine_id, key_id, serial_number, \
           subject_cn, subject_key_id, issuer_id, key_type, valid_from_us, valid_to_us, created_at_us, position)",
    on_conflict: "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, ca_type = excluded.ca_type, \
                  status = excluded.status, level = excluded.level, profile_id = excluded.profile_id, \
                  engine_id = excluded.engine_id, key_id = excluded.key_id, serial_number = excluded.serial_number, \
                  subject_cn = excluded.subject_cn, subject_key_id = excluded.subject_key_id, \
                  issuer_id = excluded.issuer_id, key_type = excluded.key_type, \
                  valid_from_us = excluded.valid_from_us, valid_to_us = excluded.valid_to_us, \
                  created_at_us = excluded.created_at_us, position = excluded.position",
};

/// Only what a certificate's events can change: the rest is fixed at issuance.
pub(crate) const UPSERT_CERTIFICATE: Upsert = Upsert {
    into: "INSERT INTO certificate_view (serial_number, doc, issuer_id, status, hold, subject_cn, key_type, \
           profile_id, valid_from_us, valid_to_us, created_at_us, position)",
    on_conflict: "ON CONFLICT (serial_number) DO UPDATE SET doc = excluded.doc, status = excluded.status, \
                  hold = excluded.hold, position = excluded.position",
};

pub(crate) const UPSERT_PROFILE: Upsert = Upsert {
    into: "INSERT INTO profile_view (id, name, doc)",
    on_conflict: "ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
};

pub(crate) const UPSERT_SCHEDULED: Upsert = Upsert {
    into: "INSERT INTO expiry_schedule (stream_id, trigger, due_at_us)",
    on_conflict: "ON CONFLICT (stream_id, trigger) DO UPDATE SET due_at_us = excluded.due_at_us",
};

pub(crate) const UPSERT_REVOCATION: Upsert = Upsert {
    into: "INSERT INTO revocation_view (issuer_id, serial_number, revoked, reason, revoked_at_us, invalidity_at_us, \
           valid_to_us, changed_tx, changed_position)",
    on_conflict: "ON CONFLICT (issuer_id, serial_number) DO UPDATE SET revoked = excluded.revoked, \
                  reason = excluded.reason, revoked_at_us = excluded.revoked_at_us, \
                  invalidity_at_us = excluded.invalidity_at_us, valid_to_us = excluded.valid_to_us, \
                  changed_tx = excluded.changed_tx, changed_position = excluded.changed_position",
};

pub(crate) const UPSERT_CRL_DIRTY: Upsert = Upsert {
    into: "INSERT INTO crl_dirty (issuer_id, changed_tx, changed_position)",
    on_conflict: "ON CONFLICT (issuer_id) DO UPDATE SET changed_tx = excluded.changed_tx, \
                  changed_position = excluded.changed_position",
};

pub(crate) const ADD_COUNTER: Upsert = Upsert {
    into: "INSERT INTO stats (key, value)",
    on_conflict: "ON CONFLICT (key) DO UPDATE SET value = stats.value + excluded.value",
};

/// Rows per multi-row upsert: one statement instead of one per row is most of a rebuild's
/// speed, and 64 rows of 17 columns stay far below either database's parameter limit.
pub(crate) const ROWS_PER_UPSERT: usize = 64;

/// Full groups of [`ROWS_PER_UPSERT`] rows, then the rest one row at a time: two statement texts
/// per table rather than one per remainder size, so their prepared statements stay cached.
pub(crate) fn upsert_groups<T>(rows: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let full = rows.len() / ROWS_PER_UPSERT * ROWS_PER_UPSERT;
    let mut rows = rows.into_iter();
    let sizes =
        std::iter::repeat_n(ROWS_PER_UPSERT, full / ROWS_PER_UPSERT).chain(std::iter::repeat_n(1, rows.len() - full));
    sizes.map(move |size| rows.by_ref().take(size).collect())
}

/// The values of a CA's [`UPSERT_CA`] row.
pub(crate) fn ca_row(ca: &Ca, position: i64) -> Result<Vec<Bind>, StoreError> {
    Ok(vec![
        ca.id.to_string().into(),
        to_doc(ca)?.into(),
        ca.ca_type.as_str().into(),
        ca.recorded_status.as_str().into(),
        i64::from(ca.level).into(),
        ca.profile_id.as_ref().map(|p| p.to_string()).into(),
        ca.key.as_ref().map(|k| k.engine_id.to_string()).into(),
        ca.key.as_ref().map(|k| k.key_id.to_string()).into(),
        ca.certificate.serial_number.to_string().into(),
        ca.certificate.subject.common_name.as_str().into(),
        ca.certificate.subject_key_id.as_str().into(),
        ca.issuer_metadata.as_ref().map(|i| i.id.to_string()).into(),
        ca.certificate.key_metadata.key_type.as_str().into(),
        micros(ca.certificate.valid_from).into(),
        micros(ca.certificate.valid_to).into(),
        micros(ca.created_at).into(),
        position.into(),
    ])
}

/// The values of a certificate's [`UPSERT_CERTIFICATE`] row.
pub(crate) fn certificate_row(c: &IssuedCertificate, position: i64) -> Result<Vec<Bind>, StoreError> {
    Ok(vec![
        c.serial().to_string().into(),
        to_doc(c)?.into(),
        c.issuer_metadata.id.to_string().into(),
        c.recorded_status.as_str().into(),
        i64::from(c.is_on_hold()).into(),
        c.certificate.subject.common_name.as_str().into(),
        c.certificate.key_metadata.key_type.as_str().into(),
        c.profile_id.as_ref().map(|p| p.to_string()).into(),
        micros(c.certificate.valid_from).into(),
        micros(c.certificate.valid_to).into(),
        micros(c.created_at).into(),
        position.into(),
    ])
}

/// The values of a revocation's [`UPSERT_REVOCATION`] row.
pub(crate) fn revocation_row(r: &RevocationRecord) -> Vec<Bind> {
    vec![
        r.issuer.as_str().into(),
        r.serial.as_str().into(),
        i64::from(r.revoked).into(),
        i64::from(r.revocation.reason as u8).into(),
        micros(r.revocation.revoked_at).into(),
        r.revocation.invalidity_date.map(micros).into(),
        micros(r.valid_to).into(),
        (r.changed.tx as i64).into(),
        r.changed.position.into(),
    ]
}

/// The values of a profile's [`UPSERT_PROFILE`] row.
pub(crate) fn profile_row(state: &ProfileState) -> Result<Vec<Bind>, StoreError> {
    Ok(vec![state.profile.id.as_str().into(), state.profile.name.as_str().into(), to_doc(state)?.into()])
}

fn to_doc(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A view row's document; `view` names it in the error.
pub(crate) fn from_doc<T: DeserializeOwned>(view: &str, doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("{view} row: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_go_in_full_groups_then_one_row_at_a_time() {
        let rows: Vec<usize> = (0..ROWS_PER_UPSERT * 2 + 2).collect();
        let groups: Vec<Vec<usize>> = upsert_groups(rows.clone()).collect();
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![ROWS_PER_UPSERT, ROWS_PER_UPSERT, 1, 1]);
        assert_eq!(groups.concat(), rows);
        assert_eq!(upsert_groups(Vec::<usize>::new()).count(), 0);
    }

    #[test]
    fn a_multi_row_upsert_numbers_its_placeholders_across_rows() {
        let sql = UPSERT_PROFILE.statement(
            Dialect::Postgres,
            [vec!["p1".into(), "one".into(), "{}".into()], vec!["p2".into(), "two".into(), "{}".into()]],
        );
        assert_eq!(
            sql.text,
            "INSERT INTO profile_view (id, name, doc) VALUES ($1, $2, $3), ($4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc"
        );
        assert_eq!(sql.binds.len(), 6);
    }

    #[test]
    fn each_upsert_names_as_many_columns_as_its_rows_have_values() {
        let columns = |upsert: &Upsert| upsert.into.matches(',').count() + 1;
        assert_eq!(columns(&UPSERT_CA), 17);
        assert_eq!(columns(&UPSERT_CERTIFICATE), 12);
        assert_eq!(columns(&UPSERT_PROFILE), 3);
        assert_eq!(columns(&ADD_COUNTER), 2);
        assert_eq!(columns(&UPSERT_REVOCATION), 9);
        assert_eq!(columns(&UPSERT_CRL_DIRTY), 3);
    }
}
