//! What the service tells clients it can provision, per entitlement.
//!
//! The truth is `provision::grant`'s refusal of entitlements it cannot write
//! (`not_provisionable`); it is decided inside the library from the entitlement id, so the
//! catalog repeats the decision as a small table, and a test checks the table against the
//! library for every entitlement of the model, so the two cannot drift apart.

use crate::model::ResourceTypeId;

/// Whether grants of `slug` on `type_id` can be made and revoked, and any restriction.
pub fn provisioning(type_id: ResourceTypeId, slug: &str) -> (bool, Option<&'static str>) {
    match (type_id, slug) {
        (ResourceTypeId::Permission, "assigned")
        | (ResourceTypeId::PermissionSetGroup, "member")
        | (ResourceTypeId::Role, "assigned") => (true, None),
        (ResourceTypeId::Group, "member") => (
            true,
            Some(
                "public groups and queues; role and organization groups are maintained by Salesforce",
            ),
        ),
        (ResourceTypeId::Profile, "assigned") => (
            true,
            Some("revoking moves the user to the least-privilege profile of its license"),
        ),
        (ResourceTypeId::License, "assigned") => (
            true,
            Some("permission set licenses only; a user license comes with the profile"),
        ),
        _ => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::model::types::RESOURCE_TYPES;
    use crate::model::{EntitlementId, ResourceId};
    use crate::provision::{self, GrantRequest, Provisioner, RequestId, WriteOptions};
    use crate::salesforce::{Client, ClientConfig, Credentials, Instance, SfId};
    use crate::secret::Secret;

    /// A key prefix of each type's Salesforce object; license uses the permission set
    /// license prefix (the provisionable kind).
    fn prefix(type_id: ResourceTypeId) -> &'static str {
        match type_id {
            ResourceTypeId::ConnectedApplication => "0H4",
            ResourceTypeId::Group => "00G",
            ResourceTypeId::License => "0PL",
            ResourceTypeId::Permission => "0PS",
            ResourceTypeId::PermissionSetGroup => "0PG",
            ResourceTypeId::Profile => "00e",
            ResourceTypeId::Role => "00E",
            ResourceTypeId::User => "005",
        }
    }

    #[tokio::test]
    async fn the_table_agrees_with_what_the_library_refuses() {
        // Nothing listens on port 1: an entitlement the library accepts fails later, on its
        // first read, with a Salesforce (transport) error instead of `not_provisionable`.
        let mut config = ClientConfig::new(
            Instance::parse("http://127.0.0.1:1").unwrap(),
            Credentials::ClientCredentials {
                client_id: "x".into(),
                client_secret: Secret::new("y".to_owned()),
            },
        );
        config.backoff.max_attempts = NonZeroU32::new(1).unwrap();
        let provisioner = Provisioner::new(Client::new(config).unwrap());
        let user = ResourceId::new(
            ResourceTypeId::User,
            SfId::parse("005000000000001").unwrap(),
        )
        .unwrap();
        let mut checked = 0;
        for d in &RESOURCE_TYPES {
            for e in d.entitlements {
                let sf_id = SfId::parse(&format!("{}000000000001", prefix(d.id))).unwrap();
                let entitlement =
                    EntitlementId::new(ResourceId::new(d.id, sf_id).unwrap(), e.slug).unwrap();
                let request = GrantRequest {
                    entitlement,
                    principal: user,
                    expires_at: None,
                };
                let options = WriteOptions::new(RequestId::generate()).dry_run(true);
                let refused = match provision::grant(&provisioner, &request, &options).await {
                    Err(error) => error.code() == "not_provisionable",
                    Ok(_) => false,
                };
                assert_eq!(
                    provisioning(d.id, e.slug).0,
                    !refused,
                    "{entitlement}: the catalog and the library disagree"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 8);
    }
}
