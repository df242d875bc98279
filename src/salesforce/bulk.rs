//! Bulk API 2.0 query jobs (facts 3.10): create a job, poll it until `JobComplete`, read its
//! results as CSV sets chained by the `Sforce-Locator` header.
//!
//! Every HTTP request here is one API call against the org's daily limit, like a REST query
//! page; what a job saves is pages: one results set carries up to `maxRecords` rows (this
//! client asks for 100,000 by default) where a REST page carries 2,000. What it costs is time:
//! Salesforce queues and runs the job before any row can be read, and the polls while it runs
//! are calls too. The sync decides when a job pays off (`--bulk-above`); this module only
//! speaks the protocol.
//!
//! Results are decoded with the `csv` crate straight into the same row structs the REST reader
//! fills (the header line names the columns; an empty field is a null). Decode errors name the
//! job, the line and the column, never a value.

use std::time::Duration;

use tokio::time::Instant;

use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{ApiRequest, Client};
use super::error::SalesforceError;
use super::soql::Soql;

/// How query jobs are waited for and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSettings {
    /// Rows per results set (`maxRecords`).
    pub max_records: u32,
    /// The wait before the first poll; each later wait doubles, up to `max_poll`.
    pub first_poll: Duration,
    /// The longest wait between two polls.
    pub max_poll: Duration,
    /// How long a job may take before it is aborted and the read fails.
    pub timeout: Duration,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            max_records: 100_000,
            first_poll: Duration::from_millis(500),
            max_poll: Duration::from_secs(5),
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// A query job this client created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryJob {
    /// The job Id (`750...`): ASCII letters and digits only, so it is safe in a path.
    pub id: String,
    /// The object queried.
    pub object: String,
}

/// The job resource, as far as this client reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    /// The job Id.
    pub id: String,
    /// `UploadComplete`, `InProgress`, `JobComplete`, `Failed` or `Aborted`.
    pub state: String,
    /// Rows the job found, once it is complete.
    #[serde(default)]
    pub number_records_processed: Option<u64>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// Rows of a results set are decoded into slices of this many: a set holds up to a million
/// rows, and one vector of them (tens of megabytes, freed after a copy) would stay in the heap.
pub const SLICE_ROWS: usize = 2000;

/// One results set of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet<T> {
    /// Its rows, in the job's order, in slices of at most `SLICE_ROWS`.
    pub slices: Vec<Vec<T>>,
    /// The locator of the next set; None after the last.
    pub next: Option<String>,
}

impl<T> ResultSet<T> {
    /// How many rows.
    pub fn len(&self) -> usize {
        self.slices.iter().map(Vec::len).sum()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.slices.iter().all(Vec::is_empty)
    }
}

impl Client {
    /// `POST /jobs/query`: starts a query job (`queryAll` with `include_deleted`). One call.
    pub async fn bulk_query_create(
        &self,
        soql: &Soql,
        include_deleted: bool,
    ) -> Result<QueryJob, SalesforceError> {
        let body = serde_json::json!({
            "operation": if include_deleted { "queryAll" } else { "query" },
            "query": soql.as_str(),
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        let request = ApiRequest::post("jobs/query", body).sobject(soql.object());
        let info: JobInfo = self.send(request).await?;
        if info.id.is_empty() || !info.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SalesforceError::config(
                "Bulk API 2.0 job id",
                format!(
                    "Salesforce answered the {} query job with an id that is not an Id: {:?}",
                    soql.object(),
                    info.id
                ),
            ));
        }
        tracing::debug!(sobject = soql.object(), job = %info.id, state = %info.state, "Bulk query job created.");
        Ok(QueryJob {
            id: info.id,
            object: soql.object().to_owned(),
        })
    }

    /// `GET /jobs/query/{id}`. One call.
    pub async fn bulk_query_status(&self, job: &QueryJob) -> Result<JobInfo, SalesforceError> {
        let request = ApiRequest::get(&format!("jobs/query/{}", job.id)).sobject(&job.object);
        self.send(request).await
    }

