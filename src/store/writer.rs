//! `RunWriter`: how the sync engine streams one run into the store.
//!
//! The engine calls `put_*` once per page of records it has mapped (any order, any batch
//! size), then `finish` or `fail`. Everything a run writes is one SQLite transaction, opened
//! by `begin_run` (right after the run's `running` row is committed) and committed by `finish`
//! together with the run's `succeeded` status: so a sync commits only when it is complete,
//! and a killed process leaves nothing but its `running` row behind. Each `put_*` is a
//! savepoint inside it, so a batch with an invalid record is left out whole. Readers are not
//! held up (WAL), and only the writer, which holds the sync lock, ever writes the store.
//!
//! `put_*` validates and serializes the records and appends them to staging tables private
//! to the writer's connection (SQLite `TEMP` tables: plain appends, no index); `finish` moves
//! them into the store sorted by id. Why staging: records may arrive in any order. Inserted
//! directly, each page would touch thousands of random B-tree pages in the table and its
//! indexes (measured: 12k grants/s). Sorted, the table and the entitlement index are filled by
//! appends. Resources that come in id order, after the last written so, skip the staging
//! (`put_resources`).
//!
//! Grants are stored in blocks (`blocks`). Batches of grants sorted by id, each following
//! the last (the sync's expansion emits them so), are encoded into blocks as they come, and
//! each full block is appended to `grant_blocks`; the writer keeps one number per grant in
//! memory (its principal's) and `finish` writes every principal's list from them. The first
//! batch out of order turns the run's grants to staging (the blocks written so far are
//! staged back), and `finish` blocks them sorted.

use std::fs::{File, OpenOptions, TryLockError};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::blocks::{
    Block, BlockBuilder, TailKind, encode_entitlement_table, encode_list, split_grant_id,
};
use super::read::{for_each_block, id_and_text};
use super::rows::{GrantRow, GrantRows};
use super::{
    Counts, ObjectSnapshot, RunId, RunStatus, RunSummary, Store, StoreError, format_time, now,
    schema,
};
use crate::model::{
    Entitlement, EntitlementId, Grant, GrantDetails, GrantId, GrantSource, Resource, ResourceId,
    ResourceType, ResourceTypeId,
};

/// How many successful runs `finish` keeps when not told otherwise (`--keep-runs`).
pub const DEFAULT_KEEP_RUNS: usize = 5;

/// Page cache of the writer's connection, in KiB (negative `cache_size` means KiB). Grants
/// are appended in blocks, so a small cache does (32 MB made no difference to a large sync's
/// time, only to its memory); it bounds the sorts of `finish` in memory too (SQLite's sorter
/// spills to temporary files beyond it).
const WRITER_CACHE_KIB: i64 = -8 * 1024;

