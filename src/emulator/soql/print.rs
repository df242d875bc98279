//! Canonical SOQL text for the syntax tree (`Display` impls).
//!
//! Owns the one way a tree is written back: upper-case keywords, identifiers as written,
//! `ASC` left out (it is the default), strings single-quoted with backslash escapes, datetimes
//! in UTC (`2024-01-31T10:00:00Z`, with `.SSS` only when the milliseconds are not zero), and
//! just the parentheses that make re-parsing give the same tree. For any tree the parser can
//! produce, `parse(&query.to_string())` gives that tree back (positions aside).
//! It must not validate: a tree the parser cannot produce (an empty `IN` list, say) prints as
//! whatever text it spells.

use std::fmt::{self, Display, Formatter, Write};

use chrono::{Datelike, NaiveDate, Timelike};

use super::ast::{
    AggregateFunc, CompareOp, Condition, FieldPath, Ident, Literal, OrderItem, Query, SelectItem,
};

/// Writes `items` separated by `", "`.
fn comma_separated<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        comma_separated(f, &self.select)?;
        write!(f, " FROM {}", self.from)?;
        if let Some(condition) = &self.where_clause {
            write!(f, " WHERE {condition}")?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            comma_separated(f, &self.order_by)?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        Ok(())
    }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Display for FieldPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                f.write_char('.')?;
            }
            segment.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Field(path) => path.fmt(f),
            SelectItem::CountAll { .. } => f.write_str("COUNT()"),
            SelectItem::Aggregate {
                func, field, alias, ..
            } => {
                write!(f, "{func}({field})")?;
                match alias {
                    Some(alias) => write!(f, " {alias}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Display for AggregateFunc {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateFunc::Count => "COUNT",
            AggregateFunc::Max => "MAX",
            AggregateFunc::Min => "MIN",
        })
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        })
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Condition::And(operands) => join_operands(f, operands, " AND "),
            Condition::Or(operands) => join_operands(f, operands, " OR "),
            // NOT binds to one term: parenthesized, its operand is always one.
            Condition::Not(operand) => write!(f, "NOT ({operand})"),
            Condition::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
            Condition::Like { field, pattern } => {
                write!(f, "{field} LIKE ")?;
                write_string(f, pattern)
            }
            Condition::In {
                field,
                negated,
                values,
            } => {
                write!(f, "{field} {}IN (", if *negated { "NOT " } else { "" })?;
                comma_separated(f, values)?;
                f.write_char(')')
            }
            Condition::SemiJoin {
                field,
                negated,
                query,
            } => write!(
                f,
                "{field} {}IN ({query})",
                if *negated { "NOT " } else { "" }
            ),
        }
    }
}

/// Operands of AND / OR. A nested AND or OR is parenthesized: SOQL has no precedence between
/// them, and an unparenthesized nested AND inside an AND would re-parse flattened.
fn join_operands(f: &mut Formatter<'_>, operands: &[Condition], joiner: &str) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            f.write_str(joiner)?;
        }
        match operand {
            Condition::And(_) | Condition::Or(_) => write!(f, "({operand})")?,
            _ => operand.fmt(f)?,
        }
    }
    Ok(())
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(value) => write!(f, "{value}"),
            Literal::String(value) => write_string(f, value),
            Literal::Number(text) => f.write_str(text),
            Literal::Date(date) => write_date(f, date),
            Literal::DateTime(datetime) => {
                write_date(f, &datetime.date_naive())?;
                write!(
                    f,
                    "T{:02}:{:02}:{:02}",
                    datetime.hour(),
                    datetime.minute(),
                    datetime.second()
                )?;
                let millis = datetime.timestamp_subsec_millis();
                if millis != 0 {
                    write!(f, ".{millis:03}")?;
                }
                f.write_char('Z')
            }
        }
    }
}

fn write_date(f: &mut Formatter<'_>, date: &NaiveDate) -> fmt::Result {
    write!(
        f,
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    )
}