    /// Polls a job until it is `JobComplete`, waiting `first_poll`, then twice as long each
    /// time up to `max_poll`. A job that fails or is aborted is an error; one still running
    /// after `timeout` is aborted (best effort) and is an error. `polls` counts the status
    /// requests sent (each an API call), whatever the outcome; the abort is one more.
    pub async fn bulk_query_wait(
        &self,
        job: &QueryJob,
        settings: &BulkSettings,
        polls: &mut u64,
    ) -> Result<JobInfo, SalesforceError> {
        let started = Instant::now();
        let mut delay = settings.first_poll;
        loop {
            tokio::time::sleep(delay).await;
            *polls += 1;
            let info = self.bulk_query_status(job).await?;
            tracing::debug!(sobject = %job.object, job = %job.id, state = %info.state, polls, "Bulk query job polled.");
            match info.state.as_str() {
                "JobComplete" => return Ok(info),
                "Failed" | "Aborted" => {
                    return Err(SalesforceError::BulkJob {
                        job: job.id.clone(),
                        object: job.object.clone(),
                        message: info
                            .error_message
                            .clone()
                            .unwrap_or_else(|| "Salesforce gave no reason".to_owned()),
                        state: info.state,
                    });
                }
                // UploadComplete, InProgress, and any state a later API version adds.
                _ => {}
            }
            if started.elapsed() >= settings.timeout {
                *polls += 1;
                if let Err(e) = self.bulk_query_abort(job).await {
                    tracing::warn!(sobject = %job.object, job = %job.id, error = %e, "Could not abort the query job.");
                }
                return Err(SalesforceError::BulkJob {
                    job: job.id.clone(),
                    object: job.object.clone(),
                    state: "unfinished".to_owned(),
                    message: format!(
                        "still {} after {} s (the wait's limit); it was aborted",
                        info.state,
                        settings.timeout.as_secs()
                    ),
                });
            }
            delay = (delay * 2).min(settings.max_poll);
        }
    }

    /// `PATCH /jobs/query/{id}` to `Aborted`. One call.
    pub async fn bulk_query_abort(&self, job: &QueryJob) -> Result<(), SalesforceError> {
        let request = ApiRequest::patch(
            &format!("jobs/query/{}", job.id),
            serde_json::json!({"state": "Aborted"}),
        )
        .sobject(&job.object);
        self.send_raw(request).await.map(|_| ())
    }

    /// `GET /jobs/query/{id}/results`: the set at `locator` (the first without one), at most
    /// `max_records` rows, decoded into `T` by the CSV header's column names. One call.
    pub async fn bulk_query_results<T: DeserializeOwned>(
        &self,
        job: &QueryJob,
        locator: Option<&str>,
        max_records: u32,
    ) -> Result<ResultSet<T>, SalesforceError> {
        let mut request = ApiRequest::get(&format!("jobs/query/{}/results", job.id))
            .sobject(&job.object)
            .chunked()
            .header(ACCEPT, "text/csv")
            .query("maxRecords", max_records.to_string());
        if let Some(locator) = locator {
            request = request.query("locator", locator);
        }
        let label = self.label(&request);
        let raw = self.send_raw(request).await?;
        let next = match raw.headers.get("sforce-locator").map(|v| v.to_str()) {
            None => {
                return Err(SalesforceError::config(
                    "Sforce-Locator",
                    format!(
                        "Salesforce answered results of query job {} without a Sforce-Locator header",
                        job.id
                    ),
                ));
            }
            Some(Ok("null")) | Some(Ok("")) => None,
            Some(Ok(next)) => Some(next.to_owned()),
            Some(Err(_)) => {
                return Err(SalesforceError::config(
                    "Sforce-Locator",
                    format!(
                        "the Sforce-Locator header of query job {} is not text",
                        job.id
                    ),
                ));
            }
        };
        let announced = match raw.headers.get("sforce-numberofrecords") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|text| text.trim().parse::<usize>().ok())
                    .ok_or_else(|| {
                        SalesforceError::config(
                            "Sforce-NumberOfRecords",
                            format!(
                                "the Sforce-NumberOfRecords header of query job {} is not a number",
                                job.id
                            ),
                        )
                    })?,
            ),
        };
        let slices = decode_csv(ChunkReader::new(&raw.chunks)).map_err(|detail| {
            SalesforceError::Decode {
                request: label,
                expected: format!("{} rows as CSV", std::any::type_name::<T>()),
                detail,
            }
        })?;
        let set = ResultSet { slices, next };
        if let Some(count) = announced
            && count != set.len()
        {
            return Err(SalesforceError::config(
                "Sforce-NumberOfRecords",
                format!(
                    "query job {} said {count} rows but sent {}",
                    job.id,
                    set.len()
                ),
            ));
        }
        Ok(set)
    }
}

/// Reads a body kept as chunks, in order.
struct ChunkReader<'a> {
    chunks: &'a [bytes::Bytes],
    offset: usize,
}

