//! Bulk API 2.0 query jobs (facts 3.10): `POST/GET /services/data/vXX.X/jobs/query`,
//! `GET/PATCH/DELETE .../jobs/query/{id}` and `GET .../jobs/query/{id}/results`.
//!
//! Owns the job table, the job state machine, the request validation of these resources and
//! the CSV rendering of results sets. The REST dispatcher (`server`) routes here after its
//! usual steps (counting, latency, faults, bearer token, API gates, daily limit,
//! `Sforce-Limit-Info`), so every request here is one API request, like a REST query page.
//! It must not parse or run SOQL itself: a job runs its query once, at creation, through
//! `query::execute` (same errors and permission checks as REST), and keeps the [`ResultSet`]
//! (matching IDs in order), never a CSV string. Each results set is rendered on demand.
//!
//! Time: a job is `UploadComplete`, then `InProgress`, then `JobComplete` once its processing
//! time ([`BulkOptions`]) has elapsed since creation. Time is tokio's clock, so a test with a
//! paused clock can advance through it.
//!
//! Known difference from Salesforce: Salesforce writes the results when the job runs; the
//! emulator fixes the rows (which IDs, in which order) at creation but reads their values when
//! a set is rendered, so a row changed after creation shows its new values and a row
//! hard-deleted since is skipped (a set may then hold fewer rows than asked).
//!
//! Error codes (HTTP status, `errorCode`). Documented: unknown job 404 `NOT_FOUND`; results
//! with another API version than the job's: 409 (the code is UNCERTAIN: `API_ERROR`);
//! deleting a job that is not terminated: 400 `API_ERROR` "Error encountered when deleting the
//! job because the job is not terminated". SOQL errors are the REST ones (`MALFORMED_QUERY`,
//! `INVALID_FIELD`, `INVALID_TYPE`, ...). UNCERTAIN (Salesforce's code not known; chosen to be
//! distinct and strict): a bad create or abort body field 400 `INVALIDJOB` (with `fields`); an
//! unparseable body 400 `JSON_PARSER_ERROR` (as REST); a query feature Bulk 2.0 refuses 400
//! `API_ERROR`; results of a job that is not `JobComplete` 400 `API_ERROR`; aborting a job that
//! is already terminated 400 `API_ERROR`; a bad `maxRecords` 400 `API_ERROR`; a locator never
//! issued 400 `INVALID_QUERY_LOCATOR`; more jobs than `DailyBulkV2QueryJobs` 400
//! `LIMIT_EXCEEDED`; API versions below 47.0 (no Bulk 2.0 query) 404 `NOT_FOUND`.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;

use super::caller::Caller;
use super::error::ApiError;
use super::org::{Value, format_datetime};
use super::query::{self, ExecOptions, ResultSet};
use super::server::{
    AppState, json_body, lock, method_not_allowed, query_params, read as read_org,
};
use super::soql::{self, SelectItem};
use crate::salesforce::SfId;

/// Bulk API 2.0 query jobs exist from API 47.0 on (facts 3.10).
pub const MIN_BULK_QUERY_API_VERSION: u32 = 47;
/// Jobs kept; the oldest are dropped beyond this (Salesforce keeps them 7 days). Each holds
/// its result's IDs, so the bound is lower than the cursors'.
const MAX_JOBS: usize = 1_000;
/// The key prefix of Bulk API job IDs (1.0 and 2.0 alike).
const JOB_KEY_PREFIX: &str = "750";

const INVALID_JOB: &str = "INVALIDJOB";
const API_ERROR: &str = "API_ERROR";

/// How the emulator's query jobs behave in time and size (`sf-access emulator --bulk-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOptions {
    /// Milliseconds a job stays queued and in progress before `JobComplete`, whatever its
    /// size. Salesforce's real queueing time is UNCERTAIN and often longer.
    pub job_ms: u64,
    /// Milliseconds added per 10,000 result rows (proportionally).
    pub job_ms_per_10k_rows: u64,
    /// The most rows in one results set, with or without `maxRecords` (Salesforce: "as many
    /// as can be listed, subject to size limits", UNCERTAIN).
    pub results_max: usize,
    /// Objects whose jobs end `Failed` (with an `errorMessage`) instead of `JobComplete`, at
    /// the end of their processing time: for testing how a client falls back. Canonical
    /// object names; empty by default.
    pub fail_objects: Vec<String>,
}

impl Default for BulkOptions {
    /// The `sf-access emulator` defaults: 2,000 ms plus 100 ms per 10,000 rows, 100,000 rows
    /// per set.
    fn default() -> Self {
        BulkOptions {
            job_ms: 2_000,
            job_ms_per_10k_rows: 100,
            results_max: 100_000,
            fail_objects: Vec::new(),
        }
    }
}

impl BulkOptions {
    /// Jobs complete at once (tests); sets as large as by default.
    pub fn instant() -> Self {
        BulkOptions {
            job_ms: 0,
            job_ms_per_10k_rows: 0,
            ..BulkOptions::default()
        }
    }

