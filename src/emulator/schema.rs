//! The emulated objects and their fields: one table of definitions, as the facts sheet
//! (sections 5.1-5.18) describes Salesforce's identity objects.
//!
//! This module only describes; it stores nothing. `org.rs` keeps records as value vectors
//! aligned with `ObjectDef::fields`, the SOQL executor resolves names through it, and the
//! sObject endpoints use its create/update flags to refuse writes as Salesforce does.

/// The kinds of field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// The record's own ID.
    Id,
    /// Free text (string, textarea, url, phone).
    String,
    /// An email address.
    Email,
    /// A boolean (never null).
    Boolean,
    /// An integer.
    Int,
    /// A date-time, rendered as `2020-08-11T15:55:08.000+0000`.
    DateTime,
    /// A date, rendered as `2020-08-04`.
    Date,
    /// A picklist value (text from a known set).
    Picklist,
    /// A lookup to another record (see `FieldDef::reference`).
    Reference,
}

/// A lookup field's targets and relationship name.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// The relationship name used in SOQL paths (`Profile` for `ProfileId`), if any.
    pub relationship: Option<&'static str>,
    /// The objects the field may point to (more than one: polymorphic).
    pub to: &'static [&'static str],
}

/// One field of an object.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// API name.
    pub name: &'static str,
    /// Value kind.
    pub ty: FieldType,
    /// Settable on insert.
    pub createable: bool,
    /// Settable on update.
    pub updateable: bool,
    /// May be null.
    pub nillable: bool,
    /// For `FieldType::Reference`.
    pub reference: Option<Reference>,
    /// Maximum length for text fields (0: not checked).
    pub length: usize,
}

impl FieldDef {
    /// A read-only, nillable field.
    pub const fn new(name: &'static str, ty: FieldType) -> FieldDef {
        FieldDef {
            name,
            ty,
            createable: false,
            updateable: false,
            nillable: !matches!(ty, FieldType::Boolean | FieldType::Id),
            reference: None,
            length: 0,
        }
    }
    /// Createable and updateable.
    pub const fn cu(mut self) -> FieldDef {
        self.createable = true;
        self.updateable = true;
        self
    }
    /// Createable only.
    pub const fn c(mut self) -> FieldDef {
        self.createable = true;
        self
    }
    /// Required (not nillable).
    pub const fn required(mut self) -> FieldDef {
        self.nillable = false;
        self
    }
    /// Maximum text length.
    pub const fn len(mut self, length: usize) -> FieldDef {
        self.length = length;
        self
    }
    /// A lookup with a relationship name.
    pub const fn to(mut self, relationship: &'static str, to: &'static [&'static str]) -> FieldDef {
        self.reference = Some(Reference {
            relationship: Some(relationship),
            to,
        });
        self
    }
    /// A lookup without a relationship name usable in SOQL paths.
    pub const fn to_unnamed(mut self, to: &'static [&'static str]) -> FieldDef {
        self.reference = Some(Reference {
            relationship: None,
            to,
        });
        self
    }
}

/// A system permission: the field name on PermissionSet and Profile.
pub type Permission = &'static str;

/// Which system permissions let the connecting user do something: any one of them suffices.
/// Empty: API Enabled is enough.
pub type Gate = &'static [Permission];

/// One emulated object.
#[derive(Debug)]
pub struct ObjectDef {
    /// API name (`User`, `PermissionSetAssignment`, ...).
    pub name: &'static str,
    /// ID key prefix.
    pub key_prefix: &'static str,
    /// Fields; `Id` is always first.
    pub fields: &'static [FieldDef],
    /// REST insert allowed.
    pub createable: bool,
    /// REST update allowed.
    pub updateable: bool,
    /// REST delete allowed.
    pub deletable: bool,
    /// Permissions needed to query or retrieve (any one).
    pub read_gate: Gate,
    /// Permissions needed to insert, update or delete (any one).
    pub write_gate: Gate,
}

