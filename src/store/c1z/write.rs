//! `C1zWriter`: writes model records as one finished `full` sync of a v1 c1z.
//!
//! The database is built in a temporary directory (a decompressed copy of the existing file
//! when appending), then compressed into a temporary file beside the output and renamed over
//! it, so a failed write never damages the file that was there. Rows are upserted on
//! `(external_id, sync_id)` as baton-sdk does. Finishing fills in the `is_direct` flag of grant
//! sources, ends the sync, and drops the oldest finished full syncs beyond the kept number.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::container::{self, Format};
use super::map;
use super::proto;
use super::schema;
use super::{C1zError, DEFAULT_KEEP_SYNCS, ReadOptions, ksuid};
use crate::model::{Entitlement, Grant, Resource, ResourceType};
use crate::store::{MAX_PAGE_LIMIT, PageRequest, RunId, Store};

/// What to do with a file already at the output path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Add the new sync to an existing v1 c1z (baton's behaviour with `-f`); a missing or
    /// empty file starts a new one. Anything else at the path is refused.
    Append,
    /// Start a new file whatever is at the path (replaced atomically at the end).
    Replace,
}

/// Options of a write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Append or replace.
    pub mode: WriteMode,
    /// Finished full syncs kept in the file, the new one included.
    pub keep_syncs: NonZeroUsize,
    /// Limits for decompressing the existing file when appending.
    pub read: ReadOptions,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            mode: WriteMode::Append,
            keep_syncs: NonZeroUsize::new(DEFAULT_KEEP_SYNCS).expect("2 is not zero"),
            read: ReadOptions::default(),
        }
    }
}

impl WriteOptions {
    /// The defaults (append), with the read limits of [`ReadOptions::from_env`] and the kept
    /// sync count from `SF_ACCESS_KEEP_SYNC_COUNT` or baton's `BATON_KEEP_SYNC_COUNT`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<WriteOptions, String> {
        let mut options = WriteOptions {
            read: ReadOptions::from_env(env)?,
            ..WriteOptions::default()
        };
        for name in ["SF_ACCESS_KEEP_SYNC_COUNT", "BATON_KEEP_SYNC_COUNT"] {
            if let Some(value) = env(name).filter(|v| !v.is_empty()) {
                options.keep_syncs = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}: {value:?} is not a whole number above 0"))?;
                break;
            }
        }
        Ok(options)
    }
}

/// What a finished write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// The new sync's KSUID.
    pub sync_id: String,
    /// Finished syncs in the file now.
    pub syncs_in_file: u64,
    /// Older syncs removed to keep `keep_syncs`.
    pub syncs_removed: u64,
    /// Rows written: resource types, resources, entitlements, grants.
    pub rows: [u64; 4],
}

/// Writes one sync into a c1z. Create with [`C1zWriter::open`], `put_*` the records (resource
/// types and resources before the entitlements that embed them), then [`C1zWriter::finish`].
/// Dropping it without finishing leaves the output untouched.
pub struct C1zWriter {
    conn: Connection,
    db_path: PathBuf,
    output: PathBuf,
    sync_id: String,
    keep_syncs: NonZeroUsize,
    rows: [u64; 4],
    /// Row ids of grants with sources, whose `is_direct` flags `finish` fills in.
    with_sources: Vec<i64>,
    // Dropped last: removes the working database.
    _dir: tempfile::TempDir,
}

/// Go's `2006-01-02 15:04:05.999999999`: trailing zeros of the fraction dropped, no fraction
/// when it is zero. We write UTC (baton-sdk writes local time without a zone; readers compare
/// the strings, and UTC keeps them ordered across time zone changes).
pub(crate) fn sqlite_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return base;
    }
    let fraction = format!("{nanos:09}");
    format!("{base}.{}", fraction.trim_end_matches('0'))
}

