//! The HTTP side of the emulator: two listeners (the org's My Domain host and a stand-in for
//! login.salesforce.com) sharing one state, the REST dispatcher for `/services/data/...`, and
//! the `/__emulator/` control routes.
//!
//! Every versioned REST request goes through the same steps, in Salesforce's order:
//! count it -> latency -> URI length (414) -> injected faults -> bearer token (401) -> edition
//! and user API gates (403) -> daily limit (403) -> the resource -> `Sforce-Limit-Info`.
//! The resources themselves are pure functions elsewhere (`query`, `dml`, and `bulk` for Bulk
//! API 2.0 query jobs); this module only routes, pages and shapes responses.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;

use super::bulk::{self, BulkJobs, BulkOptions};
use super::caller::Caller;
use super::error::ApiError;
use super::faults::{Faults, Injected};
use super::oauth::{self, Listener, Sessions, TokenContext};
use super::org::{Org, Value};
use super::query::{ExecOptions, ResultSet};
use super::stats::{Counters, Stats};
use super::{dml, schema};
use crate::salesforce::SfId;

/// The oldest and newest API versions served. Older versions answer 410 (retired, facts
/// "API version landscape"); newer ones 404.
pub const MIN_API_VERSION: u32 = 31;
/// See `MIN_API_VERSION`.
pub const MAX_API_VERSION: u32 = 67;
/// Versions up to this one are retired (410 GONE).
const RETIRED_UP_TO: u32 = 30;
/// Salesforce refuses REST URIs longer than this (facts 3.5).
const MAX_URI_BYTES: usize = 16_384;
/// How long a caller's computed permissions are reused when nothing changed.
const CALLER_CACHE_TTL: Duration = Duration::from_secs(1);
/// Open query cursors kept; the oldest are dropped beyond this (Salesforce keeps them 2 days).
const MAX_CURSORS: usize = 10_000;

/// One open query cursor.
struct Cursor {
    result: Arc<ResultSet>,
    batch_size: usize,
    all_rows: bool,
}

#[derive(Default)]
struct Cursors {
    next: u64,
    open: HashMap<String, Cursor>,
    order: VecDeque<String>,
}

/// Shared state of a running emulator.
pub struct AppState {
    /// The org. Held only briefly; never across an await.
    pub org: Arc<RwLock<Org>>,
    pub(crate) sessions: Mutex<Sessions>,
    cursors: Mutex<Cursors>,
    pub(crate) counters: Mutex<Counters>,
    pub(crate) faults: Mutex<Faults>,
    /// Effective permissions per user, with the org generation and the time they were
    /// computed at: computing them scans the assignments, too slow to repeat on every request
    /// of a large org. An entry is reused while no record changed, for at most
    /// `CALLER_CACHE_TTL`, so an assignment that expires on its own stops counting soon after.
    callers: Mutex<HashMap<SfId, (u64, std::time::Instant, Caller)>>,
    /// REST calls counted against the daily limit (`DailyApiRequests`).
    pub(crate) api_used: AtomicU64,
    /// Bulk API 2.0 query jobs.
    pub(crate) bulk: BulkJobs,
    /// The My Domain URL.
    pub instance_url: String,
    /// The login URL.
    pub login_url: String,
}

impl AppState {
    /// State for an org served at the given URLs, with query jobs behaving as `bulk` says.
    pub fn new(
        org: Org,
        faults: Faults,
        bulk: BulkOptions,
        instance_url: String,
        login_url: String,
    ) -> AppState {
        let mut sessions = Sessions::default();
        sessions.add_refresh_token(&org.integration.refresh_token, org.integration.user_id);
        AppState {
            org: Arc::new(RwLock::new(org)),
            sessions: Mutex::new(sessions),
            cursors: Mutex::new(Cursors::default()),
            counters: Mutex::new(Counters::default()),
            faults: Mutex::new(faults),
            callers: Mutex::new(HashMap::new()),
            api_used: AtomicU64::new(0),
            bulk: BulkJobs::new(bulk),
            instance_url,
            login_url,
        }
    }

