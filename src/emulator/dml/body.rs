//! Request bodies of sObject writes: resolving field names, JSON type checks, field-level
//! writability, and the checks every object shares (required fields, lengths, email shape,
//! restricted picklists, lookups). Object-specific rules live in `rules.rs`.
//!
//! Nothing here writes to the org.

use serde_json::{Map, Value as Json};

use super::errors;
use crate::emulator::error::ApiError;
use crate::emulator::org::{Org, Value, parse_datetime};
use crate::emulator::schema::{FieldDef, FieldType, ObjectDef};
use crate::salesforce::SfId;

/// Whether a body is for an insert or an update: decides which fields are writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// POST: `createable` fields; every required field must end up set.
    Insert,
    /// PATCH: `updateable` fields; only the fields named in the body are checked.
    Update,
}

/// The record a write would produce: the old values (update) or defaults (insert) with the
/// body applied. Object rules read and adjust it before it is stored.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    /// The object.
    pub def: &'static ObjectDef,
    /// Insert or update.
    pub op: Op,
    /// One value per field of `def`, `Id` first (`Null` on insert until stored).
    pub values: Vec<Value>,
    /// The stored values before this write (update only).
    pub before: Option<Vec<Value>>,
    /// Fields the body named.
    pub provided: Vec<bool>,
}

impl Draft {
    /// A new record: `Null` everywhere, `false` for booleans (as `Org::insert_raw` stores).
    pub fn for_insert(def: &'static ObjectDef) -> Draft {
        Draft {
            def,
            op: Op::Insert,
            values: def
                .fields
                .iter()
                .map(|f| {
                    if f.ty == FieldType::Boolean {
                        Value::Bool(false)
                    } else {
                        Value::Null
                    }
                })
                .collect(),
            before: None,
            provided: vec![false; def.fields.len()],
        }
    }

    /// An existing record about to be updated.
    pub fn for_update(def: &'static ObjectDef, values: Vec<Value>) -> Draft {
        Draft {
            def,
            op: Op::Update,
            before: Some(values.clone()),
            provided: vec![false; values.len()],
            values,
        }
    }

    fn index(&self, field: &str) -> usize {
        self.def.field_index(field).unwrap_or_else(|| {
            panic!(
                "object rules only name fields of the schema; {}.{field} is missing",
                self.def.name
            )
        })
    }

    /// The record's ID (update only; `None` before an insert stores it).
    pub fn record_id(&self) -> Option<SfId> {
        self.values[0].as_id()
    }

    /// The value of a field.
    pub fn get(&self, field: &str) -> &Value {
        &self.values[self.index(field)]
    }

    /// The ID held by a lookup field.
    pub fn id(&self, field: &str) -> Option<SfId> {
        self.get(field).as_id()
    }

    /// The text of a field.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.get(field).as_text()
    }

    /// A boolean field (`false` when null).
    pub fn flag(&self, field: &str) -> bool {
        self.get(field).as_bool().unwrap_or(false)
    }

    /// The value before this write (update only).
    pub fn old(&self, field: &str) -> Option<&Value> {
        let index = self.index(field);
        self.before.as_ref().map(|b| &b[index])
    }

    /// Sets a derived value.
    pub fn set(&mut self, field: &str, value: Value) {
        let index = self.index(field);
        self.values[index] = value;
    }

    /// True when the body named this field.
    pub fn is_provided(&self, field: &str) -> bool {
        self.provided[self.index(field)]
    }

    /// True when this write changes the field (on insert: when it is set at all).
    pub fn changed(&self, field: &str) -> bool {
        let index = self.index(field);
        match &self.before {
            Some(before) => before[index] != self.values[index],
            None => !self.values[index].is_null(),
        }
    }

    /// Every field but `Id`, for `Org::insert_raw`.
    pub fn insert_pairs(&self) -> Vec<(&'static str, Value)> {
        self.def
            .fields
            .iter()
            .zip(&self.values)
            .skip(1)
            .map(|(f, v)| (f.name, v.clone()))
            .collect()
    }

    /// The fields this write changes, for `Org::update_raw`.
    pub fn update_pairs(&self) -> Vec<(&'static str, Value)> {
        let Some(before) = &self.before else {
            return self.insert_pairs();
        };
        self.def
            .fields
            .iter()
            .zip(self.values.iter().zip(before))
            .skip(1)
            .filter(|(_, (now, was))| now != was)
            .map(|(f, (now, _))| (f.name, now.clone()))
            .collect()
    }
}