impl C1zWriter {
    /// Starts a new sync for `output`: a new database, or (in append mode) a copy of the
    /// existing file's.
    pub fn open(output: &Path, options: &WriteOptions) -> Result<C1zWriter, C1zError> {
        let dir = match &options.read.temp_dir {
            Some(base) => tempfile::Builder::new().prefix("c1z").tempdir_in(base),
            None => tempfile::Builder::new().prefix("c1z").tempdir(),
        }
        .map_err(|e| C1zError::io("cannot create a temporary directory for", output, e))?;
        let db_path = dir.path().join("db");
        if options.mode == WriteMode::Append {
            match container::detect(output)? {
                Format::Empty => {}
                Format::V1 => {
                    container::decompress(output, &db_path, options.read.max_decoded_bytes)?;
                }
                Format::V3 => {
                    return Err(C1zError::PebbleFormat {
                        path: output.to_path_buf(),
                    });
                }
                Format::Other => {
                    return Err(C1zError::NotC1z {
                        path: output.to_path_buf(),
                    });
                }
            }
        }
        let conn = Connection::open(&db_path).map_err(C1zError::sqlite("open the database"))?;
        prepare(&conn).map_err(|e| match e {
            C1zError::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            } if f.code == rusqlite::ErrorCode::NotADatabase => C1zError::Corrupt {
                path: output.to_path_buf(),
                detail: "the data inside is not a SQLite database".to_owned(),
            },
            other => other,
        })?;
        let started = Utc::now();
        let sync_id = ksuid::new(started);
        conn.execute(
            "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type, \
             parent_sync_id, linked_sync_id, supports_diff, grants_backfilled, stats, \
             ingest_invariant_generation, ingest_invariant_coverage, ingest_invariant_mode) \
             values (?1, ?2, null, '', 'full', '', '', 1, 1, null, '', '', '')",
            params![sync_id, sqlite_time(started)],
        )
        .map_err(C1zError::sqlite("start the sync"))?;
        Ok(C1zWriter {
            conn,
            db_path,
            output: output.to_path_buf(),
            sync_id,
            keep_syncs: options.keep_syncs,
            rows: [0; 4],
            with_sources: Vec::new(),
            _dir: dir,
        })
    }

    /// The sync id of this write.
    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }

    /// Writes resource types.
    pub fn put_resource_types(&mut self, types: &[ResourceType]) -> Result<(), C1zError> {
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
                     values (?1, ?2, ?3, ?4) \
                     on conflict (external_id, sync_id) do update set data = excluded.data",
                )
                .map_err(C1zError::sqlite("prepare an insert"))?;
            let now = sqlite_time(Utc::now());
            for t in types {
                let data = map::resource_type_to_proto(t).encode_to_vec();
                stmt.execute(params![t.id.as_str(), data, self.sync_id, now])
                    .map_err(C1zError::sqlite("insert a resource type"))?;
            }
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))?;
        self.rows[0] += types.len() as u64;
        Ok(())
    }

    /// Writes resources (each validated first).
    pub fn put_resources(&mut self, resources: &[Resource]) -> Result<(), C1zError> {
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "insert into v1_resources (resource_type_id, external_id, \
                     parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     on conflict (external_id, sync_id) do update set data = excluded.data",
                )
                .map_err(C1zError::sqlite("prepare an insert"))?;
            let now = sqlite_time(Utc::now());
            for r in resources {
                r.validate()?;
                let data = map::resource_to_proto(r).encode_to_vec();
                stmt.execute(params![
                    r.resource_type.as_str(),
                    r.id.to_string(),
                    r.parent_id.map(|p| p.type_id().as_str()),
                    r.parent_id.map(|p| p.sf_id().as_str().to_owned()),
                    data,
                    self.sync_id,
                    now
                ])
                .map_err(C1zError::sqlite("insert a resource"))?;
            }
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))?;
        self.rows[1] += resources.len() as u64;
        Ok(())
    }

    /// Writes entitlements (each validated first), embedding the owning resource when it was
    /// written before.
    pub fn put_entitlements(&mut self, entitlements: &[Entitlement]) -> Result<(), C1zError> {
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        {
            let mut owner_stmt = tx
                .prepare_cached(
                    "select data from v1_resources where external_id = ?1 and sync_id = ?2",
                )
                .map_err(C1zError::sqlite("prepare a lookup"))?;
            let mut stmt = tx
                .prepare_cached(
                    "insert into v1_entitlements (resource_type_id, resource_id, external_id, \
                     data, sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6) \
                     on conflict (external_id, sync_id) do update set data = excluded.data",
                )
                .map_err(C1zError::sqlite("prepare an insert"))?;
            let now = sqlite_time(Utc::now());
            for e in entitlements {
                e.validate()?;
                let owner: Option<Vec<u8>> = owner_stmt
                    .query_row(params![e.resource_id.to_string(), self.sync_id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(C1zError::sqlite("look up a resource"))?;
                // We wrote these bytes ourselves in this sync, so they decode.
                let owner = owner.and_then(|b| proto::Resource::decode(b.as_slice()).ok());
                let data = map::entitlement_to_proto(e, owner).encode_to_vec();
                stmt.execute(params![
                    e.resource_id.type_id().as_str(),
                    e.resource_id.sf_id().as_str(),
                    e.id.to_string(),
                    data,
                    self.sync_id,
                    now
                ])
                .map_err(C1zError::sqlite("insert an entitlement"))?;
            }
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))?;
        self.rows[2] += entitlements.len() as u64;
        Ok(())
    }

    /// Writes grants (each validated first).
    pub fn put_grants(&mut self, grants: &[Grant]) -> Result<(), C1zError> {
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
                     principal_resource_type_id, principal_resource_id, external_id, expansion, \
                     needs_expansion, data, sync_id, discovered_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10) \
                     on conflict (external_id, sync_id) do update set data = excluded.data, \
                     expansion = excluded.expansion, needs_expansion = excluded.needs_expansion \
                     returning id",
                )
                .map_err(C1zError::sqlite("prepare an insert"))?;
            let now = sqlite_time(Utc::now());
            for g in grants {
                g.validate()?;
                let (grant, expandable) = map::grant_to_proto(g);
                // Our grants are already expanded, so the expansion is recorded as done
                // (needs_expansion = 0): a reader must not expand them again.
                let expansion = expandable.map(|e| e.encode_to_vec());
                let resource = g.entitlement_id.resource_id();
                let row: i64 = stmt
                    .query_row(
                        params![
                            resource.type_id().as_str(),
                            resource.sf_id().as_str(),
                            g.entitlement_id.to_string(),
                            g.principal_id.type_id().as_str(),
                            g.principal_id.sf_id().as_str(),
                            g.id.to_string(),
                            expansion,
                            grant.encode_to_vec(),
                            self.sync_id,
                            now
                        ],
                        |r| r.get(0),
                    )
                    .map_err(C1zError::sqlite("insert a grant"))?;
                if !g.sources.is_empty() {
                    self.with_sources.push(row);
                }
            }
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))?;
        self.rows[3] += grants.len() as u64;
        Ok(())
    }

    /// Ends the sync and writes the file: the `is_direct` flags of grant sources, the end
    /// time, the removal of syncs beyond `keep_syncs`, then compression to a temporary file
    /// renamed over the output.
    pub fn finish(mut self) -> Result<WriteSummary, C1zError> {
        self.fill_is_direct()?;
        self.conn
            .execute(
                "update v1_sync_runs set ended_at = ?2 where sync_id = ?1",
                params![self.sync_id, sqlite_time(Utc::now())],
            )
            .map_err(C1zError::sqlite("end the sync"))?;
        let removed = self.remove_old_syncs()?;
        let syncs_in_file: u64 = self
            .conn
            .query_row(
                "select count(*) from v1_sync_runs where ended_at is not null",
                [],
                |r| r.get(0),
            )
            .map_err(C1zError::sqlite("count the syncs"))?;
        if removed > 0 {
            self.conn
                .execute_batch("vacuum")
                .map_err(C1zError::sqlite("compact the database"))?;
        }
        let C1zWriter {
            conn,
            db_path,
            output,
            sync_id,
            rows,
            _dir,
            ..
        } = self;
        // Closing leaves a self-contained main file (rollback journal mode, nothing pending).
        conn.close()
            .map_err(|(_, e)| C1zError::sqlite("close the database")(e))?;
        write_file(&db_path, &output)?;
        Ok(WriteSummary {
            sync_id,
            syncs_in_file,
            syncs_removed: removed,
            rows,
        })
    }

    /// Sets `is_direct` on every source of the grants with sources: true when the principal
    /// holds the source entitlement directly in this sync (its grant has no sources, or lists
    /// itself), as baton-sdk's expander records it.
    fn fill_is_direct(&mut self) -> Result<(), C1zError> {
        let rows = std::mem::take(&mut self.with_sources);
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        {
            let mut read = tx
                .prepare_cached("select data from v1_grants where id = ?1")
                .map_err(C1zError::sqlite("prepare a lookup"))?;
            let mut lookup = tx
                .prepare_cached(
                    "select data from v1_grants where external_id = ?1 and sync_id = ?2",
                )
                .map_err(C1zError::sqlite("prepare a lookup"))?;
            let mut update = tx
                .prepare_cached("update v1_grants set data = ?2 where id = ?1")
                .map_err(C1zError::sqlite("prepare an update"))?;
            let mut direct_cache: HashMap<String, bool> = HashMap::new();
            for row in rows {
                let data: Vec<u8> = read
                    .query_row(params![row], |r| r.get(0))
                    .map_err(C1zError::sqlite("read a grant"))?;
                let mut grant = decode_own::<proto::Grant>(&data, row)?;
                let principal = grant
                    .principal
                    .as_ref()
                    .and_then(|p| p.id.as_ref())
                    .map(|id| format!("{}:{}", id.resource_type, id.resource))
                    .unwrap_or_default();
                let own = grant
                    .entitlement
                    .as_ref()
                    .map(|e| e.id.clone())
                    .unwrap_or_default();
                let Some(sources) = grant.sources.as_mut() else {
                    continue;
                };
                let mut changed = false;
                for (source, flag) in sources.sources.iter_mut() {
                    if *source == own {
                        continue;
                    }
                    let key = format!("{source}:{principal}");
                    let direct = match direct_cache.get(&key) {
                        Some(d) => *d,
                        None => {
                            let found: Option<Vec<u8>> = lookup
                                .query_row(params![key, self.sync_id], |r| r.get(0))
                                .optional()
                                .map_err(C1zError::sqlite("look up a grant"))?;
                            let d = match found {
                                Some(bytes) => {
                                    let g = decode_own::<proto::Grant>(&bytes, row)?;
                                    g.sources.as_ref().is_none_or(|s| {
                                        s.sources.is_empty() || s.sources.contains_key(source)
                                    })
                                }
                                None => false,
                            };
                            direct_cache.insert(key, d);
                            d
                        }
                    };
                    if flag.is_direct != direct {
                        flag.is_direct = direct;
                        changed = true;
                    }
                }
                if changed {
                    update
                        .execute(params![row, grant.encode_to_vec()])
                        .map_err(C1zError::sqlite("update a grant"))?;
                }
            }
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))
    }

    /// Deletes the oldest finished full syncs beyond `keep_syncs`, and unfinished or partial
    /// syncs older than the oldest kept one, as baton-sdk's cleanup does.
    fn remove_old_syncs(&mut self) -> Result<u64, C1zError> {
        let finished: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "select sync_id, started_at from v1_sync_runs \
                     where ended_at is not null and sync_type = 'full' \
                     order by ended_at desc, sync_id desc",
                )
                .map_err(C1zError::sqlite("list the syncs"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(C1zError::sqlite("list the syncs"))?
        };
        let keep = self.keep_syncs.get();
        if finished.len() <= keep {
            return Ok(0);
        }
        let oldest_kept_start = finished[keep - 1].1.clone();
        let mut doomed: Vec<String> = finished[keep..].iter().map(|(id, _)| id.clone()).collect();
        {
            let mut stmt = self
                .conn
                .prepare(
                    "select sync_id from v1_sync_runs where sync_type != 'full' \
                     and ended_at is not null and ended_at < ?1",
                )
                .map_err(C1zError::sqlite("list the syncs"))?;
            let partials: Vec<String> = stmt
                .query_map(params![oldest_kept_start], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(C1zError::sqlite("list the syncs"))?;
            doomed.extend(partials);
        }
        let tx = self
            .conn
            .transaction()
            .map_err(C1zError::sqlite("begin a batch"))?;
        for sync in &doomed {
            for table in schema::SYNC_TABLES {
                tx.execute(
                    &format!("delete from {table} where sync_id = ?1"),
                    params![sync],
                )
                .map_err(C1zError::sqlite("delete an old sync"))?;
            }
            tx.execute("delete from v1_sync_runs where sync_id = ?1", params![sync])
                .map_err(C1zError::sqlite("delete an old sync"))?;
        }
        tx.commit().map_err(C1zError::sqlite("commit a batch"))?;
        Ok(doomed.len() as u64)
    }
}

