//! The records provisioning reads and writes: users and their logins, the targets of a grant
//! (permission sets, permission set groups, public groups, roles, profiles, permission set
//! licenses) and the rows that make a grant (PermissionSetAssignment, GroupMember,
//! PermissionSetLicenseAssign), each with the query that reads it by ID and the body of the
//! writes that change it (facts 3.6, 5.1-5.12).
//!
//! Everything here is Salesforce's spelling; `crate::provision` turns it into the model. IDs
//! reach SOQL only as `SfId`, names only through `soql::quote` (the `Literal::Str` of the
//! builder). This module builds queries and bodies; `provision` decides when to send them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::parse_datetime;
use crate::salesforce::id::SfId;
use crate::salesforce::soql::{Condition, Order, Soql};

/// Reads a Salesforce date-time (`2020-08-11T15:55:08.000+0000`), which is not RFC 3339.
fn sf_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => parse_datetime(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a date-time"))),
    }
}

/// The form Salesforce documents for date-time values in a write body (ISO 8601, UTC).
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn by_id(object: &str, fields: &[&str], id: SfId) -> Soql {
    Soql::select(object, fields.iter().copied())
        .filter(Condition::eq("Id", id))
        .build()
        .expect("static object and field names")
}

/// `Profile.UserLicenseId` of a user, read through the relationship.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileLicenseRef {
    /// The profile's user license.
    #[serde(default)]
    pub user_license_id: Option<SfId>,
}

/// A user as provisioning needs it (facts 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRecord {
    /// `005...`.
    pub id: SfId,
    /// Login name, unique across Salesforce.
    pub username: String,
    /// `FirstName LastName`.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// False for deactivated users.
    pub is_active: bool,
    /// `Standard`, `PowerPartner`, ... (null for some system users).
    #[serde(default)]
    pub user_type: Option<String>,
    /// The profile (required by Salesforce, but read defensively).
    #[serde(default)]
    pub profile_id: Option<SfId>,
    /// The profile's license, through the relationship.
    #[serde(default)]
    pub profile: Option<ProfileLicenseRef>,
    /// The role, if any.
    #[serde(default)]
    pub user_role_id: Option<SfId>,
    /// The manager, if any.
    #[serde(default)]
    pub manager_id: Option<SfId>,
    /// SAML Federation ID.
    #[serde(default)]
    pub federation_identifier: Option<String>,
    /// Last login.
    #[serde(default, deserialize_with = "sf_datetime")]
    pub last_login_date: Option<DateTime<Utc>>,
    /// Creation time.
    #[serde(default, deserialize_with = "sf_datetime")]
    pub created_date: Option<DateTime<Utc>>,
}

/// The fields `UserRecord` reads.
const USER_FIELDS: &[&str] = &[
    "Id",
    "Username",
    "Name",
    "Email",
    "FirstName",
    "LastName",
    "IsActive",
    "UserType",
    "ProfileId",
    "Profile.UserLicenseId",
    "UserRoleId",
    "ManagerId",
    "FederationIdentifier",
    "LastLoginDate",
    "CreatedDate",
];

impl UserRecord {
    /// The user with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("User", USER_FIELDS, id)
    }

    /// The user with this username. SOQL compares text case-insensitively, as Salesforce
    /// compares usernames.
    pub fn by_username(username: &str) -> Soql {
        Soql::select("User", USER_FIELDS.iter().copied())
            .filter(Condition::eq("Username", username))
            .build()
            .expect("static object and field names")
    }

    /// The license of the user's profile.
    pub fn license_id(&self) -> Option<SfId> {
        self.profile.as_ref().and_then(|p| p.user_license_id)
    }

    /// `PATCH User`: sets the role (`None` clears it; Salesforce takes `null` for a lookup).
    pub fn set_role(role: Option<SfId>) -> Value {
        json!({ "UserRoleId": role.map(|r| r.to_string()) })
    }

    /// `PATCH User`: sets the profile.
    pub fn set_profile(profile: SfId) -> Value {
        json!({ "ProfileId": profile.to_string() })
    }

    /// `PATCH User`: activates or deactivates (users are never deleted, facts 5.1).
    pub fn set_active(active: bool) -> Value {
        json!({ "IsActive": active })
    }
}

