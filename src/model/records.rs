//! The records of the model: `Resource` (with a typed details block per resource type),
//! `Entitlement` and `Grant`, with their stable JSON form.
//!
//! The JSON of these types is the external contract (`schemas/*.json`, the jsonl export, the
//! HTTP service): fields keep their order, absent optional values are omitted rather than
//! written as `null`, lists are sorted, so the same records always serialize to the same
//! bytes. No I/O here, and nothing Salesforce-specific beyond the values the sync maps in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::ids::{EntitlementId, GrantId, ResourceId, ResourceTypeId};
use super::types::slug_definition;

/// Why a record is inconsistent (its parts disagree with each other).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A field disagrees with what the record's id says.
    #[error("{id}: {field} is {found} but the id says {expected}")]
    Mismatch {
        /// The record id.
        id: String,
        /// The field that disagrees.
        field: &'static str,
        /// What the field holds.
        found: String,
        /// What the id implies.
        expected: String,
    },
    /// The grant's sources are not sorted by entitlement id or hold a duplicate.
    #[error("{id}: sources must be sorted by entitlement id and unique (use Grant::add_source)")]
    UnsortedSources {
        /// The grant id.
        id: String,
    },
    /// The grant is neither direct nor has a source, so nothing explains it.
    #[error("{id}: a grant that is not direct needs at least one source")]
    NoProvenance {
        /// The grant id.
        id: String,
    },
    /// The entitlement's `grantable_to` is not sorted or repeats a type.
    #[error("{id}: grantable_to must be sorted and unique")]
    UnsortedGrantableTo {
        /// The entitlement id.
        id: String,
    },
}

fn mismatch(
    id: impl ToString,
    field: &'static str,
    found: impl ToString,
    expected: impl ToString,
) -> RecordError {
    RecordError::Mismatch {
        id: id.to_string(),
        field,
        found: found.to_string(),
        expected: expected.to_string(),
    }
}

/// A resource: one Salesforce record that access is about (a user, a role, a permission
/// set...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `type:SalesforceId`.
    pub id: ResourceId,
    /// The resource type; always the type of `id`.
    pub resource_type: ResourceTypeId,
    /// A name for people: the user's full name, the role's name, the permission set's label.
    pub display_name: String,
    /// The parent resource: the role above a role. Absent for top-level resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<ResourceId>,
    /// Free text from Salesforce (the record's Description), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The typed details of the resource; the JSON key is the resource type (`"user": {...}`).
    #[serde(flatten)]
    pub details: ResourceDetails,
}

impl Resource {
    /// Checks that the id, `resource_type` and the details block name the same type.
    pub fn validate(&self) -> Result<(), RecordError> {
        let type_id = self.id.type_id();
        if self.resource_type != type_id {
            return Err(mismatch(
                self.id,
                "resource_type",
                self.resource_type,
                type_id,
            ));
        }
        if self.details.type_id() != type_id {
            return Err(mismatch(
                self.id,
                "details",
                self.details.type_id(),
                type_id,
            ));
        }
        Ok(())
    }
}

/// The details of a resource, one variant per resource type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceDetails {
    /// A user.
    User(UserDetails),
    /// A role.
    Role(RoleDetails),
    /// A group or queue.
    Group(GroupDetails),
    /// A profile.
    Profile(ProfileDetails),
    /// A permission set.
    Permission(PermissionSetDetails),
    /// A permission set group.
    PermissionSetGroup(PermissionSetGroupDetails),
    /// A connected app.
    ConnectedApplication(ConnectedAppDetails),
    /// A user license or permission set license.
    License(LicenseDetails),
}

impl ResourceDetails {
    /// The resource type these details belong to.
    pub fn type_id(&self) -> ResourceTypeId {
        match self {
            ResourceDetails::User(_) => ResourceTypeId::User,
            ResourceDetails::Role(_) => ResourceTypeId::Role,
            ResourceDetails::Group(_) => ResourceTypeId::Group,
            ResourceDetails::Profile(_) => ResourceTypeId::Profile,
            ResourceDetails::Permission(_) => ResourceTypeId::Permission,
            ResourceDetails::PermissionSetGroup(_) => ResourceTypeId::PermissionSetGroup,
            ResourceDetails::ConnectedApplication(_) => ResourceTypeId::ConnectedApplication,
            ResourceDetails::License(_) => ResourceTypeId::License,
        }
    }
}

/// Whether a user can log in (baton's user status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Active and neither frozen nor password-locked.
    Enabled,
    /// Inactive, frozen or password-locked.
    Disabled,
}

