//! The emulator's SOQL executor: resolves a parsed query against the schema, checks the
//! caller's access, evaluates it over the in-memory org and renders Salesforce-shaped records
//! (facts sheet 3.3-3.5).
//!
//! It owns query semantics: name resolution and its errors, literal type rules, null and case
//! rules, semi-/anti-joins, ordering, `LIMIT`/`OFFSET`, `COUNT()` and aggregates, the read gates
//! and row visibility (`IsDeleted`, OauthToken ownership). It must not parse (that is `soql`),
//! page or speak HTTP: the REST layer keeps a [`ResultSet`] (matching IDs in order) and renders
//! one page at a time with [`ResultSet::render`].
//!
//! Where Salesforce's behaviour is not known for sure the executor picks the strict reading and
//! says so in a comment (`strict:`), because an emulator kinder than Salesforce lets connector
//! bugs through to production.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::ops::{Bound, Range};

use axum::http::StatusCode;
use serde_json::{Map, Value as Json};

use super::caller::Caller;
use super::error::ApiError;
use super::org::{Org, Record, Table, Value};
use super::schema::{self, FieldType, ObjectDef, perm};
use super::soql::{
    self, AggregateFunc, CompareOp, Condition, FieldPath, Literal, OrderItem, Query, SelectItem,
};
use crate::salesforce::SfId;

/// How a query runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// `queryAll`: also return soft-deleted rows (`IsDeleted = true`), facts 3.3.
    pub include_deleted: bool,
    /// The API version of the request (`"66.0"`), for `attributes.url`.
    pub api_version: String,
}

/// A query's result: what the REST layer pages through. It keeps the matching record IDs in
/// order and renders pages on demand, so a page shows the rows' values at page time and a row
/// deleted after the query is skipped.
#[derive(Debug, Clone)]
pub struct ResultSet {
    object: &'static ObjectDef,
    api_version: String,
    total_size: usize,
    rows: Rows,
}

#[derive(Debug, Clone)]
enum Rows {
    /// Plain records: their IDs in result order, how to render one as JSON, and the selected
    /// paths in SELECT order (the columns of a flat rendering such as Bulk API 2.0's CSV).
    Records {
        ids: Vec<SfId>,
        plan: Vec<Node>,
        columns: Vec<Path>,
    },
    /// `COUNT()`: no records, only `totalSize`.
    Count,
    /// Aggregates without `GROUP BY`: the rendered `AggregateResult` rows (zero or one).
    Aggregate(Vec<Json>),
}

impl ResultSet {
    /// `totalSize`: the number of rows of the whole result (for `COUNT()`, the count). For a
    /// query with `LIMIT` it is the number of rows returned, as Salesforce reports it.
    pub fn total_size(&self) -> usize {
        self.total_size
    }

    /// The number of rows available to page through (0 for `COUNT()`).
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Records { ids, .. } => ids.len(),
            Rows::Count => 0,
            Rows::Aggregate(rows) => rows.len(),
        }
    }

    /// True when there is nothing to page through.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `FROM` object.
    pub fn object(&self) -> &'static ObjectDef {
        self.object
    }

    /// Renders the rows in `range` (clamped to `0..len()`) as Salesforce record objects
    /// (facts 3.4), reading their current values from `org`. Rows deleted since the query ran
    /// are skipped, so a page may hold fewer records than the range.
    pub fn render(&self, org: &Org, range: Range<usize>) -> Vec<Json> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        match &self.rows {
            Rows::Records { ids, plan, .. } => ids[start..end]
                .iter()
                .filter_map(|id| org.get(id))
                .map(|(table, record)| {
                    Json::Object(render_record(
                        org,
                        table.def,
                        record,
                        plan,
                        &self.api_version,
                    ))
                })
                .collect(),
            Rows::Count => Vec::new(),
            Rows::Aggregate(rows) => rows[start..end].to_vec(),
        }
    }

    /// True when the result is plain records (not `COUNT()` or aggregates): the only shape
    /// with columns to flatten.
    pub fn is_records(&self) -> bool {
        matches!(self.rows, Rows::Records { .. })
    }

    /// The selected columns in SELECT order, by their canonical dotted names (`Id`,
    /// `Profile.Name`): the header of a flat rendering. Empty for `COUNT()` and aggregates.
    pub fn columns(&self) -> Vec<String> {
        match &self.rows {
            Rows::Records { columns, .. } => columns.iter().map(Path::canonical).collect(),
            Rows::Count | Rows::Aggregate(_) => Vec::new(),
        }
    }

    /// Calls `row` with the column values (in [`columns`](Self::columns) order) of each
    /// record in `range` (clamped to `0..len()`), read from `org` now; a value behind a null or
    /// dangling lookup is `Null`. As with [`render`](Self::render), rows deleted since the
    /// query ran are skipped. Returns the number of rows passed to `row`. Does nothing for
    /// `COUNT()` and aggregates.
    pub fn for_each_row(
        &self,
        org: &Org,
        range: Range<usize>,
        mut row: impl FnMut(&[&Value]),
    ) -> usize {
        let Rows::Records { ids, columns, .. } = &self.rows else {
            return 0;
        };
        let end = range.end.min(ids.len());
        let start = range.start.min(end);
        let mut values: Vec<&Value> = Vec::with_capacity(columns.len());
        let mut rows = 0;
        for id in &ids[start..end] {
            let Some((table, record)) = org.get(id) else {
                continue;
            };
            values.clear();
            values.extend(columns.iter().map(|path| path.eval(org, table.def, record)));
            row(&values);
            rows += 1;
        }
        rows
    }
}