/// A user's login record, which holds the frozen state (facts 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserLoginRecord {
    /// `060...`.
    pub id: SfId,
    /// The user.
    pub user_id: SfId,
    /// Frozen by an admin.
    #[serde(default)]
    pub is_frozen: bool,
    /// Locked out after failed logins.
    #[serde(default)]
    pub is_password_locked: bool,
}

impl UserLoginRecord {
    /// The login row of a user (one per user; some users have none).
    pub fn of_user(user: SfId) -> Soql {
        Soql::select(
            "UserLogin",
            ["Id", "UserId", "IsFrozen", "IsPasswordLocked"],
        )
        .filter(Condition::eq("UserId", user))
        .build()
        .expect("static object and field names")
    }

    /// `PATCH UserLogin`: freezes or unfreezes.
    pub fn set_frozen(frozen: bool) -> Value {
        json!({ "IsFrozen": frozen })
    }
}

/// A permission set (facts 5.5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetRecord {
    /// `0PS...`.
    pub id: SfId,
    /// API name.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// `Regular`, `Session`, `Group`, `Profile`, `Standard`...
    #[serde(default, rename = "Type")]
    pub set_type: Option<String>,
    /// Owned by a profile: assigned by changing the user's profile instead.
    #[serde(default)]
    pub is_owned_by_profile: bool,
    /// Set on a permission set group's aggregate set.
    #[serde(default)]
    pub permission_set_group_id: Option<SfId>,
}

impl PermissionSetRecord {
    /// The permission set with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id(
            "PermissionSet",
            &[
                "Id",
                "Name",
                "Label",
                "Type",
                "IsOwnedByProfile",
                "PermissionSetGroupId",
            ],
            id,
        )
    }
}

/// A permission set group (facts 5.6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetGroupRecord {
    /// `0PG...`.
    pub id: SfId,
    /// API name.
    pub developer_name: String,
    /// `Updated`, `Outdated`, `Updating`, `Failed`.
    #[serde(default)]
    pub status: Option<String>,
}

impl PermissionSetGroupRecord {
    /// The group with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("PermissionSetGroup", &["Id", "DeveloperName", "Status"], id)
    }
}

/// A group (facts 5.10).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRecord {
    /// `00G...`.
    pub id: SfId,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// `Regular`, `Queue`, `Role`, `Organization`...
    #[serde(default, rename = "Type")]
    pub group_type: Option<String>,
}

impl GroupRecord {
    /// The group with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("Group", &["Id", "Name", "Type"], id)
    }

    /// True for the groups whose members clients manage: public groups and queues (facts
    /// 5.11: role and organization groups are maintained by Salesforce).
    pub fn has_managed_members(&self) -> bool {
        matches!(self.group_type.as_deref(), None | Some("Regular" | "Queue"))
    }
}

/// A role (facts 5.12).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleRecord {
    /// `00E...`.
    pub id: SfId,
    /// Name.
    pub name: String,
}

impl RoleRecord {
    /// The role with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("UserRole", &["Id", "Name"], id)
    }
}

/// A profile and its license (facts 5.4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileRecord {
    /// `00e...`.
    pub id: SfId,
    /// Name.
    pub name: String,
    /// The user license the profile belongs to.
    #[serde(default)]
    pub user_license_id: Option<SfId>,
}

const PROFILE_FIELDS: &[&str] = &["Id", "Name", "UserLicenseId"];

impl ProfileRecord {
    /// The profile with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("Profile", PROFILE_FIELDS, id)
    }

    /// The profiles with this name (names are unique in practice, but not by rule).
    pub fn by_name(name: &str) -> Soql {
        Soql::select("Profile", PROFILE_FIELDS.iter().copied())
            .filter(Condition::eq("Name", name))
            .order_by("Id", Order::Asc)
            .build()
            .expect("static object and field names")
    }
}

