//! sObject writes and reads as pure functions over the in-memory org: create, retrieve,
//! update and delete one record (facts 3.6) and sObject Collections (facts 3.7), with
//! Salesforce's validation, automatic behaviour and error shapes (facts 4, 5, 9 items 6-9).
//!
//! The HTTP routes call these and turn `ApiError` into the error array; this module knows
//! nothing of HTTP beyond status codes. It must not bypass the org's transactions: every
//! write, with the records it derives, is atomic, and `allOrNone` collections roll back
//! as a whole.
//!
//! Layout: `body` parses and checks request bodies, `rules` holds per-object behaviour,
//! `errors` the error constructors.

mod body;
mod errors;
mod rules;
#[cfg(test)]
mod tests;

use axum::http::StatusCode;
use serde_json::{Map, Value as Json, json};

use self::body::Draft;
use super::caller::Caller;
use super::error::ApiError;
use super::org::Org;
use super::schema::{self, ObjectDef};
use crate::salesforce::SfId;

pub use self::body::{EMAIL_ENCODINGS, LANGUAGES, LOCALES, TIME_ZONES};

/// The most records (or IDs) one sObject Collections call accepts (facts 3.7).
pub const COLLECTION_LIMIT: usize = 200;

/// `POST /sobjects/{object}`: inserts one record and returns its ID (for a duplicate
/// GroupMember, the existing membership's ID, facts 5.11).
pub fn create(
    org: &mut Org,
    caller: &Caller,
    object: &str,
    body: &Map<String, Json>,
) -> Result<SfId, ApiError> {
    let def = schema::object(object).ok_or_else(ApiError::not_found)?;
    if !def.createable {
        // The type resource only ever allows reads besides POST.
        return Err(errors::method_not_allowed("POST", &["HEAD", "GET"]));
    }
    atomic(org, |org| insert_record(org, caller, def, body))
}

/// `PATCH /sobjects/{object}/{id}`: updates one record.
pub fn update(
    org: &mut Org,
    caller: &Caller,
    object: &str,
    id: &str,
    body: &Map<String, Json>,
) -> Result<(), ApiError> {
    let def = schema::object(object).ok_or_else(ApiError::not_found)?;
    if !def.updateable {
        return Err(errors::method_not_allowed("PATCH", &record_methods(def)));
    }
    let id = record_id_in_path(org, def, id)?;
    atomic(org, |org| update_record(org, caller, def, id, body))
}

/// `DELETE /sobjects/{object}/{id}`: deletes one record. Users are never deletable
/// (facts 5.1): the User resource answers 405.
pub fn delete(org: &mut Org, caller: &Caller, object: &str, id: &str) -> Result<(), ApiError> {
    let def = schema::object(object).ok_or_else(ApiError::not_found)?;
    if !def.deletable {
        return Err(errors::method_not_allowed("DELETE", &record_methods(def)));
    }
    let id = record_id_in_path(org, def, id)?;
    atomic(org, |org| delete_record(org, caller, def, id))
}

/// `GET /sobjects/{object}/{id}[?fields=A,B]`: one record with `attributes` first, then every
/// field (or the listed ones, in the order given) under its canonical name.
pub fn retrieve(
    org: &Org,
    caller: &Caller,
    object: &str,
    id: &str,
    fields: Option<&str>,
    api_version: &str,
) -> Result<Json, ApiError> {
    let def = schema::object(object).ok_or_else(ApiError::not_found)?;
    if !caller.passes(def.read_gate) {
        // Facts 4.3: reads refused for permissions answer 403 (UNCERTAIN status).
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_ACCESS_OR_READONLY",
            "insufficient access rights on object id",
        ));
    }
    let id = record_id_in_path(org, def, id)?;
    let (table, record) = org.get(&id).ok_or_else(ApiError::not_found)?;
    let mut indexes: Vec<usize> = Vec::new();
    for name in fields.unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let index = def
            .field_index(name)
            .ok_or_else(|| errors::invalid_field(def.name, name))?;
        if !indexes.contains(&index) {
            indexes.push(index);
        }
    }
    if indexes.is_empty() {
        indexes = (0..def.fields.len()).collect();
    } else if !indexes.contains(&0) {
        // UNCERTAIN [mem]: Salesforce adds Id to a `fields=` retrieve.
        indexes.push(0);
    }
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({
            "type": def.name,
            "url": format!("/services/data/v{api_version}/sobjects/{}/{id}", def.name),
        }),
    );
    for index in indexes {
        out.insert(
            table.def.fields[index].name.to_string(),
            record.values[index].to_json(),
        );
    }
    Ok(Json::Object(out))
}

