//! The command line as the user types it: clap derive, one struct per subcommand.
//!
//! This module only mirrors what was typed. Validation into typed settings happens in
//! `settings.rs` (connection) or in the library function each command calls.

use clap::{Parser, Subcommand};

/// sf-access: Salesforce access governance connector.
///
/// Syncs Salesforce users, roles, groups, profiles, permission sets, permission set groups,
/// connected apps and licenses into a normalized resource / entitlement / grant model,
/// provisions access, and ships a local Salesforce emulator for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "sf-access", version, about, long_about = None, after_help = crate::exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// Log level filter (error, warn, info, debug, trace), or a RUST_LOG-style directive.
    #[arg(
        long,
        global = true,
        env = "SF_ACCESS_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Log format: `text`, or `json` (one JSON object per line, for log collectors).
    #[arg(
        long,
        global = true,
        env = "SF_ACCESS_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: crate::telemetry::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    Show(crate::store::cli::ShowArgs),
}