/// A user license with its seats (facts 5.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserLicenseRecord {
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
    /// Seats bought.
    #[serde(default)]
    pub total_licenses: Option<i64>,
    /// Seats in use.
    #[serde(default)]
    pub used_licenses: Option<i64>,
}

impl UserLicenseRecord {
    /// The license with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id(
            "UserLicense",
            &[
                "Id",
                "Name",
                "MasterLabel",
                "LicenseDefinitionKey",
                "Status",
                "TotalLicenses",
                "UsedLicenses",
            ],
            id,
        )
    }

    /// True when `key` names this license by name, label or `LicenseDefinitionKey`,
    /// ignoring case (admins type them by hand).
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

    /// `Salesforce (SFDC)`: the name and the key, for messages.
    pub fn describe(&self) -> String {
        match &self.license_definition_key {
            Some(key) if key != &self.name => format!("{} ({key})", self.name),
            _ => self.name.clone(),
        }
    }

    /// True when no seat is free: disabled, or every seat used.
    pub fn is_full(&self) -> bool {
        if self.status.as_deref() == Some("Disabled") {
            return true;
        }
        matches!((self.total_licenses, self.used_licenses), (Some(t), Some(u)) if u >= t)
    }
}

/// A permission set license with its seats (facts 5.9).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetLicenseRecord {
    /// `0PL...`.
    pub id: SfId,
    /// API name.
    pub developer_name: String,
    /// Label.
    #[serde(default)]
    pub master_label: Option<String>,
    /// `Active` or `Disabled` (expired).
    #[serde(default)]
    pub status: Option<String>,
    /// Seats bought.
    #[serde(default)]
    pub total_licenses: Option<i64>,
    /// Seats in use.
    #[serde(default)]
    pub used_licenses: Option<i64>,
}

impl PermissionSetLicenseRecord {
    /// The license with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id(
            "PermissionSetLicense",
            &[
                "Id",
                "DeveloperName",
                "MasterLabel",
                "Status",
                "TotalLicenses",
                "UsedLicenses",
            ],
            id,
        )
    }

    /// True when no seat is free: disabled (expired), or every seat used.
    pub fn is_full(&self) -> bool {
        if self.status.as_deref() == Some("Disabled") {
            return true;
        }
        matches!((self.total_licenses, self.used_licenses), (Some(t), Some(u)) if u >= t)
    }
}

/// What a PermissionSetAssignment assigns: a permission set or a permission set group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentTarget {
    /// `PermissionSetId` (with `PermissionSetGroupId` null).
    PermissionSet(SfId),
    /// `PermissionSetGroupId` (Salesforce fills `PermissionSetId` with the group's aggregate).
    PermissionSetGroup(SfId),
}

/// A permission set or permission set group assignment (facts 5.8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssignmentRecord {
    /// `0Pa...`.
    pub id: SfId,
    /// The user.
    pub assignee_id: SfId,
    /// The permission set (for a group assignment: the group's aggregate set).
    #[serde(default)]
    pub permission_set_id: Option<SfId>,
    /// The permission set group, for group assignments.
    #[serde(default)]
    pub permission_set_group_id: Option<SfId>,
    /// When the assignment ends, if it does.
    #[serde(default, deserialize_with = "sf_datetime")]
    pub expiration_date: Option<DateTime<Utc>>,
}

impl AssignmentRecord {
    const FIELDS: &[&str] = &[
        "Id",
        "AssigneeId",
        "PermissionSetId",
        "PermissionSetGroupId",
        "ExpirationDate",
    ];

    /// The user's assignment of `target`. A permission set assignment is one whose
    /// `PermissionSetGroupId` is null, because a group assignment also carries the group's
    /// aggregate set in `PermissionSetId` (facts 5.8).
    pub fn of(user: SfId, target: AssignmentTarget) -> Soql {
        let builder = Soql::select("PermissionSetAssignment", Self::FIELDS.iter().copied())
            .filter(Condition::eq("AssigneeId", user));
        let builder = match target {
            AssignmentTarget::PermissionSet(set) => builder
                .filter(Condition::eq("PermissionSetId", set))
                .filter(Condition::is_null("PermissionSetGroupId")),
            AssignmentTarget::PermissionSetGroup(group) => {
                builder.filter(Condition::eq("PermissionSetGroupId", group))
            }
        };
        builder
            .order_by("Id", Order::Asc)
            .build()
            .expect("static object and field names")
    }

