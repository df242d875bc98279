//! The syntax tree of the SOQL subset the emulator understands.
//!
//! Positions (`pos`) are 0-based byte offsets into the query text; Salesforce's error messages
//! report them as `ERROR at Row:1:Column:<pos + 1>` with a caret under the offending token.

/// A parsed `SELECT` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The select list, in the order written. Never empty.
    pub select: Vec<SelectItem>,
    /// The object after `FROM`, as written (object names are case-insensitive).
    pub from: Ident,
    /// The `WHERE` condition, if any.
    pub where_clause: Option<Condition>,
    /// `ORDER BY` keys, in order.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
    /// `OFFSET n` (validation of the 2,000 maximum is the executor's job).
    pub offset: Option<u64>,
}

/// A name as written in the query, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub pos: usize,
}

/// A field reference: `Name`, or a parent relationship path `Profile.UserLicense.Name`.
/// Each segment keeps its own position. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub segments: Vec<Ident>,
}

/// One entry of the select list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// A field or parent path.
    Field(FieldPath),
    /// `COUNT()`: the result is only `totalSize`, with no records.
    CountAll { pos: usize },
    /// `COUNT(field)`, `MAX(field)`, `MIN(field)`, with an optional alias
    /// (`MAX(SystemModstamp) m`). Without an alias the column is `expr0`, `expr1`, ...
    Aggregate {
        func: AggregateFunc,
        field: FieldPath,
        alias: Option<Ident>,
        pos: usize,
    },
}

/// Aggregate functions of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunc {
    Count,
    Max,
    Min,
}

/// A `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `a AND b AND c` (two or more operands).
    And(Vec<Condition>),
    /// `a OR b OR c` (two or more operands).
    Or(Vec<Condition>),
    /// `NOT a`.
    Not(Box<Condition>),
    /// `field <op> literal`.
    Compare {
        field: FieldPath,
        op: CompareOp,
        value: Literal,
    },
    /// `field LIKE 'pattern'` (`%` and `_` wildcards, case-insensitive).
    Like { field: FieldPath, pattern: String },
    /// `field [NOT] IN (literal, ...)`.
    In {
        field: FieldPath,
        negated: bool,
        values: Vec<Literal>,
    },
    /// `field [NOT] IN (SELECT single_field FROM ... [WHERE ...])`: a semi-join or anti-join.
    SemiJoin {
        field: FieldPath,
        negated: bool,
        query: Box<Query>,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// `'text'`, with escapes already resolved.
    String(String),
    /// An integer or decimal number, as written (`42`, `-1`, `3.5`).
    Number(String),
    /// A date literal `2024-01-31`.
    Date(chrono::NaiveDate),
    /// A datetime literal `2024-01-31T10:00:00Z` / `...+01:00` / `...0000`, in UTC.
    DateTime(chrono::DateTime<chrono::Utc>),
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub field: FieldPath,
    /// `DESC` when true; `ASC` (the default) when false.
    pub descending: bool,
    /// `NULLS FIRST` / `NULLS LAST` when written. Salesforce's default is nulls first for
    /// ascending and nulls last for descending order.
    pub nulls_first: Option<bool>,
}
