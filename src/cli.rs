//! The command line as the user types it: clap derive, one struct per subcommand.
//!
//! This module only mirrors what was typed. Validation into typed settings happens in
//! `settings.rs` (connection) or in the library function each command calls. Connection
//! flags carry no clap `env`: each reads two variables (`SF_ACCESS_<FLAG>`, then baton's
//! `BATON_<FLAG>`) and `settings.rs` must know whether a secret came from the command line,
//! so it does the environment lookup itself.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sf-access: Salesforce access governance connector.
///
/// Syncs Salesforce users, roles, groups, profiles, permission sets, permission set groups,
/// connected apps and licenses into a normalized resource / entitlement / grant model,
/// provisions access, and ships a local Salesforce emulator for tests and demos.
///
/// baton-salesforce command lines work unchanged: without a subcommand sf-access syncs, and
/// baton's one-shot flags (--grant-entitlement/--grant-principal/--grant-principal-type,
/// --revoke-grant, --invoke-action/--invoke-action-args, or their BATON_* variables) run
/// grant, revoke or action.
#[derive(Debug, Parser)]
#[command(name = "sf-access", version, about, long_about, after_help = crate::exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// Log level filter (error, warn, info, debug, trace), or a RUST_LOG-style directive
    /// [env: SF_ACCESS_LOG_LEVEL, then baton's BATON_LOG_LEVEL] [default: info].
    #[arg(long, global = true, env = "SF_ACCESS_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: `text` (baton's `console` is the same), or `json` (one JSON object per
    /// line, for log collectors) [env: SF_ACCESS_LOG_FORMAT, then baton's BATON_LOG_FORMAT]
    /// [default: json for `serve` when standard error is not a terminal, else text].
    #[arg(
        long,
        global = true,
        env = "SF_ACCESS_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<crate::telemetry::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log level: the flag or `SF_ACCESS_LOG_LEVEL`, then baton's `BATON_LOG_LEVEL`, then
    /// `info`. (clap reads one variable per flag; baton's is the fallback read here.)
    pub fn log_level(&self, env: &dyn Fn(&str) -> Option<String>) -> String {
        self.log_level
            .clone()
            .or_else(|| env("BATON_LOG_LEVEL").filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "info".to_owned())
    }

    /// The log format: the flag or `SF_ACCESS_LOG_FORMAT`, then baton's `BATON_LOG_FORMAT`
    /// (`json` or `console`), then text.
    pub fn log_format(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::telemetry::LogFormat, String> {
        use clap::ValueEnum;
        if let Some(format) = self.log_format {
            return Ok(format);
        }
        match env("BATON_LOG_FORMAT").filter(|v| !v.is_empty()) {
            Some(value) => crate::telemetry::LogFormat::from_str(value.trim(), true)
                .map_err(|_| format!("BATON_LOG_FORMAT: {value:?} is not json, console or text")),
            // The service logs JSON off a terminal, for the log collectors of the platforms
            // that host it.
            None if matches!(self.command, Command::Serve(_))
                && !std::io::IsTerminal::is_terminal(&std::io::stderr()) =>
            {
                Ok(crate::telemetry::LogFormat::Json)
            }
            None => Ok(crate::telemetry::LogFormat::Text),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight: checks the connection, the login, the org's edition, the integration
    /// user's permissions and the API budget, one line per check.
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(CheckArgs),
    /// Run the local Salesforce org emulator until SIGINT/SIGTERM.
    ///
    /// Prints ONE JSON line to stdout with the instance URL, the login URL and credentials for
    /// every auth flow of the integration user, then serves until interrupted.
    #[cfg(feature = "emulator")]
    Emulator(crate::emulator::cli::EmulatorArgs),
    /// Write the records of a sync run as jsonl, json or the csv access-review grid.
    ///
    /// Reads the latest successful run of the store (or --run ID). The same org state gives
    /// byte-identical output. A file output is written to a temporary file and renamed into
    /// place, so a failed export never replaces a good one.
    Export(crate::store::cli::ExportArgs),
    /// Print resources, entitlements, grants or sync runs from the store as a table or JSON.
    ///
    /// --file may also name a c1z written by a baton connector or by `export --format c1z`;
    /// its syncs are the runs.
    Show(crate::store::cli::ShowArgs),
    /// Run the hosted connector service: an HTTP API to trigger syncs, page through the
    /// latest good sync, and grant, revoke, create accounts and run actions.
    ///
    /// Every request needs a bearer token (--api-token-file or SF_ACCESS_API_TOKENS). The
    /// OpenAPI document is served at /v1/openapi.json.
    Serve(Box<crate::serve::cli::ServeArgs>),
    /// Grant an entitlement to a user (or a group to a group), idempotently.
    ///
    /// Reads the current state first: a grant that exists is reported as already_exists
    /// without a write; a role or profile that replaces another reports the previous one.
    /// After the write the record is read back and the grant printed as Salesforce shows it.
    #[command(after_help = crate::provision::cli::WRITE_AFTER_HELP)]
    Grant(crate::provision::cli::GrantArgs),
    /// Revoke a grant, idempotently (already_revoked when it does not exist).
    ///
    /// A role is cleared only if the user still holds it. A profile cannot be left empty:
    /// the user moves to the least-privilege profile of their license
    /// (--license-to-least-privileged-profile-mapping), checked before any write.
    #[command(after_help = crate::provision::cli::WRITE_AFTER_HELP)]
    Revoke(crate::provision::cli::RevokeArgs),
    /// Create a user, or report the existing one; never sets or resets a password.
    ///
    /// Checks the values, the username and a free seat on the profile's license before
    /// creating. An existing active user is reported as already_exists and left unchanged;
    /// an inactive one is reactivated only with --reactivate.
    #[command(after_help = crate::provision::cli::WRITE_AFTER_HELP)]
    CreateAccount(crate::provision::cli::CreateAccountArgs),
    /// List the connector actions with their arguments (no credentials needed).
    Actions(crate::actions::cli::ActionsArgs),
    /// Run a connector action: validates --args against its JSON Schema, runs it and prints
    /// the report (with the result) as JSON.
    #[command(after_help = crate::provision::cli::WRITE_AFTER_HELP)]
    Action(crate::actions::cli::ActionArgs),
    /// Print the connector's capabilities as baton does (c1.connector.v2.ConnectorCapabilities
    /// in protobuf JSON). Needs no credentials.
    Capabilities(crate::baton::CapabilitiesArgs),
    /// Print the configuration schema: a JSON Schema of the --config file (the default), or
    /// baton's field list with --format baton. Needs no credentials.
    Config(crate::baton::ConfigArgs),
    /// Read users, roles, groups, profiles, permission sets, permission set groups, licenses
    /// (and with --sync-connected-apps connected apps and OAuth tokens) into the store.
    ///
    /// Every object is read by REST query pages (ceil(rows / batch) API calls each), objects
    /// and the pages of a big object concurrently; with --bulk-above, the rest of a big object
    /// through one Bulk API 2.0 query job (far fewer calls, slower). The run becomes the latest only when complete; a failed or interrupted run never
    /// replaces the last good one.
    #[command(after_help = SYNC_AFTER_HELP)]
    Sync(SyncArgs),
    /// Start the emulator with the small demo org, sync it into ./sf-access-demo.db, print
    /// the summary and what to try next.
    #[cfg(feature = "emulator")]
    Demo(DemoArgs),
}

/// Help text after `sf-access sync --help`.
const SYNC_AFTER_HELP: &str = "\
Every flag also reads the environment variable SF_ACCESS_<FLAG> (for example
SF_ACCESS_SYNC_CONNECTED_APPS=true), then baton-salesforce's BATON_<FLAG>, and the key <flag>
of the --config file (--file reads SF_ACCESS_FILE only). Precedence: flag > environment >
config file > default.

Exit codes:
  0  the run succeeded
  2  usage or configuration error
  3  authentication failed
  4  the integration user lacks a permission an object needs (run `sf-access check`)
  5  an API limit was reached (daily requests or --api-budget)
  1  anything else (network, store, interrupted)";

/// Help text after `sf-access check --help`.
const CHECK_AFTER_HELP: &str = "\
Every connection flag also reads the environment variable SF_ACCESS_<FLAG> (for example
SF_ACCESS_INSTANCE_URL), then baton-salesforce's BATON_<FLAG>, and the key <flag> (for
example instance-url) of the --config file. Precedence: flag > environment > config file >
default. Secrets given as plain flags work but print a warning; prefer the environment, the
config file or the --...-file flags.

