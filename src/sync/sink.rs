//! The sink: the store's run writer on a blocking thread, fed batches of records through a
//! bounded channel while the fetch goes on.
//!
//! SQLite calls block, so they run off the async workers; the bounded channel applies
//! back-pressure, so a fast fetch cannot pile up unbounded batches in memory. The first
//! store error stops the writer; the next send reports it. This module only moves records
//! into the store; it does not know what they mean.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::SyncError;
use super::expand::GrantBatch;
use crate::model::{Entitlement, Resource, ResourceType};
use crate::store::{ObjectSnapshot, RunId, RunSummary, RunWriter, StoreError};

/// Batches in flight between the fetch and the writer thread (a batch of grants is 2,500
/// grants or rows: under 1 MB).
const CHANNEL_DEPTH: usize = 4;

enum Batch {
    ResourceTypes(Vec<ResourceType>),
    Resources(Vec<Resource>),
    Entitlements(Vec<Entitlement>),
    Grants(GrantBatch),
    Snapshot(Box<ObjectSnapshot>),
    Share(RunId),
}

/// A running writer thread. Shared by the concurrent fetches through `&Sink`.
pub(crate) struct Sink {
    tx: mpsc::Sender<Batch>,
    task: JoinHandle<RunWriter>,
    error: Arc<Mutex<Option<StoreError>>>,
}

impl Sink {
    /// Starts the writer thread for `writer`.
    pub(crate) fn start(mut writer: RunWriter) -> Sink {
        let (tx, mut rx) = mpsc::channel::<Batch>(CHANNEL_DEPTH);
        let error = Arc::new(Mutex::new(None));
        let slot = error.clone();
        let task = tokio::task::spawn_blocking(move || {
            while let Some(batch) = rx.blocking_recv() {
                let result = match batch {
                    Batch::ResourceTypes(b) => writer.put_resource_types(&b),
                    Batch::Resources(b) => writer.put_resources(&b),
                    Batch::Entitlements(b) => writer.put_entitlements(&b),
                    Batch::Grants(b) => b.write_to(&mut writer),
                    Batch::Snapshot(s) => writer.put_snapshot(&s),
                    Batch::Share(run) => writer.share_records_of(run),
                };
                if let Err(e) = result {
                    // Stored before the receiver is dropped, so a failed send finds it.
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    break;
                }
            }
            drop(rx);
            writer
        });
        Sink { tx, task, error }
    }

    async fn send(&self, batch: Batch) -> Result<(), SyncError> {
        if self.tx.send(batch).await.is_ok() {
            return Ok(());
        }
        Err(self.take_error())
    }

    fn take_error(&self) -> SyncError {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => SyncError::Store(e),
            // Another send already took the error and reports it.
            None => SyncError::WriterStopped,
        }
    }

    /// Writes resource types.
    pub(crate) async fn resource_types(&self, b: Vec<ResourceType>) -> Result<(), SyncError> {
        if b.is_empty() {
            return Ok(());
        }
        self.send(Batch::ResourceTypes(b)).await
    }

    /// Writes resources.
    pub(crate) async fn resources(&self, b: Vec<Resource>) -> Result<(), SyncError> {
        if b.is_empty() {
            return Ok(());
        }
        self.send(Batch::Resources(b)).await
    }

    /// Writes entitlements.
    pub(crate) async fn entitlements(&self, b: Vec<Entitlement>) -> Result<(), SyncError> {
        if b.is_empty() {
            return Ok(());
        }
        self.send(Batch::Entitlements(b)).await
    }

    /// Keeps one object's rows with the run (for the next incremental sync).
    pub(crate) async fn snapshot(&self, snapshot: ObjectSnapshot) -> Result<(), SyncError> {
        self.send(Batch::Snapshot(Box::new(snapshot))).await
    }

    /// Makes the run share the records of the earlier run `run` (nothing changed).
    pub(crate) async fn share_records_of(&self, run: RunId) -> Result<(), SyncError> {
        self.send(Batch::Share(run)).await
    }

    /// A handle for a blocking thread (the expansion) to send grants through.
    pub(crate) fn blocking_handle(&self) -> BlockingSink {
        BlockingSink {
            tx: self.tx.clone(),
            error: self.error.clone(),
        }
    }

    /// Stops the thread once everything sent is written; returns the writer, or the store
    /// error that stopped it (with the writer, to mark the run failed).
    pub(crate) async fn close(self) -> (RunWriter, Option<SyncError>) {
        let Sink { tx, task, error } = self;
        drop(tx);
        let writer = match task.await {
            Ok(writer) => writer,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let error = error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(SyncError::Store);
        (writer, error)
    }
}

/// The sink as seen from a blocking thread.
#[derive(Clone)]
pub(crate) struct BlockingSink {
    tx: mpsc::Sender<Batch>,
    error: Arc<Mutex<Option<StoreError>>>,
}

impl BlockingSink {
    /// Writes grants, waiting while the writer catches up. Must not be called from an async
    /// worker (it blocks).
    pub(crate) fn grants(&self, grants: GrantBatch) -> Result<(), SyncError> {
        if matches!(&grants, GrantBatch::Grants(g) if g.is_empty()) {
            return Ok(());
        }
        self.blocking_send(Batch::Grants(grants))
    }

    /// Writes resources, waiting while the writer catches up (as `grants`).
    pub(crate) fn resources(&self, resources: Vec<Resource>) -> Result<(), SyncError> {
        if resources.is_empty() {
            return Ok(());
        }
        self.blocking_send(Batch::Resources(resources))
    }

    fn blocking_send(&self, batch: Batch) -> Result<(), SyncError> {
        if self.tx.blocking_send(batch).is_ok() {
            return Ok(());
        }
        Err(
            match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(e) => SyncError::Store(e),
                None => SyncError::WriterStopped,
            },
        )
    }
}

/// Marks the run succeeded (off the async workers).
pub(crate) async fn finish(writer: RunWriter, summary: RunSummary) -> Result<RunId, SyncError> {
    blocking(move || writer.finish(summary)).await
}

/// Marks the run failed with `message` and removes its rows; the last good run stays the
/// latest.
pub(crate) async fn fail(writer: RunWriter, message: String) -> Result<RunId, SyncError> {
    blocking(move || writer.fail(&message)).await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(SyncError::Store),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