/// A single-quoted string literal. A backslash followed by `_` or `%` is written as is: the
/// parser keeps `\_` and `\%` as those two characters, so they read back the same (see
/// the `parse` module).
fn write_string(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    f.write_char('\'')?;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('_' | '%')) => f.write_char('\\')?,
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            _ => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.field.fmt(f)?;
        if self.descending {
            f.write_str(" DESC")?;
        }
        match self.nulls_first {
            Some(true) => f.write_str(" NULLS FIRST"),
            Some(false) => f.write_str(" NULLS LAST"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::emulator::soql::parse::parse;

    /// Parses and prints `text`.
    fn canonical(text: &str) -> String {
        match parse(text) {
            Ok(query) => query.to_string(),
            Err(error) => panic!("{text:?} should parse, got {error}"),
        }
    }

    #[test]
    fn connector_query_prints_canonically() {
        assert_eq!(
            canonical(
                "select Id, Username, Profile.UserLicense.LicenseDefinitionKey, UserRole.Name \
                 from User where IsActive = TRUE and UserType in ('Standard','PowerPartner') \
                 order by Id asc nulls last limit 2000"
            ),
            "SELECT Id, Username, Profile.UserLicense.LicenseDefinitionKey, UserRole.Name \
             FROM User WHERE IsActive = true AND UserType IN ('Standard', 'PowerPartner') \
             ORDER BY Id NULLS LAST LIMIT 2000"
        );
    }

    #[test]
    fn aggregates_print_with_their_aliases() {
        assert_eq!(
            canonical("select count() from PermissionSetAssignment"),
            "SELECT COUNT() FROM PermissionSetAssignment"
        );
        assert_eq!(
            canonical("select count(Id) c, max(SystemModstamp) m, Min(X) from User"),
            "SELECT COUNT(Id) c, MAX(SystemModstamp) m, MIN(X) FROM User"
        );
    }

    #[test]
    fn semi_join_prints_its_subquery_in_place() {
        assert_eq!(
            canonical(
                "SELECT Id FROM User WHERE Id not in (select AssigneeId from \
                 PermissionSetAssignment where PermissionSet.IsOwnedByProfile = false limit 10)"
            ),
            "SELECT Id FROM User WHERE Id NOT IN (SELECT AssigneeId FROM PermissionSetAssignment \
             WHERE PermissionSet.IsOwnedByProfile = false LIMIT 10)"
        );
    }

    #[test]
    fn conditions_get_only_the_parentheses_they_need() {
        assert_eq!(
            canonical("SELECT Id FROM U WHERE ((A = 1 OR B <> 2)) AND (C = null)"),
            "SELECT Id FROM U WHERE (A = 1 OR B != 2) AND C = null"
        );
        assert_eq!(
            canonical("SELECT Id FROM U WHERE NOT IsActive = false OR (A < 1 AND (B >= 2))"),
            "SELECT Id FROM U WHERE NOT (IsActive = false) OR (A < 1 AND B >= 2)"
        );
        assert_eq!(
            canonical("SELECT Id FROM U WHERE (A = 1 AND B = 2) AND C = 3"),
            "SELECT Id FROM U WHERE (A = 1 AND B = 2) AND C = 3"
        );
        assert_eq!(
            canonical("SELECT Id FROM U WHERE NOT (A = 1 OR B = 2)"),
            "SELECT Id FROM U WHERE NOT (A = 1 OR B = 2)"
        );
    }

    #[test]
    fn strings_are_quoted_with_backslash_escapes() {
        assert_eq!(
            canonical(r#"SELECT Id FROM U WHERE N = 'it\'s a "b\\c"' OR N IN ('x	y', '\u00e9')"#),
            "SELECT Id FROM U WHERE N = 'it\\'s a \\\"b\\\\c\\\"' OR N IN ('x\\ty', 'é')"
        );
        assert_eq!(
            Literal::String("l1\nl2\r\u{8}\u{c}😀".to_string()).to_string(),
            r"'l1\nl2\r\b\f😀'"
        );
    }

    #[test]
    fn like_escapes_for_underscore_and_percent_print_as_written() {
        assert_eq!(
            canonical(r"SELECT Id FROM Account WHERE Name LIKE 'Acme\_%' AND Name LIKE '50\%'"),
            r"SELECT Id FROM Account WHERE Name LIKE 'Acme\_%' AND Name LIKE '50\%'"
        );
        // A literal backslash not before `_`/`%` is escaped.
        assert_eq!(Literal::String(r"a\b".to_string()).to_string(), r"'a\\b'");
    }

    #[test]
    fn dates_and_datetimes_print_in_utc_with_milliseconds_only_when_present() {
        assert_eq!(
            canonical("SELECT Id FROM U WHERE D > 2024-01-31T11:00:00+01:00 AND E = 2024-01-31"),
            "SELECT Id FROM U WHERE D > 2024-01-31T10:00:00Z AND E = 2024-01-31"
        );
        let with_millis: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 1, 31, 10, 0, 0).unwrap()
            + chrono::TimeDelta::milliseconds(7);
        assert_eq!(
            Literal::DateTime(with_millis).to_string(),
            "2024-01-31T10:00:00.007Z"
        );
        assert_eq!(
            Literal::Date(NaiveDate::from_ymd_opt(33, 2, 3).unwrap()).to_string(),
            "0033-02-03"
        );
    }

    #[test]
    fn order_by_prints_desc_and_nulls_but_not_the_default_asc() {
        assert_eq!(
            canonical(
                "SELECT Id FROM U ORDER BY A asc, B desc nulls first, C nulls last LIMIT 5 OFFSET 10"
            ),
            "SELECT Id FROM U ORDER BY A, B DESC NULLS FIRST, C NULLS LAST LIMIT 5 OFFSET 10"
        );
    }

    #[test]
    fn numbers_and_keyword_literals_print_as_soql() {
        assert_eq!(
            canonical("SELECT Id FROM U WHERE A = -0.50 AND B = NULL AND C = False AND D = 007"),
            "SELECT Id FROM U WHERE A = -0.50 AND B = null AND C = false AND D = 007"
        );
    }
}