/// Decodes a blob this writer produced (or the appended file holds).
fn decode_own<M: Message + Default>(bytes: &[u8], row: i64) -> Result<M, C1zError> {
    M::decode(bytes).map_err(|source| C1zError::Protobuf {
        table: "v1_grants",
        row,
        what: "data",
        source,
    })
}

/// Creates the schema (a no-op on a file that has it) and adds the columns newer baton-sdk
/// versions added, so that an old file can be appended to.
pub(crate) fn prepare(conn: &Connection) -> Result<(), C1zError> {
    conn.pragma_update(None, "journal_mode", "DELETE")
        .map_err(C1zError::sqlite("set the journal mode"))?;
    let migrations: [(&str, &str, &str); 11] = [
        ("v1_sync_runs", "sync_type", "text not null default 'full'"),
        ("v1_sync_runs", "parent_sync_id", "text not null default ''"),
        ("v1_sync_runs", "linked_sync_id", "text not null default ''"),
        (
            "v1_sync_runs",
            "supports_diff",
            "integer not null default 0",
        ),
        (
            "v1_sync_runs",
            "grants_backfilled",
            "integer not null default 0",
        ),
        ("v1_sync_runs", "stats", "text"),
        (
            "v1_sync_runs",
            "ingest_invariant_generation",
            "text not null default ''",
        ),
        (
            "v1_sync_runs",
            "ingest_invariant_coverage",
            "text not null default ''",
        ),
        (
            "v1_sync_runs",
            "ingest_invariant_mode",
            "text not null default ''",
        ),
        ("v1_grants", "expansion", "blob"),
        ("v1_grants", "needs_expansion", "integer not null default 0"),
    ];
    // Tables first (an old file may lack a column an index needs), then the columns, then
    // the whole DDL again for the indexes.
    conn.execute_batch(&schema::tables_ddl())
        .map_err(C1zError::sqlite("create the tables"))?;
    for (table, column, declaration) in migrations {
        let exists: bool = conn
            .query_row(
                &format!("select count(*) from pragma_table_info('{table}') where name = ?1"),
                params![column],
                |r| r.get::<_, i64>(0).map(|n| n > 0),
            )
            .map_err(C1zError::sqlite("read the table columns"))?;
        if !exists {
            conn.execute_batch(&format!(
                "alter table {table} add column {column} {declaration}"
            ))
            .map_err(C1zError::sqlite("add a column"))?;
        }
    }
    conn.execute_batch(&schema::ddl())
        .map_err(C1zError::sqlite("create the schema"))
}