/// The writer's staging tables, one per record table, with the same columns minus `run_id`.
const STAGING: &str = "
CREATE TEMP TABLE staged_resource_types (id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_resources (id TEXT NOT NULL, resource_type TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_entitlements (id TEXT NOT NULL, resource_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_grants (id TEXT NOT NULL, doc TEXT NOT NULL);
";

/// How `finish` moves each staging table into place: (kind, table, columns after run_id).
/// Grants are written in blocks (`blocks`), by `GrantBlocks`.
const MOVES: [(&str, &str, &str); 3] = [
    ("resource_type", "resource_types", "id, doc"),
    ("resource", "resources", "id, resource_type, doc"),
    ("entitlement", "entitlements", "id, resource_id, doc"),
];

const INTERRUPTED: &str =
    "interrupted: the process writing this run stopped before the run finished";
const ABANDONED: &str = "abandoned: the run was dropped before it finished or failed";

/// Writes one sync run. Obtained from [`Store::begin_run`]; ends with [`RunWriter::finish`] or
/// [`RunWriter::fail`]. Dropping it without either marks the run failed.
///
/// It owns its own connection and the store's sync lock, so it can be moved to a blocking
/// task while the `Store` it came from keeps serving reads.
pub struct RunWriter {
    conn: Connection,
    run: RunId,
    keep_runs: NonZeroUsize,
    done: bool,
    // The earlier run whose records this one shares (nothing changed), if any.
    share: Option<RunId>,
    /// The run's grants (see the module doc).
    grants: GrantBlocks,
    /// The last resource written straight into `resources` (`put_resources`).
    last_resource: Option<ResourceId>,
    /// A write failed half way and the run's transaction was rolled back.
    broken: bool,
    // Held for the writer's lifetime: the OS releases it if the process dies.
    _lock: File,
}

impl Store {
    /// Starts a new run with the sync options it was started with (stored as given).
    ///
    /// Fails with `SyncInProgress` when another writer holds the store. Runs left `running`
    /// by a process that died are marked failed and their rows removed first.
    pub fn begin_run(&self, options: &serde_json::Value) -> Result<RunWriter, StoreError> {
        let lock = acquire_lock(&lock_path(self.path()))?;
        let conn = schema::connect(self.path(), true)?;
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(StoreError::sqlite("size the page cache"))?;
        // `finish` sorts every grant's principal pair: let SQLite's sorter use a second core.
        conn.pragma_update(None, "threads", 2)
            .map_err(StoreError::sqlite("set the sorter threads"))?;
        conn.execute_batch(STAGING)
            .map_err(StoreError::sqlite("create the staging tables"))?;
        remove_interrupted_runs(&conn)?;
        let options = serde_json::to_string(options).map_err(|source| StoreError::Json {
            what: "the run options".to_owned(),
            direction: "written",
            source,
        })?;
        conn.execute(
            "INSERT INTO sync_runs (started, status, options) VALUES (?1, 'running', ?2)",
            params![format_time(now()), options],
        )
        .map_err(StoreError::sqlite("start a run"))?;
        let run = RunId(conn.last_insert_rowid());
        // The run's transaction (see the module doc); `finish` commits it.
        conn.execute_batch("BEGIN")
            .map_err(StoreError::sqlite("begin the run's transaction"))?;
        tracing::debug!(run = run.get(), "Run started.");
        Ok(RunWriter {
            conn,
            run,
            keep_runs: NonZeroUsize::new(DEFAULT_KEEP_RUNS).expect("5 is not zero"),
            done: false,
            share: None,
            grants: GrantBlocks::default(),
            last_resource: None,
            broken: false,
            _lock: lock,
        })
    }
}

fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn acquire_lock(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::Io {
            operation: "cannot create the sync lock",
            path: path.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::SyncInProgress {
            lock: path.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(StoreError::Io {
            operation: "cannot lock",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Marks `running` runs failed and deletes their rows. Only called with the sync lock held,
/// so no live process is writing them.
fn remove_interrupted_runs(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("SELECT id FROM sync_runs WHERE status = 'running'")
        .map_err(StoreError::sqlite("find interrupted runs"))?;
    let runs: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(StoreError::sqlite("find interrupted runs"))?;
    for run in runs {
        tracing::warn!(
            run,
            "Marking a run failed: its process stopped before it finished."
        );
        end_run(conn, RunId(run), RunStatus::Failed, Some(INTERRUPTED), true)?;
    }
    Ok(())
}

/// Sets a run's final status and, when asked, deletes its rows, in one transaction. What the
/// run's own transaction holds, when it is still open, is rolled back first.
fn end_run(
    conn: &Connection,
    run: RunId,
    status: RunStatus,
    error: Option<&str>,
    delete_rows: bool,
) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")
            .map_err(StoreError::sqlite("roll back the run"))?;
    }
    let tx = conn
        .unchecked_transaction()
        .map_err(StoreError::sqlite("end a run"))?;
    tx.execute(
        "UPDATE sync_runs SET status = ?2, finished = ?3, error = ?4 WHERE id = ?1",
        params![run.0, status.as_str(), format_time(now()), error],
    )
    .map_err(StoreError::sqlite("end a run"))?;
    if delete_rows {
        delete_run_rows(&tx, run)?;
    }
    tx.commit().map_err(StoreError::sqlite("end a run"))
}

/// The tables that hold a run's records (not its snapshots).
const RECORD_TABLES: [&str; 6] = [
    "principal_grants",
    "grant_entitlements",
    "grant_blocks",
    "entitlements",
    "resources",
    "resource_types",
];

fn delete_run_rows(conn: &Connection, run: RunId) -> Result<(), StoreError> {
    delete_records(conn, run)?;
    conn.execute("DELETE FROM object_snapshots WHERE run_id = ?1", [run.0])
        .map_err(StoreError::sqlite("delete the rows of a run"))?;
    Ok(())
}

fn delete_records(conn: &Connection, run: RunId) -> Result<(), StoreError> {
    for table in RECORD_TABLES {
        conn.execute(
            &format!("DELETE FROM main.{table} WHERE run_id = ?1"),
            [run.0],
        )
        .map_err(StoreError::sqlite("delete the rows of a run"))?;
    }
    Ok(())
}

fn to_doc<T: Serialize>(
    record: &T,
    id: &dyn std::fmt::Display,
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    buf.clear();
    serde_json::to_writer(&mut *buf, record).map_err(|source| StoreError::Json {
        what: id.to_string(),
        direction: "written",
        source,
    })
}

fn doc_str(buf: &[u8]) -> &str {
    std::str::from_utf8(buf).expect("serde_json writes UTF-8")
}

impl RunWriter {
    /// Keeps the rows one object gave this run, for the next incremental sync (written at
    /// once: the run is `running`, so nothing reads them before `finish`).
    pub fn put_snapshot(&mut self, snapshot: &ObjectSnapshot) -> Result<(), StoreError> {
        if self.broken {
            return Err(broken_run());
        }
        let result = self.conn.execute(
            "INSERT INTO object_snapshots (run_id, object, query, rows, probe, digest, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                self.run.0,
                snapshot.info.object,
                snapshot.info.query,
                snapshot.info.rows as i64,
                snapshot.info.probe,
                snapshot.info.digest,
                snapshot.data
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::ConstraintViolation =>
            {
                // A failed statement leaves the run's transaction as it was.
                Err(StoreError::Duplicate {
                    kind: "object snapshot",
                    id: snapshot.info.object.clone(),
                    run: self.run,
                })
            }
            Err(source) => {
                self.broken = true;
                if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                    tracing::debug!(error = %error, "Rolling back a broken run failed.");
                }
                Err(StoreError::Sqlite {
                    operation: "keep an object's rows",
                    source,
                })
            }
        }
    }

    /// Makes this run share the records of the earlier successful run `run` instead of
    /// writing its own (an incremental sync that found nothing changed): `finish` then
    /// writes no records, and every read of this run reads those of `run` (or of the run
    /// `run` itself shares). Records already put are discarded.
    pub fn share_records_of(&mut self, run: RunId) -> Result<(), StoreError> {
        let shared: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT status, data_run FROM sync_runs WHERE id = ?1",
                [run.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(StoreError::sqlite("find the run to share records with"))?;
        match shared {
            Some((status, data_run)) if status == RunStatus::Succeeded.as_str() => {
                self.share = Some(data_run.map(RunId).unwrap_or(run));
                Ok(())
            }
            Some(_) => Err(StoreError::RunNotSucceeded {
                run,
                status: RunStatus::Failed,
            }),
            None => Err(StoreError::UnknownRun(run)),
        }
    }

    /// The run being written.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// How many successful runs `finish` keeps (this one included); default 5.
    pub fn set_keep_runs(&mut self, keep: NonZeroUsize) {
        self.keep_runs = keep;
    }

    /// Checks every item with `validate`, then runs `insert` for each: a record that fails
    /// validation rejects the whole batch, and nothing is written. No savepoint: SQLite would
    /// copy every page the batch changes into a sub-journal (measured: it tripled the writes
    /// of a sync). So an insert that fails half way (a full disk) rolls back the whole run, and
    /// the writer refuses everything after it.
    fn batch<T>(
        &mut self,
        sql: &[&'static str],
        items: &[T],
        validate: impl Fn(&T) -> Result<(), crate::model::RecordError>,
        mut insert: impl FnMut(
            &mut [rusqlite::CachedStatement<'_>],
            &T,
            &mut Vec<u8>,
        ) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.broken {
            return Err(broken_run());
        }
        for item in items {
            validate(item)?;
        }
        let result = sql
            .iter()
            .map(|sql| self.conn.prepare_cached(sql))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::sqlite("prepare an insert"))
            .and_then(|mut stmts| {
                let mut buf = Vec::with_capacity(1024);
                items
                    .iter()
                    .try_for_each(|item| insert(&mut stmts, item, &mut buf))
            });
        if result.is_err() {
            self.break_run();
        }
        result
    }

    /// Stages resource types (written to the store by `finish`).
    pub fn put_resource_types(&mut self, types: &[ResourceType]) -> Result<(), StoreError> {
        self.batch(
            &["INSERT INTO temp.staged_resource_types (id, doc) VALUES (?1, ?2)"],
            types,
            |_| Ok(()),
            |stmt, t, buf| {
                to_doc(t, &t.id, buf)?;
                stmt[0]
                    .execute(params![t.id.as_str(), doc_str(buf)])
                    .map_err(StoreError::sqlite("insert a resource type"))?;
                Ok(())
            },
        )
    }

    /// How many resources are staged (for tests of `put_resources`).
    #[cfg(test)]
    pub(crate) fn staged_resources(&self) -> i64 {
        self.conn
            .query_row("SELECT count(*) FROM temp.staged_resources", [], |r| {
                r.get(0)
            })
            .expect("count the staged resources")
    }

    /// Writes resources; each is validated first (`Resource::validate`). A batch sorted by id
    /// whose ids all follow those of the last batch written so goes straight into the table
    /// (the sync's users come so, after every other type: 83k of the large org's 104k
    /// resources, and staging and sorting their 42 MB of documents was about 0.1 s of its
    /// CPU); any other batch is staged, and `finish` moves it in sorted. A resource written
    /// twice is reported by `finish` as `Duplicate` either way.
    pub fn put_resources(&mut self, resources: &[Resource]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (resources.first(), resources.last()) else {
            return Ok(());
        };
        let direct = self.last_resource.is_none_or(|prev| prev < first.id)
            && resources.windows(2).all(|w| w[0].id < w[1].id);
        let sql = if direct {
            "INSERT INTO main.resources (id, resource_type, doc, run_id) VALUES (?1, ?2, ?3, ?4)"
        } else {
            "INSERT INTO temp.staged_resources (id, resource_type, doc) VALUES (?1, ?2, ?3)"
        };
        let run = self.run;
        let mut id = String::with_capacity(64);
        self.batch(&[sql], resources, Resource::validate, |stmt, r, buf| {
            to_doc(r, &r.id, buf)?;
            id.clear();
            use std::fmt::Write;
            let _ = write!(id, "{}", r.id);
            let (kind, doc) = (r.resource_type.as_str(), doc_str(buf));
            if direct {
                stmt[0].execute(params![id, kind, doc, run.0])
            } else {
                stmt[0].execute(params![id, kind, doc])
            }
            .map_err(StoreError::sqlite("insert a resource"))?;
            Ok(())
        })?;
        if direct {
            self.last_resource = Some(last.id);
        }
        Ok(())
    }

    /// Stages entitlements; each is validated first (`Entitlement::validate`).
    pub fn put_entitlements(&mut self, entitlements: &[Entitlement]) -> Result<(), StoreError> {
        self.batch(
            &["INSERT INTO temp.staged_entitlements (id, resource_id, doc) VALUES (?1, ?2, ?3)"],
            entitlements,
            Entitlement::validate,
            |stmt, e, buf| {
                to_doc(e, &e.id, buf)?;
                stmt[0]
                    .execute(params![
                        e.id.to_string(),
                        e.resource_id.to_string(),
                        doc_str(buf)
                    ])
                    .map_err(StoreError::sqlite("insert an entitlement"))?;
                Ok(())
            },
        )
    }

    /// Writes grants; each is validated first (`Grant::validate`). A batch sorted by id whose
    /// ids all follow the last batch's is encoded into blocks as it comes; any other batch
    /// turns the run's grants to staging, and `finish` blocks them sorted (see the module
    /// doc). An id written twice in a run is reported by `finish` as `Duplicate`.
    pub fn put_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (grants.first(), grants.last()) else {
            return Ok(());
        };
        if self.broken {
            return Err(broken_run());
        }
        let in_order = !self.grants.staging
            && self.grants.last.is_none_or(|prev| prev < first.id)
            && grants.windows(2).all(|w| w[0].id < w[1].id);
        for grant in grants {
            grant.validate()?;
        }
        let run = self.run;
        let result = if in_order {
            self.grants.append(&self.conn, run, grants)
        } else {
            self.grants.stage(&self.conn, run, grants)
        };
        if result.is_err() {
            self.break_run();
        } else if in_order {
            self.grants.last = Some(last.id);
        }
        result
    }

    /// Sets the principals that `put_grant_rows` names by index (the sync gives its users,
    /// in id order, once before their grants). They must be in id order, without repeats.
    pub(crate) fn put_principal_table(
        &mut self,
        principals: Vec<ResourceId>,
    ) -> Result<(), StoreError> {
        if self.broken {
            return Err(broken_run());
        }
        if let Some(w) = principals.windows(2).find(|w| w[0] >= w[1]) {
            return Err(StoreError::BadRows {
                what: format!(
                    "the principal table is not in id order ({} before {})",
                    w[0], w[1]
                ),
            });
        }
        let numbers = &mut self.grants.principals;
        numbers.table = principals
            .into_iter()
            .map(|p| (p, numbers.number(p)))
            .collect();
        Ok(())
    }

    /// Writes grants given as rows (`GrantRows`): the same grants as `put_grants` would
    /// write for `rows.grant(..)` of each row, checked the same way, without building them.
    pub(crate) fn put_grant_rows(&mut self, rows: &GrantRows) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.broken {
            return Err(broken_run());
        }
        let table = &self.grants.principals.table;
        rows.check(table)?;
        let id = |row: &GrantRow| {
            GrantId::new(
                rows.entitlements[row.entitlement as usize],
                table[row.principal as usize].0,
            )
        };
        // Rows name principals of a table in id order: rows in (entitlement, principal)
        // order, of entitlements in id order, are in id order.
        let entitlements_sorted = rows.entitlements.windows(2).all(|w| w[0] < w[1]);
        let in_order = !self.grants.staging
            && entitlements_sorted
            && self.grants.last.is_none_or(|prev| prev < id(&rows.rows[0]))
            && rows
                .rows
                .windows(2)
                .all(|w| (w[0].entitlement, w[0].principal) < (w[1].entitlement, w[1].principal));
        let last = id(&rows.rows[rows.len() - 1]);
        let run = self.run;
        let result = if in_order {
            self.grants.append_rows(&self.conn, run, rows)
        } else {
            let table = &self.grants.principals.table;
            let grants: Vec<Grant> = rows
                .rows
                .iter()
                .map(|row| rows.grant(row, table[row.principal as usize].0))
                .collect();
            self.grants.stage(&self.conn, run, &grants)
        };
        if result.is_err() {
            self.break_run();
        } else if in_order {
            self.grants.last = Some(last);
        }
        result
    }

    /// A write failed half way: roll the run back and refuse everything after it.
    fn break_run(&mut self) {
        self.broken = true;
        if let Err(error) = self.conn.execute_batch("ROLLBACK") {
            tracing::debug!(error = %error, "Rolling back a broken run failed.");
        }
    }

    /// Moves the staged records into the store sorted by id and marks the run succeeded with
    /// its counts and API calls, in one transaction; then prunes old runs so that the newest
    /// `keep_runs` successful runs remain (older failed runs go too). Returns the run id.
    ///
    /// On an error (a duplicate id, a full disk) nothing of the run is in the store; the run
    /// is marked failed.
    pub fn finish(mut self, summary: RunSummary) -> Result<RunId, StoreError> {
        if let Err(error) = self.commit_run(&summary) {
            self.done = true;
            let message = format!("the run could not be committed: {error}");
            if let Err(status_error) = end_run(
                &self.conn,
                self.run,
                RunStatus::Failed,
                Some(&message),
                false,
            ) {
                tracing::warn!(run = self.run.get(), error = %status_error, "Could not mark the run failed.");
            }
            return Err(error);
        }
        self.done = true;
        tracing::info!(run = self.run.get(), "Run succeeded.");
        // The run has succeeded whatever happens next; pruning is housekeeping, retried at
        // the next finish if it fails now.
        if let Err(error) = prune(&self.conn, self.keep_runs) {
            tracing::warn!(run = self.run.get(), error = %error, "Pruning old runs failed; they are kept until the next run.");
        }
        // The run's commit made the WAL as large as the run; copy it into the database now and
        // shrink it. A reader still on an older snapshot (a long export) would make TRUNCATE
        // wait for the busy timeout, so do not wait: SQLite checkpoints again later.
        let checkpoint = self
            .conn
            .busy_timeout(std::time::Duration::ZERO)
            .and_then(|()| {
                self.conn
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            });
        if let Err(error) = checkpoint {
            tracing::debug!(error = %error, "WAL checkpoint skipped.");
        }
        Ok(self.run)
    }

    /// The final transaction of `finish`.
    fn commit_run(&mut self, summary: &RunSummary) -> Result<(), StoreError> {
        if self.broken {
            return Err(broken_run());
        }
        let api_json = to_json("the run's API calls", &summary.api_calls)?;
        let run = self.run;
        // Still the run's transaction: on an error, `finish` rolls all of it back.
        let tx = &self.conn;
        let records = match self.share {
            Some(shared) => {
                // Nothing of this run's own is kept: the shared run's records are its records.
                delete_records(tx, run)?;
                shared
            }
            None => {
                move_staged(tx, run)?;
                self.grants.finish(tx, run)?;
                run
            }
        };
        let counts = count(tx, records)?;
        let counts_json = to_json("the run counts", &counts)?;
        tx.execute(
            "UPDATE sync_runs SET status = 'succeeded', finished = ?2, counts = ?3, api_calls = ?4, error = NULL, data_run = ?5 WHERE id = ?1",
            params![
                run.0,
                format_time(now()),
                counts_json,
                api_json,
                self.share.map(|r| r.0)
            ],
        )
        .map_err(StoreError::sqlite("mark the run succeeded"))?;
        tx.execute_batch("COMMIT")
            .map_err(StoreError::sqlite("commit the run"))
    }
}

/// Moves the staged records of `run` other than grants into the store, sorted by id (inside
/// the run's transaction).
fn move_staged(tx: &Connection, run: RunId) -> Result<(), StoreError> {
    for (kind, table, columns) in MOVES {
        let moved = tx.execute(
            &format!(
                "INSERT INTO main.{table} (run_id, {columns}) SELECT ?1, {columns} FROM temp.staged_{table} ORDER BY id"
            ),
            [run.0],
        );
        match moved {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::ConstraintViolation =>
            {
                // Twice in the staging table.
                let id: String = tx
                    .query_row(
                        &format!(
                            "SELECT id FROM (
                                SELECT id FROM temp.staged_{table} GROUP BY id HAVING count(*) > 1
                                UNION ALL
                                SELECT id FROM temp.staged_{table} s
                                WHERE EXISTS (SELECT 1 FROM main.{table} m WHERE m.run_id = ?1 AND m.id = s.id)
                            ) ORDER BY id LIMIT 1"
                        ),
                        [run.0],
                        |r| r.get(0),
                    )
                    .map_err(StoreError::sqlite("find a duplicate id"))?;
                return Err(StoreError::Duplicate { kind, id, run });
            }
            Err(source) => {
                return Err(StoreError::Sqlite {
                    operation: "write the run's records",
                    source,
                });
            }
        }
    }
    Ok(())
}

/// The grants of the run being written (see the module doc and `blocks`).
#[derive(Debug, Default)]
struct GrantBlocks {
    builder: BlockBuilder,
    /// The last grant added in id order.
    last: Option<GrantId>,
    /// A batch came out of order: every grant of the run is staged from then on, and
    /// `finish` blocks them sorted.
    staging: bool,
    /// The entitlement ids of the grants blocked so far, in id order (each grant's entitlement
    /// is this list's last, or a new one after it).
    entitlements: Vec<String>,
    /// The principals of the grants, numbered.
    principals: Principals,
    /// Per grant blocked, in id order: its principal's number. The grants of
    /// `entitlements[i]` are `holders[starts[i]..starts[i + 1]]` (grant ids start with their
    /// entitlement's). `finish` turns this into each principal's list by a counting sort.
    /// Flat rather than a list per principal: appending to 100k lists at random missed the
    /// cache at every grant, and took twice the memory.
    holders: Holders,
    starts: Vec<usize>,
    /// Reused buffers: a grant's id, its document tail, the last entitlement formatted.
    id: String,
    tail: String,
    /// Reused by `append_rows`: the principal of each row.
    row_principals: Vec<(ResourceId, u32)>,
    entitlement: Option<EntitlementId>,
    entitlement_text: String,
}

fn no_sources(sources: &&[GrantSource]) -> bool {
    sources.is_empty()
}

fn no_details(details: &&GrantDetails) -> bool {
    details.is_empty()
}

/// What a grant's stored document tail is made of: the fields after its id. Serialized, it
/// is the part of a grant's JSON document after its id fields, as `Grant`'s own `Serialize`
/// writes it (a test holds the two together).
#[derive(Clone, Copy, PartialEq, Serialize)]
struct TailParts<'a> {
    direct: bool,
    #[serde(skip_serializing_if = "no_sources")]
    sources: &'a [GrantSource],
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<&'a chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "no_details")]
    details: &'a GrantDetails,
}

impl<'a> TailParts<'a> {
    fn of(grant: &'a Grant) -> TailParts<'a> {
        TailParts {
            direct: grant.direct,
            sources: &grant.sources,
            expires_at: grant.expires_at.as_ref(),
            details: &grant.details,
        }
    }
}

/// Writes the stored document tail (`"direct":...}`) of the grant `id` into `out`.
fn write_tail(id: GrantId, parts: TailParts<'_>, out: &mut String) -> Result<(), StoreError> {
    out.clear();
    if parts.expires_at.is_none()
        && parts.details.last_used.is_none()
        && parts.details.use_count.is_none()
    {
        // By hand, as `Tail` would write it: ids, slugs and source kinds need no escaping
        // (their characters are `[0-9A-Za-z_:]`), and serde cost 3% of a large sync here.
        out.push_str(if parts.direct {
            "\"direct\":true"
        } else {
            "\"direct\":false"
        });
        if !parts.sources.is_empty() {
            out.push_str(",\"sources\":[");
            for (i, source) in parts.sources.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"entitlement_id\":\"");
                source.entitlement_id.resource_id().push_to(out);
                out.push(':');
                out.push_str(source.entitlement_id.slug());
                out.push_str("\",\"kind\":\"");
                out.push_str(source.kind.as_str());
                out.push_str("\"}");
            }
            out.push(']');
        }
        if let Some(record) = parts.details.record_id {
            out.push_str(",\"details\":{\"record_id\":\"");
            out.push_str(record.as_str());
            out.push_str("\"}");
        }
        out.push('}');
        return Ok(());
    }
    let text = serde_json::to_string(&parts).map_err(|source| StoreError::Json {
        what: id.to_string(),
        direction: "written",
        source,
    })?;
    // `{"direct":...}` without its `{`: the head rebuilt from the id ends in a comma.
    out.push_str(&text[1..]);
    Ok(())
}

impl GrantBlocks {
    /// Makes `entitlement` the one of the grants being blocked; true when it is new (the
    /// grant is the first of its entitlement).
    fn set_entitlement(&mut self, entitlement: EntitlementId) -> bool {
        if self.entitlement == Some(entitlement) {
            return false;
        }
        use std::fmt::Write;
        self.entitlement = Some(entitlement);
        self.entitlement_text.clear();
        let _ = write!(self.entitlement_text, "{entitlement}");
        true
    }

    /// Blocks grants that follow every grant blocked so far, in id order.
    fn append(
        &mut self,
        conn: &Connection,
        run: RunId,
        grants: &[Grant],
    ) -> Result<(), StoreError> {
        let mut previous: Option<TailParts<'_>> = None;
        let mut tail = std::mem::take(&mut self.tail);
        let mut id = std::mem::take(&mut self.id);
        let mut result = Ok(());
        for grant in grants {
            let parts = TailParts::of(grant);
            let new_entitlement = self.set_entitlement(grant.entitlement_id);
            // Grants of one entitlement mostly come the same way: reuse the tail then.
            let same_tail = !new_entitlement && previous == Some(parts);
            if !same_tail && let Err(e) = write_tail(grant.id, parts, &mut tail) {
                result = Err(e);
                break;
            }
            previous = Some(parts);
            let principal = self.principals.number(grant.principal_id);
            id.clear();
            id.push_str(&self.entitlement_text);
            id.push(':');
            grant.principal_id.push_to(&mut id);
            let entry = Entry {
                id: &id,
                tail: &tail,
                tail_kind: tail_kind(same_tail, grant.details.record_id.is_some()),
                principal,
                new_entitlement,
            };
            if let Err(e) = self.add(conn, run, entry) {
                result = Err(e);
                break;
            }
        }
        self.tail = tail;
        self.id = id;
        result
    }

    /// `append` for rows (`GrantRows`, checked), whose principals are in the table.
    fn append_rows(
        &mut self,
        conn: &Connection,
        run: RunId,
        rows: &GrantRows,
    ) -> Result<(), StoreError> {
        let mut previous: Option<&GrantRow> = None;
        let mut tail = std::mem::take(&mut self.tail);
        let mut id = std::mem::take(&mut self.id);
        let table = std::mem::take(&mut self.principals.table);
        let mut sources: Vec<GrantSource> = Vec::new();
        // The rows' principals first, in a loop of independent reads: the table (2 MB for
        // the large org) is read at random, and each read missed the cache in the loop
        // below, where the rest of a row's work kept the next read from starting early
        // (10% of the writer's time).
        let mut principals = std::mem::take(&mut self.row_principals);
        principals.clear();
        principals.extend(rows.rows.iter().map(|row| table[row.principal as usize]));
        let mut result = Ok(());
        for (row, &(principal, number)) in rows.rows.iter().zip(&principals) {
            let entitlement = rows.entitlements[row.entitlement as usize];
            let new_entitlement = self.set_entitlement(entitlement);
            let same_tail = !new_entitlement
                && previous.is_some_and(|p| {
                    p.direct == row.direct
                        && p.expires_at == row.expires_at
                        && p.record_id == row.record_id
                        && rows.source_indexes(p) == rows.source_indexes(row)
                });
            if !same_tail {
                sources.clear();
                sources.extend(
                    rows.source_indexes(row)
                        .iter()
                        .map(|&s| rows.sources[s as usize]),
                );
                let details = GrantDetails {
                    record_id: row.record_id,
                    ..GrantDetails::default()
                };
                let parts = TailParts {
                    direct: row.direct,
                    sources: &sources,
                    expires_at: row.expires_at.as_ref(),
                    details: &details,
                };
                if let Err(e) = write_tail(GrantId::new(entitlement, principal), parts, &mut tail) {
                    result = Err(e);
                    break;
                }
            }
            previous = Some(row);
            id.clear();
            id.push_str(&self.entitlement_text);
            id.push(':');
            principal.push_to(&mut id);
            let entry = Entry {
                id: &id,
                tail: &tail,
                tail_kind: tail_kind(same_tail, row.record_id.is_some()),
                principal: number,
                new_entitlement,
            };
            if let Err(e) = self.add(conn, run, entry) {
                result = Err(e);
                break;
            }
        }
        self.principals.table = table;
        self.row_principals = principals;
        self.tail = tail;
        self.id = id;
        result
    }

    /// Adds one grant, in id order, to the current block and its principal's list.
    fn add(&mut self, conn: &Connection, run: RunId, entry: Entry<'_>) -> Result<(), StoreError> {
        if entry.new_entitlement || self.entitlements.is_empty() {
            let Some((entitlement, _)) = split_grant_id(entry.id) else {
                return Err(StoreError::Damaged {
                    what: format!("grant id {:?}", entry.id),
                    run,
                });
            };
            self.entitlements.push(entitlement.to_owned());
            self.starts.push(self.holders.len());
        }
        self.holders
            .push(entry.principal)
            .map_err(StoreError::TempFile)?;
        if let Some(block) = self
            .builder
            .push(entry.id, entry.tail, entry.tail_kind)
            .map_err(StoreError::Compress)?
        {
            insert_block(conn, run, &block)?;
        }
        Ok(())
    }

    /// Stages grants that came out of order; the first time, the grants blocked so far are
    /// staged too, so that `finish` blocks all of them in one sorted pass.
    fn stage(&mut self, conn: &Connection, run: RunId, grants: &[Grant]) -> Result<(), StoreError> {
        if !self.staging {
            self.staging = true;
            if let Some(block) = self.builder.finish().map_err(StoreError::Compress)? {
                insert_block(conn, run, &block)?;
            }
            let mut stage = conn
                .prepare_cached("INSERT INTO temp.staged_grants (id, doc) VALUES (?1, ?2)")
                .map_err(StoreError::sqlite("stage grants"))?;
            for_each_block(conn, run, None, |block| {
                for (id, tail) in block.iter() {
                    stage
                        .execute(params![id, tail])
                        .map_err(StoreError::sqlite("stage grants"))?;
                }
                Ok(std::ops::ControlFlow::Continue(()))
            })?;
            conn.execute("DELETE FROM main.grant_blocks WHERE run_id = ?1", [run.0])
                .map_err(StoreError::sqlite("stage grants"))?;
            self.entitlements.clear();
            self.holders = Holders::default();
            self.starts.clear();
        }
        let mut stage = conn
            .prepare_cached("INSERT INTO temp.staged_grants (id, doc) VALUES (?1, ?2)")
            .map_err(StoreError::sqlite("stage grants"))?;
        let mut tail = std::mem::take(&mut self.tail);
        for grant in grants {
            write_tail(grant.id, TailParts::of(grant), &mut tail)?;
            stage
                .execute(params![grant.id.to_string(), tail.as_str()])
                .map_err(StoreError::sqlite("stage grants"))?;
        }
        self.tail = tail;
        Ok(())
    }

    /// Blocks what is staged, writes the last block and every principal's list.
    fn finish(&mut self, conn: &Connection, run: RunId) -> Result<(), StoreError> {
        if self.staging {
            let mut stmt = conn
                .prepare("SELECT id, doc FROM temp.staged_grants ORDER BY id")
                .map_err(StoreError::sqlite("write the run's grants"))?;
            let mut rows = stmt
                .query([])
                .map_err(StoreError::sqlite("write the run's grants"))?;
            let mut previous = String::new();
            while let Some(row) = rows
                .next()
                .map_err(StoreError::sqlite("write the run's grants"))?
            {
                let (id, tail) = id_and_text(row, "write the run's grants")?;
                if id == previous {
                    return Err(StoreError::Duplicate {
                        kind: "grant",
                        id: id.to_owned(),
                        run,
                    });
                }
                let grant_id = GrantId::parse(id).map_err(|_| StoreError::Damaged {
                    what: format!("staged grant id {id:?}"),
                    run,
                })?;
                let new_entitlement =
                    split_grant_id(&previous).map(|(e, _)| e) != split_grant_id(id).map(|(e, _)| e);
                let entry = Entry {
                    id,
                    tail,
                    tail_kind: TailKind::Lookup,
                    principal: self.principals.number(grant_id.principal_id()),
                    new_entitlement,
                };
                self.add(conn, run, entry)?;
                previous.clear();
                previous.push_str(id);
            }
        }
        if let Some(block) = self.builder.finish().map_err(StoreError::Compress)? {
            insert_block(conn, run, &block)?;
        }
        // Counting sort of the grants by principal: `offsets[p]..offsets[p + 1]` of `held`
        // are principal p's entitlements, ascending (grants are visited in id order).
        let holders = std::mem::take(&mut self.holders)
            .into_vec()
            .map_err(StoreError::TempFile)?;
        let mut offsets = vec![0usize; self.principals.ids.len() + 1];
        for &p in &holders {
            offsets[p as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut held = vec![0u32; holders.len()];
        self.starts.push(holders.len());
        for (entitlement, range) in self.starts.windows(2).enumerate() {
            for &p in &holders[range[0]..range[1]] {
                held[next[p as usize]] = entitlement as u32;
                next[p as usize] += 1;
            }
        }
        drop(holders);
        // Principals without grants (resources numbered before the grants came) get no list.
        let mut runs: Vec<(String, std::ops::Range<usize>)> = self
            .principals
            .ids
            .iter()
            .enumerate()
            .filter(|&(p, _)| offsets[p] < offsets[p + 1])
            .map(|(p, id)| (id.to_string(), offsets[p]..offsets[p + 1]))
            .collect();
        runs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let table = encode_entitlement_table(self.entitlements.iter().map(String::as_str))
            .map_err(StoreError::Compress)?;
        conn.execute(
            "INSERT INTO main.grant_entitlements (run_id, count, data) VALUES (?1, ?2, ?3)",
            params![run.0, self.entitlements.len() as i64, table],
        )
        .map_err(StoreError::sqlite("write the grants' entitlements"))?;
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO main.principal_grants (run_id, principal_id, count, data) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(StoreError::sqlite("write the grants' principals"))?;
        let mut data = Vec::new();
        for (principal, range) in runs {
            encode_list(held[range.clone()].iter().copied(), &mut data);
            insert
                .execute(params![run.0, principal, range.len() as i64, data])
                .map_err(StoreError::sqlite("write the grants' principals"))?;
        }
        Ok(())
    }
}

/// One `u32` per grant, in a temporary file beyond the last 64k: a large org has millions
/// of grants, and `finish` needs them only once the expansion's memory is freed (kept in
/// memory, they were the last 21 MB of a large sync's peak).
#[derive(Debug, Default)]
struct Holders {
    current: Vec<u32>,
    spilled: Option<std::io::BufWriter<File>>,
    spilled_len: usize,
}

const HOLDERS_CHUNK: usize = 1 << 16;

impl Holders {
    fn push(&mut self, value: u32) -> std::io::Result<()> {
        self.current.push(value);
        if self.current.len() >= HOLDERS_CHUNK {
            use std::io::Write;
            let file = match &mut self.spilled {
                Some(file) => file,
                None => self.spilled.insert(std::io::BufWriter::with_capacity(
                    1 << 18,
                    tempfile::tempfile()?,
                )),
            };
            for value in &self.current {
                file.write_all(&value.to_le_bytes())?;
            }
            self.spilled_len += self.current.len();
            self.current.clear();
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.spilled_len + self.current.len()
    }

    /// Every value pushed, in order.
    fn into_vec(self) -> std::io::Result<Vec<u32>> {
        use std::io::{Read, Seek};
        let mut out = Vec::with_capacity(self.len());
        if let Some(file) = self.spilled {
            let mut file = file.into_inner().map_err(|e| e.into_error())?;
            file.seek(std::io::SeekFrom::Start(0))?;
            let mut reader = std::io::BufReader::with_capacity(1 << 18, file);
            let mut value = [0u8; 4];
            for _ in 0..self.spilled_len {
                reader.read_exact(&mut value)?;
                out.push(u32::from_le_bytes(value));
            }
        }
        out.extend(self.current);
        Ok(out)
    }
}

/// Numbers the principals of a run's grants, in the order they first come.
///
/// A hash of the id's bytes per grant: on the large org, a search of the sorted resources
/// put before the grants (galloping forward, since an entitlement's grants come in principal
/// order) plus a cache of each principal's id text cost about 13% of the sync's profile,
/// nearly all of it cache misses. The hash lookup still cost 8-10%, so the sync gives its
/// users once as a table (`RunWriter::put_principal_table`), numbered as they come, and its
/// grant rows name them by index: a row's principal and number are then one read.
#[derive(Debug, Default)]
struct Principals {
    numbers: FxHashMap<[u8; 20], u32>,
    /// Number to id.
    ids: Vec<ResourceId>,
    /// The principal table: each principal and its number.
    table: Vec<(ResourceId, u32)>,
}

impl Principals {
    /// The number of `principal`.
    fn number(&mut self, principal: ResourceId) -> u32 {
        let next = self.ids.len() as u32;
        let number = *self.numbers.entry(key(principal)).or_insert(next);
        if number == next {
            self.ids.push(principal);
        }
        number
    }
}

/// A principal's id as 20 bytes (the Salesforce id's 18 and the type), cheap to hash and
/// small in the map.
fn key(principal: ResourceId) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..18].copy_from_slice(principal.sf_id().as_bytes());
    key[18] = principal.type_id() as u8;
    key
}

/// One grant for `GrantBlocks::add`.
struct Entry<'a> {
    id: &'a str,
    tail: &'a str,
    /// What is known of the tail.
    tail_kind: TailKind,
    /// The principal's number (`Principals`).
    principal: u32,
    /// The first grant of its entitlement.
    new_entitlement: bool,
}

/// How a block takes a grant's tail: a tail naming the grant's own record is its alone.
fn tail_kind(same_as_previous: bool, has_record: bool) -> TailKind {
    if same_as_previous {
        TailKind::Same
    } else if has_record {
        TailKind::Unique
    } else {
        TailKind::Lookup
    }
}

fn insert_block(conn: &Connection, run: RunId, block: &Block) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO main.grant_blocks (run_id, last_id, first_id, count, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            run.0,
            block.last_id,
            block.first_id,
            block.count as i64,
            block.data
        ])
    })
    .map_err(StoreError::sqlite("write a block of grants"))?;
    Ok(())
}

