//! `UserLicense` and the license of each `Profile` (facts 5.3, 5.4): what the least-privilege
//! profile mapping is checked against.

use serde::Deserialize;

use crate::salesforce::client::Client;
use crate::salesforce::error::SalesforceError;
use crate::salesforce::id::SfId;
use crate::salesforce::query::QueryOptions;
use crate::salesforce::soql::{Order, Soql};

/// A user license.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserLicense {
    /// `100...`.
    pub id: SfId,
    /// Internal name (`Salesforce`, `Salesforce Platform`).
    pub name: String,
    /// Label.
    #[serde(default)]
    pub master_label: Option<String>,
    /// Immutable key (`SFDC`, `AUL`).
    #[serde(default)]
    pub license_definition_key: Option<String>,
    /// `Active` or `Disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Seats.
    #[serde(default)]
    pub total_licenses: Option<i64>,
    /// Seats in use.
    #[serde(default)]
    pub used_licenses: Option<i64>,
}

impl UserLicense {
    /// Every user license, by ID.
    pub fn query() -> Soql {
        Soql::select(
            "UserLicense",
            [
                "Id",
                "Name",
                "MasterLabel",
                "LicenseDefinitionKey",
                "Status",
                "TotalLicenses",
                "UsedLicenses",
            ],
        )
        .order_by("Id", Order::Asc)
        .build()
        .expect("static field list")
    }

    /// Reads every user license.
    pub async fn fetch_all(client: &Client) -> Result<Vec<UserLicense>, SalesforceError> {
        client
            .query_all(&UserLicense::query(), QueryOptions::default())
            .await
    }

    /// True when `key` names this license by name, label or `LicenseDefinitionKey`
    /// (case-insensitively: admins type them by hand).
    pub fn is_named(&self, key: &str) -> bool {
        let key = key.trim();
        self.name.eq_ignore_ascii_case(key)
            || self
                .master_label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(key))
            || self
                .license_definition_key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(key))
    }
}

/// A profile and its license.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileLicense {
    /// `00e...`.
    pub id: SfId,
    /// Profile name.
    pub name: String,
    /// The profile's license.
    #[serde(default)]
    pub user_license_id: Option<SfId>,
}

impl ProfileLicense {
    /// Every profile with its license, by ID.
    pub fn query() -> Soql {
        Soql::select("Profile", ["Id", "Name", "UserLicenseId"])
            .order_by("Id", Order::Asc)
            .build()
            .expect("static field list")
    }

    /// Reads every profile.
    pub async fn fetch_all(client: &Client) -> Result<Vec<ProfileLicense>, SalesforceError> {
        client
            .query_all(&ProfileLicense::query(), QueryOptions::default())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_is_found_by_name_label_or_key() {
        let license: UserLicense = serde_json::from_str(
            r#"{"Id":"100xx0000000001","Name":"Salesforce Platform","MasterLabel":"Salesforce Platform",
                "LicenseDefinitionKey":"AUL","Status":"Active","TotalLicenses":10,"UsedLicenses":2}"#,
        )
        .unwrap();
        assert!(license.is_named("AUL"));
        assert!(license.is_named("salesforce platform"));
        assert!(!license.is_named("Salesforce"));
        assert_eq!(
            ProfileLicense::query().as_str(),
            "SELECT Id, Name, UserLicenseId FROM Profile ORDER BY Id ASC"
        );
    }
}