/// Applies a client body to `draft`: resolves field names, checks JSON types and field
/// writability, converts values. The `attributes` key is ignored (collections carry it on
/// every record, single writes may). On update an `Id` equal to the record's is ignored too
/// (collections identify records that way).
pub(crate) fn apply_body(draft: &mut Draft, body: &Map<String, Json>) -> Result<(), ApiError> {
    let def = draft.def;
    let mut named: Vec<(usize, &Json)> = Vec::new();
    // Unknown fields and JSON type mismatches fail while Salesforce deserializes the body,
    // before any field-level check, so they come first and alone.
    for (key, json) in body {
        if key.eq_ignore_ascii_case("attributes") {
            continue;
        }
        let index = def
            .field_index(key)
            .ok_or_else(|| errors::invalid_field(def.name, key))?;
        check_json_type(&def.fields[index], json)?;
        named.push((index, json));
    }
    let mut not_writable = Vec::new();
    for &(index, json) in &named {
        let field = &def.fields[index];
        if field.ty == FieldType::Id {
            let same_record = draft.op == Op::Update
                && json
                    .as_str()
                    .and_then(|s| SfId::parse(s).ok())
                    .is_some_and(|id| Some(id) == draft.record_id());
            if !same_record {
                not_writable.push(field.name);
            }
            continue;
        }
        let writable = match draft.op {
            Op::Insert => field.createable,
            Op::Update => field.updateable,
        };
        if !writable {
            not_writable.push(field.name);
        }
    }
    if !not_writable.is_empty() {
        return Err(errors::not_writable(&not_writable));
    }
    for (index, json) in named {
        let field = &def.fields[index];
        if field.ty == FieldType::Id {
            continue;
        }
        draft.values[index] = convert(field, json)?;
        draft.provided[index] = true;
    }
    Ok(())
}

/// Salesforce's (Jackson's) name for a JSON token, used in `JSON_PARSER_ERROR` messages.
fn token(json: &Json) -> &'static str {
    match json {
        Json::Null => "VALUE_NULL",
        Json::Bool(true) => "VALUE_TRUE",
        Json::Bool(false) => "VALUE_FALSE",
        Json::Number(n) if n.is_i64() || n.is_u64() => "VALUE_NUMBER_INT",
        Json::Number(_) => "VALUE_NUMBER_FLOAT",
        Json::String(_) => "VALUE_STRING",
        Json::Array(_) => "START_ARRAY",
        Json::Object(_) => "START_OBJECT",
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::DateTime => "datetime",
        FieldType::Date => "date",
        FieldType::Id | FieldType::Reference => "id",
        FieldType::String | FieldType::Email | FieldType::Picklist => "string",
    }
}

/// `JSON_PARSER_ERROR` for a value of the wrong JSON type. Salesforce's text is longer
/// ("... or request may be missing a required field at [line:1, column:15]"); ours names
/// the field instead of the position.
pub(crate) fn parser_error(field: &str, ty: FieldType, json: &Json) -> ApiError {
    let shown = match json {
        Json::String(s) => format!(" value {s}"),
        Json::Number(_) | Json::Bool(_) => format!(" value {json}"),
        _ => String::new(),
    };
    ApiError::bad_request(
        "JSON_PARSER_ERROR",
        format!(
            "Cannot deserialize instance of {} from {}{shown} for field {field}",
            type_name(ty),
            token(json)
        ),
    )
}

fn check_json_type(field: &FieldDef, json: &Json) -> Result<(), ApiError> {
    let ok = match (field.ty, json) {
        (_, Json::Null) => true,
        (FieldType::Boolean, Json::Bool(_)) => true,
        (FieldType::Int, Json::Number(n)) => n.is_i64(),
        (
            FieldType::String
            | FieldType::Email
            | FieldType::Picklist
            | FieldType::DateTime
            | FieldType::Date
            | FieldType::Id
            | FieldType::Reference,
            Json::String(_),
        ) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(parser_error(field.name, field.ty, json))
    }
}

/// Converts a JSON value already known to have the right JSON type. Empty strings clear
/// text and lookups (Salesforce stores "" as null; baton clears `UserRoleId` with "").
fn convert(field: &FieldDef, json: &Json) -> Result<Value, ApiError> {
    let Some(text) = json.as_str() else {
        return Ok(match json {
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => n.as_i64().map_or(Value::Null, Value::Int),
            _ => Value::Null,
        });
    };
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match field.ty {
        FieldType::Reference | FieldType::Id => SfId::parse(text)
            .map(Value::Id)
            .map_err(|_| errors::malformed_reference(field.name, text)),
        FieldType::DateTime => parse_datetime(text)
            .map(Value::DateTime)
            .ok_or_else(|| parser_error(field.name, field.ty, json)),
        FieldType::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Value::Date)
            .map_err(|_| parser_error(field.name, field.ty, json)),
        _ => Ok(Value::text(text)),
    }
}