impl RunWriter {
    /// Marks the run failed with `error` and discards what was staged; the last successful
    /// run stays the latest. Returns the run id.
    pub fn fail(mut self, error: &str) -> Result<RunId, StoreError> {
        self.done = true;
        end_run(&self.conn, self.run, RunStatus::Failed, Some(error), true)?;
        Ok(self.run)
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if !self.done
            && let Err(error) = end_run(
                &self.conn,
                self.run,
                RunStatus::Failed,
                Some(ABANDONED),
                true,
            )
        {
            // The row stays `running`; the next writer marks it failed.
            tracing::warn!(run = self.run.get(), error = %error, "Could not mark an abandoned run failed.");
        }
    }
}

/// Counts the records of a run.
pub(crate) fn count(conn: &Connection, run: RunId) -> Result<Counts, StoreError> {
    let single = |table: &str| -> Result<u64, StoreError> {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE run_id = ?1"),
            [run.0],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
        .map_err(StoreError::sqlite("count records"))
    };
    let mut counts = Counts {
        resource_types: single("resource_types")?,
        entitlements: single("entitlements")?,
        grants: conn
            .query_row(
                "SELECT coalesce(sum(count), 0) FROM grant_blocks WHERE run_id = ?1",
                [run.0],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(StoreError::sqlite("count records"))?,
        ..Counts::default()
    };
    let mut stmt = conn
        .prepare_cached("SELECT resource_type, count(*) FROM resources WHERE run_id = ?1 GROUP BY resource_type")
        .map_err(StoreError::sqlite("count resources"))?;
    let rows = stmt
        .query_map([run.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(StoreError::sqlite("count resources"))?;
    for (type_id, n) in rows {
        // Only the writer puts rows here, and it writes valid type ids.
        if let Ok(type_id) = ResourceTypeId::parse(&type_id) {
            counts.resources.insert(type_id, n.max(0) as u64);
        }
    }
    Ok(counts)
}

/// Deletes every run except the newest `keep` successful ones and anything newer than the
/// oldest of those (so a failed run after the last good one stays visible for diagnosis).
fn prune(conn: &Connection, keep: NonZeroUsize) -> Result<(), StoreError> {
    let oldest_kept: Option<i64> = conn
        .query_row(
            "SELECT min(id) FROM (SELECT id FROM sync_runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT ?1)",
            [keep.get() as i64],
            |r| r.get(0),
        )
        .map_err(StoreError::sqlite("find runs to prune"))?;
    let Some(oldest_kept) = oldest_kept else {
        return Ok(());
    };
    let mut stmt = conn
        .prepare("SELECT id FROM sync_runs WHERE id < ?1 ORDER BY id")
        .map_err(StoreError::sqlite("find runs to prune"))?;
    let old: Vec<i64> = stmt
        .query_map([oldest_kept], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(StoreError::sqlite("find runs to prune"))?;
    // Newest first, so that a run is only kept for a run sharing its records while that one
    // is kept.
    for run in old.into_iter().rev() {
        let shared_by_a_kept_run: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE data_run = ?1)",
                [run],
                |r| r.get(0),
            )
            .map_err(StoreError::sqlite("find runs to prune"))?;
        if shared_by_a_kept_run {
            tracing::debug!(run, "Kept an old run: a newer run shares its records.");
            continue;
        }
        let tx = conn
            .unchecked_transaction()
            .map_err(StoreError::sqlite("prune a run"))?;
        delete_run_rows(&tx, RunId(run))?;
        tx.execute("DELETE FROM sync_runs WHERE id = ?1", [run])
            .map_err(StoreError::sqlite("prune a run"))?;
        tx.commit().map_err(StoreError::sqlite("prune a run"))?;
        tracing::debug!(run, "Pruned an old run.");
    }
    Ok(())
}

/// What the writer answers once a write failed half way (`RunWriter::batch`).
fn broken_run() -> StoreError {
    StoreError::Sqlite {
        operation: "continue a run after a failed write",
        source: rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("an earlier write of this run failed; the run was rolled back".to_owned()),
        ),
    }
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json {
        what: what.to_owned(),
        direction: "written",
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::store::testdata::rid;

    #[test]
    fn a_stored_tail_behind_the_rebuilt_head_is_the_grant_s_own_json() {
        use crate::model::{GrantSource, ResourceTypeId as T, SourceKind};
        use crate::store::testdata::ent;
        let entitlement = ent(rid(T::Group, 1), "member");
        let mut through = Grant::through(
            entitlement,
            rid(T::User, 2),
            GrantSource {
                entitlement_id: ent(rid(T::Group, 3), "member"),
                kind: SourceKind::Group,
            },
        );
        through.add_source(GrantSource {
            entitlement_id: ent(rid(T::Role, 4), "assigned"),
            kind: SourceKind::RoleAndSubordinates,
        });
        let mut detailed = Grant::direct(entitlement, rid(T::User, 5));
        detailed.expires_at = Some(chrono::DateTime::from_timestamp(1_800_000_000, 5).unwrap());
        detailed.details.record_id = Some(rid(T::Group, 6).sf_id());
        detailed.details.use_count = Some(7);
        detailed.details.last_used = chrono::DateTime::from_timestamp(1_700_000_000, 0);
        let mut recorded = through.clone();
        recorded.direct = true;
        recorded.details.record_id = Some(rid(T::Group, 8).sf_id());
        let mut counted = Grant::direct(entitlement, rid(T::User, 9));
        counted.details.use_count = Some(0);
        let mut every_kind = Grant::direct(entitlement, rid(T::User, 10));
        for (n, kind) in SourceKind::ALL.into_iter().enumerate() {
            every_kind.add_source(GrantSource {
                entitlement_id: ent(rid(T::PermissionSetGroup, n as u64), "member"),
                kind,
            });
        }
        for grant in [
            Grant::direct(entitlement, rid(T::User, 1)),
            through,
            detailed,
            recorded,
            counted,
            every_kind,
        ] {
            let mut tail = String::new();
            write_tail(grant.id, TailParts::of(&grant), &mut tail).unwrap();
            let id = grant.id.to_string();
            let mut buf = String::new();
            let doc = super::super::read::full_doc("grants", &id, &tail, &mut buf);
            assert_eq!(doc, serde_json::to_string(&grant).unwrap());
        }
    }

    #[test]
    fn holders_beyond_a_chunk_go_through_the_temporary_file_and_come_back_in_order() {
        let mut holders = Holders::default();
        let values: Vec<u32> = (0..3 * HOLDERS_CHUNK as u32 + 17)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        for &v in &values {
            holders.push(v).unwrap();
        }
        assert!(
            holders.spilled.is_some(),
            "more than a chunk spills to the file"
        );
        assert_eq!(holders.len(), values.len());
        assert_eq!(holders.into_vec().unwrap(), values);
        assert_eq!(Holders::default().into_vec().unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn principals_get_one_number_each_in_the_order_they_first_come() {
        use crate::model::ResourceTypeId as T;
        let mut principals = Principals::default();
        // Users and groups whose Salesforce ids differ only late, or only in the type.
        let all: Vec<ResourceId> = (0..300u64)
            .map(|n| rid(T::User, n))
            .chain((0..25).map(|n| rid(T::Group, n)))
            .collect();
        let mut numbers: HashMap<ResourceId, u32> = HashMap::new();
        let mut first_seen: Vec<ResourceId> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..3_000 {
            let p = all[rng.usize(..all.len())];
            let n = principals.number(p);
            if !numbers.contains_key(&p) {
                assert_eq!(n as usize, first_seen.len(), "{p} is new: the next number");
                first_seen.push(p);
            }
            assert_eq!(*numbers.entry(p).or_insert(n), n, "{p} got two numbers");
            assert_eq!(principals.ids[n as usize], p);
        }
        assert_eq!(principals.ids, first_seen);
        // Distinct principals, distinct keys: a user and a group never share one.
        let keys: std::collections::HashSet<_> = all.iter().map(|&p| key(p)).collect();
        assert_eq!(keys.len(), all.len());
    }
}
