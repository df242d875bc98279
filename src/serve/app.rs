//! The router, the shared state and the middleware every request goes through.
//!
//! Order, outermost first: `observe` (request id, the request's log span, metrics, the
//! concurrent-request cap), `authenticate` (bearer token; so even an unknown path answers 401
//! to a caller without a token), `time_limit` (per-request timeout), the body-size limit, then
//! the route. Handlers live in `handlers.rs`; this file decides nothing about Salesforce or the
//! store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::auth::ApiTokens;
use super::error::{ApiError, ErrorCode};
use super::handlers;
use super::idempotency::IdempotencyCache;
use super::jobs::SyncJobs;
use super::metrics::Metrics;
use super::store_pool::StorePool;
use super::{Limits, ServiceInfo};
use crate::provision::{Provisioner, RequestId};

/// The request header that carries the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Every route: method and path template. The router is built from the handlers below; this
/// table is what the tests walk (every route answers 401 without a token) and what
/// `schemas/openapi.json` must document, path for path.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/capabilities"),
    ("GET", "/v1/resource-types"),
    ("GET", "/v1/actions"),
    ("POST", "/v1/actions/{name}"),
    ("POST", "/v1/syncs"),
    ("GET", "/v1/syncs/latest"),
    ("GET", "/v1/syncs/{id}"),
    ("GET", "/v1/resources"),
    ("GET", "/v1/entitlements"),
    ("GET", "/v1/grants"),
    ("POST", "/v1/grants"),
    ("DELETE", "/v1/grants/{grant_id}"),
    ("POST", "/v1/accounts"),
];

/// What every handler can reach.
pub struct AppState {
    /// Static facts and settings of this service.
    pub info: ServiceInfo,
    /// `None` with `--insecure-no-auth`.
    pub tokens: Option<ApiTokens>,
    /// Size and time limits.
    pub limits: Limits,
    /// Read connections to the store.
    pub store: Arc<StorePool>,
    /// Sync jobs and the schedule.
    pub jobs: Arc<SyncJobs>,
    /// Grants, revokes, accounts and actions; its client also checks readiness.
    pub provisioner: Provisioner,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// `Idempotency-Key` answers.
    pub idempotency: Arc<IdempotencyCache>,
    /// Writes in flight; shutdown waits for them.
    pub writes: TaskTracker,
    /// The concurrent-request cap.
    pub in_flight: Arc<Semaphore>,
    /// Until when a successful Salesforce readiness check is trusted.
    pub ready_until: std::sync::Mutex<Option<Instant>>,
    /// Set when shutdown begins: new writes and syncs are refused.
    pub shutting_down: AtomicBool,
}

impl AppState {
    /// True once shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// The router with every route and middleware.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.body_bytes;
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .route("/v1/openapi.json", get(handlers::openapi))
        .route("/v1/capabilities", get(handlers::capabilities))
        .route("/v1/resource-types", get(handlers::resource_types))
        .route("/v1/actions", get(handlers::actions))
        .route("/v1/actions/{name}", post(handlers::run_action))
        .route("/v1/syncs", post(handlers::start_sync))
        .route("/v1/syncs/latest", get(handlers::latest_sync))
        .route("/v1/syncs/{id}", get(handlers::sync_status))
        .route("/v1/resources", get(handlers::resources))
        .route("/v1/entitlements", get(handlers::entitlements))
        .route("/v1/grants", get(handlers::grants).post(handlers::grant))
        .route("/v1/grants/{grant_id}", delete(handlers::revoke))
        .route("/v1/accounts", post(handlers::create_account))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn unknown_endpoint(request: Request) -> ApiError {
    let path: String = request.uri().path().chars().take(200).collect();
    ApiError::unknown_endpoint(&path)
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Routes whose requests are frequent probes: logged at debug, not info.
fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// Request id, log span, metrics and the concurrent-request cap.
async fn observe(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The caller's id is kept only when it is a valid id: it lands in logs and the audit log.
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RequestId::parse(v).ok())
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route
    );
    let permit = state.in_flight.clone().try_acquire_owned();
    let mut response = match permit {
        Ok(_permit) => next.run(request).instrument(span.clone()).await,
        Err(_) => ApiError::overloaded().into_response(),
    };
    let status = response.status();
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        state.metrics.error(code);
    }
    state
        .metrics
        .request(method.as_str(), &route, status.as_u16());
    let duration_ms = started.elapsed().as_millis() as u64;
    let error_code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                duration_ms,
                error_code,
                "Request failed."
            );
        } else if is_probe(&route) {
            tracing::debug!(status = status.as_u16(), duration_ms, "Request served.");
        } else {
            tracing::info!(
                status = status.as_u16(),
                duration_ms,
                error_code,
                "Request served."
            );
        }
    });
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Bearer-token check; every route, unknown ones included.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(tokens) = &state.tokens {
        let valid = request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| tokens.accepts_header(v.as_bytes()));
        if !valid {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// The per-request timeout. A write is not cancelled by it: writes run as their own tasks
/// (see `handlers::write`), so only the wait for the answer ends.
async fn time_limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let is_write = matches!(*request.method(), Method::POST | Method::DELETE)
        && request.uri().path() != "/v1/syncs";
    match tokio::time::timeout(state.limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout(is_write).into_response(),
    }
}

/// `axum::Json` whose rejections are service errors (`invalid_body`, `body_too_large`,
/// `unsupported_media_type`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the service accepts",
        )
        .with_hint("the limit is set with --max-body-bytes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON",
        )
        .with_hint("send `Content-Type: application/json`"),
        _ => ApiError::invalid_body(rejection.body_text()),
    }
}

/// `axum::extract::Query` with `invalid_parameter` rejections.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        rejection.body_text(),
    )
    .with_hint("GET /v1/openapi.json lists the parameters of every endpoint")
}

/// `axum::extract::Path` with `invalid_parameter` rejections.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        rejection.body_text(),
    )
}

/// The request id the `observe` middleware assigned.
pub struct CurrentRequestId(pub RequestId);

impl<S: Send + Sync> FromRequestParts<S> for CurrentRequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // `observe` wraps every route, so the id is always there; generating one keeps a
        // handler usable on its own (in a unit test) without a panic path.
        Ok(CurrentRequestId(
            parts
                .extensions
                .get::<RequestId>()
                .cloned()
                .unwrap_or_else(RequestId::generate),
        ))
    }
}

/// How long a successful Salesforce readiness check is trusted by default: probes come every
/// few seconds, and each check is one API call against the org's daily allowance.
pub const READY_CACHE: Duration = Duration::from_secs(30);
