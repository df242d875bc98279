//! The object table: every Salesforce object the sync reads, as one declarative definition
//! (object, fields, filter, order, paging), each followed by its wire row (Salesforce's
//! spelling), its pure mapping function into the model, and its unit test.
//!
//! Adding an object is one `ObjectSpec` in `OBJECTS`, one row struct and one mapping function
//! here. Nothing in this file does I/O: `fetch` runs the specs, `expand` joins the rows of the
//! relationship objects (memberships, assignments, tokens) into grants. The SOQL comes from
//! `ObjectSpec::soql` through the `salesforce::soql` builder; no query text is written by hand.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::SyncOptions;
use super::error::SyncError;
use crate::model::{
    ConnectedAppDetails, Entitlement, EntitlementId, GroupDetails, GroupType, LicenseDetails,
    LicenseKind, PermissionSetDetails, PermissionSetGroupDetails, ProfileDetails, Resource,
    ResourceDetails, ResourceId, ResourceTypeId, RoleDetails,
};
use crate::salesforce::soql::{Aggregate, Literal, Order, Soql};
use crate::salesforce::{Condition, SfId};

/// How an object's rows are paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    /// One query, then `nextRecordsUrl` until `done` (facts 3.3): ceil(rows / batch) calls.
    Cursor,
    /// Keyset chunks: `WHERE Id > 'last' ORDER BY Id LIMIT rows`, repeated until a chunk comes
    /// back short. For objects whose cursor stops early (OauthToken: at most 2,500 rows through
    /// queryMore, facts 5.15). Also the shape issue 8's concurrent Id ranges build on.
    IdChunks {
        /// Rows per chunk (the `LIMIT`).
        rows: u32,
    },
}

/// When an object is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Every sync.
    Always,
    /// Only with `--sync-connected-apps` (the objects need Customize Application or View Setup,
    /// which a least-privilege integration user may lack).
    ConnectedApps,
}

/// One Salesforce object the sync reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectSpec {
    /// API name after `FROM`.
    pub object: &'static str,
    /// The fields selected; the row struct of the object decodes exactly these.
    pub fields: &'static [&'static str],
    /// The `WHERE` conditions (joined with `AND`) for the given options.
    pub filter: fn(&SyncOptions) -> Vec<Condition>,
    /// The `ORDER BY` field: always `Id`, so pages are stable and keyset chunks are possible.
    pub order_by: &'static str,
    /// How the rows are paged.
    pub paging: Paging,
    /// Largest page Salesforce returns for this object, when below the 2,000 of every other
    /// object (OauthToken: 500). The API call bound of a sync is sum(ceil(rows / page)).
    pub max_page: u32,
    /// The fields whose `MAX` moves whenever a row the query reads is inserted or changed,
    /// for the change probe of an incremental sync (`COUNT(Id)` catches deletes); None when a
    /// field it reads can change without a stamp moving (UserLicense.UsedLicenses): the
    /// object is then read every time. OauthToken has no SystemModstamp: a new token moves
    /// `CreatedDate`, a use moves `LastUsedDate` (and `UseCount` with it).
    pub change_stamps: Option<&'static [&'static str]>,
    /// When it is read.
    pub needs: Needs,
}

fn no_filter(_: &SyncOptions) -> Vec<Condition> {
    Vec::new()
}

impl ObjectSpec {
    /// The query of the object; with `after`, the keyset chunk after that Id.
    pub(crate) fn soql(&self, options: &SyncOptions, after: Option<SfId>) -> Soql {
        match self.paging {
            Paging::IdChunks { rows } => self.soql_after(options, after, Some(rows)),
            Paging::Cursor => self.soql_after(options, None, None),
        }
    }

    /// The query of the rows after the Id `after` (all of them without one), at most `limit`.
    pub(crate) fn soql_after(
        &self,
        options: &SyncOptions,
        after: Option<SfId>,
        limit: Option<u32>,
    ) -> Soql {
        let mut builder = Soql::select(self.object, self.fields.iter().copied());
        for condition in (self.filter)(options) {
            builder = builder.filter(condition);
        }
        if let Some(after) = after {
            builder = builder.filter(Condition::compare(
                "Id",
                crate::salesforce::soql::Op::Gt,
                after,
            ));
        }
        if let Some(rows) = limit {
            builder = builder.limit(rows);
        }
        builder
            .order_by(self.order_by, Order::Asc)
            .build()
            .expect("object specs use static identifiers (tested in objects::tests)")
    }

    /// The change probe: `SELECT COUNT(Id), MAX(stamp)... FROM object WHERE <the filter of the
    /// read>`, one `AggregateResult` row; None for objects read every time.
    pub(crate) fn probe_soql(&self, options: &SyncOptions) -> Option<Soql> {
        let stamps = self.change_stamps?;
        let aggregates = std::iter::once((Aggregate::Count, "Id"))
            .chain(stamps.iter().map(|field| (Aggregate::Max, *field)));
        let mut builder = Soql::aggregate(self.object, aggregates);
        for condition in (self.filter)(options) {
            builder = builder.filter(condition);
        }
        Some(
            builder
                .build()
                .expect("object specs use static identifiers (tested in objects::tests)"),
        )
    }

    /// True when the sync reads this object with these options.
    pub(crate) fn is_read(&self, options: &SyncOptions) -> bool {
        match self.needs {
            Needs::Always => true,
            Needs::ConnectedApps => options.sync_connected_apps,
        }
    }
}

/// Every object the sync reads, in the order the summary lists them.
pub(crate) const OBJECTS: &[&ObjectSpec] = &[
    &ORGANIZATION,
    &USER_LICENSE,
    &PERMISSION_SET_LICENSE,
    &PROFILE,
    &USER_ROLE,
    &USER,
    &USER_LOGIN,
    &GROUP,
    &GROUP_MEMBER,
    &PERMISSION_SET,
    &PERMISSION_SET_GROUP,
    &PERMISSION_SET_GROUP_COMPONENT,
    &PERMISSION_SET_ASSIGNMENT,
    &PERMISSION_SET_LICENSE_ASSIGN,
    &CONNECTED_APPLICATION,
    &APP_MENU_ITEM,
    &SETUP_ENTITY_ACCESS,
    &OAUTH_TOKEN,
];

/// A decoded row: every row has its record Id.
///
/// Rows also serialize, in the same shape: an incremental sync keeps each object's rows with
/// the run and reads them back for the objects that did not change.
pub(crate) trait Row: DeserializeOwned + Serialize + Send + Sync + 'static {
    /// The record Id.
    fn id(&self) -> SfId;
}

macro_rules! row_with_id {
    ($($t:ty),*) => {$(
        impl Row for $t {
            fn id(&self) -> SfId {
                self.id
            }
        }
    )*};
}

row_with_id!(
    OrganizationRow,
    UserLicenseRow,
    PermissionSetLicenseRow,
    ProfileRow,
    UserRoleRow,
    UserRow,
    UserLoginRow,
    GroupRow,
    GroupMemberRow,
    PermissionSetRow,
    PermissionSetGroupRow,
    PermissionSetGroupComponentRow,
    PermissionSetAssignmentRow,
    PermissionSetLicenseAssignRow,
    ConnectedApplicationRow,
    AppMenuItemRow,
    SetupEntityAccessRow,
    OauthTokenRow
);