impl ObjectDef {
    /// The index of a field, by case-insensitive name.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// A field, by case-insensitive name.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// The lookup field whose relationship name is `relationship` (case-insensitive).
    pub fn relationship(&self, relationship: &str) -> Option<(usize, &'static FieldDef)> {
        self.fields.iter().enumerate().find(|(_, f)| {
            f.reference
                .and_then(|r| r.relationship)
                .is_some_and(|r| r.eq_ignore_ascii_case(relationship))
        })
    }
}

use FieldType::*;

/// Permission names used by the gates and the generator.
pub mod perm {
    #![allow(missing_docs)]
    pub const API_ENABLED: &str = "PermissionsApiEnabled";
    pub const API_USER_ONLY: &str = "PermissionsApiUserOnly";
    pub const VIEW_SETUP: &str = "PermissionsViewSetup";
    pub const MANAGE_USERS: &str = "PermissionsManageUsers";
    pub const MANAGE_INTERNAL_USERS: &str = "PermissionsManageInternalUsers";
    pub const ASSIGN_PERMISSION_SETS: &str = "PermissionsAssignPermissionSets";
    pub const MANAGE_PROFILES_PERMISSIONSETS: &str = "PermissionsManageProfilesPermissionsets";
    pub const MANAGE_ROLES: &str = "PermissionsManageRoles";
    pub const VIEW_ROLES: &str = "PermissionsViewRoles";
    pub const FREEZE_USERS: &str = "PermissionsFreezeUsers";
    pub const RESET_PASSWORDS: &str = "PermissionsResetPasswords";
    pub const VIEW_ALL_USERS: &str = "PermissionsViewAllUsers";
    pub const VIEW_ALL_DATA: &str = "PermissionsViewAllData";
    pub const MODIFY_ALL_DATA: &str = "PermissionsModifyAllData";
    pub const CUSTOMIZE_APPLICATION: &str = "PermissionsCustomizeApplication";
    pub const MANAGE_REMOTE_ACCESS: &str = "PermissionsManageRemoteAccess";
    pub const MANAGE_SESSION_PERMISSION_SETS: &str = "PermissionsManageSessionPermissionSets";
    pub const MONITOR_LOGIN_HISTORY: &str = "PermissionsMonitorLoginHistory";
    pub const MANAGE_SHARING: &str = "PermissionsManageSharing";
    pub const AUTHOR_APEX: &str = "PermissionsAuthorApex";
    pub const MODIFY_METADATA: &str = "PermissionsModifyMetadata";
    pub const VIEW_ALL_PROFILES: &str = "PermissionsViewAllProfiles";
}

/// Every system permission field the emulator models, on PermissionSet and Profile.
pub const PERMISSIONS: &[Permission] = &[
    perm::API_ENABLED,
    perm::API_USER_ONLY,
    perm::VIEW_SETUP,
    perm::MANAGE_USERS,
    perm::MANAGE_INTERNAL_USERS,
    perm::ASSIGN_PERMISSION_SETS,
    perm::MANAGE_PROFILES_PERMISSIONSETS,
    perm::MANAGE_ROLES,
    perm::VIEW_ROLES,
    perm::FREEZE_USERS,
    perm::RESET_PASSWORDS,
    perm::VIEW_ALL_USERS,
    perm::VIEW_ALL_DATA,
    perm::MODIFY_ALL_DATA,
    perm::CUSTOMIZE_APPLICATION,
    perm::MANAGE_REMOTE_ACCESS,
    perm::MANAGE_SESSION_PERMISSION_SETS,
    perm::MONITOR_LOGIN_HISTORY,
    perm::MANAGE_SHARING,
    perm::AUTHOR_APEX,
    perm::MODIFY_METADATA,
    perm::VIEW_ALL_PROFILES,
];