/// The checks every object shares, on the fields the body named (and, on insert, the
/// required fields): non-nillable fields set, text lengths, email shape, restricted
/// picklists, lookup targets.
pub(crate) fn validate(org: &Org, draft: &mut Draft) -> Result<(), ApiError> {
    let def = draft.def;
    // Required: createable, non-nillable, non-boolean fields on insert (booleans default to
    // false), and any non-nillable field the body sets to null.
    let missing: Vec<&str> = def
        .fields
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, f)| {
            let relevant = draft.provided[*i]
                || (draft.op == Op::Insert && f.createable && f.ty != FieldType::Boolean);
            relevant && !f.nillable && draft.values[*i].is_null()
        })
        .map(|(_, f)| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(errors::required_missing(&missing));
    }
    for (index, field) in def.fields.iter().enumerate() {
        if !draft.provided[index] {
            continue;
        }
        let value = draft.values[index].clone();
        if let Value::Text(text) = &value {
            if field.length > 0 && text.chars().count() > field.length {
                return Err(ApiError::bad_request(
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: {text} (max length={})",
                        field.name, field.length
                    ),
                )
                .with_fields([field.name]));
            }
            if field.ty == FieldType::Email && !is_email(text) {
                return Err(errors::invalid_email(field.name, text));
            }
            if field.ty == FieldType::Picklist
                && let Some((label, allowed)) = restricted_picklist(def.name, field.name)
            {
                let canonical = allowed
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(text))
                    .ok_or_else(|| errors::bad_picklist(label, field.name, text))?;
                draft.values[index] = Value::text(*canonical);
            }
        }
        if let (Value::Id(target), Some(reference)) = (&value, field.reference) {
            let points_to_allowed = org
                .get(target)
                .is_some_and(|(table, _)| reference.to.contains(&table.def.name));
            if !points_to_allowed {
                return Err(errors::invalid_cross_reference(field.name));
            }
        }
    }
    Ok(())
}

/// Loose email shape, as Salesforce checks it: `local@domain.tld`, no spaces.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(char::is_whitespace)
}

/// An API (developer) name: starts with a letter, letters, digits and underscores only, no
/// two underscores in a row, not ending in an underscore (Salesforce's rule for
/// PermissionSet.Name, DeveloperName fields).
pub(crate) fn is_api_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

/// Turns a label into an API name (`Sales Ops (EMEA)` -> `Sales_Ops_EMEA`), as Salesforce
/// fills DeveloperName when a client leaves it out.
pub(crate) fn api_name_from(label: &str, max: usize) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed: String = out
        .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        .chars()
        .take(max)
        .collect();
    let trimmed = trimmed.trim_end_matches('_').to_string();
    if trimmed.is_empty() {
        "X".to_string()
    } else {
        trimmed
    }
}

/// Time zones the emulator accepts for `TimeZoneSidKey` (a real subset of Salesforce's list).
pub const TIME_ZONES: &[&str] = &[
    "GMT",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Toronto",
    "America/Halifax",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
];

/// Locales the emulator accepts for `LocaleSidKey`.
pub const LOCALES: &[&str] = &[
    "en_US", "en_GB", "en_CA", "en_AU", "en_IE", "en_IN", "en_NZ", "de", "de_DE", "de_AT", "de_CH",
    "fr", "fr_FR", "fr_CA", "fr_BE", "fr_CH", "es", "es_ES", "es_MX", "it", "it_IT", "ja", "ja_JP",
    "ko", "ko_KR", "nl_NL", "pt_BR", "pt_PT", "sv", "sv_SE", "fi", "fi_FI", "da", "da_DK", "no",
    "no_NO", "pl", "pl_PL", "ru", "ru_RU", "tr", "tr_TR", "zh_CN", "zh_TW",
];

/// Languages the emulator accepts for `LanguageLocaleKey`.
pub const LANGUAGES: &[&str] = &[
    "en_US", "en_GB", "de", "fr", "es", "es_MX", "it", "ja", "ko", "nl_NL", "pt_BR", "sv", "fi",
    "da", "no", "pl", "ru", "tr", "zh_CN", "zh_TW",
];

/// Encodings the emulator accepts for `EmailEncodingKey`.
pub const EMAIL_ENCODINGS: &[&str] = &[
    "UTF-8",
    "ISO-8859-1",
    "Shift_JIS",
    "ISO-2022-JP",
    "EUC-JP",
    "ks_c_5601-1987",
    "Big5",
    "GB2312",
    "Big5-HKSCS",
    "x-SJIS_0213",
];

/// The label and allowed values of a restricted picklist field, when the emulator checks it.
pub(crate) fn restricted_picklist(
    object: &str,
    field: &str,
) -> Option<(&'static str, &'static [&'static str])> {
    match (object, field) {
        ("User", "TimeZoneSidKey") => Some(("Time Zone", TIME_ZONES)),
        ("User", "LocaleSidKey") => Some(("Locale", LOCALES)),
        ("User", "LanguageLocaleKey") => Some(("Language", LANGUAGES)),
        ("User", "EmailEncodingKey") => Some(("Email Encoding", EMAIL_ENCODINGS)),
        // Facts 5.10: only public groups and queues can be created through the API.
        ("Group", "Type") => Some(("Type", &["Regular", "Queue"])),
        ("UserRole", "PortalType") => Some(("Portal Type", &["None", "CustomerPortal", "Partner"])),
        ("UserRole", "OpportunityAccessForAccountOwner") => {
            Some(("Opportunity Access", &["None", "Read", "Edit"]))
        }
        ("UserRole", "CaseAccessForAccountOwner") => {
            Some(("Case Access", &["None", "Read", "Edit"]))
        }
        _ => None,
    }
}
