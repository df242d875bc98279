//! Error -> exit code, and the one human-readable report (cause chain + hint).
//!
//! `Failure` is the top-level error of a command: it wraps the layered errors below it and
//! picks the exit code and the hint. The report is printed once, by `main`; nothing below
//! prints errors.

use std::process::ExitCode;

use crate::salesforce::{ErrorCategory, SalesforceError};
use crate::settings::SettingsError;
use crate::store::StoreError;

/// The exit codes, as shown in `--help` and the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  failure (Salesforce or I/O error, failed sync)
  2  usage or configuration error
  3  authentication failed
  4  the Salesforce user lacks a permission, or the org's edition has no API access
  5  an API limit was reached (daily request limit or --api-budget)";

/// A stable process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: any failure not covered below.
    Failure = 1,
    /// 2: bad arguments or configuration.
    Usage = 2,
    /// 3: authentication failed.
    Auth = 3,
    /// 4: missing Salesforce permission or edition without API.
    Permission = 4,
    /// 5: API limit reached.
    Limit = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

impl Exit {
    /// The exit code of an error category.
    pub fn of_category(category: ErrorCategory) -> Exit {
        match category {
            ErrorCategory::Auth => Exit::Auth,
            ErrorCategory::Permission => Exit::Permission,
            ErrorCategory::Limit => Exit::Limit,
            ErrorCategory::Config => Exit::Usage,
            ErrorCategory::Other => Exit::Failure,
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a command failed, at the top.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Salesforce, or the way to it, failed.
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// A grant, revoke or account creation failed.
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
    /// An action failed.
    #[error(transparent)]
    Action(#[from] crate::actions::ActionError),
    /// A sync failed.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// The store (`--file`) could not be read or written, or has no such run.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The in-process emulator (`demo`) could not start.
    #[cfg(feature = "emulator")]
    #[error("cannot start the emulator")]
    Emulator(#[from] crate::emulator::EmulatorError),
    /// The HTTP service could not start or stopped with an error.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
}

impl Failure {
    /// The exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Settings(_) => Exit::Usage,
            Failure::Salesforce(e) => Exit::of_category(e.category()),
            Failure::Output(_) => Exit::Failure,
            Failure::Provision(e) => e.exit(),
            Failure::Action(e) => e.exit(),
            Failure::Sync(e) => match e.salesforce() {
                Some(sf) => Exit::of_category(sf.category()),
                None => Exit::Failure,
            },
            Failure::Store(e) if e.is_usage() => Exit::Usage,
            Failure::Store(_) => Exit::Failure,
            #[cfg(feature = "emulator")]
            Failure::Emulator(_) => Exit::Failure,
            Failure::Serve(e) => e.exit(),
        }
    }

    /// What to do about it, for known causes.
    pub fn hint(&self) -> Option<String> {
        match self {
            // Settings errors name the setting and the fix in their own text.
            Failure::Settings(_) | Failure::Output(_) => None,
            Failure::Salesforce(e) => e.hint(),
            Failure::Provision(e) => e.hint(),
            Failure::Action(e) => e.hint(),
            Failure::Sync(e) => e.hint(),
            Failure::Store(e) => e.hint(),
            #[cfg(feature = "emulator")]
            Failure::Emulator(_) => None,
            Failure::Serve(e) => e.hint(),
        }
    }

    /// Prints the report (error, causes, hint) to stderr and returns the exit code.
    pub fn report(&self) -> Exit {
        report(self, self.hint().as_deref());
        self.exit()
    }
}

/// Prints `error: ...`, one `caused by: ...` line per source, and an optional hint, to stderr.
pub fn report(error: &(dyn std::error::Error + 'static), hint: Option<&str>) {
    eprintln!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("caused by: {cause}");
        source = cause.source();
    }
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}