    /// How long a job of `rows` rows takes.
    pub fn processing_time(&self, rows: usize) -> Duration {
        let per_rows = u128::from(self.job_ms_per_10k_rows) * rows as u128 / 10_000;
        let ms = u128::from(self.job_ms).saturating_add(per_rows);
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// The query jobs of one emulator.
pub struct BulkJobs {
    options: BulkOptions,
    table: Mutex<JobTable>,
}

#[derive(Default)]
struct JobTable {
    /// The counter of the last job ID issued.
    next: u64,
    /// Jobs created since the emulator started (`DailyBulkV2QueryJobs`).
    created: u64,
    jobs: HashMap<SfId, Job>,
    /// Job IDs, oldest first, to drop the oldest beyond `MAX_JOBS` and to list in order.
    order: VecDeque<SfId>,
}

impl BulkJobs {
    /// An empty job table.
    pub fn new(options: BulkOptions) -> BulkJobs {
        BulkJobs {
            options,
            table: Mutex::new(JobTable::default()),
        }
    }

    /// Jobs created so far, for `/limits` (`DailyBulkV2QueryJobs.Remaining`).
    pub fn jobs_created(&self) -> u64 {
        lock(&self.table).created
    }
}

/// `operation` of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// Live rows only.
    Query,
    /// Also soft-deleted rows, as REST `queryAll` (facts 3.3).
    QueryAll,
}

impl Operation {
    fn parse(text: &str) -> Option<Operation> {
        match text {
            "query" => Some(Operation::Query),
            "queryAll" => Some(Operation::QueryAll),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::QueryAll => "queryAll",
        }
    }
}

/// `columnDelimiter` of a job (default `COMMA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delimiter {
    Backquote,
    Caret,
    Comma,
    Pipe,
    Semicolon,
    Tab,
}

impl Delimiter {
    const ALL: [Delimiter; 6] = [
        Delimiter::Backquote,
        Delimiter::Caret,
        Delimiter::Comma,
        Delimiter::Pipe,
        Delimiter::Semicolon,
        Delimiter::Tab,
    ];

    fn name(self) -> &'static str {
        match self {
            Delimiter::Backquote => "BACKQUOTE",
            Delimiter::Caret => "CARET",
            Delimiter::Comma => "COMMA",
            Delimiter::Pipe => "PIPE",
            Delimiter::Semicolon => "SEMICOLON",
            Delimiter::Tab => "TAB",
        }
    }

    fn char(self) -> char {
        match self {
            Delimiter::Backquote => '`',
            Delimiter::Caret => '^',
            Delimiter::Comma => ',',
            Delimiter::Pipe => '|',
            Delimiter::Semicolon => ';',
            Delimiter::Tab => '\t',
        }
    }
}

/// `lineEnding` of a job (default `LF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnding {
    Lf,
    Crlf,
}

impl LineEnding {
    fn name(self) -> &'static str {
        match self {
            LineEnding::Lf => "LF",
            LineEnding::Crlf => "CRLF",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::Crlf => "\r\n",
        }
    }
}

/// `state` of a query job. Query jobs never report `Open` (that is ingest). The emulator's
/// end `Failed` only over an object of `BulkOptions::fail_objects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::UploadComplete => "UploadComplete",
            State::InProgress => "InProgress",
            State::JobComplete => "JobComplete",
            State::Failed => "Failed",
            State::Aborted => "Aborted",
        }
    }

    fn is_terminated(self) -> bool {
        matches!(self, State::JobComplete | State::Failed | State::Aborted)
    }
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobRequest {
    operation: Operation,
    query: String,
    delimiter: Delimiter,
    line_ending: LineEnding,
}

/// One query job.
struct Job {
    id: SfId,
    operation: Operation,
    /// Canonical name of the queried object.
    object: &'static str,
    created_by: SfId,
    /// Wall-clock creation time, epoch milliseconds (whole seconds, as Salesforce shows).
    created_ms: i64,
    /// When processing started, on tokio's clock.
    started: Instant,
    processing: Duration,
    /// Major API version of the create request.
    api_version: u32,
    delimiter: Delimiter,
    line_ending: LineEnding,
    result: Arc<ResultSet>,
    /// Wall-clock time of the abort, epoch milliseconds.
    aborted_ms: Option<i64>,
    /// Ends `Failed` rather than `JobComplete` (`BulkOptions::fail_objects`).
    fails: bool,
    /// Locators issued for this job and the row offset each starts at.
    locators: HashMap<String, usize>,
}

impl Job {
    /// The state at `now` (see [`state_after`]).
    fn state(&self, now: Instant) -> State {
        state_after(
            now.saturating_duration_since(self.started),
            self.processing,
            self.aborted_ms.is_some(),
            self.fails,
        )
    }