/// Runs one SOQL statement for `caller`.
///
/// Errors are Salesforce's (facts 3.5, 4.3): syntax -> 400 `MALFORMED_QUERY`; unknown object
/// -> 400 `INVALID_TYPE`; unknown field or relationship -> 400 `INVALID_FIELD`; a literal of
/// the wrong type -> 400 `INVALID_QUERY_FILTER_OPERATOR`; `OFFSET` above 2,000 -> 400
/// `NUMBER_OUTSIDE_VALID_RANGE`; an object the caller may not read -> 403
/// `INSUFFICIENT_ACCESS_OR_READONLY`. Never panics, whatever the text.
pub fn execute(
    org: &Org,
    caller: &Caller,
    text: &str,
    options: &ExecOptions,
) -> Result<ResultSet, ApiError> {
    let query = soql::parse(text)
        .map_err(|e| ApiError::bad_request(MALFORMED_QUERY, e.salesforce_message(text)))?;
    Executor {
        org,
        caller,
        text,
        options,
    }
    .run(&query)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const MALFORMED_QUERY: &str = "MALFORMED_QUERY";
const INVALID_FIELD: &str = "INVALID_FIELD";
const INVALID_TYPE: &str = "INVALID_TYPE";
const INVALID_FILTER: &str = "INVALID_QUERY_FILTER_OPERATOR";

/// The most relationships a parent path may follow (facts 3.5: "<= 5 levels up").
const MAX_HOPS: usize = 5;
/// The largest `OFFSET` Salesforce accepts (facts 3.5).
const MAX_OFFSET: u64 = 2000;
/// Semi-/anti-joins allowed in one `WHERE` clause (Salesforce: "no more than two IN or NOT IN
/// statements per WHERE clause").
const MAX_SEMI_JOINS: usize = 2;

/// A 400 whose message points at `pos` in the query, as Salesforce's query errors do.
fn error_at(text: &str, pos: usize, code: &str, detail: &str) -> ApiError {
    ApiError::bad_request(code, soql::salesforce_message(text, pos, detail))
}

fn path_pos(path: &FieldPath) -> usize {
    path.segments.first().map_or(0, |s| s.pos)
}

/// The Setup label of a system permission, for access error messages.
fn permission_label(permission: &str) -> &str {
    match permission {
        perm::API_ENABLED => "API Enabled",
        perm::VIEW_SETUP => "View Setup and Configuration",
        perm::MANAGE_USERS => "Manage Users",
        perm::MANAGE_INTERNAL_USERS => "Manage Internal Users",
        perm::ASSIGN_PERMISSION_SETS => "Assign Permission Sets",
        perm::MANAGE_PROFILES_PERMISSIONSETS => "Manage Profiles and Permission Sets",
        perm::MANAGE_SESSION_PERMISSION_SETS => "Manage Session Permission Set Activations",
        perm::MANAGE_ROLES => "Manage Roles",
        perm::VIEW_ROLES => "View Roles and Role Hierarchy",
        perm::CUSTOMIZE_APPLICATION => "Customize Application",
        perm::VIEW_ALL_DATA => "View All Data",
        perm::MODIFY_ALL_DATA => "Modify All Data",
        other => other.strip_prefix("Permissions").unwrap_or(other),
    }
}

/// 403 unless the caller passes the object's read gate. The message names the permissions
/// that would open it, so that a person can fix the integration user's profile.
fn check_read_gate(caller: &Caller, def: &ObjectDef) -> Result<(), ApiError> {
    if caller.passes(def.read_gate) {
        return Ok(());
    }
    let labels: Vec<&str> = def.read_gate.iter().map(|p| permission_label(p)).collect();
    let requires = match labels.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_ACCESS_OR_READONLY",
        format!(
            "insufficient access rights on object {}: requires {requires}",
            def.name
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Field paths
// ---------------------------------------------------------------------------------------------

/// `Value::Null`, for paths that end at a null lookup.
static NULL: Value = Value::Null;

/// The index of one field on each object a path step may be on. A step has several objects
/// after a polymorphic relationship (`Group.Related` is a UserRole or a User).
#[derive(Debug, Clone)]
struct Slots(Vec<(&'static ObjectDef, usize)>);

impl Slots {
    fn on(&self, def: &ObjectDef) -> Option<usize> {
        self.0
            .iter()
            .find(|(d, _)| std::ptr::eq(*d, def))
            .map(|&(_, index)| index)
    }
}

/// One relationship followed by a path: the lookup field on each possible object.
#[derive(Debug, Clone)]
struct Hop {
    /// Canonical relationship name (`Profile`), the key of the nested object when rendered.
    relationship: &'static str,
    lookup: Slots,
}

/// A field path resolved once against the schema, so that evaluating it per row needs no
/// name lookups.
#[derive(Debug, Clone)]
struct Path {
    hops: Vec<Hop>,
    field: Slots,
    /// Canonical name of the final field.
    name: &'static str,
    ty: FieldType,
    /// Where the path starts in the query text.
    pos: usize,
    /// The path as written (`profile.name`), for messages.
    written: String,
}

impl Path {
    /// The canonical dotted form (`Profile.Name`): two paths select the same column exactly
    /// when these are equal.
    fn canonical(&self) -> String {
        let mut out = String::new();
        for hop in &self.hops {
            out.push_str(hop.relationship);
            out.push('.');
        }
        out.push_str(self.name);
        out
    }

    /// True for the queried object's own `Id`.
    fn is_own_id(&self) -> bool {
        self.hops.is_empty() && self.ty == FieldType::Id
    }

    /// The value at the end of the path from `record` (of object `def`); `Null` when a lookup
    /// on the way is null or dangling, or when a polymorphic target lacks the field.
    fn eval<'o>(&self, org: &'o Org, def: &'static ObjectDef, record: &'o Record) -> &'o Value {
        let mut def = def;
        let mut record = record;
        for hop in &self.hops {
            let Some(index) = hop.lookup.on(def) else {
                return &NULL;
            };
            let Some(Value::Id(id)) = record.values.get(index) else {
                return &NULL;
            };
            let Some((table, parent)) = org.get(id) else {
                return &NULL;
            };
            def = table.def;
            record = parent;
        }
        self.field
            .on(def)
            .and_then(|index| record.values.get(index))
            .unwrap_or(&NULL)
    }
}

/// Resolves `path` from `root`: relationships through `ObjectDef::relationship`
/// (case-insensitive), polymorphic ones accepting a field that exists on any target.
fn resolve(text: &str, root: &'static ObjectDef, path: &FieldPath) -> Result<Path, ApiError> {
    let Some((last, relationships)) = path.segments.split_last() else {
        return Err(error_at(
            text,
            0,
            MALFORMED_QUERY,
            "unexpected token: <EOF>",
        ));
    };
    let mut objects: Vec<&'static ObjectDef> = vec![root];
    let mut hops = Vec::new();
    for segment in relationships {
        if hops.len() == MAX_HOPS {
            // strict: Salesforce's wording for a sixth level is not in the facts sheet.
            return Err(error_at(
                text,
                segment.pos,
                INVALID_FIELD,
                &format!(
                    "Too many levels of relationships in field path: a path may follow at most {MAX_HOPS} relationships"
                ),
            ));
        }
        let mut lookup = Vec::new();
        let mut targets: Vec<&'static ObjectDef> = Vec::new();
        let mut canonical = None;
        for &object in &objects {
            let Some((index, field)) = object.relationship(&segment.name) else {
                continue;
            };
            let Some(reference) = field.reference else {
                continue;
            };
            lookup.push((object, index));
            canonical.get_or_insert(reference.relationship.unwrap_or(field.name));
            for target in reference.to.iter().filter_map(|name| schema::object(name)) {
                if !targets.iter().any(|t| std::ptr::eq(*t, target)) {
                    targets.push(target);
                }
            }
        }
        let Some(relationship) = canonical.filter(|_| !targets.is_empty()) else {
            return Err(error_at(
                text,
                segment.pos,
                INVALID_FIELD,
                &format!(
                    "Didn't understand relationship '{}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                    segment.name
                ),
            ));
        };
        hops.push(Hop {
            relationship,
            lookup: Slots(lookup),
        });
        objects = targets;
    }
    let field: Vec<(&'static ObjectDef, usize)> = objects
        .iter()
        .filter_map(|&object| object.field_index(&last.name).map(|index| (object, index)))
        .collect();
    let Some(&(first_object, first_index)) = field.first() else {
        return Err(error_at(
            text,
            last.pos,
            INVALID_FIELD,
            &format!(
                "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                last.name,
                objects.first().map_or(root.name, |o| o.name)
            ),
        ));
    };
    let def = &first_object.fields[first_index];
    Ok(Path {
        hops,
        field: Slots(field),
        name: def.name,
        ty: def.ty,
        pos: path_pos(path),
        written: path.to_string(),
    })
}

/// The object named after `FROM` (case-insensitive), or `INVALID_TYPE`.
fn resolve_object(text: &str, name: &soql::Ident) -> Result<&'static ObjectDef, ApiError> {
    schema::object(&name.name).ok_or_else(|| {
        error_at(
            text,
            name.pos,
            INVALID_TYPE,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                name.name
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Values: comparison, case rules, LIKE
// ---------------------------------------------------------------------------------------------

/// A literal checked against its field's type.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Null,
    Bool(bool),
    Number(f64),
    Text(Box<str>),
    Id(SfId),
    DateTime(i64),
    Date(chrono::NaiveDate),
}

/// Text comparison as Salesforce does it for non-unique fields: case-insensitive
/// (facts 3.5; Salesforce's comparison operator docs).
fn caseless_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

/// Compares a non-null field value with a non-null literal of the matching type.
fn compare_lit(value: &Value, lit: &Lit) -> Option<Ordering> {
    match (value, lit) {
        (Value::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        #[allow(clippy::cast_precision_loss)]
        (Value::Int(a), Lit::Number(b)) => (*a as f64).partial_cmp(b),
        (Value::Text(a), Lit::Text(b)) => Some(caseless_cmp(a, b)),
        (Value::Id(a), Lit::Id(b)) => Some(a.cmp(b)),
        (Value::DateTime(a), Lit::DateTime(b)) => Some(a.cmp(b)),
        (Value::Date(a), Lit::Date(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Orders two non-null values of one field, text case-insensitively.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Text(a), Value::Text(b)) => caseless_cmp(a, b),
        _ => a.cmp(b),
    }
}

/// One element of a `LIKE` pattern.
#[derive(Debug, Clone, PartialEq)]
enum LikeToken {
    /// `%`: any run of characters.
    Many,
    /// `_`: exactly one character.
    One,
    /// A literal character, lower-cased.
    Char(char),
}

/// Compiles a `LIKE` pattern: `%` and `_` are wildcards, `\%` and `\_` literal (the parser
/// keeps those two escapes; see `soql::parse`). Matching is case-insensitive (facts 3.5).
fn like_pattern(pattern: &str) -> Vec<LikeToken> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('%' | '_')) => {
                if let Some(escaped) = chars.next() {
                    tokens.push(LikeToken::Char(escaped));
                }
            }
            '%' => tokens.push(LikeToken::Many),
            '_' => tokens.push(LikeToken::One),
            c => tokens.extend(c.to_lowercase().map(LikeToken::Char)),
        }
    }
    tokens
}

/// Wildcard matching with single backtracking to the last `%`: linear for typical patterns,
/// never worse than O(pattern x text).
fn like_matches(pattern: &[LikeToken], text: &str) -> bool {
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::Many) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(LikeToken::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((star, from)) => {
                p = star + 1;
                t = from + 1;
                backtrack = Some((star, from + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|token| *token == LikeToken::Many)
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

/// A compiled `WHERE` condition.
#[derive(Debug, Clone)]
enum Pred {
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    Compare {
        path: Path,
        op: CompareOp,
        value: Lit,
    },
    Like {
        path: Path,
        pattern: Vec<LikeToken>,
    },
    In {
        path: Path,
        negated: bool,
        /// ID literals, for ID and reference fields.
        ids: HashSet<SfId>,
        /// Other literals.
        values: Vec<Lit>,
        has_null: bool,
    },
    /// A semi-join (`negated`: anti-join), with the subquery already evaluated.
    Member {
        path: Path,
        negated: bool,
        ids: HashSet<SfId>,
    },
}

impl Pred {
    fn matches(&self, org: &Org, def: &'static ObjectDef, record: &Record) -> bool {
        match self {
            Pred::And(operands) => operands.iter().all(|p| p.matches(org, def, record)),
            Pred::Or(operands) => operands.iter().any(|p| p.matches(org, def, record)),
            Pred::Not(operand) => !operand.matches(org, def, record),
            Pred::Compare { path, op, value } => {
                let field = path.eval(org, def, record);
                if *value == Lit::Null {
                    return match op {
                        CompareOp::Eq => field.is_null(),
                        _ => !field.is_null(),
                    };
                }
                if field.is_null() {
                    // Salesforce: a null value is "not equal" to any non-null literal, and
                    // neither less nor greater than anything.
                    return *op == CompareOp::Ne;
                }
                let Some(ordering) = compare_lit(field, value) else {
                    return false;
                };
                match op {
                    CompareOp::Eq => ordering == Ordering::Equal,
                    CompareOp::Ne => ordering != Ordering::Equal,
                    CompareOp::Lt => ordering == Ordering::Less,
                    CompareOp::Le => ordering != Ordering::Greater,
                    CompareOp::Gt => ordering == Ordering::Greater,
                    CompareOp::Ge => ordering != Ordering::Less,
                }
            }
            Pred::Like { path, pattern } => match path.eval(org, def, record) {
                Value::Text(text) => like_matches(pattern, text),
                _ => false,
            },
            Pred::In {
                path,
                negated,
                ids,
                values,
                has_null,
            } => {
                let field = path.eval(org, def, record);
                let found = match field {
                    // Like `!=`, `NOT IN` holds for a null value unless null is listed.
                    Value::Null => *has_null,
                    Value::Id(id) => ids.contains(id),
                    other => values
                        .iter()
                        .any(|v| compare_lit(other, v) == Some(Ordering::Equal)),
                };
                found != *negated
            }
            Pred::Member { path, negated, ids } => match path.eval(org, def, record) {
                Value::Id(id) => ids.contains(id) != *negated,
                // strict: an anti-join keeps rows whose field is null, like `NOT IN (...)`.
                _ => *negated,
            },
        }
    }
}

/// Where a condition sits, for Salesforce's rules on where semi-joins may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The whole `WHERE` condition.
    Top,
    /// An operand of the top-level ANDs (however parenthesised).
    TopAnd,
    /// A direct operand of a top-level OR.
    TopOr,
    /// Anywhere deeper, or under NOT.
    Nested,
}

// ---------------------------------------------------------------------------------------------
// Row sources: visibility and the ID-range scan
// ---------------------------------------------------------------------------------------------

/// Which rows of a table the caller may see at all.
#[derive(Debug, Clone, Copy)]
struct Visibility {
    /// `IsDeleted`'s index, when soft-deleted rows are hidden (every call but queryAll).
    deleted: Option<usize>,
    /// `UserId`'s index and the caller, when only the caller's own rows are visible.
    owner: Option<(usize, SfId)>,
}

impl Visibility {
    fn of(def: &ObjectDef, caller: &Caller, options: &ExecOptions) -> Visibility {
        Visibility {
            deleted: if options.include_deleted {
                None
            } else {
                def.field_index("IsDeleted")
            },
            // Facts 5.15: users with Customize Application see every user's tokens, others
            // only their own.
            owner: if def.name == "OauthToken" && !caller.has(perm::CUSTOMIZE_APPLICATION) {
                def.field_index("UserId").map(|i| (i, caller.user_id))
            } else {
                None
            },
        }
    }

    fn allows(&self, record: &Record) -> bool {
        if let Some(index) = self.deleted
            && record.values.get(index) == Some(&Value::Bool(true))
        {
            return false;
        }
        if let Some((index, user)) = self.owner
            && record.values.get(index) != Some(&Value::Id(user))
        {
            return false;
        }
        true
    }
}

/// The rows a query has to look at, from its top-level conditions on the object's own `Id`:
/// clients page big objects with `WHERE Id > 'x' ORDER BY Id LIMIT 2000`, so those must not
/// scan the whole table. The conditions stay in the predicate; this only narrows the source.
#[derive(Debug, Clone)]
struct Scan {
    lower: Bound<SfId>,
    upper: Bound<SfId>,
    /// When known: the only IDs that can match (from `Id = x`, `Id IN (...)` or a semi-join
    /// on `Id`), sorted.
    ids: Option<Vec<SfId>>,
}

impl Scan {
    fn of(pred: Option<&Pred>) -> Scan {
        let mut scan = Scan {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
            ids: None,
        };
        let mut conjuncts = Vec::new();
        if let Some(pred) = pred {
            collect_conjuncts(pred, &mut conjuncts);
        }
        for conjunct in conjuncts {
            match conjunct {
                Pred::Compare {
                    path,
                    op,
                    value: Lit::Id(id),
                } if path.is_own_id() => match op {
                    CompareOp::Gt => scan.raise_lower(Bound::Excluded(*id)),
                    CompareOp::Ge => scan.raise_lower(Bound::Included(*id)),
                    CompareOp::Lt => scan.lower_upper(Bound::Excluded(*id)),
                    CompareOp::Le => scan.lower_upper(Bound::Included(*id)),
                    CompareOp::Eq => scan.restrict(std::iter::once(*id).collect()),
                    CompareOp::Ne => {}
                },
                Pred::In {
                    path,
                    negated: false,
                    ids,
                    values,
                    has_null: false,
                } if path.is_own_id() && values.is_empty() => scan.restrict(ids.clone()),
                Pred::Member {
                    path,
                    negated: false,
                    ids,
                } if path.is_own_id() => scan.restrict(ids.clone()),
                _ => {}
            }
        }
        scan
    }

    fn raise_lower(&mut self, bound: Bound<SfId>) {
        let tighter = match (&self.lower, &bound) {
            (Bound::Unbounded, _) => true,
            (_, Bound::Unbounded) => false,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b)) => b > a,
            (Bound::Included(a), Bound::Excluded(b)) => b >= a,
            (Bound::Excluded(a), Bound::Excluded(b)) => b > a,
        };
        if tighter {
            self.lower = bound;
        }
    }

    fn lower_upper(&mut self, bound: Bound<SfId>) {
        let tighter = match (&self.upper, &bound) {
            (Bound::Unbounded, _) => true,
            (_, Bound::Unbounded) => false,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b)) => b < a,
            (Bound::Included(a), Bound::Excluded(b)) => b <= a,
            (Bound::Excluded(a), Bound::Excluded(b)) => b < a,
        };
        if tighter {
            self.upper = bound;
        }
    }

    fn restrict(&mut self, ids: HashSet<SfId>) {
        let mut ids: Vec<SfId> = match self.ids.take() {
            Some(current) => current.into_iter().filter(|id| ids.contains(id)).collect(),
            None => ids.into_iter().collect(),
        };
        ids.sort_unstable();
        self.ids = Some(ids);
    }

    fn in_bounds(&self, id: &SfId) -> bool {
        let above = match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(lower) => id >= lower,
            Bound::Excluded(lower) => id > lower,
        };
        let below = match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(upper) => id <= upper,
            Bound::Excluded(upper) => id < upper,
        };
        above && below
    }

    /// True when the bounds admit no ID; `BTreeMap::range` panics on such bounds.
    fn is_empty_range(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a >= b
            }
            _ => false,
        }
    }

    /// Calls `visit` with each candidate row in ID order (descending when `reverse`) until it
    /// returns false.
    fn for_each<'o>(
        &self,
        table: &'o Table,
        reverse: bool,
        mut visit: impl FnMut(&'o Record) -> bool,
    ) {
        if let Some(ids) = &self.ids {
            let mut step = |id: &SfId| match table.rows.get(id) {
                Some(record) if self.in_bounds(id) => visit(record),
                _ => true,
            };
            if reverse {
                for id in ids.iter().rev() {
                    if !step(id) {
                        return;
                    }
                }
            } else {
                for id in ids {
                    if !step(id) {
                        return;
                    }
                }
            }
            return;
        }
        if self.is_empty_range() {
            return;
        }
        let range = table.rows.range((self.lower, self.upper));
        if reverse {
            for (_, record) in range.rev() {
                if !visit(record) {
                    return;
                }
            }
        } else {
            for (_, record) in range {
                if !visit(record) {
                    return;
                }
            }
        }
    }
}

