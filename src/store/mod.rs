//! The embedded SQLite store of sync runs and the export writers.
//!
//! Owns the file format of `sf-access.db`: one row per sync run, and per run the resource
//! types, resources, entitlements and grants, each row keyed by `(run_id, id)` and holding the
//! record's canonical JSON document (the exact bytes the exports write), plus the columns the
//! indexes need. The sync engine writes through a [`RunWriter`]; `show`, `export` and the HTTP
//! service read finished runs through [`Store`]. Must not talk to Salesforce or know how
//! records are mapped: it stores model records as they are given.
//!
//! Run lifecycle: a run is `running` from [`Store::begin_run`] until [`RunWriter::finish`]
//! (`succeeded`) or [`RunWriter::fail`] (`failed`). Readers only ever see `succeeded` runs as
//! "latest", so a failed or interrupted sync never replaces the last good one. One sync writes
//! a store at a time: the writer holds an exclusive lock on `<file>.lock`, so a `running` row
//! found by the next writer belongs to a process that died, and is marked failed and removed.

pub(crate) mod blocks;
mod export;
mod read;
mod rows;
mod runs;
mod schema;
mod snapshots;
mod writer;

pub mod c1z;
pub mod cli;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::model::{RecordError, ResourceTypeId};

pub use export::{ExportFormat, Output, export, export_to_output, write_atomically};
pub use read::{GrantFilter, MAX_PAGE_LIMIT, Page, PageRequest};
pub(crate) use rows::{GrantRow, GrantRows};
pub use snapshots::{ObjectSnapshot, SnapshotInfo};
pub use writer::{DEFAULT_KEEP_RUNS, RunWriter};

/// What went wrong in the store, with the operation and the file it was about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store file does not exist (readers never create one).
    #[error("no store at {}", path.display())]
    NotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// The file exists but is not an sf-access store (another SQLite file, a c1z, ...).
    #[error("{} is not an sf-access store", path.display())]
    NotAStore {
        /// The path opened.
        path: PathBuf,
    },
    /// The store was written by a newer sf-access with a schema this one does not know.
    #[error("{} has store schema version {found}; this sf-access reads version {expected}", path.display())]
    SchemaVersion {
        /// The path opened.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The version this build writes.
        expected: i64,
    },
    /// SQLite failed.
    #[error("store: {operation} failed")]
    Sqlite {
        /// What the store was doing.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A record could not be turned into or read from its JSON document.
    #[error("store: the JSON of {what} could not be {direction}")]
    Json {
        /// Which record or document.
        what: String,
        /// `written` or `read`.
        direction: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A record given to the writer is inconsistent.
    #[error("store: refusing an inconsistent record")]
    Record(#[from] RecordError),
    /// Grant rows given to the writer name something they do not hold (an entitlement, a
    /// principal or a source out of range), or the principal table is not in id order.
    #[error("store: refusing grant rows: {what}")]
    BadRows {
        /// What is wrong.
        what: String,
    },
    /// The same id was written twice in one run.
    #[error("store: {kind} {id} was written twice in run {run}")]
    Duplicate {
        /// `resource_type`, `resource`, `entitlement` or `grant`.
        kind: &'static str,
        /// The record id.
        id: String,
        /// The run.
        run: RunId,
    },
    /// Stored grants that do not decode: the file was damaged after it was written.
    #[error("store: the grants of run {run} are damaged ({what})")]
    Damaged {
        /// What did not decode.
        what: String,
        /// The run.
        run: RunId,
    },
    /// Compressing a block of grants failed.
    #[error("store: compressing a block of grants failed")]
    Compress(#[source] std::io::Error),
    /// A temporary file failed: the writer's (each grant's principal, until `finish`) or an
    /// export's (the grants sorted by user, for the csv grid).
    #[error("store: a temporary file (in the system's temporary directory) failed")]
    TempFile(#[source] std::io::Error),
    /// No sync has succeeded in this store yet.
    #[error("the store has no successful sync run yet")]
    NoGoodRun,
    /// The run asked for does not exist (any more: old runs are pruned).
    #[error("there is no run {0} in the store")]
    UnknownRun(RunId),
    /// The run asked for did not succeed, so its data is incomplete.
    #[error("run {run} did not succeed (status {status}); its data is incomplete")]
    RunNotSucceeded {
        /// The run.
        run: RunId,
        /// Its status.
        status: RunStatus,
    },
    /// Another sync is writing this store.
    #[error("another sync is writing this store (lock {} is held)", lock.display())]
    SyncInProgress {
        /// The lock file.
        lock: PathBuf,
    },
    /// A c1z file could not be read or written.
    #[error(transparent)]
    C1z(Box<c1z::C1zError>),
    /// A file operation failed (the lock file, an export file).
    #[error("{operation} {}", path.display())]
    Io {
        /// What was being done, e.g. "cannot write".
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<c1z::C1zError> for StoreError {
    fn from(e: c1z::C1zError) -> StoreError {
        match e {
            // Do not wrap a store error in a c1z error in a store error.
            c1z::C1zError::Store(inner) => inner,
            other => StoreError::C1z(Box::new(other)),
        }
    }
}

impl StoreError {
    pub(crate) fn sqlite(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { operation, source }
    }

    /// True when the error comes from what the user gave (`--file`, `--run`): a usage error
    /// (exit code 2) rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. }
                | StoreError::NotAStore { .. }
                | StoreError::SchemaVersion { .. }
                | StoreError::UnknownRun(_)
                | StoreError::RunNotSucceeded { .. }
        ) || matches!(self, StoreError::C1z(e) if e.is_bad_input())
    }

    /// A hint for the person who sees this error, for the causes we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::NotFound { path } => Some(format!(
                "run `sf-access sync --file {}` first, or point --file (or SF_ACCESS_FILE) at an existing store",
                path.display()
            )),
            StoreError::NotAStore { .. } => Some(
                "--file must name a store written by `sf-access sync` (sf-access.db) or a c1z file"
                    .to_owned(),
            ),
            StoreError::SchemaVersion { .. } => {
                Some("use the sf-access version that wrote the store, or sync into a new file".to_owned())
            }
            StoreError::NoGoodRun => Some(
                "run `sf-access sync` until it succeeds; failed and interrupted runs are never read".to_owned(),
            ),
            StoreError::UnknownRun(_) | StoreError::RunNotSucceeded { .. } => Some(
                "leave out --run to read the latest successful run; `sf-access show runs` lists the runs".to_owned(),
            ),
            StoreError::SyncInProgress { .. } => {
                Some("wait for the running sync to end; one sync writes a store at a time".to_owned())
            }
            StoreError::Damaged { .. } => Some(
                "read another run (`sf-access show runs` lists them), or sync into a new file".to_owned(),
            ),
            StoreError::TempFile(_) => Some(
                "free space in the temporary directory, or point TMPDIR at a directory with room (a large org needs a few hundred MB)".to_owned(),
            ),
            StoreError::C1z(e) => e.hint(),
            _ => None,
        }
    }
}