    /// The job resource. `detail` adds what Get Information About a Query Job adds to the
    /// create response (`jobType`, counts and times); `state` overrides the computed state
    /// (the create response always says `UploadComplete`).
    fn to_json(&self, now: Instant, detail: bool, state: Option<State>) -> Json {
        let state = state.unwrap_or_else(|| self.state(now));
        let processing_ms = i64::try_from(self.processing.as_millis()).unwrap_or(i64::MAX);
        let modstamp = match state {
            State::UploadComplete | State::InProgress => self.created_ms,
            State::JobComplete | State::Failed => {
                whole_seconds(self.created_ms.saturating_add(processing_ms))
            }
            State::Aborted => self.aborted_ms.unwrap_or(self.created_ms),
        };
        let mut out = Map::new();
        out.insert("id".into(), self.id.as_str().into());
        out.insert("operation".into(), self.operation.as_str().into());
        out.insert("object".into(), self.object.into());
        out.insert("createdById".into(), self.created_by.as_str().into());
        out.insert(
            "createdDate".into(),
            format_datetime(self.created_ms).into(),
        );
        out.insert("systemModstamp".into(), format_datetime(modstamp).into());
        out.insert("state".into(), state.as_str().into());
        out.insert("concurrencyMode".into(), "Parallel".into());
        out.insert("contentType".into(), "CSV".into());
        out.insert("apiVersion".into(), json!(f64::from(self.api_version)));
        if detail {
            out.insert("jobType".into(), "V2Query".into());
        }
        out.insert("lineEnding".into(), self.line_ending.name().into());
        out.insert("columnDelimiter".into(), self.delimiter.name().into());
        if detail {
            let complete = state == State::JobComplete;
            let rows = if complete { self.result.len() } else { 0 };
            out.insert("numberRecordsProcessed".into(), rows.into());
            out.insert("retries".into(), 0.into());
            let time = if complete { processing_ms } else { 0 };
            out.insert("totalProcessingTime".into(), time.into());
            if state == State::Failed {
                // The text of a failed query job's message is UNCERTAIN.
                out.insert(
                    "errorMessage".into(),
                    format!(
                        "InternalServerError : Failed to process query on {}",
                        self.object
                    )
                    .into(),
                );
            }
        }
        Json::Object(out)
    }
}

/// The state of a job `elapsed` after its creation: `UploadComplete` for the first tenth of
/// its processing time (queued), `InProgress` for the rest, then `JobComplete` (`Failed` for
/// a job that `fails`); `Aborted` once aborted.
fn state_after(elapsed: Duration, processing: Duration, aborted: bool, fails: bool) -> State {
    if aborted {
        State::Aborted
    } else if elapsed >= processing && fails {
        State::Failed
    } else if elapsed >= processing {
        State::JobComplete
    } else if elapsed < processing / 10 {
        State::UploadComplete
    } else {
        State::InProgress
    }
}

fn whole_seconds(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// The major version of a request's `"66.0"`.
fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Serves `jobs/query` and below; `rest` is the path after `jobs/query`.
#[allow(clippy::too_many_arguments)]
pub(super) fn dispatch(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    rest: &[&str],
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    version: &str,
) -> Result<Response, ApiError> {
    let version = major(version);
    if version < MIN_BULK_QUERY_API_VERSION {
        return Err(ApiError::not_found());
    }
    match rest {
        [] => match *method {
            Method::POST => create(state, caller, headers, body, version),
            Method::GET | Method::HEAD => Ok(list(&state.bulk)),
            _ => Err(method_not_allowed(method, "GET,HEAD,POST")),
        },
        [id] => match *method {
            Method::GET | Method::HEAD => {
                let jobs = &state.bulk;
                let table = lock(&jobs.table);
                let job = find(state, &table, id)?;
                Ok(axum::Json(job.to_json(Instant::now(), true, None)).into_response())
            }
            Method::PATCH => abort(state, id, headers, body),
            Method::DELETE => delete(state, id),
            _ => Err(method_not_allowed(method, "GET,HEAD,PATCH,DELETE")),
        },
        [id, "results"] => match *method {
            Method::GET | Method::HEAD => results(state, id, uri, version),
            _ => Err(method_not_allowed(method, "GET,HEAD")),
        },
        _ => Err(ApiError::not_found()),
    }
}

/// The job named in the path, counted under its object (every request about an existing job
/// counts under that job's object in `requests_by_object`). An ID that is not a job's: 404.
fn find<'t>(state: &AppState, table: &'t JobTable, id: &str) -> Result<&'t Job, ApiError> {
    let job = SfId::parse(id)
        .ok()
        .and_then(|id| table.jobs.get(&id))
        .ok_or_else(ApiError::not_found)?;
    lock(&state.counters).record_object(job.object);
    Ok(job)
}

