//! Reading runs and their records: the latest good run, one run, and keyset-paged lists of
//! resources, entitlements and grants in id order.
//!
//! Paging is by id (`id > after ORDER BY id LIMIT n`), never by offset, so a page costs the
//! same wherever it is and a list read page by page returns every record exactly once. Opaque
//! page tokens (the HTTP service) are built on top from `Page::next_after`.

use std::ops::ControlFlow;

use rusqlite::types::ToSql;
use rusqlite::{OptionalExtension, Row, params};
use serde::de::DeserializeOwned;

use super::blocks::{DecodedBlock, EntitlementTable, decode_list, decode_v3_list, split_grant_id};
use super::runs::Sorter;
use super::writer::count;
use super::{ApiCalls, Counts, RunId, RunStatus, Store, StoreError, SyncRun};
use crate::model::{
    Entitlement, EntitlementId, Grant, GrantId, Resource, ResourceId, ResourceType, ResourceTypeId,
};

/// The largest page a reader returns; larger limits are capped to it.
pub const MAX_PAGE_LIMIT: usize = 10_000;

/// Which page to read: the records after `after` (exclusive), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<Id> {
    after: Option<Id>,
    limit: usize,
}

impl<Id> PageRequest<Id> {
    /// A page of at most `limit` records after `after`; `limit` is capped to
    /// `1..=MAX_PAGE_LIMIT`.
    pub fn new(after: Option<Id>, limit: usize) -> PageRequest<Id> {
        PageRequest {
            after,
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
        }
    }

    /// The first page of the largest size.
    pub fn first() -> PageRequest<Id> {
        PageRequest::new(None, MAX_PAGE_LIMIT)
    }

    /// The effective limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One page of records in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, Id> {
    /// The records.
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<Id>,
}

/// Which grants to list; both filters may be combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Only grants of this entitlement.
    pub entitlement: Option<EntitlementId>,
    /// Only grants to this principal.
    pub principal: Option<ResourceId>,
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: row.get(0)?,
        started: row.get(1)?,
        finished: row.get(2)?,
        status: row.get(3)?,
        options: row.get(4)?,
        counts: row.get(5)?,
        api_calls: row.get(6)?,
        error: row.get(7)?,
    })
}

/// Runs whose table of entitlements a `Store` keeps decoded (a service reads the latest run,
/// and now and then the one before).
const ENTITLEMENT_TABLES_CACHED: usize = 4;

const RUN_COLUMNS: &str = "id, started, finished, status, options, counts, api_calls, error";

/// A `sync_runs` row before its text columns are parsed.
struct RawRun {
    id: i64,
    started: String,
    finished: Option<String>,
    status: String,
    options: String,
    counts: Option<String>,
    api_calls: Option<String>,
    error: Option<String>,
}

fn parse_json<T: DeserializeOwned>(what: impl Fn() -> String, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json {
        what: what(),
        direction: "read",
        source,
    })
}

fn parse_time(
    what: impl Fn() -> String,
    text: &str,
) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    parse_json(
        what,
        &serde_json::Value::String(text.to_owned()).to_string(),
    )
}

impl RawRun {
    fn into_run(self) -> Result<SyncRun, StoreError> {
        let id = RunId(self.id);
        let what = |field: &str| {
            let field = field.to_owned();
            move || format!("run {id} ({field})")
        };
        let status = RunStatus::parse(&self.status).ok_or_else(|| StoreError::Json {
            what: format!("run {id} (status)"),
            direction: "read",
            source: serde::de::Error::custom(format!("unknown status {:?}", self.status)),
        })?;
        Ok(SyncRun {
            id,
            status,
            started: parse_time(what("started"), &self.started)?,
            finished: self
                .finished
                .as_deref()
                .map(|t| parse_time(what("finished"), t))
                .transpose()?,
            options: parse_json(what("options"), &self.options)?,
            counts: self
                .counts
                .as_deref()
                .map(|c| parse_json::<Counts>(what("counts"), c))
                .transpose()?,
            api_calls: self
                .api_calls
                .as_deref()
                .map(|c| parse_json::<ApiCalls>(what("api_calls"), c))
                .transpose()?,
            error: self.error,
        })
    }
}