Exit codes:
  0  every needed check passed
  2  usage or configuration error (including a least-privilege mapping that does not fit)
  3  authentication failed
  4  a needed permission is missing, or the org's edition has no API access
  5  the org's daily API requests are exhausted
  1  anything else (network, unexpected answer)";

/// The connection settings every Salesforce command shares. Flag names follow
/// baton-salesforce so existing deployments can switch without renaming.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Settings file (`.toml` or `.json`) with the same keys as the flags (`instance-url = "..."`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The org: a My Domain name or host, a Lightning, Setup or sandbox host,
    /// login.salesforce.com / test.salesforce.com, or http://127.0.0.1:PORT for the emulator.
    #[arg(long, value_name = "URL")]
    pub instance_url: Option<String>,
    /// jwt-bearer, client-credentials, refresh-token or username-password (deprecated by
    /// Salesforce). Inferred from the credentials given when absent.
    #[arg(long, value_name = "METHOD")]
    pub auth_method: Option<String>,
    /// Consumer key of the connected app (or external client app).
    #[arg(long, value_name = "KEY")]
    pub salesforce_client_id: Option<String>,
    /// Consumer secret. Prefer SF_ACCESS_SALESFORCE_CLIENT_SECRET or the -file flag.
    #[arg(long, value_name = "SECRET")]
    pub salesforce_client_secret: Option<String>,
    /// File holding the consumer secret.
    #[arg(long, value_name = "PATH")]
    pub salesforce_client_secret_file: Option<PathBuf>,
    /// JWT bearer: path to the PEM private key whose certificate is uploaded to the app
    /// (the environment and config file may also hold the PEM text itself).
    #[arg(long, value_name = "PATH")]
    pub salesforce_private_key: Option<String>,
    /// JWT bearer: the Salesforce username to act as (defaults to --salesforce-username).
    #[arg(long, value_name = "USERNAME")]
    pub salesforce_jwt_subject: Option<String>,
    /// Login host: the JWT audience (https://test.salesforce.com for sandboxes, derived from
    /// --instance-url when absent), and the token endpoint when the API host is unknown.
    #[arg(long, value_name = "URL")]
    pub salesforce_login_url: Option<String>,
    /// Username (username-password flow; JWT subject when --salesforce-jwt-subject is absent).
    #[arg(long, value_name = "USERNAME")]
    pub salesforce_username: Option<String>,
    /// Password for the DEPRECATED username-password flow. Prefer the environment or -file.
    #[arg(long, value_name = "PASSWORD")]
    pub salesforce_password: Option<String>,
    /// File holding the password.
    #[arg(long, value_name = "PATH")]
    pub salesforce_password_file: Option<PathBuf>,
    /// Security token, appended to the password (username-password flow).
    #[arg(long, value_name = "TOKEN")]
    pub security_token: Option<String>,
    /// File holding the security token.
    #[arg(long, value_name = "PATH")]
    pub security_token_file: Option<PathBuf>,
    /// Refresh token (refresh-token flow). Prefer the environment or -file.
    #[arg(long, value_name = "TOKEN")]
    pub salesforce_refresh_token: Option<String>,
    /// File holding the refresh token.
    #[arg(long, value_name = "PATH")]
    pub salesforce_refresh_token_file: Option<PathBuf>,
    /// REST API version [default: 64.0].
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
    /// Requests per second at most [default: 100]. Salesforce has no per-second limit (its
    /// limits are the daily allocation and 25 long-running requests at once); this and
    /// --max-concurrency only keep a sync from flooding the org.
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<String>,
    /// Requests in flight at once at most [default: 8].
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<String>,
    /// Attempts per request, the first included, for retryable failures [default: 4].
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<String>,
    /// Seconds before a request times out [default: 120].
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<String>,
    /// Stop the run before it makes more than N API calls.
    #[arg(long, value_name = "N")]
    pub api_budget: Option<String>,
    /// Warn when the org has used this percentage of its daily API requests [default: 80].
    #[arg(long, value_name = "PERCENT")]
    pub api_usage_warning: Option<String>,
    /// Extra trusted CA certificates (PEM), for TLS-intercepting proxies and the emulator.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