/// Why a user has the status it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatusDetail {
    /// `IsActive` and not frozen or locked.
    Active,
    /// `IsActive = false` (deactivated).
    Inactive,
    /// Active but frozen by an admin (`UserLogin.IsFrozen`).
    Frozen,
    /// Active but locked out after failed logins (`UserLogin.IsPasswordLocked`).
    PasswordLocked,
}

impl UserStatusDetail {
    /// The status this detail implies: only `active` is enabled.
    pub fn status(self) -> UserStatus {
        match self {
            UserStatusDetail::Active => UserStatus::Enabled,
            _ => UserStatus::Disabled,
        }
    }
}

/// Details of a `user` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetails {
    /// `Username`, the login name (unique across Salesforce).
    pub username: String,
    /// `Email`, or the username with `--user-username-for-email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `FirstName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// `LastName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Enabled or disabled.
    pub status: UserStatus,
    /// Why: active, inactive, frozen or password-locked.
    pub status_detail: UserStatusDetail,
    /// `UserType`: `Standard`, `PowerPartner`, `CspLitePortal`, `Guest`, ... as Salesforce
    /// spells it.
    pub user_type: String,
    /// The user license (through the profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<ResourceId>,
    /// The profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ResourceId>,
    /// The role, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ResourceId>,
    /// The manager (`ManagerId`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<ResourceId>,
    /// `FederationIdentifier`, the SSO subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation_id: Option<String>,
    /// `LastLoginDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<DateTime<Utc>>,
    /// `CreatedDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
}

/// Details of a `role` resource (its parent role is `Resource::parent_id`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleDetails {
    /// `DeveloperName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_name: Option<String>,
}

/// Which kind of Salesforce group a `group` resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// A public group (`Type = 'Regular'`).
    Regular,
    /// A queue (`Type = 'Queue'`).
    Queue,
}

/// Details of a `group` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDetails {
    /// Regular group or queue.
    pub group_type: GroupType,
    /// `DeveloperName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_name: Option<String>,
}

/// Details of a `profile` resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProfileDetails {
    /// The user license the profile is tied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<ResourceId>,
}

/// Details of a `permission` (permission set) resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSetDetails {
    /// API name (`Name`).
    pub name: String,
    /// `Label`.
    pub label: String,
    /// `Type` (`Regular`, `Session`, `Standard`, ...) as Salesforce spells it, when known.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub set_type: Option<String>,
    /// The license the set requires (`LicenseId`: a user or permission set license).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<ResourceId>,
    /// `NamespacePrefix` of a managed package's set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Details of a `permission_set_group` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSetGroupDetails {
    /// `DeveloperName`.
    pub name: String,
    /// `Status` as Salesforce spells it (`Updated`, `Outdated`, `Updating`, `Failed`): an
    /// outdated group does not yet grant what its components say.
    pub status: String,
}

/// Details of a `connected_application` resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectedAppDetails {
    /// `OptionsAllowAdminApprovedUsersOnly`: only users given `access` may use the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_approved_users_only: Option<bool>,
    /// `CreatedDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
}

/// Which Salesforce object a `license` resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseKind {
    /// A UserLicense (every user has one, through the profile).
    UserLicense,
    /// A PermissionSetLicense (assigned to users one by one).
    PermissionSetLicense,
}

/// Details of a `license` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseDetails {
    /// User license or permission set license.
    pub kind: LicenseKind,
    /// The license key (`LicenseDefinitionKey` or `PermissionSetLicenseKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Status` (`Active`, `Disabled`, ...) as Salesforce spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Seats bought (`TotalLicenses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_seats: Option<u64>,
    /// Seats in use (`UsedLicenses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_seats: Option<u64>,
}

/// What holding an entitlement means (baton's `Entitlement.PurposeValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Being assigned to or a member of something (a role, a group).
    Assignment,
    /// Holding permissions (a profile, a permission set).
    Permission,
}

/// An entitlement: something a principal can hold on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// `type:SalesforceId:slug`.
    pub id: EntitlementId,
    /// The resource it belongs to; always the resource of `id`.
    pub resource_id: ResourceId,
    /// The slug; always the slug of `id`.
    pub slug: String,
    /// A name for people, e.g. "Sales Team Member".
    pub display_name: String,
    /// What holding it gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Assignment or permission.
    pub purpose: Purpose,
    /// The principal types that can hold it, sorted.
    pub grantable_to: Vec<ResourceTypeId>,
}