    /// The counters plus current row counts.
    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.counters).snapshot();
        let org = read(&self.org);
        for table in org.tables() {
            stats
                .rows
                .insert(table.def.name.to_string(), table.rows.len() as u64);
        }
        stats
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn read(org: &RwLock<Org>) -> std::sync::RwLockReadGuard<'_, Org> {
    org.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write(org: &RwLock<Org>) -> std::sync::RwLockWriteGuard<'_, Org> {
    org.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The router for one listener.
pub fn router(state: Arc<AppState>, listener: Listener) -> Router {
    Router::new()
        .route("/services/oauth2/token", post(token_handler))
        .route("/services/oauth2/revoke", any(revoke_handler))
        .route("/services/oauth2/userinfo", get(userinfo_handler))
        .route("/id/{org}/{user}", get(identity_handler))
        .route("/services/data", get(versions_handler))
        .route("/services/data/", get(versions_handler))
        .route("/services/data/{*rest}", any(rest_handler))
        .route("/__emulator/stats", get(stats_handler))
        .route("/__emulator/reset-stats", post(reset_stats_handler))
        .route("/__emulator/expire-tokens", post(expire_tokens_handler))
        .route("/__emulator/faults", post(faults_handler))
        .fallback(not_found_handler)
        .layer(Extension(listener))
        .with_state(state)
}

fn count(state: &AppState, endpoint: &str, object: Option<&str>) {
    lock(&state.counters).record(endpoint, object);
}

async fn not_found_handler(State(state): State<Arc<AppState>>) -> Response {
    count(&state, "other", None);
    ApiError::not_found().into_response()
}

fn oauth_error(e: oauth::OAuthError) -> Response {
    (StatusCode::BAD_REQUEST, Json(e.to_json())).into_response()
}

fn parse_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn token_handler(
    State(state): State<Arc<AppState>>,
    Extension(listener): Extension<Listener>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    count(&state, "token", None);
    let latency = lock(&state.faults).latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(oauth::OAuthError {
            error: "invalid_request",
            description: "request body must be application/x-www-form-urlencoded".into(),
        });
    }
    let form = parse_form(&body);
    let ctx = TokenContext {
        listener,
        instance_url: &state.instance_url,
        login_url: &state.login_url,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    };
    let org = read(&state.org);
    let mut sessions = lock(&state.sessions);
    match oauth::token(&org, &mut sessions, &form, &ctx) {
        Ok(body) => Json(body).into_response(),
        Err(e) => oauth_error(e),
    }
}

async fn revoke_handler(State(state): State<Arc<AppState>>, uri: Uri, body: Bytes) -> Response {
    count(&state, "revoke", None);
    let mut form = parse_form(&body);
    if let Some(query) = uri.query() {
        form.extend(parse_form(query.as_bytes()));
    }
    let Some(token) = form.get("token") else {
        return oauth_error(oauth::OAuthError {
            error: "invalid_request",
            description: "missing required parameter: token".into(),
        });
    };
    if lock(&state.sessions).revoke(token) {
        StatusCode::OK.into_response()
    } else {
        oauth_error(oauth::OAuthError {
            error: "invalid_token",
            description: "invalid token".into(),
        })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Authenticates a bearer token: the user, or 401 INVALID_SESSION_ID.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<SfId, ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::invalid_session)?;
    let lifetime = Duration::from_secs(read(&state.org).settings.session_timeout_secs);
    let expire_every = lock(&state.faults).spec().expire_token_every;
    lock(&state.sessions)
        .authenticate(token, lifetime, expire_every)
        .map_err(|_| ApiError::invalid_session())
}

