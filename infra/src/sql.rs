//! SQL statements written once for both databases: text with its bound values, where the dialect
//! decides the placeholder syntax (`?` or `$n`) and the few functions the two spell differently.
//! Every value enters a statement through [`Sql::bind`], so placeholders are numbered in one place.

pub(crate) mod list;
pub(crate) mod rows;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a SELECT whose rows must stay locked until the transaction ends. SQLite has no
    /// row locks and needs none: `BEGIN IMMEDIATE` on its single writer already serialises writers.
    pub(crate) fn row_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Whether `needle` occurs in `haystack`.
    pub(crate) fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    MaybeText(Option<String>),
    MaybeInt(Option<i64>),
    Bytes(Vec<u8>),
}

impl From<&str> for Bind {
    fn from(text: &str) -> Self {
        Bind::Text(text.to_owned())
    }
}

impl From<String> for Bind {
    fn from(text: String) -> Self {
        Bind::Text(text)
    }
}

impl From<i64> for Bind {
    fn from(n: i64) -> Self {
        Bind::Int(n)
    }
}

impl From<Option<String>> for Bind {
    fn from(text: Option<String>) -> Self {
        Bind::MaybeText(text)
    }
}

impl From<Option<i64>> for Bind {
    fn from(n: Option<i64>) -> Self {
        Bind::MaybeInt(n)
    }
}

impl From<Vec<u8>> for Bind {
    fn from(bytes: Vec<u8>) -> Self {
        Bind::Bytes(bytes)
    }
}

/// A statement with its bound values.
#[derive(Debug)]
pub(crate) struct Sql {
    dialect: Dialect,
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect, start: &str) -> Self {
        Sql { dialect, text: start.to_owned(), binds: Vec::new() }
    }

    /// `template` with each `{}` standing for the next of `binds`. A count that does not match
    /// leaves a `{}` or an extra value behind, which the database refuses as the bug it is.
    pub(crate) fn with(dialect: Dialect, template: &str, binds: Vec<Bind>) -> Self {
        let mut binds = binds.into_iter();
        let mut parts = template.split("{}");
        let mut sql = Sql::new(dialect, parts.next().unwrap_or_default());
        for part in parts {
            let placeholder = binds.next().map_or_else(|| "{}".to_owned(), |value| sql.bind(value));
            sql.push(&placeholder);
            sql.push(part);
        }
        sql.binds.extend(binds);
        sql
    }

    /// Adds a bound value and returns its placeholder.
    pub(crate) fn bind(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        match self.dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${}", self.binds.len()),
        }
    }

    pub(crate) fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Appends `(v, v, …)`, a placeholder per value.
    pub(crate) fn push_list(&mut self, values: impl IntoIterator<Item = Bind>) {
        let placeholders: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        self.text.push('(');
        self.text.push_str(&placeholders.join(", "));
        self.text.push(')');
    }

    /// Appends `(…), (…)`: the rows of a multi-row `VALUES` list.
    pub(crate) fn push_rows(&mut self, rows: impl IntoIterator<Item = Vec<Bind>>) {
        for (i, row) in rows.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.push_list(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered_across_a_statement() {
        let mut sql = Sql::with(Dialect::Postgres, "INSERT INTO t (a, b) VALUES ", vec![]);
        sql.push_rows([vec![Bind::Int(1), Bind::Int(2)], vec![Bind::Int(3), Bind::Int(4)]]);
        sql.push(" ON CONFLICT (a) DO NOTHING");
        assert_eq!(sql.text, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT (a) DO NOTHING");
        assert_eq!(sql.binds.len(), 4);
        let tail = sql.bind(5);
        assert_eq!(tail, "$5");
    }

    #[test]
    fn a_template_takes_its_values_in_order() {
        let sql = Sql::with(Dialect::Postgres, "UPDATE t SET a = {} WHERE b = {}", vec!["x".into(), 2.into()]);
        assert_eq!(sql.text, "UPDATE t SET a = $1 WHERE b = $2");
        assert_eq!(sql.binds, vec![Bind::Text("x".into()), Bind::Int(2)]);
        let sql = Sql::with(Dialect::Sqlite, "UPDATE t SET a = {} WHERE b = {}", vec!["x".into(), 2.into()]);
        assert_eq!(sql.text, "UPDATE t SET a = ? WHERE b = ?");
    }
}
