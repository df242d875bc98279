//! The `sf-access` binary: parse the command line, set up logging, run, map the outcome to
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use sf_access::cli::{Cli, Command};
use sf_access::exit::Exit;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = sf_access::telemetry::init(&cli.log_level, cli.log_format) {
        eprintln!("error: {message}");
        return Exit::Usage.into();
    }
    let exit: Exit = match cli.command {
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => sf_access::emulator::cli::run(args).await,
        Command::Export(args) => sf_access::store::cli::run_export(args),
        Command::Show(args) => sf_access::store::cli::run_show(args),
    };
    exit.into()
}
