//! sf-access: brings Salesforce access under identity governance.
//!
//! The library is the product; the `sf-access` binary is a thin front end over it.
//! See the README for the commands and `STYLE.md` for the architecture.

pub mod actions;
pub mod baton;
pub mod check;
pub mod cli;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod exit;
pub mod model;
pub mod provision;
pub mod salesforce;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod store;
pub mod sync;
pub mod telemetry;
