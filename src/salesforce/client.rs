//! `Client`: the one request path to Salesforce's REST API, and the typed calls built on it.
//!
//! Every request goes through `Client::send`: API budget -> rate limiter -> concurrency cap
//! -> bearer token -> request -> record `Sforce-Limit-Info` -> non-2xx to `SalesforceError`
//! (parsing Salesforce's error array) -> retry decision (`retry::classify`) -> decode 2xx.
//! A `401 INVALID_SESSION_ID` logs in again once and resends once (facts 1.1).
//!
//! This module must not build SOQL text (that is `soql`), log a token or a body above
//! `trace`, or follow redirects (a 302 from a Lightning host drops POST bodies, facts 2, and
//! a followed redirect could carry the bearer token elsewhere).

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tokio::sync::Semaphore;
use url::Url;

use super::auth::{Authenticator, Credentials, Identity, Token};
use super::domain::{Instance, origin_string};
use super::error::{ApiError, ApiErrorItem, AuthFlow, LimitError, RequestLabel, SalesforceError};
use super::id::SfId;
use super::limits::{OrgLimits, UsageOptions, UsageSnapshot, UsageTracker};
use super::retry::{self, Answer, Backoff, Decision, TransportFailure};
use super::soql::{is_field_name, is_object_name};

/// The REST API version used unless `--api-version` says otherwise. 64.0 (Summer '25) is
/// served by every org on a current release and has every field sf-access reads.
pub const DEFAULT_API_VERSION: &str = "64.0";

/// The largest sObject collection Salesforce accepts in one call (facts 3.7).
pub const COLLECTION_LIMIT: usize = 200;

/// A REST API version such as `64.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(String);

impl ApiVersion {
    /// Parses `64.0` or `v64.0`. Versions up to 30.0 are retired (facts, version landscape).
    pub fn parse(s: &str) -> Result<ApiVersion, String> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        let (major, minor) = s
            .split_once('.')
            .ok_or_else(|| format!("{s:?} is not an API version like {DEFAULT_API_VERSION}"))?;
        let major: u32 = major
            .parse()
            .map_err(|_| format!("{s:?} is not an API version like {DEFAULT_API_VERSION}"))?;
        if minor != "0" {
            return Err(format!(
                "{s:?} is not an API version like {DEFAULT_API_VERSION}"
            ));
        }
        if major <= 30 {
            return Err(format!(
                "API version {major}.0 is retired (Salesforce retired 21.0-30.0 in Summer '25); use {DEFAULT_API_VERSION} or later"
            ));
        }
        Ok(ApiVersion(format!("{major}.0")))
    }

    /// `64.0`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion(DEFAULT_API_VERSION.to_string())
    }
}

/// Everything a client needs; built by `crate::settings` or by tests.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where the org is.
    pub instance: Instance,
    /// How to log in.
    pub credentials: Credentials,
    /// REST API version.
    pub api_version: ApiVersion,
    /// Requests per second (`--requests-per-second`).
    pub requests_per_second: NonZeroU32,
    /// Requests in flight at once (`--max-concurrency`, default 8).
    pub max_concurrency: NonZeroUsize,
    /// Retry attempts and backoff.
    pub backoff: Backoff,
    /// `--api-budget` and the usage warning.
    pub usage: UsageOptions,
    /// Per-request timeout (`--request-timeout`).
    pub timeout: Duration,
    /// Extra trusted CA certificates, PEM (`--ca-file`).
    pub ca_file: Option<PathBuf>,
}

impl ClientConfig {
    /// A configuration with the defaults for everything but the org and the credentials.
    pub fn new(instance: Instance, credentials: Credentials) -> ClientConfig {
        ClientConfig {
            instance,
            credentials,
            api_version: ApiVersion::default(),
            requests_per_second: NonZeroU32::new(100).expect("100 is not zero"),
            max_concurrency: NonZeroUsize::new(8).expect("8 is not zero"),
            backoff: Backoff::default(),
            usage: UsageOptions::default(),
            timeout: Duration::from_secs(120),
            ca_file: None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Relative to `/services/data/vXX.X/` (`query`, `sobjects/User/005...`).
    Versioned(String),
    /// An absolute path Salesforce handed out (`nextRecordsUrl`), validated.
    Path(String),
}

/// One REST request, before it is sent.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    method: Method,
    target: Target,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    body: Option<serde_json::Value>,
    sobject: Option<String>,
    chunked: bool,
}

impl ApiRequest {
    fn new(method: Method, target: Target) -> ApiRequest {
        ApiRequest {
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            sobject: None,
            chunked: false,
        }
    }

