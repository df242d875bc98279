//! The DML errors the sObject write logic answers, in Salesforce's codes and wording
//! (facts section 4.3). Codes or wording the facts sheet leaves UNCERTAIN are marked where
//! they are used, in `rules.rs` and `dml.rs`.

use axum::http::StatusCode;

use crate::emulator::error::ApiError;

/// `405 METHOD_NOT_ALLOWED` listing the verbs the resource allows (facts 3.6).
pub(crate) fn method_not_allowed(method: &str, allowed: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "HTTP Method '{method}' not allowed. Allowed are {}",
            allowed.join(",")
        ),
    )
}

/// `400 MALFORMED_ID` for an ID that does not parse or names another object.
pub(crate) fn malformed_id(object: &str, raw: &str) -> ApiError {
    ApiError::bad_request(
        "MALFORMED_ID",
        format!("{object} ID: id value of incorrect type: {raw}"),
    )
    .with_fields(["Id"])
}

/// `400 MALFORMED_ID` for a lookup field holding something that is not an ID. Salesforce
/// names the field by its label (`Profile ID`); we derive it from the API name.
pub(crate) fn malformed_reference(field: &str, raw: &str) -> ApiError {
    let label = field.strip_suffix("Id").unwrap_or(field);
    ApiError::bad_request(
        "MALFORMED_ID",
        format!("{label} ID: id value of incorrect type: {raw}"),
    )
    .with_fields([field])
}

/// `400 INVALID_FIELD` for a field the object does not have.
pub(crate) fn invalid_field(object: &str, field: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_FIELD",
        format!("No such column '{field}' on sobject of type {object}"),
    )
}

/// `400 INVALID_FIELD_FOR_INSERT_UPDATE` for fields the write may not set.
pub(crate) fn not_writable(fields: &[&str]) -> ApiError {
    ApiError::bad_request(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        format!(
            "Unable to create/update fields: {}. Please check the security settings of this \
             field and verify that it is read/write for your profile or permission set.",
            fields.join(", ")
        ),
    )
    .with_fields(fields.iter().copied())
}

/// `400 REQUIRED_FIELD_MISSING`.
pub(crate) fn required_missing(fields: &[&str]) -> ApiError {
    ApiError::bad_request(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", fields.join(", ")),
    )
    .with_fields(fields.iter().copied())
}

/// `400 INVALID_EMAIL_ADDRESS`.
pub(crate) fn invalid_email(field: &str, value: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_EMAIL_ADDRESS",
        format!("{field}: invalid email address: {value}"),
    )
    .with_fields([field])
}

/// `400 INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`, naming the field by its label.
pub(crate) fn bad_picklist(label: &str, field: &str, value: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        format!("{label}: bad value for restricted picklist field: {value}"),
    )
    .with_fields([field])
}

/// `400 INVALID_CROSS_REFERENCE_KEY`: a lookup to a record that does not exist or is of a
/// type the field cannot point to.
pub(crate) fn invalid_cross_reference(field: &str) -> ApiError {
    ApiError::bad_request("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        .with_fields([field])
}

/// `400 FIELD_INTEGRITY_EXCEPTION`: a cross-field or cross-record rule.
pub(crate) fn integrity(message: impl Into<String>, fields: &[&str]) -> ApiError {
    ApiError::bad_request("FIELD_INTEGRITY_EXCEPTION", message).with_fields(fields.iter().copied())
}

/// `400 DUPLICATE_VALUE` in Salesforce's generic wording.
pub(crate) fn duplicate_value(field: &str, existing: &str) -> ApiError {
    ApiError::bad_request(
        "DUPLICATE_VALUE",
        format!("duplicate value found: {field} duplicates value on record with id: {existing}"),
    )
    .with_fields([field])
}

/// `400 LICENSE_LIMIT_EXCEEDED` (no free seat, or the license is disabled).
pub(crate) fn license_limit() -> ApiError {
    ApiError::bad_request("LICENSE_LIMIT_EXCEEDED", "License Limit Exceeded")
}

/// `400 DELETE_FAILED`: the record is still referenced.
pub(crate) fn delete_failed(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("DELETE_FAILED", message)
}

/// `400 INSUFFICIENT_ACCESS_OR_READONLY` for DML on an object the caller may not write or
/// a record nobody may write (system-maintained groups).
pub(crate) fn insufficient_access() -> ApiError {
    ApiError::bad_request(
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "insufficient access rights on object id",
    )
}

/// `400 INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`: the caller may not grant or remove
/// access to the referenced record (assignments and memberships).
pub(crate) fn insufficient_cross_reference(id: &str) -> ApiError {
    ApiError::bad_request(
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        format!("insufficient access rights on cross-reference id: {id}"),
    )
}

/// Per-record `INVALID_TYPE` in a collection: the type names no emulated object.
pub(crate) fn invalid_type(object: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_TYPE",
        format!("sObject type '{object}' is not supported."),
    )
}

/// Per-record `INVALID_TYPE_FOR_OPERATION` in a collection: the object does not allow the
/// verb (a single-record call answers 405 instead).
pub(crate) fn invalid_type_for_operation(verb: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_TYPE_FOR_OPERATION",
        format!("entity type cannot be {verb}"),
    )
}

/// Per-record `ENTITY_IS_DELETED` in a collection: a well-formed ID with no record.
pub(crate) fn entity_is_deleted() -> ApiError {
    ApiError::bad_request("ENTITY_IS_DELETED", "entity is deleted")
}

/// The error of records rolled back because a sibling failed under `allOrNone` (facts 3.7).
pub(crate) fn rolled_back() -> ApiError {
    ApiError::bad_request(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using \
         AllOrNone header",
    )
}
