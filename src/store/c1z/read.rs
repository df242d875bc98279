//! `C1zFile`: reads a v1 c1z into model records.
//!
//! The file is decompressed (capped) into a fresh temporary directory that is removed when the
//! `C1zFile` is dropped; the user's file is never written. SQLite opens the copy with
//! `trusted_schema` off and in defensive mode, with a cap on blob size, and only the `v1_*`
//! tables are read, so a crafted database cannot run code through views or triggers. Records
//! are read in pages and handed to a [`RecordSink`], so a large file never has to fit in memory.
//!
//! Which sync is read: the one asked for by row id, else the latest finished `full` sync
//! (ordered like baton: `ended_at`, then `sync_id`). baton's readers fall back to an
//! unfinished sync; we do not, because its data may be incomplete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use rusqlite::{Connection, OpenFlags, params};

use super::map::{self, Notes, Skip};
use super::{C1zError, ReadOptions, container, proto, schema};
use crate::model::{Entitlement, Grant, Resource, ResourceType, ResourceTypeId};
use crate::store::{Counts, RunId, RunStatus, RunSummary, RunWriter, Store, SyncRun};

/// Rows read per query.
const BATCH: usize = 1000;
/// Largest string or blob SQLite returns from the file: far above any real record, and a
/// bound on the memory one crafted row can take.
const MAX_BLOB: i32 = 64 << 20;

/// One row of `v1_sync_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInfo {
    /// The row id (what `--run` selects).
    pub row: i64,
    /// The KSUID.
    pub sync_id: String,
    /// `started_at` as stored.
    pub started_at: String,
    /// `ended_at` as stored; `None` while unfinished.
    pub ended_at: Option<String>,
    /// `full`, `partial`, ...
    pub sync_type: String,
}

/// Raw row counts of one sync, by table (what `baton stats` reports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Resource types.
    pub resource_types: u64,
    /// Resources per type id, every type of the sync included (0 when it has none).
    pub resources: BTreeMap<String, u64>,
    /// Entitlements.
    pub entitlements: u64,
    /// Grants.
    pub grants: u64,
}

/// What reading a sync did beyond the records: what was left out and why, what was adjusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// The sync read.
    pub sync_id: String,
    /// Records mapped: resource types, resources, entitlements, grants.
    pub mapped: [u64; 4],
    /// Records left out, by reason (the reason names the kind of record and the type or slug).
    pub skipped: BTreeMap<String, u64>,
    /// Salesforce ids whose checksum suffix was recomputed from the 15-character form.
    pub repaired_ids: u64,
    /// Resources whose details were rebuilt from baton's fields (files not written by us).
    pub details_inferred: u64,
    /// Grant sources left out because their kind could not be told.
    pub dropped_sources: u64,
    /// Grants still marked for expansion (`needs_expansion`): the writer did not expand them,
    /// so the grants they imply are not in the file.
    pub unexpanded_grants: u64,
    /// Records whose id appeared twice after normalization (the later one is left out).
    pub duplicates: u64,
}

impl ReadReport {
    fn skip(&mut self, kind: &str, reason: Skip) {
        *self
            .skipped
            .entry(format!("{kind}: {}", reason.0))
            .or_default() += 1;
    }

    /// One line per thing worth telling a person, for logs.
    pub fn notes(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .map(|(reason, n)| format!("left out {n}: {reason}"))
            .collect();
        if self.repaired_ids > 0 {
            lines.push(format!(
                "{} Salesforce id references had a checksum suffix that does not match the id; they were normalized from the first 15 characters",
                self.repaired_ids
            ));
        }
        if self.details_inferred > 0 {
            lines.push(format!(
                "{} resources carry no sf-access details; they were rebuilt from baton's fields",
                self.details_inferred
            ));
        }
        if self.dropped_sources > 0 {
            lines.push(format!(
                "{} grant sources were left out: their kind is not one sf-access knows",
                self.dropped_sources
            ));
        }
        if self.unexpanded_grants > 0 {
            lines.push(format!(
                "{} grants were never expanded by the connector that wrote the file; the grants they imply are not in it",
                self.unexpanded_grants
            ));
        }
        if self.duplicates > 0 {
            lines.push(format!(
                "{} records repeated an id after normalization and were left out",
                self.duplicates
            ));
        }
        lines
    }
}

