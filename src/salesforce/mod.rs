//! The only module that speaks HTTP to Salesforce: auth, domains, SOQL, paging, limits,
//! retries and typed errors. Everything above it sees typed records, IDs and errors.

pub mod id;

pub use id::SfId;
