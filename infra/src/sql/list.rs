//! List queries over the views, translated from [`ListQuery`]: filters, status as read at `now`,
//! keyset pagination and order.

use shedu_projections::query::{Filter, ListQuery, Op, SortValue, Value};

use super::{Bind, Dialect, Sql};
use crate::timestamps::micros;

/// A view that list queries run against.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    /// The unique key, last in every sort order (keyset tie-breaker).
    pub(crate) key: &'static str,
    pub(crate) column: fn(&str) -> &'static str,
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

pub(crate) const CA_VIEW: Table = Table { name: "ca_view", key: "id", column: ca_column };
pub(crate) const CERTIFICATE_VIEW: Table =
    Table { name: "certificate_view", key: "serial_number", column: certificate_column };
pub(crate) const PROFILE_VIEW: Table = Table { name: "profile_view", key: "id", column: profile_column };

/// `SELECT doc FROM <view>` with the query's filters, keyset and order, one row more than a
/// page so the caller knows whether a next page exists. `scope` adds `column = value`.
pub(crate) fn list(
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
        sql.push(&format!(" AND {column} = {p}"));
    }
    for filter in &query.filters {
        let condition = match filter.field.name {
            "status" => status_condition(&mut sql, filter, now_us),
            // An orphan's recorded level is a placeholder: it has none until its parent arrives.
            "level" if table.name == CA_VIEW.name => {
                format!("{} AND issuer_id IS NOT NULL", condition(&mut sql, "level", filter))
            }
            name => condition(&mut sql, (table.column)(name), filter),
        };
        sql.push(&format!(" AND ({condition})"));
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
            sql.push(&format!(" AND {key} {cmp} {id}"));
        } else {
            sql.push(&format!(" AND ({column}, {key}) {cmp} ({value}, {id})"));
        }
    }
    let limit = sql.bind(Bind::Int(query.page_size as i64 + 1));
    if column == key {
        sql.push(&format!(" ORDER BY {key} {order} LIMIT {limit}"));
    } else {
        sql.push(&format!(" ORDER BY {column} {order}, {key} {order} LIMIT {limit}"));
    }
    sql
}

/// Status as read at `now`: a CA past notAfter is EXPIRED whatever the scheduler has recorded.
fn status_condition(sql: &mut Sql, filter: &Filter, now_us: i64) -> String {
    let mut one = |status: &str| -> String {
        match status {
            // A certificate is INACTIVE before its notBefore, whatever was recorded.
            "ACTIVE" => {
                let (now, again) = (sql.bind(Bind::Int(now_us)), sql.bind(Bind::Int(now_us)));
                format!("(status = 'ACTIVE' AND valid_to_us >= {now} AND valid_from_us <= {again})")
            }
            "INACTIVE" => {
                let (now, again) = (sql.bind(Bind::Int(now_us)), sql.bind(Bind::Int(now_us)));
                format!(
                    "((status = 'INACTIVE' OR (status = 'ACTIVE' AND valid_from_us > {now})) AND valid_to_us >= {again})"
                )
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
            sql.dialect.contains(&col, &p)
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