macro_rules! permission_fields {
    () => {
        [
            FieldDef::new("PermissionsApiEnabled", Boolean).cu(),
            FieldDef::new("PermissionsApiUserOnly", Boolean).cu(),
            FieldDef::new("PermissionsViewSetup", Boolean).cu(),
            FieldDef::new("PermissionsManageUsers", Boolean).cu(),
            FieldDef::new("PermissionsManageInternalUsers", Boolean).cu(),
            FieldDef::new("PermissionsAssignPermissionSets", Boolean).cu(),
            FieldDef::new("PermissionsManageProfilesPermissionsets", Boolean).cu(),
            FieldDef::new("PermissionsManageRoles", Boolean).cu(),
            FieldDef::new("PermissionsViewRoles", Boolean).cu(),
            FieldDef::new("PermissionsFreezeUsers", Boolean).cu(),
            FieldDef::new("PermissionsResetPasswords", Boolean).cu(),
            FieldDef::new("PermissionsViewAllUsers", Boolean).cu(),
            FieldDef::new("PermissionsViewAllData", Boolean).cu(),
            FieldDef::new("PermissionsModifyAllData", Boolean).cu(),
            FieldDef::new("PermissionsCustomizeApplication", Boolean).cu(),
            FieldDef::new("PermissionsManageRemoteAccess", Boolean).cu(),
            FieldDef::new("PermissionsManageSessionPermissionSets", Boolean).cu(),
            FieldDef::new("PermissionsMonitorLoginHistory", Boolean).cu(),
            FieldDef::new("PermissionsManageSharing", Boolean).cu(),
            FieldDef::new("PermissionsAuthorApex", Boolean).cu(),
            FieldDef::new("PermissionsModifyMetadata", Boolean).cu(),
            FieldDef::new("PermissionsViewAllProfiles", Boolean).cu(),
        ]
    };
}

const fn concat_fields<const A: usize, const B: usize, const N: usize>(
    a: [FieldDef; A],
    b: [FieldDef; B],
) -> [FieldDef; N] {
    assert!(A + B == N, "field array lengths do not add up");
    let mut out = [FieldDef::new("", Id); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

const AUDIT: [FieldDef; 5] = [
    FieldDef::new("CreatedDate", DateTime),
    FieldDef::new("CreatedById", Reference).to("CreatedBy", &["User"]),
    FieldDef::new("LastModifiedDate", DateTime),
    FieldDef::new("LastModifiedById", Reference).to("LastModifiedBy", &["User"]),
    FieldDef::new("SystemModstamp", DateTime),
];

const SETUP_READ: Gate = &[perm::VIEW_SETUP, perm::MANAGE_USERS];
const PERMSET_READ: Gate = &[
    perm::VIEW_SETUP,
    perm::MANAGE_USERS,
    perm::ASSIGN_PERMISSION_SETS,
    perm::MANAGE_SESSION_PERMISSION_SETS,
    perm::MANAGE_PROFILES_PERMISSIONSETS,
];
const ASSIGN_WRITE: Gate = &[perm::ASSIGN_PERMISSION_SETS, perm::MANAGE_USERS];
const PERMSET_WRITE: Gate = &[perm::MANAGE_PROFILES_PERMISSIONSETS];

const ORGANIZATION_FIELDS: [FieldDef; 15] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("Name", String),
        FieldDef::new("OrganizationType", Picklist),
        FieldDef::new("IsSandbox", Boolean),
        FieldDef::new("InstanceName", String),
        FieldDef::new("NamespacePrefix", String),
        FieldDef::new("TrialExpirationDate", DateTime),
        FieldDef::new("IsReadOnly", Boolean),
        FieldDef::new("DefaultLocaleSidKey", Picklist),
        FieldDef::new("TimeZoneSidKey", Picklist),
    ],
    AUDIT,
);