impl Entitlement {
    /// The entitlement `id` as the resource type table defines it, named after the resource:
    /// display name "<resource display name> <entitlement display name>".
    pub fn standard(id: EntitlementId, resource_display_name: &str) -> Entitlement {
        let slug = id.slug();
        let definition = slug_definition(id.resource_id().type_id(), slug)
            .expect("an EntitlementId's slug is always defined for its type");
        Entitlement {
            id,
            resource_id: id.resource_id(),
            slug: slug.to_owned(),
            display_name: format!("{resource_display_name} {}", definition.display_name),
            description: Some(definition.description.to_owned()),
            purpose: definition.purpose,
            grantable_to: definition.grantable_to.to_vec(),
        }
    }

    /// Checks `resource_id` and `slug` against the id, and that `grantable_to` is sorted.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.resource_id != self.id.resource_id() {
            return Err(mismatch(
                self.id,
                "resource_id",
                self.resource_id,
                self.id.resource_id(),
            ));
        }
        if self.slug != self.id.slug() {
            return Err(mismatch(self.id, "slug", &self.slug, self.id.slug()));
        }
        if !self.grantable_to.windows(2).all(|w| w[0] < w[1]) {
            return Err(RecordError::UnsortedGrantableTo {
                id: self.id.to_string(),
            });
        }
        Ok(())
    }
}

/// How an indirect grant comes to the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Through membership of a (nested) group: the source is that group's `member`
    /// entitlement.
    Group,
    /// Through a role group (`Type = 'Role'`): the source is the role's `assigned`
    /// entitlement.
    Role,
    /// Through a role-and-subordinates group: the source is the `assigned` entitlement of the
    /// role the group stands for (the principal holds it or a role below it).
    RoleAndSubordinates,
    /// Through a permission set group: the source is the PSG's `member` entitlement.
    PermissionSetGroup,
    /// Through the org-wide "All Internal Users" group (`Type = 'Organization'`): the source is
    /// that group's `member` entitlement. The group is not exported as a resource (only
    /// Regular groups and queues are), so this kind says what the id stands for.
    Organization,
    /// Through a profile (a connected app's `access` given to the profile): the source is the
    /// profile's `assigned` entitlement.
    Profile,
    /// Through a permission set (a connected app's `access` given to the set): the source is
    /// the set's `assigned` entitlement, which itself may come through a PSG.
    PermissionSet,
}

impl SourceKind {
    /// Every kind.
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Group,
        SourceKind::Role,
        SourceKind::RoleAndSubordinates,
        SourceKind::PermissionSetGroup,
        SourceKind::Organization,
        SourceKind::Profile,
        SourceKind::PermissionSet,
    ];

    /// The kind as its JSON writes it (`role_and_subordinates`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceKind::Group => "group",
            SourceKind::Role => "role",
            SourceKind::RoleAndSubordinates => "role_and_subordinates",
            SourceKind::PermissionSetGroup => "permission_set_group",
            SourceKind::Organization => "organization",
            SourceKind::Profile => "profile",
            SourceKind::PermissionSet => "permission_set",
        }
    }
}

/// One way an indirect grant comes to its principal (baton's `GrantSources` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GrantSource {
    /// The entitlement through which the access comes.
    pub entitlement_id: EntitlementId,
    /// What kind of path it is.
    pub kind: SourceKind,
}

/// The sources of a grant: inline when there is one (most indirect grants come one way),
/// which spares a sync millions of allocations.
pub type GrantSources = SmallVec<[GrantSource; 1]>;

/// Facts about a grant that are not part of its identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GrantDetails {
    /// The Salesforce record that makes a direct grant (the GroupMember,
    /// PermissionSetAssignment, PermissionSetLicenseAssign, SetupEntityAccess or OauthToken
    /// row), which provisioning deletes to revoke it. Absent for grants that come from a field
    /// (role, profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<crate::salesforce::SfId>,
    /// For `authorized`: when the app's OAuth token was last used (`LastUsedDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
    /// For `authorized`: how often the token was used (`UseCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_count: Option<u64>,
}

impl GrantDetails {
    /// True when no detail is set (the block is then left out of the JSON).
    pub fn is_empty(&self) -> bool {
        self.record_id.is_none() && self.last_used.is_none() && self.use_count.is_none()
    }
}