    /// Keeps a 2xx answer's body as the chunks it arrived in (`RawResponse::chunks`), never
    /// joined into one buffer: for answers of many megabytes (Bulk API results), whose one
    /// big buffer would stay in the heap after it is freed.
    pub fn chunked(mut self) -> ApiRequest {
        self.chunked = true;
        self
    }

    /// `GET /services/data/vXX.X/<path>`.
    pub fn get(path: &str) -> ApiRequest {
        ApiRequest::new(Method::GET, Target::Versioned(path.to_string()))
    }

    /// `POST` with a JSON body.
    pub fn post(path: &str, body: serde_json::Value) -> ApiRequest {
        ApiRequest::new(Method::POST, Target::Versioned(path.to_string())).json(body)
    }

    /// `PATCH` with a JSON body.
    pub fn patch(path: &str, body: serde_json::Value) -> ApiRequest {
        ApiRequest::new(Method::PATCH, Target::Versioned(path.to_string())).json(body)
    }

    /// `DELETE`.
    pub fn delete(path: &str) -> ApiRequest {
        ApiRequest::new(Method::DELETE, Target::Versioned(path.to_string()))
    }

    /// `GET` of an absolute path Salesforce returned (`nextRecordsUrl`). Only paths under
    /// `/services/data/` are accepted, so a response can never send the token elsewhere.
    pub fn get_path(path: &str) -> Result<ApiRequest, SalesforceError> {
        let valid = path.starts_with("/services/data/")
            && !path.contains("..")
            && !path.contains("//")
            && path.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(SalesforceError::config(
                "nextRecordsUrl",
                format!("Salesforce returned a paging URL outside /services/data/: {path:?}"),
            ));
        }
        Ok(ApiRequest::new(Method::GET, Target::Path(path.to_string())))
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: &str, value: impl Into<String>) -> ApiRequest {
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> ApiRequest {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the JSON body.
    pub fn json(mut self, body: serde_json::Value) -> ApiRequest {
        self.body = Some(body);
        self
    }

    /// Names the sObject the request concerns, for logs and permission hints.
    pub fn sobject(mut self, sobject: &str) -> ApiRequest {
        self.sobject = Some(sobject.to_string());
        self
    }

    /// GET, PATCH and DELETE may be repeated after an ambiguous failure; POST may not (see
    /// the decision table in `retry::classify`).
    fn is_idempotent(&self) -> bool {
        self.method != Method::POST
    }
}

/// A 2xx answer: status, headers, body.
#[derive(Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes, as the HTTP client assembled them (not copied); empty for a `chunked`
    /// request.
    pub body: bytes::Bytes,
    /// The body of a `chunked` request, in the chunks it arrived in.
    pub chunks: Vec<bytes::Bytes>,
}

/// A per-record result of a create, update or delete in an sObject collection (facts 3.7).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SaveResult {
    /// The record ID (absent when a create failed).
    #[serde(default, deserialize_with = "optional_id")]
    pub id: Option<SfId>,
    /// True when this record was saved.
    pub success: bool,
    /// Why not, with `statusCode` (read into `error_code`).
    #[serde(default)]
    pub errors: Vec<ApiErrorItem>,
}

fn optional_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SfId>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => SfId::parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// One record to create or update in a collection call.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRecord {
    /// The sObject (`PermissionSetAssignment`).
    pub object: String,
    /// Field values; for updates, without `Id` (given separately).
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The record to update; `None` for creates.
    pub id: Option<SfId>,
}

/// A Salesforce REST client. Cheap to clone; clones share the token, the limiter, the
/// concurrency cap and the usage counters.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: Authenticator,
    instance: Instance,
    api_version: ApiVersion,
    limiter: DefaultDirectRateLimiter,
    slots: Semaphore,
    backoff: Backoff,
    usage: UsageTracker,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("instance", &self.instance)
            .field("api_version", &self.api_version)
            .field("flow", &self.auth.flow())
            .finish_non_exhaustive()
    }
}

