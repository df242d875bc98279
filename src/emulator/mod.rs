//! The local Salesforce org emulator.

pub mod soql;
