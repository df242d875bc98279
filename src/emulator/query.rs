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
    /// Plain records: their IDs in result order and how to render one.
    Records { ids: Vec<SfId>, plan: Vec<Node> },
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
            Rows::Records { ids, plan } => ids[start..end]
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
    /// The whole `WHERE` condition or an operand of its top-level ANDs.
    Top,
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
        let conjuncts: &[Pred] = match pred {
            Some(Pred::And(operands)) => operands,
            Some(other) => std::slice::from_ref(other),
            None => &[],
        };
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
                Pred::And(_) => {
                    // Nested ANDs (from parentheses) are rare in paging queries; they are
                    // still evaluated per row.
                }
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
                result.rows = Rows::Records { ids, plan };
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
                let inner = if place == Place::Top {
                    Place::Top
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
                    Place::Top => {}
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
                let ids = self.semi_join(query)?;
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
    fn semi_join(&self, query: &Query) -> Result<HashSet<SfId>, ApiError> {
        let text = self.text;
        let root = resolve_object(text, &query.from)?;
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
