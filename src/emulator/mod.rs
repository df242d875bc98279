//! The local Salesforce org emulator: an in-memory org served over HTTP with Salesforce's
//! OAuth token endpoint, REST query/sObject/composite/limits resources, Bulk API 2.0 query
//! jobs, its error shapes, permission gates, limits and fault injection.
//!
//! It exists so that every test, benchmark and demo runs offline on 127.0.0.1. Where it is
//! kinder than Salesforce the connector breaks in production, so it errs on the strict side.
//! It must not be used as a general-purpose Salesforce substitute: it models the identity
//! objects of the facts sheet and the SOQL subset connectors use, nothing else.

pub mod bulk;
pub mod caller;
pub mod cli;
pub mod dml;
pub mod dump;
pub mod error;
pub mod faults;
pub mod generate;
pub mod oauth;
pub mod org;
pub mod query;
pub mod schema;
pub mod server;
pub mod soql;
pub mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::watch;

use self::bulk::BulkOptions;
use self::faults::{FaultSpec, Faults};
use self::generate::{Preset, SizeOverrides};
use self::oauth::Listener;
use self::org::Org;
use self::server::AppState;
pub use self::stats::Stats;

/// The API version the emulator advertises in its credentials line.
pub const DEFAULT_API_VERSION: &str = "66.0";

const JWT_PRIVATE_KEY_PEM: &str = include_str!("keys/jwt-private.pem");

/// Where the emulated org comes from.
#[derive(Debug, Clone)]
pub enum OrgSource {
    /// Generated from a preset, a seed and per-object size overrides.
    Preset {
        /// Size preset.
        preset: Preset,
        /// Generator seed: the same seed and sizes give the same org.
        seed: u64,
        /// Per-object overrides.
        sizes: SizeOverrides,
    },
    /// Loaded from a JSON dump (`sf-access emulator --org-file`).
    File(PathBuf),
    /// Given ready-made (tests).
    Org(Box<Org>),
}

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address of the org's My Domain listener (`instance_url`).
    pub listen: SocketAddr,
    /// Address of the login-host listener (`login_url`).
    pub login_listen: SocketAddr,
    /// The org.
    pub source: OrgSource,
    /// Injected faults (latency included).
    pub faults: FaultSpec,
    /// Serve HTTPS with a self-signed certificate.
    pub tls: bool,
    /// How Bulk API 2.0 query jobs behave in time and size: the `sf-access emulator`
    /// defaults (2 s per job); tests that do not wait set [`BulkOptions::instant`].
    pub bulk: BulkOptions,
}

impl EmulatorConfig {
    /// The `small` preset with seed 1 on 127.0.0.1 random ports, no faults, plain HTTP.
    pub fn small() -> EmulatorConfig {
        EmulatorConfig::preset(Preset::Small)
    }

    /// A preset with seed 1 on 127.0.0.1 random ports.
    pub fn preset(preset: Preset) -> EmulatorConfig {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            login_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            source: OrgSource::Preset {
                preset,
                seed: 1,
                sizes: SizeOverrides::default(),
            },
            faults: FaultSpec::default(),
            tls: false,
            bulk: BulkOptions::default(),
        }
    }
}

/// Credentials for every auth flow of the integration user: the JSON line the emulator prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Credentials {
    /// The org's My Domain URL (REST and client-credentials token requests).
    pub instance_url: String,
    /// The login host stand-in (JWT audience, password and refresh flows).
    pub login_url: String,
    /// The API version to use.
    pub api_version: String,
    /// Connected app consumer key.
    pub client_id: String,
    /// Connected app consumer secret.
    pub client_secret: String,
    /// The integration user's username (also the JWT subject).
    pub username: String,
    /// The integration user's password.
    pub password: String,
    /// The integration user's security token (appended to the password).
    pub security_token: String,
    /// A refresh token issued to the integration user.
    pub refresh_token: String,
    /// PEM file with the private key whose certificate the connected app trusts (JWT bearer).
    pub private_key_file: PathBuf,
    /// PEM file with the self-signed certificate, with `--tls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The org could not be built or loaded.
    #[error("cannot load the org: {0}")]
    Org(String),
    /// Writing the key or certificate files failed.
    #[error("cannot write the emulator's key files: {0}")]
    Files(#[source] std::io::Error),
    /// TLS set-up failed.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// A running emulator. Dropping it stops the servers and deletes its key files.
pub struct EmulatorHandle {
    credentials: Credentials,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _files: tempfile::TempDir,
}

impl EmulatorHandle {
    /// Credentials for every auth flow.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The org's My Domain URL.
    pub fn instance_url(&self) -> &str {
        &self.credentials.instance_url
    }

    /// The org, for tests that change its state (permissions, settings, records).
    pub fn org(&self) -> &Arc<RwLock<Org>> {
        &self.state.org
    }

    /// Request counters and row counts (what `GET /__emulator/stats` returns).
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.state
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reset();
    }

    /// Replaces the fault specification.
    pub fn set_faults(&self, spec: FaultSpec) {
        self.state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(spec);
    }

    /// Invalidates every access token now (refresh tokens stay valid).
    pub fn expire_all_tokens(&self) {
        self.state
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expire_all();
    }

    /// Stops both listeners and waits for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn build_org(source: OrgSource) -> Result<Org, EmulatorError> {
    match source {
        OrgSource::Preset {
            preset,
            seed,
            sizes,
        } => Ok(generate::generate(&preset.sizes().with(&sizes), seed)),
        OrgSource::File(path) => dump::read_file(&path).map_err(EmulatorError::Org),
        OrgSource::Org(org) => Ok(*org),
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, EmulatorError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })
}

