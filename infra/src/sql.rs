//! SQL shared by the SQLite and PostgreSQL views: list queries translated from
//! [`shedu_projections::query::ListQuery`], differing only in placeholder syntax.

use shedu_projections::query::{Filter, ListQuery, Op, SortValue, Value};

use crate::timestamps::micros;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    MaybeText(Option<String>),
}

/// A statement under construction with its bound values.
pub struct Sql {
    dialect: Dialect,
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(dialect: Dialect, start: &str) -> Self {
        Sql { dialect, text: start.to_owned(), binds: Vec::new() }
    }

    /// Adds a bound value and returns its placeholder.
    pub fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        match self.dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${}", self.binds.len()),
        }
    }

    fn position(&self, haystack: &str, needle: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }
}

/// A view that list queries run against.
pub struct Table {
    pub name: &'static str,
    /// The unique key, last in every sort order (keyset tie-breaker).
    pub key: &'static str,
    pub column: fn(&str) -> &'static str,
}

/// The view column behind a CA list field or sort key.
fn ca_column(field: &str) -> &'static str {
    match field {
        "id" => "id",
        "type" => "ca_type",
        "level" => "level",
        "profile_id" => "profile_id",
        "engine_id" => "engine_id",
        "serial_number" => "serial_number",
        "subject.common_name" => "subject_cn",
        "issuer_metadata.id" => "issuer_id",
        "valid_to" => "valid_to_us",
        "valid_from" => "valid_from_us",
        "key_metadata.type" => "key_type",
        _ => "created_at_us",
    }
}

fn certificate_column(field: &str) -> &'static str {
    match field {
        "serial_number" => "serial_number",
        "issuer_metadata.id" => "issuer_id",
        "subject.common_name" => "subject_cn",
        "key_metadata.type" => "key_type",
        "profile_id" => "profile_id",
        "valid_to" => "valid_to_us",
        "valid_from" => "valid_from_us",
        _ => "created_at_us",
    }
}

fn profile_column(field: &str) -> &'static str {
    match field {
        "name" => "name",
        _ => "id",
    }
}

pub const CA_VIEW: Table = Table { name: "ca_view", key: "id", column: ca_column };
pub const CERTIFICATE_VIEW: Table =
    Table { name: "certificate_view", key: "serial_number", column: certificate_column };
pub const PROFILE_VIEW: Table = Table { name: "profile_view", key: "id", column: profile_column };

/// `SELECT doc FROM <view>` with the query's filters, keyset and order, one row more than a
/// page so the caller knows whether a next page exists. `scope` adds `column = value`.
pub fn list(
    dialect: Dialect,
    table: &Table,
    query: &ListQuery,
    scope: Option<(&str, &str)>,
    now: time::OffsetDateTime,
) -> Sql {
    let mut sql = Sql::new(dialect, &format!("SELECT doc FROM {} WHERE 1 = 1", table.name));
    let now_us = micros(now);
    if let Some((column, value)) = scope {
        let p = sql.bind(Bind::Text(value.to_owned()));
        sql.text.push_str(&format!(" AND {column} = {p}"));
    }
    for filter in &query.filters {
        let condition = if filter.field.name == "status" {
            status_condition(&mut sql, filter, now_us)
        } else {
            condition(&mut sql, (table.column)(filter.field.name), filter)
        };
        sql.text.push_str(&format!(" AND ({condition})"));
    }
    let column = (table.column)(query.sort_by);
    let key = table.key;
    let (cmp, order) = if query.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(after) = &query.after {
        let value = match &after.value {
            SortValue::Number(n) => sql.bind(Bind::Int(*n)),
            SortValue::Text(t) => sql.bind(Bind::Text(t.clone())),
        };
        let id = sql.bind(Bind::Text(after.id.clone()));
        if column == key {
            sql.text.push_str(&format!(" AND {key} {cmp} {id}"));
        } else {
            sql.text.push_str(&format!(" AND ({column}, {key}) {cmp} ({value}, {id})"));
        }
    }
    let limit = sql.bind(Bind::Int(query.page_size as i64 + 1));
    if column == key {
        sql.text.push_str(&format!(" ORDER BY {key} {order} LIMIT {limit}"));
    } else {
        sql.text.push_str(&format!(" ORDER BY {column} {order}, {key} {order} LIMIT {limit}"));
    }
    sql
}