/// A grant: a principal holds an entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `entitlement_id:principal_type:principal_id`.
    pub id: GrantId,
    /// The entitlement held; always the entitlement of `id`.
    pub entitlement_id: EntitlementId,
    /// Who holds it; always the principal of `id`.
    pub principal_id: ResourceId,
    /// The principal's type; always the type of `principal_id`.
    pub principal_type: ResourceTypeId,
    /// Held directly (an assignment or membership row, a role or profile field). A grant can
    /// be direct and come through sources as well.
    pub direct: bool,
    /// For grants that come through something else (a group, a role group, a PSG): where they
    /// come from, sorted by entitlement id. Empty (and left out of the JSON) for purely direct
    /// grants.
    #[serde(default, skip_serializing_if = "SmallVec::is_empty")]
    pub sources: GrantSources,
    /// When the grant ends (`PermissionSetAssignment.ExpirationDate`), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Facts that are not part of the grant's identity.
    #[serde(default, skip_serializing_if = "GrantDetails::is_empty")]
    pub details: GrantDetails,
}

impl Grant {
    /// A direct grant of `entitlement_id` to `principal_id`, without details.
    pub fn direct(entitlement_id: EntitlementId, principal_id: ResourceId) -> Grant {
        Grant {
            id: GrantId::new(entitlement_id, principal_id),
            entitlement_id,
            principal_id,
            principal_type: principal_id.type_id(),
            direct: true,
            sources: GrantSources::new(),
            expires_at: None,
            details: GrantDetails::default(),
        }
    }

    /// An indirect grant that comes through `source`.
    pub fn through(
        entitlement_id: EntitlementId,
        principal_id: ResourceId,
        source: GrantSource,
    ) -> Grant {
        let mut grant = Grant::direct(entitlement_id, principal_id);
        grant.direct = false;
        grant.sources.push(source);
        grant
    }

    /// Adds a source, keeping `sources` sorted and unique.
    pub fn add_source(&mut self, source: GrantSource) {
        if let Err(at) = self.sources.binary_search(&source) {
            self.sources.insert(at, source);
        }
    }