fn find_mut<'t>(
    state: &AppState,
    table: &'t mut JobTable,
    id: &str,
) -> Result<&'t mut Job, ApiError> {
    let job = SfId::parse(id)
        .ok()
        .and_then(|id| table.jobs.get_mut(&id))
        .ok_or_else(ApiError::not_found)?;
    lock(&state.counters).record_object(job.object);
    Ok(job)
}

fn invalid_field(field: &str, message: String) -> ApiError {
    ApiError::bad_request(INVALID_JOB, message).with_fields([field])
}

/// Validates a create body: `operation` and `query` required, `contentType` `CSV` only,
/// `columnDelimiter` and `lineEnding` from their enums, nothing else (strict: Salesforce's
/// handling of unknown keys is UNCERTAIN). Enum values are case-sensitive, as written in the
/// documentation.
fn parse_job_request(body: &Json) -> Result<JobRequest, ApiError> {
    let Json::Object(map) = body else {
        return Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of QueryJobRequest from a value that is not an object",
        ));
    };
    const KNOWN: [&str; 5] = [
        "operation",
        "query",
        "contentType",
        "columnDelimiter",
        "lineEnding",
    ];
    if let Some(key) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid_field(
            key,
            format!(
                "Unrecognized field '{key}': a query job takes {}",
                KNOWN.join(", ")
            ),
        ));
    }
    let text = |field: &str| -> Result<Option<&str>, ApiError> {
        match map.get(field) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(invalid_field(
                field,
                format!("Invalid value for '{field}': {other} is not a string"),
            )),
        }
    };
    let operation = match text("operation")? {
        None => {
            return Err(invalid_field(
                "operation",
                "Required field 'operation' is missing: use query or queryAll".into(),
            ));
        }
        Some(value) => Operation::parse(value).ok_or_else(|| {
            invalid_field(
                "operation",
                format!(
                    "Invalid value for 'operation': '{value}'. Allowed values: query, queryAll"
                ),
            )
        })?,
    };
    let query = match text("query")? {
        Some(q) if !q.trim().is_empty() => q.to_string(),
        _ => {
            return Err(invalid_field(
                "query",
                "Required field 'query' is missing or empty".into(),
            ));
        }
    };
    if let Some(value) = text("contentType")?
        && value != "CSV"
    {
        return Err(invalid_field(
            "contentType",
            format!("Invalid value for 'contentType': '{value}'. The only allowed value is CSV"),
        ));
    }
    let delimiter = match text("columnDelimiter")? {
        None => Delimiter::Comma,
        Some(value) => Delimiter::ALL
            .into_iter()
            .find(|d| d.name() == value)
            .ok_or_else(|| {
                invalid_field(
                    "columnDelimiter",
                    format!(
                        "Invalid value for 'columnDelimiter': '{value}'. Allowed values: {}",
                        Delimiter::ALL.map(Delimiter::name).join(", ")
                    ),
                )
            })?,
    };
    let line_ending = match text("lineEnding")? {
        None | Some("LF") => LineEnding::Lf,
        Some("CRLF") => LineEnding::Crlf,
        Some(value) => {
            return Err(invalid_field(
                "lineEnding",
                format!("Invalid value for 'lineEnding': '{value}'. Allowed values: LF, CRLF"),
            ));
        }
    };
    Ok(JobRequest {
        operation,
        query,
        delimiter,
        line_ending,
    })
}

/// Refuses what Bulk API 2.0 query does not support (facts 3.10): `GROUP BY`, `OFFSET`,
/// `TYPEOF`, aggregate functions including `COUNT()`, `FIELDS()` and parent-to-child
/// subqueries. Features outside the emulator's SOQL subset (`GROUP BY`, `TYPEOF`, `FIELDS()`,
/// subqueries, `SUM()`...) fail to parse; when the parser stops at one of them, the Bulk
/// refusal is reported instead of `MALFORMED_QUERY`, since Salesforce parses them. Any other
/// syntax error is left to `query::execute`, which reports it as REST does.
fn check_bulk_soql(text: &str) -> Result<(), ApiError> {
    let feature = match soql::parse(text) {
        // The parser may stop before a `GROUP BY` (at a plain field next to an aggregate).
        Err(e) => unsupported_at(text, e.pos).or_else(|| has_group_by(text).then_some("GROUP BY")),
        Ok(query) => {
            if query.offset.is_some() {
                Some("OFFSET")
            } else if query
                .select
                .iter()
                .any(|item| matches!(item, SelectItem::CountAll { .. }))
            {
                Some("COUNT()")
            } else if query
                .select
                .iter()
                .any(|item| matches!(item, SelectItem::Aggregate { .. }))
            {
                Some("aggregate functions")
            } else {
                None
            }
        }
    };
    match feature {
        Some(feature) => Err(ApiError::bad_request(
            API_ERROR,
            format!(
                "Bulk API 2.0 query jobs do not support {feature}. Unsupported: GROUP BY, \
                 OFFSET and TYPEOF clauses, aggregate functions such as COUNT(), FIELDS() and \
                 parent-to-child relationship queries."
            ),
        )),
        None => Ok(()),
    }
}