/// Builds the HTTP client: no redirects, timeouts, our user agent, the extra CA roots.
pub fn http_client(
    timeout: Duration,
    ca_file: Option<&PathBuf>,
) -> Result<reqwest::Client, SalesforceError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(15).min(timeout))
        .user_agent(concat!("sf-access/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SalesforceError::config("--ca-file", format!("cannot read {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            SalesforceError::config(
                "--ca-file",
                format!("{} is not a PEM file of CA certificates", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(SalesforceError::config(
                "--ca-file",
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| SalesforceError::config("--ca-file", format!("cannot set up TLS: {e}")))
}

impl Client {
    /// A client; it logs in on the first request (or `authenticate`).
    pub fn new(config: ClientConfig) -> Result<Client, SalesforceError> {
        let http = http_client(config.timeout, config.ca_file.as_ref())?;
        let auth = Authenticator::new(
            config.credentials,
            config.instance.clone(),
            http.clone(),
            config.backoff,
        );
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                auth,
                instance: config.instance,
                api_version: config.api_version,
                limiter: RateLimiter::direct(Quota::per_second(config.requests_per_second)),
                slots: Semaphore::new(config.max_concurrency.get()),
                backoff: config.backoff,
                usage: UsageTracker::new(config.usage),
            }),
        })
    }

    /// Logs in (if not yet) and returns the token's identity.
    pub async fn authenticate(&self) -> Result<Identity, SalesforceError> {
        let (token, _) = self.inner.auth.token().await?;
        Ok(token.identity.clone())
    }

    /// The instance as configured.
    pub fn instance(&self) -> &Instance {
        &self.inner.instance
    }

    /// The API version in use.
    pub fn api_version(&self) -> &ApiVersion {
        &self.inner.api_version
    }

    /// The login flow in use.
    pub fn flow(&self) -> AuthFlow {
        self.inner.auth.flow()
    }

    /// The REST base URL from the token response (logs in if needed).
    pub async fn instance_url(&self) -> Result<Url, SalesforceError> {
        let (token, _) = self.inner.auth.token().await?;
        Ok(token.instance_url.clone())
    }

    /// Calls made, the org's usage and the budget, so far.
    pub fn usage(&self) -> UsageSnapshot {
        self.inner.usage.snapshot()
    }

    /// Token endpoint calls made so far.
    pub async fn logins(&self) -> u64 {
        self.inner.auth.logins().await
    }

    /// Sends a request and decodes a 2xx JSON body into `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<T, SalesforceError> {
        let label = self.label(&request);
        let raw = self.send_raw(request).await?;
        // UTF-8 checked once for the whole body: `from_slice` checks each string on its own,
        // which cost about 5% of a large sync's reading. A body that is not UTF-8 goes to
        // `from_slice`, whose error says where.
        let decoded = match std::str::from_utf8(&raw.body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(&raw.body),
        };
        decoded.map_err(|e| SalesforceError::decode(&label, std::any::type_name::<T>(), &e))
    }

    /// Sends a request whose answer has no body worth reading (204).
    pub async fn send_empty(&self, request: ApiRequest) -> Result<(), SalesforceError> {
        self.send_raw(request).await.map(|_| ())
    }

    pub(crate) fn label(&self, request: &ApiRequest) -> RequestLabel {
        let path = match &request.target {
            Target::Versioned(rel) => format!(
                "/services/data/v{}/{}",
                self.inner.api_version.as_str(),
                rel
            ),
            Target::Path(path) => path.clone(),
        };
        RequestLabel {
            method: request.method.clone(),
            path,
            sobject: request.sobject.clone(),
        }
    }

    fn url(&self, token: &Token, request: &ApiRequest) -> Result<Url, SalesforceError> {
        let base = token.instance_url.as_str().trim_end_matches('/');
        let path = self.label(request).path;
        let mut url = Url::parse(&format!("{base}{path}")).map_err(|_| {
            SalesforceError::config("request path", format!("{path:?} does not form a URL"))
        })?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter());
        }
        Ok(url)
    }

    /// The request path of the module doc: every REST call goes through here.
    pub async fn send_raw(&self, request: ApiRequest) -> Result<RawResponse, SalesforceError> {
        let inner = &self.inner;
        let label = self.label(&request);
        let (mut token, mut generation) = inner.auth.token().await?;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            inner.usage.reserve().map_err(SalesforceError::Limit)?;
            inner.limiter.until_ready().await;
            let url = self.url(&token, &request)?;
            let started = Instant::now();
            let result = {
                let _slot =
                    inner.slots.acquire().await.map_err(|_| {
                        SalesforceError::config("client", "the client was shut down")
                    })?;
                self.attempt(&token, &request, url).await
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (status, headers, body, chunks) = match result {
                Ok(parts) => parts,
                Err(error) => {
                    let failure = TransportFailure::of(&error);
                    let decision =
                        retry::classify(request.is_idempotent(), Answer::Transport(failure));
                    tracing::debug!(request = %label, attempt, elapsed_ms, failure = failure.describe(), "no answer");
                    if decision == Decision::Retry && inner.backoff.allows_another(attempt) {
                        self.wait(attempt, &label, failure.describe()).await;
                        continue;
                    }
                    return Err(SalesforceError::Transport {
                        request: label,
                        attempts: attempt,
                        what: failure.describe(),
                        source: error.without_url(),
                    });
                }
            };
            let limit_info = headers
                .get("sforce-limit-info")
                .and_then(|v| v.to_str().ok());
            inner.usage.record(limit_info);
            tracing::debug!(
                request = %label,
                sobject = request.sobject.as_deref().unwrap_or(""),
                status,
                attempt,
                elapsed_ms,
                api_usage = limit_info.unwrap_or(""),
                "salesforce answered"
            );
            if (200..300).contains(&status) {
                return Ok(RawResponse {
                    status,
                    headers,
                    body,
                    chunks,
                });
            }
            let error = api_error(&label, status, &headers, &body);
            let decision = retry::classify(
                request.is_idempotent(),
                Answer::Status {
                    status,
                    code: error.code(),
                    message: error.message(),
                },
            );
            match decision {
                Decision::Done => return Err(SalesforceError::Api(error)),
                Decision::Reauthenticate if !reauthenticated => {
                    reauthenticated = true;
                    // The resend is not a retry: the request itself did not fail.
                    attempt -= 1;
                    (token, generation) = inner.auth.reauthenticate(generation).await?;
                }
                Decision::Reauthenticate => return Err(SalesforceError::Api(error)),
                Decision::Retry if inner.backoff.allows_another(attempt) => {
                    self.wait(attempt, &label, error.code()).await;
                }
                Decision::Retry => return Err(SalesforceError::Api(error)),
                Decision::StopRun => {
                    tracing::error!(
                        request = %label,
                        error_code = error.code(),
                        "the org's daily API request limit is exhausted; stopping"
                    );
                    return Err(SalesforceError::Limit(LimitError::Daily {
                        message: error.message().to_string(),
                        usage: inner.usage.last_usage(),
                    }));
                }
            }
        }
    }

    async fn attempt(
        &self,
        token: &Token,
        request: &ApiRequest,
        url: Url,
    ) -> Result<(u16, HeaderMap, bytes::Bytes, Vec<bytes::Bytes>), reqwest::Error> {
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", token.access_token.expose()))
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        authorization.set_sensitive(true);
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .header(AUTHORIZATION, authorization)
            // Salesforce attributes API usage per client in its reports (facts 3.1).
            .header("Sforce-Call-Options", "client=sf-access");
        // JSON unless the request asks for another type (Bulk API 2.0 results are CSV).
        if !request.headers.iter().any(|(name, _)| name == ACCEPT) {
            builder = builder.header(ACCEPT, "application/json");
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.clone(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if request.chunked && (200..300).contains(&status) {
            let mut chunks = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                chunks.push(chunk);
            }
            return Ok((status, headers, bytes::Bytes::new(), chunks));
        }
        let body = response.bytes().await?;
        Ok((status, headers, body, Vec::new()))
    }

    async fn wait(&self, attempt: u32, label: &RequestLabel, why: &str) {
        let delay = self.inner.backoff.delay(attempt);
        tracing::warn!(
            request = %label,
            attempt,
            error_code = why,
            delay_ms = delay.as_millis() as u64,
            "request failed; retrying"
        );
        tokio::time::sleep(delay).await;
    }

    /// `GET /limits`.
    pub async fn limits(&self) -> Result<OrgLimits, SalesforceError> {
        self.send(ApiRequest::get("limits")).await
    }

    /// `POST /sobjects/<object>`: creates a record, returns its ID.
    pub async fn create(
        &self,
        object: &str,
        fields: &serde_json::Value,
    ) -> Result<SfId, SalesforceError> {
        check_object(object)?;
        let request =
            ApiRequest::post(&format!("sobjects/{object}"), fields.clone()).sobject(object);
        let label = self.label(&request);
        let result: SaveResult = self.send(request).await?;
        match (result.success, result.id) {
            (true, Some(id)) => Ok(id),
            _ => Err(SalesforceError::Api(ApiError {
                request: label,
                status: 201,
                errors: if result.errors.is_empty() {
                    vec![ApiErrorItem {
                        error_code: "NO_ID".into(),
                        message: "the create answer has no record ID".into(),
                        fields: Vec::new(),
                    }]
                } else {
                    result.errors
                },
            })),
        }
    }

    /// `PATCH /sobjects/<object>/<id>`: sets the given fields (`""` clears a lookup).
    pub async fn update(
        &self,
        object: &str,
        id: &SfId,
        fields: &serde_json::Value,
    ) -> Result<(), SalesforceError> {
        check_object(object)?;
        self.send_empty(
            ApiRequest::patch(&format!("sobjects/{object}/{id}"), fields.clone()).sobject(object),
        )
        .await
    }

    /// `DELETE /sobjects/<object>/<id>`.
    pub async fn delete(&self, object: &str, id: &SfId) -> Result<(), SalesforceError> {
        check_object(object)?;
        self.send_empty(ApiRequest::delete(&format!("sobjects/{object}/{id}")).sobject(object))
            .await
    }

    /// `GET /sobjects/<object>/<id>?fields=...`: one record, decoded into `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        object: &str,
        id: &SfId,
        fields: &[&str],
    ) -> Result<T, SalesforceError> {
        check_object(object)?;
        let mut request = ApiRequest::get(&format!("sobjects/{object}/{id}")).sobject(object);
        if !fields.is_empty() {
            if let Some(bad) = fields.iter().find(|f| !is_field_name(f) || f.contains('.')) {
                return Err(SalesforceError::config(
                    "field name",
                    format!("{bad:?} is not a field name"),
                ));
            }
            request = request.query("fields", fields.join(","));
        }
        self.send(request).await
    }

    /// `POST /composite/sobjects`: creates up to 200 records per call (more are split into
    /// several calls unless `all_or_none`). One `SaveResult` per record, in order.
    pub async fn create_collection(
        &self,
        records: &[CollectionRecord],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        self.write_collection(Method::POST, records, all_or_none)
            .await
    }

    /// `PATCH /composite/sobjects`: updates up to 200 records per call; each needs `id`.
    pub async fn update_collection(
        &self,
        records: &[CollectionRecord],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        if records.iter().any(|r| r.id.is_none()) {
            return Err(SalesforceError::config(
                "records",
                "every record of an update needs its ID",
            ));
        }
        self.write_collection(Method::PATCH, records, all_or_none)
            .await
    }

    async fn write_collection(
        &self,
        method: Method,
        records: &[CollectionRecord],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        check_collection_size(records.len(), all_or_none)?;
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_LIMIT) {
            let mut body = Vec::with_capacity(chunk.len());
            for record in chunk {
                check_object(&record.object)?;
                let mut object = serde_json::Map::new();
                object.insert(
                    "attributes".into(),
                    serde_json::json!({ "type": record.object }),
                );
                if let Some(id) = &record.id {
                    object.insert("id".into(), serde_json::Value::String(id.to_string()));
                }
                object.extend(record.fields.clone());
                body.push(serde_json::Value::Object(object));
            }
            let payload = serde_json::json!({ "allOrNone": all_or_none, "records": body });
            let mut request = ApiRequest::new(
                method.clone(),
                Target::Versioned("composite/sobjects".into()),
            )
            .json(payload);
            if let Some(first) = chunk.first() {
                request = request.sobject(&first.object);
            }
            let chunk_results: Vec<SaveResult> = self.send(request).await?;
            results.extend(chunk_results);
        }
        Ok(results)
    }

    /// `DELETE /composite/sobjects?ids=...`: deletes up to 200 records per call.
    pub async fn delete_collection(
        &self,
        ids: &[SfId],
        all_or_none: bool,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        check_collection_size(ids.len(), all_or_none)?;
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let joined = chunk.iter().map(SfId::as_str).collect::<Vec<_>>().join(",");
            let request = ApiRequest::delete("composite/sobjects")
                .query("ids", joined)
                .query("allOrNone", all_or_none.to_string());
            let chunk_results: Vec<SaveResult> = self.send(request).await?;
            results.extend(chunk_results);
        }
        Ok(results)
    }

    /// The base URL of the org as a string, for reports.
    pub async fn instance_origin(&self) -> Result<String, SalesforceError> {
        Ok(origin_string(&self.instance_url().await?))
    }
}

