//! `sf-access capabilities`: what the connector can do, as baton's `capabilities` subcommand
//! prints it: a `c1.connector.v2.ConnectorCapabilities` wrapped in an `Any`, in protobuf
//! JSON (lowerCamelCase names, enums by name, default values left out, an empty but set
//! message as `{}`).
//!
//! Ordering follows baton-sdk: resource types by id, each type's capabilities in the order
//! SYNC, PROVISION, ACCOUNT_PROVISIONING, and the connector-level list by enum number.
//! `permissions` is always set (empty: no type carries a `CapabilityPermissions`).
//! `ConnectorCapabilities` has no field that names actions: CAPABILITY_ACTIONS announces them,
//! and their names and schemas come from the actions list.

use serde_json::{Map, Value as Json, json};

use crate::model::types::definition;
use crate::model::{ResourceType, ResourceTypeId, Trait};

/// The protobuf JSON name of a trait.
fn trait_name(t: Trait) -> &'static str {
    match t {
        Trait::User => "TRAIT_USER",
        Trait::Group => "TRAIT_GROUP",
        Trait::Role => "TRAIT_ROLE",
        Trait::App => "TRAIT_APP",
    }
}

/// What the connector does with each resource type: every type is synced; entitlements of
/// these types can be granted and revoked (the provisioning table of `sf-access grant`);
/// accounts of `user` can be created.
fn type_capabilities(id: ResourceTypeId) -> &'static [&'static str] {
    match id {
        ResourceTypeId::User => &["CAPABILITY_SYNC", "CAPABILITY_ACCOUNT_PROVISIONING"],
        ResourceTypeId::Group
        | ResourceTypeId::License
        | ResourceTypeId::Permission
        | ResourceTypeId::PermissionSetGroup
        | ResourceTypeId::Profile
        | ResourceTypeId::Role => &["CAPABILITY_SYNC", "CAPABILITY_PROVISION"],
        // Connected app access comes from profiles and permission sets (SetupEntityAccess) and
        // from OAuth tokens: it is read, not granted.
        ResourceTypeId::ConnectedApplication => &["CAPABILITY_SYNC"],
    }
}

/// A resource type in protobuf JSON, as the c1z writer writes it.
pub(crate) fn resource_type_json(t: &ResourceType) -> Json {
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id.as_str()));
    m.insert("displayName".into(), json!(t.display_name));
    if !t.traits.is_empty() {
        m.insert(
            "traits".into(),
            json!(t.traits.iter().map(|t| trait_name(*t)).collect::<Vec<_>>()),
        );
    }
    if definition(t.id).slugs.is_empty() {
        m.insert(
            "annotations".into(),
            json!([{"@type": "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"}]),
        );
    }
    if !t.description.is_empty() {
        m.insert("description".into(), json!(t.description));
    }
    Json::Object(m)
}

/// The capabilities document.
pub fn capabilities() -> Json {
    let mut types = ResourceType::all();
    types.sort_by_key(|t| t.id.as_str());
    let per_type: Vec<Json> = types
        .iter()
        .map(|t| {
            json!({
                "resourceType": resource_type_json(t),
                "capabilities": type_capabilities(t.id),
                "permissions": {}
            })
        })
        .collect();
    json!({
        "@type": "type.googleapis.com/c1.connector.v2.ConnectorCapabilities",
        "resourceTypeCapabilities": per_type,
        "connectorCapabilities": [
            "CAPABILITY_PROVISION",
            "CAPABILITY_SYNC",
            "CAPABILITY_ACCOUNT_PROVISIONING",
            "CAPABILITY_ACTIONS"
        ],
        "credentialDetails": {
            "capabilityAccountProvisioning": {
                // A new user sets a password from Salesforce's welcome email, or signs in
                // through SSO when created with a federation id; sf-access never sets one.
                "supportedCredentialOptions": [
                    "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
                    "CAPABILITY_DETAIL_CREDENTIAL_OPTION_SSO"
                ],
                "preferredCredentialOption": "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_synced_and_listed_in_id_order() {
        let doc = capabilities();
        let list = doc["resourceTypeCapabilities"].as_array().unwrap();
        let ids: Vec<&str> = list
            .iter()
            .map(|c| c["resourceType"]["id"].as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(ids.len(), ResourceTypeId::ALL.len());
        for c in list {
            assert_eq!(c["capabilities"][0], "CAPABILITY_SYNC");
            assert_eq!(c["permissions"], json!({}));
        }
    }

    #[test]
    fn resource_types_carry_their_traits_and_users_skip_entitlements() {
        for t in ResourceType::all() {
            let j = resource_type_json(&t);
            let traits = j["traits"].as_array().map_or(0, Vec::len);
            assert_eq!(traits, t.traits.len(), "{}", t.id);
            let skip = j.get("annotations").is_some();
            assert_eq!(skip, t.id == ResourceTypeId::User, "{}", t.id);
        }
    }
}