/// `sf-access check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Print one JSON object instead of the checklist.
    #[arg(long)]
    pub json: bool,
    /// Also check what provisioning needs (Assign Permission Sets, Manage Roles, Manage
    /// Public Groups).
    #[arg(long, short = 'p')]
    pub provisioning: bool,
    /// Also check what syncing connected apps needs (Customize Application).
    #[arg(long)]
    pub sync_connected_apps: bool,
    /// Least-privilege profile per license: 'License=Profile,...' (license name or
    /// LicenseDefinitionKey; profile name or ID). Checked to exist and to fit.
    #[arg(long, value_name = "MAPPING")]
    pub license_to_least_privileged_profile_mapping: Option<String>,
}

/// `sf-access sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The store to write (created when missing).
    #[arg(
        long,
        short = 'f',
        env = "SF_ACCESS_FILE",
        default_value = "sf-access.db",
        value_name = "PATH",
        help_heading = "Sync"
    )]
    pub file: PathBuf,
    /// Successful runs to keep in the store, this one included [default: 5].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub keep_runs: Option<String>,
    /// Also read connected apps: who may use them (via profiles and permission sets) and who
    /// has authorized them (OAuth tokens). Needs Customize Application.
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
    /// Follow each query's nextRecordsUrl one page after the other, instead of reading the
    /// remaining pages of a big object concurrently by their offsets on the query locator.
    #[arg(long, help_heading = "Sync")]
    pub sequential_pages: bool,
    /// Read the rest of an object whose first page says it has more than ROWS rows through
    /// one Bulk API 2.0 query job (create, polls, CSV results of --bulk-max-records rows each)
    /// instead of REST pages of 2,000: far fewer API calls for big objects, at the cost of the
    /// job's queueing time in Salesforce. `off` reads by REST pages only [default: off].
    #[arg(long, value_name = "ROWS|off", help_heading = "Sync")]
    pub bulk_above: Option<String>,
    /// Rows per Bulk API 2.0 results set (each set is one API call), 2000 to 1000000
    /// [default: 100000].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub bulk_max_records: Option<String>,
    /// Copy the objects that did not change since the last successful run instead of reading
    /// them: one change probe per big object (row count and newest change stamps) decides.
    /// The result is the same as a full sync's; without a previous run it is a full sync.
    #[arg(long, help_heading = "Sync")]
    pub incremental: bool,
    /// Also write an export of the run to this file (or - for standard output).
    #[arg(long, short = 'o', value_name = "PATH|-", help_heading = "Sync")]
    pub output: Option<crate::store::Output>,
    /// Format of --output.
    #[arg(long, value_enum, default_value = "jsonl", help_heading = "Sync")]
    pub format: crate::store::ExportFormat,
    /// Accepted so that baton-salesforce command lines work unchanged; a sync never writes to
    /// Salesforce, so it changes nothing here.
    #[arg(long, short = 'p', help_heading = "baton compatibility")]
    pub provisioning: bool,
    /// Accepted so that baton-salesforce command lines work unchanged; used by `check`,
    /// `grant` and `revoke`, not by a sync.
    #[arg(long, value_name = "MAPPING", help_heading = "baton compatibility")]
    pub license_to_least_privileged_profile_mapping: Option<String>,
}

