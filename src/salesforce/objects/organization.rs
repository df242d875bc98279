//! `Organization`: the org's edition and sandbox flag (facts 5.17).

use serde::Deserialize;

use crate::salesforce::client::Client;
use crate::salesforce::error::SalesforceError;
use crate::salesforce::id::SfId;
use crate::salesforce::query::QueryOptions;
use crate::salesforce::soql::Soql;

/// The org record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Organization {
    /// `00D...`.
    pub id: SfId,
    /// Company name.
    pub name: String,
    /// Edition: `Enterprise Edition`, `Developer Edition`, `Team Edition` (= Group), ...
    #[serde(default)]
    pub organization_type: Option<String>,
    /// True in sandboxes.
    #[serde(default)]
    pub is_sandbox: bool,
    /// `USA123`, `CS15`.
    #[serde(default)]
    pub instance_name: Option<String>,
}

/// Whether an edition has API access (facts 4.3, editions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditionApi {
    /// Enterprise, Unlimited, Performance, Developer: API on by default.
    Included,
    /// Professional: only with the paid API add-on.
    AddOn,
    /// Group (`Team Edition`), Essentials (`Base Edition`), Personal, Contact Manager: none.
    None,
    /// A value sf-access does not know.
    Unknown,
}

impl Organization {
    /// `SELECT Id, Name, OrganizationType, IsSandbox, InstanceName FROM Organization`.
    pub fn query() -> Soql {
        Soql::select(
            "Organization",
            [
                "Id",
                "Name",
                "OrganizationType",
                "IsSandbox",
                "InstanceName",
            ],
        )
        .build()
        .expect("static field list")
    }

    /// Reads the org record (one call).
    pub async fn fetch(client: &Client) -> Result<Option<Organization>, SalesforceError> {
        let rows: Vec<Organization> = client
            .query_all(&Organization::query(), QueryOptions::default())
            .await?;
        Ok(rows.into_iter().next())
    }

    /// API access of the org's edition.
    pub fn edition_api(&self) -> EditionApi {
        match self.organization_type.as_deref().unwrap_or("") {
            "Enterprise Edition"
            | "Unlimited Edition"
            | "Performance Edition"
            | "Developer Edition" => EditionApi::Included,
            "Professional Edition" => EditionApi::AddOn,
            "Team Edition"
            | "Base Edition"
            | "Personal Edition"
            | "Contact Manager Edition"
            | "Group Edition"
            | "Essentials Edition" => EditionApi::None,
            _ => EditionApi::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editions_map_to_api_access() {
        let org = |t: &str| Organization {
            id: SfId::parse("00Dxx0000000001EAA").unwrap(),
            name: "Acme".into(),
            organization_type: Some(t.into()),
            is_sandbox: false,
            instance_name: None,
        };
        assert_eq!(
            org("Enterprise Edition").edition_api(),
            EditionApi::Included
        );
        assert_eq!(org("Developer Edition").edition_api(), EditionApi::Included);
        assert_eq!(org("Professional Edition").edition_api(), EditionApi::AddOn);
        assert_eq!(org("Team Edition").edition_api(), EditionApi::None);
        assert_eq!(org("Base Edition").edition_api(), EditionApi::None);
        assert_eq!(org("Galactic Edition").edition_api(), EditionApi::Unknown);
        assert_eq!(
            Organization::query().as_str(),
            "SELECT Id, Name, OrganizationType, IsSandbox, InstanceName FROM Organization"
        );
    }

    #[test]
    fn organization_record_decodes() {
        let org: Organization = serde_json::from_str(
            r#"{"attributes":{"type":"Organization","url":"/x"},"Id":"00Dxx0000000001EAA","Name":"Acme",
                "OrganizationType":"Enterprise Edition","IsSandbox":false,"InstanceName":"USA123"}"#,
        )
        .unwrap();
        assert_eq!(org.instance_name.as_deref(), Some("USA123"));
    }
}
