//! The running user's effective system permissions: its profile, and every permission set
//! assigned to it (directly or through a permission set group's aggregate set).
//!
//! Facts section 6: `PermissionSetAssignment WHERE AssigneeId = <me>` with the
//! `PermissionSet.Permissions*` fields covers profile grants too (every user has an
//! assignment of its profile's owned set). The profile's own fields are read as well, so
//! the answer stays right when assignments cannot be read (they need View Setup).

use std::collections::BTreeSet;

use chrono::Utc;
use serde::Deserialize;

use super::parse_datetime;
use crate::salesforce::client::Client;
use crate::salesforce::error::SalesforceError;
use crate::salesforce::id::SfId;
use crate::salesforce::query::QueryOptions;
use crate::salesforce::soql::{Condition, Soql};

/// A system permission: its field on Profile and PermissionSet, and its Setup label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemPermission {
    /// `PermissionsViewSetup`.
    pub field: &'static str,
    /// `View Setup and Configuration`.
    pub label: &'static str,
}

impl SystemPermission {
    /// Any API call.
    pub const API_ENABLED: SystemPermission = SystemPermission {
        field: "PermissionsApiEnabled",
        label: "API Enabled",
    };
    /// Setup objects and `/limits`.
    pub const VIEW_SETUP: SystemPermission = SystemPermission {
        field: "PermissionsViewSetup",
        label: "View Setup and Configuration",
    };
    /// Users, logins, public groups.
    pub const MANAGE_USERS: SystemPermission = SystemPermission {
        field: "PermissionsManageUsers",
        label: "Manage Users",
    };
    /// Creating and editing internal users.
    pub const MANAGE_INTERNAL_USERS: SystemPermission = SystemPermission {
        field: "PermissionsManageInternalUsers",
        label: "Manage Internal Users",
    };
    /// Every user's OAuth tokens, connected apps.
    pub const CUSTOMIZE_APPLICATION: SystemPermission = SystemPermission {
        field: "PermissionsCustomizeApplication",
        label: "Customize Application",
    };
    /// (Un)assigning permission sets, groups and licenses.
    pub const ASSIGN_PERMISSION_SETS: SystemPermission = SystemPermission {
        field: "PermissionsAssignPermissionSets",
        label: "Assign Permission Sets",
    };
    /// Roles.
    pub const MANAGE_ROLES: SystemPermission = SystemPermission {
        field: "PermissionsManageRoles",
        label: "Manage Roles",
    };
    /// Reading roles.
    pub const VIEW_ROLES: SystemPermission = SystemPermission {
        field: "PermissionsViewRoles",
        label: "View Roles and Role Hierarchy",
    };

    /// Every permission this module reads.
    pub const ALL: &'static [SystemPermission] = &[
        SystemPermission::API_ENABLED,
        SystemPermission::VIEW_SETUP,
        SystemPermission::MANAGE_USERS,
        SystemPermission::MANAGE_INTERNAL_USERS,
        SystemPermission::CUSTOMIZE_APPLICATION,
        SystemPermission::ASSIGN_PERMISSION_SETS,
        SystemPermission::MANAGE_ROLES,
        SystemPermission::VIEW_ROLES,
    ];
}

/// A nested Profile or PermissionSet with its permission booleans.
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionHolder {
    /// Name (API name for permission sets).
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    /// Label (permission sets).
    #[serde(rename = "Label", default)]
    pub label: Option<String>,
    /// `UserLicenseId` (profiles).
    #[serde(rename = "UserLicenseId", default)]
    pub user_license_id: Option<SfId>,
    /// `IsOwnedByProfile` (permission sets).
    #[serde(rename = "IsOwnedByProfile", default)]
    pub is_owned_by_profile: Option<bool>,
    /// `PermissionSetGroupId` (aggregate sets of a group).
    #[serde(rename = "PermissionSetGroupId", default)]
    pub permission_set_group_id: Option<SfId>,
    /// Every other field, among them the `Permissions*` booleans.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl PermissionHolder {
    /// The permissions this holder grants, of those in `SystemPermission::ALL`.
    pub fn granted(&self) -> BTreeSet<SystemPermission> {
        SystemPermission::ALL
            .iter()
            .filter(|p| self.fields.get(p.field) == Some(&serde_json::Value::Bool(true)))
            .copied()
            .collect()
    }
}

