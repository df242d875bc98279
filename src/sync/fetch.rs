//! Fetch: runs one object spec against Salesforce and streams its pages.
//!
//! Every object is read with ceil(rows / batch) queries: one query and its `nextRecordsUrl`
//! pages (`Paging::Cursor`), or keyset chunks for objects whose cursor stops early
//! (`Paging::IdChunks`). Pages of objects that map to resources without a join are mapped and
//! handed to the store sink as they arrive; the rows are also kept for the joins of `expand`.
//! This module counts the calls it makes per object; it does not decide what the rows mean.
//!
//! Change probes (issue 8): an object that may span several pages is probed before it is read
//! (`ObjectSpec::probe_soql`: its row count and newest change stamps), and the answer is kept
//! with its rows. An incremental sync asks the probe again and, when the answer is the same,
//! copies the rows from the previous run instead of reading them (one call instead of
//! ceil(rows / page)). The probe is sent before the read, so a change made while reading
//! moves the stamps past the kept answer and the next sync reads the object again.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;

use super::SyncOptions;
use super::error::SyncError;
use super::objects::{ObjectSpec, Paging, Row, entitlements_of};
use super::progress::Progress;
use super::sink::Sink;
use crate::model::{Resource, ResourceId};
use crate::salesforce::query::locator_page_path;
use crate::salesforce::{Client, ErrorCategory, Page, QueryOptions, SalesforceError, SfId, Soql};
use crate::store::{ObjectSnapshot, RunId, SnapshotInfo, Store};

/// A probe answer only vouches for rows whose newest stamp is at least this much older than
/// the moment the probe was sent. Salesforce's stamps have one-second precision, so a write in
/// the same second as the newest stamp could leave the answer unchanged; the margin also
/// covers a local clock up to a minute ahead of Salesforce's. An object changed more
/// recently is simply read again by the next sync.
pub(crate) const SETTLE: TimeDelta = TimeDelta::seconds(60);

/// How one object is obtained in this run.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Read it; with `probe`, send the change probe first and keep its answer.
    Read {
        /// Probe before reading.
        probe: bool,
        /// The digest of the rows the previous run kept, for an object read in one page.
        previous_digest: Option<String>,
    },
    /// Send the change probe; when it answers as it did before `previous` was read, copy
    /// those rows from the store; otherwise read.
    Copy {
        /// The store.
        store: PathBuf,
        /// The run that kept the rows.
        run: RunId,
        /// What it kept.
        previous: SnapshotInfo,
    },
}

/// What the change probe answered.
struct ProbeAnswer {
    /// The aggregate row as JSON, compared as text.
    text: String,
    /// Every stamp it names is older than the probe by `SETTLE`.
    settled: bool,
}

/// What reading one object gave.
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    /// Every row, in Id order.
    pub rows: Vec<T>,
    /// API calls made (pages read).
    pub calls: u64,
    /// The ids of the resources mapped and sent to the sink page by page.
    pub resources: HashSet<ResourceId>,
    /// Of `calls`, the change probe (0 or 1).
    pub probe_calls: u64,
    /// The rows were copied from the previous run, not read.
    pub copied: bool,
    /// The rows are those of the previous run: copied, or read again and the same.
    pub unchanged: bool,
    /// Copied rows not decoded yet (objects that map to no resource of their own): decoded
    /// by `Kept::rows` only if the run builds its records, not when it shares them.
    pub deferred: Option<Deferred>,
}

/// Encoded rows of a copied object and how many there are.
#[derive(Debug)]
pub(crate) struct Deferred {
    data: Vec<u8>,
    rows: u64,
}

/// An object's rows as the sync keeps them for the expansion: decoded, or still encoded.
#[derive(Debug)]
pub(crate) struct Kept<T> {
    /// The object.
    pub object: &'static str,
    /// Decoded rows.
    pub rows: Vec<T>,
    /// Or the encoded ones.
    pub deferred: Option<Deferred>,
}

