//! The handlers: each turns a request into one library call and its result into JSON.
//!
//! Catalog (`capabilities`, `resource-types`, `actions`) comes from the model's resource type
//! table and the action table; listings read the store through its keyset-paged readers;
//! writes call `provision::grant` / `revoke` / `create_account` and `actions::run`, the same
//! calls the CLI makes, with the request id as the audit log's request id. Nothing here builds
//! SOQL, talks to Salesforce directly or writes the store.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::app::{AppState, CurrentRequestId, JsonBody, PathParam, QueryParams};
use super::error::{ApiError, ErrorCode, error_chain};
use super::idempotency::{Begin, IdempotencyKey, Stored, fingerprint};
use super::jobs::{StartError, Trigger};
use super::metrics::LiveValues;
use super::paging::{PageToken, page_size};
use crate::actions::{self, ACTIONS, ActionError};
use crate::model::types::{RESOURCE_TYPES, ResourceTypeDefinition};
use crate::model::{EntitlementId, GrantId, IdError, ResourceId, ResourceTypeId};
use crate::provision::{
    self, AccountRequest, GrantRequest, Operation, ProvisionError, WriteOptions,
};
use crate::salesforce::{ErrorCategory, SfId};
use crate::settings::ProfileRef;
use crate::store::{GrantFilter, Page, PageRequest, Store, StoreError};

/// The OpenAPI document, served as is.
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");

// ---------------------------------------------------------------------------------------------
// Operations: health, readiness, metrics, the OpenAPI document.

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store is readable and Salesforce accepts our login.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let store = state
        .store
        .read(|store| store.latest_run().map(|_| ()).map_err(ApiError::from))
        .await;
    let salesforce = check_salesforce(&state).await;
    let check = |result: &Result<(), ApiError>| match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => {
            let mut v = json!({"ok": false, "code": e.code, "message": e.message});
            if let Some(hint) = &e.hint {
                v["hint"] = json!(hint);
            }
            v
        }
    };
    let ready = store.is_ok() && salesforce.is_ok() && !state.is_shutting_down();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {"store": check(&store), "salesforce": check(&salesforce)},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// One `GET /limits` call proves the token works (a cached token alone proves nothing once
/// Salesforce revoked it) and tells the daily requests left. Success is trusted for a while.
async fn check_salesforce(state: &AppState) -> Result<(), ApiError> {
    let now = Instant::now();
    {
        let until = state.ready_until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_some_and(|t| now < t) {
            return Ok(());
        }
    }
    let client = state.provisioner.client();
    match client.limits().await {
        Ok(limits) => {
            if let Some(daily) = limits.daily_api_requests() {
                state.metrics.daily_remaining(daily.remaining());
            }
            *state.ready_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(now + state.limits.ready_cache);
            Ok(())
        }
        Err(e) => {
            let code = match e.category() {
                ErrorCategory::Auth => "salesforce_auth_failed",
                ErrorCategory::Permission => "salesforce_permission_denied",
                ErrorCategory::Limit => "salesforce_limit_reached",
                ErrorCategory::Config | ErrorCategory::Other => "salesforce_unavailable",
            };
            let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, error_chain(&e));
            error.hint = e.hint();
            Err(error)
        }
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let usage = state.provisioner.client().usage();
    let running = state.jobs.running();
    let text = state.metrics.render(LiveValues {
        client_api_calls: usage.calls_made,
        running_sync_api_calls: running.as_ref().map_or(0, |j| j.api_calls()),
        sync_running: running.is_some(),
        client_daily_remaining: usage.remaining_daily(),
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Catalog.

/// The resource type with its entitlements, whether this service syncs it and what it can
/// provision.
fn resource_type_json(d: &ResourceTypeDefinition, state: &AppState) -> Value {
    let entitlements: Vec<Value> = d
        .entitlements
        .iter()
        .map(|e| {
            let (provisionable, note) = super::catalog::provisioning(d.id, e.slug);
            let mut v = json!({
                "slug": e.slug,
                "display_name": e.display_name,
                "purpose": e.purpose,
                "grantable_to": e.grantable_to,
                "description": e.description,
                "provisionable": provisionable,
            });
            if let Some(note) = note {
                v["provisioning_note"] = json!(note);
            }
            v
        })
        .collect();
    json!({
        "id": d.id,
        "display_name": d.display_name,
        "traits": d.traits,
        "description": d.description,
        "synced": state.info.synced_types.contains(&d.id),
        "account_creation": d.id == ResourceTypeId::User,
        "entitlements": entitlements,
    })
}

/// `GET /v1/resource-types`.
pub async fn resource_types(State(state): State<Arc<AppState>>) -> Json<Value> {
    let types: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|d| resource_type_json(d, &state))
        .collect();
    Json(json!({ "resource_types": types }))
}

/// `GET /v1/actions`.
pub async fn actions() -> Json<Value> {
    let list: Vec<Value> = ACTIONS.iter().map(|a| a.to_json()).collect();
    Json(json!({ "actions": list }))
}

/// `GET /v1/capabilities`.
pub async fn capabilities(State(state): State<Arc<AppState>>) -> Json<Value> {
    let types: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|d| resource_type_json(d, &state))
        .collect();
    let actions: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
    Json(json!({
        "service": {"name": "sf-access", "version": env!("CARGO_PKG_VERSION")},
        "provisioning": state.info.provisioning,
        "sync": {
            "interval_seconds": state.info.sync_interval.map(|d| d.as_secs()),
            "options": state.info.sync_options,
        },
        "paging": {"default_page_size": super::paging::DEFAULT_PAGE_SIZE, "max_page_size": super::paging::MAX_PAGE_SIZE},
        "resource_types": types,
        "actions": actions,
    }))
}

// ---------------------------------------------------------------------------------------------
// Syncs.

/// `POST /v1/syncs`: 202 with the job id, or 409 with the running one.
pub async fn start_sync(
    State(state): State<Arc<AppState>>,
    CurrentRequestId(request_id): CurrentRequestId,
) -> Result<Response, ApiError> {
    match state.jobs.start(Trigger::Api, Some(request_id.to_string())) {
        Ok(job) => {
            let mut response = (StatusCode::ACCEPTED, Json(job.to_json())).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/v1/syncs/{}", job.id())) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Err(StartError::Busy(running)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "sync_in_progress",
            format!("sync {running} is running; one sync runs at a time"),
        )
        .with_hint(format!("wait for it: GET /v1/syncs/{running}"))
        .with_field("running_id", running)),
        Err(StartError::ShuttingDown) => Err(ApiError::shutting_down()),
    }
}

