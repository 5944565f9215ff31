//! List queries: `filter=<field>[<op>]<value>` (ANDed), `sort_by`, `sort_mode`, `page_size` and a
//! keyset `bookmark`, parsed once into data that storage adapters translate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use shedu_domain::DomainError;
use shedu_domain::invalid::shown;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    /// One of a closed set of values, listed.
    Enum(&'static [&'static str]),
    Date,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
}

/// A `sort_by` value and whether its keyset value is a number (else text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortField {
    pub name: &'static str,
    pub numeric: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Contains,
    In,
    NotIn,
    Before,
    After,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
    Date(OffsetDateTime),
    Number(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: Field,
    pub op: Op,
    /// `_ic` operators: compare strings case-insensitively.
    pub ignore_case: bool,
    pub value: Value,
}

/// A sort value of the last row of a page, to continue after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bookmark {
    #[serde(rename = "s")]
    pub sort_by: String,
    #[serde(rename = "d")]
    pub descending: bool,
    #[serde(rename = "v")]
    pub value: SortValue,
    #[serde(rename = "k")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub sort_by: &'static str,
    pub descending: bool,
    pub page_size: usize,
    pub after: Option<Bookmark>,
}

/// A page of results and the bookmark of the next one, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 1000;

/// The raw query string parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct RawListQuery {
    pub filters: Vec<String>,
    pub sort_by: Option<String>,
    pub sort_mode: Option<String>,
    pub page_size: Option<String>,
    pub bookmark: Option<String>,
}

impl ListQuery {
    /// `fields` are the filterable fields, `sortable` the fields `sort_by` accepts (the first is
    /// the default).
    pub fn parse(raw: &RawListQuery, fields: &[Field], sortable: &[SortField]) -> Result<Self, DomainError> {
        let filters = raw.filters.iter().map(|f| parse_filter(f, fields)).collect::<Result<Vec<_>, _>>()?;
        let sort = match raw.sort_by.as_deref() {
            None => sortable[0],
            Some(name) => sortable.iter().copied().find(|s| s.name == name).ok_or_else(|| {
                let names: Vec<_> = sortable.iter().map(|s| s.name).collect();
                DomainError::invalid("sort_by", format!("cannot sort by {}; use one of {names:?}", shown(name)))
            })?,
        };
        let sort_by = sort.name;
        let descending = match raw.sort_mode.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(DomainError::invalid("sort_mode", format!("{} is not asc or desc", shown(other))));
            }
        };
        let page_size = match raw.page_size.as_deref() {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    return Err(DomainError::invalid("page_size", format!("must be 1 to {MAX_PAGE_SIZE}")));
                }
            },
        };
        let after = raw.bookmark.as_deref().filter(|b| !b.is_empty()).map(decode_bookmark).transpose()?;
        if let Some(b) = &after {
            if b.sort_by != sort_by || b.descending != descending {
                return Err(DomainError::invalid("bookmark", "was made for another sort order"));
            }
            // A forged value of the wrong type would otherwise reach SQL as a type error.
            if matches!(b.value, SortValue::Number(_)) != sort.numeric {
                return Err(DomainError::invalid("bookmark", "is not a bookmark this server issued"));
            }
        }
        Ok(ListQuery { filters, sort_by, descending, page_size, after })
    }

    pub fn bookmark_after(&self, value: SortValue, id: String) -> String {
        let bookmark = Bookmark { sort_by: self.sort_by.to_owned(), descending: self.descending, value, id };
        // A plain struct of strings and numbers always serialises.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&bookmark).unwrap_or_default())
    }
}

