//! `sf-access serve`: its flags, their validation into a [`ServeConfig`], and the run until
//! SIGTERM or Ctrl-C.
//!
//! The connection, sync and provisioning flags are the same as `sync`'s and `grant`'s and are
//! validated by the same settings code, so a deployment moves between the CLI and the service
//! without renaming anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{ApiTokens, Limits, ServeConfig, ServiceInfo, TlsFiles, runner};
use crate::cli::{ConnectionArgs, SyncArgs};
use crate::exit::{Exit, Failure};
use crate::provision::{AuditLog, ProvisionError, Provisioner, audit};
use crate::salesforce::Client;
use crate::settings::{Env, ProvisionSettings, SettingsError, SyncSettings, process_env};

/// Help text after `sf-access serve --help`.
const SERVE_AFTER_HELP: &str = "\
Authentication is mandatory: callers send `Authorization: Bearer <token>` with a token from
--api-token-file (one per line) or SF_ACCESS_API_TOKENS (comma-separated); several may be valid
at once, for rotation. Without tokens the service refuses to start, unless --insecure-no-auth
is given and --listen is a loopback address.

Every connection, sync and provisioning flag also reads SF_ACCESS_<FLAG>, then BATON_<FLAG>,
and the key <flag> of the --config file, as for `sync` and `grant`.

SIGTERM or Ctrl-C: stop accepting connections, finish in-flight writes and the current sync
page, close the store, exit 0.

Exit codes:
  0  stopped by SIGTERM or Ctrl-C
  2  usage or configuration error (no API token, bad address, bad TLS files)
  1  anything else (the store cannot be opened, the port is taken)";

/// `sf-access serve`.
#[derive(Debug, Clone, Args)]
#[command(after_help = SERVE_AFTER_HELP)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "SF_ACCESS_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT"
    )]
    pub listen: String,
    /// The store syncs write and listings read (created when missing).
    #[arg(
        long,
        short = 'f',
        env = "SF_ACCESS_FILE",
        default_value = "sf-access.db",
        value_name = "PATH"
    )]
    pub file: PathBuf,
    /// Sync on start and then every interval (`90s`, `30m`, `1h`, `1h30m`; at least 1m).
    /// Syncs never overlap: a tick that finds one running is skipped.
    #[arg(long, env = "SF_ACCESS_SYNC_INTERVAL", value_name = "DURATION")]
    pub sync_interval: Option<String>,
    /// Allow grants, revokes, account creation and actions (as baton's -p). Without it those
    /// requests are refused with 403 (dry runs still work).
    #[arg(long, short = 'p')]
    pub provisioning: bool,
    /// Least-privilege profile per license, for profile revokes: 'License=Profile,...'.
    #[arg(long, value_name = "MAPPING")]
    pub license_to_least_privileged_profile_mapping: Option<String>,
    /// The audit log (JSON lines) [default: sf-access-audit.jsonl beside --file].
    #[arg(long, value_name = "PATH", env = "SF_ACCESS_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// File with the API tokens callers must present, one per line (`#` comments allowed).
    #[arg(long, value_name = "PATH", env = "SF_ACCESS_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Serve without authentication. Only accepted with a loopback --listen address.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(
        long,
        value_name = "PATH",
        env = "SF_ACCESS_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        value_name = "PATH",
        env = "SF_ACCESS_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value = "1048576")]
    pub max_body_bytes: usize,
    /// Seconds before a request is answered 504 (a write goes on and is audited).
    #[arg(long, value_name = "SECONDS", default_value = "60")]
    pub http_request_timeout: u64,
    /// Requests served at once; more are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value = "64")]
    pub max_concurrent_requests: usize,
    /// Successful runs to keep in the store [default: 5].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub keep_runs: Option<String>,
    /// Also read connected apps (needs Customize Application).
    #[arg(long, help_heading = "Sync")]
    pub sync_connected_apps: bool,
    /// Include deactivated users [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Sync")]
    pub sync_deactivated_users: Option<String>,
    /// Include portal, community, Chatter Free and guest users [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", help_heading = "Sync")]
    pub sync_non_standard_users: Option<String>,
    /// Use each user's username as its email.
    #[arg(long, help_heading = "Sync")]
    pub user_username_for_email: bool,
    /// Rows per page, 200 to 2000 [default: 2000].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub batch_size: Option<String>,
    /// Make every sync incremental: objects that did not change since the last successful
    /// run are copied from it instead of read (see `sf-access sync --help`).
    #[arg(long, help_heading = "Sync")]
    pub incremental: bool,
    /// Read objects with more rows than this through Bulk API 2.0 query jobs (see
    /// `sf-access sync --help`) [default: off].
    #[arg(long, value_name = "ROWS|off", help_heading = "Sync")]
    pub bulk_above: Option<String>,
    /// Rows per Bulk API 2.0 results set, 2000 to 1000000 [default: 100000].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub bulk_max_records: Option<String>,
    // Last: its help heading ("Connection") applies to the flags after it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Parses `90s`, `30m`, `1h`, `1h30m`, `2d` (or plain seconds).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty interval".into());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: unknown unit {c:?} (use s, m, h or d)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {c:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!(
            "{text:?}: the last number has no unit (s, m, h or d)"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// The shortest `--sync-interval`: a full sync costs API calls from the org's daily budget.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(60);