fn sync_not_found(id: &str) -> ApiError {
    let id: String = id.chars().take(80).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "sync_not_found",
        format!("this service has not run sync {id:?} (or no longer remembers it)"),
    )
    .with_hint(
        "POST /v1/syncs starts one; the service remembers its last 50 syncs until it restarts",
    )
}

/// `GET /v1/syncs/latest`.
pub async fn latest_sync(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    state
        .jobs
        .latest()
        .map(|job| Json(job.to_json()))
        .ok_or_else(|| sync_not_found("latest"))
}

/// `GET /v1/syncs/{id}`.
pub async fn sync_status(
    State(state): State<Arc<AppState>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .jobs
        .get(&id)
        .map(|job| Json(job.to_json()))
        .ok_or_else(|| sync_not_found(&id))
}

// ---------------------------------------------------------------------------------------------
// Listings.

/// One listing: its kind, its filters in text form, the page size and the position.
struct Listing {
    kind: &'static str,
    filter: String,
    size: usize,
    token: Option<PageToken>,
}

impl Listing {
    fn new(
        kind: &'static str,
        filter: String,
        page_size_param: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<Listing, ApiError> {
        let size = page_size(page_size_param)?;
        let token = page_token
            .filter(|t| !t.is_empty())
            .map(|t| PageToken::decode(t, kind, &filter))
            .transpose()?;
        Ok(Listing {
            kind,
            filter,
            size,
            token,
        })
    }

    /// Reads the page on the blocking pool and shapes the answer.
    async fn read<T, Id>(
        self,
        state: &AppState,
        parse_id: fn(&str) -> Result<Id, IdError>,
        read: impl FnOnce(
            &Store,
            crate::store::RunId,
            &PageRequest<Id>,
        ) -> Result<Page<T, Id>, StoreError>
        + Send
        + 'static,
    ) -> Result<Json<Value>, ApiError>
    where
        T: Serialize + Send + 'static,
        Id: Display + Copy + Send + 'static,
    {
        let Listing {
            kind,
            filter,
            size,
            token,
        } = self;
        let (run, page) = state
            .store
            .read(move |store| {
                let (run, after) = match &token {
                    // A pinned run that was pruned meanwhile is `UnknownRun`: 410.
                    Some(token) => {
                        let run = store.readable_run(Some(token.run()))?.id;
                        let after = parse_id(token.after()).map_err(|_| {
                            ApiError::new(
                                StatusCode::BAD_REQUEST,
                                "invalid_page_token",
                                "page_token: not a page token of this service",
                            )
                        })?;
                        (run, Some(after))
                    }
                    None => (store.readable_run(None)?.id, None),
                };
                let page = read(store, run, &PageRequest::new(after, size))?;
                Ok((run, page))
            })
            .await?;
        let mut body = serde_json::Map::new();
        body.insert(
            kind.to_owned(),
            serde_json::to_value(&page.items).map_err(|e| ApiError::internal(e.to_string()))?,
        );
        if let Some(after) = page.next_after {
            body.insert(
                "next_page_token".to_owned(),
                json!(PageToken::new(run, kind, &filter, after).encode()),
            );
        }
        body.insert("sync_run_id".to_owned(), json!(run));
        Ok(Json(Value::Object(body)))
    }
}

fn parse_param<T>(
    name: &str,
    value: Option<&String>,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<Option<T>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| parse(v).map_err(|e| ApiError::invalid_parameter(name, e)))
        .transpose()
}

