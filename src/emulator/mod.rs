//! The local Salesforce org emulator: an in-memory org served over HTTP with Salesforce's
//! OAuth token endpoint, REST query/sObject/composite/limits resources, its error shapes,
//! permission gates, limits and fault injection.
//!
//! It exists so that every test, benchmark and demo runs offline on 127.0.0.1. Where it is
//! kinder than Salesforce the connector breaks in production, so it errs on the strict side.
//! It must not be used as a general-purpose Salesforce substitute: it models the identity
//! objects of the facts sheet and the SOQL subset connectors use, nothing else.

pub mod caller;
pub mod dump;
pub mod error;
pub mod generate;
pub mod org;
pub mod schema;