const USER_LICENSE_FIELDS: [FieldDef; 13] = [
    FieldDef::new("Id", Id),
    FieldDef::new("Name", String),
    FieldDef::new("MasterLabel", String),
    FieldDef::new("LicenseDefinitionKey", String),
    FieldDef::new("Status", Picklist),
    FieldDef::new("TotalLicenses", Int),
    FieldDef::new("UsedLicenses", Int),
    FieldDef::new("UsedLicensesLastUpdated", DateTime),
    FieldDef::new("MonthlyLoginsEntitlement", Int),
    FieldDef::new("MonthlyLoginsUsed", Int),
    FieldDef::new("CreatedDate", DateTime),
    FieldDef::new("LastModifiedDate", DateTime),
    FieldDef::new("SystemModstamp", DateTime),
];

const PROFILE_FIELDS: [FieldDef; 32] = concat_fields(
    concat_fields::<5, 5, 10>(
        [
            FieldDef::new("Id", Id),
            FieldDef::new("Name", String).cu().required().len(255),
            FieldDef::new("Description", String).cu().len(255),
            FieldDef::new("UserLicenseId", Reference)
                .c()
                .required()
                .to("UserLicense", &["UserLicense"]),
            FieldDef::new("UserType", Picklist),
        ],
        AUDIT,
    ),
    permission_fields!(),
);

const USER_FIELDS: [FieldDef; 37] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("Username", String).cu().required().len(80),
        FieldDef::new("Email", Email).cu().required().len(128),
        FieldDef::new("FirstName", String).cu().len(40),
        FieldDef::new("LastName", String).cu().required().len(80),
        FieldDef::new("Name", String),
        FieldDef::new("Alias", String).cu().required().len(8),
        FieldDef::new("CommunityNickname", String).cu().len(40),
        FieldDef::new("IsActive", Boolean).cu(),
        FieldDef::new("UserType", Picklist),
        FieldDef::new("ProfileId", Reference)
            .cu()
            .required()
            .to("Profile", &["Profile"]),
        FieldDef::new("UserRoleId", Reference)
            .cu()
            .to("UserRole", &["UserRole"]),
        FieldDef::new("ManagerId", Reference)
            .cu()
            .to("Manager", &["User"]),
        FieldDef::new("FederationIdentifier", String).cu().len(512),
        FieldDef::new("TimeZoneSidKey", Picklist).cu().required(),
        FieldDef::new("LocaleSidKey", Picklist).cu().required(),
        FieldDef::new("EmailEncodingKey", Picklist).cu().required(),
        FieldDef::new("LanguageLocaleKey", Picklist).cu().required(),
        FieldDef::new("LastLoginDate", DateTime),
        FieldDef::new("LastPasswordChangeDate", DateTime),
        FieldDef::new("NumberOfFailedLogins", Int),
        FieldDef::new("ContactId", Reference)
            .cu()
            .to_unnamed(&["Contact"]),
        FieldDef::new("AccountId", Reference).to_unnamed(&["Account"]),
        FieldDef::new("IsPortalEnabled", Boolean),
        FieldDef::new("Department", String).cu().len(80),
        FieldDef::new("Title", String).cu().len(80),
        FieldDef::new("CompanyName", String).cu().len(80),
        FieldDef::new("EmployeeNumber", String).cu().len(20),
        FieldDef::new("Division", String).cu().len(80),
        FieldDef::new("Phone", String).cu().len(40),
        FieldDef::new("MobilePhone", String).cu().len(40),
        FieldDef::new("UserPermissionsMarketingUser", Boolean).cu(),
    ],
    AUDIT,
);

const USER_LOGIN_FIELDS: [FieldDef; 6] = [
    FieldDef::new("Id", Id),
    FieldDef::new("UserId", Reference).to("User", &["User"]),
    FieldDef::new("IsFrozen", Boolean).cu(),
    FieldDef::new("IsPasswordLocked", Boolean).cu(),
    FieldDef::new("LastModifiedDate", DateTime),
    FieldDef::new("LastModifiedById", Reference).to("LastModifiedBy", &["User"]),
];

