//! Fetch: runs one object spec against Salesforce and streams its pages.
//!
//! Every object is read with ceil(rows / batch) queries: one query and its `nextRecordsUrl`
//! pages (`Paging::Cursor`), or keyset chunks for objects whose cursor stops early
//! (`Paging::IdChunks`). Pages of objects that map to resources without a join are mapped and
//! handed to the store sink as they arrive; the rows are also kept for the joins of `expand`.
//! This module counts the calls it makes per object; it does not decide what the rows mean.

use std::collections::HashSet;

use futures::StreamExt;

use super::SyncOptions;
use super::error::SyncError;
use super::objects::{ObjectSpec, Paging, Row, entitlements_of};
use super::progress::Progress;
use super::sink::Sink;
use crate::model::{Resource, ResourceId};
use crate::salesforce::query::locator_page_path;
use crate::salesforce::{Client, Page, QueryOptions, SalesforceError, SfId, Soql};

/// What reading one object gave.
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    /// Every row, in Id order.
    pub rows: Vec<T>,
    /// API calls made (pages read).
    pub calls: u64,
    /// The ids of the resources mapped and sent to the sink page by page.
    pub resources: HashSet<ResourceId>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            rows: Vec::new(),
            calls: 0,
            resources: HashSet::new(),
        }
    }
}

/// A pure mapping of one row into a resource (or none), applied page by page.
pub(crate) type MapRow<T> = fn(&T) -> Result<Option<Resource>, SyncError>;

/// Reads every row of `spec` (nothing when the options leave it out). With `map`, each page
/// is mapped into resources and their entitlements and sent to `sink` before the next page.
pub(crate) async fn fetch<T: Row>(
    client: &Client,
    spec: &'static ObjectSpec,
    options: &SyncOptions,
    progress: &dyn Progress,
    sink: &Sink,
    map: Option<MapRow<T>>,
) -> Result<Fetched<T>, SyncError> {
    let mut fetched = Fetched::default();
    if !spec.is_read(options) {
        return Ok(fetched);
    }
    progress.object_started(spec.object);
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
    progress.object_finished(spec.object, fetched.rows.len() as u64, fetched.calls);
    // The info line comes from `Progress` (log lines off a terminal; bars on one, where a log
    // line would tear the bars).
    tracing::debug!(
        sobject = spec.object,
        records = fetched.rows.len(),
        api_calls = fetched.calls,
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
    let soql: Soql = spec.soql(options, None);
    let (first, mut next) = client
        .query_page::<T>(&soql, None, query_options)
        .await
        .map_err(fail)?;
    let (page_len, total) = (first.records.len() as u64, first.total_size);
    take_page(spec, progress, sink, map, fetched, first).await?;
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
        if fetched.rows.len() as u64 != total {
            return Err(fail(SalesforceError::config(
                "nextRecordsUrl",
                format!(
                    "the {} query gave {} rows of {total} through locator offsets; retry with \
                     --sequential-pages",
                    spec.object,
                    fetched.rows.len()
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
    if let Some(map) = map {
        send_page(&page.records, map, sink, &mut fetched.resources).await?;
    }
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