/// Compresses `db` into a temporary file beside `output` and renames it into place.
fn write_file(db: &Path, output: &Path) -> Result<(), C1zError> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sf-access-c1z-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| C1zError::io("cannot create a temporary file in", dir, e))?;
    {
        let mut out = std::io::BufWriter::new(temp.as_file_mut());
        container::compress(db, &mut out).map_err(|e| match e {
            C1zError::Io {
                operation, source, ..
            } => C1zError::Io {
                operation,
                path: output.to_path_buf(),
                source,
            },
            other => other,
        })?;
        std::io::Write::flush(&mut out).map_err(|e| C1zError::io("cannot write", output, e))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| C1zError::io("cannot write", output, e))?;
    temp.persist(output)
        .map_err(|e| C1zError::io("cannot move the finished file to", output, e.error))?;
    Ok(())
}

/// Writes records given in memory as one sync of `output`.
pub fn write_records(
    output: &Path,
    options: &WriteOptions,
    types: &[ResourceType],
    resources: &[Resource],
    entitlements: &[Entitlement],
    grants: &[Grant],
) -> Result<WriteSummary, C1zError> {
    let mut writer = C1zWriter::open(output, options)?;
    writer.put_resource_types(types)?;
    writer.put_resources(resources)?;
    writer.put_entitlements(entitlements)?;
    writer.put_grants(grants)?;
    writer.finish()
}