/// True when the words `GROUP BY` appear outside string literals.
fn has_group_by(text: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '\'' => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c.to_ascii_uppercase());
            continue;
        }
        if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c == '\'' {
            in_string = true;
        } else if !c.is_whitespace() {
            words.push(c.to_string());
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.windows(2).any(|w| w[0] == "GROUP" && w[1] == "BY")
}

/// The Bulk-unsupported feature a syntax error at `pos` stopped at, if any.
fn unsupported_at(text: &str, pos: usize) -> Option<&'static str> {
    let rest = text.get(pos..)?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase();
    let after_word = rest.get(word.len()..).unwrap_or("").trim_start();
    match word.as_str() {
        "GROUP" => Some("GROUP BY"),
        "TYPEOF" => Some("TYPEOF"),
        "FIELDS" if after_word.starts_with('(') => Some("FIELDS()"),
        "SUM" | "AVG" | "COUNT_DISTINCT" | "COUNT" | "MIN" | "MAX"
            if after_word.starts_with('(') =>
        {
            Some("aggregate functions")
        }
        "" if rest.starts_with('(') => {
            let inner = rest.get(1..).unwrap_or("").trim_start();
            let is_select = inner
                .get(..6)
                .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
            is_select.then_some("parent-to-child relationship queries")
        }
        _ => None,
    }
}

fn create(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
    version: u32,
) -> Result<Response, ApiError> {
    let request = parse_job_request(&json_body(headers, body)?)?;
    check_bulk_soql(&request.query)?;
    let options = ExecOptions {
        include_deleted: request.operation == Operation::QueryAll,
        api_version: format!("{version}.0"),
    };
    let (result, pod, max_jobs) = {
        let org = read_org(&state.org);
        let result = query::execute(&org, caller, &request.query, &options)?;
        (
            result,
            org.pod.clone(),
            org.settings.daily_bulk_v2_query_jobs,
        )
    };
    if !result.is_records() {
        // check_bulk_soql refuses COUNT() and aggregates; kept in case the two drift apart.
        return Err(ApiError::bad_request(
            API_ERROR,
            "Bulk API 2.0 query jobs do not support aggregate functions such as COUNT().",
        ));
    }
    let object = result.object().name;
    // Counted under its object from here on, refused for the quota or not: the query named it.
    lock(&state.counters).record_object(object);
    let jobs = &state.bulk;
    let mut table = lock(&jobs.table);
    if table.created >= max_jobs {
        return Err(ApiError::bad_request(
            "LIMIT_EXCEEDED",
            format!(
                "Exceeded the maximum number of Bulk API 2.0 query jobs in 24 hours \
                 (DailyBulkV2QueryJobs: {max_jobs})"
            ),
        ));
    }
    table.created += 1;
    table.next += 1;
    let id = SfId::from_counter(JOB_KEY_PREFIX, &pod, table.next);
    let job = Job {
        id,
        operation: request.operation,
        object,
        created_by: caller.user_id,
        created_ms: whole_seconds(chrono::Utc::now().timestamp_millis()),
        started: Instant::now(),
        processing: jobs.options.processing_time(result.len()),
        api_version: version,
        delimiter: request.delimiter,
        line_ending: request.line_ending,
        result: Arc::new(result),
        aborted_ms: None,
        fails: jobs.options.fail_objects.iter().any(|o| o == object),
        locators: HashMap::new(),
    };
    let body = job.to_json(job.started, false, Some(State::UploadComplete));
    table.jobs.insert(id, job);
    table.order.push_back(id);
    while table.order.len() > MAX_JOBS {
        if let Some(old) = table.order.pop_front() {
            table.jobs.remove(&old);
        }
    }
    drop(table);
    Ok(axum::Json(body).into_response())
}

/// `GET jobs/query`: every job, oldest first, in one page.
fn list(jobs: &BulkJobs) -> Response {
    let table = lock(&jobs.table);
    let now = Instant::now();
    let records: Vec<Json> = table
        .order
        .iter()
        .filter_map(|id| table.jobs.get(id))
        .map(|job| {
            let mut info = job.to_json(now, true, None);
            if let Json::Object(map) = &mut info {
                // The list shows the job, not its counters.
                for key in ["numberRecordsProcessed", "retries", "totalProcessingTime"] {
                    map.remove(key);
                }
            }
            info
        })
        .collect();
    axum::Json(json!({"done": true, "records": records, "nextRecordsUrl": null})).into_response()
}

