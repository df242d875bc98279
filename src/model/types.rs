//! The resource type table: every resource type of the model in one constant, with its display
//! name, baton traits, description and entitlement slugs.
//!
//! The ids and slugs follow baton-salesforce (plus our own `license`), because ConductorOne
//! keys its mappings on them; changing one is a breaking change of the external contract.

use serde::{Deserialize, Serialize};

use super::ids::ResourceTypeId;

/// A baton resource-type trait (`c1.connector.v2.ResourceType.Trait`), which tells governance
/// tools how to present a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trait {
    /// A person or service account that can be a principal.
    User,
    /// A set of principals.
    Group,
    /// A bundle of access assigned to principals.
    Role,
    /// An application principals sign in to.
    App,
}

/// An entitlement a resource type defines: what a grant of it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlugDefinition {
    /// The slug, the last part of the entitlement id.
    pub slug: &'static str,
    /// Display name of the entitlement, e.g. "Member".
    pub display_name: &'static str,
    /// What holding it means.
    pub purpose: super::records::Purpose,
    /// The principal types that can hold it.
    pub grantable_to: &'static [ResourceTypeId],
    /// One sentence on where the grant comes from in Salesforce.
    pub description: &'static str,
}

/// One row of the resource type table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceTypeDefinition {
    /// The type id.
    pub id: ResourceTypeId,
    /// Display name, e.g. "Permission Set".
    pub display_name: &'static str,
    /// baton traits.
    pub traits: &'static [Trait],
    /// What the type is, for people.
    pub description: &'static str,
    /// The entitlement slugs, in id order.
    pub slugs: &'static [&'static str],
    /// The entitlements, in slug order (same order as `slugs`).
    pub entitlements: &'static [SlugDefinition],
}

use super::records::Purpose::{Assignment, Permission};
use ResourceTypeId as T;

const USERS: &[ResourceTypeId] = &[T::User];

/// The resource type table, in id order.
pub const RESOURCE_TYPES: [ResourceTypeDefinition; 8] = [
    ResourceTypeDefinition {
        id: T::ConnectedApplication,
        display_name: "Connected Application",
        traits: &[Trait::App],
        description: "A connected app (ConnectedApplication) that users can be allowed to use and authorize",
        slugs: &["access", "authorized"],
        entitlements: &[
            SlugDefinition {
                slug: "access",
                display_name: "Access",
                purpose: Permission,
                grantable_to: &[T::Permission, T::Profile, T::User],
                description: "May use the app: granted to a profile or permission set (SetupEntityAccess), and so to the users holding it",
            },
            SlugDefinition {
                slug: "authorized",
                display_name: "Authorized",
                purpose: Permission,
                grantable_to: USERS,
                description: "Has authorized the app: the user holds an OAuth token for it (OauthToken)",
            },
        ],
    },
    ResourceTypeDefinition {
        id: T::Group,
        display_name: "Group",
        traits: &[Trait::Group],
        description: "A public group or a queue (Group of type Regular or Queue)",
        slugs: &["member"],
        entitlements: &[SlugDefinition {
            slug: "member",
            display_name: "Member",
            purpose: Assignment,
            grantable_to: USERS,
            description: "Member of the group, directly or through a nested group or a role group (GroupMember)",
        }],
    },
    ResourceTypeDefinition {
        id: T::License,
        display_name: "License",
        traits: &[],
        description: "A user license (UserLicense) or a permission set license (PermissionSetLicense), with its seats",
        slugs: &["assigned"],
        entitlements: &[SlugDefinition {
            slug: "assigned",
            display_name: "Assigned",
            purpose: Assignment,
            grantable_to: USERS,
            description: "The permission set license is assigned to the user (PermissionSetLicenseAssign)",
        }],
    },
    ResourceTypeDefinition {
        id: T::Permission,
        display_name: "Permission Set",
        traits: &[],
        description: "A permission set that is neither owned by a profile nor the aggregate of a permission set group",
        slugs: &["assigned"],
        entitlements: &[SlugDefinition {
            slug: "assigned",
            display_name: "Assigned",
            purpose: Permission,
            grantable_to: USERS,
            description: "The permission set is assigned to the user, directly or through a permission set group (PermissionSetAssignment)",
        }],
    },
    ResourceTypeDefinition {
        id: T::PermissionSetGroup,
        display_name: "Permission Set Group",
        traits: &[],
        description: "A permission set group (PermissionSetGroup) bundling permission sets",
        slugs: &["member"],
        entitlements: &[SlugDefinition {
            slug: "member",
            display_name: "Member",
            purpose: Permission,
            grantable_to: USERS,
            description: "The permission set group is assigned to the user (PermissionSetAssignment with PermissionSetGroupId)",
        }],
    },
    ResourceTypeDefinition {
        id: T::Profile,
        display_name: "Profile",
        traits: &[],
        description: "A profile (Profile), the base permissions of every user, tied to a user license",
        slugs: &["assigned"],
        entitlements: &[SlugDefinition {
            slug: "assigned",
            display_name: "Assigned",
            purpose: Permission,
            grantable_to: USERS,
            description: "The user has this profile (User.ProfileId)",
        }],
    },
    ResourceTypeDefinition {
        id: T::Role,
        display_name: "Role",
        traits: &[Trait::Role],
        description: "A role of the role hierarchy (UserRole); its parent is the role above it",
        slugs: &["assigned"],
        entitlements: &[SlugDefinition {
            slug: "assigned",
            display_name: "Assigned",
            purpose: Assignment,
            grantable_to: USERS,
            description: "The user has this role (User.UserRoleId)",
        }],
    },
    ResourceTypeDefinition {
        id: T::User,
        display_name: "User",
        traits: &[Trait::User],
        description: "A Salesforce user (User, with UserLogin for frozen state)",
        slugs: &[],
        entitlements: &[],
    },
];

