//! A small SOQL builder. The only place SOQL text is made.
//!
//! Object and field names are checked against the identifier grammar; values become SOQL
//! through exactly one quoting function (`quote`); IDs enter only as `SfId`, whose alphabet
//! cannot carry a quote. Nothing user-supplied is ever pasted into a query as text. This
//! module builds strings; it does not send them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use super::id::SfId;

/// A finished SOQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql {
    text: String,
    object: String,
}

impl Soql {
    /// Starts `SELECT fields FROM object`.
    pub fn select<I, S>(object: &str, fields: I) -> SoqlBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SoqlBuilder {
            object: object.to_string(),
            fields: fields.into_iter().map(Into::into).collect(),
            aggregates: Vec::new(),
            count: false,
            filters: Vec::new(),
            order_by: Vec::new(),
            limit: None,
        }
    }

    /// Starts `SELECT COUNT() FROM object` (the answer is `totalSize`, facts 3.3).
    pub fn count(object: &str) -> SoqlBuilder {
        SoqlBuilder {
            object: object.to_string(),
            fields: Vec::new(),
            aggregates: Vec::new(),
            count: true,
            filters: Vec::new(),
            order_by: Vec::new(),
            limit: None,
        }
    }

    /// Starts `SELECT AGG(field), ... FROM object`: one `AggregateResult` row whose columns
    /// are `expr0`, `expr1`, ... in the order given (facts 3.3).
    pub fn aggregate<'a>(
        object: &str,
        aggregates: impl IntoIterator<Item = (Aggregate, &'a str)>,
    ) -> SoqlBuilder {
        SoqlBuilder {
            object: object.to_string(),
            fields: Vec::new(),
            aggregates: aggregates
                .into_iter()
                .map(|(f, field)| (f, field.to_string()))
                .collect(),
            count: false,
            filters: Vec::new(),
            order_by: Vec::new(),
            limit: None,
        }
    }

    /// The statement text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The object after `FROM`.
    pub fn object(&self) -> &str {
        &self.object
    }
}

impl fmt::Display for Soql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A query being built.
#[derive(Debug, Clone, PartialEq)]
pub struct SoqlBuilder {
    object: String,
    fields: Vec<String>,
    aggregates: Vec<(Aggregate, String)>,
    count: bool,
    filters: Vec<Condition>,
    order_by: Vec<(String, Order)>,
    limit: Option<u32>,
}

/// An aggregate function of `Soql::aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `COUNT(field)`: rows where the field is not null.
    Count,
    /// `MAX(field)`.
    Max,
}

impl Aggregate {
    fn as_str(self) -> &'static str {
        match self {
            Aggregate::Count => "COUNT",
            Aggregate::Max => "MAX",
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `ASC`.
    Asc,
    /// `DESC`.
    Desc,
}

/// Why a query could not be built: a name that is not a SOQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {name:?} is not a SOQL identifier (letters, digits and underscores, dotted for relationships)"
)]
pub struct SoqlError {
    /// `object`, `field`.
    pub what: &'static str,
    /// The offending name.
    pub name: String,
}

impl SoqlBuilder {
    /// Adds a condition; conditions are joined with `AND`.
    pub fn filter(mut self, condition: Condition) -> SoqlBuilder {
        self.filters.push(condition);
        self
    }

    /// Adds an `ORDER BY` key.
    pub fn order_by(mut self, field: &str, order: Order) -> SoqlBuilder {
        self.order_by.push((field.to_string(), order));
        self
    }

    /// Sets `LIMIT`.
    pub fn limit(mut self, n: u32) -> SoqlBuilder {
        self.limit = Some(n);
        self
    }