async fn identity_handler(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((_org, user)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    count(&state, "identity", None);
    let caller = match authenticate(&state, &headers) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    // A user may read only their own identity.
    match SfId::parse(&user) {
        Ok(id) if id == caller => {}
        _ => return (StatusCode::FORBIDDEN, "Bad_Id").into_response(),
    }
    let org = read(&state.org);
    match oauth::identity(&org, &caller, &state.login_url, &state.instance_url) {
        Some(body) => Json(body).into_response(),
        None => ApiError::not_found().into_response(),
    }
}

async fn userinfo_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    count(&state, "identity", None);
    let caller = match authenticate(&state, &headers) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let org = read(&state.org);
    match oauth::identity(&org, &caller, &state.login_url, &state.instance_url) {
        Some(identity) => Json(json!({
            "sub": identity["id"],
            "user_id": identity["user_id"],
            "organization_id": identity["organization_id"],
            "preferred_username": identity["username"],
            "name": identity["display_name"],
            "email": identity["email"],
            "active": identity["active"],
            "user_type": identity["user_type"],
        }))
        .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

fn version_label(major: u32) -> String {
    // Three releases a year, starting with Winter: 65 = Winter '26, 66 = Spring '26,
    // 67 = Summer '26, 64 = Summer '25 (facts, "API version landscape").
    let cycle = major as i64 - 65;
    let season = ["Winter", "Spring", "Summer"][cycle.rem_euclid(3) as usize];
    let year = 26 + cycle.div_euclid(3);
    format!("{season} '{:02}", year.rem_euclid(100))
}

async fn versions_handler(State(state): State<Arc<AppState>>) -> Response {
    // Does not count toward limits and carries no Sforce-Limit-Info (facts 3.2).
    count(&state, "versions", None);
    let versions: Vec<_> = (MIN_API_VERSION..=MAX_API_VERSION)
        .map(|v| {
            json!({"label": version_label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")})
        })
        .collect();
    Json(versions).into_response()
}

async fn stats_handler(State(state): State<Arc<AppState>>) -> Response {
    Json(state.stats()).into_response()
}

async fn reset_stats_handler(State(state): State<Arc<AppState>>) -> Response {
    lock(&state.counters).reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn expire_tokens_handler(State(state): State<Arc<AppState>>) -> Response {
    lock(&state.sessions).expire_all();
    StatusCode::NO_CONTENT.into_response()
}

async fn faults_handler(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let spec = String::from_utf8_lossy(&body);
    match super::faults::FaultSpec::parse(&spec) {
        Ok(spec) => {
            lock(&state.faults).set(spec);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// Editions whose orgs have no API access (facts 4: Group = "Team Edition", Essentials,
/// Personal, Contact Manager; Professional without the API add-on).
fn edition_allows_api(org: &Org) -> bool {
    let edition = org
        .table("Organization")
        .and_then(|t| {
            t.rows
                .values()
                .next()
                .and_then(|r| t.value(r, "OrganizationType"))
        })
        .and_then(Value::as_text)
        .unwrap_or("Enterprise Edition")
        .to_string();
    match edition.as_str() {
        "Team Edition"
        | "Group Edition"
        | "Base Edition"
        | "Essentials Edition"
        | "Personal Edition"
        | "Contact Manager Edition" => false,
        "Professional Edition" => org.settings.professional_api_add_on,
        _ => true,
    }
}

/// Parses `v66.0` into 66.
fn parse_version(segment: &str) -> Option<u32> {
    let rest = segment.strip_prefix('v')?;
    let (major, minor) = rest.split_once('.')?;
    if minor != "0" {
        return None;
    }
    major.parse().ok()
}

/// A dropped connection: headers go out, then the body fails, so the client sees the
/// connection die mid-response.
fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "emulator fault: connection dropped",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "1024")
        .body(Body::from_stream(stream))
        .expect("static response parts are valid")
}

fn endpoint_of(rest: &[&str]) -> (&'static str, Option<String>) {
    match rest {
        [] => ("resources", None),
        ["query" | "queryAll"] => ("query", None),
        ["query" | "queryAll", _] => ("query_more", None),
        ["sobjects"] => ("describe", None),
        ["sobjects", object, "describe"] => ("describe", Some((*object).to_string())),
        ["sobjects", object, ..] => ("sobjects", Some((*object).to_string())),
        ["composite", ..] => ("composite", None),
        ["limits"] => ("limits", None),
        // The object of a job is counted once known (`bulk`: from the query at creation,
        // from the job afterwards).
        ["jobs", "query", ..] => ("bulk_query", None),
        _ => ("other", None),
    }
}

fn canonical_object(name: &str) -> String {
    schema::object(name)
        .map(|o| o.name.to_string())
        .unwrap_or_else(|| name.to_string())
}

async fn rest_handler(
    State(state): State<Arc<AppState>>,
    Extension(listener): Extension<Listener>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path
        .strip_prefix("/services/data/")
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (endpoint, object) = endpoint_of(segments.get(1..).unwrap_or(&[]));
    count(
        &state,
        endpoint,
        object.as_deref().map(canonical_object).as_deref(),
    );
    let latency = lock(&state.faults).latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if listener == Listener::Login {
        // The generic login host serves OAuth only.
        return ApiError::not_found().into_response();
    }
    let Some(version) = segments.first().and_then(|s| parse_version(s)) else {
        return ApiError::not_found().into_response();
    };
    if version <= RETIRED_UP_TO {
        return ApiError::new(
            StatusCode::GONE,
            "GONE",
            format!(
                "The requested resource no longer exists: API version {version}.0 has been retired."
            ),
        )
        .into_response();
    }
    if !(MIN_API_VERSION..=MAX_API_VERSION).contains(&version) {
        return ApiError::not_found().into_response();
    }
    let request_number = lock(&state.counters).next_api_request();
    let uri_len = uri.path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if uri_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("The request URI is {uri_len} bytes long; the limit is {MAX_URI_BYTES}."),
        )
        .into_response();
    }
    match lock(&state.faults).decide(request_number) {
        Injected::None => {}
        Injected::Drop => return dropped_connection(),
        Injected::Unavailable => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                "Server is temporarily unavailable (emulator fault). Please try again.",
            )
            .into_response();
        }
        Injected::LockRow => {
            return ApiError::bad_request(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records: emulator fault",
            )
            .into_response();
        }
    }
    let user = match authenticate(&state, &headers) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let (caller, api_max) = {
        let org = read(&state.org);
        if !edition_allows_api(&org) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "API_DISABLED_FOR_ORG",
                "The REST API is not enabled for this Organization.",
            )
            .into_response();
        }
        let generation = org.generation();
        let mut callers = lock(&state.callers);
        let caller = match callers.get(&user) {
            Some((seen, at, caller)) if *seen == generation && at.elapsed() < CALLER_CACHE_TTL => {
                caller.clone()
            }
            _ => {
                let caller = Caller::of(&org, user);
                callers.insert(
                    user,
                    (generation, std::time::Instant::now(), caller.clone()),
                );
                caller
            }
        };
        (caller, org.settings.daily_api_requests)
    };
    if !caller.has(schema::perm::API_ENABLED) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "API_CURRENTLY_DISABLED",
            "API is disabled for this User",
        )
        .into_response();
    }
    let limit_after = lock(&state.faults).spec().limit_after;
    let used = state.api_used.fetch_add(1, Ordering::SeqCst) + 1;
    let max = limit_after.map_or(api_max, |n| n.min(api_max));
    let limit_header = HeaderValue::from_str(&format!("api-usage={}/{}", used.min(max), max))
        .expect("digits and ASCII are a valid header value");
    if used > max {
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .into_response();
        response
            .headers_mut()
            .insert("Sforce-Limit-Info", limit_header);
        return response;
    }
    let version_text = format!("{version}.0");
    let mut response = match dispatch(
        &state,
        &caller,
        &method,
        &segments[1..],
        &uri,
        &headers,
        &body,
        &version_text,
    ) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response
        .headers_mut()
        .insert("Sforce-Limit-Info", limit_header);
    response
}

