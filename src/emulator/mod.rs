//! The local Salesforce org emulator.
