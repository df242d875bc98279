//! Error -> exit code, and the one human-readable report (cause chain + hint).

use std::process::ExitCode;

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