/// The table row of a resource type.
pub fn definition(id: ResourceTypeId) -> &'static ResourceTypeDefinition {
    RESOURCE_TYPES
        .iter()
        .find(|d| d.id == id)
        .expect("RESOURCE_TYPES has a row for every ResourceTypeId (tested)")
}

/// The entitlement definition of `slug` on `type_id`, if the type defines it.
pub fn slug_definition(type_id: ResourceTypeId, slug: &str) -> Option<&'static SlugDefinition> {
    definition(type_id)
        .entitlements
        .iter()
        .find(|e| e.slug == slug)
}

/// A resource type record as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceType {
    /// The type id.
    pub id: ResourceTypeId,
    /// Display name.
    pub display_name: String,
    /// baton traits, sorted.
    pub traits: Vec<Trait>,
    /// What the type is.
    pub description: String,
}

impl ResourceType {
    /// The record of a type, from the table.
    pub fn of(id: ResourceTypeId) -> ResourceType {
        let d = definition(id);
        ResourceType {
            id,
            display_name: d.display_name.to_owned(),
            traits: d.traits.to_vec(),
            description: d.description.to_owned(),
        }
    }

    /// The records of every type, in id order.
    pub fn all() -> Vec<ResourceType> {
        RESOURCE_TYPES
            .iter()
            .map(|d| ResourceType::of(d.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_type_in_id_order() {
        let ids: Vec<ResourceTypeId> = RESOURCE_TYPES.iter().map(|d| d.id).collect();
        assert_eq!(ids, ResourceTypeId::ALL.to_vec());
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        for id in ResourceTypeId::ALL {
            assert_eq!(definition(id).id, id);
        }
    }

    #[test]
    fn slugs_match_the_entitlement_definitions_and_are_sorted() {
        for d in &RESOURCE_TYPES {
            let from_entitlements: Vec<&str> = d.entitlements.iter().map(|e| e.slug).collect();
            assert_eq!(d.slugs, from_entitlements.as_slice(), "{}", d.id);
            let mut sorted = from_entitlements.clone();
            sorted.sort();
            assert_eq!(sorted, from_entitlements, "{}", d.id);
        }
    }

    #[test]
    fn type_ids_and_slugs_are_baton_salesforces() {
        let pairs: Vec<(&str, &str, Vec<&str>)> = RESOURCE_TYPES
            .iter()
            .map(|d| (d.id.as_str(), d.display_name, d.slugs.to_vec()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "connected_application",
                    "Connected Application",
                    vec!["access", "authorized"]
                ),
                ("group", "Group", vec!["member"]),
                ("license", "License", vec!["assigned"]),
                ("permission", "Permission Set", vec!["assigned"]),
                (
                    "permission_set_group",
                    "Permission Set Group",
                    vec!["member"]
                ),
                ("profile", "Profile", vec!["assigned"]),
                ("role", "Role", vec!["assigned"]),
                ("user", "User", vec![]),
            ]
        );
    }

    #[test]
    fn slug_characters_keep_id_order_equal_to_string_order() {
        // ids.rs relies on ':' sorting before every character of a type id or slug.
        for d in &RESOURCE_TYPES {
            for s in std::iter::once(d.id.as_str()).chain(d.slugs.iter().copied()) {
                assert!(
                    s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{s}"
                );
            }
        }
    }
}