pub(super) fn query_params(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| parse_form(q.as_bytes()))
        .unwrap_or_default()
}

pub(super) fn method_not_allowed(method: &Method, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
    )
}

pub(super) fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type '{content_type}' is not supported; send application/json"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("JSON_PARSER_ERROR", format!("Unexpected character: {e}"))
    })
}

fn json_object(
    value: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a value that is not an object",
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    rest: &[&str],
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    version: &str,
) -> Result<Response, ApiError> {
    match rest {
        [] => {
            let base = format!("/services/data/v{version}");
            Ok(Json(json!({
                "sobjects": format!("{base}/sobjects"),
                "query": format!("{base}/query"),
                "queryAll": format!("{base}/queryAll"),
                "limits": format!("{base}/limits"),
                "composite": format!("{base}/composite"),
                "jobs": format!("{base}/jobs"),
                "identity": format!("{}/id/", state.login_url),
            }))
            .into_response())
        }
        [kind @ ("query" | "queryAll")] => {
            if method != Method::GET {
                return Err(method_not_allowed(method, "GET,HEAD"));
            }
            let params = query_params(uri);
            let Some(text) = params.get("q") else {
                return Err(ApiError::bad_request(
                    "MALFORMED_QUERY",
                    "A query string has to be specified",
                ));
            };
            start_query(state, caller, text, *kind == "queryAll", headers, version)
        }
        [kind @ ("query" | "queryAll"), locator] => {
            if method != Method::GET {
                return Err(method_not_allowed(method, "GET,HEAD"));
            }
            query_more(state, kind, locator, version)
        }
        ["sobjects"] => Ok(Json(describe_global(version)).into_response()),
        ["sobjects", object, "describe"] => {
            let def = schema::object(object).ok_or_else(ApiError::not_found)?;
            Ok(Json(describe(def, version)).into_response())
        }
        ["sobjects", object] => {
            match *method {
                Method::POST => {
                    let body = json_object(json_body(headers, body)?)?;
                    let mut org = write(&state.org);
                    let id = dml::create(&mut org, caller, object, &body)?;
                    Ok((
                        StatusCode::CREATED,
                        Json(json!({"id": id.to_string(), "success": true, "errors": []})),
                    )
                        .into_response())
                }
                Method::GET => {
                    let def = schema::object(object).ok_or_else(ApiError::not_found)?;
                    Ok(Json(json!({"objectDescribe": describe_summary(def, version), "recentItems": []})).into_response())
                }
                _ => Err(method_not_allowed(method, "GET,HEAD,POST")),
            }
        }
        ["sobjects", object, id] => match *method {
            Method::GET | Method::HEAD => {
                let params = query_params(uri);
                let org = read(&state.org);
                let record = dml::retrieve(
                    &org,
                    caller,
                    object,
                    id,
                    params.get("fields").map(String::as_str),
                    version,
                )?;
                Ok(Json(record).into_response())
            }
            Method::PATCH => {
                let body = json_object(json_body(headers, body)?)?;
                let mut org = write(&state.org);
                dml::update(&mut org, caller, object, id, &body)?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Method::DELETE => {
                let mut org = write(&state.org);
                dml::delete(&mut org, caller, object, id)?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(method_not_allowed(method, "GET,HEAD,PATCH,DELETE")),
        },
        ["jobs", "query", rest @ ..] => {
            bulk::dispatch(state, caller, method, rest, uri, headers, body, version)
        }
        ["composite", "sobjects"] => {
            let mut org = write(&state.org);
            let results = match *method {
                Method::POST => {
                    dml::collection_create(&mut org, caller, &json_body(headers, body)?)?
                }
                Method::PATCH => {
                    dml::collection_update(&mut org, caller, &json_body(headers, body)?)?
                }
                Method::DELETE => {
                    let params = query_params(uri);
                    let ids = params.get("ids").map(String::as_str).unwrap_or("");
                    let all_or_none = params
                        .get("allOrNone")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    dml::collection_delete(&mut org, caller, ids, all_or_none)?
                }
                _ => return Err(method_not_allowed(method, "POST,PATCH,DELETE")),
            };
            Ok(Json(results).into_response())
        }
        ["limits"] => {
            if method != Method::GET {
                return Err(method_not_allowed(method, "GET,HEAD"));
            }
            let org = read(&state.org);
            if org.settings.limits_require_view_setup && !caller.has(schema::perm::VIEW_SETUP) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "INSUFFICIENT_ACCESS",
                    "The /limits resource requires the View Setup and Configuration permission.",
                ));
            }
            let max = org.settings.daily_api_requests;
            let used = state.api_used.load(Ordering::SeqCst).min(max);
            let bulk_max = org.settings.daily_bulk_v2_query_jobs;
            let bulk_used = state.bulk.jobs_created().min(bulk_max);
            Ok(Json(json!({
                "DailyApiRequests": {"Max": max, "Remaining": max - used},
                "DailyBulkV2QueryJobs": {"Max": bulk_max, "Remaining": bulk_max - bulk_used},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DataStorageMB": {"Max": 1024, "Remaining": 1024},
                "FileStorageMB": {"Max": 10240, "Remaining": 10240},
            }))
            .into_response())
        }
        _ => Err(ApiError::not_found()),
    }
}