impl<'a> ChunkReader<'a> {
    fn new(chunks: &'a [bytes::Bytes]) -> ChunkReader<'a> {
        ChunkReader { chunks, offset: 0 }
    }
}

impl std::io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some((first, rest)) = self.chunks.split_first() {
            let left = &first[self.offset..];
            if left.is_empty() {
                self.chunks = rest;
                self.offset = 0;
                continue;
            }
            let n = left.len().min(buf.len());
            buf[..n].copy_from_slice(&left[..n]);
            self.offset += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Rows from a results body, in slices of `SLICE_ROWS`: a header line, then one line per
/// row; an empty field is a null. The error says where and what kind, never the value.
fn decode_csv<T: DeserializeOwned>(body: impl std::io::Read) -> Result<Vec<Vec<T>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| format!("the header line: {}", kind(&e)))?
        .clone();
    let mut record = csv::StringRecord::new();
    let mut slices: Vec<Vec<T>> = Vec::new();
    let mut rows = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("row {}: {}", rows + 1, kind(&e))),
        }
        match record.deserialize::<T>(Some(&headers)) {
            Ok(row) => {
                match slices.last_mut() {
                    Some(slice) if slice.len() < SLICE_ROWS => slice.push(row),
                    _ => {
                        let mut slice = Vec::with_capacity(SLICE_ROWS);
                        slice.push(row);
                        slices.push(slice);
                    }
                }
                rows += 1;
            }
            Err(e) => {
                let column = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .and_then(|i| headers.get(i as usize))
                        .map(|name| format!(" column {name}"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                return Err(format!(
                    "row {}{column}: a value of the wrong shape",
                    rows + 1
                ));
            }
        }
    }
    Ok(slices)
}

/// What kind of CSV error, without the text that caused it.
fn kind(error: &csv::Error) -> &'static str {
    match error.kind() {
        csv::ErrorKind::Io(_) => "I/O error",
        csv::ErrorKind::Utf8 { .. } => "not UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "a row with another number of fields",
        csv::ErrorKind::Deserialize { .. } => "a value of the wrong shape",
        _ => "invalid CSV",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::SfId;
    use chrono::{DateTime, Utc};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Row {
        id: SfId,
        name: String,
        #[serde(default)]
        manager_id: Option<SfId>,
        #[serde(default)]
        is_active: Option<bool>,
        #[serde(default)]
        last_login_date: Option<DateTime<Utc>>,
    }

    #[test]
    fn results_decode_by_header_with_nulls_quotes_and_flags() {
        let body = "\"Id\",\"Name\",\"ManagerId\",\"IsActive\"\n\
                    \"0055g0000000001AAA\",\"A \"\"quoted\"\", name\nover two lines\",\"\",\"true\"\n\
                    \"0055g0000000002AAA\",\"B\",\"0055g0000000001AAA\",\"false\"\n";
        let rows: Vec<Row> = decode_csv(body.as_bytes())
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "A \"quoted\", name\nover two lines");
        assert_eq!(rows[0].manager_id, None);
        assert_eq!(rows[0].is_active, Some(true));
        assert_eq!(rows[1].manager_id, Some(rows[0].id));
        assert_eq!(rows[1].is_active, Some(false));
        // A header alone: no rows.
        let none: Vec<Vec<Row>> = decode_csv(&b"\"Id\",\"Name\"\n"[..]).unwrap();
        assert!(none.is_empty());
    }

    /// A body split anywhere, even inside a quoted value or between the bytes of a UTF-8
    /// character, decodes as the whole body does, in slices of `SLICE_ROWS`.
    #[test]
    fn a_body_in_chunks_decodes_as_the_whole_body_in_slices() {
        let mut body = String::from("\"Id\",\"Name\"\n");
        for n in 0..(SLICE_ROWS * 2 + 7) {
            body.push_str(&format!("\"0055g{n:010}AAA\",\"Zoë \"\"{n}\"\", x\"\n"));
        }
        let whole: Vec<Vec<Row>> = decode_csv(body.as_bytes()).unwrap();
        assert_eq!(
            whole.iter().map(Vec::len).collect::<Vec<_>>(),
            [SLICE_ROWS, SLICE_ROWS, 7]
        );
        let bytes = body.as_bytes();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let n = rng.usize(1..=3000).min(bytes.len() - at);
                chunks.push(bytes::Bytes::copy_from_slice(&bytes[at..at + n]));
                at += n;
            }
            chunks.insert(rng.usize(..=chunks.len()), bytes::Bytes::new());
            let split: Vec<Vec<Row>> = decode_csv(ChunkReader::new(&chunks)).unwrap();
            assert_eq!(split, whole);
        }
    }

    #[test]
    fn decode_errors_name_the_row_and_column_but_not_the_value() {
        let body = "\"Id\",\"Name\"\n\"0055g0000000001AAA\",\"x\"\n\"not-an-id-secret\",\"y\"\n";
        let err = decode_csv::<Row>(body.as_bytes()).unwrap_err();
        assert!(err.contains("row 2"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        // Where the CSV reader itself refuses a value, the column is known.
        let body = "\"Id\",\"Name\",\"IsActive\"\n\"0055g0000000001AAA\",\"x\",\"secretly\"\n";
        let err = decode_csv::<Row>(body.as_bytes()).unwrap_err();
        assert!(err.contains("row 1 column IsActive"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        let ragged = "\"Id\",\"Name\"\n\"0055g0000000001AAA\"\n";
        let err = decode_csv::<Row>(ragged.as_bytes()).unwrap_err();
        assert!(
            err.contains("row 1") && err.contains("number of fields"),
            "{err}"
        );
    }
}