const USER_ROLE_FIELDS: [FieldDef; 14] = [
    FieldDef::new("Id", Id),
    FieldDef::new("Name", String).cu().required().len(80),
    FieldDef::new("DeveloperName", String).cu().len(80),
    FieldDef::new("ParentRoleId", Reference)
        .cu()
        .to("ParentRole", &["UserRole"]),
    FieldDef::new("RollupDescription", String).cu().len(80),
    FieldDef::new("OpportunityAccessForAccountOwner", Picklist).cu(),
    FieldDef::new("CaseAccessForAccountOwner", Picklist).cu(),
    FieldDef::new("ContactAccessForAccountOwner", Picklist),
    FieldDef::new("ForecastUserId", Reference)
        .cu()
        .to("ForecastUser", &["User"]),
    FieldDef::new("PortalType", Picklist).c(),
    FieldDef::new("PortalAccountId", Reference)
        .c()
        .to_unnamed(&["Account"]),
    FieldDef::new("LastModifiedDate", DateTime),
    FieldDef::new("LastModifiedById", Reference).to("LastModifiedBy", &["User"]),
    FieldDef::new("SystemModstamp", DateTime),
];

const GROUP_FIELDS: [FieldDef; 15] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("Name", String).cu().required().len(40),
        FieldDef::new("DeveloperName", String).cu().len(80),
        FieldDef::new("Type", Picklist).c(),
        FieldDef::new("RelatedId", Reference).to("Related", &["UserRole", "User"]),
        FieldDef::new("Email", Email).cu(),
        FieldDef::new("OwnerId", Reference).to("Owner", &["User", "Organization"]),
        FieldDef::new("DoesSendEmailToMembers", Boolean).cu(),
        FieldDef::new("DoesIncludeBosses", Boolean).cu(),
        FieldDef::new("Description", String).cu().len(255),
    ],
    AUDIT,
);

const GROUP_MEMBER_FIELDS: [FieldDef; 4] = [
    FieldDef::new("Id", Id),
    FieldDef::new("GroupId", Reference)
        .c()
        .required()
        .to("Group", &["Group"]),
    FieldDef::new("UserOrGroupId", Reference)
        .c()
        .required()
        .to_unnamed(&["User", "Group"]),
    FieldDef::new("SystemModstamp", DateTime),
];

const PERMISSION_SET_FIELDS: [FieldDef; 39] = concat_fields(
    concat_fields::<12, 5, 17>(
        [
            FieldDef::new("Id", Id),
            FieldDef::new("Name", String).cu().required().len(80),
            FieldDef::new("Label", String).cu().required().len(80),
            FieldDef::new("Description", String).cu().len(255),
            FieldDef::new("LicenseId", Reference)
                .c()
                .to("License", &["PermissionSetLicense", "UserLicense"]),
            FieldDef::new("ProfileId", Reference).to("Profile", &["Profile"]),
            FieldDef::new("IsOwnedByProfile", Boolean),
            FieldDef::new("PermissionSetGroupId", Reference)
                .to("PermissionSetGroup", &["PermissionSetGroup"]),
            FieldDef::new("IsCustom", Boolean),
            FieldDef::new("NamespacePrefix", String),
            FieldDef::new("HasActivationRequired", Boolean).cu(),
            FieldDef::new("Type", Picklist),
        ],
        AUDIT,
    ),
    permission_fields!(),
);

const PERMISSION_SET_GROUP_FIELDS: [FieldDef; 14] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("DeveloperName", String)
            .cu()
            .required()
            .len(80),
        FieldDef::new("MasterLabel", String).cu().required().len(80),
        FieldDef::new("Description", String).cu().len(255),
        FieldDef::new("Language", Picklist).cu(),
        FieldDef::new("NamespacePrefix", String),
        FieldDef::new("HasActivationRequired", Boolean).cu(),
        FieldDef::new("IsDeleted", Boolean),
        FieldDef::new("Status", Picklist),
    ],
    AUDIT,
);