/// Where read records go, one page at a time, kind by kind.
pub trait RecordSink {
    /// Resource types (all in one call).
    fn resource_types(&mut self, items: Vec<ResourceType>) -> Result<(), C1zError>;
    /// A page of resources.
    fn resources(&mut self, items: Vec<Resource>) -> Result<(), C1zError>;
    /// A page of entitlements.
    fn entitlements(&mut self, items: Vec<Entitlement>) -> Result<(), C1zError>;
    /// A page of grants.
    fn grants(&mut self, items: Vec<Grant>) -> Result<(), C1zError>;
}

/// All records of a sync in memory, each kind sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// Resource types.
    pub resource_types: Vec<ResourceType>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Entitlements.
    pub entitlements: Vec<Entitlement>,
    /// Grants.
    pub grants: Vec<Grant>,
}

impl Records {
    /// Sorts every kind by id.
    pub fn sort(&mut self) {
        self.resource_types.sort_by_key(|t| t.id);
        self.resources.sort_by_key(|r| r.id);
        self.entitlements.sort_by_key(|e| e.id);
        self.grants.sort_by_key(|g| g.id);
    }
}

impl RecordSink for Records {
    fn resource_types(&mut self, items: Vec<ResourceType>) -> Result<(), C1zError> {
        self.resource_types.extend(items);
        Ok(())
    }
    fn resources(&mut self, items: Vec<Resource>) -> Result<(), C1zError> {
        self.resources.extend(items);
        Ok(())
    }
    fn entitlements(&mut self, items: Vec<Entitlement>) -> Result<(), C1zError> {
        self.entitlements.extend(items);
        Ok(())
    }
    fn grants(&mut self, items: Vec<Grant>) -> Result<(), C1zError> {
        self.grants.extend(items);
        Ok(())
    }
}

impl RecordSink for RunWriter {
    fn resource_types(&mut self, items: Vec<ResourceType>) -> Result<(), C1zError> {
        Ok(self.put_resource_types(&items)?)
    }
    fn resources(&mut self, items: Vec<Resource>) -> Result<(), C1zError> {
        Ok(self.put_resources(&items)?)
    }
    fn entitlements(&mut self, items: Vec<Entitlement>) -> Result<(), C1zError> {
        Ok(self.put_entitlements(&items)?)
    }
    fn grants(&mut self, items: Vec<Grant>) -> Result<(), C1zError> {
        Ok(self.put_grants(&items)?)
    }
}

/// An open c1z: a decompressed private copy of its database.
pub struct C1zFile {
    conn: Connection,
    path: PathBuf,
    // Dropped after the connection: removes the decompressed copy.
    _dir: tempfile::TempDir,
}