/// The resource id of `sf_id` as `type_id`, or an error naming the object, record and field.
pub(crate) fn resource_id(
    object: &'static str,
    record: SfId,
    field: &'static str,
    type_id: ResourceTypeId,
    sf_id: SfId,
) -> Result<ResourceId, SyncError> {
    ResourceId::new(type_id, sf_id).map_err(|source| SyncError::Map {
        object,
        record,
        field,
        source: Box::new(source),
    })
}

/// The entitlements a resource defines, per the resource type table. User licenses are the
/// exception: users hold them through their profile (`UserDetails::license`), so only
/// permission set licenses have an `assigned` entitlement.
pub(crate) fn entitlements_of(resource: &Resource) -> Vec<Entitlement> {
    if let ResourceDetails::License(license) = &resource.details
        && license.kind == LicenseKind::UserLicense
    {
        return Vec::new();
    }
    resource
        .id
        .type_id()
        .slugs()
        .iter()
        .filter_map(|slug| EntitlementId::new(resource.id, slug).ok())
        .map(|id| Entitlement::standard(id, &resource.display_name))
        .collect()
}

/// The `assigned` / `member` / ... entitlement id of a resource.
pub(crate) fn entitlement(resource: ResourceId, slug: &str) -> EntitlementId {
    EntitlementId::new(resource, slug)
        .expect("sync code only names slugs of the resource type table")
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn seats(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

/// Serde helpers for Salesforce's wire formats.
mod de {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    /// A nullable date-time in Salesforce's format (`2020-08-11T15:55:08.000+0000`); a value
    /// that does not parse is a decode error naming the value.
    /// Reads the text where it lies (no String per value).
    pub fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        d.deserialize_option(DateTimeVisitor)
    }

    struct DateTimeVisitor;

    impl<'de> serde::de::Visitor<'de> for DateTimeVisitor {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a Salesforce date-time or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if s.is_empty() {
                return Ok(None);
            }
            crate::salesforce::objects::parse_datetime(s)
                .map(Some)
                .ok_or_else(|| E::custom(format!("{s:?} is not a Salesforce date-time")))
        }
    }

    /// A boolean that may come back null (treated as false, as Salesforce's checkboxes are).
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
    }
}

// ---------------------------------------------------------------------------------------------
// Organization: the org's name and edition, for the run summary (no resource).

/// `Organization` (facts 5.17).
pub(crate) const ORGANIZATION: ObjectSpec = ObjectSpec {
    object: "Organization",
    fields: &["Id", "Name", "OrganizationType", "IsSandbox"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: None,
    needs: Needs::Always,
};

/// A row of `Organization`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrganizationRow {
    /// `00D...`.
    pub id: SfId,
    /// Company name.
    pub name: String,
    /// Edition.
    #[serde(default)]
    pub organization_type: Option<String>,
    /// True in sandboxes.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_sandbox: bool,
}

#[cfg(test)]
mod organization_tests {
    use super::*;

    #[test]
    fn organization_is_read_whole() {
        let options = SyncOptions::default();
        assert_eq!(
            ORGANIZATION.soql(&options, None).as_str(),
            "SELECT Id, Name, OrganizationType, IsSandbox FROM Organization ORDER BY Id ASC"
        );
        let row: OrganizationRow = serde_json::from_str(
            r#"{"attributes":{"type":"Organization"},"Id":"00D5g0000000001EAA","Name":"Acme",
                "OrganizationType":"Enterprise Edition","IsSandbox":null}"#,
        )
        .unwrap();
        assert!(!row.is_sandbox);
    }
}

// ---------------------------------------------------------------------------------------------
// UserLicense -> `license` resources (kind user_license), no entitlement.

/// `UserLicense` (facts 5.3).
pub(crate) const USER_LICENSE: ObjectSpec = ObjectSpec {
    object: "UserLicense",
    fields: &[
        "Id",
        "Name",
        "MasterLabel",
        "LicenseDefinitionKey",
        "Status",
        "TotalLicenses",
        "UsedLicenses",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: None,
    needs: Needs::Always,
};

/// A row of `UserLicense`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserLicenseRow {
    /// `100...`.
    pub id: SfId,
    /// Internal name.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub master_label: Option<String>,
    /// `SFDC`, `AUL`, ...
    #[serde(default)]
    pub license_definition_key: Option<String>,
    /// `Active` / `Disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Seats bought.
    #[serde(default)]
    pub total_licenses: Option<i64>,
    /// Seats in use.
    #[serde(default)]
    pub used_licenses: Option<i64>,
}

/// A user license as a `license` resource.
pub(crate) fn map_user_license(row: &UserLicenseRow) -> Result<Resource, SyncError> {
    let id = resource_id("UserLicense", row.id, "Id", ResourceTypeId::License, row.id)?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::License,
        display_name: non_empty(&row.master_label).unwrap_or_else(|| row.name.clone()),
        parent_id: None,
        description: None,
        details: ResourceDetails::License(LicenseDetails {
            kind: LicenseKind::UserLicense,
            key: non_empty(&row.license_definition_key),
            status: non_empty(&row.status),
            total_seats: seats(row.total_licenses),
            used_seats: seats(row.used_licenses),
        }),
    })
}

#[cfg(test)]
mod user_license_tests {
    use super::*;

    #[test]
    fn user_license_becomes_a_license_without_entitlements() {
        let row: UserLicenseRow = serde_json::from_str(
            r#"{"Id":"1005g0000000001AAA","Name":"Salesforce","MasterLabel":"Salesforce",
                "LicenseDefinitionKey":"SFDC","Status":"Active","TotalLicenses":100,"UsedLicenses":-1}"#,
        )
        .unwrap();
        let r = map_user_license(&row).unwrap();
        assert_eq!(r.id.to_string(), "license:1005g0000000001AAA");
        let ResourceDetails::License(l) = &r.details else {
            panic!("license details")
        };
        assert_eq!(l.kind, LicenseKind::UserLicense);
        assert_eq!((l.total_seats, l.used_seats), (Some(100), None));
        assert!(entitlements_of(&r).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSetLicense -> `license` resources with an `assigned` entitlement.

/// `PermissionSetLicense` (facts 5.9).
pub(crate) const PERMISSION_SET_LICENSE: ObjectSpec = ObjectSpec {
    object: "PermissionSetLicense",
    fields: &[
        "Id",
        "DeveloperName",
        "MasterLabel",
        "PermissionSetLicenseKey",
        "Status",
        "TotalLicenses",
        "UsedLicenses",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: None,
    needs: Needs::Always,
};

/// A row of `PermissionSetLicense`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetLicenseRow {
    /// `0PL...`.
    pub id: SfId,
    /// API name.
    #[serde(default)]
    pub developer_name: Option<String>,
    /// Label.
    #[serde(default)]
    pub master_label: Option<String>,
    /// License key.
    #[serde(default)]
    pub permission_set_license_key: Option<String>,
    /// `Active` / `Disabled` (expired).
    #[serde(default)]
    pub status: Option<String>,
    /// Seats bought.
    #[serde(default)]
    pub total_licenses: Option<i64>,
    /// Seats in use.
    #[serde(default)]
    pub used_licenses: Option<i64>,
}

/// A permission set license as a `license` resource.
pub(crate) fn map_permission_set_license(
    row: &PermissionSetLicenseRow,
) -> Result<Resource, SyncError> {
    let id = resource_id(
        "PermissionSetLicense",
        row.id,
        "Id",
        ResourceTypeId::License,
        row.id,
    )?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::License,
        display_name: non_empty(&row.master_label)
            .or_else(|| non_empty(&row.developer_name))
            .unwrap_or_else(|| row.id.to_string()),
        parent_id: None,
        description: None,
        details: ResourceDetails::License(LicenseDetails {
            kind: LicenseKind::PermissionSetLicense,
            key: non_empty(&row.permission_set_license_key),
            status: non_empty(&row.status),
            total_seats: seats(row.total_licenses),
            used_seats: seats(row.used_licenses),
        }),
    })
}

