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

/// `SELECT doc FROM ca_view` with the query's filters, keyset and order, one row more than a
/// page so the caller knows whether a next page exists.
pub fn ca_list(dialect: Dialect, query: &ListQuery, now: time::OffsetDateTime) -> Sql {
    let mut sql = Sql::new(dialect, "SELECT doc FROM ca_view WHERE 1 = 1");
    let now_us = micros(now);
    for filter in &query.filters {
        let condition = if filter.field.name == "status" {
            status_condition(&mut sql, filter, now_us)
        } else {
            condition(&mut sql, ca_column(filter.field.name), filter)
        };
        sql.text.push_str(&format!(" AND ({condition})"));
    }
    let column = ca_column(query.sort_by);
    let (cmp, order) = if query.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(after) = &query.after {
        let value = match &after.value {
            SortValue::Number(n) => sql.bind(Bind::Int(*n)),
            SortValue::Text(t) => sql.bind(Bind::Text(t.clone())),
        };
        let id = sql.bind(Bind::Text(after.id.clone()));
        sql.text.push_str(&format!(" AND ({column}, id) {cmp} ({value}, {id})"));
    }
    let limit = sql.bind(Bind::Int(query.page_size as i64 + 1));
    sql.text.push_str(&format!(" ORDER BY {column} {order}, id {order} LIMIT {limit}"));
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

pub fn upsert_ca_sql(dialect: Dialect) -> String {
    let placeholders: Vec<String> = (1..=17)
        .map(|i| match dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${i}"),
        })
        .collect();
    UPSERT_CA.replace("{p}", &placeholders.join(", "))
}

pub fn parse_ca(doc: &str) -> Result<shedu_domain::ca::Ca, shedu_commands::event_store::StoreError> {
    serde_json::from_str(doc).map_err(|e| shedu_commands::event_store::StoreError::Corrupt(format!("CA view row: {e}")))
}
