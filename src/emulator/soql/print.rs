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
    use proptest::prelude::*;

    use super::*;
    use crate::emulator::soql::parse::{is_reserved, parse};
    use crate::emulator::soql::test_support::without_positions;

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

    // --- round trip ----------------------------------------------------------------------

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9_]{0,6}".prop_filter("not a keyword", |name| !is_reserved(name))
    }

    fn ident() -> impl Strategy<Value = Ident> {
        name().prop_map(|name| Ident { name, pos: 0 })
    }

    fn path() -> impl Strategy<Value = FieldPath> {
        prop::collection::vec(ident(), 1..4).prop_map(|segments| FieldPath { segments })
    }

    fn datetime() -> impl Strategy<Value = DateTime<Utc>> {
        // 1900-01-01 to 2100-01-01, at whole seconds or with milliseconds.
        (
            -2_208_988_800i64..4_102_444_800,
            prop_oneof![Just(0u32), 0u32..1000],
        )
            .prop_map(|(seconds, millis)| {
                DateTime::from_timestamp(seconds, millis * 1_000_000)
                    .expect("the range is within chrono's")
            })
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            Just(Literal::Null),
            any::<bool>().prop_map(Literal::Bool),
            prop_oneof![".{0,8}", "[a\\\\'\"_%\n\r\t\u{8}\u{c}é😀 ]{0,8}",]
                .prop_map(Literal::String),
            "-?[0-9]{1,6}(\\.[0-9]{1,3})?".prop_map(Literal::Number),
            datetime().prop_map(|datetime| Literal::Date(datetime.date_naive())),
            datetime().prop_map(Literal::DateTime),
        ]
    }

    fn order_item() -> impl Strategy<Value = OrderItem> {
        (path(), any::<bool>(), prop::option::of(any::<bool>())).prop_map(
            |(field, descending, nulls_first)| OrderItem {
                field,
                descending,
                nulls_first,
            },
        )
    }

    /// The subquery of a semi-join: one field, no semi-join inside, no OFFSET.
    fn semi_join_query() -> impl Strategy<Value = Query> {
        (
            path(),
            ident(),
            prop::option::of(condition(false)),
            prop::collection::vec(order_item(), 0..2),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(field, from, where_clause, order_by, limit)| Query {
                select: vec![SelectItem::Field(field)],
                from,
                where_clause,
                order_by,
                limit,
                offset: None,
            })
    }

    fn leaf_condition(semi_joins: bool) -> BoxedStrategy<Condition> {
        let compare_op = prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ]);
        let simple = prop_oneof![
            (path(), compare_op, literal()).prop_map(|(field, op, value)| Condition::Compare {
                field,
                op,
                value
            }),
            (path(), ".{0,6}").prop_map(|(field, pattern)| Condition::Like { field, pattern }),
            (
                path(),
                any::<bool>(),
                prop::collection::vec(literal(), 1..4)
            )
                .prop_map(|(field, negated, values)| Condition::In {
                    field,
                    negated,
                    values
                }),
        ];
        if semi_joins {
            prop_oneof![
                4 => simple,
                1 => (path(), any::<bool>(), semi_join_query()).prop_map(
                    |(field, negated, query)| Condition::SemiJoin {
                        field,
                        negated,
                        query: Box::new(query)
                    }
                ),
            ]
            .boxed()
        } else {
            simple.boxed()
        }
    }

    fn condition(semi_joins: bool) -> BoxedStrategy<Condition> {
        leaf_condition(semi_joins)
            .prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
                    prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::Or),
                    inner.prop_map(|operand| Condition::Not(Box::new(operand))),
                ]
            })
            .boxed()
    }

    fn aggregate() -> impl Strategy<Value = SelectItem> {
        (
            prop::sample::select(vec![
                AggregateFunc::Count,
                AggregateFunc::Max,
                AggregateFunc::Min,
            ]),
            path(),
            prop::option::of(ident()),
        )
            .prop_map(|(func, field, alias)| SelectItem::Aggregate {
                func,
                field,
                alias,
                pos: 0,
            })
    }

    fn query() -> impl Strategy<Value = Query> {
        // Aggregates are never mixed with fields nor ordered (no GROUP BY in the subset).
        let select_and_order = prop_oneof![
            (
                prop::collection::vec(path().prop_map(SelectItem::Field), 1..4),
                prop::collection::vec(order_item(), 0..3)
            ),
            (prop::collection::vec(aggregate(), 1..3), Just(Vec::new())),
            (
                Just(vec![SelectItem::CountAll { pos: 0 }]),
                prop::collection::vec(order_item(), 0..2)
            ),
        ];
        (
            select_and_order,
            ident(),
            prop::option::of(condition(true)),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
        )
            .prop_map(
                |((select, order_by), from, where_clause, limit, offset)| Query {
                    select,
                    from,
                    where_clause,
                    order_by,
                    limit,
                    offset,
                },
            )
    }

    proptest! {
        #[test]
        fn printed_query_parses_back_to_the_same_tree_and_text(query in query()) {
            let text = query.to_string();
            let reparsed = parse(&text)
                .map_err(|error| TestCaseError::fail(format!("{text:?}: {error}")))?;
            prop_assert_eq!(without_positions(&reparsed), query);
            prop_assert_eq!(reparsed.to_string(), text);
        }
    }
}
