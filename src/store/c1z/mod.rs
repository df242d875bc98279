//! c1z files: baton's sync file format (v1: `C1ZF\0` + one zstd frame + a SQLite database of
//! baton-sdk v0.25.0's schema, with protobuf `c1.connector.v2` messages in the rows).
//!
//! [`C1zWriter`] writes model records (or a store run, [`write_run`]) as one finished `full`
//! sync, appending to an existing file so that `baton diff` can compare the last two syncs; the
//! file is written to a temporary file and renamed into place. [`C1zFile`] reads v1 files,
//! including those baton-salesforce writes, back into model records, with a [`ReadReport`] of
//! what could not be represented. `../shared/baton-model.md` has the format facts; the mapping
//! between our model and baton's messages is in `map.rs` and documented in `docs-c1z.md`.
//!
//! Files are untrusted input: decompression is capped ([`ReadOptions`]), SQLite opens the
//! decompressed copy in defensive mode, and every decode error becomes a [`C1zError`] naming
//! the file. Must not talk to Salesforce, and must not change the model: what a baton file
//! holds that the model cannot say is reported, not invented.

mod container;
mod ksuid;
mod map;
pub mod proto;
mod read;
mod schema;
mod write;

use std::path::{Path, PathBuf};

pub use container::{DEFAULT_MAX_DECODED_BYTES, Format, MAGIC_V1, MAGIC_V3, detect};
pub use read::{
    C1zFile, FileCounts, ReadReport, RecordSink, Records, SyncInfo, TempStore, load_temp_store,
};
pub use write::{C1zWriter, WriteMode, WriteOptions, WriteSummary, write_records, write_run};

/// How many finished full syncs a writer keeps in a file, like baton-sdk's cleanup
/// (`BATON_KEEP_SYNC_COUNT`, default 2: what `baton diff` needs).
pub const DEFAULT_KEEP_SYNCS: usize = 2;

/// Options for opening a c1z.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Refuse files whose database is larger than this many bytes once decompressed.
    pub max_decoded_bytes: u64,
    /// Where the decompressed database goes (a fresh directory is made inside); the system
    /// temporary directory when `None`.
    pub temp_dir: Option<PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            temp_dir: None,
        }
    }
}

impl ReadOptions {
    /// The defaults, with baton's `BATON_DECODER_MAX_DECODED_SIZE_MB` (MiB) and
    /// `BATON_C1Z_TEMP_DIR` honoured when set (or their `SF_ACCESS_` names, which win), so a
    /// baton deployment's limits carry over.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ReadOptions, String> {
        let mut options = ReadOptions::default();
        let first = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| env(n).filter(|v| !v.is_empty()).map(|v| (n, v)))
        };
        if let Some((name, value)) = first([
            "SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB",
            "BATON_DECODER_MAX_DECODED_SIZE_MB",
        ]) {
            let mib: u64 = value
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}: {value:?} is not a number of MiB above 0"))?;
            options.max_decoded_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some((_, value)) = first(["SF_ACCESS_C1Z_TEMP_DIR", "BATON_C1Z_TEMP_DIR"]) {
            options.temp_dir = Some(PathBuf::from(value));
        }
        Ok(options)
    }
}

/// True when `path` should be treated as a c1z: it starts with a c1z magic (v1 or v3), or it
/// does not start with SQLite's and its name ends in `.c1z`.
pub fn is_c1z(path: &Path) -> bool {
    match detect(path) {
        Ok(Format::V1 | Format::V3) => true,
        Ok(Format::Empty | Format::Other) | Err(_) => path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("c1z")),
    }
}

