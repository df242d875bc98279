//! Wire structs: Salesforce records as the REST API returns them, in Salesforce's spelling,
//! each with the query that reads it.
//!
//! This module owns the field lists and the SOQL of each object (built with `soql`); it does
//! not map records into the access model (that is the sync's job) and does no I/O beyond
//! running its own queries through `Client`.

pub mod license;
pub mod organization;
pub mod permissions;
pub mod provisioning;

pub use license::{ProfileLicense, UserLicense};
pub use organization::Organization;
pub use permissions::{
    CurrentUser, PermissionSource, SourceKind, SystemPermission, UserPermissions,
};

use chrono::{DateTime, Utc};

/// Parses Salesforce's date-time format (`2020-08-11T15:55:08.000+0000`, facts 3.1), also
/// accepting RFC 3339.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_datetimes_parse() {
        let t = parse_datetime("2020-08-11T15:55:08.000+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2020-08-11T15:55:08+00:00");
        assert!(parse_datetime("2020-08-11T15:55:08Z").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }
}
