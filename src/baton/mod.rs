//! baton interop beyond the c1z file (which is `store::c1z`): `sf-access capabilities` and
//! `sf-access config`, the two documents a baton connector publishes about itself.
//!
//! Both are pure functions of the model's resource type table and the settings table: they
//! need no credentials and make no network call. Must not read configuration values.

pub mod argv;
pub mod capabilities;
pub mod config;

use std::io::Write;

use crate::exit::Exit;

/// Arguments of `sf-access capabilities`.
#[derive(Debug, Clone, clap::Args)]
pub struct CapabilitiesArgs {}

/// Which form `sf-access config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigFormat {
    /// JSON Schema (draft 2020-12) of the --config file, as `schemas/config.json`.
    JsonSchema,
    /// baton's field list (a baton connector's `config_schema.json`), for ConductorOne.
    Baton,
}

/// Arguments of `sf-access config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// json-schema (the default) or baton.
    #[arg(long, value_enum, default_value = "json-schema")]
    pub format: ConfigFormat,
}

/// Pretty JSON with two-space indents and a final newline.
fn print(doc: &serde_json::Value) -> Exit {
    let text = match serde_json::to_string_pretty(doc) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot print the document: {e}");
            return Exit::Failure;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            Exit::Failure
        }
    }
}

/// Runs `sf-access capabilities`.
pub fn run_capabilities(_args: CapabilitiesArgs) -> Exit {
    print(&capabilities::capabilities())
}

/// Runs `sf-access config`.
pub fn run_config(args: ConfigArgs) -> Exit {
    match args.format {
        ConfigFormat::JsonSchema => print(&config::json_schema()),
        ConfigFormat::Baton => print(&config::baton_fields()),
    }
}