/// Writes run `run` of `store` as one sync of `output`, page by page (memory stays bounded by
/// a page whatever the run's size).
pub fn write_run(
    store: &Store,
    run: RunId,
    output: &Path,
    options: &WriteOptions,
) -> Result<WriteSummary, C1zError> {
    let mut writer = C1zWriter::open(output, options)?;
    writer.put_resource_types(&store.resource_types(run)?)?;
    let mut after = None;
    loop {
        let page = store.resources(run, None, &PageRequest::new(after, MAX_PAGE_LIMIT))?;
        writer.put_resources(&page.items)?;
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut after = None;
    loop {
        let page = store.entitlements(run, None, &PageRequest::new(after, MAX_PAGE_LIMIT))?;
        writer.put_entitlements(&page.items)?;
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut after = None;
    let filter = crate::store::GrantFilter::default();
    loop {
        let page = store.grants(run, &filter, &PageRequest::new(after, MAX_PAGE_LIMIT))?;
        writer.put_grants(&page.items)?;
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_use_gos_layout_without_trailing_zeros() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            sqlite_time(t("2026-08-22T10:44:48.123456789Z")),
            "2026-08-22 10:44:48.123456789"
        );
        assert_eq!(
            sqlite_time(t("2026-08-22T10:44:48.120Z")),
            "2026-08-22 10:44:48.12"
        );
        assert_eq!(
            sqlite_time(t("2026-08-22T10:44:48Z")),
            "2026-08-22 10:44:48"
        );
    }
}
