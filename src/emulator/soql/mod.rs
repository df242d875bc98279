//! SOQL for the emulator: the syntax tree, the parser and the canonical printer.
//!
//! Owns the text <-> tree boundary of the SOQL subset the emulator serves, and the error text
//! Salesforce puts in a query error body (query echo, caret, `ERROR at Row:R:Column:C`).
//! It must not know the schema or run queries: unknown objects and fields, type checks and
//! limits such as `OFFSET <= 2000` belong to the executor.

pub mod ast;
pub mod parse;
pub mod print;

pub use ast::*;
pub use parse::{SoqlSyntaxError, parse};

/// The message Salesforce puts in a query error body (`MALFORMED_QUERY`, `INVALID_FIELD`,
/// `INVALID_TYPE`): a newline, the query as sent, a caret under the offending position,
/// `ERROR at Row:R:Column:C` (both 1-based) and the detail, each on its own line.
///
/// `pos` is a byte offset into `query`, as in [`SoqlSyntaxError::pos`] and the tree's `pos`
/// fields; the column counts characters within its row. An offset past the end or inside a
/// character is moved back to a character boundary rather than rejected.
pub fn salesforce_message(query: &str, pos: usize, detail: &str) -> String {
    let (row, column) = row_and_column(query, pos);
    format!(
        "\n{query}\n{caret:>column$}\nERROR at Row:{row}:Column:{column}\n{detail}",
        caret = "^",
    )
}

/// The 1-based row and 1-based column (in characters) of byte offset `pos` in `text`.
pub(crate) fn row_and_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = text.get(..pos).unwrap_or("");
    let row_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let row = before.matches('\n').count() + 1;
    let column = before.get(row_start..).unwrap_or("").chars().count() + 1;
    (row, column)
}

/// Helpers shared by the parser's and the printer's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::ast::{Condition, FieldPath, Ident, OrderItem, Query, SelectItem};

    /// A copy of `query` with every position set to 0, to compare trees parsed from different
    /// texts (or built by hand) by their meaning.
    pub(crate) fn without_positions(query: &Query) -> Query {
        let mut query = query.clone();
        zero_query(&mut query);
        query
    }

    fn zero_query(query: &mut Query) {
        for item in &mut query.select {
            match item {
                SelectItem::Field(path) => zero_path(path),
                SelectItem::CountAll { pos } => *pos = 0,
                SelectItem::Aggregate {
                    field, alias, pos, ..
                } => {
                    zero_path(field);
                    if let Some(alias) = alias {
                        zero_ident(alias);
                    }
                    *pos = 0;
                }
            }
        }
        zero_ident(&mut query.from);
        if let Some(condition) = &mut query.where_clause {
            zero_condition(condition);
        }
        for OrderItem { field, .. } in &mut query.order_by {
            zero_path(field);
        }
    }

    fn zero_condition(condition: &mut Condition) {
        match condition {
            Condition::And(operands) | Condition::Or(operands) => {
                operands.iter_mut().for_each(zero_condition);
            }
            Condition::Not(operand) => zero_condition(operand),
            Condition::Compare { field, .. }
            | Condition::Like { field, .. }
            | Condition::In { field, .. } => zero_path(field),
            Condition::SemiJoin { field, query, .. } => {
                zero_path(field);
                zero_query(query);
            }
        }
    }

    fn zero_path(path: &mut FieldPath) {
        path.segments.iter_mut().for_each(zero_ident);
    }

    fn zero_ident(ident: &mut Ident) {
        ident.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_for_an_unknown_field_has_the_caret_under_it() {
        assert_eq!(
            salesforce_message(
                "SELECT Id, Foo FROM User",
                11,
                "No such column 'Foo' on entity 'User'."
            ),
            "\nSELECT Id, Foo FROM User\n           ^\nERROR at Row:1:Column:12\n\
             No such column 'Foo' on entity 'User'."
        );
    }

    #[test]
    fn message_at_the_start_and_at_the_end_of_the_query() {
        assert_eq!(
            salesforce_message("SELECT", 0, "d"),
            "\nSELECT\n^\nERROR at Row:1:Column:1\nd"
        );
        assert_eq!(
            salesforce_message("SELECT Id FROM", 14, "unexpected token: <EOF>"),
            "\nSELECT Id FROM\n              ^\nERROR at Row:1:Column:15\nunexpected token: <EOF>"
        );
    }

    #[test]
    fn message_for_a_multi_line_query_counts_rows_and_columns_within_the_row() {
        let query = "SELECT Id\nFROM User\n  WHERE Foo = 1";
        let pos = query.find("Foo").expect("in query");
        assert_eq!(
            salesforce_message(query, pos, "detail"),
            format!("\n{query}\n        ^\nERROR at Row:3:Column:9\ndetail")
        );
    }

    #[test]
    fn message_columns_count_characters_not_bytes() {
        let query = "SELECT Id FROM User WHERE Name = 'é' AND Foo = 1";
        let pos = query.find("Foo").expect("in query");
        let (_, column) = row_and_column(query, pos);
        assert_eq!(column, 42);
        assert!(salesforce_message(query, pos, "d").contains("Column:42"));
    }

    #[test]
    fn message_tolerates_offsets_past_the_end_or_inside_a_character() {
        assert_eq!(row_and_column("ab", 99), (1, 3));
        assert_eq!(row_and_column("é", 1), (1, 1));
        assert_eq!(row_and_column("", 0), (1, 1));
    }
}