#[cfg(test)]
mod permission_set_license_tests {
    use super::*;

    #[test]
    fn permission_set_license_has_an_assigned_entitlement() {
        let row: PermissionSetLicenseRow = serde_json::from_str(
            r#"{"Id":"0PL5g0000000001GAA","DeveloperName":"SalesConsoleUser","MasterLabel":"Sales Console User",
                "PermissionSetLicenseKey":"SalesConsoleUser","Status":"Disabled","TotalLicenses":10,"UsedLicenses":3}"#,
        )
        .unwrap();
        let r = map_permission_set_license(&row).unwrap();
        assert_eq!(r.display_name, "Sales Console User");
        let e = entitlements_of(&r);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id.to_string(), "license:0PL5g0000000001GAA:assigned");
        assert_eq!(e[0].display_name, "Sales Console User Assigned");
    }
}

// ---------------------------------------------------------------------------------------------
// Profile -> `profile` resources with their license.

/// `Profile` (facts 5.4).
pub(crate) const PROFILE: ObjectSpec = ObjectSpec {
    object: "Profile",
    fields: &["Id", "Name", "Description", "UserLicenseId"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `Profile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileRow {
    /// `00e...`.
    pub id: SfId,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The profile's user license.
    #[serde(default)]
    pub user_license_id: Option<SfId>,
}

/// A profile as a `profile` resource.
pub(crate) fn map_profile(row: &ProfileRow) -> Result<Resource, SyncError> {
    let id = resource_id("Profile", row.id, "Id", ResourceTypeId::Profile, row.id)?;
    let license = row
        .user_license_id
        .map(|l| {
            resource_id(
                "Profile",
                row.id,
                "UserLicenseId",
                ResourceTypeId::License,
                l,
            )
        })
        .transpose()?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::Profile,
        display_name: row.name.clone(),
        parent_id: None,
        description: non_empty(&row.description),
        details: ResourceDetails::Profile(ProfileDetails { license }),
    })
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    #[test]
    fn profile_carries_its_license() {
        let row: ProfileRow = serde_json::from_str(
            r#"{"Id":"00e5g0000000001AAA","Name":"Standard User","Description":" ",
                "UserLicenseId":"1005g0000000001AAA"}"#,
        )
        .unwrap();
        let r = map_profile(&row).unwrap();
        assert_eq!(r.description, None, "blank descriptions are left out");
        let ResourceDetails::Profile(p) = &r.details else {
            panic!("profile details")
        };
        assert_eq!(
            p.license.map(|l| l.to_string()).as_deref(),
            Some("license:1005g0000000001AAA")
        );
        assert_eq!(
            entitlements_of(&r)[0].id.to_string(),
            "profile:00e5g0000000001AAA:assigned"
        );
        let bad = ProfileRow {
            user_license_id: Some(SfId::parse("0055g0000000001AAA").unwrap()),
            ..row
        };
        let err = map_profile(&bad).unwrap_err().to_string();
        assert!(
            err.contains("Profile") && err.contains("UserLicenseId"),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// UserRole -> `role` resources; the parent is ParentRoleId.

/// `UserRole` (facts 5.12).
pub(crate) const USER_ROLE: ObjectSpec = ObjectSpec {
    object: "UserRole",
    fields: &["Id", "Name", "DeveloperName", "ParentRoleId", "PortalType"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `UserRole`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRoleRow {
    /// `00E...`.
    pub id: SfId,
    /// Name.
    pub name: String,
    /// API name.
    #[serde(default)]
    pub developer_name: Option<String>,
    /// The role above.
    #[serde(default)]
    pub parent_role_id: Option<SfId>,
    /// `None`, `CustomerPortal`, `Partner`: portal roles are left out of the
    /// `RoleAndSubordinatesInternal` group expansion.
    #[serde(default)]
    pub portal_type: Option<String>,
}

impl UserRoleRow {
    /// True for partner and customer portal roles.
    pub(crate) fn is_portal(&self) -> bool {
        matches!(self.portal_type.as_deref(), Some(t) if t != "None")
    }
}

/// A role as a `role` resource.
pub(crate) fn map_role(row: &UserRoleRow) -> Result<Resource, SyncError> {
    let id = resource_id("UserRole", row.id, "Id", ResourceTypeId::Role, row.id)?;
    let parent_id = row
        .parent_role_id
        .map(|p| resource_id("UserRole", row.id, "ParentRoleId", ResourceTypeId::Role, p))
        .transpose()?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::Role,
        display_name: row.name.clone(),
        parent_id,
        description: None,
        details: ResourceDetails::Role(RoleDetails {
            developer_name: non_empty(&row.developer_name),
        }),
    })
}

#[cfg(test)]
mod user_role_tests {
    use super::*;

    #[test]
    fn role_points_at_its_parent() {
        let row: UserRoleRow = serde_json::from_str(
            r#"{"Id":"00E5g0000000002EAA","Name":"VP Sales","DeveloperName":"VP_Sales",
                "ParentRoleId":"00E5g0000000001EAA","PortalType":"None"}"#,
        )
        .unwrap();
        assert!(!row.is_portal());
        let r = map_role(&row).unwrap();
        assert_eq!(
            r.parent_id.map(|p| p.to_string()).as_deref(),
            Some("role:00E5g0000000001EAA")
        );
        assert_eq!(entitlements_of(&r)[0].slug, "assigned");
    }
}

// ---------------------------------------------------------------------------------------------
// User -> `user` resources (status from UserLogin, license through the profile), and the
// `role` and `profile` grants of every synced user.

/// UserTypes `--sync-non-standard-users false` leaves out: portal, community, Chatter Free and
/// guest users, as baton-salesforce does (facts 8).
pub(crate) const NON_STANDARD_USER_TYPES: &[&str] = &[
    "CspLitePortal",
    "CustomerSuccess",
    "PowerCustomerSuccess",
    "CsnOnly",
    "Guest",
];

/// UserTypes outside the org's "All Internal Users" group: portal, community and guest users.
pub(crate) const EXTERNAL_USER_TYPES: &[&str] = &[
    "PowerPartner",
    "PowerCustomerSuccess",
    "CustomerSuccess",
    "CspLitePortal",
    "Guest",
    "SelfService",
];

fn user_filter(options: &SyncOptions) -> Vec<Condition> {
    let mut conditions = Vec::new();
    if !options.sync_deactivated_users {
        conditions.push(Condition::eq("IsActive", true));
    }
    if !options.sync_non_standard_users {
        // SOQL's NOT IN keeps rows whose UserType is null, so an untyped user is still synced.
        conditions.push(Condition::NotIn(
            "UserType".to_owned(),
            NON_STANDARD_USER_TYPES
                .iter()
                .map(|t| Literal::Str((*t).to_owned()))
                .collect(),
        ));
    }
    conditions
}

/// `User` (facts 5.1), filtered by `--sync-deactivated-users` and `--sync-non-standard-users`.
pub(crate) const USER: ObjectSpec = ObjectSpec {
    object: "User",
    fields: &[
        "Id",
        "Username",
        "Email",
        "FirstName",
        "LastName",
        "Name",
        "IsActive",
        "UserType",
        "ProfileId",
        "UserRoleId",
        "ManagerId",
        "FederationIdentifier",
        "LastLoginDate",
        "CreatedDate",
    ],
    filter: user_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp", "LastLoginDate"]),
    needs: Needs::Always,
};

/// A row of `User`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRow {
    /// `005...`.
    pub id: SfId,
    /// Login name.
    pub username: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Full name (computed by Salesforce).
    #[serde(default)]
    pub name: Option<String>,
    /// Active flag.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_active: bool,
    /// `Standard`, `PowerPartner`, ...; null is a data bug Salesforce lets happen.
    #[serde(default)]
    pub user_type: Option<String>,
    /// Profile.
    #[serde(default)]
    pub profile_id: Option<SfId>,
    /// Role.
    #[serde(default)]
    pub user_role_id: Option<SfId>,
    /// Manager.
    #[serde(default)]
    pub manager_id: Option<SfId>,
    /// SAML federation id.
    #[serde(default)]
    pub federation_identifier: Option<String>,
    /// Last login.
    #[serde(default, deserialize_with = "de::datetime")]
    pub last_login_date: Option<DateTime<Utc>>,
    /// Created.
    #[serde(default, deserialize_with = "de::datetime")]
    pub created_date: Option<DateTime<Utc>>,
}

impl UserRow {
    /// True for users in the org's "All Internal Users" group.
    pub(crate) fn is_internal(&self) -> bool {
        !EXTERNAL_USER_TYPES.contains(&self.user_type.as_deref().unwrap_or(""))
    }
}

/// A user as a `user` resource. `login` is its UserLogin row (missing: not frozen, not
/// locked); `license` is its profile's user license.
pub(crate) fn map_user(
    row: &UserRow,
    login: Option<&UserLoginRow>,
    license: Option<SfId>,
    options: &SyncOptions,
) -> Result<Resource, SyncError> {
    use crate::model::{UserDetails, UserStatusDetail};
    let reference = |field: &'static str, type_id: ResourceTypeId, value: Option<SfId>| {
        value
            .map(|v| resource_id("User", row.id, field, type_id, v))
            .transpose()
    };
    let id = resource_id("User", row.id, "Id", ResourceTypeId::User, row.id)?;
    let status_detail = match login {
        _ if !row.is_active => UserStatusDetail::Inactive,
        Some(l) if l.is_frozen => UserStatusDetail::Frozen,
        Some(l) if l.is_password_locked => UserStatusDetail::PasswordLocked,
        _ => UserStatusDetail::Active,
    };
    let display_name = non_empty(&row.name)
        .or_else(|| {
            let parts: Vec<String> = [&row.first_name, &row.last_name]
                .into_iter()
                .filter_map(non_empty)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| row.username.clone());
    let email = if options.user_username_for_email {
        Some(row.username.clone())
    } else {
        non_empty(&row.email)
    };
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::User,
        display_name,
        parent_id: None,
        description: None,
        details: ResourceDetails::User(UserDetails {
            username: row.username.clone(),
            email,
            first_name: non_empty(&row.first_name),
            last_name: non_empty(&row.last_name),
            status: status_detail.status(),
            status_detail,
            user_type: row.user_type.clone().unwrap_or_default(),
            license: reference("Profile.UserLicenseId", ResourceTypeId::License, license)?,
            profile: reference("ProfileId", ResourceTypeId::Profile, row.profile_id)?,
            role: reference("UserRoleId", ResourceTypeId::Role, row.user_role_id)?,
            manager: reference("ManagerId", ResourceTypeId::User, row.manager_id)?,
            federation_id: non_empty(&row.federation_identifier),
            last_login: row.last_login_date,
            created: row.created_date,
        }),
    })
}

/// The direct `profile` and `role` grants a user row makes (whatever the user's type).
pub(crate) fn user_grants(row: &UserRow) -> Result<Vec<crate::model::Grant>, SyncError> {
    let user = resource_id("User", row.id, "Id", ResourceTypeId::User, row.id)?;
    let mut grants = Vec::new();
    if let Some(profile) = row.profile_id {
        let profile = resource_id(
            "User",
            row.id,
            "ProfileId",
            ResourceTypeId::Profile,
            profile,
        )?;
        grants.push(crate::model::Grant::direct(
            entitlement(profile, "assigned"),
            user,
        ));
    }
    if let Some(role) = row.user_role_id {
        let role = resource_id("User", row.id, "UserRoleId", ResourceTypeId::Role, role)?;
        grants.push(crate::model::Grant::direct(
            entitlement(role, "assigned"),
            user,
        ));
    }
    Ok(grants)
}

#[cfg(test)]
mod user_tests {
    use super::*;
    use crate::model::{UserStatus, UserStatusDetail};

    fn row() -> UserRow {
        serde_json::from_str(
            r#"{"attributes":{"type":"User"},"Id":"0055g0000000002AAA","Username":"ada@acme.example",
                "Email":"ada.l@acme.example","FirstName":"Ada","LastName":"Lovelace","Name":"Ada Lovelace",
                "IsActive":true,"UserType":"Standard","ProfileId":"00e5g0000000001AAA",
                "UserRoleId":"00E5g0000000001EAA","ManagerId":null,"FederationIdentifier":"ada",
                "LastLoginDate":"2025-12-01T08:30:00.000+0000","CreatedDate":"2020-01-01T00:00:00.000+0000"}"#,
        )
        .unwrap()
    }

    fn login(frozen: bool, locked: bool) -> UserLoginRow {
        UserLoginRow {
            id: SfId::parse("0605g0000000001AAA").unwrap(),
            user_id: row().id,
            is_frozen: frozen,
            is_password_locked: locked,
        }
    }

    fn detail(r: &Resource) -> (UserStatus, UserStatusDetail, Option<String>) {
        let ResourceDetails::User(u) = &r.details else {
            panic!("user details")
        };
        (u.status, u.status_detail, u.email.clone())
    }

    #[test]
    fn user_filter_follows_the_options() {
        let q = USER.soql(&SyncOptions::default(), None);
        assert!(
            q.as_str().ends_with(
                "FROM User WHERE UserType NOT IN ('CspLitePortal', 'CustomerSuccess', \
                 'PowerCustomerSuccess', 'CsnOnly', 'Guest') ORDER BY Id ASC"
            ),
            "{q}"
        );
        let all = SyncOptions {
            sync_non_standard_users: true,
            ..SyncOptions::default()
        };
        assert!(
            all.sync_deactivated_users,
            "deactivated users are synced by default"
        );
        assert!(
            USER.soql(&all, None)
                .as_str()
                .ends_with("FROM User ORDER BY Id ASC")
        );
        let active = SyncOptions {
            sync_deactivated_users: false,
            sync_non_standard_users: true,
            ..SyncOptions::default()
        };
        assert!(
            USER.soql(&active, None)
                .as_str()
                .ends_with("FROM User WHERE IsActive = true ORDER BY Id ASC")
        );
    }

    #[test]
    fn status_comes_from_is_active_then_user_login() {
        let options = SyncOptions::default();
        let license = Some(SfId::parse("1005g0000000001AAA").unwrap());
        let active = map_user(&row(), None, license, &options).unwrap();
        assert_eq!(
            detail(&active),
            (
                UserStatus::Enabled,
                UserStatusDetail::Active,
                Some("ada.l@acme.example".into())
            )
        );
        let frozen = map_user(&row(), Some(&login(true, true)), license, &options).unwrap();
        assert_eq!(detail(&frozen).1, UserStatusDetail::Frozen);
        let locked = map_user(&row(), Some(&login(false, true)), license, &options).unwrap();
        assert_eq!(detail(&locked).0, UserStatus::Disabled);
        assert_eq!(detail(&locked).1, UserStatusDetail::PasswordLocked);
        let inactive = UserRow {
            is_active: false,
            ..row()
        };
        let inactive = map_user(&inactive, Some(&login(true, false)), license, &options).unwrap();
        assert_eq!(detail(&inactive).1, UserStatusDetail::Inactive);
    }

    #[test]
    fn username_can_stand_in_for_email_and_name() {
        let options = SyncOptions {
            user_username_for_email: true,
            ..SyncOptions::default()
        };
        let r = map_user(&row(), None, None, &options).unwrap();
        assert_eq!(detail(&r).2.as_deref(), Some("ada@acme.example"));
        let nameless = UserRow {
            name: None,
            first_name: None,
            last_name: None,
            user_type: None,
            ..row()
        };
        let r = map_user(&nameless, None, None, &SyncOptions::default()).unwrap();
        assert_eq!(r.display_name, "ada@acme.example");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["user"]["user_type"], "");
        assert_eq!(json["user"]["last_login"], "2025-12-01T08:30:00Z");
    }

    #[test]
    fn every_user_gets_its_profile_and_role_grants() {
        let grants = user_grants(&row()).unwrap();
        let ids: Vec<String> = grants.iter().map(|g| g.id.to_string()).collect();
        assert_eq!(
            ids,
            [
                "profile:00e5g0000000001AAA:assigned:user:0055g0000000002AAA",
                "role:00E5g0000000001EAA:assigned:user:0055g0000000002AAA"
            ]
        );
        assert!(grants.iter().all(|g| g.direct && g.sources.is_empty()));
    }

    #[test]
    fn internal_users_exclude_portal_and_guest_types() {
        assert!(row().is_internal());
        for t in ["PowerPartner", "CspLitePortal", "Guest"] {
            let r = UserRow {
                user_type: Some(t.into()),
                ..row()
            };
            assert!(!r.is_internal(), "{t}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// UserLogin: frozen and password-locked state, joined into users.

/// `UserLogin` (facts 5.2).
pub(crate) const USER_LOGIN: ObjectSpec = ObjectSpec {
    object: "UserLogin",
    fields: &["Id", "UserId", "IsFrozen", "IsPasswordLocked"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["LastModifiedDate"]),
    needs: Needs::Always,
};

/// A row of `UserLogin`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserLoginRow {
    /// `060...`.
    pub id: SfId,
    /// The user.
    pub user_id: SfId,
    /// Frozen by an admin.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_frozen: bool,
    /// Locked out after failed logins.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_password_locked: bool,
}

#[cfg(test)]
mod user_login_tests {
    use super::*;

    #[test]
    fn user_login_decodes() {
        let row: UserLoginRow = serde_json::from_str(
            r#"{"Id":"0605g0000000001AAA","UserId":"0055g0000000002AAA","IsFrozen":true,"IsPasswordLocked":false}"#,
        )
        .unwrap();
        assert!(row.is_frozen && !row.is_password_locked);
        assert_eq!(
            USER_LOGIN.soql(&SyncOptions::default(), None).as_str(),
            "SELECT Id, UserId, IsFrozen, IsPasswordLocked FROM UserLogin ORDER BY Id ASC"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Group: every type is read (role and organization groups are needed to expand nested
// membership); Regular groups and queues become `group` resources.

/// `Group` (facts 5.10), all types.
pub(crate) const GROUP: ObjectSpec = ObjectSpec {
    object: "Group",
    fields: &["Id", "Name", "DeveloperName", "Type", "RelatedId"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `Group`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRow {
    /// `00G...`.
    pub id: SfId,
    /// Name (role groups have none).
    #[serde(default)]
    pub name: Option<String>,
    /// API name.
    #[serde(default)]
    pub developer_name: Option<String>,
    /// `Regular`, `Queue`, `Role`, `RoleAndSubordinates`, `Organization`, ...
    #[serde(rename = "Type")]
    pub group_type: String,
    /// The role of a role group.
    #[serde(default)]
    pub related_id: Option<SfId>,
}

/// A Regular group or queue as a `group` resource; other types are not resources.
pub(crate) fn map_group(row: &GroupRow) -> Result<Option<Resource>, SyncError> {
    let group_type = match row.group_type.as_str() {
        "Regular" => GroupType::Regular,
        "Queue" => GroupType::Queue,
        _ => return Ok(None),
    };
    let id = resource_id("Group", row.id, "Id", ResourceTypeId::Group, row.id)?;
    Ok(Some(Resource {
        id,
        resource_type: ResourceTypeId::Group,
        display_name: non_empty(&row.name)
            .or_else(|| non_empty(&row.developer_name))
            .unwrap_or_else(|| row.id.to_string()),
        parent_id: None,
        description: None,
        details: ResourceDetails::Group(GroupDetails {
            group_type,
            developer_name: non_empty(&row.developer_name),
        }),
    }))
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn only_regular_groups_and_queues_are_resources() {
        let mut row: GroupRow = serde_json::from_str(
            r#"{"Id":"00G5g0000000001EAA","Name":"Support Queue","DeveloperName":"Support_Queue",
                "Type":"Queue","RelatedId":null}"#,
        )
        .unwrap();
        let r = map_group(&row).unwrap().unwrap();
        assert_eq!(entitlements_of(&r)[0].display_name, "Support Queue Member");
        for t in ["Role", "RoleAndSubordinates", "Organization", "Manager"] {
            row.group_type = t.into();
            assert!(map_group(&row).unwrap().is_none(), "{t}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GroupMember: direct members (users or groups); expanded in `expand::group_grants`.

/// `GroupMember` (facts 5.11).
pub(crate) const GROUP_MEMBER: ObjectSpec = ObjectSpec {
    object: "GroupMember",
    fields: &["Id", "GroupId", "UserOrGroupId"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `GroupMember`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupMemberRow {
    /// `011...`.
    pub id: SfId,
    /// The group.
    pub group_id: SfId,
    /// A user (`005`) or a group (`00G`).
    pub user_or_group_id: SfId,
}

#[cfg(test)]
mod group_member_tests {
    use super::*;

    #[test]
    fn group_member_decodes() {
        let row: GroupMemberRow = serde_json::from_str(
            r#"{"Id":"0115g0000000001AAA","GroupId":"00G5g0000000001EAA","UserOrGroupId":"00G5g0000000002EAA"}"#,
        )
        .unwrap();
        assert_eq!(row.user_or_group_id.key_prefix(), "00G");
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSet: all sets are read (profile-owned ones resolve connected-app access to
// profiles, PSG aggregates to their group); only the others become `permission` resources.

/// `PermissionSet` (facts 5.5).
pub(crate) const PERMISSION_SET: ObjectSpec = ObjectSpec {
    object: "PermissionSet",
    fields: &[
        "Id",
        "Name",
        "Label",
        "Description",
        "Type",
        "LicenseId",
        "NamespacePrefix",
        "IsOwnedByProfile",
        "ProfileId",
        "PermissionSetGroupId",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `PermissionSet`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetRow {
    /// `0PS...`.
    pub id: SfId,
    /// API name.
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `Regular`, `Session`, `Standard`, `Profile`, `Group`.
    #[serde(rename = "Type", default)]
    pub set_type: Option<String>,
    /// The license the set requires.
    #[serde(default)]
    pub license_id: Option<SfId>,
    /// Managed package namespace.
    #[serde(default)]
    pub namespace_prefix: Option<String>,
    /// Owned by a profile.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_owned_by_profile: bool,
    /// The owning profile.
    #[serde(default)]
    pub profile_id: Option<SfId>,
    /// The owning PSG (the group's aggregate set).
    #[serde(default)]
    pub permission_set_group_id: Option<SfId>,
}

/// What a permission set is, for the joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOwner {
    /// A `permission` resource of its own.
    Itself,
    /// The set a profile owns: it stands for the profile.
    Profile(SfId),
    /// The aggregate set of a PSG: it stands for the group.
    Group(SfId),
    /// Profile-owned, but the profile is not given.
    UnknownProfile,
}

impl PermissionSetRow {
    /// Who the set stands for.
    pub(crate) fn owner(&self) -> SetOwner {
        if let Some(group) = self.permission_set_group_id {
            SetOwner::Group(group)
        } else if self.is_owned_by_profile || self.set_type.as_deref() == Some("Profile") {
            self.profile_id
                .map_or(SetOwner::UnknownProfile, SetOwner::Profile)
        } else if self.set_type.as_deref() == Some("Group") {
            // An aggregate whose group is not given: not a set anyone assigns by itself.
            SetOwner::UnknownProfile
        } else {
            SetOwner::Itself
        }
    }
}

/// A permission set as a `permission` resource; profile-owned sets and PSG aggregates are not.
pub(crate) fn map_permission_set(row: &PermissionSetRow) -> Result<Option<Resource>, SyncError> {
    if row.owner() != SetOwner::Itself {
        return Ok(None);
    }
    let id = resource_id(
        "PermissionSet",
        row.id,
        "Id",
        ResourceTypeId::Permission,
        row.id,
    )?;
    let license = row
        .license_id
        .map(|l| {
            resource_id(
                "PermissionSet",
                row.id,
                "LicenseId",
                ResourceTypeId::License,
                l,
            )
        })
        .transpose()?;
    let label = non_empty(&row.label).unwrap_or_else(|| row.name.clone());
    Ok(Some(Resource {
        id,
        resource_type: ResourceTypeId::Permission,
        display_name: label.clone(),
        parent_id: None,
        description: non_empty(&row.description),
        details: ResourceDetails::Permission(PermissionSetDetails {
            name: row.name.clone(),
            label,
            set_type: non_empty(&row.set_type),
            license,
            namespace: non_empty(&row.namespace_prefix),
        }),
    }))
}

#[cfg(test)]
mod permission_set_tests {
    use super::*;

    fn row() -> PermissionSetRow {
        serde_json::from_str(
            r#"{"Id":"0PS5g0000000001GAA","Name":"Sales_Ops","Label":"Sales Ops","Description":null,
                "Type":"Regular","LicenseId":"0PL5g0000000001GAA","NamespacePrefix":null,
                "IsOwnedByProfile":false,"ProfileId":null,"PermissionSetGroupId":null}"#,
        )
        .unwrap()
    }

    #[test]
    fn regular_set_is_a_permission_resource() {
        let r = map_permission_set(&row()).unwrap().unwrap();
        assert_eq!(r.display_name, "Sales Ops");
        let ResourceDetails::Permission(p) = &r.details else {
            panic!("permission details")
        };
        assert_eq!(
            p.license.map(|l| l.to_string()).as_deref(),
            Some("license:0PL5g0000000001GAA")
        );
    }

    #[test]
    fn profile_owned_and_group_aggregate_sets_are_not_resources() {
        let profile = SfId::parse("00e5g0000000001AAA").unwrap();
        let owned = PermissionSetRow {
            is_owned_by_profile: true,
            profile_id: Some(profile),
            set_type: Some("Profile".into()),
            ..row()
        };
        assert_eq!(owned.owner(), SetOwner::Profile(profile));
        assert!(map_permission_set(&owned).unwrap().is_none());
        let group = SfId::parse("0PG5g0000000001GAA").unwrap();
        let aggregate = PermissionSetRow {
            set_type: Some("Group".into()),
            permission_set_group_id: Some(group),
            ..row()
        };
        assert_eq!(aggregate.owner(), SetOwner::Group(group));
        assert!(map_permission_set(&aggregate).unwrap().is_none());
        let typed_only = PermissionSetRow {
            set_type: Some("Group".into()),
            ..row()
        };
        assert!(map_permission_set(&typed_only).unwrap().is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSetGroup -> `permission_set_group` resources (Status kept).

/// `PermissionSetGroup` (facts 5.6).
pub(crate) const PERMISSION_SET_GROUP: ObjectSpec = ObjectSpec {
    object: "PermissionSetGroup",
    fields: &[
        "Id",
        "DeveloperName",
        "MasterLabel",
        "Description",
        "Status",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `PermissionSetGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetGroupRow {
    /// `0PG...`.
    pub id: SfId,
    /// API name.
    pub developer_name: String,
    /// Label.
    #[serde(default)]
    pub master_label: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `Updated`, `Outdated`, `Updating`, `Failed`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A permission set group as a `permission_set_group` resource.
pub(crate) fn map_permission_set_group(row: &PermissionSetGroupRow) -> Result<Resource, SyncError> {
    let id = resource_id(
        "PermissionSetGroup",
        row.id,
        "Id",
        ResourceTypeId::PermissionSetGroup,
        row.id,
    )?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::PermissionSetGroup,
        display_name: non_empty(&row.master_label).unwrap_or_else(|| row.developer_name.clone()),
        parent_id: None,
        description: non_empty(&row.description),
        details: ResourceDetails::PermissionSetGroup(PermissionSetGroupDetails {
            name: row.developer_name.clone(),
            status: non_empty(&row.status).unwrap_or_default(),
        }),
    })
}

#[cfg(test)]
mod permission_set_group_tests {
    use super::*;

    #[test]
    fn group_keeps_its_status() {
        let row: PermissionSetGroupRow = serde_json::from_str(
            r#"{"Id":"0PG5g0000000001GAA","DeveloperName":"Support_Bundle","MasterLabel":"Support Bundle",
                "Description":null,"Status":"Outdated"}"#,
        )
        .unwrap();
        let r = map_permission_set_group(&row).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["permission_set_group"]["status"], "Outdated");
        assert_eq!(entitlements_of(&r)[0].slug, "member");
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSetGroupComponent: which sets a group bundles; expanded in
// `expand::assignment_grants`.

/// `PermissionSetGroupComponent` (facts 5.7).
pub(crate) const PERMISSION_SET_GROUP_COMPONENT: ObjectSpec = ObjectSpec {
    object: "PermissionSetGroupComponent",
    fields: &["Id", "PermissionSetGroupId", "PermissionSetId"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `PermissionSetGroupComponent`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetGroupComponentRow {
    /// `0PR...`.
    pub id: SfId,
    /// The group.
    pub permission_set_group_id: SfId,
    /// The bundled set (or a muting set, `0QM`, which is not a resource).
    pub permission_set_id: SfId,
}

#[cfg(test)]
mod permission_set_group_component_tests {
    use super::*;

    #[test]
    fn component_decodes() {
        let row: PermissionSetGroupComponentRow = serde_json::from_str(
            r#"{"Id":"0PR5g0000000001GAA","PermissionSetGroupId":"0PG5g0000000001GAA","PermissionSetId":"0PS5g0000000001GAA"}"#,
        )
        .unwrap();
        assert_eq!(row.permission_set_id.key_prefix(), "0PS");
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSetAssignment: permission set and PSG assignments, without the profile-owned
// rows (every user has one for its profile's set, already said by User.ProfileId); expanded
// in `expand::assignment_grants`.

fn assignment_filter(_: &SyncOptions) -> Vec<Condition> {
    vec![Condition::eq("PermissionSet.IsOwnedByProfile", false)]
}

/// `PermissionSetAssignment` (facts 5.8).
pub(crate) const PERMISSION_SET_ASSIGNMENT: ObjectSpec = ObjectSpec {
    object: "PermissionSetAssignment",
    fields: &[
        "Id",
        "AssigneeId",
        "PermissionSetId",
        "PermissionSetGroupId",
        "ExpirationDate",
    ],
    filter: assignment_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `PermissionSetAssignment`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetAssignmentRow {
    /// `0Pa...`.
    pub id: SfId,
    /// The user.
    pub assignee_id: SfId,
    /// The set (for a PSG assignment: the group's aggregate set, or null).
    #[serde(default)]
    pub permission_set_id: Option<SfId>,
    /// The PSG, for group assignments.
    #[serde(default)]
    pub permission_set_group_id: Option<SfId>,
    /// Time-bound assignments end here.
    #[serde(default, deserialize_with = "de::datetime")]
    pub expiration_date: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod permission_set_assignment_tests {
    use super::*;

    #[test]
    fn profile_owned_assignments_are_filtered_in_soql() {
        assert_eq!(
            PERMISSION_SET_ASSIGNMENT
                .soql(&SyncOptions::default(), None)
                .as_str(),
            "SELECT Id, AssigneeId, PermissionSetId, PermissionSetGroupId, ExpirationDate \
             FROM PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = false ORDER BY Id ASC"
        );
        let row: PermissionSetAssignmentRow = serde_json::from_str(
            r#"{"Id":"0Pa5g0000000001CAA","AssigneeId":"0055g0000000002AAA","PermissionSetId":"0PS5g0000000001GAA",
                "PermissionSetGroupId":null,"ExpirationDate":"2025-07-01T00:00:00.000+0000"}"#,
        )
        .unwrap();
        assert_eq!(
            row.expiration_date.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-07-01T00:00:00+00:00")
        );
        let bad = serde_json::from_str::<PermissionSetAssignmentRow>(
            r#"{"Id":"0Pa5g0000000001CAA","AssigneeId":"0055g0000000002AAA","ExpirationDate":"soon"}"#,
        )
        .unwrap_err();
        assert!(bad.to_string().contains("\"soon\""), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// PermissionSetLicenseAssign -> `license:<PSL>:assigned` grants.

/// `PermissionSetLicenseAssign` (facts 5.9).
pub(crate) const PERMISSION_SET_LICENSE_ASSIGN: ObjectSpec = ObjectSpec {
    object: "PermissionSetLicenseAssign",
    fields: &["Id", "AssigneeId", "PermissionSetLicenseId"],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::Always,
};

/// A row of `PermissionSetLicenseAssign`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSetLicenseAssignRow {
    /// `2LA...`.
    pub id: SfId,
    /// The user.
    pub assignee_id: SfId,
    /// The license.
    pub permission_set_license_id: SfId,
}

/// The direct `assigned` grant of a permission set license assignment.
pub(crate) fn map_license_assignment(
    row: &PermissionSetLicenseAssignRow,
) -> Result<crate::model::Grant, SyncError> {
    let object = "PermissionSetLicenseAssign";
    let license = resource_id(
        object,
        row.id,
        "PermissionSetLicenseId",
        ResourceTypeId::License,
        row.permission_set_license_id,
    )?;
    let user = resource_id(
        object,
        row.id,
        "AssigneeId",
        ResourceTypeId::User,
        row.assignee_id,
    )?;
    let mut grant = crate::model::Grant::direct(entitlement(license, "assigned"), user);
    grant.details.record_id = Some(row.id);
    Ok(grant)
}

#[cfg(test)]
mod permission_set_license_assign_tests {
    use super::*;

    #[test]
    fn license_assignment_is_a_direct_grant_with_its_record() {
        let row: PermissionSetLicenseAssignRow = serde_json::from_str(
            r#"{"Id":"2LA5g0000000001GAA","AssigneeId":"0055g0000000002AAA","PermissionSetLicenseId":"0PL5g0000000001GAA"}"#,
        )
        .unwrap();
        let g = map_license_assignment(&row).unwrap();
        assert_eq!(
            g.id.to_string(),
            "license:0PL5g0000000001GAA:assigned:user:0055g0000000002AAA"
        );
        assert_eq!(g.details.record_id, Some(row.id));
    }
}

// ---------------------------------------------------------------------------------------------
// ConnectedApplication -> `connected_application` resources (with --sync-connected-apps).

/// `ConnectedApplication` (facts 5.13).
pub(crate) const CONNECTED_APPLICATION: ObjectSpec = ObjectSpec {
    object: "ConnectedApplication",
    fields: &[
        "Id",
        "Name",
        "OptionsAllowAdminApprovedUsersOnly",
        "CreatedDate",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::ConnectedApps,
};

/// A row of `ConnectedApplication`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectedApplicationRow {
    /// `0H4...`.
    pub id: SfId,
    /// Name.
    pub name: String,
    /// Admin-approved users only.
    #[serde(default)]
    pub options_allow_admin_approved_users_only: Option<bool>,
    /// Created.
    #[serde(default, deserialize_with = "de::datetime")]
    pub created_date: Option<DateTime<Utc>>,
}

/// A connected app as a `connected_application` resource.
pub(crate) fn map_connected_app(row: &ConnectedApplicationRow) -> Result<Resource, SyncError> {
    let id = resource_id(
        "ConnectedApplication",
        row.id,
        "Id",
        ResourceTypeId::ConnectedApplication,
        row.id,
    )?;
    Ok(Resource {
        id,
        resource_type: ResourceTypeId::ConnectedApplication,
        display_name: row.name.clone(),
        parent_id: None,
        description: None,
        details: ResourceDetails::ConnectedApplication(ConnectedAppDetails {
            admin_approved_users_only: row.options_allow_admin_approved_users_only,
            created: row.created_date,
        }),
    })
}

#[cfg(test)]
mod connected_application_tests {
    use super::*;

    #[test]
    fn connected_app_has_access_and_authorized() {
        let row: ConnectedApplicationRow = serde_json::from_str(
            r#"{"Id":"0H45g0000000001CAA","Name":"Workbench","OptionsAllowAdminApprovedUsersOnly":true,
                "CreatedDate":"2020-01-01T00:00:00.000+0000"}"#,
        )
        .unwrap();
        let r = map_connected_app(&row).unwrap();
        let slugs: Vec<String> = entitlements_of(&r).into_iter().map(|e| e.slug).collect();
        assert_eq!(slugs, ["access", "authorized"]);
        assert!(!CONNECTED_APPLICATION.is_read(&SyncOptions::default()));
    }
}

// ---------------------------------------------------------------------------------------------
// AppMenuItem: links an OauthToken (AppMenuItemId) to its app (ApplicationId).

fn app_menu_item_filter(_: &SyncOptions) -> Vec<Condition> {
    vec![Condition::eq("Type", "ConnectedApplication")]
}

/// `AppMenuItem` (facts 5.16), connected apps only.
pub(crate) const APP_MENU_ITEM: ObjectSpec = ObjectSpec {
    object: "AppMenuItem",
    fields: &["Id", "ApplicationId"],
    filter: app_menu_item_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::ConnectedApps,
};

/// A row of `AppMenuItem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppMenuItemRow {
    /// `0DS...`.
    pub id: SfId,
    /// The connected app.
    #[serde(default)]
    pub application_id: Option<SfId>,
}

#[cfg(test)]
mod app_menu_item_tests {
    use super::*;

    #[test]
    fn menu_items_of_connected_apps_only() {
        assert_eq!(
            APP_MENU_ITEM.soql(&SyncOptions::default(), None).as_str(),
            "SELECT Id, ApplicationId FROM AppMenuItem WHERE Type = 'ConnectedApplication' ORDER BY Id ASC"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SetupEntityAccess: which profile-owned or other permission sets may use which app; expanded
// in `expand::access_grants`.

fn setup_entity_access_filter(_: &SyncOptions) -> Vec<Condition> {
    vec![Condition::eq("SetupEntityType", "ConnectedApplication")]
}

/// `SetupEntityAccess` (facts 5.14), connected apps only.
pub(crate) const SETUP_ENTITY_ACCESS: ObjectSpec = ObjectSpec {
    object: "SetupEntityAccess",
    fields: &["Id", "ParentId", "SetupEntityId"],
    filter: setup_entity_access_filter,
    order_by: "Id",
    paging: Paging::Cursor,
    max_page: 2000,
    change_stamps: Some(&["SystemModstamp"]),
    needs: Needs::ConnectedApps,
};

/// A row of `SetupEntityAccess`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetupEntityAccessRow {
    /// `0J0...`.
    pub id: SfId,
    /// The permission set (profile-owned or not).
    pub parent_id: SfId,
    /// The connected app.
    pub setup_entity_id: SfId,
}

#[cfg(test)]
mod setup_entity_access_tests {
    use super::*;

    #[test]
    fn only_connected_app_access_is_read() {
        let q = SETUP_ENTITY_ACCESS.soql(&SyncOptions::default(), None);
        assert!(
            q.as_str()
                .ends_with("WHERE SetupEntityType = 'ConnectedApplication' ORDER BY Id ASC")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OauthToken -> `authorized` grants. Read in keyset chunks: Salesforce returns at most 500
// rows a page and 2,500 rows per query through queryMore (facts 5.15).

/// Rows per OauthToken chunk: the most one query returns through queryMore.
pub(crate) const OAUTH_TOKEN_CHUNK: u32 = 2500;

/// `OauthToken` (facts 5.15).
pub(crate) const OAUTH_TOKEN: ObjectSpec = ObjectSpec {
    object: "OauthToken",
    fields: &[
        "Id",
        "UserId",
        "AppMenuItemId",
        "AppName",
        "LastUsedDate",
        "UseCount",
    ],
    filter: no_filter,
    order_by: "Id",
    paging: Paging::IdChunks {
        rows: OAUTH_TOKEN_CHUNK,
    },
    max_page: 500,
    change_stamps: Some(&["CreatedDate", "LastUsedDate"]),
    needs: Needs::ConnectedApps,
};

/// A row of `OauthToken`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OauthTokenRow {
    /// `0CQ...`.
    pub id: SfId,
    /// The user who authorized the app.
    pub user_id: SfId,
    /// The app's menu item.
    #[serde(default)]
    pub app_menu_item_id: Option<SfId>,
    /// The app's name.
    #[serde(default)]
    pub app_name: Option<String>,
    /// Last use.
    #[serde(default, deserialize_with = "de::datetime")]
    pub last_used_date: Option<DateTime<Utc>>,
    /// Uses.
    #[serde(default)]
    pub use_count: Option<i64>,
}

#[cfg(test)]
mod oauth_token_tests {
    use super::*;

    #[test]
    fn tokens_are_read_in_keyset_chunks() {
        let options = SyncOptions::default();
        assert_eq!(
            OAUTH_TOKEN.soql(&options, None).as_str(),
            "SELECT Id, UserId, AppMenuItemId, AppName, LastUsedDate, UseCount FROM OauthToken \
             ORDER BY Id ASC LIMIT 2500"
        );
        let after = SfId::parse("0CQ5g0000000009GAA").unwrap();
        assert!(
            OAUTH_TOKEN
                .soql(&options, Some(after))
                .as_str()
                .ends_with("WHERE Id > '0CQ5g0000000009GAA' ORDER BY Id ASC LIMIT 2500")
        );
    }
}

#[cfg(all(test, feature = "emulator"))]
mod tests {
    use super::*;

    #[test]
    fn every_spec_names_fields_the_emulated_object_has() {
        for spec in OBJECTS {
            let object = crate::emulator::schema::object(spec.object)
                .unwrap_or_else(|| panic!("{} is not emulated", spec.object));
            for field in spec.fields {
                assert!(
                    object.field(field).is_some(),
                    "{}.{field} is not a field of the emulated object",
                    spec.object
                );
            }
            assert_eq!(spec.fields[0], "Id", "{}", spec.object);
            assert_eq!(spec.order_by, "Id", "{}", spec.object);
            let options = SyncOptions {
                sync_connected_apps: true,
                ..SyncOptions::default()
            };
            assert!(spec.is_read(&options));
            // Builds without panicking, with and without a keyset start.
            spec.soql(&options, None);
            spec.soql(&options, Some(SfId::parse("0055g0000000001AAA").unwrap()));
            // The change stamps are date-times of the object, and the probe has the read's
            // filter.
            for field in spec.change_stamps.unwrap_or_default() {
                let def = object.field(field).unwrap_or_else(|| {
                    panic!(
                        "{}.{field} is not a field of the emulated object",
                        spec.object
                    )
                });
                assert_eq!(
                    def.ty,
                    crate::emulator::schema::FieldType::DateTime,
                    "{}.{field}",
                    spec.object
                );
            }
            if let Some(probe) = spec.probe_soql(&options) {
                let read = spec.soql(&options, None);
                let where_of = |q: &str| {
                    q.split_once(" WHERE ")
                        .map(|(_, w)| w.trim_end_matches(" ORDER BY Id ASC").to_owned())
                };
                assert_eq!(where_of(probe.as_str()), where_of(read.as_str()));
                assert!(probe.as_str().starts_with("SELECT COUNT(Id), MAX("));
            }
        }
    }

    #[test]
    fn the_user_probe_watches_logins_too() {
        let probe = USER.probe_soql(&SyncOptions::default()).unwrap();
        assert!(
            probe.as_str().starts_with(
                "SELECT COUNT(Id), MAX(SystemModstamp), MAX(LastLoginDate) FROM User \
                 WHERE UserType NOT IN ('CspLitePortal', "
            ),
            "{probe}"
        );
        assert!(USER_LICENSE.probe_soql(&SyncOptions::default()).is_none());
    }

    #[test]
    fn objects_are_listed_once() {
        let mut names: Vec<&str> = OBJECTS.iter().map(|s| s.object).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OBJECTS.len());
    }
}