/// Status as read at `now`: a CA past notAfter is EXPIRED whatever the scheduler has recorded.
fn status_condition(sql: &mut Sql, filter: &Filter, now_us: i64) -> String {
    let mut one = |status: &str| -> String {
        match status {
            "ACTIVE" | "INACTIVE" => {
                let now = sql.bind(Bind::Int(now_us));
                format!("(status = '{status}' AND valid_to_us >= {now})")
            }
            "EXPIRED" => {
                let now = sql.bind(Bind::Int(now_us));
                format!("(status = 'EXPIRED' OR (status IN ('ACTIVE', 'INACTIVE') AND valid_to_us < {now}))")
            }
            "REVOKED" => "(status = 'REVOKED')".to_owned(),
            // Enum values were checked against the field's list when the filter was parsed.
            _ => "1 = 0".to_owned(),
        }
    };

    match (&filter.op, &filter.value) {
        (Op::Eq, Value::Text(s)) => one(s),
        (Op::Ne, Value::Text(s)) => format!("NOT {}", one(s)),
        (Op::In, Value::List(items)) => items.iter().map(|s| one(s)).collect::<Vec<_>>().join(" OR "),
        _ => "1 = 0".to_owned(),
    }
}

fn condition(sql: &mut Sql, column: &str, filter: &Filter) -> String {
    let (col, wrap): (String, fn(String) -> String) = if filter.ignore_case {
        (format!("LOWER({column})"), |p| format!("LOWER({p})"))
    } else {
        (column.to_owned(), |p| p)
    };
    match (&filter.op, &filter.value) {
        (Op::Contains, Value::Text(s)) => {
            let p = wrap(sql.bind(Bind::Text(s.clone())));
            sql.position(&col, &p)
        }
        (Op::In | Op::NotIn, Value::List(items)) => {
            let list: Vec<String> = items.iter().map(|s| wrap(sql.bind(Bind::Text(s.clone())))).collect();
            let not = if filter.op == Op::NotIn { "NOT " } else { "" };
            format!("{col} {not}IN ({})", list.join(", "))
        }
        (op, value) => {
            let p = match value {
                Value::Text(s) => wrap(sql.bind(Bind::Text(s.clone()))),
                Value::Number(n) => sql.bind(Bind::Int(*n)),
                Value::Date(d) => sql.bind(Bind::Int(micros(*d))),
                Value::List(_) => return "1 = 0".to_owned(),
            };
            let cmp = match op {
                Op::Eq => "=",
                Op::Ne => "<>",
                Op::Lt | Op::Before => "<",
                Op::Le => "<=",
                Op::Gt | Op::After => ">",
                Op::Ge => ">=",
                Op::Contains | Op::In | Op::NotIn => return "1 = 0".to_owned(),
            };
            // NULL columns (a CA without a profile) never equal a value, but should differ from it.
            if *op == Op::Ne { format!("({col} {cmp} {p} OR {column} IS NULL)") } else { format!("{col} {cmp} {p}") }
        }
    }
}

/// The indexed columns of a CA view row.
pub struct CaRow {
    pub id: String,
    pub doc: String,
    pub ca_type: &'static str,
    pub status: &'static str,
    pub level: i64,
    pub profile_id: Option<String>,
    pub engine_id: Option<String>,
    pub key_id: Option<String>,
    pub serial_number: String,
    pub subject_cn: String,
    pub subject_key_id: String,
    pub issuer_id: Option<String>,
    pub key_type: &'static str,
    pub valid_from_us: i64,
    pub valid_to_us: i64,
    pub created_at_us: i64,
}

impl CaRow {
    pub fn new(ca: &shedu_domain::ca::Ca) -> Result<Self, shedu_commands::event_store::StoreError> {
        let doc =
            serde_json::to_string(ca).map_err(|e| shedu_commands::event_store::StoreError::Corrupt(e.to_string()))?;
        Ok(CaRow {
            id: ca.id.to_string(),
            doc,
            ca_type: ca.ca_type.as_str(),
            status: ca.recorded_status.as_str(),
            level: i64::from(ca.level),
            profile_id: ca.profile_id.as_ref().map(|p| p.to_string()),
            engine_id: ca.key.as_ref().map(|k| k.engine_id.to_string()),
            key_id: ca.key.as_ref().map(|k| k.key_id.to_string()),
            serial_number: ca.certificate.serial_number.to_string(),
            subject_cn: ca.certificate.subject.common_name.clone(),
            subject_key_id: ca.certificate.subject_key_id.clone(),
            issuer_id: ca.issuer_metadata.as_ref().map(|i| i.id.to_string()),
            key_type: ca.certificate.key_metadata.key_type.as_str(),
            valid_from_us: micros(ca.certificate.valid_from),
            valid_to_us: micros(ca.certificate.valid_to),
            created_at_us: micros(ca.created_at),
        })
    }
}

