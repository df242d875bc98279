//! `sf-access serve`: the hosted-connector HTTP service.
//!
//! Governance platforms call it to trigger syncs, page through what the latest good sync
//! found, and grant, revoke, create accounts and run actions. It is a thin adapter: every
//! handler is argument plumbing around one library call (`sync::run` through a [`SyncFn`],
//! the store's keyset readers, `provision::grant` / `revoke` / `create_account`,
//! `actions::run`). What it adds is the HTTP surface: bearer-token authentication, request
//! ids, JSON errors with stable codes, page tokens, `Idempotency-Key`, one sync at a time and
//! the schedule, limits, metrics, readiness and a graceful shutdown.
//!
//! It must not build SOQL, read Salesforce records itself, or write the store other than
//! through the sync: those are the library's jobs. The external contract is
//! `schemas/openapi.json`.

mod app;
pub mod auth;
mod catalog;
pub mod cli;
pub mod error;
mod handlers;
mod idempotency;
pub mod jobs;
mod metrics;
mod paging;
mod runner;
mod store_pool;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use self::app::AppState;
pub use self::app::{READY_CACHE, REQUEST_ID_HEADER, ROUTES};
pub use self::auth::ApiTokens;
pub use self::handlers::OPENAPI;
use self::idempotency::IdempotencyCache;
use self::jobs::SyncJobs;
pub use self::jobs::{SyncContext, SyncFailure, SyncFn, SyncProgress, SyncSuccess};
use self::metrics::Metrics;
pub use self::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use self::runner::{library_sync, sync_error_code};
use self::store_pool::StorePool;
use crate::model::ResourceTypeId;
use crate::provision::Provisioner;
use crate::store::StoreError;

/// Size and time limits of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted (`--max-body-bytes`).
    pub body_bytes: usize,
    /// Longest a request may take before it is answered 504 (`--http-request-timeout`).
    pub request_timeout: Duration,
    /// Requests served at once; more are answered 503 at once (`--max-concurrent-requests`).
    pub max_concurrent: usize,
    /// How long a successful Salesforce readiness check is trusted.
    pub ready_cache: Duration,
    /// How long shutdown waits for open connections after it stops accepting.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_concurrent: 64,
            ready_cache: READY_CACHE,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What the service tells clients about itself (`/v1/capabilities`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// Writes are allowed (`--provisioning`); taken from the provisioner.
    pub provisioning: bool,
    /// The schedule, when any.
    pub sync_interval: Option<Duration>,
    /// The options syncs run with, as stored with each run.
    pub sync_options: serde_json::Value,
    /// The resource types a sync writes.
    pub synced_types: Vec<ResourceTypeId>,
}

/// `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Everything the service needs besides the library objects.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store file (created when missing).
    pub store: PathBuf,
    /// Accepted API tokens; `None` only with `--insecure-no-auth` on a loopback address.
    pub tokens: Option<ApiTokens>,
    /// Limits.
    pub limits: Limits,
    /// Static facts for clients.
    pub info: ServiceInfo,
    /// Serve HTTPS with these files.
    pub tls: Option<TlsFiles>,
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store cannot be opened or created.
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    /// The TLS certificate or key cannot be loaded.
    #[error("cannot load the TLS certificate {} and key {}", files.cert.display(), files.key.display())]
    Tls {
        /// The files.
        files: TlsFiles,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Listening failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// The exit code: unusable TLS files are a configuration error (2), the rest is 1.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            ServeError::Tls { .. } => crate::exit::Exit::Usage,
            ServeError::Store(_) | ServeError::Listen { .. } => crate::exit::Exit::Failure,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Store(e) => e.hint(),
            ServeError::Tls { .. } => Some(
                "--tls-cert must be a PEM certificate chain and --tls-key its PEM private key, \
                 both readable by this process"
                    .to_owned(),
            ),
            ServeError::Listen { .. } => Some(
                "another process may be using the port; choose another --listen address".to_owned(),
            ),
        }
    }
}