    /// Validates every name and renders the statement.
    pub fn build(self) -> Result<Soql, SoqlError> {
        check_name("object", &self.object, false)?;
        let mut text = String::from("SELECT ");
        if self.count {
            text.push_str("COUNT()");
        } else if !self.aggregates.is_empty() {
            for (i, (function, field)) in self.aggregates.iter().enumerate() {
                check_name("field", field, true)?;
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(function.as_str());
                text.push('(');
                text.push_str(field);
                text.push(')');
            }
        } else {
            if self.fields.is_empty() {
                return Err(SoqlError {
                    what: "field list",
                    name: String::new(),
                });
            }
            for (i, field) in self.fields.iter().enumerate() {
                check_name("field", field, true)?;
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(field);
            }
        }
        text.push_str(" FROM ");
        text.push_str(&self.object);
        if !self.filters.is_empty() {
            text.push_str(" WHERE ");
            for (i, condition) in self.filters.iter().enumerate() {
                if i > 0 {
                    text.push_str(" AND ");
                }
                condition.render(&mut text, self.filters.len() > 1)?;
            }
        }
        if !self.order_by.is_empty() {
            text.push_str(" ORDER BY ");
            for (i, (field, order)) in self.order_by.iter().enumerate() {
                check_name("field", field, true)?;
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(field);
                text.push_str(match order {
                    Order::Asc => " ASC",
                    Order::Desc => " DESC",
                });
            }
        }
        if let Some(limit) = self.limit {
            text.push_str(&format!(" LIMIT {limit}"));
        }
        Ok(Soql {
            text,
            object: self.object,
        })
    }
}

/// A value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string, quoted by `quote`.
    Str(String),
    /// A record ID (18 characters, quoted).
    Id(SfId),
    /// `true` / `false`, unquoted.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// `null`.
    Null,
    /// A date-time, unquoted ISO-8601 UTC (facts 3.5).
    DateTime(DateTime<Utc>),
}