pub const UPSERT_CA: &str = "INSERT INTO ca_view (id, doc, ca_type, status, level, profile_id, engine_id, key_id, \
    serial_number, subject_cn, subject_key_id, issuer_id, key_type, valid_from_us, valid_to_us, created_at_us, \
    position) VALUES ({p}) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, ca_type = excluded.ca_type, \
    status = excluded.status, level = excluded.level, profile_id = excluded.profile_id, \
    engine_id = excluded.engine_id, key_id = excluded.key_id, serial_number = excluded.serial_number, subject_cn = excluded.subject_cn, \
    subject_key_id = excluded.subject_key_id, issuer_id = excluded.issuer_id, key_type = excluded.key_type, \
    valid_from_us = excluded.valid_from_us, valid_to_us = excluded.valid_to_us, \
    created_at_us = excluded.created_at_us, position = excluded.position";

impl CaRow {
    /// The values of [`UPSERT_CA`]'s columns, in order.
    pub fn binds(self, position: i64) -> Vec<Bind> {
        vec![
            Bind::Text(self.id),
            Bind::Text(self.doc),
            Bind::Text(self.ca_type.to_owned()),
            Bind::Text(self.status.to_owned()),
            Bind::Int(self.level),
            Bind::MaybeText(self.profile_id),
            Bind::MaybeText(self.engine_id),
            Bind::MaybeText(self.key_id),
            Bind::Text(self.serial_number),
            Bind::Text(self.subject_cn),
            Bind::Text(self.subject_key_id),
            Bind::MaybeText(self.issuer_id),
            Bind::Text(self.key_type.to_owned()),
            Bind::Int(self.valid_from_us),
            Bind::Int(self.valid_to_us),
            Bind::Int(self.created_at_us),
            Bind::Int(position),
        ]
    }
}

pub const CA_COLUMNS: usize = 17;

/// The indexed columns of a certificate view row.
pub struct CertificateRow {
    pub serial_number: String,
    pub doc: String,
    pub issuer_id: String,
    pub status: &'static str,
    pub hold: i64,
    pub subject_cn: String,
    pub key_type: &'static str,
    pub profile_id: Option<String>,
    pub valid_from_us: i64,
    pub valid_to_us: i64,
    pub created_at_us: i64,
}

impl CertificateRow {
    pub fn new(c: &shedu_domain::issued::IssuedCertificate) -> Result<Self, shedu_commands::event_store::StoreError> {
        let doc =
            serde_json::to_string(c).map_err(|e| shedu_commands::event_store::StoreError::Corrupt(e.to_string()))?;
        Ok(CertificateRow {
            serial_number: c.serial().to_string(),
            doc,
            issuer_id: c.issuer_metadata.id.to_string(),
            status: c.recorded_status.as_str(),
            hold: i64::from(c.is_on_hold()),
            subject_cn: c.certificate.subject.common_name.clone(),
            key_type: c.certificate.key_metadata.key_type.as_str(),
            profile_id: c.profile_id.as_ref().map(|p| p.to_string()),
            valid_from_us: micros(c.certificate.valid_from),
            valid_to_us: micros(c.certificate.valid_to),
            created_at_us: micros(c.created_at),
        })
    }
}

impl CertificateRow {
    /// The values of [`UPSERT_CERTIFICATE`]'s columns, in order.
    pub fn binds(self, position: i64) -> Vec<Bind> {
        vec![
            Bind::Text(self.serial_number),
            Bind::Text(self.doc),
            Bind::Text(self.issuer_id),
            Bind::Text(self.status.to_owned()),
            Bind::Int(self.hold),
            Bind::Text(self.subject_cn),
            Bind::Text(self.key_type.to_owned()),
            Bind::MaybeText(self.profile_id),
            Bind::Int(self.valid_from_us),
            Bind::Int(self.valid_to_us),
            Bind::Int(self.created_at_us),
            Bind::Int(position),
        ]
    }
}

pub const CERTIFICATE_COLUMNS: usize = 12;

pub const UPSERT_CERTIFICATE: &str = "INSERT INTO certificate_view (serial_number, doc, issuer_id, status, hold, \
    subject_cn, key_type, profile_id, valid_from_us, valid_to_us, created_at_us, position) VALUES ({p}) \
    ON CONFLICT (serial_number) DO UPDATE SET doc = excluded.doc, status = excluded.status, hold = excluded.hold, \
    position = excluded.position";

pub const UPSERT_PROFILE: &str = "INSERT INTO profile_view (id, name, doc) VALUES ({p}) \
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc";