/// The running user with its profile's permissions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CurrentUser {
    /// `005...`.
    pub id: SfId,
    /// Username.
    pub username: String,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Active flag.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Profile ID.
    #[serde(default)]
    pub profile_id: Option<SfId>,
    /// The profile with its permissions.
    #[serde(default)]
    pub profile: Option<PermissionHolder>,
}

impl CurrentUser {
    /// `SELECT Id, Username, Name, IsActive, ProfileId, Profile.Name, Profile.UserLicenseId,
    /// Profile.Permissions... FROM User WHERE Id = '<id>'`.
    pub fn query(user: &SfId) -> Soql {
        let mut fields: Vec<String> = [
            "Id",
            "Username",
            "Name",
            "IsActive",
            "ProfileId",
            "Profile.Name",
            "Profile.UserLicenseId",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect();
        fields.extend(
            SystemPermission::ALL
                .iter()
                .map(|p| format!("Profile.{}", p.field)),
        );
        Soql::select("User", fields)
            .filter(Condition::eq("Id", *user))
            .build()
            .expect("static field list")
    }

    /// Reads the user (one call). `None` when the user is not visible.
    pub async fn fetch(
        client: &Client,
        user: &SfId,
    ) -> Result<Option<CurrentUser>, SalesforceError> {
        let rows: Vec<CurrentUser> = client
            .query_all(&CurrentUser::query(user), QueryOptions::default())
            .await?;
        Ok(rows.into_iter().next())
    }
}

/// One row of `PermissionSetAssignment` with its set's permissions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssignmentPermissions {
    /// `0Pa...`.
    pub id: SfId,
    /// The permission set (for a group assignment: the group's aggregate set, or null).
    #[serde(default)]
    pub permission_set_id: Option<SfId>,
    /// The permission set group, for group assignments.
    #[serde(default)]
    pub permission_set_group_id: Option<SfId>,
    /// Time-bound assignments end here.
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// False for session-based sets that are not activated.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// The set with its permissions.
    #[serde(default)]
    pub permission_set: Option<PermissionHolder>,
}

impl AssignmentPermissions {
    /// The assignments of `user` with their sets' permissions (facts 6).
    pub fn query(user: &SfId) -> Soql {
        let mut fields: Vec<String> = [
            "Id",
            "PermissionSetId",
            "PermissionSetGroupId",
            "ExpirationDate",
            "IsActive",
            "PermissionSet.Name",
            "PermissionSet.Label",
            "PermissionSet.IsOwnedByProfile",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect();
        fields.extend(
            SystemPermission::ALL
                .iter()
                .map(|p| format!("PermissionSet.{}", p.field)),
        );
        Soql::select("PermissionSetAssignment", fields)
            .filter(Condition::eq("AssigneeId", *user))
            .build()
            .expect("static field list")
    }

    /// True when the assignment is in force now: not expired and not an inactive
    /// session-based set.
    pub fn is_effective(&self) -> bool {
        let expired = self
            .expiration_date
            .as_deref()
            .and_then(parse_datetime)
            .is_some_and(|t| t <= Utc::now());
        !expired && self.is_active != Some(false)
    }
}

/// Where a permission comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The user's profile.
    Profile,
    /// An assigned permission set.
    PermissionSet,
    /// A permission set group.
    PermissionSetGroup,
}

/// One source of permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSource {
    /// Profile, permission set or group.
    pub kind: SourceKind,
    /// Its name or label.
    pub name: String,
    /// What it grants.
    pub granted: BTreeSet<SystemPermission>,
}

/// The running user's permissions, by source.
#[derive(Debug)]
pub struct UserPermissions {
    /// The user.
    pub user: CurrentUser,
    /// Every source in force.
    pub sources: Vec<PermissionSource>,
    /// Why the assignments could not be read, when they could not (then only the profile
    /// counts).
    pub assignments_error: Option<SalesforceError>,
}