const PERMISSION_SET_GROUP_COMPONENT_FIELDS: [FieldDef; 9] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("PermissionSetGroupId", Reference)
            .c()
            .required()
            .to("PermissionSetGroup", &["PermissionSetGroup"]),
        FieldDef::new("PermissionSetId", Reference)
            .c()
            .required()
            .to("PermissionSet", &["PermissionSet"]),
        FieldDef::new("IsDeleted", Boolean),
    ],
    AUDIT,
);

const PERMISSION_SET_ASSIGNMENT_FIELDS: [FieldDef; 8] = [
    FieldDef::new("Id", Id),
    FieldDef::new("AssigneeId", Reference)
        .c()
        .required()
        .to("Assignee", &["User"]),
    FieldDef::new("PermissionSetId", Reference)
        .c()
        .to("PermissionSet", &["PermissionSet"]),
    FieldDef::new("PermissionSetGroupId", Reference)
        .c()
        .to("PermissionSetGroup", &["PermissionSetGroup"]),
    FieldDef::new("ExpirationDate", DateTime).cu(),
    FieldDef::new("IsActive", Boolean),
    FieldDef::new("IsRevoked", Boolean).cu(),
    FieldDef::new("SystemModstamp", DateTime),
];

const PERMISSION_SET_LICENSE_FIELDS: [FieldDef; 14] = [
    FieldDef::new("Id", Id),
    FieldDef::new("DeveloperName", String),
    FieldDef::new("MasterLabel", String),
    FieldDef::new("PermissionSetLicenseKey", String),
    FieldDef::new("Status", Picklist),
    FieldDef::new("TotalLicenses", Int),
    FieldDef::new("UsedLicenses", Int),
    FieldDef::new("ExpirationDate", Date),
    FieldDef::new("IsAvailableForIntegrations", Boolean),
    FieldDef::new("IsSupplementLicense", Boolean),
    FieldDef::new("LicenseExpirationPolicy", Picklist),
    FieldDef::new("CreatedDate", DateTime),
    FieldDef::new("LastModifiedDate", DateTime),
    FieldDef::new("SystemModstamp", DateTime),
];

const PERMISSION_SET_LICENSE_ASSIGN_FIELDS: [FieldDef; 8] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("AssigneeId", Reference)
            .c()
            .required()
            .to("Assignee", &["User"]),
        FieldDef::new("PermissionSetLicenseId", Reference)
            .c()
            .required()
            .to("PermissionSetLicense", &["PermissionSetLicense"]),
    ],
    AUDIT,
);

const CONNECTED_APPLICATION_FIELDS: [FieldDef; 14] = concat_fields(
    [
        FieldDef::new("Id", Id),
        FieldDef::new("Name", String),
        FieldDef::new("OptionsAllowAdminApprovedUsersOnly", Boolean),
        FieldDef::new("OptionsRefreshTokenValidityMetric", Boolean),
        FieldDef::new("OptionsHasSessionLevelPolicy", Boolean),
        FieldDef::new("OptionsIsInternal", Boolean),
        FieldDef::new("MobileSessionTimeout", Picklist),
        FieldDef::new("StartUrl", String),
        FieldDef::new("RefreshTokenValidityPeriod", Int),
    ],
    AUDIT,
);

const SETUP_ENTITY_ACCESS_FIELDS: [FieldDef; 5] = [
    FieldDef::new("Id", Id),
    FieldDef::new("ParentId", Reference)
        .c()
        .required()
        .to("Parent", &["PermissionSet"]),
    FieldDef::new("SetupEntityId", Reference)
        .c()
        .required()
        .to_unnamed(&["ConnectedApplication", "AppMenuItem"]),
    FieldDef::new("SetupEntityType", Picklist),
    FieldDef::new("SystemModstamp", DateTime),
];

const OAUTH_TOKEN_FIELDS: [FieldDef; 9] = [
    FieldDef::new("Id", Id),
    FieldDef::new("AppName", String),
    FieldDef::new("AppMenuItemId", Reference).to("AppMenuItem", &["AppMenuItem"]),
    FieldDef::new("UserId", Reference).to("User", &["User"]),
    FieldDef::new("CreatedDate", DateTime),
    FieldDef::new("LastUsedDate", DateTime),
    FieldDef::new("UseCount", Int),
    FieldDef::new("DeleteToken", String),
    FieldDef::new("RequestToken", String),
];