impl Store {
    /// The newest successful run, if any. Running, failed and interrupted runs are never
    /// returned.
    pub fn latest_run(&self) -> Result<Option<SyncRun>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1"),
                [],
                run_from_row,
            )
            .optional()
            .map_err(StoreError::sqlite("read the latest run"))?
            .map(RawRun::into_run)
            .transpose()
    }

    /// The run with this id, whatever its status.
    pub fn run(&self, id: RunId) -> Result<Option<SyncRun>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = ?1"),
                [id.0],
                run_from_row,
            )
            .optional()
            .map_err(StoreError::sqlite("read a run"))?
            .map(RawRun::into_run)
            .transpose()
    }

    /// Every run still in the store, newest first.
    pub fn runs(&self) -> Result<Vec<SyncRun>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM sync_runs ORDER BY id DESC"
            ))
            .map_err(StoreError::sqlite("list runs"))?;
        let raw = stmt
            .query_map([], run_from_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::sqlite("list runs"))?;
        raw.into_iter().map(RawRun::into_run).collect()
    }

    /// The run to read data from: `requested` when given (it must have succeeded), else the
    /// latest successful run. The errors say which case failed (`NoGoodRun`, `UnknownRun`,
    /// `RunNotSucceeded`).
    pub fn readable_run(&self, requested: Option<RunId>) -> Result<SyncRun, StoreError> {
        match requested {
            None => self.latest_run()?.ok_or(StoreError::NoGoodRun),
            Some(id) => {
                let run = self.run(id)?.ok_or(StoreError::UnknownRun(id))?;
                if run.status != RunStatus::Succeeded {
                    return Err(StoreError::RunNotSucceeded {
                        run: id,
                        status: run.status,
                    });
                }
                Ok(run)
            }
        }
    }

    /// Record counts of a run, counted now.
    pub fn counts(&self, run: RunId) -> Result<Counts, StoreError> {
        count(self.conn(), self.records_of(run)?)
    }

    /// The run whose records `run` has: itself, or the earlier run it shares them with (an
    /// incremental sync that found nothing changed).
    pub fn records_of(&self, run: RunId) -> Result<RunId, StoreError> {
        let shared: Option<Option<i64>> = self
            .conn()
            .query_row(
                "SELECT data_run FROM sync_runs WHERE id = ?1",
                [run.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite("read a run"))?;
        Ok(shared.flatten().map(RunId).unwrap_or(run))
    }

    /// The resource types of a run, in id order.
    pub fn resource_types(&self, run: RunId) -> Result<Vec<ResourceType>, StoreError> {
        let mut out = Vec::new();
        self.for_each_doc(run, Table::ResourceTypes, |_, doc| {
            out.push(parse_json(|| "a resource type".to_owned(), doc)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// A page of resources, optionally of one type.
    pub fn resources(
        &self,
        run: RunId,
        type_filter: Option<ResourceTypeId>,
        page: &PageRequest<ResourceId>,
    ) -> Result<Page<Resource, ResourceId>, StoreError> {
        let filter = type_filter.map(|t| ("resource_type = ?", t.as_str().to_owned()));
        self.page(
            "resources",
            run,
            filter.into_iter().collect(),
            page,
            |r: &Resource| r.id,
        )
    }

    /// A page of entitlements, optionally of one resource.
    pub fn entitlements(
        &self,
        run: RunId,
        resource_filter: Option<ResourceId>,
        page: &PageRequest<EntitlementId>,
    ) -> Result<Page<Entitlement, EntitlementId>, StoreError> {
        let filter = resource_filter.map(|r| ("resource_id = ?", r.to_string()));
        self.page(
            "entitlements",
            run,
            filter.into_iter().collect(),
            page,
            |e: &Entitlement| e.id,
        )
    }

    /// A page of grants, optionally of one entitlement and/or to one principal.
    pub fn grants(
        &self,
        run: RunId,
        filter: &GrantFilter,
        page: &PageRequest<GrantId>,
    ) -> Result<Page<Grant, GrantId>, StoreError> {
        let run = self.records_of(run)?;
        let after = page.after.map(|a| a.to_string());
        let wanted = page.limit + 1;
        // One more than asked tells whether there is a next page.
        let mut docs: Vec<(String, String)> = Vec::with_capacity(wanted.min(1024));
        if let Some(principal) = filter.principal {
            let principal = principal.to_string();
            let entitlement = filter.entitlement.map(|e| e.to_string());
            let mut cache = None;
            for e in self.principal_entitlements(run, &principal)? {
                if entitlement.as_ref().is_some_and(|want| *want != e) {
                    continue;
                }
                let id = format!("{e}:{principal}");
                if after.as_ref().is_some_and(|a| id <= *a) {
                    continue;
                }
                let tail =
                    self.grant_tail(run, &id, &mut cache)?
                        .ok_or_else(|| StoreError::Damaged {
                            what: format!("grant {id} is listed for its principal but in no block"),
                            run,
                        })?;
                docs.push((id, tail));
                if docs.len() >= wanted {
                    break;
                }
            }
        } else {
            // Grant ids start with their entitlement id and ':', and ';' follows ':' in
            // ASCII, so the grants of an entitlement are the ids between these two.
            let (low, high) = match filter.entitlement {
                Some(e) => (format!("{e}:"), Some(format!("{e};"))),
                None => (String::new(), None),
            };
            let start = match after {
                Some(a) if a > low => a,
                _ => low,
            };
            for_each_block(self.conn(), run, Some(&start), |block| {
                for (id, tail) in block.iter() {
                    if id <= start.as_str() {
                        continue;
                    }
                    if high.as_deref().is_some_and(|h| id >= h) {
                        return Ok(ControlFlow::Break(()));
                    }
                    docs.push((id.to_owned(), tail.to_owned()));
                    if docs.len() >= wanted {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        let more = docs.len() > page.limit;
        let mut items = Vec::with_capacity(docs.len().min(page.limit));
        let mut buf = String::new();
        for (id, tail) in docs.iter().take(page.limit) {
            let doc = full_doc("grants", id, tail, &mut buf);
            items.push(parse_json(|| "a grant".to_owned(), doc)?);
        }
        let next_after = if more {
            items.last().map(|g: &Grant| g.id)
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    /// The entitlement ids `principal` holds in `run` (whose records are its own), in the
    /// order of its grant ids.
    pub(crate) fn principal_entitlements(
        &self,
        run: RunId,
        principal: &str,
    ) -> Result<Vec<String>, StoreError> {
        // The list, and whether the run has a table of entitlements (schema 4) or not
        // (schema 3), in one statement: a prune between two reads cannot mix them up.
        let list: Option<(Vec<u8>, i64, Option<i64>)> = self
            .conn()
            .prepare_cached(
                "SELECT p.data, p.count, (SELECT g.count FROM grant_entitlements g WHERE g.run_id = p.run_id)
                 FROM principal_grants p WHERE p.run_id = ?1 AND p.principal_id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![run.0, principal], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(StoreError::sqlite("read a principal's grants"))?;
        let Some((data, count, table)) = list else {
            return Ok(Vec::new());
        };
        let damaged = || StoreError::Damaged {
            what: format!("the grant list of {principal}"),
            run,
        };
        if table.is_none() {
            // Written by schema 3: the list holds the ids themselves.
            return decode_v3_list(&data).ok_or_else(damaged);
        }
        let mut cache = self.entitlement_tables.borrow_mut();
        let at = match cache.iter().position(|(r, _)| *r == run) {
            Some(at) => at,
            None => {
                // Gone since the statement above: the run was pruned meanwhile.
                let table = self
                    .grant_entitlements(run)?
                    .ok_or(StoreError::UnknownRun(run))?;
                if cache.len() >= ENTITLEMENT_TABLES_CACHED {
                    cache.remove(0);
                }
                cache.push((run, table));
                cache.len() - 1
            }
        };
        let table = &cache[at].1;
        let count = usize::try_from(count).map_err(|_| damaged())?;
        let numbers = decode_list(&data, count, table.len()).ok_or_else(damaged)?;
        Ok(numbers
            .into_iter()
            .map(|n| {
                table
                    .get(n as usize)
                    .expect("decode_list keeps numbers below the table's length")
                    .to_owned()
            })
            .collect())
    }

    /// The entitlements `run`'s grants name, numbered (None for a run schema 3 wrote, or one
    /// that is gone).
    fn grant_entitlements(&self, run: RunId) -> Result<Option<EntitlementTable>, StoreError> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .query_row(
                "SELECT data, count FROM grant_entitlements WHERE run_id = ?1",
                [run.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::sqlite("read the grants' entitlements"))?;
        let Some((data, count)) = row else {
            return Ok(None);
        };
        usize::try_from(count)
            .ok()
            .and_then(|count| EntitlementTable::decode(&data, count))
            .map(Some)
            .ok_or_else(|| StoreError::Damaged {
                what: "the table of the grants' entitlements".to_owned(),
                run,
            })
    }

    /// The stored document tail of grant `id` of `run` (whose records are its own), from its
    /// block; `cache` keeps the last block read, for lookups of neighbouring ids.
    fn grant_tail(
        &self,
        run: RunId,
        id: &str,
        cache: &mut Option<(String, DecodedBlock)>,
    ) -> Result<Option<String>, StoreError> {
        if let Some((last_id, block)) = cache
            && id <= last_id.as_str()
            && let Some(tail) = block.find(id)
        {
            return Ok(Some(tail.to_owned()));
        }
        let found: Option<(String, Vec<u8>)> = self
            .conn()
            .prepare_cached(
                "SELECT last_id, data FROM grant_blocks WHERE run_id = ?1 AND last_id >= ?2 ORDER BY last_id LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![run.0, id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(StoreError::sqlite("read a grant"))?;
        let Some((last_id, data)) = found else {
            return Ok(None);
        };
        let block = DecodedBlock::decode(&data).ok_or_else(|| StoreError::Damaged {
            what: format!("the block of grants ending {last_id}"),
            run,
        })?;
        let tail = block.find(id).map(str::to_owned);
        *cache = Some((last_id, block));
        Ok(tail)
    }

    /// One resource by id.
    pub fn resource(&self, run: RunId, id: ResourceId) -> Result<Option<Resource>, StoreError> {
        self.get("resources", run, &id.to_string())
    }

    /// One entitlement by id.
    pub fn entitlement(
        &self,
        run: RunId,
        id: EntitlementId,
    ) -> Result<Option<Entitlement>, StoreError> {
        self.get("entitlements", run, &id.to_string())
    }

    /// One grant by id.
    pub fn grant(&self, run: RunId, id: GrantId) -> Result<Option<Grant>, StoreError> {
        let run = self.records_of(run)?;
        let id = id.to_string();
        let mut buf = String::new();
        self.grant_tail(run, &id, &mut None)?
            .map(|tail| parse_json(|| id.clone(), full_doc("grants", &id, &tail, &mut buf)))
            .transpose()
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: &'static str,
        run: RunId,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let run = self.records_of(run)?;
        let doc: Option<String> = self
            .conn()
            .query_row(
                &format!("SELECT doc FROM {table} WHERE run_id = ?1 AND id = ?2"),
                params![run.0, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite("read a record"))?;
        let mut buf = String::new();
        doc.map(|d| parse_json(|| id.to_owned(), full_doc(table, id, &d, &mut buf)))
            .transpose()
    }

    /// Reads one page. `table` and the filter conditions (each with one `?`) are fixed
    /// strings of this module; every value is a bound parameter.
    fn page<T: DeserializeOwned, Id: std::fmt::Display + Copy>(
        &self,
        table: &'static str,
        run: RunId,
        filters: Vec<(&'static str, String)>,
        page: &PageRequest<Id>,
        id_of: impl Fn(&T) -> Id,
    ) -> Result<Page<T, Id>, StoreError> {
        let run = self.records_of(run)?;
        let mut sql = format!("SELECT id, doc FROM {table} WHERE run_id = ?");
        let mut values: Vec<Box<dyn ToSql>> = vec![Box::new(run.0)];
        for (condition, value) in filters {
            sql.push_str(" AND ");
            sql.push_str(condition);
            values.push(Box::new(value));
        }
        if let Some(after) = page.after {
            sql.push_str(" AND id > ?");
            values.push(Box::new(after.to_string()));
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        // One more than asked tells whether there is a next page without a second query.
        values.push(Box::new((page.limit + 1) as i64));
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .map_err(StoreError::sqlite("read a page"))?;
        let docs: Vec<(String, String)> = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sqlite("read a page"))?;
        let more = docs.len() > page.limit;
        let mut items = Vec::with_capacity(docs.len().min(page.limit));
        let mut buf = String::new();
        for (id, doc) in docs.iter().take(page.limit) {
            let doc = full_doc(table, id, doc, &mut buf);
            items.push(parse_json(|| format!("a record of {table}"), doc)?);
        }
        let next_after = if more { items.last().map(&id_of) } else { None };
        Ok(Page { items, next_after })
    }

    /// Calls `f(id, doc)` for every row of `table` in the run, in id order, streaming (a run's
    /// grants never have to fit in memory).
    pub(crate) fn for_each_doc(
        &self,
        run: RunId,
        table: Table,
        mut f: impl FnMut(&str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let run = self.records_of(run)?;
        let mut buf = String::new();
        if table == Table::Grants {
            return for_each_block(self.conn(), run, None, |block| {
                for (id, tail) in block.iter() {
                    f(id, full_doc("grants", id, tail, &mut buf))?;
                }
                Ok(ControlFlow::Continue(()))
            });
        }
        let sql = format!(
            "SELECT id, doc FROM {} WHERE run_id = ?1 ORDER BY id",
            table.name()
        );
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .map_err(StoreError::sqlite("read records"))?;
        let mut rows = stmt
            .query([run.0])
            .map_err(StoreError::sqlite("read records"))?;
        while let Some(row) = rows.next().map_err(StoreError::sqlite("read records"))? {
            let (id, doc) = id_and_text(row, "read records")?;
            f(id, full_doc(table.name(), id, doc, &mut buf))?;
        }
        Ok(())
    }

    /// Calls `f(grant)` for every grant to a principal of `principal_type`, ordered by
    /// principal id then grant id (the access-review order), streaming.
    ///
    /// Grants are stored in id order, that is by entitlement. So they are read in one pass over
    /// the blocks and sorted by principal (`runs::Sorter`): up to `BY_PRINCIPAL_CHUNK` at a
    /// time in memory, in sorted runs in a temporary file beyond that, merged. Memory stays
    /// bounded by the chunk, whatever the number of grants.
    pub(crate) fn for_each_grant_by_principal(
        &self,
        run: RunId,
        principal_type: ResourceTypeId,
        f: impl FnMut(Grant) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.for_each_grant_by_principal_in_chunks(run, principal_type, BY_PRINCIPAL_CHUNK, f)
    }

    /// `for_each_grant_by_principal` holding up to `chunk_grants` grants in memory.
    pub(crate) fn for_each_grant_by_principal_in_chunks(
        &self,
        run: RunId,
        principal_type: ResourceTypeId,
        chunk_grants: i64,
        mut f: impl FnMut(Grant) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let run = self.records_of(run)?;
        // Principal ids start with "type:", so this range of `principal_grants` is one type.
        let low = format!("{}:", principal_type.as_str());
        let high = format!("{};", principal_type.as_str());
        let principals: Vec<(String, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT principal_id, count FROM principal_grants
                 WHERE run_id = ?1 AND principal_id > ?2 AND principal_id < ?3 ORDER BY principal_id",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![run.0, low, high], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(StoreError::sqlite("read grants"))?;
        for (principal, n) in &principals {
            if *n < 1 {
                return Err(StoreError::Damaged {
                    what: format!("the grant count of {principal}"),
                    run,
                });
            }
        }
        // Principal ids start with "type:": the grants of this type are those whose principal
        // part does.
        let mut sorter = Sorter::new(usize::try_from(chunk_grants).unwrap_or(1));
        for_each_block(self.conn(), run, None, |block| {
            for (id, tail) in block.iter() {
                if let Some((_, principal)) = split_grant_id(id)
                    && principal.starts_with(low.as_str())
                {
                    sorter.push(id, tail).map_err(StoreError::TempFile)?;
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let mut buf = String::new();
        sorter.finish(StoreError::TempFile, |id, tail| {
            let doc = full_doc("grants", id, tail, &mut buf);
            f(parse_json(|| "a grant".to_owned(), doc)?)
        })
    }
}

/// The first two columns of `row` (an id and a document), borrowed as text.
pub(crate) fn id_and_text<'r>(
    row: &'r Row<'_>,
    operation: &'static str,
) -> Result<(&'r str, &'r str), StoreError> {
    let text = |i: usize| {
        row.get_ref(i)
            .and_then(|v| Ok(v.as_str()?))
            .map_err(StoreError::sqlite(operation))
    };
    Ok((text(0)?, text(1)?))
}

/// Grants `for_each_grant_by_principal` sorts in memory at a time (about 50 MB of ids and
/// documents); beyond it, sorted runs go to a temporary file.
const BY_PRINCIPAL_CHUNK: i64 = 250_000;

/// Calls `f` with each block of `run`'s grants (a run with records of its own) whose last id
/// is after `after`, in id order, until `f` breaks.
pub(crate) fn for_each_block(
    conn: &rusqlite::Connection,
    run: RunId,
    after: Option<&str>,
    mut f: impl FnMut(&DecodedBlock) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT last_id, data FROM grant_blocks WHERE run_id = ?1 AND last_id > ?2 ORDER BY last_id",
        )
        .map_err(StoreError::sqlite("read grants"))?;
    let mut rows = stmt
        .query(params![run.0, after.unwrap_or("")])
        .map_err(StoreError::sqlite("read grants"))?;
    while let Some(row) = rows.next().map_err(StoreError::sqlite("read grants"))? {
        let data = row
            .get_ref(1)
            .and_then(|v| Ok(v.as_blob()?))
            .map_err(StoreError::sqlite("read grants"))?;
        let Some(block) = DecodedBlock::decode(data) else {
            let last_id: String = row.get(0).map_err(StoreError::sqlite("read grants"))?;
            return Err(StoreError::Damaged {
                what: format!("the block of grants ending {last_id}"),
                run,
            });
        };
        if f(&block)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// A row's JSON document as the exports write it: for a grant, the stored tail (see
/// `grant_doc_tail`) behind the id fields rebuilt from its id, in `buf`; any other document
/// as stored.
pub(crate) fn full_doc<'a>(table: &str, id: &str, doc: &'a str, buf: &'a mut String) -> &'a str {
    if table != "grants" || doc.starts_with('{') {
        return doc;
    }
    buf.clear();
    // `type:SfId:slug:principal_type:SfId`: the entitlement is the first three parts.
    let mut colons = id.match_indices(':').map(|(i, _)| i);
    let (Some(split), Some(type_end)) = (colons.nth(2), colons.next()) else {
        return doc;
    };
    let (entitlement, principal) = (&id[..split], &id[split + 1..]);
    let principal_type = &id[split + 1..type_end];
    grant_doc_head(id, entitlement, principal, principal_type, buf);
    buf.push_str(doc);
    buf
}

/// The start of a grant's JSON document, up to and including the comma before `"direct"`:
/// the part the writer leaves out of the stored document. Ids need no JSON escaping (they
/// are validated: letters, digits, `_` and `:`).
pub(crate) fn grant_doc_head(
    id: &str,
    entitlement: &str,
    principal: &str,
    principal_type: &str,
    buf: &mut String,
) {
    for part in [
        "{\"id\":\"",
        id,
        "\",\"entitlement_id\":\"",
        entitlement,
        "\",\"principal_id\":\"",
        principal,
        "\",\"principal_type\":\"",
        principal_type,
        "\",",
    ] {
        buf.push_str(part);
    }
}

/// The record tables, in export order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    ResourceTypes,
    Resources,
    Entitlements,
    Grants,
}

impl Table {
    pub(crate) const ALL: [Table; 4] = [
        Table::ResourceTypes,
        Table::Resources,
        Table::Entitlements,
        Table::Grants,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::ResourceTypes => "resource_types",
            Table::Resources => "resources",
            Table::Entitlements => "entitlements",
            Table::Grants => "grants",
        }
    }

    /// The `kind` of the table's records in the jsonl export.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Table::ResourceTypes => "resource_type",
            Table::Resources => "resource",
            Table::Entitlements => "entitlement",
            Table::Grants => "grant",
        }
    }
}