/// What went wrong with a c1z file, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum C1zError {
    /// A file operation failed.
    #[error("{operation} {}", path.display())]
    Io {
        /// What was being done, e.g. "cannot read".
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a c1z magic.
    #[error("{} is not a c1z file (it does not start with C1ZF)", path.display())]
    NotC1z {
        /// The file.
        path: PathBuf,
    },
    /// A v3 file: written by baton-sdk's Pebble engine, which this build does not read.
    #[error(
        "{} is a v3 c1z (C1Z3): it was written with baton's Pebble storage engine, which sf-access cannot read",
        path.display()
    )]
    PebbleFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file ends too early.
    #[error("{} is truncated: {detail}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where it ends.
        detail: String,
    },
    /// The compressed data or the database inside is damaged.
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The database inside is larger than allowed.
    #[error(
        "{} decompresses to more than {limit} bytes{}",
        path.display(),
        declared.map(|d| format!(" (its frame declares {d})")).unwrap_or_default()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        limit: u64,
        /// The size the frame declares, when it declares one.
        declared: Option<u64>,
    },
    /// The zstd frame needs a larger window (decoder memory) than allowed.
    #[error("{} needs a zstd window larger than {max_mib} MiB", path.display())]
    WindowTooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in MiB.
        max_mib: u64,
    },
    /// SQLite failed on the database inside.
    #[error("c1z: {operation} failed")]
    Sqlite {
        /// What was being done.
        operation: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A row's protobuf blob does not decode.
    #[error("c1z: the {what} in row {row} of {table} does not decode")]
    Protobuf {
        /// The table.
        table: &'static str,
        /// The row id.
        row: i64,
        /// Which blob.
        what: &'static str,
        /// prost's error.
        #[source]
        source: prost::DecodeError,
    },
    /// The file has no finished full sync to read.
    #[error("{} has no finished full sync", path.display())]
    NoFinishedSync {
        /// The file.
        path: PathBuf,
    },
    /// The sync asked for does not exist or has not finished.
    #[error("{} has no finished sync with row id {row}", path.display())]
    UnknownSync {
        /// The file.
        path: PathBuf,
        /// The `v1_sync_runs` row id asked for.
        row: i64,
    },
    /// A record given to the writer is inconsistent.
    #[error("c1z: refusing an inconsistent record")]
    Record(#[from] crate::model::RecordError),
    /// The store failed while loading a c1z into it or reading a run to write.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl C1zError {
    pub(crate) fn io(operation: &'static str, path: &Path, source: std::io::Error) -> C1zError {
        C1zError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn sqlite(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> C1zError {
        move |source| C1zError::Sqlite { operation, source }
    }

    /// True when the file itself is the problem (wrong format, damaged, too large, no sync):
    /// the CLI reports these as usage errors, like a `--file` that is not a store.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            C1zError::NotC1z { .. }
                | C1zError::PebbleFormat { .. }
                | C1zError::Truncated { .. }
                | C1zError::Corrupt { .. }
                | C1zError::TooLarge { .. }
                | C1zError::WindowTooLarge { .. }
                | C1zError::Protobuf { .. }
                | C1zError::NoFinishedSync { .. }
                | C1zError::UnknownSync { .. }
        )
    }

    /// What to do about it, for the causes we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            C1zError::PebbleFormat { .. } => Some(
                "write a v1 file instead: run the baton connector with `--storage-engine sqlite` \
                 (BATON_STORAGE_ENGINE=sqlite) into a new file name"
                    .to_owned(),
            ),
            C1zError::TooLarge { .. } => Some(
                "if the file is trusted, raise the cap with SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB \
                 (or baton's BATON_DECODER_MAX_DECODED_SIZE_MB)"
                    .to_owned(),
            ),
            C1zError::NotC1z { .. } => Some(
                "--file must name a c1z written by a baton connector or `sf-access export --format c1z`, \
                 or an sf-access store"
                    .to_owned(),
            ),
            C1zError::Truncated { .. } | C1zError::Corrupt { .. } | C1zError::Protobuf { .. } => {
                Some("the file was cut short or damaged in transfer; copy or sync it again".to_owned())
            }
            C1zError::NoFinishedSync { .. } | C1zError::UnknownSync { .. } => Some(
                "`sf-access show runs --file FILE` lists the syncs of a c1z; only finished ones can be read"
                    .to_owned(),
            ),
            C1zError::Store(e) => e.hint(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