fn invalid(setting: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// The tokens of `--api-token-file` and `SF_ACCESS_API_TOKENS`.
pub fn load_tokens(args: &ServeArgs, env: Env<'_>) -> Result<ApiTokens, SettingsError> {
    let mut tokens = ApiTokens::new();
    if let Some(path) = &args.api_token_file {
        tokens
            .add_file(path)
            .map_err(|e| invalid("--api-token-file", e.to_string()))?;
    }
    if let Some(text) = env("SF_ACCESS_API_TOKENS") {
        tokens
            .add_text(&text, "SF_ACCESS_API_TOKENS")
            .map_err(|e| invalid("SF_ACCESS_API_TOKENS", e.to_string()))?;
    }
    Ok(tokens)
}

/// Checks the listen address and the authentication choice together: no tokens is only
/// allowed when explicitly asked for, and only where nobody else can connect.
pub fn check_auth(
    listen: &SocketAddr,
    tokens: ApiTokens,
    insecure_no_auth: bool,
) -> Result<Option<ApiTokens>, SettingsError> {
    match (tokens.is_empty(), insecure_no_auth) {
        (false, _) => Ok(Some(tokens)),
        (true, true) if listen.ip().is_loopback() => {
            tracing::warn!(listen = %listen, "Serving WITHOUT authentication (--insecure-no-auth): anyone on this machine can sync and, with --provisioning, change access.");
            Ok(None)
        }
        (true, true) => Err(invalid(
            "--insecure-no-auth",
            format!(
                "is only accepted with a loopback --listen address (127.0.0.1, ::1), not {listen}; give API tokens with --api-token-file or SF_ACCESS_API_TOKENS"
            ),
        )),
        (true, false) => Err(invalid(
            "--api-token-file",
            "no API token is configured: give tokens with --api-token-file or \
             SF_ACCESS_API_TOKENS (at least 16 characters each, e.g. `openssl rand -hex 32`), \
             or --insecure-no-auth on a loopback address for local testing",
        )),
    }
}

/// Everything `serve` needs, validated.
pub struct ServeSettings {
    /// The service configuration.
    pub config: ServeConfig,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Writes, with the audit log.
    pub provisioner: Provisioner,
    /// The sync.
    pub sync: super::SyncFn,
}

impl ServeSettings {
    /// Validates the flags with the environment and the config file.
    pub fn resolve(args: &ServeArgs, env: Env<'_>) -> Result<ServeSettings, Failure> {
        let listen: SocketAddr = args.listen.trim().parse().map_err(|_| {
            invalid(
                "--listen",
                format!(
                    "{:?} is not an address and port; e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every interface",
                    args.listen
                ),
            )
        })?;
        let tokens = check_auth(&listen, load_tokens(args, env)?, args.insecure_no_auth)?;
        let sync_interval = args
            .sync_interval
            .as_deref()
            .map(|text| {
                let interval = parse_interval(text).map_err(|e| invalid("--sync-interval", e))?;
                if interval < MIN_SYNC_INTERVAL {
                    return Err(invalid(
                        "--sync-interval",
                        format!("{text:?} is shorter than the minimum of 1m"),
                    ));
                }
                Ok(interval)
            })
            .transpose()?;
        if args.max_concurrent_requests == 0 || args.http_request_timeout == 0 {
            return Err(invalid(
                "--max-concurrent-requests / --http-request-timeout",
                "must be at least 1",
            )
            .into());
        }
        let sync_args = SyncArgs {
            connection: args.connection.clone(),
            file: args.file.clone(),
            keep_runs: args.keep_runs.clone(),
            sync_connected_apps: args.sync_connected_apps,
            sync_deactivated_users: args.sync_deactivated_users.clone(),
            sync_non_standard_users: args.sync_non_standard_users.clone(),
            user_username_for_email: args.user_username_for_email,
            batch_size: args.batch_size.clone(),
            sequential_pages: false,
            bulk_above: args.bulk_above.clone(),
            bulk_max_records: args.bulk_max_records.clone(),
            incremental: args.incremental,
            output: None,
            format: crate::store::ExportFormat::Jsonl,
            provisioning: args.provisioning,
            license_to_least_privileged_profile_mapping: args
                .license_to_least_privileged_profile_mapping
                .clone(),
        };
        let sync = SyncSettings::resolve(&sync_args, env)?;
        let provision = ProvisionSettings::resolve(
            &args.connection,
            args.provisioning,
            args.license_to_least_privileged_profile_mapping.as_deref(),
            env,
        )?;
        let audit_path = args
            .audit_log
            .clone()
            .unwrap_or_else(|| audit::default_path(&args.file));
        let log = AuditLog::open(&audit_path).map_err(|source| ProvisionError::Audit {
            path: audit_path.clone(),
            change: None,
            source,
        })?;
        // `--api-budget` is per run: each sync gets a fresh client with it; the long-lived
        // client of writes and readiness checks would otherwise run out for good.
        let mut shared = provision.connection.client.clone();
        shared.usage.budget = None;
        let provisioner = Provisioner::new(Client::new(shared)?)
            .with_provisioning(provision.provisioning)
            .with_mapping(provision.mapping)
            .with_audit_log(Arc::new(log));
        let info = ServiceInfo {
            provisioning: provision.provisioning,
            sync_interval,
            sync_options: sync.options.to_json(),
            synced_types: sync.options.resource_types().iter().map(|t| t.id).collect(),
        };
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let config = ServeConfig {
            store: args.file.clone(),
            tokens,
            limits: Limits {
                body_bytes: args.max_body_bytes,
                request_timeout: Duration::from_secs(args.http_request_timeout),
                max_concurrent: args.max_concurrent_requests,
                ..Limits::default()
            },
            info,
            tls,
        };
        Ok(ServeSettings {
            config,
            listen,
            provisioner,
            sync: runner::library_sync(sync.connection.client, sync.target, sync.options),
        })
    }
}

/// Runs `sf-access serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> Result<Exit, Failure> {
    let settings = ServeSettings::resolve(&args, &process_env)?;
    let listener = std::net::TcpListener::bind(settings.listen).map_err(|source| {
        super::ServeError::Listen {
            addr: settings.listen.to_string(),
            source,
        }
    })?;
    let service = super::start(
        settings.config,
        settings.provisioner,
        settings.sync,
        listener,
    )
    .await?;
    service
        .run_until(crate::sync::cli::stop_requested())
        .await
        .map_err(|source| super::ServeError::Listen {
            addr: settings.listen.to_string(),
            source,
        })?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_units_and_sums() {
        assert_eq!(parse_interval("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_interval("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_interval("120").unwrap(), Duration::from_secs(120));
        for bad in ["", "h", "5x", "1h30", "99999999999999999999d"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    fn tokens(text: &str) -> ApiTokens {
        let mut t = ApiTokens::new();
        t.add_text(text, "test").unwrap();
        t
    }

    #[test]
    fn no_tokens_is_refused_unless_insecure_on_loopback() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_auth(&loopback, ApiTokens::new(), false).is_err());
        assert!(check_auth(&any, ApiTokens::new(), true).is_err());
        assert!(
            check_auth(&loopback, ApiTokens::new(), true)
                .unwrap()
                .is_none()
        );
        assert!(
            check_auth(&any, tokens("0123456789abcdef0123"), false)
                .unwrap()
                .is_some()
        );
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(check_auth(&v6, ApiTokens::new(), true).unwrap().is_none());
    }

    #[test]
    fn tokens_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# rotation: new first\naaaaaaaaaaaaaaaaaaaa\n").unwrap();
        let args = ServeArgs {
            api_token_file: Some(file),
            ..test_args()
        };
        let env = |name: &str| {
            (name == "SF_ACCESS_API_TOKENS")
                .then(|| "bbbbbbbbbbbbbbbbbbbb,cccccccccccccccccccc".to_owned())
        };
        let tokens = load_tokens(&args, &env).unwrap();
        assert_eq!(tokens.len(), 3);
        assert!(tokens.accepts(b"cccccccccccccccccccc"));
    }

    fn test_args() -> ServeArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Wrapper::parse_from(["serve"]).serve
    }
}
