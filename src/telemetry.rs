//! The tracing subscriber: logs go to stderr, as text or JSON; data goes to stdout or files.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal). baton's name for it, `console`, works too.
    #[value(alias = "console")]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. `level` is a level name or a `RUST_LOG`-style directive;
/// `RUST_LOG`, when set, wins.
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.is_empty() => EnvFilter::try_new(directive),
        _ => EnvFilter::try_new(level),
    }
    .map_err(|e| format!("invalid --log-level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| format!("cannot install the log subscriber: {e}"))
}