/// `POST /composite/sobjects`: `{"allOrNone": bool, "records": [{"attributes": {"type": "X"},
/// ...}]}` -> one SaveResult per record, in order. `Err` only for a malformed request.
pub fn collection_create(
    org: &mut Org,
    caller: &Caller,
    body: &Json,
) -> Result<Vec<Json>, ApiError> {
    let request = parse_collection(body)?;
    let results = run_collection(
        org,
        request.all_or_none,
        false,
        request.records.len(),
        |org, i| {
            let (record, object) = request.records[i];
            let def = schema::object(object).ok_or_else(|| errors::invalid_type(object))?;
            if !def.createable {
                // UNCERTAIN: per-record code for a verb the object refuses (no HTTP status here).
                return Err(errors::invalid_type_for_operation("inserted"));
            }
            insert_record(org, caller, def, record)
        },
    );
    Ok(results)
}

/// `PATCH /composite/sobjects`: records each carry `id` (or `Id`) and `attributes.type`.
pub fn collection_update(
    org: &mut Org,
    caller: &Caller,
    body: &Json,
) -> Result<Vec<Json>, ApiError> {
    let request = parse_collection(body)?;
    let results = run_collection(
        org,
        request.all_or_none,
        true,
        request.records.len(),
        |org, i| {
            let (record, object) = request.records[i];
            let def = schema::object(object).ok_or_else(|| errors::invalid_type(object))?;
            if !def.updateable {
                return Err(errors::invalid_type_for_operation("updated"));
            }
            let raw = record
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("id"))
                .map(|(_, value)| value);
            let raw = match raw {
                None | Some(Json::Null) => {
                    return Err(ApiError::bad_request(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                    ));
                }
                Some(Json::String(s)) => s.clone(),
                Some(other) => return Err(errors::malformed_id(def.name, &other.to_string())),
            };
            // Facts 3.7 doc example: an ID of another object is MALFORMED_ID with fields [Id].
            let id = SfId::parse(&raw)
                .ok()
                .filter(|id| id.key_prefix() == def.key_prefix)
                .ok_or_else(|| errors::malformed_id(def.name, &raw))?;
            if org.get(&id).is_none() {
                // UNCERTAIN: per-record code for a well-formed ID with no record.
                return Err(errors::entity_is_deleted());
            }
            update_record(org, caller, def, id, record)?;
            Ok(id)
        },
    );
    Ok(results)
}

/// `DELETE /composite/sobjects?ids=a,b&allOrNone=true`: one result per ID, in order.
pub fn collection_delete(
    org: &mut Org,
    caller: &Caller,
    ids: &str,
    all_or_none: bool,
) -> Result<Vec<Json>, ApiError> {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        // UNCERTAIN: code and wording ours.
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids: specify the IDs of the records to delete",
        ));
    }
    if ids.len() > COLLECTION_LIMIT {
        return Err(too_many_records());
    }
    let results = run_collection(org, all_or_none, true, ids.len(), |org, i| {
        let raw = ids[i];
        // UNCERTAIN: per-record codes and wording for bad and unknown IDs.
        let id = SfId::parse(raw)
            .map_err(|_| ApiError::bad_request("MALFORMED_ID", format!("malformed id {raw}")))?;
        let def = org
            .get(&id)
            .map(|(table, _)| table.def)
            .ok_or_else(errors::entity_is_deleted)?;
        if !def.deletable {
            // Facts 3.6: "entity type cannot be deleted" (reported for User).
            return Err(errors::invalid_type_for_operation("deleted"));
        }
        delete_record(org, caller, def, id)?;
        Ok(id)
    });
    Ok(results)
}