impl<T: Row> Kept<T> {
    /// The rows, decoded if they were kept encoded.
    pub(crate) fn rows(self) -> Result<Vec<T>, SyncError> {
        match self.deferred {
            None => Ok(self.rows),
            Some(deferred) => decode(&deferred.data).map_err(|problem| SyncError::KeptRows {
                object: self.object,
                problem,
            }),
        }
    }
}

impl<T> Fetched<T> {
    /// How many rows, decoded or not.
    pub(crate) fn row_count(&self) -> u64 {
        self.rows.len() as u64 + self.deferred.as_ref().map_or(0, |d| d.rows)
    }
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            rows: Vec::new(),
            calls: 0,
            resources: HashSet::new(),
            probe_calls: 0,
            copied: false,
            unchanged: false,
            deferred: None,
        }
    }
}

/// A pure mapping of one row into a resource (or none), applied page by page.
pub(crate) type MapRow<T> = fn(&T) -> Result<Option<Resource>, SyncError>;

/// Obtains every row of `spec` as `source` says (nothing when the options leave it out),
/// and keeps them with the run. With `map`, each page is mapped into resources and their
/// entitlements and sent to `sink` before the next page.
pub(crate) async fn fetch<T: Row>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    source: &Source,
) -> Result<Fetched<T>, SyncError> {
    let mut fetched = Fetched::default();
    if !spec.is_read(options) {
        return Ok(fetched);
    }
    progress.object_started(spec.object);
    let answer = match source {
        Source::Read { probe: false, .. } => None,
        Source::Read { probe: true, .. } => {
            Box::pin(probe(client, spec, options, &mut fetched)).await?
        }
        Source::Copy {
            store,
            run,
            previous,
        } => {
            let answer = Box::pin(probe(client, spec, options, &mut fetched)).await?;
            let same = answer.as_ref().map(|a| a.text.as_str());
            if same.is_some() && previous.probe.as_deref() == same {
                match load::<T>(store, *run, spec.object, map.is_some()).await {
                    Ok((rows, data)) => {
                        match rows {
                            Some(rows) => {
                                Box::pin(copy(spec, progress, sink, map, &mut fetched, rows))
                                    .await?
                            }
                            None => {
                                // Nothing to map now; decoded only if the run is rebuilt.
                                fetched.copied = true;
                                fetched.unchanged = true;
                                fetched.deferred = Some(Deferred {
                                    data: data.clone(),
                                    rows: previous.rows,
                                });
                                progress.page_read(
                                    spec.object,
                                    fetched.calls,
                                    previous.rows,
                                    Some(previous.rows),
                                );
                            }
                        }
                        sink.snapshot(ObjectSnapshot {
                            info: previous.clone(),
                            data,
                        })
                        .await?;
                        return Ok(finished(spec, progress, fetched));
                    }
                    Err(problem) => tracing::warn!(
                        sobject = spec.object,
                        run = run.get(),
                        problem = %problem,
                        "The previous run's rows cannot be used; reading the object instead."
                    ),
                }
            }
            answer
        }
    };
    // Boxed: eighteen of these futures are joined, and a page future is large.
    let fetched = Box::pin(read(client, spec, options, progress, sink, map, fetched)).await?;
    let mut fetched = fetched;
    let query = spec.soql(options, None).as_str().to_owned();
    let probe = answer.filter(|a| a.settled).map(|a| a.text);
    let page = u64::from(options.batch_size.get().min(spec.max_page));
    let one_page = fetched.rows.len() as u64 <= page;
    // Rows are worth keeping when a probe can vouch for them next time; the rows of a one-page
    // object are small, and their digest tells an incremental sync whether they changed.
    let (data, digest) = if probe.is_some() || one_page {
        let data = encode(&fetched.rows).map_err(|source| SyncError::Snapshot {
            object: spec.object,
            source,
        })?;
        let digest = one_page.then(|| digest(&data));
        (data, digest)
    } else {
        (Vec::new(), None)
    };
    if let Source::Read {
        previous_digest: Some(previous),
        ..
    } = source
    {
        fetched.unchanged = digest.as_ref() == Some(previous);
    }
    sink.snapshot(ObjectSnapshot {
        info: SnapshotInfo {
            object: spec.object.to_owned(),
            query,
            rows: fetched.rows.len() as u64,
            probe,
            digest,
        },
        data,
    })
    .await?;
    Ok(fetched)
}