/// Query of `GET /v1/resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesQuery {
    r#type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// `GET /v1/resources?type=&page_size=&page_token=`.
pub async fn resources(
    State(state): State<Arc<AppState>>,
    QueryParams(q): QueryParams<ResourcesQuery>,
) -> Result<Json<Value>, ApiError> {
    let type_filter = parse_param("type", q.r#type.as_ref(), ResourceTypeId::parse)?;
    let filter = format!("type={}", type_filter.map_or("", |t| t.as_str()));
    Listing::new(
        "resources",
        filter,
        q.page_size.as_deref(),
        q.page_token.as_deref(),
    )?
    .read(&state, ResourceId::parse, move |store, run, page| {
        store.resources(run, type_filter, page)
    })
    .await
}

/// Query of `GET /v1/entitlements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsQuery {
    resource_id: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// `GET /v1/entitlements?resource_id=&page_size=&page_token=`.
pub async fn entitlements(
    State(state): State<Arc<AppState>>,
    QueryParams(q): QueryParams<EntitlementsQuery>,
) -> Result<Json<Value>, ApiError> {
    let resource = parse_param("resource_id", q.resource_id.as_ref(), ResourceId::parse)?;
    let filter = format!(
        "resource_id={}",
        resource.map(|r| r.to_string()).unwrap_or_default()
    );
    Listing::new(
        "entitlements",
        filter,
        q.page_size.as_deref(),
        q.page_token.as_deref(),
    )?
    .read(&state, EntitlementId::parse, move |store, run, page| {
        store.entitlements(run, resource, page)
    })
    .await
}

/// Query of `GET /v1/grants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsQuery {
    entitlement_id: Option<String>,
    principal_id: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// `GET /v1/grants?entitlement_id=&principal_id=&page_size=&page_token=`.
pub async fn grants(
    State(state): State<Arc<AppState>>,
    QueryParams(q): QueryParams<GrantsQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = GrantFilter {
        entitlement: parse_param(
            "entitlement_id",
            q.entitlement_id.as_ref(),
            EntitlementId::parse,
        )?,
        principal: parse_param("principal_id", q.principal_id.as_ref(), ResourceId::parse)?,
    };
    let text = format!(
        "entitlement_id={}&principal_id={}",
        filter
            .entitlement
            .map(|e| e.to_string())
            .unwrap_or_default(),
        filter.principal.map(|p| p.to_string()).unwrap_or_default()
    );
    Listing::new(
        "grants",
        text,
        q.page_size.as_deref(),
        q.page_token.as_deref(),
    )?
    .read(&state, GrantId::parse, move |store, run, page| {
        store.grants(run, &filter, page)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Writes.

/// What a write produced: the report as JSON and its outcome, or the error.
type WriteResult = Result<(Value, String), ApiError>;

/// Runs a write: honours `Idempotency-Key`, runs the library call as its own task (so neither
/// a client that hangs up, nor the request timeout, nor shutdown cuts a write in half; shutdown
/// waits for it), and counts it.
async fn write<F>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    operation: &'static str,
    request_fingerprint: &[&str],
    work: F,
) -> Response
where
    F: std::future::Future<Output = WriteResult> + Send + 'static,
{
    if state.is_shutting_down() {
        return ApiError::shutting_down().into_response();
    }
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match IdempotencyKey::parse(value.as_bytes()) {
            Ok(key) => Some(key),
            Err(e) => return e.into_response(),
        },
    };
    let mut parts = vec![operation];
    parts.extend_from_slice(request_fingerprint);
    let claim = match &key {
        None => None,
        Some(key) => match state.idempotency.begin(key, fingerprint(&parts)) {
            Err(e) => return e.into_response(),
            Ok(Begin::Replay(stored)) => return replay(stored),
            Ok(Begin::Wait(mut receiver)) => {
                return match receiver.wait_for(Option::is_some).await {
                    Ok(stored) => match stored.clone() {
                        Some(stored) => replay(stored),
                        None => ApiError::internal("the first attempt ended without an answer")
                            .into_response(),
                    },
                    Err(_) => ApiError::internal(
                        "the first attempt with this Idempotency-Key failed; retry",
                    )
                    .into_response(),
                };
            }
            Ok(Begin::New(claim)) => Some(claim),
        },
    };
    let metrics = state.metrics.clone();
    // The task keeps the request's span, so the library's log lines carry the request id.
    let span = tracing::Span::current();
    let task = state.writes.spawn(
        async move {
            let stored = match work.await {
                Ok((body, outcome)) => {
                    metrics.write(operation, &outcome);
                    Stored {
                        status: StatusCode::OK,
                        body,
                        error_code: None,
                    }
                }
                Err(error) => {
                    metrics.write(operation, error.code);
                    Stored {
                        status: error.status,
                        body: error.body(),
                        error_code: Some(error.code),
                    }
                }
            };
            if let Some(claim) = claim {
                claim.complete(&stored);
            }
            stored
        }
        .instrument(span),
    );
    match task.await {
        Ok(stored) => answer(stored),
        Err(e) => {
            tracing::error!(error = %e, "A write task failed.");
            ApiError::internal("the write failed unexpectedly; check the audit log before retrying")
                .into_response()
        }
    }
}

fn answer(stored: Stored) -> Response {
    let mut response = (stored.status, Json(stored.body)).into_response();
    if let Some(code) = stored.error_code {
        response.extensions_mut().insert(ErrorCode(code));
    }
    response
}

fn replay(stored: Stored) -> Response {
    let mut response = answer(stored);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// The HTTP status of a provisioning error code.
fn provision_status(code: &str, category: Option<ErrorCategory>) -> StatusCode {
    match code {
        "provisioning_disabled" => StatusCode::FORBIDDEN,
        "invalid_argument" | "invalid_arguments" => StatusCode::BAD_REQUEST,
        "not_found" | "unknown_action" => StatusCode::NOT_FOUND,
        "not_provisionable" | "license_mismatch" | "least_privilege_mapping" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        "license_full" | "inactive_user_exists" | "deactivation_refused" | "no_user_login" => {
            StatusCode::CONFLICT
        }
        "salesforce_error" => match category {
            Some(ErrorCategory::Limit) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        },
        "audit_log" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl From<ProvisionError> for ApiError {
    fn from(error: ProvisionError) -> ApiError {
        let category = match &error {
            ProvisionError::Salesforce { source, .. } => Some(source.category()),
            _ => None,
        };
        let code = error.code();
        let mut api = ApiError::new(provision_status(code, category), code, error_chain(&error));
        api.hint = match &error {
            // The library's hint names the CLI flag; here it is the service's.
            ProvisionError::ProvisioningDisabled { .. } => Some(
                "this service was started without --provisioning; restart it with \
                 --provisioning (or SF_ACCESS_PROVISIONING=true) to allow writes. Dry runs \
                 (dry_run: true) work without it"
                    .to_owned(),
            ),
            _ => error.hint(),
        };
        if let Some(sf) = error.salesforce_code() {
            api = api.with_field("salesforce_code", sf.to_owned());
        }
        api
    }
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> ApiError {
        match error {
            ActionError::Provision(e) => e.into(),
            error => {
                let code = error.code();
                let mut api =
                    ApiError::new(provision_status(code, None), code, error_chain(&error));
                api.hint = error.hint();
                api
            }
        }
    }
}

fn to_json<T: Serialize>(report: &T) -> Result<Value, ApiError> {
    serde_json::to_value(report).map_err(|e| ApiError::internal(e.to_string()))
}

fn body_id<T>(
    name: &str,
    value: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, ApiError> {
    parse(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("{name}: {e}"),
        )
    })
}

/// Body of `POST /v1/grants`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    entitlement_id: String,
    principal_id: String,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/grants`.
pub async fn grant(
    State(state): State<Arc<AppState>>,
    CurrentRequestId(request_id): CurrentRequestId,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GrantBody>,
) -> Response {
    let fp = serde_json::to_string(&body).unwrap_or_default();
    let provisioner = state.provisioner.clone();
    write(&state, &headers, "grant", &[&fp], async move {
        let request = GrantRequest {
            entitlement: body_id("entitlement_id", &body.entitlement_id, EntitlementId::parse)?,
            principal: body_id("principal_id", &body.principal_id, ResourceId::parse)?,
            expires_at: body.expires_at,
        };
        let options = WriteOptions::new(request_id).dry_run(body.dry_run);
        let report = provision::grant(&provisioner, &request, &options).await?;
        Ok((to_json(&report)?, report.outcome.as_str().to_owned()))
    })
    .await
}

/// Query of `DELETE /v1/grants/{grant_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    #[serde(default)]
    dry_run: Option<String>,
}

/// `DELETE /v1/grants/{grant_id}?dry_run=`.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    CurrentRequestId(request_id): CurrentRequestId,
    headers: HeaderMap,
    PathParam(grant_id): PathParam<String>,
    QueryParams(q): QueryParams<RevokeQuery>,
) -> Response {
    let dry_run = match q.dry_run.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => {
            return ApiError::invalid_parameter(
                "dry_run",
                format!(
                    "must be true or false, not {:?}",
                    other.chars().take(20).collect::<String>()
                ),
            )
            .into_response();
        }
    };
    let grant_id = match GrantId::parse(&grant_id) {
        Ok(id) => id,
        Err(e) => return ApiError::invalid_parameter("grant_id", e).into_response(),
    };
    let provisioner = state.provisioner.clone();
    let (id_text, dry_text) = (grant_id.to_string(), dry_run.to_string());
    write(
        &state,
        &headers,
        "revoke",
        &[&id_text, &dry_text],
        async move {
            let options = WriteOptions::new(request_id).dry_run(dry_run);
            let report = provision::revoke(&provisioner, grant_id, &options).await?;
            Ok((to_json(&report)?, report.outcome.as_str().to_owned()))
        },
    )
    .await
}

/// Body of `POST /v1/accounts`: `sf-access create-account`'s flags as JSON.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    email: String,
    #[serde(default)]
    first_name: String,
    last_name: String,
    profile: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    email_encoding: Option<String>,
    #[serde(default)]
    federation_id: Option<String>,
    #[serde(default)]
    contact_id: Option<String>,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
    #[serde(default)]
    reactivate: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/accounts`.
pub async fn create_account(
    State(state): State<Arc<AppState>>,
    CurrentRequestId(request_id): CurrentRequestId,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AccountBody>,
) -> Response {
    let fp = serde_json::to_string(&body).unwrap_or_default();
    let provisioner = state.provisioner.clone();
    write(&state, &headers, "create_account", &[&fp], async move {
        let contact_id = body
            .contact_id
            .as_deref()
            .map(|c| {
                SfId::parse(c).map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_argument",
                        format!("contact_id: {e}"),
                    )
                })
            })
            .transpose()?;
        let dry_run = body.dry_run;
        let request = AccountRequest {
            email: body.email,
            first_name: body.first_name,
            last_name: body.last_name,
            profile: ProfileRef::parse(&body.profile),
            username: body.username,
            alias: body.alias,
            timezone: body.timezone,
            locale: body.locale,
            language: body.language,
            email_encoding: body.email_encoding,
            federation_id: body.federation_id,
            contact_id,
            fields: body.fields.into_iter().collect(),
            reactivate: body.reactivate,
        };
        let options = WriteOptions::new(request_id).dry_run(dry_run);
        let report = provision::create_account(&provisioner, &request, &options).await?;
        Ok((to_json(&report)?, report.outcome.as_str().to_owned()))
    })
    .await
}

/// Body of `POST /v1/actions/{name}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    args: Value,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/actions/{name}`.
pub async fn run_action(
    State(state): State<Arc<AppState>>,
    CurrentRequestId(request_id): CurrentRequestId,
    headers: HeaderMap,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<ActionBody>,
) -> Response {
    // An unknown name is a 404 before anything else, and is not an audited write.
    if let Err(e) = actions::find(&name) {
        return ApiError::from(e).into_response();
    }
    let fp = serde_json::to_string(&body).unwrap_or_default();
    let provisioner = state.provisioner.clone();
    let name_fp = name.clone();
    write(&state, &headers, "action", &[&name_fp, &fp], async move {
        let options = WriteOptions::new(request_id).dry_run(body.dry_run);
        let report = actions::run(&provisioner, &name, &body.args, &options).await?;
        let outcome = report
            .result
            .get("outcome")
            .and_then(Value::as_str)
            .unwrap_or(Operation::Action.as_str())
            .to_owned();
        Ok((to_json(&report)?, outcome))
    })
    .await
}