/// A running service.
pub struct RunningService {
    addr: SocketAddr,
    state: Arc<AppState>,
    handle: axum_server::Handle<SocketAddr>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the service on `listener` and returns once it accepts connections. Syncs run
/// `sync`; writes and the readiness check use `provisioner`.
pub async fn start(
    config: ServeConfig,
    provisioner: Provisioner,
    sync: SyncFn,
    listener: std::net::TcpListener,
) -> Result<RunningService, ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: "the listener".to_owned(),
        source,
    })?;
    let listen_error = |source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_error)?;
    let store = Arc::new(StorePool::open(&config.store)?);
    let metrics = Arc::new(Metrics::default());
    let jobs = Arc::new(SyncJobs::new(sync, metrics.clone()));
    let mut info = config.info;
    info.provisioning = provisioner.is_provisioning();
    let state = Arc::new(AppState {
        info,
        tokens: config.tokens,
        limits: config.limits,
        store,
        jobs: jobs.clone(),
        provisioner,
        metrics,
        idempotency: Arc::new(IdempotencyCache::default()),
        writes: TaskTracker::new(),
        in_flight: Arc::new(Semaphore::new(config.limits.max_concurrent.max(1))),
        ready_until: std::sync::Mutex::new(None),
        shutting_down: AtomicBool::new(false),
    });
    let app = app::router(state.clone()).into_make_service();
    let handle = axum_server::Handle::new();
    let server = match &config.tls {
        Some(files) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .map_err(|source| ServeError::Tls {
                    files: files.clone(),
                    source,
                })?;
            let server = axum_server::from_tcp_rustls(listener, tls).map_err(listen_error)?;
            tokio::spawn(server.handle(handle.clone()).serve(app))
        }
        None => {
            let server = axum_server::from_tcp(listener).map_err(listen_error)?;
            tokio::spawn(server.handle(handle.clone()).serve(app))
        }
    };
    // `listening` resolves once the accept loop runs (or never, if it failed at once).
    tokio::select! {
        _ = handle.listening() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
    if let Some(interval) = state.info.sync_interval {
        jobs.schedule(interval);
    }
    tracing::info!(
        listen = %addr,
        tls = config.tls.is_some(),
        provisioning = state.info.provisioning,
        auth = if state.tokens.is_some() { "bearer" } else { "none" },
        store = %state.store.path().display(),
        "Service started."
    );
    Ok(RunningService {
        addr,
        state,
        handle,
        server,
    })
}

impl RunningService {
    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` completes (a signal) or the server fails, then shuts down.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let failed = tokio::select! {
            () = stop => None,
            result = &mut self.server => Some(result),
        };
        if let Some(result) = failed {
            // The accept loop ended on its own: still finish writes and the sync cleanly.
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(std::io::Error::other(e)),
            };
            self.drain().await;
            return error.map_or(Ok(()), Err);
        }
        self.shutdown().await;
        Ok(())
    }

    /// Graceful shutdown: stop accepting connections, refuse new writes and syncs, let
    /// in-flight requests and writes finish, let the running sync finish its current page
    /// (its run is marked failed; the previous good run stays the latest), then close the
    /// store.
    pub async fn shutdown(mut self) {
        tracing::info!(
            "Shutting down: no new connections; finishing writes and the current sync page."
        );
        self.state.shutting_down.store(true, Ordering::SeqCst);
        self.handle
            .graceful_shutdown(Some(self.state.limits.shutdown_grace));
        let server = &mut self.server;
        let (_, _, served) = tokio::join!(
            self.state.jobs.shutdown(),
            wait_for_writes(&self.state),
            server
        );
        if let Ok(Err(e)) = served {
            tracing::warn!(error = %e, "The server stopped with an error.");
        }
        self.state.store.close();
        tracing::info!("Service stopped.");
    }

    async fn drain(self) {
        self.state.shutting_down.store(true, Ordering::SeqCst);
        tokio::join!(self.state.jobs.shutdown(), wait_for_writes(&self.state));
        self.state.store.close();
    }
}

async fn wait_for_writes(state: &AppState) {
    state.writes.close();
    state.writes.wait().await;
}