    /// The assignment with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("PermissionSetAssignment", Self::FIELDS, id)
    }

    /// `POST PermissionSetAssignment`.
    pub fn insert(user: SfId, target: AssignmentTarget, expires: Option<DateTime<Utc>>) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("AssigneeId".into(), json!(user.to_string()));
        match target {
            AssignmentTarget::PermissionSet(set) => {
                body.insert("PermissionSetId".into(), json!(set.to_string()));
            }
            AssignmentTarget::PermissionSetGroup(group) => {
                body.insert("PermissionSetGroupId".into(), json!(group.to_string()));
            }
        }
        if let Some(expires) = expires {
            body.insert("ExpirationDate".into(), json!(format_datetime(expires)));
        }
        Value::Object(body)
    }

    /// `PATCH PermissionSetAssignment`: the only updatable field (facts 5.18).
    pub fn set_expiration(expires: Option<DateTime<Utc>>) -> Value {
        json!({ "ExpirationDate": expires.map(format_datetime) })
    }
}

/// A direct group membership (facts 5.11).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupMemberRecord {
    /// `011...`.
    pub id: SfId,
    /// The group.
    pub group_id: SfId,
    /// The member: a user or a group.
    pub user_or_group_id: SfId,
}

impl GroupMemberRecord {
    const FIELDS: &[&str] = &["Id", "GroupId", "UserOrGroupId"];

    /// The membership of `member` in `group`.
    pub fn of(group: SfId, member: SfId) -> Soql {
        Soql::select("GroupMember", Self::FIELDS.iter().copied())
            .filter(Condition::eq("GroupId", group))
            .filter(Condition::eq("UserOrGroupId", member))
            .order_by("Id", Order::Asc)
            .build()
            .expect("static object and field names")
    }

    /// The membership with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("GroupMember", Self::FIELDS, id)
    }

    /// `POST GroupMember`.
    pub fn insert(group: SfId, member: SfId) -> Value {
        json!({ "GroupId": group.to_string(), "UserOrGroupId": member.to_string() })
    }
}

/// A permission set license assignment (facts 5.9).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LicenseAssignmentRecord {
    /// `2LA...`.
    pub id: SfId,
    /// The user.
    pub assignee_id: SfId,
    /// The permission set license.
    pub permission_set_license_id: SfId,
}

impl LicenseAssignmentRecord {
    const FIELDS: &[&str] = &["Id", "AssigneeId", "PermissionSetLicenseId"];

    /// The user's assignment of `license`.
    pub fn of(user: SfId, license: SfId) -> Soql {
        Soql::select("PermissionSetLicenseAssign", Self::FIELDS.iter().copied())
            .filter(Condition::eq("AssigneeId", user))
            .filter(Condition::eq("PermissionSetLicenseId", license))
            .order_by("Id", Order::Asc)
            .build()
            .expect("static object and field names")
    }

    /// The assignment with this ID.
    pub fn by_id(id: SfId) -> Soql {
        by_id("PermissionSetLicenseAssign", Self::FIELDS, id)
    }

    /// `POST PermissionSetLicenseAssign`.
    pub fn insert(user: SfId, license: SfId) -> Value {
        json!({ "AssigneeId": user.to_string(), "PermissionSetLicenseId": license.to_string() })
    }
}

/// The org's default time zone, for new users when none is given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrganizationDefaults {
    /// `America/Los_Angeles`...
    #[serde(default)]
    pub time_zone_sid_key: Option<String>,
}