/// `PATCH jobs/query/{id}` with `{"state":"Aborted"}`: only while `UploadComplete` or
/// `InProgress` (documented).
fn abort(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let jobs = &state.bulk;
    let mut table = lock(&jobs.table);
    let job = find_mut(state, &mut table, id)?;
    let request = json_body(headers, body)?;
    let wanted = request.as_object().and_then(|map| {
        (map.len() == 1)
            .then(|| map.get("state"))
            .flatten()
            .and_then(Json::as_str)
    });
    if wanted != Some("Aborted") {
        return Err(invalid_field(
            "state",
            "A query job can only be aborted: the body must be {\"state\":\"Aborted\"}".into(),
        ));
    }
    let now = Instant::now();
    let current = job.state(now);
    if current.is_terminated() {
        return Err(ApiError::bad_request(
            API_ERROR,
            format!(
                "Job {} is {} and cannot be aborted: only UploadComplete and InProgress jobs can",
                job.id,
                current.as_str()
            ),
        ));
    }
    job.aborted_ms = Some(whole_seconds(chrono::Utc::now().timestamp_millis()));
    Ok(axum::Json(job.to_json(now, true, None)).into_response())
}

/// `DELETE jobs/query/{id}`: only once `JobComplete` or `Aborted` (documented).
fn delete(state: &AppState, id: &str) -> Result<Response, ApiError> {
    let jobs = &state.bulk;
    let mut table = lock(&jobs.table);
    let job = find(state, &table, id)?;
    if !job.state(Instant::now()).is_terminated() {
        return Err(ApiError::bad_request(
            API_ERROR,
            "Error encountered when deleting the job because the job is not terminated",
        ));
    }
    let id = job.id;
    table.jobs.remove(&id);
    table.order.retain(|other| *other != id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The locator of the set starting at row `offset`: opaque to clients, base64 text as
/// Salesforce's look (`MTAwMDA`), and the same for the same offset so a set can be fetched
/// again.
fn locator_for(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(offset.to_string())
}

/// The rows of one results set.
struct ResultsPage {
    result: Arc<ResultSet>,
    range: Range<usize>,
    next: Option<String>,
    delimiter: Delimiter,
    line_ending: LineEnding,
}

/// `GET jobs/query/{id}/results[?locator=L&maxRecords=N]`.
fn results(state: &AppState, id: &str, uri: &Uri, version: u32) -> Result<Response, ApiError> {
    let page = {
        let jobs = &state.bulk;
        let mut table = lock(&jobs.table);
        let job = find_mut(state, &mut table, id)?;
        results_page(job, &query_params(uri), version, jobs.options.results_max)?
    };
    let mut csv = String::new();
    let rows = write_csv(
        &mut csv,
        &page.result,
        &read_org(&state.org),
        page.range,
        page.delimiter,
        page.line_ending,
    );
    let locator = page.next.as_deref().unwrap_or("null");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv")
        .header("Sforce-NumberOfRecords", HeaderValue::from(rows as u64))
        .header(
            "Sforce-Locator",
            HeaderValue::from_str(locator).expect("base64 and `null` are valid header values"),
        )
        .body(Body::from(csv))
        .expect("static response parts are valid"))
}

/// Checks a results request against its job and picks the set's rows, registering the
/// locator of the next set.
fn results_page(
    job: &mut Job,
    params: &HashMap<String, String>,
    version: u32,
    results_max: usize,
) -> Result<ResultsPage, ApiError> {
    if version != job.api_version {
        // Documented: "Use the same API version to get query results that you used to
        // create the query. Otherwise, the call returns a 409 error." Code UNCERTAIN.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            API_ERROR,
            format!(
                "Use the same API version to get the results of query job {} as the one it \
                 was created with: v{}.0, not v{version}.0",
                job.id, job.api_version
            ),
        ));
    }
    let state = job.state(Instant::now());
    if state != State::JobComplete {
        return Err(ApiError::bad_request(
            API_ERROR,
            format!(
                "Results of query job {} are available only once its state is JobComplete; \
                 it is {}",
                job.id,
                state.as_str()
            ),
        ));
    }
    let max_records = match params.get("maxRecords") {
        None => results_max,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX).min(results_max),
            _ => {
                return Err(ApiError::bad_request(
                    API_ERROR,
                    format!("Invalid value for maxRecords: '{text}'. Use a positive integer"),
                ));
            }
        },
    };
    let start = match params.get("locator") {
        None => 0,
        Some(locator) => *job.locators.get(locator).ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_QUERY_LOCATOR",
                format!("Invalid locator '{locator}' for query job {}", job.id),
            )
        })?,
    };
    let len = job.result.len();
    let end = start.saturating_add(max_records.max(1)).min(len);
    let next = (end < len).then(|| {
        let locator = locator_for(end);
        job.locators.insert(locator.clone(), end);
        locator
    });
    Ok(ResultsPage {
        result: job.result.clone(),
        range: start..end,
        next,
        delimiter: job.delimiter,
        line_ending: job.line_ending,
    })
}