/// `sf-access demo`.
#[cfg(feature = "emulator")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The store to write.
    #[arg(
        long,
        short = 'f',
        default_value = "sf-access-demo.db",
        value_name = "PATH"
    )]
    pub file: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;
    use crate::telemetry::LogFormat;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn batons_log_variables_are_the_fallback_after_ours() {
        let cli = Cli::try_parse_from(["sf-access", "config"]).unwrap();
        assert_eq!(cli.log_level(&env(&[])), "info");
        assert_eq!(cli.log_format(&env(&[])).unwrap(), LogFormat::Text);
        let baton = env(&[("BATON_LOG_LEVEL", "debug"), ("BATON_LOG_FORMAT", "JSON")]);
        assert_eq!(cli.log_level(&baton), "debug");
        assert_eq!(cli.log_format(&baton).unwrap(), LogFormat::Json);
        assert!(
            cli.log_format(&env(&[("BATON_LOG_FORMAT", "xml")]))
                .is_err()
        );
        let cli = Cli::try_parse_from([
            "sf-access",
            "--log-level",
            "warn",
            "--log-format",
            "console",
            "config",
        ])
        .unwrap();
        assert_eq!(cli.log_level(&baton), "warn", "the flag wins");
        assert_eq!(cli.log_format(&baton).unwrap(), LogFormat::Text);
    }
}