/// Sends the change probe of `spec` (one call) and reads its answer. None when Salesforce
/// refuses the aggregate query itself (a 400: an object that does not allow aggregates in
/// this org); the object is then read without a baseline, as objects without stamps are.
async fn probe<T>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    fetched: &mut Fetched<T>,
) -> Result<Option<ProbeAnswer>, SyncError> {
    let soql = spec
        .probe_soql(options)
        .expect("only objects with change stamps are probed");
    let sent = Utc::now();
    let query_options = QueryOptions {
        batch_size: options.batch_size,
        include_deleted: false,
    };
    let result = client
        .query_page::<serde_json::Map<String, serde_json::Value>>(&soql, None, query_options)
        .await;
    fetched.calls += 1;
    fetched.probe_calls += 1;
    let page = match result {
        Ok((page, _)) => page,
        Err(SalesforceError::Api(e)) if e.status == 400 => {
            tracing::warn!(
                sobject = spec.object,
                error = %e,
                "Salesforce refused the change probe; the object is read every time."
            );
            return Ok(None);
        }
        Err(source) => {
            return Err(SyncError::Fetch {
                object: spec.object,
                source: Box::new(source),
            });
        }
    };
    let Some(mut row) = page.records.into_iter().next() else {
        tracing::warn!(
            sobject = spec.object,
            "The change probe answered no row; the object is read."
        );
        return Ok(None);
    };
    row.remove("attributes");
    let answer = ProbeAnswer {
        text: serde_json::Value::Object(row.clone()).to_string(),
        settled: settled(&row, sent),
    };
    tracing::debug!(sobject = spec.object, probe = %answer.text, settled = answer.settled, "Change probe answered.");
    Ok(Some(answer))
}

/// True when every date-time in the probe's row is older than `sent` by `SETTLE` (counts and
/// nulls say nothing of time; a string that is not a date-time makes it unsettled).
fn settled(row: &serde_json::Map<String, serde_json::Value>, sent: DateTime<Utc>) -> bool {
    row.values().all(|value| {
        match value {
            // A date-time that does not parse cannot vouch for anything.
            serde_json::Value::String(text) => crate::salesforce::objects::parse_datetime(text)
                .is_some_and(|stamp| stamp < sent - SETTLE),
            _ => true,
        }
    })
}

