//! A small pool of read connections to the store, used off the async threads.
//!
//! A `Store` holds one SQLite connection and is not `Sync`, and SQLite calls block; so each
//! read checks a connection out, runs on the blocking pool, and puts it back. The sync writes
//! through its own connection (WAL mode lets readers read meanwhile). `close` drops every idle
//! connection and makes later reads fail, which is how shutdown closes the store cleanly.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;

use super::error::ApiError;
use crate::store::{Store, StoreError};

/// Idle connections kept for reuse; more may be open while many reads run at once.
const MAX_IDLE: usize = 8;

/// Read connections to one store file.
pub struct StorePool {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
    closed: AtomicBool,
}

impl StorePool {
    /// Opens the store at `path`, creating it (and its schema) when missing, so the service
    /// can start before its first sync.
    pub fn open(path: &Path) -> Result<StorePool, StoreError> {
        let store = Store::open(path)?;
        Ok(StorePool {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![store]),
            closed: AtomicBool::new(false),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn checkout(&self) -> Result<Store, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(store) => Ok(store),
            None => Store::open_existing(&self.path),
        }
    }

    fn checkin(&self, store: Store) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(store);
        }
    }

    /// Runs `read` with a connection on the blocking pool.
    pub async fn read<R, F>(self: &std::sync::Arc<Self>, read: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, ApiError> + Send + 'static,
    {
        if self.closed.load(Ordering::SeqCst) {
            return Err(ApiError::shutting_down());
        }
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = pool.checkout()?;
            let result = read(&store);
            pool.checkin(store);
            result
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "A store read task failed.");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "reading the store failed unexpectedly",
            )
        })?
    }

    /// Closes every idle connection; reads after this fail with `shutting_down`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        drop(idle);
        tracing::info!(path = %self.path.display(), "Store closed.");
    }
}