fn batch_size(headers: &HeaderMap) -> usize {
    // `Sforce-Query-Options: batchSize=N`: 200-2000, default 2000 (facts 3.3).
    headers
        .get("Sforce-Query-Options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|part| part.trim().strip_prefix("batchSize="))
                .find_map(|n| n.trim().parse::<usize>().ok())
        })
        .map_or(2000, |n| n.clamp(200, 2000))
}

fn start_query(
    state: &AppState,
    caller: &Caller,
    text: &str,
    all_rows: bool,
    headers: &HeaderMap,
    version: &str,
) -> Result<Response, ApiError> {
    let options = ExecOptions {
        include_deleted: all_rows,
        api_version: version.to_string(),
    };
    let org = read(&state.org);
    let result = super::query::execute(&org, caller, text, &options)?;
    let mut batch = batch_size(headers);
    if result.object().name == "OauthToken" {
        // OauthToken returns at most 500 rows per call (facts 5.15).
        batch = batch.min(org.settings.oauth_token_page_size.max(1));
    }
    lock(&state.counters).record_object(result.object().name);
    let result = Arc::new(result);
    Ok(page(state, &org, result, None, batch, all_rows, 0, version))
}

fn query_more(
    state: &AppState,
    kind: &str,
    locator: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let (result, batch, all_rows) = {
        let cursors = lock(&state.cursors);
        let cursor = cursors.open.get(id).ok_or_else(invalid)?;
        if cursor.all_rows != (kind == "queryAll") {
            return Err(invalid());
        }
        (cursor.result.clone(), cursor.batch_size, cursor.all_rows)
    };
    if offset > result.len() {
        return Err(invalid());
    }
    lock(&state.counters).record_object(result.object().name);
    let org = read(&state.org);
    Ok(page(
        state,
        &org,
        result,
        Some(id),
        batch,
        all_rows,
        offset,
        version,
    ))
}