/// SHA-256 of encoded rows, hex.
fn digest(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rows as a snapshot keeps them: a MessagePack array of rows (each row an array of its
/// fields, in declaration order), zstd-compressed. Streamed, so that the encoding of a big
/// object never sits in memory whole.
///
/// Why not JSON, as before: for the large org's 1.27M rows JSON was about 2.5 times the
/// bytes (field names, quotes, escapes), and writing and compressing it cost about 0.5 s of
/// a full `--incremental` sync's CPU. Snapshots kept as JSON by older versions still decode.
fn encode<T: Row>(rows: &[T]) -> Result<Vec<u8>, std::io::Error> {
    let mut buffered = std::io::BufWriter::new(zstd::stream::Encoder::new(Vec::new(), 1)?);
    rmp_serde::encode::write(&mut buffered, rows).map_err(std::io::Error::other)?;
    buffered
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .finish()
}

/// The encoded rows a previous run kept for `object`, decoded too when `decode_now`; why
/// not, when they cannot be had (the caller then reads the object). Rows left encoded are
/// checked to be one whole zstd frame, which catches a truncated or overwritten blob.
async fn load<T: Row>(
    store: &std::path::Path,
    run: RunId,
    object: &'static str,
    decode_now: bool,
) -> Result<(Option<Vec<T>>, Vec<u8>), String> {
    let store = store.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let data = Store::open_existing(&store)
            .and_then(|s| s.snapshot_data(run, object))
            .map_err(|e| e.to_string())?
            .ok_or("the run kept no rows of it")?;
        if decode_now {
            return Ok((Some(decode(&data)?), data));
        }
        match zstd::zstd_safe::find_frame_compressed_size(&data) {
            Ok(n) if n == data.len() => Ok((None, data)),
            _ => Err("the kept rows are not one whole zstd frame".to_owned()),
        }
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Rows from their encoding (`encode`), or from the JSON array older versions kept (it
/// starts with `[`, which no MessagePack array does).
fn decode<T: Row>(data: &[u8]) -> Result<Vec<T>, String> {
    let raw = zstd::stream::decode_all(data).map_err(|e| e.to_string())?;
    if raw.first() == Some(&b'[') {
        return serde_json::from_slice(&raw).map_err(|e| e.to_string());
    }
    rmp_serde::from_slice(&raw).map_err(|e| e.to_string())
}

/// Takes copied rows as if they had been read: mapped and sent page by page.
async fn copy<T: Row>(
    spec: &'static ObjectSpec,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    fetched: &mut Fetched<T>,
    rows: Vec<T>,
) -> Result<(), SyncError> {
    if let Some(map) = map {
        for page in rows.chunks(2000) {
            send_page(page, map, sink, &mut fetched.resources).await?;
        }
    }
    fetched.copied = true;
    fetched.unchanged = true;
    let total = rows.len() as u64;
    fetched.rows = rows;
    progress.page_read(spec.object, fetched.calls, total, Some(total));
    Ok(())
}

/// Reads every row of `spec` from Salesforce.
async fn read<T: Row>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    mut fetched: Fetched<T>,
) -> Result<Fetched<T>, SyncError> {
    let query_options = QueryOptions {
        batch_size: options.batch_size,
        include_deleted: false,
    };
    let fail = |source| SyncError::Fetch {
        object: spec.object,
        source: Box::new(source),
    };
    if spec.paging == Paging::Cursor {
        // Boxed: eighteen of these futures are joined, and a page future is large.
        Box::pin(read_cursor(
            client,
            spec,
            options,
            progress,
            sink,
            map,
            &mut fetched,
        ))
        .await?;
        return Ok(finished(spec, progress, fetched));
    }
    let mut after: Option<SfId> = None;
    loop {
        let soql: Soql = spec.soql(options, after);
        let mut pages = std::pin::pin!(client.query_pages::<T>(&soql, query_options));
        let (mut chunk_rows, mut chunk_total) = (0u64, 0u64);
        while let Some(page) = pages.next().await {
            let page = page.map_err(fail)?;
            fetched.calls += 1;
            chunk_rows += page.records.len() as u64;
            chunk_total = page.total_size;
            if let Some(map) = map {
                send_page(&page.records, map, sink, &mut fetched.resources).await?;
            }
            reserve_total(&mut fetched.rows, page.total_size);
            fetched.rows.extend(page.records);
            let total = match spec.paging {
                Paging::Cursor => Some(page.total_size),
                Paging::IdChunks { .. } => None,
            };
            progress.page_read(spec.object, fetched.calls, fetched.rows.len() as u64, total);
        }
        match spec.paging {
            Paging::Cursor => break,
            Paging::IdChunks { rows } => {
                // A full chunk may have more after it; so may a chunk the server cut short of
                // its own totalSize (a lower queryMore cap than we assumed).
                let full = chunk_rows >= u64::from(rows);
                let cut_short = chunk_rows < chunk_total;
                match fetched.rows.last() {
                    Some(last) if chunk_rows > 0 && (full || cut_short) => {
                        after = Some(last.id());
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(finished(spec, progress, fetched))
}

fn finished<T>(
    spec: &'static ObjectSpec,
    progress: &dyn Progress,
    fetched: Fetched<T>,
) -> Fetched<T> {
    progress.object_finished(spec.object, fetched.row_count(), fetched.calls);
    // The info line comes from `Progress` (log lines off a terminal; bars on one, where a log
    // line would tear the bars).
    tracing::debug!(
        sobject = spec.object,
        records = fetched.row_count(),
        api_calls = fetched.calls,
        copied = fetched.copied,
        "Object read."
    );
    fetched
}

/// Pages of one object requested at once (the client's cap on requests in flight still holds
/// across all objects).
const PAGES_IN_FLIGHT: usize = 8;

/// Reads a `Paging::Cursor` object: the first page, then (with `concurrent_pages`) every
/// remaining page at once by its offset on the query locator, in order; else, or when the
/// `nextRecordsUrl` has an unexpected shape, one `nextRecordsUrl` after the other.
/// Either way ceil(rows / page) calls.
async fn read_cursor<T: Row>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    fetched: &mut Fetched<T>,
) -> Result<(), SyncError> {
    let query_options = QueryOptions {
        batch_size: options.batch_size,
        include_deleted: false,
    };
    let fail = |source| SyncError::Fetch {
        object: spec.object,
        source: Box::new(source),
    };
    let mut soql: Soql = spec.soql(options, None);
    let (first, mut next) = client
        .query_page::<T>(&soql, None, query_options)
        .await
        .map_err(fail)?;
    let (mut page_len, mut total) = (first.records.len() as u64, first.total_size);
    // Rows of the object read before the query whose pages follow (see the fallback below).
    let mut base = 0u64;
    let last_id = first.records.last().map(Row::id);
    take_page(spec, progress, sink, map, fetched, first).await?;
    if let (Some(above), Some(after)) = (options.bulk_above, last_id)
        && total > above
        && next.is_some()
    {
        match Box::pin(read_bulk(
            client, spec, options, progress, sink, map, fetched, after, total,
        ))
        .await
        {
            Ok(()) => return Ok(()),
            Err(BulkError::Fatal(error)) => return Err(error),
            Err(BulkError::Fallback(error)) => {
                tracing::warn!(
                    sobject = spec.object,
                    error = %error,
                    "The Bulk API 2.0 query job gave no rows; reading the object by REST pages instead."
                );
                // A new query for the rows after the first page: the first query's cursor may
                // have expired while the job ran (15 minutes idle before API 56.0). Its pages
                // cost what the first cursor's remaining pages would have.
                soql = spec.soql_after(options, Some(after), None);
                let (first, after_next) = client
                    .query_page::<T>(&soql, None, query_options)
                    .await
                    .map_err(fail)?;
                base = fetched.rows.len() as u64;
                (page_len, total, next) =
                    (first.records.len() as u64, first.total_size, after_next);
                take_page(spec, progress, sink, map, fetched, first).await?;
            }
        }
    }
    let offsets: Vec<u64> = (1..)
        .map(|k| k * page_len)
        .take_while(|offset| *offset < total)
        .collect();
    let paths: Option<Vec<String>> = match &next {
        Some(url)
            if options.concurrent_pages
                && page_len > 0
                && url.ends_with(&format!("-{page_len}")) =>
        {
            offsets
                .iter()
                .map(|offset| locator_page_path(url, *offset))
                .collect()
        }
        _ => None,
    };
    if let Some(paths) = paths {
        let soql = &soql;
        let mut pages = futures::stream::iter(paths.into_iter().zip(2u32..))
            .map(|(path, number)| {
                Box::pin(async move {
                    client
                        .query_page::<T>(soql, Some((&path, number)), query_options)
                        .await
                })
            })
            .buffered(PAGES_IN_FLIGHT);
        while let Some(page) = pages.next().await {
            let (page, _) = page.map_err(fail)?;
            let short = (page.records.len() as u64) < page_len && !page.is_last;
            if short || page.total_size != total {
                return Err(fail(SalesforceError::config(
                    "nextRecordsUrl",
                    format!(
                        "page {} of the {} query came back with {} rows of {} (page size {page_len}); \
                         retry with --sequential-pages",
                        page.number,
                        spec.object,
                        page.records.len(),
                        page.total_size
                    ),
                )));
            }
            take_page(spec, progress, sink, map, fetched, page).await?;
        }
        if fetched.rows.len() as u64 != base + total {
            return Err(fail(SalesforceError::config(
                "nextRecordsUrl",
                format!(
                    "the {} query gave {} rows of {total} through locator offsets; retry with \
                     --sequential-pages",
                    spec.object,
                    fetched.rows.len() as u64 - base
                ),
            )));
        }
        return Ok(());
    }
    let mut number = 1;
    while let Some(path) = next.take() {
        number += 1;
        let (page, after) = client
            .query_page::<T>(&soql, Some((&path, number)), query_options)
            .await
            .map_err(fail)?;
        take_page(spec, progress, sink, map, fetched, page).await?;
        next = after;
    }
    Ok(())
}

/// Why a Bulk API 2.0 read stopped.
enum BulkError {
    /// The read fails.
    Fatal(SyncError),
    /// The query job gave no rows and REST pages can replace it (nothing of it was taken).
    Fallback(SalesforceError),
}

/// Reads the rows of a `Paging::Cursor` object after its first page (`after`: the first
/// page's last Id) through one Bulk API 2.0 query job: create, poll until complete, results
/// sets of `maxRecords` rows in Id order. Calls: 1 + polls + ceil(rows / maxRecords).
///
/// A job that Salesforce refuses (a 4xx that is not a limit or a session problem: no Bulk API
/// in this edition, a query it will not run) or that fails, is aborted or times out gives
/// `Fallback` before any row is taken, and the caller reads by REST pages. An error once rows
/// have been taken fails the read: they have been sent to the store already.
#[allow(clippy::too_many_arguments)]
async fn read_bulk<T: Row>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    fetched: &mut Fetched<T>,
    after: SfId,
    total: u64,
) -> Result<(), BulkError> {
    let soql = spec.soql_after(options, Some(after), None);
    let fail = |source| {
        BulkError::Fatal(SyncError::Fetch {
            object: spec.object,
            source: Box::new(source),
        })
    };
    let fallback = |error: SalesforceError| match &error {
        SalesforceError::BulkJob { .. } => BulkError::Fallback(error),
        SalesforceError::Api(api)
            if (400..500).contains(&api.status)
                && !matches!(error.category(), ErrorCategory::Auth | ErrorCategory::Limit) =>
        {
            BulkError::Fallback(error)
        }
        _ => fail(error),
    };
    // The create and the polls are calls whether or not the job gives rows.
    fetched.calls += 1;
    let job = client
        .bulk_query_create(&soql, false)
        .await
        .map_err(fallback)?;
    let mut polls = 0;
    let waited = client
        .bulk_query_wait(&job, &options.bulk, &mut polls)
        .await;
    fetched.calls += polls;
    let info = waited.map_err(fallback)?;
    let expected = info
        .number_records_processed
        .map(|n| fetched.rows.len() as u64 + n);
    tracing::debug!(
        sobject = spec.object,
        job = %job.id,
        polls,
        rows = ?info.number_records_processed,
        "Bulk query job complete."
    );
    let mut locator: Option<String> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut number = 1;
    let mut previous = after;
    loop {
        let set = client
            .bulk_query_results::<T>(&job, locator.as_deref(), options.bulk.max_records)
            .await
            .map_err(|error| match error {
                // Results this client cannot read: the fix is to read without jobs.
                SalesforceError::Decode { .. } | SalesforceError::Config { .. } => {
                    fail(SalesforceError::BulkJob {
                        job: job.id.clone(),
                        object: spec.object.to_owned(),
                        state: "with unreadable results".to_owned(),
                        message: error.to_string(),
                    })
                }
                other => fail(other),
            })?;
        // Each set must move on: an empty set that names a next one, or a locator seen
        // before, would loop, a call each time.
        if let Some(next) = &set.next
            && (set.is_empty() || seen.contains(next))
        {
            return Err(fail(SalesforceError::BulkJob {
                job: job.id.clone(),
                object: spec.object.to_owned(),
                state: "with results that do not move on".to_owned(),
                message: format!(
                    "results set {number} gave {} rows and a locator {}",
                    set.len(),
                    if set.is_empty() {
                        "to another set"
                    } else {
                        "seen before"
                    }
                ),
            }));
        }
        if let Some(next) = &set.next {
            seen.insert(next.clone());
        }
        // Rows must come in Id order, after the first page: the query says ORDER BY Id, and
        // the expansion relies on it.
        for row in set.slices.iter().flatten() {
            let id = row.id();
            if id <= previous {
                return Err(fail(SalesforceError::config(
                    "Bulk API 2.0 results",
                    format!(
                        "query job {} of {} gave Id {id} after {previous}, out of Id order; \
                         retry with --bulk-above off",
                        job.id, spec.object
                    ),
                )));
            }
            previous = id;
        }
        number += 1;
        // One call for the set, its slices kept one by one.
        fetched.calls += 1;
        let is_last = set.next.is_none();
        for records in set.slices {
            let page = Page {
                number,
                total_size: expected.unwrap_or(total),
                is_last,
                records,
            };
            keep_page(spec, progress, sink, map, fetched, page)
                .await
                .map_err(BulkError::Fatal)?;
        }
        match set.next {
            Some(next) => locator = Some(next),
            None => break,
        }
    }
    if let Some(expected) = expected
        && fetched.rows.len() as u64 != expected
    {
        return Err(fail(SalesforceError::config(
            "Bulk API 2.0 results",
            format!(
                "query job {} of {} said {expected} rows but its results gave {}; retry with \
                 --bulk-above off",
                job.id,
                spec.object,
                fetched.rows.len()
            ),
        )));
    }
    Ok(())
}

/// The most rows `reserve_total` reserves room for up front (about 100 MB of the widest
/// rows): a larger `totalSize` grows the vector as it comes.
const RESERVE_ROWS_MAX: u64 = 1_000_000;

/// Makes room for the rows the query will give in all (its `totalSize`) at the first page:
/// grown page by page, the vector of a big object held up to twice its rows (measured: about
/// 45 MB of a large sync's peak).
fn reserve_total<T>(rows: &mut Vec<T>, total_size: u64) {
    let total = total_size.min(RESERVE_ROWS_MAX) as usize;
    if rows.is_empty() && total > rows.capacity() {
        rows.reserve_exact(total);
    }
}

/// Counts, maps and keeps one page.
async fn take_page<T>(
    spec: &'static ObjectSpec,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    fetched: &mut Fetched<T>,
    page: Page<T>,
) -> Result<(), SyncError> {
    fetched.calls += 1;
    keep_page(spec, progress, sink, map, fetched, page).await
}

/// Maps and keeps one page (or one slice of a Bulk API results set).
async fn keep_page<T>(
    spec: &'static ObjectSpec,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
    fetched: &mut Fetched<T>,
    page: Page<T>,
) -> Result<(), SyncError> {
    if let Some(map) = map {
        send_page(&page.records, map, sink, &mut fetched.resources).await?;
    }
    reserve_total(&mut fetched.rows, page.total_size);
    fetched.rows.extend(page.records);
    progress.page_read(
        spec.object,
        fetched.calls,
        fetched.rows.len() as u64,
        Some(page.total_size),
    );
    Ok(())
}

/// Maps a page into resources and entitlements and sends them to the sink.
async fn send_page<T>(
    rows: &[T],
    map: MapRow<T>,
    sink: &Sink,
    ids: &mut HashSet<ResourceId>,
) -> Result<(), SyncError> {
    let mut resources = Vec::with_capacity(rows.len());
    let mut entitlements = Vec::new();
    for row in rows {
        if let Some(resource) = map(row)? {
            entitlements.extend(entitlements_of(&resource));
            ids.insert(resource.id);
            resources.push(resource);
        }
    }
    sink.resources(resources).await?;
    sink.entitlements(entitlements).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn an_answer_settles_a_minute_after_its_newest_stamp() {
        let sent = parse("2026-11-22T12:00:00.000+0000");
        let old = row(serde_json::json!({"expr0": 12, "expr1": "2026-11-22T11:58:59.000+0000"}));
        assert!(settled(&old, sent));
        let recent = row(serde_json::json!({"expr0": 12, "expr1": "2026-11-22T11:59:30.000+0000"}));
        assert!(!settled(&recent, sent));
        // Any recent stamp unsettles it (User's LastLoginDate, after an old SystemModstamp).
        let login = row(serde_json::json!({
            "expr0": 3,
            "expr1": "2020-01-01T00:00:00.000+0000",
            "expr2": "2026-11-22T11:59:59.000+0000"
        }));
        assert!(!settled(&login, sent));
        // An empty object has no stamps: settled.
        let empty = row(serde_json::json!({"expr0": 0, "expr1": null}));
        assert!(settled(&empty, sent));
        // A stamp that does not parse is not.
        let odd = row(serde_json::json!({"expr0": 1, "expr1": "yesterday"}));
        assert!(!settled(&odd, sent));
    }

    /// Every kind of row comes back from a snapshot as it went in, nulls, dates and flags
    /// included; a snapshot an older version kept as JSON still reads.
    #[test]
    fn rows_survive_their_encoding() {
        use crate::sync::objects::{
            ConnectedApplicationRow, GroupMemberRow, PermissionSetAssignmentRow, UserLoginRow,
            UserRow,
        };
        fn round_trip<T: Row + PartialEq + std::fmt::Debug>(json: serde_json::Value) {
            let rows: Vec<T> = serde_json::from_value(json).unwrap();
            assert!(!rows.is_empty());
            let data = encode(&rows).unwrap();
            assert_eq!(decode::<T>(&data).unwrap(), rows);
            // What versions before MessagePack kept.
            let json =
                zstd::stream::encode_all(&serde_json::to_vec(&rows).unwrap()[..], 1).unwrap();
            assert_eq!(decode::<T>(&json).unwrap(), rows);
        }
        round_trip::<UserRow>(serde_json::json!([{
            "attributes": {"type": "User"},
            "Id": "0055g0000000001", "Username": "a@example.com", "Email": null,
            "FirstName": "A", "LastName": "B", "Name": "A \"quoted\" B ü", "IsActive": null,
            "UserType": "Standard", "ProfileId": "00e5g0000000001", "UserRoleId": null,
            "ManagerId": null, "FederationIdentifier": null,
            "LastLoginDate": "2024-03-01T10:00:00.123+0000", "CreatedDate": null
        }, {
            "Id": "0055g0000000002AAA", "Username": "b@example.com", "Email": "b@example.com",
            "IsActive": true, "UserType": null,
            "LastLoginDate": null, "CreatedDate": "2020-01-01T00:00:00.000-0800"
        }]));
        round_trip::<PermissionSetAssignmentRow>(serde_json::json!([{
            "Id": "0Pa5g0000000001", "AssigneeId": "0055g0000000001",
            "PermissionSetId": "0PS5g0000000001", "PermissionSetGroupId": null,
            "ExpirationDate": "2027-01-01T00:00:00.000+0000"
        }, {
            "Id": "0Pa5g0000000002", "AssigneeId": "0055g0000000001",
            "PermissionSetId": "0PS5g0000000002", "PermissionSetGroupId": "0PG5g0000000001",
            "ExpirationDate": null
        }]));
        round_trip::<GroupMemberRow>(serde_json::json!([{
            "Id": "0115g0000000001", "GroupId": "00G5g0000000001",
            "UserOrGroupId": "0055g0000000001"
        }]));
        round_trip::<UserLoginRow>(serde_json::json!([{
            "Id": "0Ym5g0000000001", "UserId": "0055g0000000001",
            "IsFrozen": true, "IsPasswordLocked": null
        }]));
        round_trip::<ConnectedApplicationRow>(serde_json::json!([{
            "Id": "0H45g0000000001", "Name": "Slack",
            "OptionsAllowAdminApprovedUsersOnly": true,
            "CreatedDate": "2021-05-06T07:08:09.000+0000"
        }]));
        // Damage is an error, not rows.
        let data = encode::<GroupMemberRow>(&[]).unwrap();
        assert_eq!(decode::<GroupMemberRow>(&data).unwrap(), vec![]);
        let garbage = zstd::stream::encode_all(&[0x92u8, 0xc1][..], 1).unwrap();
        assert!(decode::<GroupMemberRow>(&garbage).is_err());
    }

    fn parse(text: &str) -> DateTime<Utc> {
        crate::salesforce::objects::parse_datetime(text).expect("a date-time")
    }
}