/// Writes the header line and the rows in `range` as Bulk API 2.0 CSV: every value
/// double-quoted with `"` doubled, a null as an empty field, booleans `true`/`false`,
/// date-times `2026-01-02T03:04:05.000Z` (unlike REST's `+0000`), dates `2026-01-02`, numbers
/// as plain text; each line ends with the job's line ending. Returns the rows written.
/// A result with no rows is the header line alone (UNCERTAIN).
fn write_csv(
    out: &mut String,
    result: &ResultSet,
    org: &super::org::Org,
    range: Range<usize>,
    delimiter: Delimiter,
    line_ending: LineEnding,
) -> usize {
    let columns = result.columns();
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            out.push(delimiter.char());
        }
        push_quoted(out, column);
    }
    out.push_str(line_ending.as_str());
    result.for_each_row(org, range, |values| {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(delimiter.char());
            }
            push_value(out, value);
        }
        out.push_str(line_ending.as_str());
    })
}

fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => push_quoted(out, if *b { "true" } else { "false" }),
        Value::Int(n) => {
            // Digits and a sign need no escaping.
            let _ = write!(out, "\"{n}\"");
        }
        Value::Text(s) => push_quoted(out, s),
        Value::Id(id) => push_quoted(out, id.as_str()),
        Value::DateTime(ms) => {
            let _ = write!(out, "\"{}\"", bulk_datetime(*ms));
        }
        Value::Date(d) => {
            let _ = write!(out, "\"{}\"", d.format("%Y-%m-%d"));
        }
    }
}

