//! The only module that speaks HTTP to Salesforce: auth, domains, SOQL, paging, limits,
//! retries and typed errors. Everything above it sees typed records, IDs and errors.
//!
//! It must not know about the command line, the store or the access model: settings come in
//! as a `ClientConfig`, data goes out as typed wire structs (`objects`) and `SfId`s.

pub mod auth;
pub mod bulk;
pub mod client;
pub mod domain;
pub mod error;
pub mod id;
pub mod limits;
pub mod objects;
pub mod query;
pub mod retry;
pub mod soql;

pub use auth::{Credentials, Identity, PrivateKey};
pub use bulk::{BulkSettings, QueryJob};
pub use client::{ApiRequest, ApiVersion, Client, ClientConfig, CollectionRecord, SaveResult};
pub use domain::Instance;
pub use error::{ErrorCategory, SalesforceError};
pub use id::SfId;
pub use limits::{ApiUsage, UsageSnapshot};
pub use query::{BatchSize, Page, QueryOptions};
pub use soql::{Aggregate, Condition, Soql};
