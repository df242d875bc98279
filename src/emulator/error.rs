//! Salesforce's REST error shape: an HTTP status and a JSON array of
//! `{"message", "errorCode", "fields"?}` objects.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// One REST API error, as Salesforce returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `errorCode` (`INVALID_FIELD`, `MALFORMED_ID`, ...).
    pub code: String,
    /// `message`, in Salesforce's wording.
    pub message: String,
    /// `fields`, present only when relevant.
    pub fields: Vec<String>,
}

impl ApiError {
    /// An error with no `fields`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A 400 error.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Adds `fields`.
    pub fn with_fields<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        fields: I,
    ) -> ApiError {
        self.fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// `INVALID_SESSION_ID` (401).
    pub fn invalid_session() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    /// `NOT_FOUND` (404).
    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// The JSON object for this error (an element of the error array).
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        if !self.fields.is_empty() {
            object.insert("fields".into(), serde_json::json!(self.fields));
        }
        object.insert("message".into(), self.message.clone().into());
        object.insert("errorCode".into(), self.code.clone().into());
        serde_json::Value::Object(object)
    }

    /// The per-record error of a composite save result, which uses `statusCode`.
    pub fn to_save_error(&self) -> serde_json::Value {
        serde_json::json!({
            "statusCode": self.code,
            "message": self.message,
            "fields": self.fields,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!([self.to_json()]))).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}