#[allow(clippy::too_many_arguments)]
fn page(
    state: &AppState,
    org: &Org,
    result: Arc<ResultSet>,
    locator: Option<&str>,
    batch: usize,
    all_rows: bool,
    offset: usize,
    version: &str,
) -> Response {
    let mut available = result.len();
    if result.object().name == "OauthToken"
        && let Some(cap) = org.settings.oauth_token_max_rows
    {
        // ...and at most 2,500 rows in all through queryMore (facts 5.15).
        available = available.min(cap);
    }
    let end = (offset + batch).min(available);
    let records = result.render(org, offset..end);
    let done = end >= available;
    let mut body = serde_json::Map::new();
    body.insert("totalSize".into(), result.total_size().into());
    body.insert("done".into(), done.into());
    if !done {
        let locator = match locator {
            Some(locator) => locator.to_string(),
            None => open_cursor(state, result.clone(), batch, all_rows),
        };
        let kind = if all_rows { "queryAll" } else { "query" };
        body.insert(
            "nextRecordsUrl".into(),
            format!("/services/data/v{version}/{kind}/{locator}-{end}").into(),
        );
    }
    body.insert("records".into(), serde_json::Value::Array(records));
    Json(serde_json::Value::Object(body)).into_response()
}

/// Registers a cursor and returns its 18-character locator (`0r8...`, as newer orgs issue).
fn open_cursor(state: &AppState, result: Arc<ResultSet>, batch: usize, all_rows: bool) -> String {
    let mut cursors = lock(&state.cursors);
    cursors.next += 1;
    let locator = SfId::from_counter("0r8", "xx", cursors.next).to_string();
    cursors.open.insert(
        locator.clone(),
        Cursor {
            result,
            batch_size: batch,
            all_rows,
        },
    );
    cursors.order.push_back(locator.clone());
    while cursors.order.len() > MAX_CURSORS {
        if let Some(old) = cursors.order.pop_front() {
            cursors.open.remove(&old);
        }
    }
    locator
}

