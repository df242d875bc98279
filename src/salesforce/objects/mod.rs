//! Wire structs: Salesforce records as the REST API returns them, in Salesforce's spelling,
//! each with the query that reads it.
//!
//! This module owns the field lists and the SOQL of each object (built with `soql`); it does
//! not map records into the access model (that is the sync's job) and does no I/O.