// ---------------------------------------------------------------------------------------
// One record

/// The verbs a record resource (`/sobjects/{object}/{id}`) allows.
fn record_methods(def: &ObjectDef) -> Vec<&'static str> {
    let mut out = vec!["HEAD", "GET"];
    if def.updateable {
        out.push("PATCH");
    }
    if def.deletable {
        out.push("DELETE");
    }
    out
}

/// The record ID of a path: `MALFORMED_ID` when it is not an ID, 404 when it names another
/// object or no record.
fn record_id_in_path(org: &Org, def: &ObjectDef, raw: &str) -> Result<SfId, ApiError> {
    let id = SfId::parse(raw).map_err(|_| errors::malformed_id(def.name, raw))?;
    if id.key_prefix() != def.key_prefix || org.get(&id).is_none() {
        return Err(ApiError::not_found());
    }
    Ok(id)
}

/// Fields naming the record an assignment or membership grants access to: the ID in
/// `INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`, first present wins.
fn cross_reference_fields(object: &str) -> Option<&'static [&'static str]> {
    match object {
        "PermissionSetAssignment" => {
            Some(&["PermissionSetId", "PermissionSetGroupId", "AssigneeId"])
        }
        "PermissionSetLicenseAssign" => Some(&["PermissionSetLicenseId", "AssigneeId"]),
        "GroupMember" => Some(&["GroupId", "UserOrGroupId"]),
        _ => None,
    }
}

/// The write gate (facts 6, 9 item 9). Assignments and memberships fail on the record they
/// point to; other objects on the object.
fn check_write_gate(
    caller: &Caller,
    def: &ObjectDef,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ApiError> {
    if caller.passes(def.write_gate) {
        return Ok(());
    }
    Err(match cross_reference_fields(def.name) {
        Some(fields) => {
            let id = fields.iter().find_map(|f| lookup(f)).unwrap_or_default();
            errors::insufficient_cross_reference(&id)
        }
        None => errors::insufficient_access(),
    })
}

fn insert_record(
    org: &mut Org,
    caller: &Caller,
    def: &'static ObjectDef,
    body: &Map<String, Json>,
) -> Result<SfId, ApiError> {
    check_write_gate(caller, def, |field| {
        body.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(field))
            .and_then(|(_, value)| value.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| SfId::parse(s).map_or_else(|_| s.to_string(), |id| id.to_string()))
    })?;
    let mut draft = Draft::for_insert(def);
    body::apply_body(&mut draft, body)?;
    body::validate(org, &mut draft)?;
    rules::insert(org, caller, draft)
}

fn update_record(
    org: &mut Org,
    caller: &Caller,
    def: &'static ObjectDef,
    id: SfId,
    body: &Map<String, Json>,
) -> Result<(), ApiError> {
    let values = match org.get(&id) {
        Some((table, record)) if table.def.name == def.name => record.values.clone(),
        _ => return Err(ApiError::not_found()),
    };
    check_write_gate(caller, def, |field| {
        org.value(&id, field)
            .and_then(|v| v.as_id())
            .map(|id| id.to_string())
    })?;
    let mut draft = Draft::for_update(def, values);
    body::apply_body(&mut draft, body)?;
    body::validate(org, &mut draft)?;
    rules::update(org, caller, draft)
}

fn delete_record(
    org: &mut Org,
    caller: &Caller,
    def: &'static ObjectDef,
    id: SfId,
) -> Result<(), ApiError> {
    check_write_gate(caller, def, |field| {
        org.value(&id, field)
            .and_then(|v| v.as_id())
            .map(|id| id.to_string())
    })?;
    rules::delete(org, caller, def, id)
}

// ---------------------------------------------------------------------------------------
// Transactions

/// Where a write's changes can be undone: a transaction of its own, or a savepoint inside
/// one the caller opened (an `allOrNone` collection, a composite request).
enum Scope {
    Own,
    Nested(usize),
}