pub const ADD_COUNTER: &str =
    "INSERT INTO stats (key, value) VALUES ({p}) ON CONFLICT (key) DO UPDATE SET value = stats.value + excluded.value";

/// Rows per multi-row upsert: one statement instead of one per row is most of a rebuild's
/// speed, and 64 rows of 17 columns stay far below either database's parameter limit.
pub const ROWS_PER_UPSERT: usize = 64;

/// Full groups of [`ROWS_PER_UPSERT`] rows, then the rest one row at a time: two statement texts
/// per table rather than one per remainder size, so their prepared statements stay cached.
pub fn upsert_groups<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let full = rows.len() / ROWS_PER_UPSERT * ROWS_PER_UPSERT;
    rows[..full].chunks(ROWS_PER_UPSERT).chain(rows[full..].chunks(1))
}

/// Fills `({p})` with `rows` groups of `columns` placeholders: a multi-row `VALUES` list.
pub fn with_rows(dialect: Dialect, template: &str, columns: usize, rows: usize) -> String {
    let mut n = 0;
    let groups: Vec<String> = (0..rows)
        .map(|_| {
            let one: Vec<String> = (0..columns)
                .map(|_| {
                    n += 1;
                    match dialect {
                        Dialect::Sqlite => "?".to_owned(),
                        Dialect::Postgres => format!("${n}"),
                    }
                })
                .collect();
            format!("({})", one.join(", "))
        })
        .collect();
    template.replace("({p})", &groups.join(", "))
}

/// Fills `{p}` with `n` placeholders of the dialect.
pub fn with_placeholders(dialect: Dialect, template: &str, n: usize) -> String {
    let placeholders: Vec<String> = (1..=n)
        .map(|i| match dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${i}"),
        })
        .collect();
    template.replace("{p}", &placeholders.join(", "))
}

/// Expired by time but not yet recorded so, per recorded status: the statistics' correction.
pub fn unrecorded_expiry(dialect: Dialect, table: &str) -> String {
    let p = if dialect == Dialect::Sqlite { "?" } else { "$1" };
    format!(
        "SELECT status, COUNT(*) FROM {table} WHERE status IN ('ACTIVE', 'INACTIVE') AND valid_to_us < {p} GROUP BY status"
    )
}

pub fn parse_certificate(
    doc: &str,
) -> Result<shedu_domain::issued::IssuedCertificate, shedu_commands::event_store::StoreError> {
    serde_json::from_str(doc)
        .map_err(|e| shedu_commands::event_store::StoreError::Corrupt(format!("certificate view row: {e}")))
}

pub fn parse_profile(
    doc: &str,
) -> Result<shedu_domain::profile::ProfileState, shedu_commands::event_store::StoreError> {
    serde_json::from_str(doc)
        .map_err(|e| shedu_commands::event_store::StoreError::Corrupt(format!("profile view row: {e}")))
}

pub fn parse_ca(doc: &str) -> Result<shedu_domain::ca::Ca, shedu_commands::event_store::StoreError> {
    serde_json::from_str(doc).map_err(|e| shedu_commands::event_store::StoreError::Corrupt(format!("CA view row: {e}")))
}

/// Replaces each `{}` in `template` with the dialect's next placeholder.
pub fn q(dialect: Dialect, template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut n = 0;
    let mut rest = template;
    while let Some(i) = rest.find("{}") {
        n += 1;
        out.push_str(&rest[..i]);
        match dialect {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => out.push_str(&format!("${n}")),
        }
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_values_number_postgres_placeholders_across_rows() {
        let template = "INSERT INTO t (a, b) VALUES ({p}) ON CONFLICT (a) DO NOTHING";
        assert_eq!(
            with_rows(Dialect::Postgres, template, 2, 3),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT (a) DO NOTHING"
        );
        assert_eq!(
            with_rows(Dialect::Sqlite, template, 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING"
        );
    }

    #[test]
    fn upserts_go_in_full_groups_then_one_row_at_a_time() {
        let rows: Vec<usize> = (0..ROWS_PER_UPSERT * 2 + 2).collect();
        let sizes: Vec<usize> = upsert_groups(&rows).map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![ROWS_PER_UPSERT, ROWS_PER_UPSERT, 1, 1]);
        assert_eq!(upsert_groups(&rows).flatten().count(), rows.len());
    }

    #[test]
    fn row_binds_match_the_upsert_column_counts() {
        assert_eq!(UPSERT_CA.split("VALUES").next().unwrap().matches(',').count() + 1, CA_COLUMNS);
        assert_eq!(UPSERT_CERTIFICATE.split("VALUES").next().unwrap().matches(',').count() + 1, CERTIFICATE_COLUMNS);
    }
}