const APP_MENU_ITEM_FIELDS: [FieldDef; 10] = [
    FieldDef::new("Id", Id),
    FieldDef::new("Name", String),
    FieldDef::new("Label", String),
    FieldDef::new("Description", String),
    FieldDef::new("Type", Picklist),
    FieldDef::new("ApplicationId", Reference).to_unnamed(&["ConnectedApplication"]),
    FieldDef::new("IsAccessible", Boolean),
    FieldDef::new("IsVisible", Boolean).cu(),
    FieldDef::new("StartUrl", String),
    FieldDef::new("SystemModstamp", DateTime),
];

/// Every emulated object. The order is the generator's and the dump's.
pub static OBJECTS: &[ObjectDef] = &[
    ObjectDef {
        name: "Organization",
        key_prefix: "00D",
        fields: &ORGANIZATION_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: &[],
        write_gate: &[perm::MODIFY_ALL_DATA],
    },
    ObjectDef {
        name: "UserLicense",
        key_prefix: "100",
        fields: &USER_LICENSE_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: SETUP_READ,
        write_gate: &[],
    },
    ObjectDef {
        name: "Profile",
        key_prefix: "00e",
        fields: &PROFILE_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: &[],
        write_gate: PERMSET_WRITE,
    },
    ObjectDef {
        name: "UserRole",
        key_prefix: "00E",
        fields: &USER_ROLE_FIELDS,
        createable: true,
        updateable: true,
        deletable: true,
        read_gate: &[
            perm::VIEW_ROLES,
            perm::VIEW_SETUP,
            perm::MANAGE_ROLES,
            perm::MANAGE_USERS,
        ],
        write_gate: &[perm::MANAGE_ROLES, perm::MANAGE_USERS],
    },
    ObjectDef {
        name: "User",
        key_prefix: "005",
        fields: &USER_FIELDS,
        createable: true,
        updateable: true,
        deletable: false,
        read_gate: &[],
        write_gate: &[perm::MANAGE_INTERNAL_USERS, perm::MANAGE_USERS],
    },
    ObjectDef {
        name: "UserLogin",
        key_prefix: "060",
        fields: &USER_LOGIN_FIELDS,
        createable: false,
        updateable: true,
        deletable: false,
        read_gate: &[perm::MANAGE_USERS],
        write_gate: &[perm::MANAGE_USERS],
    },
    ObjectDef {
        name: "Group",
        key_prefix: "00G",
        fields: &GROUP_FIELDS,
        createable: true,
        updateable: true,
        deletable: true,
        read_gate: &[],
        write_gate: &[perm::MANAGE_USERS],
    },
    ObjectDef {
        name: "GroupMember",
        key_prefix: "011",
        fields: &GROUP_MEMBER_FIELDS,
        createable: true,
        updateable: false,
        deletable: true,
        read_gate: &[],
        write_gate: &[perm::MANAGE_USERS],
    },
    ObjectDef {
        name: "PermissionSetLicense",
        key_prefix: "0PL",
        fields: &PERMISSION_SET_LICENSE_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: PERMSET_READ,
        write_gate: &[],
    },
    ObjectDef {
        name: "PermissionSetGroup",
        key_prefix: "0PG",
        fields: &PERMISSION_SET_GROUP_FIELDS,
        createable: true,
        updateable: true,
        deletable: true,
        read_gate: PERMSET_READ,
        write_gate: PERMSET_WRITE,
    },
    ObjectDef {
        name: "PermissionSet",
        key_prefix: "0PS",
        fields: &PERMISSION_SET_FIELDS,
        createable: true,
        updateable: true,
        deletable: true,
        read_gate: PERMSET_READ,
        write_gate: PERMSET_WRITE,
    },
    ObjectDef {
        name: "PermissionSetGroupComponent",
        key_prefix: "0PR",
        fields: &PERMISSION_SET_GROUP_COMPONENT_FIELDS,
        createable: true,
        updateable: false,
        deletable: true,
        read_gate: SETUP_READ,
        write_gate: PERMSET_WRITE,
    },
    ObjectDef {
        name: "PermissionSetAssignment",
        key_prefix: "0Pa",
        fields: &PERMISSION_SET_ASSIGNMENT_FIELDS,
        createable: true,
        updateable: true,
        deletable: true,
        read_gate: PERMSET_READ,
        write_gate: ASSIGN_WRITE,
    },
    ObjectDef {
        name: "PermissionSetLicenseAssign",
        key_prefix: "2LA",
        fields: &PERMISSION_SET_LICENSE_ASSIGN_FIELDS,
        createable: true,
        updateable: false,
        deletable: true,
        read_gate: PERMSET_READ,
        write_gate: ASSIGN_WRITE,
    },
    ObjectDef {
        name: "ConnectedApplication",
        key_prefix: "0H4",
        fields: &CONNECTED_APPLICATION_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: &[perm::CUSTOMIZE_APPLICATION],
        write_gate: &[],
    },
    ObjectDef {
        name: "AppMenuItem",
        key_prefix: "0DS",
        fields: &APP_MENU_ITEM_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: &[],
        write_gate: &[perm::CUSTOMIZE_APPLICATION],
    },
    ObjectDef {
        name: "SetupEntityAccess",
        key_prefix: "0J0",
        fields: &SETUP_ENTITY_ACCESS_FIELDS,
        createable: true,
        updateable: false,
        deletable: true,
        read_gate: SETUP_READ,
        write_gate: PERMSET_WRITE,
    },
    ObjectDef {
        name: "OauthToken",
        key_prefix: "0CQ",
        fields: &OAUTH_TOKEN_FIELDS,
        createable: false,
        updateable: false,
        deletable: false,
        read_gate: &[],
        write_gate: &[],
    },
];