fn describe_summary(def: &schema::ObjectDef, version: &str) -> serde_json::Value {
    json!({
        "name": def.name,
        "label": def.name,
        "keyPrefix": def.key_prefix,
        "queryable": true,
        "createable": def.createable,
        "updateable": def.updateable,
        "deletable": def.deletable,
        "replicateable": matches!(def.name, "User" | "Group" | "GroupMember" | "Profile" | "UserRole" | "Organization"),
        "custom": false,
        "urls": {
            "sobject": format!("/services/data/v{version}/sobjects/{}", def.name),
            "describe": format!("/services/data/v{version}/sobjects/{}/describe", def.name),
            "rowTemplate": format!("/services/data/v{version}/sobjects/{}/{{ID}}", def.name),
        },
    })
}

fn describe_global(version: &str) -> serde_json::Value {
    json!({
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": schema::OBJECTS.iter().map(|d| describe_summary(d, version)).collect::<Vec<_>>(),
    })
}

fn describe(def: &schema::ObjectDef, version: &str) -> serde_json::Value {
    let mut out = describe_summary(def, version);
    let fields: Vec<_> = def
        .fields
        .iter()
        .map(|f| {
            let ty = match f.ty {
                schema::FieldType::Id => "id",
                schema::FieldType::String => "string",
                schema::FieldType::Email => "email",
                schema::FieldType::Boolean => "boolean",
                schema::FieldType::Int => "int",
                schema::FieldType::DateTime => "datetime",
                schema::FieldType::Date => "date",
                schema::FieldType::Picklist => "picklist",
                schema::FieldType::Reference => "reference",
            };
            json!({
                "name": f.name,
                "type": ty,
                "nillable": f.nillable,
                "createable": f.createable,
                "updateable": f.updateable,
                "filterable": true,
                "length": f.length,
                "referenceTo": f.reference.map(|r| r.to.to_vec()).unwrap_or_default(),
                "relationshipName": f.reference.and_then(|r| r.relationship),
            })
        })
        .collect();
    out["fields"] = json!(fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_only_in_vnn_dot_zero_form() {
        assert_eq!(parse_version("v66.0"), Some(66));
        assert_eq!(parse_version("v54.0"), Some(54));
        assert_eq!(parse_version("66.0"), None);
        assert_eq!(parse_version("v66.1"), None);
        assert_eq!(parse_version("vX.0"), None);
    }

    #[test]
    fn version_labels_follow_the_release_calendar() {
        assert_eq!(version_label(64), "Summer '25");
        assert_eq!(version_label(65), "Winter '26");
        assert_eq!(version_label(66), "Spring '26");
        assert_eq!(version_label(67), "Summer '26");
    }

    #[test]
    fn batch_size_header_is_clamped_to_200_2000() {
        let mut headers = HeaderMap::new();
        assert_eq!(batch_size(&headers), 2000);
        headers.insert(
            "Sforce-Query-Options",
            HeaderValue::from_static("batchSize=200"),
        );
        assert_eq!(batch_size(&headers), 200);
        headers.insert(
            "Sforce-Query-Options",
            HeaderValue::from_static("batchSize=50"),
        );
        assert_eq!(batch_size(&headers), 200);
        headers.insert(
            "Sforce-Query-Options",
            HeaderValue::from_static("batchSize=9000"),
        );
        assert_eq!(batch_size(&headers), 2000);
    }
}
