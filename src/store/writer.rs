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
//! appends.
//!
//! Grants in id order skip the staging: a batch of grants sorted by id whose ids all follow
//! the last grant appended goes straight into the `grants` table (the sync's expansion emits
//! them so). Staging and then sorting them cost about twice the writes. Any other batch is
//! staged as before. Every grant's (principal, id) pair is staged, and `finish` fills
//! `grant_principals` with them sorted, by appends too.

use std::fs::{File, OpenOptions, TryLockError};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;

use super::read::grant_doc_head;
use super::{
    Counts, ObjectSnapshot, RunId, RunStatus, RunSummary, Store, StoreError, format_time, now,
    schema,
};
use crate::model::{Entitlement, Grant, GrantId, Resource, ResourceType, ResourceTypeId};

/// How many successful runs `finish` keeps when not told otherwise (`--keep-runs`).
pub const DEFAULT_KEEP_RUNS: usize = 5;

/// Page cache of the writer's connection, in KiB (negative `cache_size` means KiB). Grants
/// are appended, so a small cache does: it bounds the sorts of `finish` in memory too
/// (SQLite's sorter spills to temporary files beyond it).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// The writer's staging tables, one per record table, with the same columns minus `run_id`.
const STAGING: &str = "
CREATE TEMP TABLE staged_resource_types (id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_resources (id TEXT NOT NULL, resource_type TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_entitlements (id TEXT NOT NULL, resource_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_grants (id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TEMP TABLE staged_principals (principal_id TEXT NOT NULL, grant_id TEXT NOT NULL);
";

/// How `finish` moves each staging table into place: (kind, table, columns after run_id).
const MOVES: [(&str, &str, &str); 4] = [
    ("resource_type", "resource_types", "id, doc"),
    ("resource", "resources", "id, resource_type, doc"),
    ("entitlement", "entitlements", "id, resource_id, doc"),
    ("grant", "grants", "id, doc"),
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
    /// The last grant appended straight to the `grants` table (see the module doc).
    last_appended: Option<GrantId>,
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
            last_appended: None,
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
const RECORD_TABLES: [&str; 5] = [
    "grant_principals",
    "grants",
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
            self.broken = true;
            if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                tracing::debug!(error = %error, "Rolling back a broken run failed.");
            }
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

    /// Stages resources; each is validated first (`Resource::validate`).
    pub fn put_resources(&mut self, resources: &[Resource]) -> Result<(), StoreError> {
        let mut id = String::with_capacity(64);
        self.batch(
            &["INSERT INTO temp.staged_resources (id, resource_type, doc) VALUES (?1, ?2, ?3)"],
            resources,
            Resource::validate,
            |stmt, r, buf| {
                to_doc(r, &r.id, buf)?;
                id.clear();
                use std::fmt::Write;
                let _ = write!(id, "{}", r.id);
                stmt[0]
                    .execute(params![id, r.resource_type.as_str(), doc_str(buf)])
                    .map_err(StoreError::sqlite("insert a resource"))?;
                Ok(())
            },
        )
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
    /// ids all follow the last batch appended is appended to the store's table; any other is
    /// staged (see the module doc). An id written twice in a run is reported by `finish` as
    /// `Duplicate`.
    pub fn put_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (grants.first(), grants.last()) else {
            return Ok(());
        };
        let append = self.last_appended.is_none_or(|prev| prev < first.id)
            && grants.windows(2).all(|w| w[0].id < w[1].id);
        let sql = if append {
            "INSERT INTO main.grants (run_id, id, doc) VALUES (?3, ?1, ?2)"
        } else {
            "INSERT INTO temp.staged_grants (id, doc) VALUES (?1, ?2)"
        };
        let run = self.run.0;
        let (mut id, mut entitlement, mut principal, mut head) =
            (String::new(), String::new(), String::new(), String::new());
        let sql = [
            sql,
            "INSERT INTO temp.staged_principals (principal_id, grant_id) VALUES (?1, ?2)",
        ];
        self.batch(&sql, grants, Grant::validate, |stmt, g, buf| {
            to_doc(g, &g.id, buf)?;
            use std::fmt::Write;
            id.clear();
            entitlement.clear();
            principal.clear();
            let _ = write!(id, "{}", g.id);
            let _ = write!(entitlement, "{}", g.entitlement_id);
            let _ = write!(principal, "{}", g.principal_id);
            // The id holds the id fields: store the document without them (the readers
            // rebuild them, `read::full_doc`), or whole should it not start so.
            head.clear();
            grant_doc_head(
                &id,
                &entitlement,
                &principal,
                g.principal_type.as_str(),
                &mut head,
            );
            let doc = doc_str(buf);
            let doc = doc.strip_prefix(head.as_str()).unwrap_or(doc);
            let result = if append {
                stmt[0].execute(params![id, doc, run])
            } else {
                stmt[0].execute(params![id, doc])
            };
            result.map_err(StoreError::sqlite("insert a grant"))?;
            stmt[1]
                .execute(params![principal, id])
                .map_err(StoreError::sqlite("insert a grant"))?;
            Ok(())
        })?;
        if append {
            self.last_appended = Some(last.id);
        }
        Ok(())
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

/// Moves the staged records of `run` into the store, sorted by id, and fills its
/// `grant_principals` (inside the run's transaction).
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
                // Twice in the staging table, or staged and already appended (grants).
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
    tx.execute(
        "INSERT INTO main.grant_principals (run_id, principal_id, grant_id)
         SELECT ?1, principal_id, grant_id FROM temp.staged_principals ORDER BY principal_id, grant_id",
        [run.0],
    )
    .map_err(StoreError::sqlite("write the grants' principals"))?;
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
        grants: single("grants")?,
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