impl UserPermissions {
    /// Reads the user, its profile and its assignments: two calls, three when a group
    /// assignment does not carry its aggregate set.
    pub async fn fetch(
        client: &Client,
        user: &SfId,
    ) -> Result<Option<UserPermissions>, SalesforceError> {
        let Some(current) = CurrentUser::fetch(client, user).await? else {
            return Ok(None);
        };
        let mut sources = Vec::new();
        if let Some(profile) = &current.profile {
            sources.push(PermissionSource {
                kind: SourceKind::Profile,
                name: profile.name.clone().unwrap_or_else(|| "(profile)".into()),
                granted: profile.granted(),
            });
        }
        let assignments: Result<Vec<AssignmentPermissions>, SalesforceError> = client
            .query_all(&AssignmentPermissions::query(user), QueryOptions::default())
            .await;
        let assignments = match assignments {
            Ok(rows) => rows,
            Err(error) => {
                return Ok(Some(UserPermissions {
                    user: current,
                    sources,
                    assignments_error: Some(error),
                }));
            }
        };
        let mut groups_without_set = Vec::new();
        for assignment in assignments.iter().filter(|a| a.is_effective()) {
            match (
                &assignment.permission_set,
                assignment.permission_set_group_id,
            ) {
                (Some(set), group) => {
                    // The profile-owned set mirrors the profile, already counted.
                    if set.is_owned_by_profile == Some(true) {
                        continue;
                    }
                    sources.push(PermissionSource {
                        kind: if group.is_some() {
                            SourceKind::PermissionSetGroup
                        } else {
                            SourceKind::PermissionSet
                        },
                        name: set
                            .label
                            .clone()
                            .or_else(|| set.name.clone())
                            .unwrap_or_default(),
                        granted: set.granted(),
                    });
                }
                (None, Some(group)) => groups_without_set.push(group),
                (None, None) => {}
            }
        }
        if !groups_without_set.is_empty() {
            // Some orgs leave PermissionSetId empty on group assignments (facts 5.8): read
            // the groups' aggregate sets instead.
            let mut fields: Vec<String> = ["Id", "Name", "Label", "PermissionSetGroupId"]
                .iter()
                .map(|f| f.to_string())
                .collect();
            fields.extend(SystemPermission::ALL.iter().map(|p| p.field.to_string()));
            let soql = Soql::select("PermissionSet", fields)
                .filter(Condition::in_ids(
                    "PermissionSetGroupId",
                    groups_without_set.iter(),
                ))
                .build()
                .expect("static field list");
            let sets: Vec<PermissionHolder> =
                client.query_all(&soql, QueryOptions::default()).await?;
            for set in sets {
                sources.push(PermissionSource {
                    kind: SourceKind::PermissionSetGroup,
                    name: set
                        .label
                        .clone()
                        .or_else(|| set.name.clone())
                        .unwrap_or_default(),
                    granted: set.granted(),
                });
            }
        }
        Ok(Some(UserPermissions {
            user: current,
            sources,
            assignments_error: None,
        }))
    }

    /// The sources granting any of `permissions`.
    pub fn sources_of(&self, permissions: &[SystemPermission]) -> Vec<&PermissionSource> {
        self.sources
            .iter()
            .filter(|s| permissions.iter().any(|p| s.granted.contains(p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_select_the_permission_fields_for_the_user() {
        let user = SfId::parse("005xx000001Sv6eAAC").unwrap();
        let q = AssignmentPermissions::query(&user);
        assert!(q.as_str().contains("PermissionSet.PermissionsViewSetup"));
        assert!(
            q.as_str()
                .ends_with("WHERE AssigneeId = '005xx000001Sv6eAAC'")
        );
        let q = CurrentUser::query(&user);
        assert!(q.as_str().contains("Profile.PermissionsApiEnabled"));
    }

    #[test]
    fn assignment_rows_decode_with_nested_permissions() {
        let row: AssignmentPermissions = serde_json::from_str(
            r#"{"attributes":{"type":"PermissionSetAssignment"},"Id":"0Paxx0000000001",
                "PermissionSetId":"0PSxx0000000001","PermissionSetGroupId":null,
                "ExpirationDate":"2000-01-01T00:00:00.000+0000","IsActive":true,
                "PermissionSet":{"attributes":{"type":"PermissionSet"},"Name":"Integration","Label":"Integration",
                  "IsOwnedByProfile":false,"PermissionsViewSetup":true,"PermissionsApiEnabled":false}}"#,
        )
        .unwrap();
        let set = row.permission_set.as_ref().unwrap();
        assert_eq!(
            set.granted(),
            BTreeSet::from([SystemPermission::VIEW_SETUP])
        );
        assert!(!row.is_effective(), "expired in 2000");
        let row = AssignmentPermissions {
            expiration_date: None,
            is_active: Some(false),
            ..row
        };
        assert!(!row.is_effective(), "inactive session-based set");
    }
}