impl OrganizationDefaults {
    /// `SELECT TimeZoneSidKey FROM Organization`.
    pub fn query() -> Soql {
        Soql::select("Organization", ["TimeZoneSidKey"])
            .build()
            .expect("static object and field names")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SfId {
        SfId::parse(s).unwrap()
    }

    #[test]
    fn assignment_queries_separate_set_and_group_assignments() {
        let user = id("0055g0000000004AAA");
        assert_eq!(
            AssignmentRecord::of(
                user,
                AssignmentTarget::PermissionSet(id("0PS5g000000000JGAQ"))
            )
            .as_str(),
            "SELECT Id, AssigneeId, PermissionSetId, PermissionSetGroupId, ExpirationDate FROM \
             PermissionSetAssignment WHERE AssigneeId = '0055g0000000004AAA' AND PermissionSetId \
             = '0PS5g000000000JGAQ' AND PermissionSetGroupId = null ORDER BY Id ASC"
        );
        assert_eq!(
            AssignmentRecord::of(
                user,
                AssignmentTarget::PermissionSetGroup(id("0PG5g0000000001GAA"))
            )
            .as_str(),
            "SELECT Id, AssigneeId, PermissionSetId, PermissionSetGroupId, ExpirationDate FROM \
             PermissionSetAssignment WHERE AssigneeId = '0055g0000000004AAA' AND \
             PermissionSetGroupId = '0PG5g0000000001GAA' ORDER BY Id ASC"
        );
    }

    #[test]
    fn names_reach_soql_quoted() {
        assert_eq!(
            ProfileRecord::by_name("O'Brien\\ Profile").as_str(),
            r"SELECT Id, Name, UserLicenseId FROM Profile WHERE Name = 'O\'Brien\\ Profile' ORDER BY Id ASC"
        );
        assert!(
            UserRecord::by_username("x' OR Username != '")
                .as_str()
                .ends_with(r"WHERE Username = 'x\' OR Username != \''")
        );
    }

    #[test]
    fn write_bodies_use_salesforce_spelling() {
        let user = id("0055g0000000004AAA");
        let expires: DateTime<Utc> = "2030-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(
            AssignmentRecord::insert(
                user,
                AssignmentTarget::PermissionSetGroup(id("0PG5g0000000001GAA")),
                Some(expires)
            ),
            json!({"AssigneeId": "0055g0000000004AAA", "PermissionSetGroupId": "0PG5g0000000001GAA",
                   "ExpirationDate": "2030-01-02T03:04:05.000Z"})
        );
        assert_eq!(UserRecord::set_role(None), json!({ "UserRoleId": null }));
        assert_eq!(
            AssignmentRecord::set_expiration(None),
            json!({ "ExpirationDate": null })
        );
    }

    #[test]
    fn user_record_reads_salesforce_datetimes_and_the_profile_license() {
        let user: UserRecord = serde_json::from_value(json!({
            "attributes": {"type": "User"},
            "Id": "0055g0000000004AAA", "Username": "a@b.example", "IsActive": true,
            "ProfileId": "00e5g0000000002AAA",
            "Profile": {"attributes": {"type": "Profile"}, "UserLicenseId": "1005g0000000001AAA"},
            "LastLoginDate": "2025-07-01T00:00:00.000+0000", "CreatedDate": null
        }))
        .unwrap();
        assert_eq!(user.license_id(), Some(id("1005g0000000001AAA")));
        assert_eq!(
            user.last_login_date.unwrap().to_rfc3339(),
            "2025-07-01T00:00:00+00:00"
        );
    }

    #[test]
    fn license_is_full_when_disabled_or_every_seat_is_used() {
        let mut license = UserLicenseRecord {
            id: id("1005g0000000002AAA"),
            name: "Salesforce Platform".into(),
            master_label: None,
            license_definition_key: Some("AUL".into()),
            status: Some("Active".into()),
            total_licenses: Some(2),
            used_licenses: Some(2),
        };
        assert!(license.is_full());
        assert_eq!(license.describe(), "Salesforce Platform (AUL)");
        assert!(license.is_named("aul"));
        license.used_licenses = Some(1);
        assert!(!license.is_full());
        license.status = Some("Disabled".into());
        assert!(license.is_full());
    }
}