fn open(org: &mut Org) -> Scope {
    match org.savepoint() {
        Some(mark) => Scope::Nested(mark),
        None => {
            org.begin();
            Scope::Own
        }
    }
}

fn close(org: &mut Org, scope: Scope, keep: bool) {
    match (scope, keep) {
        (Scope::Own, true) => org.commit(),
        (Scope::Own, false) => org.rollback(),
        (Scope::Nested(_), true) => {}
        (Scope::Nested(mark), false) => org.rollback_to(mark),
    }
}

/// Runs one write with its derived changes as a unit: on `Err` nothing of it remains.
fn atomic<T>(
    org: &mut Org,
    write: impl FnOnce(&mut Org) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let scope = open(org);
    let result = write(org);
    close(org, scope, result.is_ok());
    result
}

// ---------------------------------------------------------------------------------------
// Collections

struct CollectionRequest<'a> {
    all_or_none: bool,
    /// Each record with its `attributes.type`.
    records: Vec<(&'a Map<String, Json>, &'a str)>,
}

fn too_many_records() -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

fn parse_collection(body: &Json) -> Result<CollectionRequest<'_>, ApiError> {
    let Some(body) = body.as_object() else {
        // UNCERTAIN: wording ours.
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object with a records array",
        ));
    };
    let all_or_none = match body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("allOrNone"))
    {
        None | Some((_, Json::Null)) => false,
        Some((_, Json::Bool(b))) => *b,
        Some((_, other)) => {
            return Err(body::parser_error(
                "allOrNone",
                schema::FieldType::Boolean,
                other,
            ));
        }
    };
    let records = match body.iter().find(|(k, _)| k.eq_ignore_ascii_case("records")) {
        Some((_, Json::Array(records))) => records,
        // UNCERTAIN: wording ours.
        _ => {
            return Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                "The request body must have a records array",
            ));
        }
    };
    if records.len() > COLLECTION_LIMIT {
        return Err(too_many_records());
    }
    let mut out = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let Some(map) = record.as_object() else {
            return Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                format!("records[{index}]: expected a JSON object"),
            ));
        };
        let object = map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("attributes"))
            .and_then(|(_, a)| a.as_object())
            .and_then(|a| a.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")))
            .and_then(|(_, t)| t.as_str())
            .filter(|t| !t.is_empty());
        let Some(object) = object else {
            // UNCERTAIN: Salesforce refuses the whole request; code and wording ours.
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!(
                    "records[{index}]: every record of an sObject collection needs \
                     attributes.type"
                ),
            ));
        };
        out.push((map, object));
    }
    Ok(CollectionRequest {
        all_or_none,
        records: out,
    })
}

/// Runs `count` writes. Each is atomic; with `all_or_none` any failure undoes all of them and
/// the successful ones report `ALL_OR_NONE_OPERATION_ROLLED_BACK` (keeping their `id` when
/// `keep_ids`: updates and deletes, facts 3.7).
fn run_collection(
    org: &mut Org,
    all_or_none: bool,
    keep_ids: bool,
    count: usize,
    mut write: impl FnMut(&mut Org, usize) -> Result<SfId, ApiError>,
) -> Vec<Json> {
    let scope = all_or_none.then(|| open(org));
    let outcomes: Vec<Result<SfId, ApiError>> = (0..count)
        .map(|i| atomic(org, |org| write(org, i)))
        .collect();
    let failed = outcomes.iter().any(Result::is_err);
    if let Some(scope) = scope {
        close(org, scope, !failed);
    }
    let rolled_back = all_or_none && failed;
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(id) if !rolled_back => json!({"id": id.to_string(), "success": true, "errors": []}),
            Ok(id) if keep_ids => json!({
                "id": id.to_string(),
                "success": false,
                "errors": [errors::rolled_back().to_save_error()],
            }),
            Ok(_) => failure(&errors::rolled_back()),
            Err(error) => failure(&error),
        })
        .collect()
}

fn failure(error: &ApiError) -> Json {
    json!({"success": false, "errors": [error.to_save_error()]})
}