/// Bulk API 2.0's date-time shape: `2026-01-02T03:04:05.000Z`.
fn bulk_datetime(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Json) -> Result<JobRequest, ApiError> {
        parse_job_request(&body)
    }

    #[test]
    fn a_minimal_body_takes_the_documented_defaults() {
        let parsed =
            request(json!({"operation": "query", "query": "SELECT Id FROM User"})).expect("valid");
        assert_eq!(
            parsed,
            JobRequest {
                operation: Operation::Query,
                query: "SELECT Id FROM User".into(),
                delimiter: Delimiter::Comma,
                line_ending: LineEnding::Lf,
            }
        );
        let parsed = request(json!({
            "operation": "queryAll", "query": "SELECT Id FROM User", "contentType": "CSV",
            "columnDelimiter": "TAB", "lineEnding": "CRLF"
        }))
        .expect("valid");
        assert_eq!(parsed.operation, Operation::QueryAll);
        assert_eq!(parsed.delimiter, Delimiter::Tab);
        assert_eq!(parsed.line_ending, LineEnding::Crlf);
    }

    #[test]
    fn every_delimiter_name_is_accepted_and_maps_to_its_character() {
        let chars: String = Delimiter::ALL
            .iter()
            .map(|d| {
                let parsed = request(json!({"operation": "query", "query": "SELECT Id FROM User", "columnDelimiter": d.name()}))
                    .expect("valid");
                parsed.delimiter.char()
            })
            .collect();
        assert_eq!(chars, "`^,|;\t");
    }

    #[test]
    fn bad_body_fields_are_refused_naming_the_field() {
        let cases = [
            (json!({"query": "SELECT Id FROM User"}), "operation"),
            (
                json!({"operation": "select", "query": "SELECT Id FROM User"}),
                "operation",
            ),
            (
                json!({"operation": "Query", "query": "SELECT Id FROM User"}),
                "operation",
            ),
            (json!({"operation": "query"}), "query"),
            (json!({"operation": "query", "query": "  "}), "query"),
            (json!({"operation": "query", "query": 5}), "query"),
            (
                json!({"operation": "query", "query": "SELECT Id FROM User", "contentType": "JSON"}),
                "contentType",
            ),
            (
                json!({"operation": "query", "query": "SELECT Id FROM User", "columnDelimiter": "comma"}),
                "columnDelimiter",
            ),
            (
                json!({"operation": "query", "query": "SELECT Id FROM User", "lineEnding": "CR"}),
                "lineEnding",
            ),
            (
                json!({"operation": "query", "query": "SELECT Id FROM User", "object": "User"}),
                "object",
            ),
        ];
        for (body, field) in cases {
            let e = request(body.clone()).expect_err("invalid");
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.code, INVALID_JOB, "{body}");
            assert_eq!(e.fields, vec![field.to_string()], "{body}");
            assert!(e.message.contains(field), "{body}: {}", e.message);
        }
        let e = request(json!(["query"])).expect_err("not an object");
        assert_eq!(e.code, "JSON_PARSER_ERROR");
    }

    #[test]
    fn bulk_refuses_offset_count_aggregates_and_features_outside_the_subset() {
        for (soql, feature) in [
            ("SELECT Id FROM User LIMIT 10 OFFSET 5", "OFFSET"),
            ("SELECT COUNT() FROM User", "COUNT()"),
            ("SELECT MAX(CreatedDate) FROM User", "aggregate functions"),
            ("SELECT COUNT(Id) FROM User", "aggregate functions"),
            ("SELECT SUM(Id) FROM User", "aggregate functions"),
            ("SELECT ProfileId FROM User GROUP BY ProfileId", "GROUP BY"),
            (
                "SELECT ProfileId, COUNT(Id) FROM User GROUP BY ProfileId",
                "GROUP BY",
            ),
            (
                "SELECT TYPEOF Owner WHEN User THEN Name END FROM Group",
                "TYPEOF",
            ),
            ("SELECT FIELDS(STANDARD) FROM User", "FIELDS()"),
            (
                "SELECT Id, ( select Id FROM Assignments) FROM PermissionSet",
                "parent-to-child relationship queries",
            ),
        ] {
            let e = check_bulk_soql(soql).expect_err(soql);
            assert_eq!(e.code, API_ERROR, "{soql}");
            assert!(
                e.message.contains(&format!("do not support {feature}.")),
                "{soql}: {}",
                e.message
            );
        }
    }

    #[test]
    fn bulk_accepts_order_by_limit_parent_paths_and_semi_joins() {
        for soql in [
            "SELECT Id, Profile.Name FROM User ORDER BY Username LIMIT 5",
            "SELECT Id FROM User WHERE Id IN (SELECT AssigneeId FROM PermissionSetAssignment)",
            // Other syntax errors are left to the executor, which reports MALFORMED_QUERY.
            "SELECT Id FROM",
            "SELECT Id FROM User WHERE (Name = 'a'",
            "SELECT Id, Name FROM User WHERE Name = 'group by' AND",
        ] {
            check_bulk_soql(soql).unwrap_or_else(|e| panic!("{soql}: {e}"));
        }
    }

    #[test]
    fn processing_time_grows_with_rows_per_ten_thousand() {
        let options = BulkOptions::default();
        assert_eq!(options.processing_time(0), Duration::from_millis(2_000));
        assert_eq!(
            options.processing_time(10_000),
            Duration::from_millis(2_100)
        );
        assert_eq!(
            options.processing_time(25_000),
            Duration::from_millis(2_250)
        );
        assert_eq!(
            BulkOptions::instant().processing_time(1_000_000),
            Duration::ZERO
        );
        let huge = BulkOptions {
            job_ms: u64::MAX,
            job_ms_per_10k_rows: u64::MAX,
            results_max: 1,
            fail_objects: Vec::new(),
        };
        assert_eq!(
            huge.processing_time(usize::MAX),
            Duration::from_millis(u64::MAX)
        );
    }

    #[test]
    fn values_are_quoted_the_bulk_way() {
        let mut out = String::new();
        for value in [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-42),
            Value::text("say \"hi\", then\nleave"),
            Value::DateTime(1_767_323_045_000),
            Value::Date(chrono::NaiveDate::from_ymd_opt(2026, 1, 2).expect("valid date")),
        ] {
            push_value(&mut out, &value);
            out.push('|');
        }
        assert_eq!(
            out,
            "|\"true\"|\"false\"|\"-42\"|\"say \"\"hi\"\", then\nleave\"|\
             \"2026-01-02T03:04:05.000Z\"|\"2026-01-02\"|"
        );
    }

    #[test]
    fn locators_are_stable_and_opaque() {
        assert_eq!(locator_for(10_000), "MTAwMDA");
        assert_eq!(locator_for(7), locator_for(7));
        assert_ne!(locator_for(7), locator_for(8));
        assert!(
            locator_for(123_456_789)
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn the_state_follows_the_processing_time() {
        let ms = Duration::from_millis;
        let second = ms(1_000);
        assert_eq!(
            state_after(ms(0), second, false, false),
            State::UploadComplete
        );
        assert_eq!(
            state_after(ms(99), second, false, false),
            State::UploadComplete
        );
        assert_eq!(
            state_after(ms(100), second, false, false),
            State::InProgress
        );
        assert_eq!(
            state_after(ms(999), second, false, false),
            State::InProgress
        );
        assert_eq!(
            state_after(second, second, false, false),
            State::JobComplete
        );
        assert_eq!(state_after(ms(0), ms(0), false, false), State::JobComplete);
        assert_eq!(state_after(ms(5_000), second, true, false), State::Aborted);
        // A failing job runs as long, then fails; an abort before that wins.
        assert_eq!(state_after(ms(999), second, false, true), State::InProgress);
        assert_eq!(state_after(second, second, false, true), State::Failed);
        assert_eq!(state_after(second, second, true, true), State::Aborted);
        assert!(State::JobComplete.is_terminated() && State::Aborted.is_terminated());
        assert!(State::Failed.is_terminated());
        assert!(!State::InProgress.is_terminated() && !State::UploadComplete.is_terminated());
    }

    #[test]
    fn whole_seconds_truncates_milliseconds_as_salesforce_shows_them() {
        assert_eq!(whole_seconds(1_767_323_045_678), 1_767_323_045_000);
        assert_eq!(whole_seconds(-1), -1_000);
        assert_eq!(major("66.0"), 66);
        assert_eq!(major("x"), 0);
    }
}