/// The id of a sync run: a positive integer, increasing with every run of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(i64);

impl RunId {
    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RunId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(RunId(n)),
            _ => Err(format!(
                "a run id is a positive integer (as `sf-access show runs` lists), not {s:?}"
            )),
        }
    }
}

/// Where a run is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Being written, or its process died (then it is marked failed by the next sync).
    Running,
    /// Complete: readers use it.
    Succeeded,
    /// Failed or interrupted: never read as data.
    Failed,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Record counts of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Resource types written.
    pub resource_types: u64,
    /// Resources per type (types without resources are left out).
    pub resources: std::collections::BTreeMap<ResourceTypeId, u64>,
    /// Entitlements.
    pub entitlements: u64,
    /// Grants.
    pub grants: u64,
}

/// Salesforce API calls a run used, as the sync engine reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiCalls {
    /// Every REST request of the run, token requests excluded.
    pub total: u64,
    /// Requests per Salesforce object (`User`, `PermissionSetAssignment`, ...).
    pub by_object: std::collections::BTreeMap<String, u64>,
    /// `DailyApiRequests` remaining after the run, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_remaining: Option<u64>,
}

/// What the sync engine hands over when a run completes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    /// The API calls the run used.
    pub api_calls: ApiCalls,
}

/// One sync run as stored (the `sync_run.json` schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    /// The run id.
    pub id: RunId,
    /// Running, succeeded or failed.
    pub status: RunStatus,
    /// When the run began.
    pub started: DateTime<Utc>,
    /// When it ended (absent while running or when its process died).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// The sync options the run was started with, as the engine gave them.
    pub options: serde_json::Value,
    /// Record counts (set when the run succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// API calls used (set when the run succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<ApiCalls>,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An open store file, for reading runs and starting new ones.
///
/// A `Store` holds one SQLite connection; it is `Send` but not `Sync`, so a service opens one
/// per thread (WAL mode lets readers read while a sync writes).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The `grant_entitlements` of the last runs read, decoded, for reading principals'
    /// grants (oldest first; a run's records never change once written, and run ids are
    /// never reused).
    entitlement_tables: std::cell::RefCell<Vec<(RunId, blocks::EntitlementTable)>>,
}

impl Store {
    /// Opens the store at `path`, creating the file and its schema when missing. This is what
    /// `sync` uses.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::connect(&path, true)?;
        Ok(Store::with(conn, path))
    }

    /// Opens an existing store; a missing file is `StoreError::NotFound` (with a hint to run
    /// `sync` first) rather than a new empty store. This is what `show` and `export` use.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(StoreError::NotFound { path });
        }
        let conn = schema::connect(&path, false)?;
        Ok(Store::with(conn, path))
    }

    fn with(conn: Connection, path: PathBuf) -> Store {
        Store {
            conn,
            path,
            entitlement_tables: Default::default(),
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The current time, at millisecond precision (what the run rows store).
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests;