/// The operands of a condition's top-level ANDs, however parenthesised.
fn collect_conjuncts<'p>(pred: &'p Pred, out: &mut Vec<&'p Pred>) {
    match pred {
        Pred::And(operands) => {
            for operand in operands {
                collect_conjuncts(operand, out);
            }
        }
        other => out.push(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// One key of a rendered record.
#[derive(Debug, Clone)]
enum Node {
    /// A field of the record: canonical name and index per possible object.
    Field { key: &'static str, field: Slots },
    /// A parent relationship, rendered as a nested record (or `null`).
    Parent {
        key: &'static str,
        lookup: Slots,
        children: Vec<Node>,
    },
}

/// Adds a selected path to the render tree. Paths through one relationship share one nested
/// object, placed where the relationship is first mentioned (facts 3.4).
fn add_to_plan(nodes: &mut Vec<Node>, hops: &[Hop], path: &Path) {
    let Some((hop, rest)) = hops.split_first() else {
        nodes.push(Node::Field {
            key: path.name,
            field: path.field.clone(),
        });
        return;
    };
    let existing = nodes
        .iter()
        .position(|n| matches!(n, Node::Parent { key, .. } if *key == hop.relationship));
    let index = existing.unwrap_or_else(|| {
        nodes.push(Node::Parent {
            key: hop.relationship,
            lookup: hop.lookup.clone(),
            children: Vec::new(),
        });
        nodes.len() - 1
    });
    if let Some(Node::Parent { children, .. }) = nodes.get_mut(index) {
        add_to_plan(children, rest, path);
    }
}

/// `attributes` then the planned keys, in select order (facts 3.4). A polymorphic parent's
/// `attributes.type` is its concrete type, from the table its ID belongs to.
fn render_record(
    org: &Org,
    def: &'static ObjectDef,
    record: &Record,
    plan: &[Node],
    api_version: &str,
) -> Map<String, Json> {
    let mut out = Map::new();
    let id = record.values.first().and_then(Value::as_id);
    let mut attributes = Map::new();
    attributes.insert("type".into(), def.name.into());
    if let Some(id) = id {
        attributes.insert(
            "url".into(),
            format!("/services/data/v{api_version}/sobjects/{}/{id}", def.name).into(),
        );
    }
    out.insert("attributes".into(), Json::Object(attributes));
    for node in plan {
        match node {
            Node::Field { key, field } => {
                let value = field
                    .on(def)
                    .and_then(|index| record.values.get(index))
                    .map_or(Json::Null, Value::to_json);
                out.insert((*key).into(), value);
            }
            Node::Parent {
                key,
                lookup,
                children,
            } => {
                let parent = lookup
                    .on(def)
                    .and_then(|index| record.values.get(index))
                    .and_then(Value::as_id)
                    .and_then(|id| org.get(&id));
                let value = match parent {
                    Some((table, parent)) => {
                        Json::Object(render_record(org, table.def, parent, children, api_version))
                    }
                    None => Json::Null,
                };
                out.insert((*key).into(), value);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The executor
// ---------------------------------------------------------------------------------------------

/// What the select list asks for.
enum Shape {
    Records(Vec<Path>),
    CountAll,
    Aggregates(Vec<Aggregate>),
}

struct Aggregate {
    func: AggregateFunc,
    path: Path,
    column: String,
}

/// One ORDER BY key, resolved.
struct SortKey {
    path: Path,
    descending: bool,
    nulls_first: bool,
}

struct Executor<'a> {
    org: &'a Org,
    caller: &'a Caller,
    text: &'a str,
    options: &'a ExecOptions,
}

impl Executor<'_> {
    fn run(&self, query: &Query) -> Result<ResultSet, ApiError> {
        let text = self.text;
        let root = resolve_object(text, &query.from)?;
        check_read_gate(self.caller, root)?;
        let shape = self.shape(root, &query.select)?;
        let order = self.sort_keys(root, &query.order_by)?;
        if !order.is_empty() && !matches!(shape, Shape::Records(_)) {
            // The parser rejects ORDER BY next to aggregates; strict: COUNT() too.
            let key = &order[0].path;
            return Err(error_at(
                text,
                key.pos,
                MALFORMED_QUERY,
                &format!(
                    "Ordered field must be grouped or aggregated: {}",
                    key.written
                ),
            ));
        }
        if let Some(offset) = query.offset
            && offset > MAX_OFFSET
        {
            return Err(ApiError::bad_request(
                "NUMBER_OUTSIDE_VALID_RANGE",
                format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
            ));
        }
        let mut semi_joins = 0;
        let pred = match &query.where_clause {
            Some(condition) => {
                Some(self.condition(root, condition, Place::Top, &mut semi_joins)?)
            }
            None => None,
        };
        let offset = to_usize(query.offset.unwrap_or(0));
        let limit = query.limit.map(to_usize);
        let Some(table) = self.org.table(root.name) else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                format!("the emulated org has no table for {}", root.name),
            ));
        };
        let visibility = Visibility::of(root, self.caller, self.options);
        let scan = Scan::of(pred.as_ref());
        let matches = |record: &Record| {
            visibility.allows(record)
                && pred
                    .as_ref()
                    .is_none_or(|p| p.matches(self.org, root, record))
        };
        // When the result is in ID order anyway, the scan can run in that order and stop
        // as soon as OFFSET + LIMIT rows matched.
        let id_order = match order.first() {
            None => Some(false),
            Some(key) if key.path.is_own_id() => Some(key.descending),
            Some(_) => None,
        };
        let wanted = limit.map(|limit| offset.saturating_add(limit));
        let mut result = ResultSet {
            object: root,
            api_version: self.options.api_version.clone(),
            total_size: 0,
            rows: Rows::Count,
        };
        match shape {
            Shape::CountAll => {
                let mut count = 0usize;
                scan.for_each(table, false, |record| {
                    if matches(record) {
                        count += 1;
                    }
                    wanted.is_none_or(|wanted| count < wanted)
                });
                let count = count.saturating_sub(offset);
                result.total_size = limit.map_or(count, |limit| count.min(limit));
            }
            Shape::Aggregates(aggregates) => {
                let rows = self.aggregate(root, table, &scan, &matches, &aggregates);
                let rows: Vec<Json> = rows
                    .into_iter()
                    .skip(offset)
                    .take(limit.unwrap_or(usize::MAX))
                    .collect();
                result.total_size = rows.len();
                result.rows = Rows::Aggregate(rows);
            }
            Shape::Records(paths) => {
                let mut records: Vec<&Record> = Vec::new();
                let stop_after = if id_order.is_some() { wanted } else { None };
                scan.for_each(table, id_order.unwrap_or(false), |record| {
                    if matches(record) {
                        records.push(record);
                    }
                    stop_after.is_none_or(|wanted| records.len() < wanted)
                });
                let ids = if id_order.is_some() {
                    records
                        .iter()
                        .skip(offset)
                        .take(limit.unwrap_or(usize::MAX))
                        .map(|r| r.id())
                        .collect()
                } else {
                    self.sorted(root, records, &order, offset, limit)
                };
                let mut plan = Vec::new();
                for path in &paths {
                    add_to_plan(&mut plan, &path.hops, path);
                }
                result.total_size = ids.len();
                result.rows = Rows::Records {
                    ids,
                    plan,
                    columns: paths,
                };
            }
        }
        Ok(result)
    }

    /// Resolves the select list: plain fields (no duplicates), `COUNT()` alone, or aggregates
    /// alone.
    fn shape(&self, root: &'static ObjectDef, select: &[SelectItem]) -> Result<Shape, ApiError> {
        let text = self.text;
        if let Some(SelectItem::CountAll { .. }) = select.first() {
            if let Some(other) = select.get(1) {
                // The parser only reads COUNT() alone; kept for hand-built trees.
                return Err(error_at(
                    text,
                    item_pos(other),
                    MALFORMED_QUERY,
                    "unexpected token: ','",
                ));
            }
            return Ok(Shape::CountAll);
        }
        let has_aggregate = select
            .iter()
            .any(|item| matches!(item, SelectItem::Aggregate { .. }));
        if has_aggregate {
            let mut aggregates = Vec::new();
            let mut unaliased = 0;
            for item in select {
                match item {
                    SelectItem::Aggregate {
                        func, field, alias, ..
                    } => {
                        let path = resolve(text, root, field)?;
                        check_aggregate_type(text, *func, &path)?;
                        let column = match alias {
                            Some(alias) => {
                                if aggregates
                                    .iter()
                                    .any(|a: &Aggregate| a.column.eq_ignore_ascii_case(&alias.name))
                                {
                                    return Err(error_at(
                                        text,
                                        alias.pos,
                                        MALFORMED_QUERY,
                                        &format!("duplicate alias: {}", alias.name),
                                    ));
                                }
                                alias.name.clone()
                            }
                            None => {
                                // Unaliased columns are numbered among themselves (facts 3.3).
                                unaliased += 1;
                                format!("expr{}", unaliased - 1)
                            }
                        };
                        aggregates.push(Aggregate {
                            func: *func,
                            path,
                            column,
                        });
                    }
                    SelectItem::Field(path) => {
                        let resolved = resolve(text, root, path)?;
                        return Err(error_at(
                            text,
                            resolved.pos,
                            MALFORMED_QUERY,
                            &format!("Field must be grouped or aggregated: {}", resolved.written),
                        ));
                    }
                    SelectItem::CountAll { pos } => {
                        return Err(error_at(
                            text,
                            *pos,
                            MALFORMED_QUERY,
                            "unexpected token: 'COUNT'",
                        ));
                    }
                }
            }
            return Ok(Shape::Aggregates(aggregates));
        }
        let mut paths: Vec<Path> = Vec::new();
        for item in select {
            let SelectItem::Field(field) = item else {
                return Err(error_at(
                    text,
                    item_pos(item),
                    MALFORMED_QUERY,
                    "unexpected token: 'COUNT'",
                ));
            };
            let path = resolve(text, root, field)?;
            let canonical = path.canonical();
            if paths.iter().any(|p| p.canonical() == canonical) {
                // Salesforce's documented answer (FIELDS() docs): INVALID_FIELD with the bare
                // message, no query echo.
                return Err(ApiError::bad_request(
                    INVALID_FIELD,
                    format!("duplicate field selected: {}", path.written),
                ));
            }
            paths.push(path);
        }
        Ok(Shape::Records(paths))
    }

    fn sort_keys(
        &self,
        root: &'static ObjectDef,
        order_by: &[OrderItem],
    ) -> Result<Vec<SortKey>, ApiError> {
        order_by
            .iter()
            .map(|item| {
                Ok(SortKey {
                    path: resolve(self.text, root, &item.field)?,
                    descending: item.descending,
                    // Salesforce's defaults: nulls first ascending, last descending.
                    nulls_first: item.nulls_first.unwrap_or(!item.descending),
                })
            })
            .collect()
    }

    /// Orders matched records by the keys (ties by ID, so results are deterministic), then
    /// applies OFFSET and LIMIT. With a LIMIT only the first OFFSET + LIMIT rows are fully
    /// sorted.
    fn sorted(
        &self,
        root: &'static ObjectDef,
        records: Vec<&Record>,
        order: &[SortKey],
        offset: usize,
        limit: Option<usize>,
    ) -> Vec<SfId> {
        let org = self.org;
        let mut rows: Vec<(Vec<&Value>, SfId)> = records
            .into_iter()
            .map(|record| {
                let keys = order
                    .iter()
                    .map(|key| key.path.eval(org, root, record))
                    .collect();
                (keys, record.id())
            })
            .collect();
        let compare = |a: &(Vec<&Value>, SfId), b: &(Vec<&Value>, SfId)| {
            for (key, (x, y)) in order.iter().zip(a.0.iter().zip(b.0.iter())) {
                let ordering = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) if key.nulls_first => Ordering::Less,
                    (true, false) => Ordering::Greater,
                    (false, true) if key.nulls_first => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) if key.descending => compare_values(x, y).reverse(),
                    (false, false) => compare_values(x, y),
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.1.cmp(&b.1)
        };
        let wanted = limit.map(|limit| offset.saturating_add(limit));
        if let Some(wanted) = wanted
            && wanted < rows.len()
        {
            if wanted == 0 {
                return Vec::new();
            }
            rows.select_nth_unstable_by(wanted - 1, compare);
            rows.truncate(wanted);
        }
        rows.sort_unstable_by(compare);
        rows.into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .map(|(_, id)| id)
            .collect()
    }

    /// Computes aggregates without GROUP BY: always exactly one row (facts 3.3).
    fn aggregate(
        &self,
        root: &'static ObjectDef,
        table: &Table,
        scan: &Scan,
        matches: &dyn Fn(&Record) -> bool,
        aggregates: &[Aggregate],
    ) -> Vec<Json> {
        let org = self.org;
        let mut counts = vec![0i64; aggregates.len()];
        let mut extremes: Vec<Option<&Value>> = vec![None; aggregates.len()];
        scan.for_each(table, false, |record| {
            if !matches(record) {
                return true;
            }
            for (i, aggregate) in aggregates.iter().enumerate() {
                let value = aggregate.path.eval(org, root, record);
                if value.is_null() {
                    continue;
                }
                counts[i] += 1;
                let replace = match extremes[i] {
                    None => true,
                    Some(current) => match aggregate.func {
                        AggregateFunc::Max => compare_values(value, current) == Ordering::Greater,
                        AggregateFunc::Min => compare_values(value, current) == Ordering::Less,
                        AggregateFunc::Count => false,
                    },
                };
                if replace {
                    extremes[i] = Some(value);
                }
            }
            true
        });
        let mut row = Map::new();
        row.insert(
            "attributes".into(),
            serde_json::json!({ "type": "AggregateResult" }),
        );
        for (i, aggregate) in aggregates.iter().enumerate() {
            let value = match aggregate.func {
                AggregateFunc::Count => Json::from(counts[i]),
                AggregateFunc::Max | AggregateFunc::Min => {
                    extremes[i].map_or(Json::Null, Value::to_json)
                }
            };
            row.insert(aggregate.column.clone(), value);
        }
        vec![Json::Object(row)]
    }

    /// Compiles a WHERE condition: resolves paths, type-checks literals, and runs semi-join
    /// subqueries (their results are small sets of IDs).
    fn condition(
        &self,
        root: &'static ObjectDef,
        condition: &Condition,
        place: Place,
        semi_joins: &mut usize,
    ) -> Result<Pred, ApiError> {
        let text = self.text;
        Ok(match condition {
            Condition::And(operands) => {
                let inner = if matches!(place, Place::Top | Place::TopAnd) {
                    Place::TopAnd
                } else {
                    Place::Nested
                };
                Pred::And(
                    operands
                        .iter()
                        .map(|c| self.condition(root, c, inner, semi_joins))
                        .collect::<Result<_, _>>()?,
                )
            }
            Condition::Or(operands) => {
                let inner = if place == Place::Top {
                    Place::TopOr
                } else {
                    Place::Nested
                };
                Pred::Or(
                    operands
                        .iter()
                        .map(|c| self.condition(root, c, inner, semi_joins))
                        .collect::<Result<_, _>>()?,
                )
            }
            Condition::Not(operand) => Pred::Not(Box::new(self.condition(
                root,
                operand,
                Place::Nested,
                semi_joins,
            )?)),
            Condition::Compare { field, op, value } => {
                let path = resolve(text, root, field)?;
                let value = literal(text, &path, value)?;
                check_operator(text, &path, *op, &value)?;
                Pred::Compare {
                    path,
                    op: *op,
                    value,
                }
            }
            Condition::Like { field, pattern } => {
                let path = resolve(text, root, field)?;
                if !is_text(path.ty) {
                    return Err(error_at(
                        text,
                        path.pos,
                        INVALID_FILTER,
                        &format!("invalid operator on {} field", type_word(path.ty)),
                    ));
                }
                Pred::Like {
                    path,
                    pattern: like_pattern(pattern),
                }
            }
            Condition::In {
                field,
                negated,
                values,
            } => {
                let path = resolve(text, root, field)?;
                let mut ids = HashSet::new();
                let mut others = Vec::new();
                let mut has_null = false;
                for value in values {
                    match literal(text, &path, value)? {
                        Lit::Null => has_null = true,
                        Lit::Id(id) => {
                            ids.insert(id);
                        }
                        other => others.push(other),
                    }
                }
                Pred::In {
                    path,
                    negated: *negated,
                    ids,
                    values: others,
                    has_null,
                }
            }
            Condition::SemiJoin {
                field,
                negated,
                query,
            } => {
                let pos = path_pos(field);
                match place {
                    Place::Top | Place::TopAnd => {}
                    Place::TopOr => {
                        return Err(error_at(
                            text,
                            pos,
                            MALFORMED_QUERY,
                            "Semi join sub-selects are not allowed with the 'OR' operator",
                        ));
                    }
                    Place::Nested => {
                        return Err(error_at(
                            text,
                            pos,
                            MALFORMED_QUERY,
                            "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions.",
                        ));
                    }
                }
                *semi_joins += 1;
                if *semi_joins > MAX_SEMI_JOINS {
                    return Err(error_at(
                        text,
                        pos,
                        MALFORMED_QUERY,
                        &format!(
                            "No more than {MAX_SEMI_JOINS} semi join or anti join sub-selects are allowed in a WHERE clause"
                        ),
                    ));
                }
                let path = resolve(text, root, field)?;
                if !path.hops.is_empty() {
                    // Salesforce: the left operand can't use relationships.
                    return Err(error_at(
                        text,
                        pos,
                        MALFORMED_QUERY,
                        &format!(
                            "Semi join and anti join sub-selects can't filter on a relationship field: {}",
                            path.written
                        ),
                    ));
                }
                if !matches!(path.ty, FieldType::Id | FieldType::Reference) {
                    return Err(error_at(
                        text,
                        pos,
                        INVALID_FIELD,
                        &format!(
                            "Semi join and anti join sub-selects can only filter on an Id or a reference field, not '{}'",
                            path.written
                        ),
                    ));
                }
                let ids = self.semi_join(root, query)?;
                Pred::Member {
                    path,
                    negated: *negated,
                    ids,
                }
            }
        })
    }

    /// Runs the subquery of a semi-/anti-join and returns the IDs it selects. The subquery's
    /// object is gated like the main one, and its rows obey the same visibility rules.
    fn semi_join(
        &self,
        outer: &'static ObjectDef,
        query: &Query,
    ) -> Result<HashSet<SfId>, ApiError> {
        let text = self.text;
        let root = resolve_object(text, &query.from)?;
        if std::ptr::eq(root, outer) {
            // Salesforce refuses self semi-joins (`User WHERE ManagerId IN (SELECT Id FROM
            // User ...)`).
            return Err(error_at(
                text,
                query.from.pos,
                MALFORMED_QUERY,
                "The inner and outer selects should not be on the same object type",
            ));
        }
        check_read_gate(self.caller, root)?;
        let field = match query.select.as_slice() {
            [SelectItem::Field(field)] => field,
            items => {
                let pos = items.first().map_or(query.from.pos, item_pos);
                return Err(error_at(
                    text,
                    pos,
                    MALFORMED_QUERY,
                    "Semi join sub-selects can only select one field",
                ));
            }
        };
        let path = resolve(text, root, field)?;
        if path.hops.len() > 1 {
            return Err(error_at(
                text,
                path.pos,
                MALFORMED_QUERY,
                "inner select field cannot have more than one level of relationships",
            ));
        }
        if !matches!(path.ty, FieldType::Id | FieldType::Reference) {
            return Err(error_at(
                text,
                path.pos,
                INVALID_FIELD,
                &format!(
                    "Semi join sub-selects must select an Id or a reference field, not '{}'",
                    path.written
                ),
            ));
        }
        if let Some(item) = query.order_by.first() {
            // strict: ORDER BY and LIMIT make no sense in a membership test and are
            // reported unsupported in subqueries.
            return Err(error_at(
                text,
                path_pos(&item.field),
                MALFORMED_QUERY,
                "ORDER BY is not supported in semi join sub-selects",
            ));
        }
        if query.limit.is_some() || query.offset.is_some() {
            return Err(error_at(
                text,
                query.from.pos,
                MALFORMED_QUERY,
                "LIMIT and OFFSET are not supported in semi join sub-selects",
            ));
        }
        let pred = match &query.where_clause {
            // The parser refuses a semi-join inside a semi-join; `Nested` keeps it refused for
            // any tree.
            Some(condition) => Some(self.condition(root, condition, Place::Nested, &mut 0)?),
            None => None,
        };
        let Some(table) = self.org.table(root.name) else {
            return Ok(HashSet::new());
        };
        let visibility = Visibility::of(root, self.caller, self.options);
        let mut ids = HashSet::new();
        Scan::of(pred.as_ref()).for_each(table, false, |record| {
            if visibility.allows(record)
                && pred
                    .as_ref()
                    .is_none_or(|p| p.matches(self.org, root, record))
                && let Value::Id(id) = path.eval(self.org, root, record)
            {
                ids.insert(*id);
            }
            true
        });
        Ok(ids)
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn item_pos(item: &SelectItem) -> usize {
    match item {
        SelectItem::Field(path) => path_pos(path),
        SelectItem::CountAll { pos } | SelectItem::Aggregate { pos, .. } => *pos,
    }
}

fn is_text(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::String | FieldType::Email | FieldType::Picklist
    )
}

/// The type name Salesforce uses in filter errors.
fn type_word(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Id | FieldType::Reference => "id",
        FieldType::String | FieldType::Email | FieldType::Picklist => "string",
        FieldType::Boolean => "boolean",
        FieldType::Int => "integer",
        FieldType::DateTime => "dateTime",
        FieldType::Date => "date",
    }
}

/// Checks a literal against the field's type (Salesforce refuses rather than converts:
/// `IsActive = 'true'` and `CreatedDate > 2024-01-01` are errors) and converts it.
fn literal(text: &str, path: &Path, value: &Literal) -> Result<Lit, ApiError> {
    let mismatch = |quoted: bool| {
        let enclosed = if quoted {
            "should be enclosed in quotes"
        } else {
            "should not be enclosed in quotes"
        };
        error_at(
            text,
            path.pos,
            INVALID_FILTER,
            &format!(
                "value of filter criterion for field '{}' must be of type {} and {enclosed}",
                path.written,
                type_word(path.ty)
            ),
        )
    };
    let invalid_id = |written: &str| {
        error_at(
            text,
            path.pos,
            INVALID_FILTER,
            &format!("invalid ID field: {written}"),
        )
    };
    Ok(match (path.ty, value) {
        (_, Literal::Null) => Lit::Null,
        (FieldType::Boolean, Literal::Bool(b)) => Lit::Bool(*b),
        (FieldType::Int, Literal::Number(n)) => match n.parse::<f64>() {
            Ok(n) if n.is_finite() => Lit::Number(n),
            _ => return Err(mismatch(false)),
        },
        (FieldType::DateTime, Literal::DateTime(t)) => Lit::DateTime(t.timestamp_millis()),
        (FieldType::Date, Literal::Date(d)) => Lit::Date(*d),
        (FieldType::String | FieldType::Email | FieldType::Picklist, Literal::String(s)) => {
            Lit::Text(s.as_str().into())
        }
        // 15-character IDs match their 18-character form; comparison is on the 18-character
        // value (facts 3.1).
        (FieldType::Id | FieldType::Reference, Literal::String(s)) => {
            SfId::parse(s).map(Lit::Id).map_err(|_| invalid_id(s))?
        }
        (FieldType::Id | FieldType::Reference, Literal::Number(n)) => return Err(invalid_id(n)),
        (FieldType::String | FieldType::Email | FieldType::Picklist, _)
        | (FieldType::Id | FieldType::Reference, _) => return Err(mismatch(true)),
        (FieldType::Boolean | FieldType::Int | FieldType::DateTime | FieldType::Date, _) => {
            return Err(mismatch(false));
        }
    })
}

/// Operators a field type does not support.
fn check_operator(text: &str, path: &Path, op: CompareOp, value: &Lit) -> Result<(), ApiError> {
    let ordering = !matches!(op, CompareOp::Eq | CompareOp::Ne);
    if !ordering {
        return Ok(());
    }
    if *value == Lit::Null {
        // strict: `< null` can only ever be false; treat it as the mistake it is.
        return Err(error_at(
            text,
            path.pos,
            INVALID_FILTER,
            &format!("invalid operator for a null value: {op}"),
        ));
    }
    if path.ty == FieldType::Boolean {
        // strict: booleans have no order.
        return Err(error_at(
            text,
            path.pos,
            INVALID_FILTER,
            "invalid operator on boolean field",
        ));
    }
    Ok(())
}

/// Which fields an aggregate accepts: Salesforce refuses booleans for COUNT, MAX and MIN.
fn check_aggregate_type(text: &str, func: AggregateFunc, path: &Path) -> Result<(), ApiError> {
    if path.ty == FieldType::Boolean {
        return Err(error_at(
            text,
            path.pos,
            MALFORMED_QUERY,
            &format!(
                "field {} does not support aggregate operator {func}",
                path.written
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::emulator::org::{Integration, OrgSettings, parse_datetime};

    fn dt(text: &str) -> Value {
        Value::DateTime(parse_datetime(text).expect("test datetime"))
    }

    fn text(s: &str) -> Value {
        Value::text(s)
    }

    /// A small org covering every object kind the tests query.
    struct Fixture {
        org: Org,
        admin: Caller,
        nobody: Caller,
        organization: SfId,
        profile_admin: SfId,
        profile_std: SfId,
        role_ceo: SfId,
        alice: SfId,
        bob: SfId,
        carol: SfId,
        dave: SfId,
        ps_profile: SfId,
        ps_sales: SfId,
        ps_support: SfId,
        group_role: SfId,
        group_queue: SfId,
        group_manager: SfId,
        psg_live: SfId,
        psg_gone: SfId,
        token_alice: SfId,
        token_bob: SfId,
    }

    fn fixture() -> Fixture {
        let integration = Integration {
            user_id: SfId::from_counter("005", "5g", 1),
            client_id: "client".into(),
            client_secret: "secret".into(),
            password: "password".into(),
            security_token: "token".into(),
            refresh_token: "refresh".into(),
            jwt_public_key_pem: String::new(),
            connected_app_id: None,
        };
        let mut org = Org::empty(OrgSettings::default(), integration, "5g");
        let organization = org.insert_raw("Organization", &[("Name", text("Acme"))]);
        let license = org.insert_raw(
            "UserLicense",
            &[
                ("Name", text("Salesforce")),
                ("LicenseDefinitionKey", text("SFDC")),
            ],
        );
        let profile_admin = org.insert_raw(
            "Profile",
            &[
                ("Name", text("System Administrator")),
                ("UserLicenseId", Value::Id(license)),
            ],
        );
        let profile_std = org.insert_raw(
            "Profile",
            &[
                ("Name", text("Standard User")),
                ("UserLicenseId", Value::Id(license)),
            ],
        );
        let role_ceo = org.insert_raw("UserRole", &[("Name", text("CEO"))]);
        let role_vp = org.insert_raw(
            "UserRole",
            &[("Name", text("VP")), ("ParentRoleId", Value::Id(role_ceo))],
        );
        let alice = org.insert_raw(
            "User",
            &[
                ("Username", text("alice@example.com")),
                ("FirstName", text("Alice")),
                ("LastName", text("Admin")),
                ("Name", text("Alice Admin")),
                ("IsActive", Value::Bool(true)),
                ("ProfileId", Value::Id(profile_admin)),
                ("UserRoleId", Value::Id(role_ceo)),
                ("Department", text("IT")),
                ("LastLoginDate", dt("2024-03-01T10:00:00Z")),
                ("NumberOfFailedLogins", Value::Int(0)),
            ],
        );
        let bob = org.insert_raw(
            "User",
            &[
                ("Username", text("bob@example.com")),
                ("FirstName", text("Bob")),
                ("LastName", text("builder")),
                ("Name", text("Bob builder")),
                ("IsActive", Value::Bool(false)),
                ("ProfileId", Value::Id(profile_std)),
                ("ManagerId", Value::Id(alice)),
                ("NumberOfFailedLogins", Value::Int(3)),
            ],
        );
        let carol = org.insert_raw(
            "User",
            &[
                ("Username", text("carol@example.com")),
                ("FirstName", text("Carol")),
                ("LastName", text("Ng")),
                ("Name", text("Carol Ng")),
                ("IsActive", Value::Bool(true)),
                ("ProfileId", Value::Id(profile_std)),
                ("UserRoleId", Value::Id(role_vp)),
                ("ManagerId", Value::Id(bob)),
                ("Department", text("sales")),
                ("LastLoginDate", dt("2024-06-15T00:00:00Z")),
                ("NumberOfFailedLogins", Value::Int(1)),
            ],
        );
        let dave = org.insert_raw(
            "User",
            &[
                ("Username", text("dave_x@example.com")),
                ("FirstName", text("Dave")),
                ("LastName", text("Percent")),
                ("Name", text("Dave 100%")),
                ("IsActive", Value::Bool(true)),
                ("ProfileId", Value::Id(profile_std)),
                ("Department", text("Sales_Ops")),
                ("Title", text("Ärztin")),
                ("LastLoginDate", dt("2023-12-31T23:59:59Z")),
                ("NumberOfFailedLogins", Value::Int(10)),
            ],
        );
        let ps_profile = org.insert_raw(
            "PermissionSet",
            &[
                ("Name", text("X00ex000000")),
                ("Label", text("Admin profile set")),
                ("IsOwnedByProfile", Value::Bool(true)),
                ("ProfileId", Value::Id(profile_admin)),
            ],
        );
        let ps_sales = org.insert_raw(
            "PermissionSet",
            &[
                ("Name", text("Sales_Ops")),
                ("Label", text("Sales Ops")),
                ("IsCustom", Value::Bool(true)),
            ],
        );
        let ps_support = org.insert_raw(
            "PermissionSet",
            &[
                ("Name", text("Support")),
                ("Label", text("Support")),
                ("IsCustom", Value::Bool(true)),
                ("PermissionsViewSetup", Value::Bool(true)),
            ],
        );
        for (user, set) in [
            (alice, ps_profile),
            (bob, ps_sales),
            (carol, ps_sales),
            (carol, ps_support),
            (dave, ps_support),
        ] {
            org.insert_raw(
                "PermissionSetAssignment",
                &[
                    ("AssigneeId", Value::Id(user)),
                    ("PermissionSetId", Value::Id(set)),
                ],
            );
        }
        let group_role = org.insert_raw(
            "Group",
            &[
                ("Name", text("CEO")),
                ("Type", text("Role")),
                ("RelatedId", Value::Id(role_ceo)),
                ("OwnerId", Value::Id(organization)),
            ],
        );
        let group_queue = org.insert_raw(
            "Group",
            &[
                ("Name", text("Support Queue")),
                ("Type", text("Queue")),
                ("OwnerId", Value::Id(alice)),
            ],
        );
        let group_manager = org.insert_raw(
            "Group",
            &[
                ("Name", text("Managers of Bob")),
                ("Type", text("Manager")),
                ("RelatedId", Value::Id(bob)),
                ("OwnerId", Value::Id(alice)),
            ],
        );
        org.insert_raw(
            "GroupMember",
            &[
                ("GroupId", Value::Id(group_queue)),
                ("UserOrGroupId", Value::Id(carol)),
            ],
        );
        let psg_live = org.insert_raw(
            "PermissionSetGroup",
            &[
                ("DeveloperName", text("Live")),
                ("MasterLabel", text("Live")),
            ],
        );
        let psg_gone = org.insert_raw(
            "PermissionSetGroup",
            &[
                ("DeveloperName", text("Gone")),
                ("MasterLabel", text("Gone")),
                ("IsDeleted", Value::Bool(true)),
            ],
        );
        org.insert_raw(
            "PermissionSetLicense",
            &[
                ("DeveloperName", text("Early")),
                (
                    "ExpirationDate",
                    Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
                ),
            ],
        );
        org.insert_raw(
            "PermissionSetLicense",
            &[
                ("DeveloperName", text("Late")),
                (
                    "ExpirationDate",
                    Value::Date(chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
                ),
            ],
        );
        let token_alice = org.insert_raw(
            "OauthToken",
            &[("UserId", Value::Id(alice)), ("AppName", text("Workbench"))],
        );
        let token_bob = org.insert_raw(
            "OauthToken",
            &[("UserId", Value::Id(bob)), ("AppName", text("Data Loader"))],
        );
        let admin = Caller {
            user_id: alice,
            permissions: schema::PERMISSIONS.iter().copied().collect(),
        };
        let nobody = Caller {
            user_id: bob,
            permissions: BTreeSet::new(),
        };
        Fixture {
            org,
            admin,
            nobody,
            organization,
            profile_admin,
            profile_std,
            role_ceo,
            alice,
            bob,
            carol,
            dave,
            ps_profile,
            ps_sales,
            ps_support,
            group_role,
            group_queue,
            group_manager,
            psg_live,
            psg_gone,
            token_alice,
            token_bob,
        }
    }

    fn options() -> ExecOptions {
        ExecOptions {
            include_deleted: false,
            api_version: "66.0".into(),
        }
    }

    impl Fixture {
        fn run_as(&self, caller: &Caller, soql: &str) -> Result<ResultSet, ApiError> {
            execute(&self.org, caller, soql, &options())
        }

        /// Every record of an admin query, rendered.
        fn records(&self, soql: &str) -> Vec<Json> {
            let result = self
                .run_as(&self.admin, soql)
                .unwrap_or_else(|e| panic!("{soql}: {e}"));
            result.render(&self.org, 0..result.len())
        }

        /// The `Id`s of an admin query, in result order.
        fn ids(&self, soql: &str) -> Vec<SfId> {
            self.records(soql)
                .iter()
                .map(|r| SfId::parse(r["Id"].as_str().expect("Id selected")).expect("an ID"))
                .collect()
        }

        fn error(&self, soql: &str) -> ApiError {
            match self.run_as(&self.admin, soql) {
                Ok(_) => panic!("{soql} should fail"),
                Err(e) => e,
            }
        }
    }

    /// Asserts a 400 with `code` whose message is Salesforce's caret message pointing at the
    /// first occurrence of `at` in the query.
    fn assert_error_at(error: &ApiError, soql: &str, code: &str, at: &str, detail: &str) {
        let pos = soql.find(at).expect("marker in query");
        assert_eq!(error.status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error.code, code, "{error}");
        assert_eq!(
            error.message,
            soql::salesforce_message(soql, pos, detail),
            "{error}"
        );
    }

    // --- errors of names --------------------------------------------------------------------

    #[test]
    fn syntax_errors_are_malformed_query_with_the_parser_position() {
        let f = fixture();
        let soql = "SELECT Id FROM User WHERE";
        let error = f.error(soql);
        assert_eq!(error.code, "MALFORMED_QUERY");
        assert!(
            error.message.contains("ERROR at Row:1:Column:26"),
            "{}",
            error.message
        );
    }

    #[test]
    fn unknown_object_is_invalid_type_pointing_at_the_object() {
        let f = fixture();
        let soql = "SELECT Id FROM Account";
        assert_error_at(
            &f.error(soql),
            soql,
            "INVALID_TYPE",
            "Account",
            "sObject type 'Account' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
        );
    }

    #[test]
    fn unknown_field_is_invalid_field_naming_the_entity() {
        let f = fixture();
        let soql = "SELECT Id, Foo FROM User";
        assert_error_at(
            &f.error(soql),
            soql,
            "INVALID_FIELD",
            "Foo",
            "No such column 'Foo' on entity 'User'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
        );
    }

    #[test]
    fn unknown_field_after_a_relationship_names_the_parent_entity() {
        let f = fixture();
        let soql = "SELECT Profile.Nope FROM User";
        let error = f.error(soql);
        assert_error_at(
            &error,
            soql,
            "INVALID_FIELD",
            "Nope",
            "No such column 'Nope' on entity 'Profile'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
        );
    }

    #[test]
    fn a_segment_that_is_not_a_relationship_is_not_understood() {
        let f = fixture();
        for (soql, at) in [
            ("SELECT ProfileId.Name FROM User", "ProfileId"),
            ("SELECT Id FROM User WHERE Boss.Name = 'x'", "Boss"),
            ("SELECT Id FROM User ORDER BY Profile.Nope.Name", "Nope"),
            // User.ContactId has no relationship name in the schema.
            ("SELECT Contact.Name FROM User", "Contact"),
        ] {
            let name = at;
            assert_error_at(
                &f.error(soql),
                soql,
                "INVALID_FIELD",
                at,
                &format!(
                    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            );
        }
    }

    #[test]
    fn paths_may_follow_five_relationships_but_not_six() {
        let f = fixture();
        let five = f.records("SELECT Manager.Manager.Manager.Manager.Manager.Name FROM User");
        assert_eq!(five.len(), 4);
        let soql = "SELECT Manager.Manager.Manager.Manager.Manager.Manager.Name FROM User";
        let error = f.error(soql);
        assert_eq!(error.code, "INVALID_FIELD");
        // The sixth relationship is the one pointed at.
        assert!(
            error.message.contains("ERROR at Row:1:Column:48"),
            "{}",
            error.message
        );
    }

    #[test]
    fn names_are_case_insensitive_and_render_canonically() {
        let f = fixture();
        let records = f.records(&format!(
            "select ID, userNAME, profile.NAME from USER where id = '{}'",
            f.alice
        ));
        assert_eq!(
            records,
            vec![json!({
                "attributes": {"type": "User", "url": format!("/services/data/v66.0/sobjects/User/{}", f.alice)},
                "Id": f.alice.to_string(),
                "Username": "alice@example.com",
                "Profile": {
                    "attributes": {"type": "Profile", "url": format!("/services/data/v66.0/sobjects/Profile/{}", f.profile_admin)},
                    "Name": "System Administrator"
                }
            })]
        );
    }

    // --- rendering --------------------------------------------------------------------------

    #[test]
    fn records_follow_select_order_with_values_rendered_as_salesforce_does() {
        let f = fixture();
        let records = f.records(&format!(
            "SELECT LastLoginDate, IsActive, NumberOfFailedLogins, Department, Id FROM User WHERE Id = '{}'",
            f.alice
        ));
        let record = records[0].as_object().unwrap();
        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "attributes",
                "LastLoginDate",
                "IsActive",
                "NumberOfFailedLogins",
                "Department",
                "Id"
            ]
        );
        assert_eq!(
            record["LastLoginDate"],
            json!("2024-03-01T10:00:00.000+0000")
        );
        assert_eq!(record["IsActive"], json!(true));
        assert_eq!(record["NumberOfFailedLogins"], json!(0));
        let bob = f.records(&format!(
            "SELECT Department FROM User WHERE Id = '{}'",
            f.bob
        ));
        assert_eq!(bob[0]["Department"], Json::Null);
        let licenses =
            f.records("SELECT ExpirationDate FROM PermissionSetLicense ORDER BY ExpirationDate");
        assert_eq!(licenses[0]["ExpirationDate"], json!("2024-01-31"));
    }

    #[test]
    fn paths_through_one_relationship_merge_into_one_object_at_its_first_mention() {
        let f = fixture();
        let records = f.records(&format!(
            "SELECT Profile.Name, Id, Profile.UserLicense.LicenseDefinitionKey, Profile.Id, Manager.Name FROM User WHERE Id = '{}'",
            f.carol
        ));
        let record = &records[0];
        let keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["attributes", "Profile", "Id", "Manager"]);
        let profile = record["Profile"].as_object().unwrap();
        let profile_keys: Vec<&str> = profile.keys().map(String::as_str).collect();
        assert_eq!(profile_keys, ["attributes", "Name", "UserLicense", "Id"]);
        assert_eq!(profile["Name"], json!("Standard User"));
        assert_eq!(profile["Id"], json!(f.profile_std.to_string()));
        assert_eq!(
            profile["UserLicense"]["attributes"]["type"],
            json!("UserLicense")
        );
        assert_eq!(
            profile["UserLicense"]["LicenseDefinitionKey"],
            json!("SFDC")
        );
        assert_eq!(record["Manager"]["Name"], json!("Bob builder"));
        assert_eq!(record["Manager"]["attributes"]["type"], json!("User"));
    }

    #[test]
    fn a_null_lookup_renders_the_relationship_as_null() {
        let f = fixture();
        let records = f.records(&format!(
            "SELECT Id, Manager.Name, Manager.Manager.Name FROM User WHERE Id IN ('{}', '{}')",
            f.alice, f.carol
        ));
        assert_eq!(records[0]["Manager"], Json::Null);
        assert_eq!(records[1]["Manager"]["Name"], json!("Bob builder"));
        assert_eq!(
            records[1]["Manager"]["Manager"]["Name"],
            json!("Alice Admin")
        );
        let bob_via_carol = &records[1]["Manager"];
        let keys: Vec<&str> = bob_via_carol
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["attributes", "Name", "Manager"]);
    }

    #[test]
    fn polymorphic_relationships_render_the_concrete_type() {
        let f = fixture();
        let records = f.records("SELECT Name, Related.Name, Owner.Name FROM Group ORDER BY Name");
        let by_name = |name: &str| {
            records
                .iter()
                .find(|r| r["Name"] == json!(name))
                .unwrap()
                .clone()
        };
        let role = by_name("CEO");
        assert_eq!(role["Related"]["attributes"]["type"], json!("UserRole"));
        assert_eq!(
            role["Related"]["attributes"]["url"],
            json!(format!(
                "/services/data/v66.0/sobjects/UserRole/{}",
                f.role_ceo
            ))
        );
        assert_eq!(role["Related"]["Name"], json!("CEO"));
        assert_eq!(role["Owner"]["attributes"]["type"], json!("Organization"));
        assert_eq!(role["Owner"]["Name"], json!("Acme"));
        let manager = by_name("Managers of Bob");
        assert_eq!(manager["Related"]["attributes"]["type"], json!("User"));
        assert_eq!(manager["Related"]["Name"], json!("Bob builder"));
        assert_eq!(by_name("Support Queue")["Related"], Json::Null);
    }

    #[test]
    fn polymorphic_paths_accept_a_field_of_any_target_and_null_it_elsewhere() {
        let f = fixture();
        // Username exists on User only; the Organization owner renders it as null.
        let records = f.records("SELECT Name, Owner.Username FROM Group ORDER BY Name");
        assert_eq!(records[0]["Name"], json!("CEO"));
        assert_eq!(records[0]["Owner"]["Username"], Json::Null);
        assert_eq!(records[1]["Owner"]["Username"], json!("alice@example.com"));
        let filtered = f.ids("SELECT Id FROM Group WHERE Owner.Username = 'ALICE@example.com'");
        assert_eq!(filtered, vec![f.group_queue, f.group_manager]);
    }

    #[test]
    fn selecting_a_field_twice_is_refused_whatever_the_spelling() {
        let f = fixture();
        for (soql, written) in [
            ("SELECT Id, Name, Id FROM User", "Id"),
            ("SELECT Id, name, NAME FROM User", "NAME"),
            (
                "SELECT Profile.Name, profile.name FROM User",
                "profile.name",
            ),
        ] {
            let error = f.error(soql);
            assert_eq!(error.code, "INVALID_FIELD", "{soql}");
            assert_eq!(
                error.message,
                format!("duplicate field selected: {written}")
            );
        }
        // A lookup field and its relationship are different columns.
        assert_eq!(f.records("SELECT ProfileId, Profile.Id FROM User").len(), 4);
    }

    #[test]
    fn render_skips_rows_deleted_after_the_query_and_shows_current_values() {
        let mut f = fixture();
        let result = f
            .run_as(&f.admin, "SELECT Id, Name FROM Group ORDER BY Name")
            .unwrap();
        assert_eq!(result.total_size(), 3);
        f.org.delete_raw(&f.group_queue);
        f.org.update_raw(&f.group_role, &[("Name", text("Chief"))]);
        let page = result.render(&f.org, 0..10);
        assert_eq!(page.len(), 2);
        assert_eq!(page[0]["Name"], json!("Chief"));
        assert_eq!(page[1]["Id"], json!(f.group_manager.to_string()));
        assert!(result.render(&f.org, 2..3).is_empty());
        assert!(result.render(&f.org, Range { start: 5, end: 2 }).is_empty());
    }

    // --- gates and visibility ---------------------------------------------------------------

    #[test]
    fn an_object_behind_a_gate_is_refused_with_403_naming_the_permissions() {
        let f = fixture();
        let error = f
            .run_as(&f.nobody, "SELECT Id FROM UserLicense")
            .unwrap_err();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert_eq!(error.code, "INSUFFICIENT_ACCESS_OR_READONLY");
        assert_eq!(
            error.message,
            "insufficient access rights on object UserLicense: requires View Setup and Configuration or Manage Users"
        );
        let error = f
            .run_as(&f.nobody, "SELECT Id FROM PermissionSet")
            .unwrap_err();
        assert!(
            error.message.starts_with(
                "insufficient access rights on object PermissionSet: requires View Setup and Configuration, Manage Users,"
            ),
            "{}",
            error.message
        );
        // Ungated objects are readable by any API user.
        assert_eq!(
            f.run_as(&f.nobody, "SELECT Id FROM User")
                .unwrap()
                .total_size(),
            4
        );
    }

    #[test]
    fn a_semi_join_object_is_gated_too() {
        let f = fixture();
        let error = f
            .run_as(
                &f.nobody,
                "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment)",
            )
            .unwrap_err();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert!(error.message.contains("PermissionSetAssignment"));
    }

    #[test]
    fn oauth_tokens_are_visible_to_their_owner_unless_the_caller_customizes_the_application() {
        let f = fixture();
        let own = f
            .run_as(&f.nobody, "SELECT Id, AppName FROM OauthToken")
            .unwrap();
        let page = own.render(&f.org, 0..own.len());
        assert_eq!(page.len(), 1);
        assert_eq!(page[0]["Id"], json!(f.token_bob.to_string()));
        assert_eq!(
            f.run_as(&f.nobody, "SELECT COUNT() FROM OauthToken")
                .unwrap()
                .total_size(),
            1
        );
        let mut viewer = f.admin.clone();
        viewer.permissions.remove(perm::CUSTOMIZE_APPLICATION);
        let ids = f.run_as(&viewer, "SELECT Id FROM OauthToken").unwrap();
        assert_eq!(
            ids.render(&f.org, 0..9)[0]["Id"],
            json!(f.token_alice.to_string())
        );
        assert_eq!(ids.total_size(), 1);
        assert_eq!(
            f.ids("SELECT Id FROM OauthToken"),
            vec![f.token_alice, f.token_bob]
        );
        // Semi-joins see the same rows.
        let users = f
            .run_as(
                &f.nobody,
                "SELECT Id FROM User WHERE Id IN (SELECT UserId FROM OauthToken)",
            )
            .unwrap();
        assert_eq!(
            users.render(&f.org, 0..9)[0]["Id"],
            json!(f.bob.to_string())
        );
        assert_eq!(users.total_size(), 1);
    }

    #[test]
    fn soft_deleted_rows_are_returned_only_by_query_all() {
        let f = fixture();
        assert_eq!(f.ids("SELECT Id FROM PermissionSetGroup"), vec![f.psg_live]);
        assert!(
            f.ids("SELECT Id FROM PermissionSetGroup WHERE IsDeleted = true")
                .is_empty()
        );
        let all = ExecOptions {
            include_deleted: true,
            ..options()
        };
        let result = execute(
            &f.org,
            &f.admin,
            "SELECT Id, IsDeleted FROM PermissionSetGroup",
            &all,
        )
        .unwrap();
        let page = result.render(&f.org, 0..result.len());
        assert_eq!(page.len(), 2);
        assert_eq!(page[1]["Id"], json!(f.psg_gone.to_string()));
        assert_eq!(page[1]["IsDeleted"], json!(true));
    }

    // --- WHERE: operators, types, nulls, case ------------------------------------------------

    #[test]
    fn text_equality_in_and_like_ignore_case() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Username = 'ALICE@EXAMPLE.COM'"),
            vec![f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department IN ('SALES', 'it')"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE 'bob%'"),
            vec![f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Title = 'ÄRZTIN'"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Title LIKE 'ärz%'"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department != 'IT'"),
            vec![f.bob, f.carol, f.dave],
            "!= with a non-null literal is true for null values"
        );
    }

    #[test]
    fn text_ordering_comparisons_ignore_case() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastName < 'C'"),
            vec![f.alice, f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastName >= 'b'"),
            vec![f.bob, f.carol, f.dave]
        );
    }

    #[test]
    fn numbers_datetimes_dates_booleans_and_ids_compare_by_type() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NumberOfFailedLogins > 1"),
            vec![f.bob, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NumberOfFailedLogins <= 1"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NumberOfFailedLogins < 2.5"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NumberOfFailedLogins IN (3, 10)"),
            vec![f.bob, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastLoginDate >= 2024-01-01T00:00:00Z"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastLoginDate < 2024-03-01T11:00:00+01:00"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastLoginDate = 2024-03-01T10:00:00.000Z"),
            vec![f.alice]
        );
        assert_eq!(
            f.records(
                "SELECT DeveloperName FROM PermissionSetLicense WHERE ExpirationDate > 2025-01-01"
            )[0]["DeveloperName"],
            json!("Late")
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE IsActive = false"),
            vec![f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE IsActive != false"),
            vec![f.alice, f.carol, f.dave]
        );
        assert_eq!(
            f.ids(&format!(
                "SELECT Id FROM User WHERE ManagerId = '{}'",
                f.alice
            )),
            vec![f.bob]
        );
        assert_eq!(
            f.ids(&format!(
                "SELECT Id FROM User WHERE ProfileId != '{}'",
                f.profile_std
            )),
            vec![f.alice]
        );
    }

    #[test]
    fn fifteen_character_and_case_folded_ids_match_their_eighteen_character_form() {
        let f = fixture();
        assert_eq!(
            f.ids(&format!(
                "SELECT Id FROM User WHERE Id = '{}'",
                f.carol.to_15()
            )),
            vec![f.carol]
        );
        assert_eq!(
            f.ids(&format!(
                "SELECT Id FROM User WHERE ManagerId IN ('{}')",
                f.bob.to_15()
            )),
            vec![f.carol]
        );
        let upper = f.carol.to_string().to_ascii_uppercase();
        assert_eq!(
            f.ids(&format!("SELECT Id FROM User WHERE Id = '{upper}'")),
            vec![f.carol]
        );
    }

    #[test]
    fn null_comparisons_are_false_except_equals_null_and_not_equals() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE ManagerId = null"),
            vec![f.alice, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE ManagerId != null"),
            vec![f.bob, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department = null"),
            vec![f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE LastLoginDate < 2030-01-01T00:00:00Z"),
            vec![f.alice, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department LIKE '%'"),
            vec![f.alice, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department IN ('IT')"),
            vec![f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department NOT IN ('IT')"),
            vec![f.bob, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department IN ('IT', null)"),
            vec![f.alice, f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department NOT IN ('IT', null)"),
            vec![f.carol, f.dave]
        );
        // Through a null lookup the parent's fields are null too.
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Manager.Name = null"),
            vec![f.alice, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Manager.Name != 'Bob builder'"),
            vec![f.alice, f.bob, f.dave]
        );
    }

    #[test]
    fn and_or_and_not_combine_conditions() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE IsActive = true AND (Department = 'IT' OR Department = 'sales')"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NOT (IsActive = true) OR NumberOfFailedLogins = 10"),
            vec![f.bob, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE NOT Department = 'IT'"),
            vec![f.bob, f.carol, f.dave]
        );
        assert_eq!(f.ids("SELECT Id FROM User WHERE Profile.Name = 'Standard User' AND Manager.IsActive = true"), vec![f.bob]);
    }

    #[test]
    fn like_supports_wildcards_and_escaped_wildcards() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE '%n%'"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE 'Car_l Ng'"),
            vec![f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE 'Carol_Ng_'"),
            Vec::<SfId>::new()
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE '%100\\%'"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE '%1_0\\%'"),
            vec![f.dave]
        );
        assert!(
            f.ids("SELECT Id FROM User WHERE Name LIKE '%10\\%'")
                .is_empty()
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Username LIKE '%\\_%'"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department LIKE 'sales\\_%'"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Department LIKE 'sales'"),
            vec![f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE '%%a%%n%'"),
            vec![f.alice, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Name LIKE ''"),
            Vec::<SfId>::new()
        );
    }

    #[test]
    fn like_on_a_field_that_is_not_text_is_refused() {
        let f = fixture();
        for (soql, kind) in [
            ("SELECT Id FROM User WHERE Id LIKE '005%'", "id"),
            ("SELECT Id FROM User WHERE ProfileId LIKE '00e%'", "id"),
            ("SELECT Id FROM User WHERE IsActive LIKE 'true'", "boolean"),
            (
                "SELECT Id FROM User WHERE LastLoginDate LIKE '2024%'",
                "dateTime",
            ),
        ] {
            let at = soql
                .split_whitespace()
                .skip(5)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            assert_error_at(
                &f.error(soql),
                soql,
                "INVALID_QUERY_FILTER_OPERATOR",
                &at,
                &format!("invalid operator on {kind} field"),
            );
        }
    }

    #[test]
    fn literals_of_the_wrong_type_are_refused_with_salesforce_wording() {
        let f = fixture();
        for (soql, field, detail) in [
            (
                "SELECT Id FROM User WHERE IsActive = 'true'",
                "IsActive",
                "value of filter criterion for field 'IsActive' must be of type boolean and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE IsActive = 1",
                "IsActive",
                "value of filter criterion for field 'IsActive' must be of type boolean and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE LastLoginDate > 2024-01-01",
                "LastLoginDate",
                "value of filter criterion for field 'LastLoginDate' must be of type dateTime and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE LastLoginDate > '2024-01-01T00:00:00Z'",
                "LastLoginDate",
                "value of filter criterion for field 'LastLoginDate' must be of type dateTime and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM PermissionSetLicense WHERE ExpirationDate > 2024-01-01T00:00:00Z",
                "ExpirationDate",
                "value of filter criterion for field 'ExpirationDate' must be of type date and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE NumberOfFailedLogins = '3'",
                "NumberOfFailedLogins",
                "value of filter criterion for field 'NumberOfFailedLogins' must be of type integer and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE Name = 5",
                "Name",
                "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE Department IN ('IT', true)",
                "Department",
                "value of filter criterion for field 'Department' must be of type string and should be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE Manager.IsActive = 'false'",
                "Manager",
                "value of filter criterion for field 'Manager.IsActive' must be of type boolean and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM User WHERE ManagerId = false",
                "ManagerId",
                "value of filter criterion for field 'ManagerId' must be of type id and should be enclosed in quotes",
            ),
        ] {
            assert_error_at(
                &f.error(soql),
                soql,
                "INVALID_QUERY_FILTER_OPERATOR",
                field,
                detail,
            );
        }
    }

    #[test]
    fn an_id_literal_that_is_not_an_id_is_an_invalid_id_field() {
        let f = fixture();
        for (soql, written) in [
            ("SELECT Id FROM User WHERE Id = 'abc'", "abc"),
            (
                "SELECT Id FROM User WHERE ProfileId IN ('00e5g000000000aBBB', 'x')",
                "00e5g000000000aBBB",
            ),
            (
                "SELECT Id FROM User WHERE Id > '005xx000001Sv6eAAA'",
                "005xx000001Sv6eAAA",
            ),
            ("SELECT Id FROM User WHERE Id = 42", "42"),
            ("SELECT Id FROM User WHERE Id = ''", ""),
        ] {
            let at = soql
                .split_whitespace()
                .skip(5)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            assert_error_at(
                &f.error(soql),
                soql,
                "INVALID_QUERY_FILTER_OPERATOR",
                &at,
                &format!("invalid ID field: {written}"),
            );
        }
    }

    #[test]
    fn ordering_operators_on_booleans_and_null_are_refused() {
        let f = fixture();
        let soql = "SELECT Id FROM User WHERE IsActive > false";
        assert_error_at(
            &f.error(soql),
            soql,
            "INVALID_QUERY_FILTER_OPERATOR",
            "IsActive",
            "invalid operator on boolean field",
        );
        let soql = "SELECT Id FROM User WHERE Name < null";
        assert_error_at(
            &f.error(soql),
            soql,
            "INVALID_QUERY_FILTER_OPERATOR",
            "Name",
            "invalid operator for a null value: <",
        );
    }

    // --- semi-joins and anti-joins -----------------------------------------------------------

    #[test]
    fn semi_joins_keep_rows_whose_id_the_subquery_selects() {
        let f = fixture();
        assert_eq!(
            f.ids(&format!(
                "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = '{}')",
                f.ps_sales
            )),
            vec![f.bob, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM PermissionSet WHERE Id IN (SELECT PermissionSetId FROM PermissionSetAssignment WHERE Assignee.IsActive = true) AND IsOwnedByProfile = false"),
            vec![f.ps_sales, f.ps_support]
        );
        // A reference on the left, one relationship level in the inner select.
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE ProfileId IN (SELECT Assignee.ProfileId FROM PermissionSetAssignment WHERE PermissionSet.Name = 'X00ex000000')"),
            vec![f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM Group WHERE RelatedId IN (SELECT Id FROM User WHERE IsActive = false)"),
            vec![f.group_manager]
        );
    }

    #[test]
    fn anti_joins_keep_rows_whose_id_the_subquery_does_not_select() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM PermissionSet WHERE Id NOT IN (SELECT PermissionSetId FROM PermissionSetAssignment WHERE Assignee.Name LIKE 'c%')"),
            vec![f.ps_profile]
        );
        // Null values are kept by an anti-join, as by NOT IN: the queue has no related record.
        assert_eq!(
            f.ids("SELECT Id FROM Group WHERE RelatedId NOT IN (SELECT UserRoleId FROM User WHERE IsActive = true)"),
            vec![f.group_queue, f.group_manager]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment) AND Id NOT IN (SELECT UserOrGroupId FROM GroupMember)"),
            vec![f.alice, f.bob, f.dave]
        );
    }

    #[test]
    fn semi_joins_are_refused_where_salesforce_refuses_them() {
        let f = fixture();
        let cases = [
            (
                "SELECT Id FROM User WHERE IsActive = true OR Id IN (SELECT AssigneeId FROM PermissionSetAssignment)",
                "MALFORMED_QUERY",
                "Id IN",
                "Semi join sub-selects are not allowed with the 'OR' operator".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE NOT Id IN (SELECT AssigneeId FROM PermissionSetAssignment)",
                "MALFORMED_QUERY",
                "Id IN",
                "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions.".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE IsActive = true AND (Name = 'x' OR Id IN (SELECT AssigneeId FROM PermissionSetAssignment))",
                "MALFORMED_QUERY",
                "Id IN",
                "Semi join sub-selects are only allowed at the top level WHERE expressions and not in nested WHERE expressions.".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Name IN (SELECT AssigneeId FROM PermissionSetAssignment)",
                "INVALID_FIELD",
                "Name IN",
                "Semi join and anti join sub-selects can only filter on an Id or a reference field, not 'Name'".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Manager.Id IN (SELECT AssigneeId FROM PermissionSetAssignment)",
                "MALFORMED_QUERY",
                "Manager.Id",
                "Semi join and anti join sub-selects can't filter on a relationship field: Manager.Id".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Id IN (SELECT IsActive FROM PermissionSetAssignment)",
                "INVALID_FIELD",
                "IsActive",
                "Semi join sub-selects must select an Id or a reference field, not 'IsActive'".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Id IN (SELECT Assignee.Manager.Id FROM PermissionSetAssignment)",
                "MALFORMED_QUERY",
                "Assignee",
                "inner select field cannot have more than one level of relationships".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment ORDER BY AssigneeId)",
                "MALFORMED_QUERY",
                "AssigneeId)",
                "ORDER BY is not supported in semi join sub-selects".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment LIMIT 1)",
                "MALFORMED_QUERY",
                "PermissionSetAssignment",
                "LIMIT and OFFSET are not supported in semi join sub-selects".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE ManagerId IN (SELECT Id FROM User WHERE IsActive = false)",
                "MALFORMED_QUERY",
                "User WHERE IsActive",
                "The inner and outer selects should not be on the same object type".to_string(),
            ),
            (
                "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM Nope)",
                "INVALID_TYPE",
                "Nope",
                "sObject type 'Nope' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.".to_string(),
            ),
        ];
        for (soql, code, at, detail) in cases {
            assert_error_at(&f.error(soql), soql, code, at, &detail);
        }
        let soql = "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment) AND ManagerId IN (SELECT OwnerId FROM Group) AND ProfileId IN (SELECT ProfileId FROM PermissionSet)";
        let error = f.error(soql);
        assert_eq!(error.code, "MALFORMED_QUERY");
        assert!(
            error.message.contains("No more than 2"),
            "{}",
            error.message
        );
    }

    // --- ORDER BY, LIMIT, OFFSET -------------------------------------------------------------

    #[test]
    fn order_by_sorts_by_several_keys_in_either_direction_ignoring_case() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY LastName"),
            vec![f.alice, f.bob, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY LastName DESC"),
            vec![f.dave, f.carol, f.bob, f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY IsActive DESC, NumberOfFailedLogins DESC"),
            vec![f.dave, f.carol, f.alice, f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY ProfileId, Username DESC"),
            vec![f.alice, f.dave, f.carol, f.bob]
        );
    }

    #[test]
    fn nulls_come_first_ascending_and_last_descending_unless_told() {
        let f = fixture();
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Department"),
            vec![f.bob, f.alice, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Department DESC"),
            vec![f.dave, f.carol, f.alice, f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Department NULLS LAST"),
            vec![f.alice, f.carol, f.dave, f.bob]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Department DESC NULLS FIRST"),
            vec![f.bob, f.dave, f.carol, f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY LastLoginDate ASC NULLS LAST"),
            vec![f.dave, f.alice, f.carol, f.bob]
        );
    }

    #[test]
    fn order_by_a_parent_path_and_ties_broken_by_id() {
        let f = fixture();
        // Alice and Dave have no manager (nulls first, tied by Id); Bob's manager is
        // "Alice Admin", Carol's "Bob builder".
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Manager.Name"),
            vec![f.alice, f.dave, f.bob, f.carol]
        );
        // "System Administrator" sorts after "Standard User"; the three standard users tie.
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Profile.Name DESC"),
            vec![f.alice, f.bob, f.carol, f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Profile.Name, Id DESC"),
            vec![f.dave, f.carol, f.bob, f.alice]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY IsActive"),
            vec![f.bob, f.alice, f.carol, f.dave]
        );
    }

    #[test]
    fn limit_and_offset_slice_the_ordered_result_and_total_size_counts_returned_rows() {
        let f = fixture();
        let result = f
            .run_as(&f.admin, "SELECT Id FROM User ORDER BY LastName LIMIT 2")
            .unwrap();
        assert_eq!(result.total_size(), 2);
        assert_eq!(result.len(), 2);
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY LastName LIMIT 2 OFFSET 1"),
            vec![f.bob, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY LastName OFFSET 3"),
            vec![f.dave]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User LIMIT 2 OFFSET 1"),
            vec![f.bob, f.carol]
        );
        assert_eq!(
            f.ids("SELECT Id FROM User ORDER BY Id DESC LIMIT 2 OFFSET 1"),
            vec![f.carol, f.bob]
        );
        assert!(f.ids("SELECT Id FROM User LIMIT 0").is_empty());
        assert!(
            f.ids("SELECT Id FROM User ORDER BY Name LIMIT 0")
                .is_empty()
        );
        assert!(f.ids("SELECT Id FROM User OFFSET 10").is_empty());
        assert_eq!(
            f.run_as(&f.admin, "SELECT Id FROM User")
                .unwrap()
                .total_size(),
            4
        );
    }

    #[test]
    fn offset_above_two_thousand_is_out_of_range() {
        let f = fixture();
        assert!(
            f.run_as(&f.admin, "SELECT Id FROM User OFFSET 2000")
                .is_ok()
        );
        let error = f.error("SELECT Id FROM User LIMIT 10 OFFSET 2001");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "NUMBER_OUTSIDE_VALID_RANGE");
        assert_eq!(error.message, "Maximum SOQL offset allowed is 2000");
    }

    // --- COUNT() and aggregates --------------------------------------------------------------

    #[test]
    fn count_reports_only_total_size() {
        let f = fixture();
        let result = f
            .run_as(&f.admin, "SELECT COUNT() FROM User WHERE IsActive = true")
            .unwrap();
        assert_eq!(result.total_size(), 3);
        assert_eq!(result.len(), 0);
        assert!(result.render(&f.org, 0..10).is_empty());
        assert_eq!(result.object().name, "User");
        assert_eq!(
            f.run_as(&f.admin, "SELECT COUNT() FROM User LIMIT 2")
                .unwrap()
                .total_size(),
            2
        );
        assert_eq!(
            f.run_as(&f.admin, "SELECT COUNT() FROM GroupMember WHERE Id = null")
                .unwrap()
                .total_size(),
            0
        );
        let soql = "SELECT COUNT() FROM User ORDER BY Name";
        assert_error_at(
            &f.error(soql),
            soql,
            "MALFORMED_QUERY",
            "Name",
            "Ordered field must be grouped or aggregated: Name",
        );
    }

    #[test]
    fn aggregates_without_group_by_return_one_aggregate_result() {
        let f = fixture();
        let result = f
            .run_as(
                &f.admin,
                "SELECT COUNT(Department), MAX(LastLoginDate) latest, MIN(Name), COUNT(Id), MAX(Manager.Name) FROM User",
            )
            .unwrap();
        assert_eq!(result.total_size(), 1);
        assert_eq!(result.len(), 1);
        assert_eq!(
            result.render(&f.org, 0..1),
            vec![json!({
                "attributes": {"type": "AggregateResult"},
                "expr0": 3,
                "latest": "2024-06-15T00:00:00.000+0000",
                "expr1": "Alice Admin",
                "expr2": 4,
                "expr3": "Bob builder"
            })]
        );
        let empty = f
            .run_as(
                &f.admin,
                "SELECT MAX(Name), COUNT(Id) c FROM User WHERE Name = 'nobody'",
            )
            .unwrap();
        assert_eq!(
            empty.render(&f.org, 0..1),
            vec![json!({"attributes": {"type": "AggregateResult"}, "expr0": null, "c": 0})]
        );
        let ids = f
            .run_as(&f.admin, "SELECT MIN(Id), MAX(ProfileId) FROM User")
            .unwrap();
        assert_eq!(
            ids.render(&f.org, 0..1)[0]["expr0"],
            json!(f.alice.to_string())
        );
        assert_eq!(
            ids.render(&f.org, 0..1)[0]["expr1"],
            json!(f.profile_std.to_string())
        );
    }

    #[test]
    fn aggregates_refuse_booleans_mixed_fields_and_duplicate_aliases() {
        let f = fixture();
        let soql = "SELECT MAX(IsActive) FROM User";
        assert_error_at(
            &f.error(soql),
            soql,
            "MALFORMED_QUERY",
            "IsActive",
            "field IsActive does not support aggregate operator MAX",
        );
        let soql = "SELECT Id, COUNT(Name) FROM User";
        assert_error_at(
            &f.error(soql),
            soql,
            "MALFORMED_QUERY",
            "Id",
            "Field must be grouped or aggregated: Id",
        );
        let soql = "SELECT MAX(Name) n, MIN(Name) N FROM User";
        assert_error_at(
            &f.error(soql),
            soql,
            "MALFORMED_QUERY",
            "N FROM",
            "duplicate alias: N",
        );
        let soql = "SELECT MAX(Nope) FROM User";
        assert_eq!(f.error(soql).code, "INVALID_FIELD");
    }

    // --- the ID-range fast path --------------------------------------------------------------

    /// An org with `n` group members in two groups, for range tests.
    fn members(n: u64) -> (Org, Vec<SfId>, [SfId; 2]) {
        let mut org = fixture().org;
        let groups = [
            org.insert_raw("Group", &[("Name", text("Even"))]),
            org.insert_raw("Group", &[("Name", text("Odd"))]),
        ];
        let mut ids: Vec<SfId> = org
            .table("GroupMember")
            .unwrap()
            .rows
            .keys()
            .copied()
            .collect();
        for i in 0..n {
            ids.push(org.insert_raw(
                "GroupMember",
                &[
                    ("GroupId", Value::Id(groups[(i % 2) as usize])),
                    (
                        "UserOrGroupId",
                        Value::Id(SfId::from_counter("005", "5g", i % 7)),
                    ),
                ],
            ));
        }
        ids.sort();
        (org, ids, groups)
    }

    fn run_ids(org: &Org, soql: &str) -> Vec<SfId> {
        let admin = Caller {
            user_id: SfId::from_counter("005", "5g", 1),
            permissions: schema::PERMISSIONS.iter().copied().collect(),
        };
        let result =
            execute(org, &admin, soql, &options()).unwrap_or_else(|e| panic!("{soql}: {e}"));
        assert_eq!(result.total_size(), result.len());
        result
            .render(org, 0..result.len())
            .iter()
            .map(|r| SfId::parse(r["Id"].as_str().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn id_chunks_page_through_a_table_exactly_once() {
        let (org, ids, _) = members(250);
        let mut seen = Vec::new();
        let mut soql = "SELECT Id FROM GroupMember ORDER BY Id LIMIT 40".to_string();
        loop {
            let chunk = run_ids(&org, &soql);
            let Some(last) = chunk.last() else { break };
            soql = format!("SELECT Id FROM GroupMember WHERE Id > '{last}' ORDER BY Id LIMIT 40");
            seen.extend(chunk);
        }
        assert_eq!(seen, ids);
    }

    #[test]
    fn contradictory_id_bounds_return_nothing_without_panicking() {
        let (org, ids, _) = members(20);
        let (a, b) = (ids[5], ids[10]);
        assert!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id > '{b}' AND Id < '{a}'")
            )
            .is_empty()
        );
        assert!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id > '{a}' AND Id < '{a}'")
            )
            .is_empty()
        );
        assert!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id >= '{a}' AND Id < '{a}'")
            )
            .is_empty()
        );
        assert_eq!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id >= '{a}' AND Id <= '{a}'")
            ),
            vec![a]
        );
        assert!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id = '{a}' AND Id > '{a}'")
            )
            .is_empty()
        );
        assert_eq!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id IN ('{a}', '{b}') AND Id > '{a}'")
            ),
            vec![b]
        );
        assert_eq!(
            run_ids(
                &org,
                &format!("SELECT Id FROM GroupMember WHERE Id IN ('{b}', '{a}') ORDER BY Id DESC")
            ),
            vec![b, a]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn id_range_queries_return_exactly_what_a_full_scan_returns(
            lower in proptest::option::of((0u64..140, any::<bool>(), any::<bool>())),
            upper in proptest::option::of((0u64..140, any::<bool>(), any::<bool>())),
            group in proptest::option::of(0usize..2),
            descending in any::<bool>(),
            ordered in any::<bool>(),
            limit in proptest::option::of(0usize..60),
            offset in proptest::option::of(0usize..30),
            parenthesised in any::<bool>(),
        ) {
            let (org, _, groups) = members(120);
            let table = org.table("GroupMember").unwrap();
            let bound = |(n, inclusive, short): (u64, bool, bool), greater: bool| {
                let id = SfId::from_counter("011", "5g", n);
                let written = if short { id.to_15().to_string() } else { id.to_string() };
                let op = match (greater, inclusive) {
                    (true, true) => ">=",
                    (true, false) => ">",
                    (false, true) => "<=",
                    (false, false) => "<",
                };
                let keep = move |x: &SfId| match (greater, inclusive) {
                    (true, true) => *x >= id,
                    (true, false) => *x > id,
                    (false, true) => *x <= id,
                    (false, false) => *x < id,
                };
                (format!("Id {op} '{written}'"), format!("NOT (Id {} '{written}')", match op {
                    ">=" => "<", ">" => "<=", "<=" => ">", _ => ">=",
                }), keep)
            };
            let mut fast = Vec::new();
            let mut slow = Vec::new();
            let mut expected: Vec<SfId> = table.rows.keys().copied().collect();
            for (spec, greater) in [(lower, true), (upper, false)] {
                if let Some(spec) = spec {
                    let (condition, negated, keep) = bound(spec, greater);
                    fast.push(condition);
                    slow.push(negated);
                    expected.retain(keep);
                }
            }
            if let Some(g) = group {
                let condition = format!("GroupId = '{}'", groups[g]);
                fast.push(condition.clone());
                slow.push(condition);
                expected.retain(|id| table.rows[id].values[1] == Value::Id(groups[g]));
            }
            if ordered && descending {
                expected.reverse();
            }
            let offset_n = offset.unwrap_or(0);
            let expected: Vec<SfId> = expected
                .into_iter()
                .skip(offset_n)
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            let tail = format!(
                "{}{}{}",
                if ordered { if descending { " ORDER BY Id DESC" } else { " ORDER BY Id" } } else { "" },
                limit.map_or(String::new(), |n| format!(" LIMIT {n}")),
                offset.map_or(String::new(), |n| format!(" OFFSET {n}")),
            );
            let query = |conditions: &[String]| {
                let mut conditions = conditions.to_vec();
                if parenthesised && conditions.len() >= 2 {
                    // `(a AND b) AND c` narrows the scan like `a AND b AND c`.
                    let first = conditions.remove(0);
                    conditions[0] = format!("({first} AND {})", conditions[0]);
                }
                if conditions.is_empty() {
                    format!("SELECT Id FROM GroupMember{tail}")
                } else {
                    format!("SELECT Id FROM GroupMember WHERE {}{tail}", conditions.join(" AND "))
                }
            };
            prop_assert_eq!(&run_ids(&org, &query(&fast)), &expected);
            prop_assert_eq!(&run_ids(&org, &query(&slow)), &expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_query_text_makes_the_executor_panic(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "SELECT", "Id", "Name", "COUNT()", "COUNT(Id)", "MAX(Name)", "FROM", "User",
                    "Group", "PermissionSetAssignment", "WHERE", "AND", "OR", "NOT", "(", ")", ",",
                    "=", "!=", "<", ">=", "LIKE", "IN", "'x'", "'005000000000000'", "null", "true",
                    "1", "2024-01-01", "2024-01-01T00:00:00Z", "ORDER", "BY", "DESC", "NULLS",
                    "LAST", "LIMIT", "OFFSET", "Profile.Name", "Manager.Manager.Id", "Owner.Name",
                    "(SELECT", "AssigneeId", "ManagerId", "IsActive", "'%_\\%'", "2001",
                ]),
                0..24,
            ),
        ) {
            let f = fixture();
            let soql = words.join(" ");
            for caller in [&f.admin, &f.nobody] {
                if let Ok(result) = f.run_as(caller, &soql) {
                    let _ = result.render(&f.org, 0..result.len() + 1);
                }
            }
        }

        #[test]
        fn no_well_formed_query_makes_the_executor_panic(
            select in prop_oneof![
                4 => proptest::collection::vec(
                    proptest::sample::select(vec![
                        "Id", "Name", "Owner.Name", "Related.Name", "Owner.Username", "Type",
                        "CreatedDate", "DeveloperName", "Related.ParentRole.Name", "Nope",
                    ]),
                    1..4,
                ),
                1 => Just(vec!["COUNT()"]),
                1 => proptest::collection::vec(
                    proptest::sample::select(vec![
                        "COUNT(Id)", "MAX(Name) m", "MIN(CreatedDate)", "MAX(Owner.Name)",
                        "MIN(DoesIncludeBosses)",
                    ]),
                    1..3,
                ),
            ],
            from in proptest::sample::select(vec!["Group", "Group", "Group", "group", "Nope"]),
            conditions in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "Name = 'CEO'", "Name != null", "Type IN ('Queue', 'role')",
                        "Owner.Name LIKE '%a%'", "Related.Name = null", "Related.Name != 'x'",
                        "CreatedDate < 2024-01-01T00:00:00Z", "DoesIncludeBosses = true",
                        "Id > '00G5g0000000001'", "Id <= '00G5g0000000002AAA'",
                        "Id IN (SELECT GroupId FROM GroupMember)",
                        "OwnerId NOT IN (SELECT Id FROM User WHERE IsActive = false)",
                        "Name = 5", "Nope = 1", "Owner.Username = 'alice@example.com'",
                    ]),
                    any::<bool>(),
                ),
                0..4,
            ),
            joiner in proptest::sample::select(vec![" AND ", " OR "]),
            order in proptest::option::of((
                proptest::sample::select(vec!["Id", "Name", "Owner.Name", "CreatedDate", "Type", "Related.Name"]),
                proptest::sample::select(vec!["", " DESC", " NULLS LAST", " DESC NULLS FIRST"]),
            )),
            limit in proptest::option::of(0u32..5),
            offset in proptest::option::of(0u32..3),
            include_deleted in any::<bool>(),
        ) {
            let f = fixture();
            let mut soql = format!("SELECT {} FROM {from}", select.join(", "));
            if !conditions.is_empty() {
                let parts: Vec<String> = conditions
                    .iter()
                    .map(|(condition, not)| {
                        if *not { format!("NOT ({condition})") } else { (*condition).to_string() }
                    })
                    .collect();
                soql.push_str(" WHERE ");
                soql.push_str(&parts.join(joiner));
            }
            if let Some((field, direction)) = order {
                soql.push_str(&format!(" ORDER BY {field}{direction}"));
            }
            if let Some(limit) = limit {
                soql.push_str(&format!(" LIMIT {limit}"));
            }
            if let Some(offset) = offset {
                soql.push_str(&format!(" OFFSET {offset}"));
            }
            let options = ExecOptions { include_deleted, ..options() };
            for caller in [&f.admin, &f.nobody] {
                match execute(&f.org, caller, &soql, &options) {
                    Ok(result) => {
                        let page = result.render(&f.org, 0..result.len() + 1);
                        prop_assert!(page.len() <= result.len());
                        prop_assert!(result.total_size() >= result.len() || result.len() == 1);
                    }
                    Err(error) => prop_assert!(
                        error.status == StatusCode::BAD_REQUEST || error.status == StatusCode::FORBIDDEN,
                        "{soql}: {error}"
                    ),
                }
            }
        }
    }

    #[test]
    fn the_fixture_ids_are_used() {
        // Keeps every fixture field meaningful for readers: each names a distinct record.
        let f = fixture();
        let all = [
            f.organization,
            f.profile_admin,
            f.profile_std,
            f.role_ceo,
            f.alice,
            f.bob,
            f.carol,
            f.dave,
            f.ps_profile,
            f.ps_sales,
            f.ps_support,
            f.group_role,
            f.group_queue,
            f.group_manager,
            f.psg_live,
            f.psg_gone,
            f.token_alice,
            f.token_bob,
        ];
        let distinct: BTreeSet<SfId> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
    }
}