impl Literal {
    fn render(&self, out: &mut String) {
        match self {
            Literal::Str(s) => out.push_str(&quote(s)),
            Literal::Id(id) => out.push_str(&quote(id.as_str())),
            Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Literal::Int(n) => out.push_str(&n.to_string()),
            Literal::Null => out.push_str("null"),
            Literal::DateTime(t) => out.push_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

impl From<&str> for Literal {
    fn from(s: &str) -> Literal {
        Literal::Str(s.to_string())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Literal {
        Literal::Str(s)
    }
}

impl From<SfId> for Literal {
    fn from(id: SfId) -> Literal {
        Literal::Id(id)
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Literal {
        Literal::Bool(b)
    }
}

impl From<i64> for Literal {
    fn from(n: i64) -> Literal {
        Literal::Int(n)
    }
}

impl From<DateTime<Utc>> for Literal {
    fn from(t: DateTime<Utc>) -> Literal {
        Literal::DateTime(t)
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `field op value`.
    Compare(String, Op, Literal),
    /// `field IN (values)`.
    In(String, Vec<Literal>),
    /// `field NOT IN (values)`.
    NotIn(String, Vec<Literal>),
    /// `field IN (SELECT ...)` (a semi-join).
    InSelect(String, Box<SoqlBuilder>),
    /// All of them.
    And(Vec<Condition>),
    /// Any of them.
    Or(Vec<Condition>),
    /// The negation.
    Not(Box<Condition>),
}

impl Condition {
    /// `field = value`.
    pub fn eq(field: &str, value: impl Into<Literal>) -> Condition {
        Condition::Compare(field.to_string(), Op::Eq, value.into())
    }

    /// `field != value`.
    pub fn ne(field: &str, value: impl Into<Literal>) -> Condition {
        Condition::Compare(field.to_string(), Op::Ne, value.into())
    }

    /// `field op value`.
    pub fn compare(field: &str, op: Op, value: impl Into<Literal>) -> Condition {
        Condition::Compare(field.to_string(), op, value.into())
    }

    /// `field = null`.
    pub fn is_null(field: &str) -> Condition {
        Condition::Compare(field.to_string(), Op::Eq, Literal::Null)
    }

    /// `field != null`.
    pub fn is_not_null(field: &str) -> Condition {
        Condition::Compare(field.to_string(), Op::Ne, Literal::Null)
    }

    /// `field IN ('id1', 'id2', ...)`. Callers chunk long lists: a REST query URL is capped
    /// at 16,384 bytes (facts 3.5), about 700 IDs.
    pub fn in_ids<'a>(field: &str, ids: impl IntoIterator<Item = &'a SfId>) -> Condition {
        Condition::In(
            field.to_string(),
            ids.into_iter().map(|id| Literal::Id(*id)).collect(),
        )
    }

    fn render(&self, out: &mut String, nested: bool) -> Result<(), SoqlError> {
        match self {
            Condition::Compare(field, op, value) => {
                check_name("field", field, true)?;
                out.push_str(field);
                out.push(' ');
                out.push_str(op.as_str());
                out.push(' ');
                value.render(out);
            }
            Condition::In(field, values) | Condition::NotIn(field, values) => {
                check_name("field", field, true)?;
                out.push_str(field);
                out.push_str(if matches!(self, Condition::In(..)) {
                    " IN ("
                } else {
                    " NOT IN ("
                });
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    value.render(out);
                }
                out.push(')');
            }
            Condition::InSelect(field, select) => {
                check_name("field", field, true)?;
                let inner = select.as_ref().clone().build()?;
                out.push_str(field);
                out.push_str(" IN (");
                out.push_str(inner.as_str());
                out.push(')');
            }
            Condition::And(items) | Condition::Or(items) => {
                let joiner = if matches!(self, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                if nested {
                    out.push('(');
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(joiner);
                    }
                    item.render(out, items.len() > 1)?;
                }
                if nested {
                    out.push(')');
                }
            }
            Condition::Not(inner) => {
                out.push_str("NOT (");
                inner.render(out, false)?;
                out.push(')');
            }
        }
        Ok(())
    }
}

/// The one SOQL quoting function: a single-quoted string literal with the escapes SOQL
/// defines (`\'`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`; facts 3.5). Every string value
/// that reaches SOQL goes through here.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Object names are plain identifiers; field names may be dotted relationship paths
/// (`PermissionSet.Profile.Name`, at most 5 levels up, facts 3.5).
fn check_name(what: &'static str, name: &str, dotted: bool) -> Result<(), SoqlError> {
    let fail = || SoqlError {
        what,
        name: name.to_string(),
    };
    let parts: Vec<&str> = if dotted {
        name.split('.').collect()
    } else {
        vec![name]
    };
    if parts.len() > 6 {
        return Err(fail());
    }
    for part in parts {
        let mut chars = part.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fail());
        }
    }
    Ok(())
}

/// True when `name` is a valid sObject API name (used for URL paths too).
pub fn is_object_name(name: &str) -> bool {
    check_name("object", name, false).is_ok()
}

/// True when `name` is a valid field name or relationship path.
pub fn is_field_name(name: &str) -> bool {
    check_name("field", name, true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SfId {
        SfId::parse(s).unwrap()
    }

    #[test]
    fn quote_escapes_everything_soql_defines() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("x' OR Name != '"), r"'x\' OR Name != \''");
        assert_eq!(quote("line\nbreak\ttab\r"), r"'line\nbreak\ttab\r'");
        assert_eq!(quote("say \"hi\""), r#"'say \"hi\"'"#);
        assert_eq!(quote("\u{8}\u{c}"), r"'\b\f'");
        assert_eq!(quote("Zürich ✓"), "'Zürich ✓'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn quoted_values_never_end_the_literal_early() {
        // Whatever the input, the literal has exactly two unescaped quotes: its ends.
        for input in ["'", "\\'", "\\\\'", "a'b'c", "'; DELETE", "\\", "\\\\\\'"] {
            let quoted = quote(input);
            let mut unescaped = 0;
            let mut escaped = false;
            for c in quoted.chars() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    unescaped += 1;
                }
            }
            assert_eq!(unescaped, 2, "{input:?} -> {quoted}");
        }
    }

    #[test]
    fn select_with_filters_order_and_limit() {
        let soql = Soql::select(
            "PermissionSetAssignment",
            ["Id", "PermissionSet.Name", "AssigneeId"],
        )
        .filter(Condition::eq("AssigneeId", id("005xx000001Sv6eAAC")))
        .filter(Condition::eq("PermissionSet.IsOwnedByProfile", false))
        .order_by("Id", Order::Asc)
        .limit(10)
        .build()
        .unwrap();
        assert_eq!(
            soql.as_str(),
            "SELECT Id, PermissionSet.Name, AssigneeId FROM PermissionSetAssignment \
             WHERE AssigneeId = '005xx000001Sv6eAAC' AND PermissionSet.IsOwnedByProfile = false \
             ORDER BY Id ASC LIMIT 10"
        );
        assert_eq!(soql.object(), "PermissionSetAssignment");
    }

    #[test]
    fn conditions_nest_with_parentheses_and_semi_joins() {
        let soql = Soql::select("User", ["Id"])
            .filter(Condition::Or(vec![
                Condition::eq("Name", "O'Brien"),
                Condition::is_null("UserRoleId"),
            ]))
            .filter(Condition::InSelect(
                "Id".into(),
                Box::new(Soql::select("PermissionSetAssignment", ["AssigneeId"])),
            ))
            .filter(Condition::Not(Box::new(Condition::in_ids(
                "ProfileId",
                [id("00exx000000AbCdAAK")].iter(),
            ))))
            .build()
            .unwrap();
        assert_eq!(
            soql.as_str(),
            "SELECT Id FROM User WHERE (Name = 'O\\'Brien' OR UserRoleId = null) AND \
             Id IN (SELECT AssigneeId FROM PermissionSetAssignment) AND \
             NOT (ProfileId IN ('00exx000000AbCdAAK'))"
        );
    }

    #[test]
    fn aggregates_render_in_order_and_check_their_fields() {
        let soql = Soql::aggregate(
            "User",
            [
                (Aggregate::Count, "Id"),
                (Aggregate::Max, "SystemModstamp"),
                (Aggregate::Max, "LastLoginDate"),
            ],
        )
        .filter(Condition::eq("IsActive", true))
        .build()
        .unwrap();
        assert_eq!(
            soql.as_str(),
            "SELECT COUNT(Id), MAX(SystemModstamp), MAX(LastLoginDate) FROM User WHERE IsActive = true"
        );
        let bad = Soql::aggregate("User", [(Aggregate::Max, "Id) FROM Account --")]).build();
        assert_eq!(bad.unwrap_err().what, "field");
    }

    #[test]
    fn count_and_datetime_literals() {
        let t = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let soql = Soql::count("User")
            .filter(Condition::compare("SystemModstamp", Op::Gt, t))
            .filter(Condition::eq("IsActive", true))
            .build()
            .unwrap();
        assert_eq!(
            soql.as_str(),
            "SELECT COUNT() FROM User WHERE SystemModstamp > 2024-01-02T03:04:05Z AND IsActive = true"
        );
    }

    #[test]
    fn names_that_are_not_identifiers_are_refused() {
        assert!(Soql::select("User; DELETE", ["Id"]).build().is_err());
        assert!(Soql::select("User", ["Id, Password"]).build().is_err());
        assert!(
            Soql::select("User", ["Id"])
                .filter(Condition::eq("Name' OR '1", "x"))
                .build()
                .is_err()
        );
        assert!(Soql::select("User", Vec::<String>::new()).build().is_err());
        assert!(
            Soql::select("User", ["Profile.UserLicense.Name"])
                .build()
                .is_ok()
        );
        assert!(Soql::select("Custom__c", ["Field__c"]).build().is_ok());
        assert!(is_object_name("PermissionSet"));
        assert!(!is_object_name("PermissionSet/../x"));
        assert!(is_field_name("Profile.Name"));
        assert!(!is_field_name("Profile..Name"));
    }
}
