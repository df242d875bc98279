//! The SQLite schema of the store and how a connection is opened.
//!
//! The file is marked with an application id and a schema version (`PRAGMA application_id`,
//! `user_version`), so that opening another SQLite file, or a store from a newer sf-access,
//! gives a clear error instead of a wrong answer.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// `PRAGMA application_id` of an sf-access store: ASCII "sfAc".
pub(crate) const APPLICATION_ID: i64 = 0x7366_4163;
/// The schema version this build writes and reads. 4: a principal's grant list names its
/// entitlements by number, in the run's `grant_entitlements` (a store of version 3 is
/// migrated when opened: the table is added, and its runs' lists are read as they are). 3:
/// grants are stored in blocks
/// (`grant_blocks`, `principal_grants`; see `blocks`) instead of a row each. 2: a grant's
/// `doc` left out the id fields its id holds (`read::full_doc`), and runs keep their rows
/// (`object_snapshots`) and may share an earlier run's records (`sync_runs.data_run`), for
/// incremental syncs. Stores of an older version are refused.
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// The oldest schema version a store is migrated from when opened.
const MIGRATES_FROM: i64 = 3;

/// Every record table is keyed by `(run_id, id)`, and `WITHOUT ROWID` so that rows are stored
/// in key order: paging by id and the sorted exports then read the table sequentially.
/// The secondary indexes end in `id` so that filtered pages come out in id order without a
/// sort.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    started    TEXT NOT NULL,
    finished   TEXT,
    status     TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    options    TEXT NOT NULL,
    counts     TEXT,
    api_calls  TEXT,
    error      TEXT,
    -- Set when the run found the org unchanged and shares the records of that earlier run
    -- (an incremental sync); NULL when it has records of its own.
    data_run   INTEGER
);
CREATE INDEX IF NOT EXISTS sync_runs_by_status ON sync_runs (status, id);

CREATE TABLE IF NOT EXISTS resource_types (
    run_id  INTEGER NOT NULL,
    id      TEXT NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS resources (
    run_id         INTEGER NOT NULL,
    id             TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (run_id, resource_type, id);

CREATE TABLE IF NOT EXISTS entitlements (
    run_id       INTEGER NOT NULL,
    id           TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    doc          TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entitlements_by_resource ON entitlements (run_id, resource_id, id);

-- Grants, in blocks of up to 128 consecutive grants in id order, keyed by the block's last
-- grant id: one row per grant cost more than the grants' documents themselves (see
-- `blocks`). A grant's entitlement and principal ids are parts of its id
-- (`ENTITLEMENT:PRINCIPAL`), so the grants of an entitlement are a range of blocks.
-- Rowid tables (their key an index): a WITHOUT ROWID row over about 1 KB spills into an
-- overflow page of its own, and blocks and lists are often that big (measured: 3x the file).
CREATE TABLE IF NOT EXISTS grant_blocks (
    run_id    INTEGER NOT NULL,
    last_id   TEXT NOT NULL,
    first_id  TEXT NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (run_id, last_id)
);
-- Each principal's grants: the numbers of the entitlements it holds in the run's
-- `grant_entitlements` (a run written by schema 3, which has none, has the entitlement ids).
CREATE TABLE IF NOT EXISTS principal_grants (
    run_id        INTEGER NOT NULL,
    principal_id  TEXT NOT NULL,
    count         INTEGER NOT NULL,
    data          BLOB NOT NULL,
    PRIMARY KEY (run_id, principal_id)
);
";

/// Added by schema 4: the entitlements a run's grants name, numbered for `principal_grants`.
const GRANT_ENTITLEMENTS: &str = "
CREATE TABLE IF NOT EXISTS grant_entitlements (
    run_id  INTEGER PRIMARY KEY,
    count   INTEGER NOT NULL,
    data    BLOB NOT NULL
);
";

/// The rows each object gave a run (encoded by the sync, zstd-compressed), the query that read
/// them and the change probe taken before reading: what `sync --incremental` copies forward.
const SNAPSHOTS: &str = "
CREATE TABLE IF NOT EXISTS object_snapshots (
    run_id  INTEGER NOT NULL,
    object  TEXT NOT NULL,
    query   TEXT NOT NULL,
    rows    INTEGER NOT NULL,
    probe   TEXT,
    digest  TEXT,
    data    BLOB NOT NULL,
    PRIMARY KEY (run_id, object)
);
";

/// Page size of a new store: SQLite's largest. A store is written in bulk (a large run is
/// about 145 MB, written once to the WAL and once into the file) and read in ranges, and
/// grant blocks and principal lists are blobs of 0.5-5 KB, several of which spilled into
/// overflow pages at 4 KiB. Interleaved runs of a large sync: about 0.7 s less CPU than at
/// 4 KiB (16 KiB: about 0.3 s less), and the exports no slower. Stores created before keep
/// their page size.
const PAGE_SIZE: i64 = 65536;

/// Opens a connection, sets the pragmas, and creates or checks the schema.
pub(crate) fn connect(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let flags = if create {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| match &source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotAStore {
                path: path.to_path_buf(),
            }
        }
        _ => StoreError::Sqlite {
            operation: "open the store",
            source,
        },
    })?;
    // A reader may meet a writer's commit in progress; wait for it rather than fail.
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(StoreError::sqlite("set the busy timeout"))?;
    let not_a_store = |source: rusqlite::Error| match &source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotAStore {
                path: path.to_path_buf(),
            }
        }
        _ => StoreError::Sqlite {
            operation: "read the store header",
            source,
        },
    };
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(not_a_store)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(not_a_store)?;
    let table_count: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(not_a_store)?;
    let is_new = application_id == 0 && table_count == 0;
    if !is_new && application_id != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    if !is_new && !(MIGRATES_FROM..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    // WAL: a sync's many batch commits stay cheap, and readers (show, serve) are never blocked
    // by the writer. NORMAL synchronous is durable across process crashes in WAL mode, which
    // is the failure a sync must survive; a power cut can lose the last commits, and the run
    // is then simply not `succeeded`.
    if is_new && create {
        // Before anything is written: the page size of a file is fixed once it has a page.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(StoreError::sqlite("set the page size"))?;
    }
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
        .map_err(StoreError::sqlite("switch to WAL mode"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(StoreError::sqlite("set synchronous"))?;
    if is_new {
        if !create {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            });
        }
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} {SNAPSHOTS} {GRANT_ENTITLEMENTS} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(StoreError::sqlite("create the schema"))?;
    } else if version < SCHEMA_VERSION {
        // 3 to 4: one table more. Idempotent, and one transaction: two processes opening
        // the same old store both get a store of version 4.
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {GRANT_ENTITLEMENTS} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(StoreError::sqlite(
            "migrate the store to the new schema version",
        ))?;
    }
    Ok(conn)
}