fn decode_bookmark(raw: &str) -> Result<Bookmark, DomainError> {
    let bad = || DomainError::invalid("bookmark", "is not a bookmark this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

fn parse_filter(raw: &str, fields: &[Field]) -> Result<Filter, DomainError> {
    let syntax = || DomainError::invalid("filter", format!("{} is not <field>[<op>]<value>", shown(raw)));
    let open = raw.find('[').ok_or_else(syntax)?;
    let close = raw[open..].find(']').map(|i| open + i).ok_or_else(syntax)?;
    let (name, op_name, value) = (&raw[..open], &raw[open + 1..close], &raw[close + 1..]);
    let field = *fields.iter().find(|f| f.name == name).ok_or_else(|| {
        let names: Vec<_> = fields.iter().map(|f| f.name).collect();
        DomainError::invalid("filter", format!("unknown field {}; filterable fields are {names:?}", shown(name)))
    })?;
    let (op_base, ignore_case) = match op_name.strip_suffix("_ic") {
        Some(base) => (base, true),
        None => (op_name, false),
    };
    let op = match (field.kind, op_base) {
        (FieldKind::String | FieldKind::Enum(_), "eq") => Op::Eq,
        (FieldKind::String | FieldKind::Enum(_), "ne") => Op::Ne,
        (FieldKind::String | FieldKind::Enum(_), "in") => Op::In,
        (FieldKind::String, "ct") => Op::Contains,
        (FieldKind::String, "nin") => Op::NotIn,
        (FieldKind::Date, "bf") => Op::Before,
        (FieldKind::Date, "af") => Op::After,
        (FieldKind::Date | FieldKind::Number, "eq") => Op::Eq,
        (FieldKind::Number, "ne") => Op::Ne,
        (FieldKind::Number, "lt") => Op::Lt,
        (FieldKind::Number, "le") => Op::Le,
        (FieldKind::Number, "gt") => Op::Gt,
        (FieldKind::Number, "ge") => Op::Ge,
        _ => {
            return Err(DomainError::invalid(
                "filter",
                format!("operator {} does not apply to '{name}'", shown(op_name)),
            ));
        }
    };
    if ignore_case && field.kind != FieldKind::String {
        return Err(DomainError::invalid("filter", format!("operator {} does not apply to '{name}'", shown(op_name))));
    }
    let value = match field.kind {
        FieldKind::String if matches!(op, Op::In | Op::NotIn) => {
            Value::List(value.split(',').map(str::to_owned).collect())
        }
        FieldKind::String => Value::Text(value.to_owned()),
        FieldKind::Enum(_) if op != Op::In && value.contains(',') => {
            return Err(DomainError::invalid(
                "filter",
                format!("'{name}[{op_name}]' takes one value; use [in] for several"),
            ));
        }
        FieldKind::Enum(allowed) => {
            let items: Vec<String> = value.split(',').map(str::to_owned).collect();
            if let Some(bad) = items.iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(DomainError::invalid(
                    "filter",
                    format!("{} is not one of {allowed:?} for '{name}'", shown(bad)),
                ));
            }
            if op == Op::In { Value::List(items) } else { Value::Text(value.to_owned()) }
        }
        FieldKind::Date => Value::Date(
            OffsetDateTime::parse(value, &Rfc3339)
                .map_err(|_| DomainError::invalid("filter", format!("{} is not an RFC 3339 time", shown(value))))?,
        ),
        FieldKind::Number => Value::Number(
            value
                .parse()
                .map_err(|_| DomainError::invalid("filter", format!("{} is not a whole number", shown(value))))?,
        ),
    };
    Ok(Filter { field, op, ignore_case, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        Field { name: "id", kind: FieldKind::String },
        Field { name: "status", kind: FieldKind::Enum(&["ACTIVE", "REVOKED"]) },
        Field { name: "level", kind: FieldKind::Number },
        Field { name: "valid_to", kind: FieldKind::Date },
    ];

    fn parse(filters: &[&str]) -> Result<ListQuery, DomainError> {
        let raw = RawListQuery { filters: filters.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        ListQuery::parse(&raw, FIELDS, SORTS)
    }

    const SORTS: &[SortField] = &[SortField { name: "id", numeric: false }, SortField { name: "level", numeric: true }];

    #[test]
    fn filters_parse_by_field_kind() {
        let q = parse(&["id[ct_ic]Root", "status[in]ACTIVE,REVOKED", "level[ge]1", "valid_to[bf]2030-01-01T00:00:00Z"])
            .unwrap();
        assert_eq!(q.filters.len(), 4);
        assert!(q.filters[0].ignore_case);
        assert_eq!(q.filters[1].value, Value::List(vec!["ACTIVE".into(), "REVOKED".into()]));
        assert_eq!(q.filters[2].value, Value::Number(1));
    }

    #[test]
    fn unknown_fields_operators_and_values_are_named() {
        let msg = |f: &str| parse(&[f]).unwrap_err().to_string();
        assert!(msg("nope[eq]x").contains("unknown field 'nope'"));
        assert!(msg("level[ct]1").contains("operator 'ct'"));
        assert!(msg("status[eq]GONE").contains("'GONE'"));
        assert!(msg("level[gt]one").contains("whole number"));
        assert!(msg("id=x").contains("<field>[<op>]<value>"));
        assert!(msg("status[eq]ACTIVE,REVOKED").contains("use [in]"));
    }

    #[test]
    fn a_bookmark_only_continues_its_own_sort_order() {
        let q = parse(&[]).unwrap();
        let bookmark = q.bookmark_after(SortValue::Text("a".into()), "a".into());
        let raw = RawListQuery { bookmark: Some(bookmark.clone()), ..Default::default() };
        assert!(ListQuery::parse(&raw, FIELDS, SORTS).unwrap().after.is_some());
        let raw = RawListQuery { bookmark: Some(bookmark), sort_mode: Some("desc".into()), ..Default::default() };
        assert!(ListQuery::parse(&raw, FIELDS, SORTS).is_err());
        let forged = q.bookmark_after(SortValue::Number(3), "a".into());
        let raw = RawListQuery { bookmark: Some(forged), ..Default::default() };
        assert!(ListQuery::parse(&raw, FIELDS, SORTS).is_err(), "a number where the sort is text");
        let raw = RawListQuery { bookmark: Some("garbage!".into()), ..Default::default() };
        assert!(ListQuery::parse(&raw, FIELDS, SORTS).is_err());
    }
}