/// The object with this API name (case-insensitive).
pub fn object(name: &str) -> Option<&'static ObjectDef> {
    OBJECTS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// The object whose IDs start with this key prefix.
pub fn object_by_prefix(prefix: &str) -> Option<&'static ObjectDef> {
    OBJECTS.iter().find(|o| o.key_prefix == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_starts_with_id_and_has_unique_fields_and_prefix() {
        let mut prefixes = std::collections::HashSet::new();
        for object in OBJECTS {
            assert_eq!(object.fields[0].name, "Id", "{}", object.name);
            assert!(prefixes.insert(object.key_prefix), "{}", object.name);
            let mut names = std::collections::HashSet::new();
            for field in object.fields {
                assert!(!field.name.is_empty(), "{}", object.name);
                assert!(
                    names.insert(field.name.to_ascii_lowercase()),
                    "{}.{} twice",
                    object.name,
                    field.name
                );
                if field.ty == FieldType::Reference {
                    assert!(field.reference.is_some(), "{}.{}", object.name, field.name);
                }
            }
        }
    }

    #[test]
    fn relationships_resolve_case_insensitively() {
        let user = object("user").unwrap();
        let (index, field) = user.relationship("profile").unwrap();
        assert_eq!(field.name, "ProfileId");
        assert_eq!(user.fields[index].name, "ProfileId");
        assert!(user.relationship("Nope").is_none());
        assert_eq!(
            object_by_prefix("0Pa").unwrap().name,
            "PermissionSetAssignment"
        );
    }

    #[test]
    fn permission_sets_and_profiles_carry_every_modelled_permission() {
        for name in ["PermissionSet", "Profile"] {
            let object = object(name).unwrap();
            for permission in PERMISSIONS {
                assert!(object.field(permission).is_some(), "{name}.{permission}");
            }
        }
        assert!(PERMISSIONS.len() >= 15);
    }
}