    /// Checks the parts against the id, the order of the sources, and that the grant is direct
    /// or has a source.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.entitlement_id != self.id.entitlement_id() {
            return Err(mismatch(
                self.id,
                "entitlement_id",
                self.entitlement_id,
                self.id.entitlement_id(),
            ));
        }
        if self.principal_id != self.id.principal_id() {
            return Err(mismatch(
                self.id,
                "principal_id",
                self.principal_id,
                self.id.principal_id(),
            ));
        }
        if self.principal_type != self.principal_id.type_id() {
            return Err(mismatch(
                self.id,
                "principal_type",
                self.principal_type,
                self.principal_id.type_id(),
            ));
        }
        if !self.sources.windows(2).all(|w| w[0] < w[1]) {
            return Err(RecordError::UnsortedSources {
                id: self.id.to_string(),
            });
        }
        if !self.direct && self.sources.is_empty() {
            return Err(RecordError::NoProvenance {
                id: self.id.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::SfId;

    fn rid(type_id: ResourceTypeId, prefix: &str, n: u64) -> ResourceId {
        ResourceId::new(type_id, SfId::from_counter(prefix, "5g", n)).unwrap()
    }

    fn user() -> Resource {
        Resource {
            id: rid(ResourceTypeId::User, "005", 1),
            resource_type: ResourceTypeId::User,
            display_name: "Ada Lovelace".into(),
            parent_id: None,
            description: None,
            details: ResourceDetails::User(UserDetails {
                username: "ada@example.com".into(),
                email: Some("ada@example.com".into()),
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                status: UserStatus::Enabled,
                status_detail: UserStatusDetail::Active,
                user_type: "Standard".into(),
                license: Some(rid(ResourceTypeId::License, "100", 1)),
                profile: Some(rid(ResourceTypeId::Profile, "00e", 1)),
                role: None,
                manager: None,
                federation_id: None,
                last_login: Some("2024-05-01T08:30:00Z".parse().unwrap()),
                created: None,
            }),
        }
    }

    #[test]
    fn resource_json_is_flat_with_a_details_block_named_after_the_type() {
        let json = serde_json::to_string(&user()).unwrap();
        let (u, l, p) = (
            rid(ResourceTypeId::User, "005", 1),
            rid(ResourceTypeId::License, "100", 1),
            rid(ResourceTypeId::Profile, "00e", 1),
        );
        assert_eq!(
            json,
            format!(
                r#"{{"id":"{u}","resource_type":"user","display_name":"Ada Lovelace","user":{{"username":"ada@example.com","email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","status":"enabled","status_detail":"active","user_type":"Standard","license":"{l}","profile":"{p}","last_login":"2024-05-01T08:30:00Z"}}}}"#
            )
        );
        let back: Resource = serde_json::from_str(&json).unwrap();
        assert_eq!(back, user());
    }

    #[test]
    fn every_details_variant_round_trips_through_json() {
        let details = [
            ResourceDetails::Role(RoleDetails {
                developer_name: Some("CEO".into()),
            }),
            ResourceDetails::Group(GroupDetails {
                group_type: GroupType::Queue,
                developer_name: None,
            }),
            ResourceDetails::Profile(ProfileDetails {
                license: Some(rid(ResourceTypeId::License, "100", 2)),
            }),
            ResourceDetails::Permission(PermissionSetDetails {
                name: "Sales_Ops".into(),
                label: "Sales Ops".into(),
                set_type: Some("Regular".into()),
                license: None,
                namespace: Some("acme".into()),
            }),
            ResourceDetails::PermissionSetGroup(PermissionSetGroupDetails {
                name: "Bundle".into(),
                status: "Outdated".into(),
            }),
            ResourceDetails::ConnectedApplication(ConnectedAppDetails {
                admin_approved_users_only: Some(true),
                created: None,
            }),
            ResourceDetails::License(LicenseDetails {
                kind: LicenseKind::PermissionSetLicense,
                key: Some("SalesConsoleUser".into()),
                status: Some("Active".into()),
                total_seats: Some(10),
                used_seats: Some(10),
            }),
        ];
        for d in details {
            let type_id = d.type_id();
            let r = Resource {
                id: rid(
                    type_id,
                    type_id.key_prefixes().map_or("0H4", |p| p[p.len() - 1]),
                    3,
                ),
                resource_type: type_id,
                display_name: "x".into(),
                parent_id: None,
                description: Some("d".into()),
                details: d,
            };
            r.validate().unwrap();
            let json = serde_json::to_value(&r).unwrap();
            assert!(json.get(type_id.as_str()).is_some(), "{json}");
            assert_eq!(serde_json::from_value::<Resource>(json).unwrap(), r);
        }
    }

    #[test]
    fn resource_whose_details_disagree_with_its_id_is_invalid() {
        let mut r = user();
        r.details = ResourceDetails::Role(RoleDetails::default());
        assert!(matches!(
            r.validate(),
            Err(RecordError::Mismatch {
                field: "details",
                ..
            })
        ));
        let mut r = user();
        r.resource_type = ResourceTypeId::Role;
        assert!(matches!(
            r.validate(),
            Err(RecordError::Mismatch {
                field: "resource_type",
                ..
            })
        ));
    }

    #[test]
    fn source_kind_text_is_its_json() {
        for kind in SourceKind::ALL {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }

    #[test]
    fn grant_sources_stay_sorted_and_grant_json_round_trips() {
        let group_a = EntitlementId::new(rid(ResourceTypeId::Group, "00G", 1), "member").unwrap();
        let group_b = EntitlementId::new(rid(ResourceTypeId::Group, "00G", 2), "member").unwrap();
        let principal = rid(ResourceTypeId::User, "005", 9);
        let mut g = Grant::through(
            group_b,
            principal,
            GrantSource {
                entitlement_id: group_b,
                kind: SourceKind::Group,
            },
        );
        g.sources.clear();
        g.add_source(GrantSource {
            entitlement_id: group_b,
            kind: SourceKind::Group,
        });
        g.add_source(GrantSource {
            entitlement_id: group_a,
            kind: SourceKind::Group,
        });
        g.add_source(GrantSource {
            entitlement_id: group_a,
            kind: SourceKind::Group,
        });
        assert_eq!(g.sources.len(), 2);
        g.validate().unwrap();
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["principal_type"], "user");
        assert_eq!(json["direct"], false);
        assert!(json.get("details").is_none());
        assert_eq!(serde_json::from_value::<Grant>(json).unwrap(), g);
        g.sources.reverse();
        assert!(matches!(
            g.validate(),
            Err(RecordError::UnsortedSources { .. })
        ));
        g.sources.clear();
        assert!(matches!(
            g.validate(),
            Err(RecordError::NoProvenance { .. })
        ));
    }

    #[test]
    fn standard_entitlement_follows_the_type_table() {
        let id = EntitlementId::new(rid(ResourceTypeId::Group, "00G", 1), "member").unwrap();
        let e = Entitlement::standard(id, "Sales");
        e.validate().unwrap();
        assert_eq!(e.display_name, "Sales Member");
        assert_eq!(e.purpose, Purpose::Assignment);
        assert_eq!(e.grantable_to, vec![ResourceTypeId::User]);
        let mut bad = e.clone();
        bad.slug = "assigned".into();
        assert!(bad.validate().is_err());
    }
}