fn check_object(object: &str) -> Result<(), SalesforceError> {
    if is_object_name(object) {
        Ok(())
    } else {
        Err(SalesforceError::config(
            "sObject name",
            format!("{object:?} is not an sObject API name"),
        ))
    }
}

fn check_collection_size(len: usize, all_or_none: bool) -> Result<(), SalesforceError> {
    if all_or_none && len > COLLECTION_LIMIT {
        return Err(SalesforceError::config(
            "records",
            format!(
                "{len} records cannot be saved all-or-none: Salesforce takes at most {COLLECTION_LIMIT} per call"
            ),
        ));
    }
    Ok(())
}

/// Turns a non-2xx answer into an `ApiError`: the error array, a single error object (newer
/// resources, facts 4.1), or, for anything else, the status alone. The body itself is never
/// copied into the error beyond Salesforce's own `message` fields.
fn api_error(label: &RequestLabel, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let errors = if let Ok(items) = serde_json::from_slice::<Vec<ApiErrorItem>>(body)
        && !items.is_empty()
    {
        items
    } else if let Ok(item) = serde_json::from_slice::<ApiErrorItem>(body)
        && !item.error_code.is_empty()
    {
        vec![item]
    } else if (300..400).contains(&status) {
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| Url::parse(l).ok())
            .map(|u| origin_string(&u))
            .unwrap_or_else(|| "another host".into());
        vec![ApiErrorItem {
            error_code: "REDIRECT".into(),
            message: format!(
                "Salesforce redirected to {location}; set --instance-url to that host"
            ),
            fields: Vec::new(),
        }]
    } else {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status");
        vec![ApiErrorItem {
            error_code: format!("HTTP_{status}"),
            message: reason.to_string(),
            fields: Vec::new(),
        }]
    };
    ApiError {
        request: label.clone(),
        status,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_accepts_current_and_refuses_retired() {
        assert_eq!(ApiVersion::parse("64.0").unwrap().as_str(), "64.0");
        assert_eq!(ApiVersion::parse("v66.0").unwrap().as_str(), "66.0");
        assert!(ApiVersion::parse("30.0").unwrap_err().contains("retired"));
        assert!(ApiVersion::parse("64").is_err());
        assert!(ApiVersion::parse("64.1").is_err());
        assert!(ApiVersion::parse("latest").is_err());
    }

    #[test]
    fn paging_paths_must_stay_under_services_data() {
        assert!(ApiRequest::get_path("/services/data/v64.0/query/01gxx-2000").is_ok());
        for bad in [
            "https://evil.example/services/data/v64.0/query/x",
            "//evil.example/services/data/",
            "/services/data/../../x",
            "/other/path",
            "/services/data/v64.0/query/x y",
        ] {
            assert!(ApiRequest::get_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies_of_every_shape_become_api_errors() {
        let label = RequestLabel {
            method: Method::GET,
            path: "/services/data/v64.0/query".into(),
            sobject: Some("User".into()),
        };
        let headers = HeaderMap::new();
        let e = api_error(
            &label,
            400,
            &headers,
            br#"[{"message":"bad","errorCode":"MALFORMED_QUERY"}]"#,
        );
        assert_eq!(e.code(), "MALFORMED_QUERY");
        let e = api_error(
            &label,
            400,
            &headers,
            br#"{"message":"single","errorCode":"NOT_FOUND"}"#,
        );
        assert_eq!(e.code(), "NOT_FOUND");
        let e = api_error(&label, 502, &headers, b"<html>Bad gateway</html>");
        assert_eq!(e.code(), "HTTP_502");
        assert!(!e.to_string().contains("html"));
        let mut redirect = HeaderMap::new();
        redirect.insert(
            reqwest::header::LOCATION,
            HeaderValue::from_static("https://acme.my.salesforce.com/services/data"),
        );
        let e = api_error(&label, 302, &redirect, b"");
        assert!(
            e.message().contains("https://acme.my.salesforce.com"),
            "{e}"
        );
    }

    #[test]
    fn save_results_parse_with_missing_and_null_ids() {
        let results: Vec<SaveResult> = serde_json::from_str(
            r#"[{"id":"005xx000001Sv6eAAC","success":true,"errors":[]},
                {"success":false,"errors":[{"statusCode":"DUPLICATE_VALUE","message":"dup","fields":[]}]},
                {"id":null,"success":false,"errors":[]}]"#,
        )
        .unwrap();
        assert_eq!(results[0].id.unwrap().as_str(), "005xx000001Sv6eAAC");
        assert_eq!(results[1].id, None);
        assert_eq!(results[1].errors[0].error_code, "DUPLICATE_VALUE");
        assert_eq!(results[2].id, None);
    }
}
