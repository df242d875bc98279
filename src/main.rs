//! The `sf-access` binary: parse the command line, set up logging, run, map the outcome to
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use sf_access::cli::{Cli, Command};
use sf_access::exit::Exit;

#[tokio::main]
async fn main() -> ExitCode {
    let env = sf_access::settings::process_env;
    // baton-salesforce command lines (one-shot operation flags, no subcommand) work unchanged.
    let args = match sf_access::baton::argv::rewrite(std::env::args_os().collect(), &env) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage.into();
        }
    };
    let cli = Cli::parse_from(args);
    let logging = cli
        .log_format(&env)
        .and_then(|format| sf_access::telemetry::init(&cli.log_level(&env), format));
    if let Err(message) = logging {
        eprintln!("error: {message}");
        return Exit::Usage.into();
    }
    let outcome = match cli.command {
        Command::Check(args) => sf_access::check::run(&args).await,
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => Ok(sf_access::emulator::cli::run(args).await),
        Command::Export(args) => sf_access::store::cli::run_export(&args),
        Command::Show(args) => sf_access::store::cli::run_show(&args),
        Command::Serve(args) => sf_access::serve::cli::run(*args).await,
        Command::Grant(args) => sf_access::provision::cli::run_grant(args).await,
        Command::Revoke(args) => sf_access::provision::cli::run_revoke(args).await,
        Command::CreateAccount(args) => sf_access::provision::cli::run_create_account(args).await,
        Command::Actions(args) => sf_access::actions::cli::run_list(&args),
        Command::Action(args) => sf_access::actions::cli::run(args).await,
        Command::Capabilities(args) => Ok(sf_access::baton::run_capabilities(args)),
        Command::Config(args) => Ok(sf_access::baton::run_config(args)),
        Command::Sync(args) => sf_access::sync::cli::run_sync(&args).await,
        #[cfg(feature = "emulator")]
        Command::Demo(args) => sf_access::sync::cli::run_demo(&args).await,
    };
    let exit = match outcome {
        Ok(exit) => exit,
        Err(failure) => failure.report(),
    };
    exit.into()
}