impl C1zFile {
    /// Decompresses and opens the v1 c1z `path`.
    pub fn open(path: &Path, options: &ReadOptions) -> Result<C1zFile, C1zError> {
        container::require_v1(path)?;
        let dir = match &options.temp_dir {
            Some(base) => tempfile::Builder::new().prefix("c1z").tempdir_in(base),
            None => tempfile::Builder::new().prefix("c1z").tempdir(),
        }
        .map_err(|e| C1zError::io("cannot create a temporary directory for", path, e))?;
        let db = dir.path().join("db");
        container::decompress(path, &db, options.max_decoded_bytes)?;
        let corrupt = |detail: String| C1zError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let conn = Connection::open_with_flags(
            &db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(C1zError::sqlite("open the database"))?;
        harden(&conn).map_err(C1zError::sqlite("configure the database"))?;
        // The first read of the schema tells a database from anything else.
        let tables: Vec<(String, String)> = {
            let mut stmt = conn
                .prepare(
                    "select name, type from sqlite_master where name like 'v1\\_%' escape '\\'",
                )
                .map_err(|e| corrupt(format!("the data inside is not a SQLite database ({e})")))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(|e| corrupt(format!("the data inside is not a SQLite database ({e})")))?
        };
        for (name, kind) in &tables {
            if kind != "table" && schema::TABLES.contains(&name.as_str()) {
                return Err(corrupt(format!("{name} is a {kind}, not a table")));
            }
        }
        // Like baton's readers, on the private copy: create missing tables and indexes and add
        // the columns newer SDKs added, so files from older baton versions read the same.
        super::write::prepare(&conn).map_err(|e| {
            corrupt(format!(
                "the database cannot be brought to the v1 schema ({e})"
            ))
        })?;
        Ok(C1zFile {
            conn,
            path: path.to_path_buf(),
            _dir: dir,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, detail: impl Into<String>) -> C1zError {
        C1zError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// Maps a SQLite error on the file's data to "corrupt" (a damaged page, a wrong column
    /// type): the database is the untrusted input.
    fn data_error(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> C1zError + '_ {
        move |e| self.corrupt(format!("{operation}: {e}"))
    }

    /// Every sync of the file, in row order.
    pub fn syncs(&self) -> Result<Vec<SyncInfo>, C1zError> {
        let mut stmt = self
            .conn
            .prepare(
                "select id, sync_id, started_at, ended_at, sync_type from v1_sync_runs order by id",
            )
            .map_err(self.data_error("list the syncs"))?;
        stmt.query_map([], |r| {
            Ok(SyncInfo {
                row: r.get(0)?,
                sync_id: r.get(1)?,
                started_at: text_of(r.get_ref(2)?),
                ended_at: match r.get_ref(3)? {
                    rusqlite::types::ValueRef::Null => None,
                    v => Some(text_of(v)),
                },
                sync_type: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(self.data_error("list the syncs"))
    }

    /// The sync to read: row `row` (which must be finished), else the latest finished full
    /// sync.
    pub fn select_sync(&self, row: Option<i64>) -> Result<SyncInfo, C1zError> {
        let syncs = self.syncs()?;
        match row {
            Some(row) => syncs
                .into_iter()
                .find(|s| s.row == row && s.ended_at.is_some())
                .ok_or(C1zError::UnknownSync {
                    path: self.path.clone(),
                    row,
                }),
            None => syncs
                .into_iter()
                .filter(|s| s.ended_at.is_some() && s.sync_type == "full")
                .max_by(|a, b| (&a.ended_at, &a.sync_id).cmp(&(&b.ended_at, &b.sync_id)))
                .ok_or(C1zError::NoFinishedSync {
                    path: self.path.clone(),
                }),
        }
    }

    /// Row counts of `sync`, per table and per resource type.
    pub fn counts(&self, sync: &SyncInfo) -> Result<FileCounts, C1zError> {
        let count = |table: &str| -> Result<u64, C1zError> {
            self.conn
                .query_row(
                    &format!("select count(*) from {table} where sync_id = ?1"),
                    params![sync.sync_id],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n.max(0) as u64)
                .map_err(self.data_error("count rows"))
        };
        let mut resources: BTreeMap<String, u64> = BTreeMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("select external_id from v1_resource_types where sync_id = ?1")
                .map_err(self.data_error("count rows"))?;
            let types: Vec<String> = stmt
                .query_map(params![sync.sync_id], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(self.data_error("count rows"))?;
            for t in types {
                resources.insert(t, 0);
            }
            let mut stmt = self
                .conn
                .prepare(
                    "select resource_type_id, count(*) from v1_resources where sync_id = ?1 \
                     group by resource_type_id",
                )
                .map_err(self.data_error("count rows"))?;
            let per_type: Vec<(String, i64)> = stmt
                .query_map(params![sync.sync_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(self.data_error("count rows"))?;
            for (t, n) in per_type {
                resources.insert(t, n.max(0) as u64);
            }
        }
        Ok(FileCounts {
            resource_types: count("v1_resource_types")?,
            resources,
            entitlements: count("v1_entitlements")?,
            grants: count("v1_grants")?,
        })
    }

    /// Reads the records of `sync` into `sink`: resource types, resources, entitlements, then
    /// grants, in row order. Records the model cannot hold are counted in the report.
    pub fn read(&self, sync: &SyncInfo, sink: &mut dyn RecordSink) -> Result<ReadReport, C1zError> {
        let mut report = ReadReport {
            sync_id: sync.sync_id.clone(),
            ..ReadReport::default()
        };
        let mut notes = Notes::default();
        let mut seen = std::collections::HashSet::new();

        let mut types = Vec::new();
        self.for_each_blob("v1_resource_types", "data", sync, |row, bytes| {
            let p = decode::<proto::ResourceType>("v1_resource_types", row, bytes)?;
            match map::resource_type_from_proto(&p) {
                Ok(t) if seen.insert(t.id.to_string()) => types.push(t),
                Ok(_) => report.duplicates += 1,
                Err(skip) => report.skip("resource type", skip),
            }
            Ok(())
        })?;
        report.mapped[0] = types.len() as u64;
        sink.resource_types(types)?;

        let mut page = Vec::with_capacity(BATCH);
        self.for_each_blob("v1_resources", "data", sync, |row, bytes| {
            let p = decode::<proto::Resource>("v1_resources", row, bytes)?;
            match map::resource_from_proto(&p, &mut notes) {
                Ok(r) if seen.insert(r.id.to_string()) => {
                    page.push(r);
                    if page.len() == BATCH {
                        report.mapped[1] += BATCH as u64;
                        sink.resources(std::mem::take(&mut page))?;
                    }
                }
                Ok(_) => report.duplicates += 1,
                Err(skip) => report.skip("resource", skip),
            }
            Ok(())
        })?;
        report.mapped[1] += page.len() as u64;
        sink.resources(std::mem::take(&mut page))?;

        let mut page = Vec::with_capacity(BATCH);
        self.for_each_blob("v1_entitlements", "data", sync, |row, bytes| {
            let p = decode::<proto::Entitlement>("v1_entitlements", row, bytes)?;
            match map::entitlement_from_proto(&p, &mut notes) {
                Ok(e) if seen.insert(e.id.to_string()) => {
                    page.push(e);
                    if page.len() == BATCH {
                        report.mapped[2] += BATCH as u64;
                        sink.entitlements(std::mem::take(&mut page))?;
                    }
                }
                Ok(_) => report.duplicates += 1,
                Err(skip) => report.skip("entitlement", skip),
            }
            Ok(())
        })?;
        report.mapped[2] += page.len() as u64;
        sink.entitlements(std::mem::take(&mut page))?;

        let mut page = Vec::with_capacity(BATCH);
        self.for_each_blob("v1_grants", "data", sync, |row, bytes| {
            let p = decode::<proto::Grant>("v1_grants", row, bytes)?;
            match map::grant_from_proto(&p, &mut notes) {
                Ok((g, dropped)) if seen.insert(g.id.to_string()) => {
                    report.dropped_sources += dropped;
                    page.push(g);
                    if page.len() == BATCH {
                        report.mapped[3] += BATCH as u64;
                        sink.grants(std::mem::take(&mut page))?;
                    }
                }
                Ok(_) => report.duplicates += 1,
                Err(skip) => report.skip("grant", skip),
            }
            Ok(())
        })?;
        report.mapped[3] += page.len() as u64;
        sink.grants(std::mem::take(&mut page))?;

        report.unexpanded_grants = self
            .conn
            .query_row(
                "select count(*) from v1_grants where sync_id = ?1 and needs_expansion = 1",
                params![sync.sync_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(self.data_error("count grants"))?;
        report.repaired_ids = notes.repaired_ids;
        report.details_inferred = notes.details_inferred;
        Ok(report)
    }

    /// Reads every record of `sync` into memory, each kind sorted by id.
    pub fn read_all(&self, sync: &SyncInfo) -> Result<(Records, ReadReport), C1zError> {
        let mut records = Records::default();
        let report = self.read(sync, &mut records)?;
        records.sort();
        Ok((records, report))
    }

    /// Calls `f(row id, blob)` for every row of `table` in `sync`, in row order, a batch of
    /// rows per query (keyset paging on the row id).
    fn for_each_blob(
        &self,
        table: &'static str,
        column: &'static str,
        sync: &SyncInfo,
        mut f: impl FnMut(i64, &[u8]) -> Result<(), C1zError>,
    ) -> Result<(), C1zError> {
        let sql = format!(
            "select id, {column} from {table} where sync_id = ?1 and id > ?2 order by id limit {BATCH}"
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(self.data_error("read rows"))?;
        let mut after = i64::MIN;
        loop {
            let mut rows = stmt
                .query(params![sync.sync_id, after])
                .map_err(self.data_error("read rows"))?;
            let mut n = 0;
            while let Some(row) = rows.next().map_err(self.data_error("read rows"))? {
                let id: i64 = row.get(0).map_err(self.data_error("read rows"))?;
                let bytes = match row.get_ref(1).map_err(self.data_error("read rows"))? {
                    rusqlite::types::ValueRef::Blob(b) => b,
                    rusqlite::types::ValueRef::Text(t) => t,
                    _ => {
                        return Err(self.corrupt(format!("row {id} of {table} has no {column}")));
                    }
                };
                f(id, bytes)?;
                after = id;
                n += 1;
            }
            if n < BATCH {
                return Ok(());
            }
        }
    }

    /// The syncs of the file as store runs (what `show runs` lists): finished syncs are
    /// `succeeded`, unfinished ones `running`; the options name the sync id and type.
    pub fn runs(&self) -> Result<Vec<SyncRun>, C1zError> {
        let mut runs = Vec::new();
        for sync in self.syncs()?.into_iter().rev() {
            // A start time in no layout baton accepts falls back to the KSUID's second.
            let started = parse_sqlite_time(&sync.started_at)
                .or_else(|| super::ksuid::time_of(&sync.sync_id))
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "sync {} has an unreadable started_at",
                        sync.sync_id
                    ))
                })?;
            let finished = sync.ended_at.as_deref().and_then(parse_sqlite_time);
            let counts = match finished {
                Some(_) => {
                    let file = self.counts(&sync)?;
                    Some(Counts {
                        resource_types: file.resource_types,
                        resources: file
                            .resources
                            .iter()
                            .filter(|(_, n)| **n > 0)
                            .filter_map(|(t, n)| ResourceTypeId::parse(t).ok().map(|t| (t, *n)))
                            .collect(),
                        entitlements: file.entitlements,
                        grants: file.grants,
                    })
                }
                None => None,
            };
            runs.push(SyncRun {
                id: RunId(sync.row),
                status: if finished.is_some() {
                    RunStatus::Succeeded
                } else {
                    RunStatus::Running
                },
                started,
                finished,
                options: serde_json::json!({
                    "sync_id": sync.sync_id,
                    "sync_type": sync.sync_type,
                }),
                counts,
                api_calls: None,
                error: None,
            });
        }
        Ok(runs)
    }
}

/// Opens the decompressed copy safely: no functions with side effects from the schema, no
/// writes to the schema through SQL tricks, a bound on the size of one value.
fn harden(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )?;
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, MAX_BLOB)?;
    Ok(())
}

fn text_of(v: rusqlite::types::ValueRef<'_>) -> String {
    match v {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
            String::from_utf8_lossy(t).into_owned()
        }
        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
        rusqlite::types::ValueRef::Real(f) => f.to_string(),
        rusqlite::types::ValueRef::Null => String::new(),
    }
}

/// The layouts baton's SQLite drivers accept for a `datetime` column (a trailing `Z` or zone
/// allowed), as UTC. Files written by baton-sdk hold local time without a zone; it is read as
/// UTC, which only shifts the times `show runs` prints.
pub(crate) fn parse_sqlite_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let text = text.trim().trim_end_matches('Z');
    for layout in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, layout) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for layout in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, layout) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

fn decode<M: Message + Default>(
    table: &'static str,
    row: i64,
    bytes: &[u8],
) -> Result<M, C1zError> {
    M::decode(bytes).map_err(|source| C1zError::Protobuf {
        table,
        row,
        what: "data",
        source,
    })
}

/// A c1z sync loaded into a private, temporary store, so that `show` and `export` read it with
/// the same code as a store. Removed when dropped.
pub struct TempStore {
    /// The store.
    pub store: Store,
    /// Its only run.
    pub run: RunId,
    /// What reading did.
    pub report: ReadReport,
    /// The syncs of the file, as runs.
    pub runs: Vec<SyncRun>,
    // Dropped after the store.
    _dir: tempfile::TempDir,
}

/// Reads sync `row` (or the latest finished full sync) of the c1z `path` into a temporary
/// store.
pub fn load_temp_store(
    path: &Path,
    row: Option<RunId>,
    options: &ReadOptions,
) -> Result<TempStore, C1zError> {
    let file = C1zFile::open(path, options)?;
    let runs = file.runs()?;
    let sync = file.select_sync(row.map(RunId::get))?;
    let dir = match &options.temp_dir {
        Some(base) => tempfile::Builder::new()
            .prefix("c1z-store")
            .tempdir_in(base),
        None => tempfile::Builder::new().prefix("c1z-store").tempdir(),
    }
    .map_err(|e| C1zError::io("cannot create a temporary directory for", path, e))?;
    let store = Store::open(dir.path().join("store.db"))?;
    let mut writer = store.begin_run(&serde_json::json!({
        "c1z": path.display().to_string(),
        "sync_id": sync.sync_id,
    }))?;
    let report = file.read(&sync, &mut writer)?;
    let run = writer.finish(RunSummary::default())?;
    Ok(TempStore {
        store,
        run,
        report,
        runs,
        _dir: dir,
    })
}