/// Starts an emulator in this process and returns once both listeners accept connections.
pub async fn spawn(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    let org = build_org(config.source)?;
    let instance = bind(config.listen).await?;
    let login = bind(config.login_listen).await?;
    let instance_addr = instance.local_addr().map_err(EmulatorError::Files)?;
    let login_addr = login.local_addr().map_err(EmulatorError::Files)?;
    let scheme = if config.tls { "https" } else { "http" };
    let instance_url = format!("{scheme}://{instance_addr}");
    let login_url = format!("{scheme}://{login_addr}");

    let files = tempfile::Builder::new()
        .prefix("sf-access-emulator-")
        .tempdir()
        .map_err(EmulatorError::Files)?;
    let private_key_file = files.path().join("jwt-private-key.pem");
    std::fs::write(&private_key_file, JWT_PRIVATE_KEY_PEM).map_err(EmulatorError::Files)?;
    let tls = if config.tls {
        Some(
            tls::self_signed(files.path())
                .await
                .map_err(EmulatorError::Tls)?,
        )
    } else {
        None
    };

    let integration = org.integration.clone();
    let username = org
        .value(&integration.user_id, "Username")
        .and_then(|v| v.as_text())
        .unwrap_or_default()
        .to_string();
    let state = Arc::new(AppState::new(
        org,
        Faults::new(config.faults),
        config.bulk,
        instance_url.clone(),
        login_url.clone(),
    ));
    let (shutdown, signal) = watch::channel(false);
    let mut tasks = Vec::new();
    for (listener, kind) in [(instance, Listener::Instance), (login, Listener::Login)] {
        let app = server::router(state.clone(), kind);
        let mut signal = signal.clone();
        let task = match &tls {
            Some(tls) => {
                let std_listener = listener.into_std().map_err(EmulatorError::Files)?;
                tokio::spawn(tls::serve(std_listener, tls.config.clone(), app, signal))
            }
            None => tokio::spawn(async move {
                let stop = async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await;
            }),
        };
        tasks.push(task);
    }
    Ok(EmulatorHandle {
        credentials: Credentials {
            instance_url,
            login_url,
            api_version: DEFAULT_API_VERSION.to_string(),
            client_id: integration.client_id,
            client_secret: integration.client_secret,
            username,
            password: integration.password,
            security_token: integration.security_token,
            refresh_token: integration.refresh_token,
            private_key_file,
            ca_cert_file: tls.map(|t| t.cert_file),
        },
        state,
        shutdown,
        tasks,
        _files: files,
    })
}

mod tls {
    //! `--tls`: a self-signed certificate for 127.0.0.1 and localhost, written to a file the
    //! client can trust, served with rustls.

    use std::path::{Path, PathBuf};

    use axum::Router;
    use axum_server::tls_rustls::RustlsConfig;
    use tokio::sync::watch;

    pub struct Tls {
        pub config: RustlsConfig,
        pub cert_file: PathBuf,
    }

    pub async fn self_signed(dir: &Path) -> Result<Tls, String> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .map_err(|e| e.to_string())?;
        let cert_pem = certified.cert.pem();
        let key_pem = certified.signing_key.serialize_pem();
        let cert_file = dir.join("emulator-ca.pem");
        std::fs::write(&cert_file, &cert_pem).map_err(|e| e.to_string())?;
        let config = RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Tls { config, cert_file })
    }

    pub async fn serve(
        listener: std::net::TcpListener,
        config: RustlsConfig,
        app: Router,
        mut signal: watch::Receiver<bool>,
    ) {
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            let _ = signal.wait_for(|stop| *stop).await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        });
        let server = match axum_server::from_tcp_rustls(listener, config) {
            Ok(server) => server,
            Err(e) => {
                tracing::error!(error = %e, "cannot serve TLS");
                return;
            }
        };
        let _ = server.handle(handle).serve(app.into_make_service()).await;
    }
}
