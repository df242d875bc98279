//! Object snapshots: the rows each Salesforce object gave a run, kept with the run so that the
//! next `sync --incremental` can copy the objects that did not change instead of reading them.
//!
//! The store keeps them as opaque bytes (the sync engine encodes its rows, zstd-compressed),
//! next to the query that read them and the change probe taken just before reading. They
//! belong to their run: pruned and deleted with it, and only read from a `succeeded` run.

use rusqlite::{OptionalExtension, params};

use super::{RunId, Store, StoreError};

/// What is known of one object's rows in a run, without the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The Salesforce object.
    pub object: String,
    /// The SOQL that read the rows (without paging): rows are only reused by a sync that
    /// would send the same query.
    pub query: String,
    /// How many rows.
    pub rows: u64,
    /// The answer of the change probe sent before the rows were read, when it can vouch for
    /// them; None when the object is read every time or changed too recently to tell.
    pub probe: Option<String>,
    /// SHA-256 of the encoded rows, kept for objects read in one page: an incremental sync
    /// that reads them again tells by it whether they changed.
    pub digest: Option<String>,
}

/// One object's rows in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSnapshot {
    /// What they are.
    pub info: SnapshotInfo,
    /// The encoded rows.
    pub data: Vec<u8>,
}

impl Store {
    /// The snapshots a run kept, without their rows, in object order.
    pub fn snapshot_infos(&self, run: RunId) -> Result<Vec<SnapshotInfo>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT object, query, rows, probe, digest FROM object_snapshots WHERE run_id = ?1 ORDER BY object",
            )
            .map_err(StoreError::sqlite("list a run's object snapshots"))?;
        stmt.query_map([run.0], |r| {
            Ok(SnapshotInfo {
                object: r.get(0)?,
                query: r.get(1)?,
                rows: r.get::<_, i64>(2)?.max(0) as u64,
                probe: r.get(3)?,
                digest: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(StoreError::sqlite("list a run's object snapshots"))
    }

    /// The encoded rows of one object in a run, if the run kept them.
    pub fn snapshot_data(&self, run: RunId, object: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT data FROM object_snapshots WHERE run_id = ?1 AND object = ?2",
                params![run.0, object],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite("read an object snapshot"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ApiCalls, RunSummary};

    fn snapshot(object: &str, probe: Option<&str>) -> ObjectSnapshot {
        ObjectSnapshot {
            info: SnapshotInfo {
                object: object.to_owned(),
                query: format!("SELECT Id FROM {object} ORDER BY Id ASC"),
                rows: 2,
                probe: probe.map(str::to_owned),
                digest: None,
            },
            data: vec![1, 2, 3, object.len() as u8],
        }
    }

    fn summary() -> RunSummary {
        RunSummary {
            api_calls: ApiCalls::default(),
        }
    }

    #[test]
    fn snapshots_live_and_die_with_their_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
        writer.put_snapshot(&snapshot("User", Some("[3]"))).unwrap();
        writer.put_snapshot(&snapshot("Group", None)).unwrap();
        let twice = writer.put_snapshot(&snapshot("User", None)).unwrap_err();
        assert!(matches!(twice, StoreError::Duplicate { .. }), "{twice}");
        let first = writer.finish(summary()).unwrap();
        let infos = store.snapshot_infos(first).unwrap();
        assert_eq!(
            infos,
            vec![
                snapshot("Group", None).info,
                snapshot("User", Some("[3]")).info
            ]
        );
        assert_eq!(
            store.snapshot_data(first, "User").unwrap(),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(store.snapshot_data(first, "Profile").unwrap(), None);

        // A failed run's snapshots go with it.
        let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
        let failed = writer.run_id();
        writer.put_snapshot(&snapshot("User", None)).unwrap();
        writer.fail("boom").unwrap();
        assert!(store.snapshot_infos(failed).unwrap().is_empty());

        // Pruned runs take theirs.
        let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
        writer.set_keep_runs(std::num::NonZeroUsize::new(1).unwrap());
        writer.put_snapshot(&snapshot("User", None)).unwrap();
        let second = writer.finish(summary()).unwrap();
        assert!(store.snapshot_infos(first).unwrap().is_empty());
        assert_eq!(store.snapshot_infos(second).unwrap().len(), 1);
    }
}
