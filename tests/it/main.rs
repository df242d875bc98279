//! Integration tests: the emulator, the client and the CLI over real HTTP on 127.0.0.1.
//! One test binary (STYLE.md); every test stops the servers it started.

mod actions;
mod baton;
mod check;
mod cli;
mod client;
mod emulator;
mod emulator_bulk;
mod incremental;
mod provision;
mod provision_cli;
mod serve;
mod store_cli;
mod support;
mod sync;
