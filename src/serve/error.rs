//! `ApiError`: every error the service answers with, as `{"error": {"code", "message",
//! "hint"?}}` and the HTTP status that goes with its code.
//!
//! Codes are part of the external contract (`schemas/openapi.json` lists them): clients branch
//! on `code`, never on `message`. Errors of the layers below (store, provisioning, Salesforce)
//! are translated here, in one place, so a handler only writes `?`. Messages never carry a
//! token or a secret: the layers below already keep them out of their `Display`, and nothing
//! here adds request headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// The error code of a response, attached as a response extension so the metrics layer can
/// count errors by code without parsing bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// An error answer: status, stable code, message and an optional hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable, snake_case code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// What to do about it, when known.
    pub hint: Option<String>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// More members of the error object (`running_id` of `sync_in_progress`).
    pub fields: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            retry_after: None,
            fields: Vec::new(),
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a member to the error object.
    pub fn with_field(
        mut self,
        name: &'static str,
        value: impl Into<serde_json::Value>,
    ) -> ApiError {
        self.fields.push((name, value.into()));
        self
    }

    /// Adds `Retry-After`.
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 `invalid_parameter`: a query or path parameter is malformed.
    pub fn invalid_parameter(name: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{name}: {problem}"),
        )
    }

    /// 400 `invalid_body`: the JSON body is malformed or misses a field.
    pub fn invalid_body(problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", problem.to_string())
    }

    /// 404 `unknown_endpoint`: no such route. (`not_found` is the provisioning code for a
    /// record that does not exist.)
    pub fn unknown_endpoint(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            format!("there is no endpoint {path}"),
        )
        .with_hint("GET /v1/openapi.json lists every endpoint")
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not answer this method",
        )
        .with_hint("GET /v1/openapi.json lists the methods of every endpoint")
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
        .with_hint("send `Authorization: Bearer <token>` with one of the service's API tokens")
    }

    /// 503 `overloaded`: the concurrent request cap is reached.
    pub fn overloaded() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests are being served at once",
        )
        .with_hint("retry after a short wait")
        .with_retry_after(1)
    }

    /// 504 `timeout`: the request took longer than the per-request timeout.
    pub fn timeout(write: bool) -> ApiError {
        let error = ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the request took longer than the service's request timeout",
        );
        if write {
            error.with_hint(
                "the write goes on in the background and is audited; retry with the same \
                 Idempotency-Key to get its result, or read the grant back",
            )
        } else {
            error.with_hint("retry, or ask for a smaller page")
        }
    }

    /// 503 `shutting_down`.
    pub fn shutting_down() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the service is shutting down",
        )
        .with_hint("retry against the next instance")
        .with_retry_after(5)
    }

    /// 500 `internal`: a bug (a task panicked). The details go to the log only.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(hint) = &self.hint {
            error["hint"] = json!(hint);
        }
        for (name, value) in &self.fields {
            error[*name] = value.clone();
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sf-access\""),
            );
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let (status, code) = match &error {
            StoreError::NoGoodRun => (StatusCode::CONFLICT, "no_successful_sync"),
            StoreError::UnknownRun(_) | StoreError::RunNotSucceeded { .. } => {
                (StatusCode::GONE, "page_token_expired")
            }
            StoreError::SyncInProgress { .. } => (StatusCode::CONFLICT, "sync_in_progress"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        };
        let hint = match code {
            "no_successful_sync" => Some(
                "POST /v1/syncs and wait for it to succeed; failed runs are never read".to_owned(),
            ),
            "page_token_expired" => Some(
                "the sync run this page token reads was pruned; start again without page_token"
                    .to_owned(),
            ),
            _ => error.hint(),
        };
        let mut api = ApiError::new(status, code, error_chain(&error));
        api.hint = hint;
        api
    }
}

/// An error and its causes on one line (`a: b: c`), for messages and logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // thiserror's `transparent` and `{0}` variants repeat their source's text.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_message_and_hint_only_when_given() {
        let plain = ApiError::invalid_parameter("page_size", "must be a positive integer");
        assert_eq!(
            plain.body(),
            json!({"error": {"code": "invalid_parameter", "message": "page_size: must be a positive integer"}})
        );
        let hinted = ApiError::unauthorized();
        assert_eq!(hinted.body()["error"]["code"], "unauthorized");
        assert!(hinted.body()["error"]["hint"].is_string());
    }

    #[test]
    fn store_errors_map_to_stable_codes() {
        let e: ApiError = StoreError::NoGoodRun.into();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::CONFLICT, "no_successful_sync")
        );
        let e: ApiError = StoreError::NotFound {
            path: "x.db".into(),
        }
        .into();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        );
    }

    #[test]
    fn responses_carry_the_code_for_the_metrics_layer() {
        let response = ApiError::overloaded().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode("overloaded"))
        );
    }
}
