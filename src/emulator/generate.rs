//! The deterministic org generator: builds a realistic Salesforce org (licenses, profiles and
//! their owned permission sets, a role hierarchy with its role groups, users of every user type,
//! permission sets, permission set groups, assignments, public groups and queues, connected apps
//! and OAuth tokens) from a size preset and a seed.
//!
//! The same sizes and seed give the same org, byte for byte in a dump: one ChaCha8 stream drives
//! every choice, dates are offsets from a fixed base time (`BASE_TIME_MS`, never the wall clock),
//! and hash sets are used for membership checks only, never iterated.
//!
//! Every org, whatever its size, starts with the same *cast*: named users, roles, groups,
//! permission sets and assignments that carry the edge cases tests rely on (frozen, locked,
//! inactive, portal, guest and Automated Process users, a group nesting cycle, expired and
//! future assignments, an outdated and a failed permission set group, a full license...).
//! Random records fill the rest up to the requested counts. This module builds orgs; it does not
//! serve them or validate writes.
//!
//! The cast, for tests (usernames end in `@acme-<seed>.example`; see `CAST` for all of them):
//! - `integration`: the integration user (`org.integration.user_id`, ID `0055g0000000001AAA`),
//!   System Administrator, so every permission gate passes by default.
//! - `admin` (System Administrator, role CEO), `sales.manager` > `sales.rep` >
//!   `sales.associate` (a manager chain down a five-level role branch).
//! - `frozen.user`, `locked.user` (UserLogin flags), `inactive.user`, `norole.user`,
//!   `never.logged.in`, `nologin.user` and `autoproc` (no UserLogin row), `notype.user`
//!   (null UserType), `platform.user` (on the full "Salesforce Platform" license), `api.only`,
//!   `chatter.free`, `partner.user`, `community.user`, `portal.user`, `portal.manager`, `guest`.
//! - Groups "Nested Cycle A" and "Nested Cycle B" contain each other; "Chain Top" > "Chain
//!   Middle" > "Chain Bottom" > `sales.associate`; "Sales Leadership" holds role groups; "All
//!   Staff" holds the organization group; "Support Queue" is a queue.
//! - Permission set groups "Sales_Bundle" (Updated), "Support_Bundle" (Outdated) and
//!   "Admin_Bundle" (Failed); `sales.rep` holds an expired assignment and `sales.manager` one
//!   expiring in 2030.

use std::collections::{HashMap, HashSet};

use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::org::{Integration, Org, OrgSettings, Value};
use super::schema::{self, ObjectDef, Permission, perm};
use crate::salesforce::SfId;

/// 2026-01-01T00:00:00Z: every generated date is an offset from it, never the wall clock, so
/// that a seed always gives the same org.
pub const BASE_TIME_MS: i64 = 1_767_225_600_000;
const SECOND_MS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;
/// When the generated org was signed up.
const ORG_CREATED_MS: i64 = BASE_TIME_MS - 6 * 365 * DAY_MS;
/// The pod part of every generated ID (`00D5g0...`). Fixed, so IDs only depend on counts.
pub const POD: &str = "5g";
/// The Salesforce Platform license is always exactly full (`UsedLicenses == TotalLicenses`),
/// so creating or activating one more user on it fails as in a real org that ran out.
pub const FULL_LICENSE_NAME: &str = "Salesforce Platform";

/// The size presets of `sf-access emulator --preset`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// About 50 users with every object and edge case present; instant to build.
    Small,
    /// 20k users, 300 roles, 200 profiles, 1.5k permission sets, 150k assignments...
    Medium,
    /// Five times medium (100k users, 750k assignments).
    Large,
}

/// Per-object size overrides, also the CLI flags of `sf-access emulator` (`--users N` ...).
#[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SizeOverrides {
    /// Number of users, including the built-in cast (integration, admin, portal, guest...).
    #[arg(long, env = "SF_ACCESS_EMULATOR_USERS")]
    pub users: Option<usize>,
    /// Number of roles (UserRole), including partner portal roles.
    #[arg(long, env = "SF_ACCESS_EMULATOR_ROLES")]
    pub roles: Option<usize>,
    /// Number of profiles, including the standard ones.
    #[arg(long, env = "SF_ACCESS_EMULATOR_PROFILES")]
    pub profiles: Option<usize>,
    /// Number of permission sets not owned by a profile or a permission set group.
    #[arg(long, env = "SF_ACCESS_EMULATOR_PERMISSION_SETS")]
    pub permission_sets: Option<usize>,
    /// Number of permission set groups.
    #[arg(long, env = "SF_ACCESS_EMULATOR_PERMISSION_SET_GROUPS")]
    pub permission_set_groups: Option<usize>,
    /// Number of public groups and queues (role and organization groups not counted).
    #[arg(long, env = "SF_ACCESS_EMULATOR_GROUPS")]
    pub groups: Option<usize>,
    /// Number of group memberships (GroupMember rows).
    #[arg(long, env = "SF_ACCESS_EMULATOR_GROUP_MEMBERS")]
    pub group_members: Option<usize>,
    /// Number of permission set and permission set group assignments, not counting each
    /// user's assignment of its profile's permission set.
    #[arg(long, env = "SF_ACCESS_EMULATOR_ASSIGNMENTS")]
    pub assignments: Option<usize>,
    /// Number of connected apps, including the emulator's own "sf-access integration".
    #[arg(long, env = "SF_ACCESS_EMULATOR_CONNECTED_APPS")]
    pub connected_apps: Option<usize>,
    /// Number of OAuth tokens (OauthToken rows).
    #[arg(long, env = "SF_ACCESS_EMULATOR_OAUTH_TOKENS")]
    pub oauth_tokens: Option<usize>,
    /// Number of permission set licenses.
    #[arg(long, env = "SF_ACCESS_EMULATOR_PERMISSION_SET_LICENSES")]
    pub permission_set_licenses: Option<usize>,
}

/// Resolved record counts of a generated org. Each count is exact, except that values below
/// `Sizes::MINIMUM` (what the built-in cast needs) are raised to it, and `assignments` /
/// `group_members` stop early only when every possible distinct pair is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sizes {
    /// User rows.
    pub users: usize,
    /// UserRole rows.
    pub roles: usize,
    /// Profile rows (each also owns one permission set, not counted below).
    pub profiles: usize,
    /// PermissionSet rows of type Regular, Session and Standard (not profile- or group-owned).
    pub permission_sets: usize,
    /// PermissionSetGroup rows (each also owns one aggregate permission set).
    pub permission_set_groups: usize,
    /// Group rows of type Regular and Queue.
    pub groups: usize,
    /// GroupMember rows.
    pub group_members: usize,
    /// PermissionSetAssignment rows other than the profile-owned ones (one per user).
    pub assignments: usize,
    /// ConnectedApplication rows (each with one AppMenuItem).
    pub connected_apps: usize,
    /// OauthToken rows.
    pub oauth_tokens: usize,
    /// PermissionSetLicense rows.
    pub permission_set_licenses: usize,
}

impl Sizes {
    /// The smallest counts that still hold the built-in cast of every org.
    pub const MINIMUM: Sizes = Sizes {
        users: CAST.len(),
        roles: CORE_ROLES.len(),
        profiles: FIXED_PROFILES.len(),
        permission_sets: FIXED_SETS.len() + 4,
        permission_set_groups: FIXED_GROUPS_OF_SETS.len(),
        groups: FIXED_GROUPS.len(),
        group_members: FIXED_MEMBERS.len(),
        assignments: FIXED_ASSIGNMENTS.len(),
        connected_apps: 1,
        oauth_tokens: 1,
        permission_set_licenses: 2,
    };

    /// These sizes with the given overrides applied (and raised to `Sizes::MINIMUM`).
    pub fn with(self, overrides: &SizeOverrides) -> Sizes {
        Sizes {
            users: overrides.users.unwrap_or(self.users),
            roles: overrides.roles.unwrap_or(self.roles),
            profiles: overrides.profiles.unwrap_or(self.profiles),
            permission_sets: overrides.permission_sets.unwrap_or(self.permission_sets),
            permission_set_groups: overrides
                .permission_set_groups
                .unwrap_or(self.permission_set_groups),
            groups: overrides.groups.unwrap_or(self.groups),
            group_members: overrides.group_members.unwrap_or(self.group_members),
            assignments: overrides.assignments.unwrap_or(self.assignments),
            connected_apps: overrides.connected_apps.unwrap_or(self.connected_apps),
            oauth_tokens: overrides.oauth_tokens.unwrap_or(self.oauth_tokens),
            permission_set_licenses: overrides
                .permission_set_licenses
                .unwrap_or(self.permission_set_licenses),
        }
        .at_least_minimum()
    }

    /// Every count raised to `Sizes::MINIMUM` where it is below.
    pub fn at_least_minimum(self) -> Sizes {
        let m = Sizes::MINIMUM;
        Sizes {
            users: self.users.max(m.users),
            roles: self.roles.max(m.roles),
            profiles: self.profiles.max(m.profiles),
            permission_sets: self.permission_sets.max(m.permission_sets),
            permission_set_groups: self.permission_set_groups.max(m.permission_set_groups),
            groups: self.groups.max(m.groups),
            group_members: self.group_members.max(m.group_members),
            assignments: self.assignments.max(m.assignments),
            connected_apps: self.connected_apps.max(m.connected_apps),
            oauth_tokens: self.oauth_tokens.max(m.oauth_tokens),
            permission_set_licenses: self.permission_set_licenses.max(m.permission_set_licenses),
        }
    }
}

impl Preset {
    /// The record counts of this preset.
    pub fn sizes(self) -> Sizes {
        match self {
            Preset::Small => Sizes {
                users: 50,
                roles: 12,
                profiles: FIXED_PROFILES.len(),
                permission_sets: 20,
                permission_set_groups: 5,
                groups: 10,
                group_members: 40,
                assignments: 60,
                connected_apps: 6,
                oauth_tokens: 15,
                permission_set_licenses: 5,
            },
            Preset::Medium => Sizes {
                users: 20_000,
                roles: 300,
                profiles: 200,
                permission_sets: 1_500,
                permission_set_groups: 150,
                groups: 2_000,
                group_members: 60_000,
                assignments: 150_000,
                connected_apps: 80,
                oauth_tokens: 25_000,
                permission_set_licenses: 20,
            },
            Preset::Large => Sizes {
                users: 100_000,
                roles: 1_500,
                profiles: 1_000,
                permission_sets: 7_500,
                permission_set_groups: 750,
                groups: 10_000,
                group_members: 300_000,
                assignments: 750_000,
                connected_apps: 400,
                oauth_tokens: 125_000,
                permission_set_licenses: 100,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fixed part of every org.

/// Who a license (and so a profile) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Full CRM users.
    Internal,
    /// Salesforce Platform users.
    Platform,
    /// The free API-only integration license.
    Integration,
    /// Chatter Free.
    Chatter,
    /// Partner community users (they have portal roles).
    Partner,
    /// Customer community and portal users.
    Customer,
    /// Site guest user.
    Guest,
    /// Licenses nobody uses in generated orgs.
    Unused,
}

struct LicenseDef {
    name: &'static str,
    label: &'static str,
    key: &'static str,
    user_type: &'static str,
    audience: Audience,
    /// Login-based licenses report a monthly login allowance.
    login_based: bool,
}

const fn license(
    name: &'static str,
    label: &'static str,
    key: &'static str,
    user_type: &'static str,
    audience: Audience,
    login_based: bool,
) -> LicenseDef {
    LicenseDef {
        name,
        label,
        key,
        user_type,
        audience,
        login_based,
    }
}

/// User licenses with their documented `LicenseDefinitionKey`s (UserLicense object reference).
/// Two keys are not in that list: `PID_Chatter` (Chatter Free; the docs' `PID_CHATTER` is
/// "Chatter Only") and `PID_Integration` (Salesforce Integration, as seen in public fixtures);
/// both are best guesses.
#[rustfmt::skip]
const USER_LICENSES: &[LicenseDef] = &[
    license("Salesforce", "Salesforce", "SFDC", "Standard", Audience::Internal, false),
    license("Salesforce Platform", "Salesforce Platform", "AUL", "Standard", Audience::Platform, false),
    license("Force.com - One App", "Lightning Platform - One App", "FDC_ONE", "Standard", Audience::Unused, false),
    license("Force.com - App Subscription", "Lightning Platform Starter", "FDC_SUB", "Standard", Audience::Unused, false),
    license("Knowledge Only User", "Knowledge Only User", "PID_KNOWLEDGE", "Standard", Audience::Unused, false),
    license("Salesforce Integration", "Salesforce Integration", "PID_Integration", "Standard", Audience::Integration, false),
    license("Chatter Free", "Chatter Free", "PID_Chatter", "CsnOnly", Audience::Chatter, false),
    license("Customer Community", "Customer Community", "PID_Customer_Community", "CspLitePortal", Audience::Customer, false),
    license("Customer Community Login", "Customer Community Login", "PID_Customer_Community_Login", "CspLitePortal", Audience::Customer, true),
    license("Customer Portal Manager Standard", "Customer Portal Manager Standard", "PID_Customer_Portal_Basic", "CustomerSuccess", Audience::Customer, false),
    license("Customer Portal Manager Custom", "Customer Portal Manager Custom", "PID_Customer_Portal_Standard", "PowerCustomerSuccess", Audience::Customer, false),
    license("Partner Community", "Partner Community", "PID_Partner_Community", "PowerPartner", Audience::Partner, false),
    license("Partner Community Login", "Partner Community Login", "PID_Partner_Community_Login", "PowerPartner", Audience::Partner, true),
    license("Guest User License", "Guest User License", "PID_Guest_User", "Guest", Audience::Guest, false),
    license("Authenticated Website", "Authenticated Website", "Platform_Portal_User", "CspLitePortal", Audience::Unused, false),
];

/// A fixed profile: name, license key, and its permissions (`None`: all of them).
struct ProfileDef {
    name: &'static str,
    license_key: &'static str,
    permissions: Option<&'static [Permission]>,
}

const fn profile(
    name: &'static str,
    license_key: &'static str,
    permissions: Option<&'static [Permission]>,
) -> ProfileDef {
    ProfileDef {
        name,
        license_key,
        permissions,
    }
}

const SYSTEM_ADMINISTRATOR: &str = "System Administrator";
const STANDARD_USER: &str = "Standard User";
const API_ONLY_PROFILE: &str = "Salesforce API Only System Integrations";

/// The standard profiles every org has (a subset of a real org's list).
#[rustfmt::skip]
const FIXED_PROFILES: &[ProfileDef] = &[
    profile(SYSTEM_ADMINISTRATOR, "SFDC", None),
    profile(STANDARD_USER, "SFDC", Some(&[perm::API_ENABLED])),
    profile("Minimum Access - Salesforce", "SFDC", Some(&[])),
    profile("Minimum Access - Salesforce Platform", "AUL", Some(&[])),
    profile(API_ONLY_PROFILE, "PID_Integration", Some(&[
        perm::API_ENABLED, perm::API_USER_ONLY, perm::VIEW_SETUP, perm::MANAGE_USERS,
        perm::ASSIGN_PERMISSION_SETS, perm::CUSTOMIZE_APPLICATION, perm::MANAGE_ROLES,
        perm::VIEW_ROLES,
    ])),
    profile("Read Only", "SFDC", Some(&[perm::API_ENABLED])),
    profile("Marketing User", "SFDC", Some(&[perm::API_ENABLED])),
    profile("Contract Manager", "SFDC", Some(&[perm::API_ENABLED])),
    profile("Standard Platform User", "AUL", Some(&[perm::API_ENABLED])),
    profile("Chatter Free User", "PID_Chatter", Some(&[perm::API_ENABLED])),
    profile("Customer Community User", "PID_Customer_Community", Some(&[])),
    profile("Customer Community Login User", "PID_Customer_Community_Login", Some(&[])),
    profile("Customer Portal User", "PID_Customer_Portal_Basic", Some(&[])),
    profile("Customer Portal Manager Custom", "PID_Customer_Portal_Standard", Some(&[])),
    profile("Partner Community User", "PID_Partner_Community", Some(&[perm::API_ENABLED])),
    profile("Partner Community Login User", "PID_Partner_Community_Login", Some(&[])),
    profile("Acme Site Profile", "PID_Guest_User", Some(&[])),
    profile("Authenticated Website", "Platform_Portal_User", Some(&[])),
];

/// The core of the role hierarchy: name, parent (index in this list), partner portal role.
/// CEO > VP Sales > Sales Manager West > Sales Rep West > Sales Associate West is five levels.
const CORE_ROLES: &[(&str, Option<usize>, bool)] = &[
    ("CEO", None, false),
    ("VP Sales", Some(0), false),
    ("VP Service", Some(0), false),
    ("CFO", Some(0), false),
    ("Sales Manager West", Some(1), false),
    ("Sales Manager East", Some(1), false),
    ("Sales Rep West", Some(4), false),
    ("Sales Associate West", Some(6), false),
    ("Support Manager", Some(2), false),
    ("Support Agent", Some(8), false),
    ("Finance Analyst", Some(3), false),
    ("Globex Partner User", Some(6), true),
];

const INACTIVE: u8 = 1;
const FROZEN: u8 = 2;
const LOCKED: u8 = 4;
const NO_USER_LOGIN: u8 = 8;
const NEVER_LOGGED_IN: u8 = 16;
const NULL_USER_TYPE: u8 = 32;
const AUTOMATED_PROCESS: u8 = 64;
const FEDERATED: u8 = 128;

/// A named user of the cast.
struct CastUser {
    /// Username before `@acme-<seed>.example`.
    local: &'static str,
    first: Option<&'static str>,
    last: &'static str,
    profile: &'static str,
    role: Option<&'static str>,
    /// Index of the manager in `CAST`.
    manager: Option<usize>,
    flags: u8,
}

const fn cast(
    local: &'static str,
    first: Option<&'static str>,
    last: &'static str,
    profile: &'static str,
    role: Option<&'static str>,
    manager: Option<usize>,
    flags: u8,
) -> CastUser {
    CastUser {
        local,
        first,
        last,
        profile,
        role,
        manager,
        flags,
    }
}

/// Index of the integration user in `CAST` (always the first user, `005...1`).
const CAST_INTEGRATION: usize = 0;
const CAST_ADMIN: usize = 1;
const CAST_SALES_MANAGER: usize = 2;
const CAST_SALES_REP: usize = 3;
const CAST_SALES_ASSOCIATE: usize = 4;
const CAST_FROZEN: usize = 5;
const CAST_PLATFORM: usize = 11;

/// The users every org has, each carrying an edge case. Usernames are
/// `<local>@acme-<seed>.example`.
#[rustfmt::skip]
const CAST: &[CastUser] = &[
    cast("integration", Some("Integration"), "User", SYSTEM_ADMINISTRATOR, None, None, 0),
    cast("admin", Some("Avery"), "Admin", SYSTEM_ADMINISTRATOR, Some("CEO"), None, FEDERATED),
    cast("sales.manager", Some("Morgan"), "Manager", STANDARD_USER, Some("Sales Manager West"), Some(1), FEDERATED),
    cast("sales.rep", Some("Sam"), "Seller", STANDARD_USER, Some("Sales Rep West"), Some(2), FEDERATED),
    cast("sales.associate", Some("Ash"), "Associate", STANDARD_USER, Some("Sales Associate West"), Some(3), FEDERATED),
    cast("frozen.user", Some("Fiona"), "Frozen", STANDARD_USER, Some("Support Agent"), Some(1), FROZEN),
    cast("locked.user", Some("Larry"), "Locked", STANDARD_USER, Some("Support Agent"), Some(1), LOCKED),
    cast("inactive.user", Some("Ian"), "Inactive", STANDARD_USER, Some("Finance Analyst"), None, INACTIVE),
    cast("norole.user", Some("Nora"), "Norole", STANDARD_USER, None, None, 0),
    cast("never.logged.in", Some("Nell"), "Newcomer", STANDARD_USER, Some("Support Manager"), None, NEVER_LOGGED_IN),
    cast("nologin.user", Some("Nolan"), "Nologin", STANDARD_USER, Some("Sales Manager East"), None, NO_USER_LOGIN),
    cast("platform.user", Some("Pat"), "Platform", "Standard Platform User", Some("Support Agent"), None, 0),
    cast("api.only", Some("Ari"), "Apiuser", API_ONLY_PROFILE, None, None, 0),
    cast("chatter.free", Some("Chad"), "Chatter", "Chatter Free User", None, None, 0),
    cast("partner.user", Some("Paula"), "Partner", "Partner Community User", Some("Globex Partner User"), None, 0),
    cast("community.user", Some("Cody"), "Community", "Customer Community User", None, None, 0),
    cast("portal.user", Some("Connie"), "Customer", "Customer Portal User", None, None, 0),
    cast("portal.manager", Some("Carl"), "Custodian", "Customer Portal Manager Custom", None, None, 0),
    cast("guest", None, "Acme Site Guest User", "Acme Site Profile", None, None, 0),
    // Salesforce's Automated Process user runs flows and platform events; it never logs in.
    // Its real profile is hidden, so it borrows Minimum Access and keeps its own UserType.
    cast("autoproc", None, "Automated Process", "Minimum Access - Salesforce", None, None, AUTOMATED_PROCESS | NO_USER_LOGIN),
    // A user with an empty UserType: baton-salesforce treats it as a data bug and skips the
    // user, so the connector needs a case to exercise the same handling.
    cast("notype.user", Some("Uma"), "Untyped", STANDARD_USER, None, None, NULL_USER_TYPE),
];

/// A fixed permission set.
struct SetDef {
    name: &'static str,
    label: &'static str,
    /// `Regular` or `Session`.
    kind: &'static str,
    namespace: Option<&'static str>,
    permissions: &'static [Permission],
}

const fn set_def(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    namespace: Option<&'static str>,
    permissions: &'static [Permission],
) -> SetDef {
    SetDef {
        name,
        label,
        kind,
        namespace,
        permissions,
    }
}

/// Fixed permission sets, before the license-bundled and random ones.
#[rustfmt::skip]
const FIXED_SETS: &[SetDef] = &[
    set_def("Sales_Operations", "Sales Operations", "Regular", None, &[perm::API_ENABLED, perm::VIEW_SETUP]),
    set_def("Report_Builder", "Report Builder", "Regular", None, &[perm::API_ENABLED]),
    set_def("User_Admin_Lite", "User Admin Lite", "Regular", None, &[
        perm::API_ENABLED, perm::MANAGE_INTERNAL_USERS, perm::RESET_PASSWORDS,
        perm::VIEW_ALL_USERS, perm::FREEZE_USERS,
    ]),
    set_def("Elevated_Admin_Session", "Elevated Admin (session)", "Session", None, &[
        perm::MODIFY_ALL_DATA, perm::VIEW_ALL_DATA, perm::MANAGE_USERS,
    ]),
    set_def("Support_Agent_Extras", "Support Agent Extras", "Regular", None, &[perm::API_ENABLED, perm::VIEW_ROLES]),
    set_def("Connected_App_Access", "Connected App Access", "Regular", None, &[perm::API_ENABLED]),
    set_def("SteelBrickCPQAdmin", "CPQ Admin", "Regular", Some("SBQQ"), &[perm::API_ENABLED, perm::CUSTOMIZE_APPLICATION]),
    set_def("DocuSign_Sender", "DocuSign Sender", "Regular", Some("dsfs"), &[perm::API_ENABLED]),
];

/// Fixed permission set groups: developer name, label, status, components (`FIXED_SETS` names).
const FIXED_GROUPS_OF_SETS: &[(&str, &str, &str, &[&str])] = &[
    (
        "Sales_Bundle",
        "Sales Bundle",
        "Updated",
        &["Sales_Operations", "Report_Builder"],
    ),
    (
        "Support_Bundle",
        "Support Bundle",
        "Outdated",
        &["Support_Agent_Extras", "Report_Builder"],
    ),
    (
        "Admin_Bundle",
        "Admin Bundle",
        "Failed",
        &["User_Admin_Lite", "Connected_App_Access"],
    ),
];

/// What a fixed assignment grants.
enum Grant {
    Set(&'static str),
    Group(&'static str),
    /// The first license-bundled (`Standard`) permission set.
    FirstStandardSet,
}

/// Fixed assignments: cast user, what, expiration (epoch ms).
const PAST_EXPIRY_MS: i64 = BASE_TIME_MS - 184 * DAY_MS; // 2025-07-01
const FUTURE_EXPIRY_MS: i64 = 1_893_456_000_000; // 2030-01-01
const FIXED_ASSIGNMENTS: &[(usize, Grant, Option<i64>)] = &[
    (
        CAST_SALES_REP,
        Grant::Set("Sales_Operations"),
        Some(PAST_EXPIRY_MS),
    ),
    (
        CAST_SALES_MANAGER,
        Grant::Set("Report_Builder"),
        Some(FUTURE_EXPIRY_MS),
    ),
    (CAST_SALES_MANAGER, Grant::Group("Support_Bundle"), None),
    (CAST_SALES_REP, Grant::Group("Sales_Bundle"), None),
    (CAST_FROZEN, Grant::Set("User_Admin_Lite"), None),
    (CAST_ADMIN, Grant::Set("Elevated_Admin_Session"), None),
    (CAST_SALES_ASSOCIATE, Grant::FirstStandardSet, None),
];

/// Fixed public groups and queues: name, type.
const FIXED_GROUPS: &[(&str, &str)] = &[
    ("Nested Cycle A", "Regular"),
    ("Nested Cycle B", "Regular"),
    ("Chain Top", "Regular"),
    ("Chain Middle", "Regular"),
    ("Chain Bottom", "Regular"),
    ("Sales Leadership", "Regular"),
    ("All Staff", "Regular"),
    ("Support Queue", "Queue"),
];

/// A fixed membership's member.
enum Member {
    /// Index in `FIXED_GROUPS`.
    Group(usize),
    /// Index in `CAST`.
    User(usize),
    /// The `Role` group of a core role.
    RoleGroup(&'static str),
    /// The `RoleAndSubordinates` group of a core role.
    RoleAndSubordinatesGroup(&'static str),
    /// "All Internal Users".
    Organization,
}

/// Fixed memberships: container (index in `FIXED_GROUPS`), member. A and B contain each other
/// (a cycle); Chain Top > Chain Middle > Chain Bottom > user is three levels of nesting.
const FIXED_MEMBERS: &[(usize, Member)] = &[
    (0, Member::Group(1)),
    (1, Member::Group(0)),
    (0, Member::User(CAST_SALES_REP)),
    (2, Member::Group(3)),
    (3, Member::Group(4)),
    (4, Member::User(CAST_SALES_ASSOCIATE)),
    (5, Member::RoleGroup("CEO")),
    (5, Member::RoleAndSubordinatesGroup("VP Sales")),
    (5, Member::User(CAST_SALES_MANAGER)),
    (6, Member::Organization),
    (7, Member::User(CAST_PLATFORM)),
    (7, Member::User(CAST_FROZEN)),
];

/// The emulator's own connected app, the one `org.integration` points at.
pub const INTEGRATION_APP_NAME: &str = "sf-access integration";

/// Connected apps of every org (then "Acme Internal Tool N"). Apps in the last part of the
/// list never get tokens (see `generate_apps`).
const APP_NAMES: &[&str] = &[
    INTEGRATION_APP_NAME,
    "Salesforce CLI",
    "Workbench",
    "Slack for Salesforce",
    "Okta SSO",
    "Tableau Cloud",
    "DocuSign eSignature",
    "Zapier",
    "Postman",
    "Outreach",
];

/// Permission set licenses: developer name, label.
const PSL_NAMES: &[(&str, &str)] = &[
    ("SalesConsoleUser", "Sales Console User"),
    ("IdentityConnect", "Identity Connect"),
    ("SalesforceCPQ_CPQStandardPerm", "Salesforce CPQ License"),
    ("EinsteinAnalyticsPlusPsl", "CRM Analytics Plus"),
    ("FieldServiceStandardPsl", "Field Service Standard"),
    ("SalesCloudEinsteinPsl", "Sales Cloud Einstein"),
    ("LightningSchedulerPsl", "Lightning Scheduler"),
    ("SurveyCreatorPsl", "Salesforce Surveys Creator"),
    ("KnowledgeUserPsl", "Knowledge User"),
    ("WorkDotComUserPsl", "Work.com User"),
];
/// Index of the expired (`Disabled`) permission set license.
const DISABLED_PSL: usize = 1;

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
    "Margaret", "Donald", "Sandra", "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily",
    "Joshua", "Donna", "Kenneth", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "George",
    "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Jason", "Rebecca", "Edward", "Laura",
    "Jeffrey", "Sharon", "Ryan", "Cynthia", "Jacob", "Kathleen", "Aiko", "Hiroshi", "Priya",
    "Arjun", "Chloé", "Lucas", "Sofía", "Mateo", "Fatima", "Omar", "Ingrid", "Lars", "Wei",
    "Mei", "Olga", "Ivan", "Zanele", "Kwame",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Tanaka", "Sato", "Patel", "Sharma",
    "Dubois", "Müller", "Rossi", "Novak", "Kowalski", "Andersson", "Chen", "Wang", "Okafor",
    "Mensah", "O'Brien", "Van Dijk",
];

#[rustfmt::skip]
const DEPARTMENTS: &[&str] = &[
    "Sales", "Support", "Marketing", "Finance", "Engineering", "Operations", "Legal", "HR", "IT",
];
#[rustfmt::skip]
const TITLES: &[&str] = &[
    "Account Executive", "Sales Manager", "Support Engineer", "Marketing Specialist",
    "Financial Analyst", "Software Engineer", "Operations Lead", "Counsel", "HR Partner",
    "Systems Administrator",
];
const REGIONS: &[&str] = &["NA", "EMEA", "APAC", "LATAM"];
#[rustfmt::skip]
const TEAMS: &[&str] = &[
    "Sales", "Support", "Marketing", "Finance", "Engineering", "Operations", "Legal", "Partners",
    "Renewals", "Onboarding",
];
#[rustfmt::skip]
const PARTNER_ACCOUNTS: &[&str] = &[
    "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Soylent", "Tyrell",
    "Cyberdyne",
];
/// (time zone, locale, language)
const LOCALES: &[(&str, &str, &str)] = &[
    ("America/Los_Angeles", "en_US", "en_US"),
    ("America/New_York", "en_US", "en_US"),
    ("America/Chicago", "en_US", "en_US"),
    ("Europe/London", "en_GB", "en_US"),
    ("Europe/Paris", "fr_FR", "fr"),
    ("Europe/Berlin", "de_DE", "de"),
    ("Asia/Tokyo", "ja_JP", "ja"),
    ("America/Sao_Paulo", "pt_BR", "pt_BR"),
];

// ---------------------------------------------------------------------------------------------
// Permissions as bit masks (there are fewer than 32 modelled permissions).

type PermMask = u32;
const _: () = assert!(schema::PERMISSIONS.len() <= 32);
const ALL_PERMS: PermMask = ((1u64 << schema::PERMISSIONS.len()) - 1) as PermMask;

fn perm_bit(p: Permission) -> PermMask {
    let index = schema::PERMISSIONS
        .iter()
        .position(|q| *q == p)
        .expect("generator permissions come from schema::PERMISSIONS");
    1 << index
}

fn mask_of(perms: &[Permission]) -> PermMask {
    perms.iter().fold(0, |m, p| m | perm_bit(p))
}

/// Odds of each permission in random permission sets and custom profiles: common ones often,
/// data-wide and user-admin powers rarely.
const PERM_ODDS: &[(Permission, f64)] = &[
    (perm::API_ENABLED, 0.7),
    (perm::API_USER_ONLY, 0.02),
    (perm::VIEW_SETUP, 0.2),
    (perm::MANAGE_USERS, 0.02),
    (perm::MANAGE_INTERNAL_USERS, 0.04),
    (perm::ASSIGN_PERMISSION_SETS, 0.04),
    (perm::MANAGE_PROFILES_PERMISSIONSETS, 0.02),
    (perm::MANAGE_ROLES, 0.03),
    (perm::VIEW_ROLES, 0.15),
    (perm::FREEZE_USERS, 0.03),
    (perm::RESET_PASSWORDS, 0.05),
    (perm::VIEW_ALL_USERS, 0.08),
    (perm::VIEW_ALL_DATA, 0.03),
    (perm::MODIFY_ALL_DATA, 0.01),
    (perm::CUSTOMIZE_APPLICATION, 0.05),
    (perm::MANAGE_REMOTE_ACCESS, 0.02),
    (perm::MANAGE_SESSION_PERMISSION_SETS, 0.02),
    (perm::MONITOR_LOGIN_HISTORY, 0.04),
    (perm::MANAGE_SHARING, 0.03),
    (perm::AUTHOR_APEX, 0.04),
    (perm::MODIFY_METADATA, 0.02),
    (perm::VIEW_ALL_PROFILES, 0.05),
];

/// Salesforce turns on the permissions a permission depends on (Manage Users needs Manage
/// Internal Users, View All Users...); random sets follow the main dependencies so that they
/// look like what an admin could save.
fn with_dependencies(mut mask: PermMask) -> PermMask {
    let rules: [(Permission, &[Permission]); 6] = [
        (
            perm::MANAGE_USERS,
            &[
                perm::MANAGE_INTERNAL_USERS,
                perm::VIEW_ALL_USERS,
                perm::RESET_PASSWORDS,
                perm::VIEW_SETUP,
                perm::VIEW_ROLES,
                perm::MANAGE_ROLES,
                perm::ASSIGN_PERMISSION_SETS,
            ],
        ),
        (
            perm::MODIFY_ALL_DATA,
            &[perm::VIEW_ALL_DATA, perm::API_ENABLED],
        ),
        (
            perm::MANAGE_INTERNAL_USERS,
            &[perm::VIEW_ALL_USERS, perm::VIEW_SETUP],
        ),
        (perm::MANAGE_ROLES, &[perm::VIEW_ROLES, perm::VIEW_SETUP]),
        (perm::CUSTOMIZE_APPLICATION, &[perm::VIEW_SETUP]),
        (perm::API_USER_ONLY, &[perm::API_ENABLED]),
    ];
    for (p, implied) in rules {
        if mask & perm_bit(p) != 0 {
            mask |= mask_of(implied);
        }
    }
    mask
}

// ---------------------------------------------------------------------------------------------
// Building rows without per-field name lookups.

/// An object's table index and the columns the generator fills on every row.
struct Shape {
    object: usize,
    def: &'static ObjectDef,
    blank: Vec<Value>,
    perm_cols: Vec<usize>,
    created: Option<usize>,
    created_by: Option<usize>,
    modified: Option<usize>,
    modified_by: Option<usize>,
    stamp: Option<usize>,
}

impl Shape {
    fn of(name: &str) -> Shape {
        let object = Org::object_index(name).expect("generator objects are in schema::OBJECTS");
        let def = &schema::OBJECTS[object];
        let perm_cols = if def.field_index(perm::API_ENABLED).is_some() {
            schema::PERMISSIONS
                .iter()
                .map(|p| def.field_index(p).expect("permission fields come together"))
                .collect()
        } else {
            Vec::new()
        };
        Shape {
            object,
            def,
            blank: Org::blank_values(object),
            perm_cols,
            created: def.field_index("CreatedDate"),
            created_by: def.field_index("CreatedById"),
            modified: def.field_index("LastModifiedDate"),
            modified_by: def.field_index("LastModifiedById"),
            stamp: def.field_index("SystemModstamp"),
        }
    }

    /// The column of a field the generator knows the object has.
    fn col(&self, field: &str) -> usize {
        self.def
            .field_index(field)
            .unwrap_or_else(|| panic!("generator field {}.{field} is in the schema", self.def.name))
    }

    fn row(&self) -> Row<'_> {
        Row {
            shape: self,
            values: self.blank.clone(),
        }
    }
}

/// Who created and last changed a record, and when.
#[derive(Clone, Copy)]
struct Audit {
    created: i64,
    created_by: SfId,
    modified: i64,
    modified_by: SfId,
}

/// A record being built.
struct Row<'a> {
    shape: &'a Shape,
    values: Vec<Value>,
}

impl Row<'_> {
    /// Sets a field by name: for rows built a few hundred times, not in the large loops.
    fn set(&mut self, field: &str, value: Value) -> &mut Self {
        let col = self.shape.col(field);
        self.values[col] = value;
        self
    }

    fn text(&mut self, field: &str, value: impl Into<String>) -> &mut Self {
        self.set(field, Value::text(value))
    }

    fn id(&mut self, field: &str, id: SfId) -> &mut Self {
        self.set(field, Value::Id(id))
    }

    fn opt_id(&mut self, field: &str, id: Option<SfId>) -> &mut Self {
        self.set(field, id.map_or(Value::Null, Value::Id))
    }

    fn flag(&mut self, field: &str, value: bool) -> &mut Self {
        self.set(field, Value::Bool(value))
    }

    fn int(&mut self, field: &str, value: i64) -> &mut Self {
        self.set(field, Value::Int(value))
    }

    fn time(&mut self, field: &str, ms: i64) -> &mut Self {
        self.set(field, Value::DateTime(ms))
    }

    fn permissions(&mut self, mask: PermMask) -> &mut Self {
        for (bit, col) in self.shape.perm_cols.iter().enumerate() {
            self.values[*col] = Value::Bool(mask & (1 << bit) != 0);
        }
        self
    }

    /// Fills whichever audit fields the object has; `SystemModstamp` = `LastModifiedDate`.
    fn audit(&mut self, audit: Audit) -> &mut Self {
        let s = self.shape;
        for (col, value) in [
            (s.created, Value::DateTime(audit.created)),
            (s.created_by, Value::Id(audit.created_by)),
            (s.modified, Value::DateTime(audit.modified)),
            (s.modified_by, Value::Id(audit.modified_by)),
            (s.stamp, Value::DateTime(audit.modified)),
        ] {
            if let Some(col) = col {
                self.values[col] = value;
            }
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The generator.

struct ProfileInfo {
    id: SfId,
    license: usize,
    /// Its owned permission set.
    set: SfId,
    name: String,
}

struct RoleInfo {
    id: SfId,
    name: String,
    depth: usize,
    portal_account: Option<SfId>,
    role_group: SfId,
    subordinates_group: SfId,
}

#[derive(Clone, Copy)]
struct UserInfo {
    id: SfId,
    profile: usize,
    audience: Audience,
    active: bool,
    created: i64,
}

impl UserInfo {
    /// Internal users other than the integration and Automated Process users: the ones that
    /// get permission sets, group memberships and OAuth tokens.
    fn is_staff(&self, flags: u8) -> bool {
        matches!(
            self.audience,
            Audience::Internal | Audience::Platform | Audience::Integration
        ) && flags & AUTOMATED_PROCESS == 0
            && self.id != SfId::from_counter("005", POD, 1 + CAST_INTEGRATION as u64)
    }
}

/// Column indices of the User fields the generator fills.
struct UserCols {
    username: usize,
    email: usize,
    first: usize,
    last: usize,
    name: usize,
    alias: usize,
    nickname: usize,
    active: usize,
    user_type: usize,
    profile: usize,
    role: usize,
    manager: usize,
    federation: usize,
    time_zone: usize,
    locale: usize,
    encoding: usize,
    language: usize,
    last_login: usize,
    password_changed: usize,
    failed_logins: usize,
    contact: usize,
    account: usize,
    portal: usize,
    department: usize,
    title: usize,
    company: usize,
    employee_number: usize,
    phone: usize,
    marketing: usize,
}

struct SetInfo {
    id: SfId,
    name: String,
    kind: &'static str,
    mask: PermMask,
    psl: Option<usize>,
}

struct Gen {
    rng: ChaCha8Rng,
    org: Org,
    seed: u64,
    domain: String,
    max_stamp: i64,
    org_id: SfId,
    admin: SfId,
    next_account: u64,
    next_contact: u64,
}

impl Gen {
    fn insert(&mut self, row: Row<'_>) -> SfId {
        let object = row.shape.object;
        self.org.insert_values(object, row.values)
    }

    /// A whole-second instant in `[lo, hi)` (Salesforce reports whole seconds).
    fn time_between(&mut self, lo: i64, hi: i64) -> i64 {
        let lo_s = lo.div_euclid(SECOND_MS);
        let hi_s = (hi.div_euclid(SECOND_MS)).max(lo_s + 1);
        self.rng.random_range(lo_s..hi_s) * SECOND_MS
    }

    /// Records a stamp so that `observe_stamp` can continue after the newest one.
    fn note(&mut self, ms: i64) -> i64 {
        self.max_stamp = self.max_stamp.max(ms);
        ms
    }

    /// A creation time after `after` and a last change at or after it, both before the base
    /// time; made by the admin.
    fn audit(&mut self, after: i64) -> Audit {
        let created = self.time_between(after, BASE_TIME_MS - DAY_MS);
        let modified = if self.rng.random_bool(0.5) {
            created
        } else {
            self.time_between(created, BASE_TIME_MS - SECOND_MS)
        };
        self.note(modified);
        Audit {
            created,
            created_by: self.admin,
            modified,
            modified_by: self.admin,
        }
    }

    fn random_mask(&mut self, scale: f64) -> PermMask {
        let mut mask = 0;
        for (p, odds) in PERM_ODDS {
            if self.rng.random_bool((odds * scale).min(1.0)) {
                mask |= perm_bit(p);
            }
        }
        with_dependencies(mask)
    }

    /// `len` characters of `TOKEN_CHARS`: 64 symbols, so each takes 6 bits of a `u64` draw
    /// (ten per draw keeps large orgs' token columns cheap).
    fn random_token(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let mut bits = self.rng.next_u64();
            for _ in 0..10.min(len - out.len()) {
                out.push(char::from(TOKEN_CHARS[(bits & 63) as usize]));
                bits >>= 6;
            }
        }
        out
    }

    fn new_account(&mut self) -> SfId {
        self.next_account += 1;
        SfId::from_counter("001", POD, self.next_account)
    }

    fn new_contact(&mut self) -> SfId {
        self.next_contact += 1;
        SfId::from_counter("003", POD, self.next_contact)
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
const HEX: &[u8] = b"0123456789ABCDEF";

/// Builds an org with these sizes (raised to `Sizes::MINIMUM`) from `seed`. The same sizes and
/// seed give the same org; see the module header for what every org contains.
pub fn generate(sizes: &Sizes, seed: u64) -> Org {
    let sizes = sizes.at_least_minimum();
    let integration_id = SfId::from_counter("005", POD, 1 + CAST_INTEGRATION as u64);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        org: Org::empty(
            OrgSettings::default(),
            credentials(seed, integration_id),
            POD,
        ),
        seed,
        domain: format!("acme-{seed}.example"),
        max_stamp: 0,
        org_id: SfId::from_counter("00D", POD, 1),
        // Users are inserted in CAST order first, so their IDs are known before they exist
        // and can sign the audit fields of the setup records created earlier.
        admin: SfId::from_counter("005", POD, 1 + CAST_ADMIN as u64),
        next_account: 0,
        next_contact: 0,
    };
    generate_organization(&mut g);
    let licenses = generate_user_licenses(&mut g);
    let profiles = generate_profiles(&mut g, &sizes, &licenses);
    let (roles, org_group) = generate_roles(&mut g, &sizes);
    let users = generate_users(&mut g, &sizes, &profiles, &roles);
    generate_user_logins(&mut g, &users);
    settle_user_licenses(&mut g, &licenses, &profiles, &users);
    generate_groups(&mut g, &sizes, &roles, &users, org_group);
    let psls = generate_permission_set_licenses(&mut g, &sizes);
    let sets = generate_permission_sets(&mut g, &sizes, &psls);
    let groups_of_sets = generate_permission_set_groups(&mut g, &sizes, &sets);
    generate_assignments(
        &mut g,
        &sizes,
        &profiles,
        &users,
        &sets,
        &groups_of_sets,
        &psls,
    );
    generate_apps(&mut g, &sizes, &profiles, &sets, &users);
    g.org.recount_licenses();
    g.org.reset_counters();
    let max_stamp = g.max_stamp;
    g.org.observe_stamp(max_stamp);
    g.org
}

/// The integration user's and connected app's secrets, from their own stream of `seed` so
/// that they do not change with the sizes.
fn credentials(seed: u64, user_id: SfId) -> Integration {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5F_ACCE_55C0_FFEE);
    let mut token = |len: usize, alphabet: &[u8]| -> String {
        (0..len)
            .map(|_| char::from(alphabet[(rng.next_u32() as usize) % alphabet.len()]))
            .collect()
    };
    Integration {
        user_id,
        // Consumer keys start with 3MVG9 and are 85 characters long.
        client_id: format!("3MVG9{}", token(80, TOKEN_CHARS)),
        client_secret: token(64, HEX),
        password: format!("Emu-{}!1", token(12, ALNUM)),
        security_token: token(24, ALNUM),
        // Refresh tokens start with 5Aep86.
        refresh_token: format!("5Aep861{}", token(80, TOKEN_CHARS)),
        jwt_public_key_pem: include_str!("keys/jwt-public.pem").to_string(),
        connected_app_id: None,
    }
}

fn generate_organization(g: &mut Gen) {
    let shape = Shape::of("Organization");
    let mut row = shape.row();
    row.id("Id", g.org_id)
        .text("Name", "Acme Corporation")
        .text("OrganizationType", "Enterprise Edition")
        .flag("IsSandbox", false)
        .text("InstanceName", format!("USA{}", 100 + g.seed % 900))
        .flag("IsReadOnly", false)
        .text("DefaultLocaleSidKey", "en_US")
        .text("TimeZoneSidKey", "America/Los_Angeles");
    let modified = g.time_between(BASE_TIME_MS - 90 * DAY_MS, BASE_TIME_MS - DAY_MS);
    g.note(modified);
    row.audit(Audit {
        created: ORG_CREATED_MS,
        created_by: g.admin,
        modified,
        modified_by: g.admin,
    });
    g.insert(row);
}

/// One row per `USER_LICENSES` entry; totals are set once users exist.
fn generate_user_licenses(g: &mut Gen) -> Vec<SfId> {
    let shape = Shape::of("UserLicense");
    let mut ids = Vec::new();
    for def in USER_LICENSES {
        let audit = g.audit(ORG_CREATED_MS);
        let mut row = shape.row();
        row.text("Name", def.name)
            .text("MasterLabel", def.label)
            .text("LicenseDefinitionKey", def.key)
            .text("Status", "Active")
            .int("TotalLicenses", 0)
            .int("UsedLicenses", 0)
            .time("UsedLicensesLastUpdated", BASE_TIME_MS - DAY_MS)
            .audit(audit);
        if def.login_based {
            row.int("MonthlyLoginsEntitlement", 5_000)
                .int("MonthlyLoginsUsed", 0);
        }
        ids.push(g.insert(row));
    }
    g.note(BASE_TIME_MS - DAY_MS);
    ids
}

fn license_index(key: &str) -> usize {
    USER_LICENSES
        .iter()
        .position(|l| l.key == key)
        .expect("fixed profiles name known license keys")
}

/// Profiles and, for each, the permission set it owns (`IsOwnedByProfile`, `Type = Profile`).
fn generate_profiles(g: &mut Gen, sizes: &Sizes, licenses: &[SfId]) -> Vec<ProfileInfo> {
    let profile_shape = Shape::of("Profile");
    let set_shape = Shape::of("PermissionSet");
    let mut out = Vec::new();
    for i in 0..sizes.profiles {
        let (name, license, mask, custom) = match FIXED_PROFILES.get(i) {
            Some(def) => (
                def.name.to_string(),
                license_index(def.license_key),
                def.permissions.map_or(ALL_PERMS, mask_of),
                false,
            ),
            None => {
                let persona = *TITLES.choose(&mut g.rng).expect("non-empty");
                let region = *REGIONS.choose(&mut g.rng).expect("non-empty");
                let license = if g.rng.random_bool(0.85) {
                    license_index("SFDC")
                } else {
                    license_index("AUL")
                };
                let mask = g.random_mask(1.0) | perm_bit(perm::API_ENABLED);
                (
                    format!("Custom: {persona} - {region} {i}"),
                    license,
                    mask,
                    true,
                )
            }
        };
        let def = &USER_LICENSES[license];
        let audit = g.audit(ORG_CREATED_MS);
        let mut row = profile_shape.row();
        row.text("Name", name.clone())
            .id("UserLicenseId", licenses[license])
            .text("UserType", def.user_type)
            .permissions(mask)
            .audit(audit);
        if custom {
            row.text(
                "Description",
                format!("{} access, cloned from Standard User", def.label),
            );
        }
        let id = g.insert(row);
        let mut set = set_shape.row();
        // Salesforce names a profile's owned set after the profile ID.
        set.text("Name", format!("X{}", id.to_15()))
            .text("Label", name.clone())
            .id("LicenseId", licenses[license])
            .id("ProfileId", id)
            .flag("IsOwnedByProfile", true)
            .flag("IsCustom", custom)
            .text("Type", "Profile")
            .permissions(mask)
            .audit(audit);
        let set = g.insert(set);
        out.push(ProfileInfo {
            id,
            license,
            set,
            name,
        });
    }
    out
}

fn developer_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_string()
}

/// The role hierarchy, with the two automatic groups of each role, after the organization-wide
/// group "All Internal Users". Returns the roles and that group's ID.
fn generate_roles(g: &mut Gen, sizes: &Sizes) -> (Vec<RoleInfo>, SfId) {
    let role_shape = Shape::of("UserRole");
    let group_shape = Shape::of("Group");
    let mut org_group = group_shape.row();
    let audit = g.audit(ORG_CREATED_MS);
    org_group
        .text("Name", "All Internal Users")
        .text("DeveloperName", "AllInternalUsers")
        .text("Type", "Organization")
        .id("OwnerId", g.org_id)
        .audit(audit);
    let org_group = g.insert(org_group);

    // Beyond the core, one partner portal role per 50 roles; the rest are internal roles
    // attached to a random shallow parent, giving a wide tree a few levels deep.
    let extra = sizes.roles - CORE_ROLES.len();
    let extra_portal = extra / 50;
    let mut roles: Vec<RoleInfo> = Vec::new();
    for i in 0..sizes.roles {
        let (name, parent, portal) = match CORE_ROLES.get(i) {
            Some((name, parent, portal)) => (name.to_string(), *parent, *portal),
            None if i - CORE_ROLES.len() < extra_portal => {
                let k = i - CORE_ROLES.len() + 1;
                let account = PARTNER_ACCOUNTS[k % PARTNER_ACCOUNTS.len()];
                // Portal roles hang under the account owner's role: a sales role.
                let parent = *[4usize, 5, 6].choose(&mut g.rng).expect("non-empty");
                (format!("{account} {k} Partner User"), Some(parent), true)
            }
            None => {
                let candidates = roles.len();
                let parent = loop {
                    let p = g.rng.random_range(0..candidates);
                    if roles[p].depth < 5 && roles[p].portal_account.is_none() {
                        break p;
                    }
                };
                let region = *REGIONS.choose(&mut g.rng).expect("non-empty");
                let team = *TEAMS.choose(&mut g.rng).expect("non-empty");
                (format!("{region} {team} {i}"), Some(parent), false)
            }
        };
        let depth = parent.map_or(0, |p| roles[p].depth + 1);
        let portal_account = portal.then(|| g.new_account());
        let access = ["None", "Read", "Edit"];
        let audit = g.audit(ORG_CREATED_MS);
        let developer = developer_name(&name);
        let mut row = role_shape.row();
        row.text("Name", name.clone())
            .text("DeveloperName", developer.clone())
            .opt_id("ParentRoleId", parent.map(|p| roles[p].id))
            .text("RollupDescription", name.clone())
            .text(
                "OpportunityAccessForAccountOwner",
                *access.choose(&mut g.rng).expect("non-empty"),
            )
            .text(
                "CaseAccessForAccountOwner",
                *access.choose(&mut g.rng).expect("non-empty"),
            )
            .text("ContactAccessForAccountOwner", "Edit")
            .text("PortalType", if portal { "Partner" } else { "None" })
            .opt_id("PortalAccountId", portal_account)
            .audit(audit);
        let id = g.insert(row);
        // Salesforce maintains a Role and a RoleAndSubordinates group for every role.
        let mut groups = [SfId::from_counter("00G", POD, 0); 2];
        for (slot, kind) in ["Role", "RoleAndSubordinates"].into_iter().enumerate() {
            let mut group = group_shape.row();
            group
                .text("Name", name.clone())
                .text("DeveloperName", developer.clone())
                .text("Type", kind)
                .id("RelatedId", id)
                .id("OwnerId", g.org_id)
                .audit(audit);
            groups[slot] = g.insert(group);
        }
        roles.push(RoleInfo {
            id,
            name,
            depth,
            portal_account,
            role_group: groups[0],
            subordinates_group: groups[1],
        });
    }
    (roles, org_group)
}

/// Users: the cast, then random users of every audience.
fn generate_users(
    g: &mut Gen,
    sizes: &Sizes,
    profiles: &[ProfileInfo],
    roles: &[RoleInfo],
) -> Vec<(UserInfo, u8)> {
    let shape = Shape::of("User");
    let col = |f: &str| shape.col(f);
    let c = UserCols {
        username: col("Username"),
        email: col("Email"),
        first: col("FirstName"),
        last: col("LastName"),
        name: col("Name"),
        alias: col("Alias"),
        nickname: col("CommunityNickname"),
        active: col("IsActive"),
        user_type: col("UserType"),
        profile: col("ProfileId"),
        role: col("UserRoleId"),
        manager: col("ManagerId"),
        federation: col("FederationIdentifier"),
        time_zone: col("TimeZoneSidKey"),
        locale: col("LocaleSidKey"),
        encoding: col("EmailEncodingKey"),
        language: col("LanguageLocaleKey"),
        last_login: col("LastLoginDate"),
        password_changed: col("LastPasswordChangeDate"),
        failed_logins: col("NumberOfFailedLogins"),
        contact: col("ContactId"),
        account: col("AccountId"),
        portal: col("IsPortalEnabled"),
        department: col("Department"),
        title: col("Title"),
        company: col("CompanyName"),
        employee_number: col("EmployeeNumber"),
        phone: col("Phone"),
        marketing: col("UserPermissionsMarketingUser"),
    };

    let profile_by_name = |name: &str| {
        profiles
            .iter()
            .position(|p| p.name == name)
            .expect("cast profiles are fixed profiles")
    };
    let role_by_name = |name: &str| {
        roles
            .iter()
            .position(|r| r.name == name)
            .expect("cast roles are core roles")
    };
    // Profiles per audience for random users; Standard User is the most common profile.
    let audience_of = |p: &ProfileInfo| USER_LICENSES[p.license].audience;
    let pool = |a: Audience, skip: &[&str]| -> Vec<usize> {
        (0..profiles.len())
            .filter(|&i| {
                audience_of(&profiles[i]) == a && !skip.contains(&profiles[i].name.as_str())
            })
            .collect()
    };
    let chatter_pool = pool(Audience::Chatter, &[]);
    let partner_pool = pool(Audience::Partner, &[]);
    let customer_pool = pool(Audience::Customer, &[]);
    let integration_pool = pool(Audience::Integration, &[]);
    let internal_pool = pool(
        Audience::Internal,
        &[SYSTEM_ADMINISTRATOR, "Minimum Access - Salesforce"],
    );
    let platform_pool = pool(
        Audience::Platform,
        &["Minimum Access - Salesforce Platform"],
    );
    let standard_user = profile_by_name(STANDARD_USER);
    let admin_profile = profile_by_name(SYSTEM_ADMINISTRATOR);
    let internal_roles: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i].portal_account.is_none())
        .collect();
    let portal_roles: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i].portal_account.is_some())
        .collect();

    let mut taken: HashMap<String, u32> = HashMap::new();
    let mut users: Vec<(UserInfo, u8)> = Vec::with_capacity(sizes.users);
    let mut managers: Vec<SfId> = Vec::new();
    let mut customer_account: Option<(SfId, u32)> = None;
    for i in 0..sizes.users {
        // Who this user is: a cast member or a random user.
        let (local, first, last, profile, role, manager, flags) = if let Some(m) = CAST.get(i) {
            (
                m.local.to_string(),
                m.first.map(str::to_string),
                m.last.to_string(),
                profile_by_name(m.profile),
                m.role.map(role_by_name),
                m.manager.map(|k| users[k].0.id),
                m.flags,
            )
        } else {
            let first = *FIRST_NAMES.choose(&mut g.rng).expect("non-empty");
            let last = *LAST_NAMES.choose(&mut g.rng).expect("non-empty");
            let base = format!("{}.{}", ascii_lower(first), ascii_lower(last));
            let seen = taken.entry(base.clone()).or_insert(0);
            *seen += 1;
            let local = if *seen == 1 {
                base
            } else {
                format!("{base}{seen}")
            };
            let roll: f64 = g.rng.random();
            let audience = match roll {
                r if r < 0.04 => Audience::Platform,
                r if r < 0.045 => Audience::Integration,
                r if r < 0.10 => Audience::Chatter,
                r if r < 0.15 => Audience::Partner,
                r if r < 0.26 => Audience::Customer,
                _ => Audience::Internal,
            };
            let profile = match audience {
                Audience::Internal if g.rng.random_bool(0.01) => admin_profile,
                Audience::Internal if g.rng.random_bool(0.4) => standard_user,
                Audience::Internal => *internal_pool.choose(&mut g.rng).expect("non-empty"),
                Audience::Platform => *platform_pool.choose(&mut g.rng).expect("non-empty"),
                Audience::Chatter => *chatter_pool.choose(&mut g.rng).expect("non-empty"),
                Audience::Partner => *partner_pool.choose(&mut g.rng).expect("non-empty"),
                Audience::Customer => *customer_pool.choose(&mut g.rng).expect("non-empty"),
                _ => *integration_pool.choose(&mut g.rng).expect("non-empty"),
            };
            let role = match audience {
                Audience::Internal | Audience::Platform if g.rng.random_bool(0.9) => {
                    Some(*internal_roles.choose(&mut g.rng).expect("non-empty"))
                }
                Audience::Partner => Some(*portal_roles.choose(&mut g.rng).expect("non-empty")),
                _ => None,
            };
            let internal = matches!(audience, Audience::Internal | Audience::Platform);
            let manager = if internal && !managers.is_empty() && g.rng.random_bool(0.6) {
                Some(*managers.choose(&mut g.rng).expect("non-empty"))
            } else {
                None
            };
            let mut flags = 0;
            if g.rng.random_bool(if internal { 0.1 } else { 0.15 }) {
                flags |= INACTIVE;
            } else if g.rng.random_bool(0.01) {
                flags |= FROZEN;
            } else if g.rng.random_bool(0.005) {
                flags |= LOCKED;
            }
            if g.rng.random_bool(0.05) {
                flags |= NEVER_LOGGED_IN;
            }
            if internal && g.rng.random_bool(0.5) {
                flags |= FEDERATED;
            }
            (
                local,
                Some(first.to_string()),
                last.to_string(),
                profile,
                role,
                manager,
                flags,
            )
        };

        let p = &profiles[profile];
        let license = &USER_LICENSES[p.license];
        let audience = license.audience;
        let active = flags & INACTIVE == 0;
        let username = format!("{local}@{}", g.domain);
        let full_name = match &first {
            Some(f) => format!("{f} {last}"),
            None => last.clone(),
        };
        let created = g.time_between(ORG_CREATED_MS + DAY_MS, BASE_TIME_MS - 2 * DAY_MS);
        let last_login = if flags & NEVER_LOGGED_IN != 0 || flags & AUTOMATED_PROCESS != 0 {
            None
        } else if active {
            Some(g.time_between(
                created.max(BASE_TIME_MS - 60 * DAY_MS),
                BASE_TIME_MS - SECOND_MS,
            ))
        } else {
            Some(g.time_between(created, BASE_TIME_MS - 30 * DAY_MS))
        };
        let modified = g.time_between(created, BASE_TIME_MS - SECOND_MS);
        g.note(modified);
        let (time_zone, locale, language) = *LOCALES.choose(&mut g.rng).expect("non-empty");

        let mut v = shape.blank.clone();
        v[c.username] = Value::text(username.clone());
        v[c.email] = Value::text(username.clone());
        v[c.first] = first.as_deref().map_or(Value::Null, Value::text);
        v[c.last] = Value::text(last.clone());
        v[c.name] = Value::text(full_name);
        v[c.alias] = Value::text(alias(first.as_deref(), &last));
        v[c.nickname] = Value::text(local.chars().take(40).collect::<String>());
        v[c.active] = Value::Bool(active);
        v[c.user_type] = if flags & NULL_USER_TYPE != 0 {
            Value::Null
        } else if flags & AUTOMATED_PROCESS != 0 {
            Value::text("AutomatedProcess")
        } else {
            Value::text(license.user_type)
        };
        v[c.profile] = Value::Id(p.id);
        v[c.role] = role.map_or(Value::Null, |r| Value::Id(roles[r].id));
        v[c.manager] = manager.map_or(Value::Null, Value::Id);
        if flags & FEDERATED != 0 {
            v[c.federation] = Value::text(username.clone());
        }
        v[c.time_zone] = Value::text(time_zone);
        v[c.locale] = Value::text(locale);
        v[c.encoding] = Value::text(if g.rng.random_bool(0.9) {
            "UTF-8"
        } else {
            "ISO-8859-1"
        });
        v[c.language] = Value::text(language);
        v[c.last_login] = last_login.map_or(Value::Null, Value::DateTime);
        v[c.password_changed] = Value::DateTime(g.time_between(created, BASE_TIME_MS - SECOND_MS));
        v[c.failed_logins] = Value::Int(if flags & LOCKED != 0 { 10 } else { 0 });
        if matches!(audience, Audience::Partner | Audience::Customer) {
            let account = if audience == Audience::Partner {
                role.and_then(|r| roles[r].portal_account)
                    .expect("partner users have a portal role")
            } else {
                // Customer users come three to an account.
                match customer_account {
                    Some((account, n)) if n < 3 => {
                        customer_account = Some((account, n + 1));
                        account
                    }
                    _ => {
                        let account = g.new_account();
                        customer_account = Some((account, 1));
                        account
                    }
                }
            };
            v[c.contact] = Value::Id(g.new_contact());
            v[c.account] = Value::Id(account);
            v[c.portal] = Value::Bool(true);
            v[c.company] = Value::text(format!("Customer Account {}", account.to_15()));
        } else {
            v[c.company] = Value::text("Acme Corporation");
        }
        if matches!(audience, Audience::Internal | Audience::Platform) {
            v[c.department] = Value::text(*DEPARTMENTS.choose(&mut g.rng).expect("non-empty"));
            v[c.title] = Value::text(*TITLES.choose(&mut g.rng).expect("non-empty"));
            v[c.employee_number] = Value::text(format!("E{:06}", i + 1));
            v[c.phone] = Value::text(format!("+1 415 555 {:04}", i % 10_000));
            v[c.marketing] = Value::Bool(g.rng.random_bool(0.1));
        }
        let mut row = Row {
            shape: &shape,
            values: v,
        };
        row.audit(Audit {
            created,
            created_by: g.admin,
            modified,
            modified_by: g.admin,
        });
        let id = g.insert(row);
        debug_assert_eq!(id, SfId::from_counter("005", POD, i as u64 + 1));
        users.push((
            UserInfo {
                id,
                profile,
                audience,
                active,
                created,
            },
            flags,
        ));
        if matches!(audience, Audience::Internal | Audience::Platform)
            && active
            && i != CAST_INTEGRATION
        {
            managers.push(id);
        }
    }
    users
}

/// Lower-case ASCII letters of a name, for usernames (`Chloé` -> `chlo`, `O'Brien` -> `obrien`).
fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Salesforce's default alias: the first letter of the first name and up to four letters of
/// the last name (at most 8 characters).
fn alias(first: Option<&str>, last: &str) -> String {
    let mut out: String = first
        .and_then(|f| ascii_lower(f).chars().next())
        .into_iter()
        .collect();
    out.extend(ascii_lower(last).chars().take(4));
    if out.is_empty() {
        out.push_str("user");
    }
    out
}

/// One UserLogin per user, except the users flagged `NO_USER_LOGIN` (Salesforce has users
/// without one; clients treat them as not frozen).
fn generate_user_logins(g: &mut Gen, users: &[(UserInfo, u8)]) {
    let shape = Shape::of("UserLogin");
    let (c_user, c_frozen, c_locked) = (
        shape.col("UserId"),
        shape.col("IsFrozen"),
        shape.col("IsPasswordLocked"),
    );
    for (user, flags) in users {
        if flags & NO_USER_LOGIN != 0 {
            continue;
        }
        let mut row = shape.row();
        row.values[c_user] = Value::Id(user.id);
        row.values[c_frozen] = Value::Bool(flags & FROZEN != 0);
        row.values[c_locked] = Value::Bool(flags & LOCKED != 0);
        let modified = g.time_between(user.created, BASE_TIME_MS - SECOND_MS);
        g.note(modified);
        row.audit(Audit {
            created: user.created,
            created_by: g.admin,
            modified,
            modified_by: g.admin,
        });
        g.insert(row);
    }
}

/// Sets each user license's `TotalLicenses` above its active users, except
/// `FULL_LICENSE_NAME`, which is exactly full.
fn settle_user_licenses(
    g: &mut Gen,
    licenses: &[SfId],
    profiles: &[ProfileInfo],
    users: &[(UserInfo, u8)],
) {
    let mut used = vec![0i64; licenses.len()];
    for (user, _) in users {
        if user.active {
            used[profiles[user.profile].license] += 1;
        }
    }
    for (i, id) in licenses.iter().enumerate() {
        let def = &USER_LICENSES[i];
        let total = if def.name == FULL_LICENSE_NAME {
            used[i]
        } else {
            // Licenses are bought in round numbers with some headroom.
            (used[i] + used[i] / 10 + 19) / 10 * 10
        };
        let mut fields = vec![("TotalLicenses", Value::Int(total))];
        if def.login_based {
            let logins = g.rng.random_range(0..=used[i] * 8);
            fields.push(("MonthlyLoginsUsed", Value::Int(logins.min(5_000))));
        }
        g.org.update_raw(id, &fields);
    }
}

/// Public groups and queues, then their memberships: the fixed ones (cycle, chain, role and
/// organization groups as members), then random users, nested groups and role groups.
fn generate_groups(
    g: &mut Gen,
    sizes: &Sizes,
    roles: &[RoleInfo],
    users: &[(UserInfo, u8)],
    org_group: SfId,
) {
    let shape = Shape::of("Group");
    let mut groups: Vec<(SfId, bool)> = Vec::with_capacity(sizes.groups);
    for i in 0..sizes.groups {
        let (name, kind) = match FIXED_GROUPS.get(i) {
            Some((name, kind)) => (name.to_string(), *kind),
            None if g.rng.random_bool(0.1) => {
                let team = *TEAMS.choose(&mut g.rng).expect("non-empty");
                (format!("{team} Queue {i}"), "Queue")
            }
            None => {
                let team = *TEAMS.choose(&mut g.rng).expect("non-empty");
                let region = *REGIONS.choose(&mut g.rng).expect("non-empty");
                (format!("{team} {region} {i}"), "Regular")
            }
        };
        let queue = kind == "Queue";
        let developer = developer_name(&name);
        let audit = g.audit(ORG_CREATED_MS);
        let mut row = shape.row();
        row.text("Name", name.clone())
            .text("DeveloperName", developer.clone())
            .text("Type", kind)
            .id("OwnerId", g.org_id)
            .audit(audit);
        if queue {
            row.text(
                "Email",
                format!("{}@{}", developer.to_ascii_lowercase(), g.domain),
            )
            .flag("DoesSendEmailToMembers", g.rng.random_bool(0.5));
        } else {
            row.flag("DoesIncludeBosses", g.rng.random_bool(0.7));
        }
        if g.rng.random_bool(0.3) {
            row.text("Description", format!("{name} members"));
        }
        groups.push((g.insert(row), queue));
    }

    let member_shape = Shape::of("GroupMember");
    let (c_group, c_member, c_stamp) = (
        member_shape.col("GroupId"),
        member_shape.col("UserOrGroupId"),
        member_shape.col("SystemModstamp"),
    );
    let staff: Vec<SfId> = users
        .iter()
        .filter(|(u, flags)| u.is_staff(*flags))
        .map(|(u, _)| u.id)
        .collect();
    let role_groups: Vec<SfId> = roles
        .iter()
        .flat_map(|r| [r.role_group, r.subordinates_group])
        .collect();
    let role_named = |name: &str| {
        roles
            .iter()
            .find(|r| r.name == name)
            .expect("fixed memberships name core roles")
    };
    let mut seen: HashSet<(u32, SfId)> = HashSet::with_capacity(sizes.group_members);
    let mut add = |g: &mut Gen, group: usize, member: SfId| -> bool {
        if !seen.insert((group as u32, member)) {
            return false;
        }
        let mut row = member_shape.row();
        row.values[c_group] = Value::Id(groups[group].0);
        row.values[c_member] = Value::Id(member);
        let stamp = g.time_between(ORG_CREATED_MS + DAY_MS, BASE_TIME_MS - SECOND_MS);
        row.values[c_stamp] = Value::DateTime(g.note(stamp));
        g.insert(row);
        true
    };
    for (group, member) in FIXED_MEMBERS {
        let member = match member {
            Member::Group(g) => groups[*g].0,
            Member::User(u) => users[*u].0.id,
            Member::RoleGroup(name) => role_named(name).role_group,
            Member::RoleAndSubordinatesGroup(name) => role_named(name).subordinates_group,
            Member::Organization => org_group,
        };
        add(g, *group, member);
    }
    let mut count = FIXED_MEMBERS.len();
    let target = sizes.group_members;
    let mut attempts = 0usize;
    let max_attempts = 20 * target + 1_000;
    while count < target && attempts < max_attempts {
        attempts += 1;
        let group = g.rng.random_range(0..groups.len());
        let roll: f64 = g.rng.random();
        // Nested groups only point to later regular groups, so random nesting never adds a
        // cycle: the fixed A <-> B pair stays the only one.
        // Sized orgs (more than 100 groups) nest one level deep, like real ones: only the
        // first tenth of the groups hold nested groups, and only groups of the other nine
        // tenths, which hold none. Random nesting over every later group made the transitive
        // closure reach almost every user from almost every group (medium: 20.8M grants).
        let parents = if groups.len() > 100 {
            groups.len() / 10
        } else {
            groups.len()
        };
        let member = if roll < 0.10 && group + 1 < groups.len() && group >= parents {
            *staff.choose(&mut g.rng).expect("the cast has staff")
        } else if roll < 0.10 && group + 1 < groups.len() {
            let first = if parents < groups.len() {
                parents.max(group + 1)
            } else {
                group + 1
            };
            let nested = g.rng.random_range(first..groups.len());
            if groups[nested].1 {
                continue;
            }
            groups[nested].0
        } else if roll < 0.15 {
            *role_groups.choose(&mut g.rng).expect("every org has roles")
        } else {
            *staff.choose(&mut g.rng).expect("the cast has staff")
        };
        if add(g, group, member) {
            count += 1;
        }
    }
    // Nearly every pair is taken (tiny sizes): fill the rest in order.
    'sweep: for group in 0..groups.len() {
        for member in staff.iter().chain(&role_groups) {
            if count >= target {
                break 'sweep;
            }
            if add(g, group, *member) {
                count += 1;
            }
        }
    }
}

struct PslInfo {
    id: SfId,
    developer_name: String,
    label: String,
    active: bool,
}

fn generate_permission_set_licenses(g: &mut Gen, sizes: &Sizes) -> Vec<PslInfo> {
    let shape = Shape::of("PermissionSetLicense");
    let mut out = Vec::new();
    for i in 0..sizes.permission_set_licenses {
        let (developer, label) = match PSL_NAMES.get(i) {
            Some((d, l)) => (d.to_string(), l.to_string()),
            None => (format!("AddOnLicense{i}"), format!("Add-on License {i}")),
        };
        let active = i != DISABLED_PSL;
        let audit = g.audit(ORG_CREATED_MS);
        let mut row = shape.row();
        row.text("DeveloperName", developer.clone())
            .text("MasterLabel", label.clone())
            .text("PermissionSetLicenseKey", developer.clone())
            .text("Status", if active { "Active" } else { "Disabled" })
            .int("TotalLicenses", 0)
            .int("UsedLicenses", 0)
            .flag("IsAvailableForIntegrations", g.rng.random_bool(0.3))
            .flag("IsSupplementLicense", g.rng.random_bool(0.2))
            .audit(audit);
        // An expired license is Disabled; active ones may end later.
        let expires = if !active {
            chrono::NaiveDate::from_ymd_opt(2025, 3, 31)
        } else if g.rng.random_bool(0.5) {
            chrono::NaiveDate::from_ymd_opt(2026 + g.rng.random_range(0..3), 12, 31)
        } else {
            None
        };
        row.set("ExpirationDate", expires.map_or(Value::Null, Value::Date));
        out.push(PslInfo {
            id: g.insert(row),
            developer_name: developer,
            label,
            active,
        });
    }
    out
}

/// Permission sets not owned by a profile or group: the fixed ones, one license-bundled
/// (`Standard`) set per permission set license while the count allows, then random Regular
/// and Session sets.
fn generate_permission_sets(g: &mut Gen, sizes: &Sizes, psls: &[PslInfo]) -> Vec<SetInfo> {
    let shape = Shape::of("PermissionSet");
    let standard = psls
        .len()
        .min((sizes.permission_sets - FIXED_SETS.len()) / 4)
        .max(1);
    let mut out = Vec::with_capacity(sizes.permission_sets);
    for i in 0..sizes.permission_sets {
        let mut row = shape.row();
        let (name, label, kind, mask, psl) = if let Some(def) = FIXED_SETS.get(i) {
            if let Some(namespace) = def.namespace {
                row.text("NamespacePrefix", namespace);
            }
            (
                def.name.to_string(),
                def.label.to_string(),
                def.kind,
                mask_of(def.permissions),
                None,
            )
        } else if i - FIXED_SETS.len() < standard {
            let k = i - FIXED_SETS.len();
            let psl = &psls[k];
            row.id("LicenseId", psl.id);
            let mask = g.random_mask(0.5) | perm_bit(perm::API_ENABLED);
            (
                format!("{}Perm", psl.developer_name),
                psl.label.clone(),
                "Standard",
                mask,
                Some(k),
            )
        } else {
            let team = *TEAMS.choose(&mut g.rng).expect("non-empty");
            let region = *REGIONS.choose(&mut g.rng).expect("non-empty");
            let kind = if g.rng.random_bool(0.1) {
                "Session"
            } else {
                "Regular"
            };
            let mask = g.random_mask(1.0);
            (
                format!("{team}_{region}_Access_{i}"),
                format!("{team} {region} Access {i}"),
                kind,
                mask,
                None,
            )
        };
        let audit = g.audit(ORG_CREATED_MS);
        row.text("Name", name.clone())
            .text("Label", label.clone())
            .flag("IsOwnedByProfile", false)
            .flag("IsCustom", kind != "Standard")
            .flag("HasActivationRequired", kind == "Session")
            .text("Type", kind)
            .permissions(mask)
            .audit(audit);
        if kind != "Standard" && g.rng.random_bool(0.4) {
            row.text("Description", format!("Grants {label}"));
        }
        out.push(SetInfo {
            id: g.insert(row),
            name,
            kind,
            mask,
            psl,
        });
    }
    out
}

struct PsgInfo {
    id: SfId,
    /// The group's aggregate permission set (`Type = Group`).
    aggregate: SfId,
}

/// Permission set groups, each with its components and its aggregate permission set (the
/// union of the components' permissions).
fn generate_permission_set_groups(g: &mut Gen, sizes: &Sizes, sets: &[SetInfo]) -> Vec<PsgInfo> {
    let group_shape = Shape::of("PermissionSetGroup");
    let component_shape = Shape::of("PermissionSetGroupComponent");
    let set_shape = Shape::of("PermissionSet");
    let regular: Vec<usize> = (0..sets.len())
        .filter(|&i| sets[i].kind == "Regular")
        .collect();
    let mut out = Vec::with_capacity(sizes.permission_set_groups);
    for i in 0..sizes.permission_set_groups {
        let (developer, label, status, components): (String, String, &str, Vec<usize>) =
            match FIXED_GROUPS_OF_SETS.get(i) {
                Some((developer, label, status, names)) => (
                    developer.to_string(),
                    label.to_string(),
                    *status,
                    names
                        .iter()
                        .map(|n| {
                            sets.iter()
                                .position(|s| s.name == *n)
                                .expect("fixed components are fixed sets")
                        })
                        .collect(),
                ),
                None => {
                    let team = *TEAMS.choose(&mut g.rng).expect("non-empty");
                    let k = g.rng.random_range(2..=5).min(regular.len());
                    let picked = rand::seq::index::sample(&mut g.rng, regular.len(), k)
                        .into_iter()
                        .map(|j| regular[j])
                        .collect();
                    let status = if g.rng.random_bool(0.03) {
                        "Outdated"
                    } else {
                        "Updated"
                    };
                    (
                        format!("{team}_Bundle_{i}"),
                        format!("{team} Bundle {i}"),
                        status,
                        picked,
                    )
                }
            };
        let audit = g.audit(ORG_CREATED_MS);
        let mut row = group_shape.row();
        row.text("DeveloperName", developer.clone())
            .text("MasterLabel", label.clone())
            .text(
                "Description",
                format!("{label}: bundles {} permission sets", components.len()),
            )
            .text("Language", "en_US")
            .text("Status", status)
            .audit(audit);
        let id = g.insert(row);
        let mut mask = 0;
        for c in &components {
            mask |= sets[*c].mask;
            let mut row = component_shape.row();
            row.id("PermissionSetGroupId", id)
                .id("PermissionSetId", sets[*c].id)
                .audit(audit);
            g.insert(row);
        }
        let mut aggregate = set_shape.row();
        // The aggregate set is named after its group, as profile-owned sets are after theirs.
        aggregate
            .text("Name", format!("X{}", id.to_15()))
            .text("Label", label)
            .id("PermissionSetGroupId", id)
            .text("Type", "Group")
            .permissions(mask)
            .audit(audit);
        let aggregate = g.insert(aggregate);
        out.push(PsgInfo { id, aggregate });
    }
    out
}

/// Permission set assignments (each user's profile set, the fixed ones, then random direct and
/// group grants), then permission set license assignments for the license-bundled sets plus
/// a few more, then the permission set licenses' totals.
fn generate_assignments(
    g: &mut Gen,
    sizes: &Sizes,
    profiles: &[ProfileInfo],
    users: &[(UserInfo, u8)],
    sets: &[SetInfo],
    psgs: &[PsgInfo],
    psls: &[PslInfo],
) {
    let shape = Shape::of("PermissionSetAssignment");
    let (c_assignee, c_set, c_group, c_expires, c_active, c_stamp) = (
        shape.col("AssigneeId"),
        shape.col("PermissionSetId"),
        shape.col("PermissionSetGroupId"),
        shape.col("ExpirationDate"),
        shape.col("IsActive"),
        shape.col("SystemModstamp"),
    );
    let group_has_set = g.org.settings.psg_assignment_has_permission_set_id;
    // Every user holds its profile's set; the row is created with the user.
    for (user, _) in users {
        let mut row = shape.row();
        row.values[c_assignee] = Value::Id(user.id);
        row.values[c_set] = Value::Id(profiles[user.profile].set);
        row.values[c_active] = Value::Bool(true);
        row.values[c_stamp] = Value::DateTime(g.note(user.created));
        g.insert(row);
    }

    // Targets: 0..sets.len() are permission sets, the rest permission set groups.
    let staff: Vec<usize> = (0..users.len())
        .filter(|&i| users[i].0.is_staff(users[i].1))
        .collect();
    // Each user's targets so far: a handful per user, so a scan beats hashing.
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); users.len()];
    let mut license_needs: Vec<(usize, usize)> = Vec::new();
    let mut add = |g: &mut Gen, user: usize, target: usize, expires: Option<i64>| -> bool {
        if held[user].contains(&(target as u32)) {
            return false;
        }
        held[user].push(target as u32);
        let mut row = shape.row();
        row.values[c_assignee] = Value::Id(users[user].0.id);
        if let Some(set) = sets.get(target) {
            row.values[c_set] = Value::Id(set.id);
            if let Some(psl) = set.psl {
                license_needs.push((user, psl));
            }
        } else {
            let psg = &psgs[target - sets.len()];
            row.values[c_group] = Value::Id(psg.id);
            if group_has_set {
                row.values[c_set] = Value::Id(psg.aggregate);
            }
        }
        row.values[c_expires] = expires.map_or(Value::Null, Value::DateTime);
        row.values[c_active] = Value::Bool(true);
        let stamp = g.time_between(users[user].0.created, BASE_TIME_MS - SECOND_MS);
        row.values[c_stamp] = Value::DateTime(g.note(stamp));
        g.insert(row);
        true
    };
    let set_named = |name: &str| {
        sets.iter()
            .position(|s| s.name == name)
            .expect("fixed assignments name fixed sets")
    };
    for (user, grant, expires) in FIXED_ASSIGNMENTS {
        let target = match grant {
            Grant::Set(name) => set_named(name),
            Grant::Group(name) => {
                let index = FIXED_GROUPS_OF_SETS
                    .iter()
                    .position(|g| g.0 == *name)
                    .expect("fixed assignments name fixed groups");
                sets.len() + index
            }
            Grant::FirstStandardSet => sets
                .iter()
                .position(|s| s.kind == "Standard")
                .expect("every org has a license-bundled set"),
        };
        add(g, *user, target, *expires);
    }
    // Random grants: no license-bundled set of a disabled license (it could not be assigned).
    let assignable = |t: usize| match sets.get(t) {
        Some(set) => set.psl.is_none_or(|k| psls[k].active),
        None => true,
    };
    let targets = sets.len() + psgs.len();
    let mut count = FIXED_ASSIGNMENTS.len();
    let target_count = sizes.assignments;
    let mut attempts = 0usize;
    let max_attempts = 20 * target_count + 1_000;
    while count < target_count && attempts < max_attempts {
        attempts += 1;
        let user = *staff.choose(&mut g.rng).expect("the cast has staff");
        let target = if g.rng.random_bool(0.2) {
            sets.len() + g.rng.random_range(0..psgs.len())
        } else {
            g.rng.random_range(0..sets.len())
        };
        if !assignable(target) {
            continue;
        }
        let roll: f64 = g.rng.random();
        let expires = if roll < 0.03 {
            Some(g.time_between(BASE_TIME_MS - 365 * DAY_MS, BASE_TIME_MS - DAY_MS))
        } else if roll < 0.06 {
            Some(g.time_between(BASE_TIME_MS + 30 * DAY_MS, BASE_TIME_MS + 4 * 365 * DAY_MS))
        } else {
            None
        };
        if add(g, user, target, expires) {
            count += 1;
        }
    }
    'sweep: for user in &staff {
        for target in 0..targets {
            if count >= target_count {
                break 'sweep;
            }
            if assignable(target) && add(g, *user, target, None) {
                count += 1;
            }
        }
    }

    // License assignments: one per (user, license) that a bundled set needs, a few users
    // with a license but no set yet, and two holders of the disabled license from before it
    // expired.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut taken: HashSet<(usize, usize)> = HashSet::new();
    for pair in license_needs {
        if taken.insert(pair) {
            pairs.push(pair);
        }
    }
    let active: Vec<usize> = (0..psls.len()).filter(|&k| psls[k].active).collect();
    for n in 0..staff.len() / 25 + 2 {
        let user = *staff.choose(&mut g.rng).expect("the cast has staff");
        let psl = if n < 2 {
            DISABLED_PSL
        } else {
            *active
                .choose(&mut g.rng)
                .expect("only one license is disabled")
        };
        if taken.insert((user, psl)) {
            pairs.push((user, psl));
        }
    }
    let license_shape = Shape::of("PermissionSetLicenseAssign");
    let (c_assignee, c_license) = (
        license_shape.col("AssigneeId"),
        license_shape.col("PermissionSetLicenseId"),
    );
    let mut used = vec![0i64; psls.len()];
    for (user, psl) in pairs {
        used[psl] += 1;
        let mut row = license_shape.row();
        row.values[c_assignee] = Value::Id(users[user].0.id);
        row.values[c_license] = Value::Id(psls[psl].id);
        let created = g.time_between(users[user].0.created, BASE_TIME_MS - SECOND_MS);
        g.note(created);
        row.audit(Audit {
            created,
            created_by: g.admin,
            modified: created,
            modified_by: g.admin,
        });
        g.insert(row);
    }
    for (k, psl) in psls.iter().enumerate() {
        let total = if psl.active {
            (used[k] + used[k] / 5 + 9) / 5 * 5
        } else {
            used[k]
        };
        g.org
            .update_raw(&psl.id, &[("TotalLicenses", Value::Int(total))]);
    }
}

/// Connected apps with their App Launcher items, access through permission sets
/// (SetupEntityAccess), and OAuth tokens. The first app is the emulator's own; apps after the
/// first 60% never get tokens.
fn generate_apps(
    g: &mut Gen,
    sizes: &Sizes,
    profiles: &[ProfileInfo],
    sets: &[SetInfo],
    users: &[(UserInfo, u8)],
) {
    let app_shape = Shape::of("ConnectedApplication");
    let item_shape = Shape::of("AppMenuItem");
    let access_shape = Shape::of("SetupEntityAccess");
    // Sets an admin would grant an app to: internal profiles' sets and regular sets.
    let mut grantable: Vec<SfId> = profiles
        .iter()
        .filter(|p| {
            matches!(
                USER_LICENSES[p.license].audience,
                Audience::Internal | Audience::Platform | Audience::Integration
            )
        })
        .map(|p| p.set)
        .collect();
    grantable.extend(sets.iter().filter(|s| s.kind == "Regular").map(|s| s.id));
    let profile_set = |name: &str| {
        profiles
            .iter()
            .find(|p| p.name == name)
            .expect("fixed profile")
            .set
    };
    let app_access = sets
        .iter()
        .find(|s| s.name == "Connected_App_Access")
        .expect("fixed set")
        .id;

    let mut apps: Vec<(SfId, SfId, String)> = Vec::with_capacity(sizes.connected_apps);
    for i in 0..sizes.connected_apps {
        let name = match APP_NAMES.get(i) {
            Some(name) => name.to_string(),
            None => format!("Acme Internal Tool {i}"),
        };
        let ours = i == 0;
        let audit = g.audit(ORG_CREATED_MS);
        let start_url =
            (!ours && g.rng.random_bool(0.5)).then(|| format!("https://app{i}.{}/start", g.domain));
        let mut row = app_shape.row();
        // The emulator's app is admin-approved only: the integration user gets it through the
        // System Administrator profile below, as a JWT-bearer integration is set up.
        row.text("Name", name.clone())
            .flag(
                "OptionsAllowAdminApprovedUsersOnly",
                ours || g.rng.random_bool(0.4),
            )
            .flag("OptionsRefreshTokenValidityMetric", g.rng.random_bool(0.3))
            .flag("OptionsHasSessionLevelPolicy", g.rng.random_bool(0.1))
            .flag("OptionsIsInternal", false)
            .set(
                "StartUrl",
                start_url.clone().map_or(Value::Null, Value::text),
            )
            .audit(audit);
        if g.rng.random_bool(0.3) {
            row.int("RefreshTokenValidityPeriod", 90);
        }
        let app = g.insert(row);
        let mut item = item_shape.row();
        item.text("Name", developer_name(&name))
            .text("Label", name.clone())
            .text("Description", format!("{name} (connected app)"))
            .text("Type", "ConnectedApplication")
            .id("ApplicationId", app)
            .flag("IsAccessible", true)
            .flag("IsVisible", ours || g.rng.random_bool(0.9))
            .set("StartUrl", start_url.map_or(Value::Null, Value::text))
            .audit(audit);
        let item = g.insert(item);

        let mut granted: Vec<SfId> = if ours {
            vec![
                profile_set(SYSTEM_ADMINISTRATOR),
                profile_set(API_ONLY_PROFILE),
            ]
        } else {
            let k = g.rng.random_range(0..=3);
            rand::seq::index::sample(&mut g.rng, grantable.len(), k.min(grantable.len()))
                .into_iter()
                .map(|j| grantable[j])
                .collect()
        };
        if (1..=3).contains(&i) && !granted.contains(&app_access) {
            granted.push(app_access);
        }
        for parent in granted {
            let mut row = access_shape.row();
            row.id("ParentId", parent)
                .id("SetupEntityId", app)
                .text("SetupEntityType", "ConnectedApplication")
                .audit(audit);
            g.insert(row);
        }
        apps.push((app, item, name));
    }
    g.org.integration.connected_app_id = Some(apps[0].0);

    let token_shape = Shape::of("OauthToken");
    let (c_app, c_item, c_user, c_created, c_used, c_count, c_delete) = (
        token_shape.col("AppName"),
        token_shape.col("AppMenuItemId"),
        token_shape.col("UserId"),
        token_shape.col("CreatedDate"),
        token_shape.col("LastUsedDate"),
        token_shape.col("UseCount"),
        token_shape.col("DeleteToken"),
    );
    let holders: Vec<usize> = (0..users.len())
        .filter(|&i| users[i].0.active && users[i].0.is_staff(users[i].1))
        .collect();
    let with_tokens = if apps.len() == 1 {
        1
    } else {
        (apps.len() * 6 / 10).max(2)
    };
    for n in 0..sizes.oauth_tokens {
        // The integration user's token for the emulator's app comes first; then every app
        // with tokens gets one before the rest are spread at random.
        let app = if n < with_tokens {
            n
        } else if with_tokens > 1 {
            g.rng.random_range(1..with_tokens)
        } else {
            0
        };
        let user = if app == 0 {
            &users[CAST_INTEGRATION].0
        } else {
            &users[*holders
                .choose(&mut g.rng)
                .expect("the cast has active staff")]
            .0
        };
        let created = g.time_between(user.created, BASE_TIME_MS - DAY_MS);
        let last_used = g.time_between(created, BASE_TIME_MS - SECOND_MS);
        let mut row = token_shape.row();
        row.values[c_app] = Value::text(apps[app].2.clone());
        row.values[c_item] = Value::Id(apps[app].1);
        row.values[c_user] = Value::Id(user.id);
        row.values[c_created] = Value::DateTime(created);
        row.values[c_used] = Value::DateTime(g.note(last_used));
        row.values[c_count] = Value::Int(g.rng.random_range(1..5_000));
        row.values[c_delete] = Value::text(g.random_token(64));
        g.insert(row);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::emulator::org::Record;
    use crate::emulator::schema::FieldType;

    const SEED: u64 = 7;

    fn small() -> Org {
        generate(&Preset::Small.sizes(), SEED)
    }

    /// Medium's proportions at a tenth of the users, fast enough for debug builds.
    fn scaled_medium() -> Sizes {
        Preset::Medium.sizes().with(&SizeOverrides {
            users: Some(2_000),
            roles: Some(60),
            profiles: Some(40),
            permission_sets: Some(150),
            permission_set_groups: Some(15),
            groups: Some(200),
            group_members: Some(6_000),
            assignments: Some(15_000),
            connected_apps: Some(20),
            oauth_tokens: Some(2_500),
            permission_set_licenses: Some(12),
        })
    }

    fn rows<'a>(org: &'a Org, object: &str) -> impl Iterator<Item = &'a Record> + 'a {
        org.table(object).expect("known object").rows.values()
    }

    fn val<'a>(org: &Org, object: &str, record: &'a Record, field: &str) -> &'a Value {
        org.table(object)
            .expect("known object")
            .value(record, field)
            .unwrap_or_else(|| panic!("{object}.{field}"))
    }

    fn id_of(org: &Org, object: &str, record: &Record, field: &str) -> Option<SfId> {
        val(org, object, record, field).as_id()
    }

    fn text_of<'a>(org: &Org, object: &str, record: &'a Record, field: &str) -> Option<&'a str> {
        val(org, object, record, field).as_text()
    }

    fn flag_of(org: &Org, object: &str, record: &Record, field: &str) -> bool {
        val(org, object, record, field) == &Value::Bool(true)
    }

    fn user_named<'a>(org: &'a Org, local: &str) -> &'a Record {
        let username = format!("{local}@acme-{SEED}.example");
        rows(org, "User")
            .find(|u| text_of(org, "User", u, "Username") == Some(username.as_str()))
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    fn group_named<'a>(org: &'a Org, name: &str) -> &'a Record {
        rows(org, "Group")
            .find(|g| {
                text_of(org, "Group", g, "Name") == Some(name)
                    && matches!(text_of(org, "Group", g, "Type"), Some("Regular" | "Queue"))
            })
            .unwrap_or_else(|| panic!("no group {name}"))
    }

    fn dump(org: &Org) -> String {
        serde_json::to_string(&crate::emulator::dump::to_json(org)).expect("serializes")
    }

    #[test]
    fn same_seed_and_sizes_give_identical_dumps_and_other_seeds_differ() {
        assert_eq!(dump(&small()), dump(&small()));
        let sizes = Preset::Small.sizes().with(&SizeOverrides {
            users: Some(300),
            group_members: Some(500),
            ..SizeOverrides::default()
        });
        let a = generate(&sizes, 99);
        assert_eq!(dump(&a), dump(&generate(&sizes, 99)));
        assert_ne!(dump(&a), dump(&generate(&sizes, 100)));
        assert_ne!(
            dump(&small()),
            dump(&generate(&Preset::Small.sizes(), SEED + 1))
        );
        // Credentials depend on the seed only.
        assert_eq!(
            a.integration,
            generate(&Preset::Small.sizes(), 99).integration
        );
        assert_ne!(a.integration.client_id, small().integration.client_id);
    }

    #[test]
    fn small_org_has_every_user_edge_case() {
        let org = small();
        let login_of = |user: SfId| {
            rows(&org, "UserLogin").find(|l| id_of(&org, "UserLogin", l, "UserId") == Some(user))
        };
        let frozen = user_named(&org, "frozen.user");
        assert!(flag_of(&org, "User", frozen, "IsActive"));
        assert!(flag_of(
            &org,
            "UserLogin",
            login_of(frozen.id()).unwrap(),
            "IsFrozen"
        ));
        let locked = user_named(&org, "locked.user");
        assert!(flag_of(
            &org,
            "UserLogin",
            login_of(locked.id()).unwrap(),
            "IsPasswordLocked"
        ));
        assert!(!flag_of(
            &org,
            "User",
            user_named(&org, "inactive.user"),
            "IsActive"
        ));
        assert!(login_of(user_named(&org, "nologin.user").id()).is_none());
        assert!(login_of(user_named(&org, "autoproc").id()).is_none());
        let never = user_named(&org, "never.logged.in");
        assert!(val(&org, "User", never, "LastLoginDate").is_null());
        assert!(id_of(&org, "User", user_named(&org, "norole.user"), "UserRoleId").is_none());
        assert!(val(&org, "User", user_named(&org, "notype.user"), "UserType").is_null());
        let rep = user_named(&org, "sales.rep");
        assert_eq!(
            id_of(&org, "User", rep, "ManagerId"),
            Some(user_named(&org, "sales.manager").id())
        );

        let types: BTreeSet<&str> = rows(&org, "User")
            .filter_map(|u| text_of(&org, "User", u, "UserType"))
            .collect();
        for t in [
            "Standard",
            "PowerPartner",
            "CustomerSuccess",
            "PowerCustomerSuccess",
            "CspLitePortal",
            "CsnOnly",
            "Guest",
            "AutomatedProcess",
        ] {
            assert!(types.contains(t), "no {t} user in {types:?}");
        }
        for local in ["partner.user", "community.user", "portal.user"] {
            let user = user_named(&org, local);
            assert!(flag_of(&org, "User", user, "IsPortalEnabled"), "{local}");
            let contact = id_of(&org, "User", user, "ContactId").unwrap();
            let account = id_of(&org, "User", user, "AccountId").unwrap();
            assert_eq!((contact.key_prefix(), account.key_prefix()), ("003", "001"));
        }
        // The partner user sits in its account's portal role.
        let partner = user_named(&org, "partner.user");
        let role = id_of(&org, "User", partner, "UserRoleId").unwrap();
        assert_eq!(
            org.value(&role, "PortalType"),
            Some(&Value::text("Partner"))
        );
        assert_eq!(
            org.value(&role, "PortalAccountId").and_then(Value::as_id),
            id_of(&org, "User", partner, "AccountId")
        );

        let integration = user_named(&org, "integration");
        assert_eq!(integration.id(), org.integration.user_id);
        let permissions = org.effective_permissions(&integration.id());
        assert_eq!(permissions.len(), schema::PERMISSIONS.len());
    }

    #[test]
    fn small_org_has_every_access_edge_case() {
        let org = small();
        // Role hierarchy at least four levels deep.
        let parent: BTreeMap<SfId, Option<SfId>> = rows(&org, "UserRole")
            .map(|r| (r.id(), id_of(&org, "UserRole", r, "ParentRoleId")))
            .collect();
        let depth = |mut id: SfId| {
            let mut levels = 1;
            while let Some(Some(p)) = parent.get(&id) {
                levels += 1;
                id = *p;
            }
            levels
        };
        assert!(parent.keys().map(|id| depth(*id)).max().unwrap() >= 4);

        // A nesting cycle and a three-level chain.
        let members: Vec<(SfId, SfId)> = rows(&org, "GroupMember")
            .map(|m| {
                (
                    id_of(&org, "GroupMember", m, "GroupId").unwrap(),
                    id_of(&org, "GroupMember", m, "UserOrGroupId").unwrap(),
                )
            })
            .collect();
        let (a, b) = (
            group_named(&org, "Nested Cycle A").id(),
            group_named(&org, "Nested Cycle B").id(),
        );
        assert!(members.contains(&(a, b)) && members.contains(&(b, a)));
        let (top, middle, bottom) = (
            group_named(&org, "Chain Top").id(),
            group_named(&org, "Chain Middle").id(),
            group_named(&org, "Chain Bottom").id(),
        );
        assert!(members.contains(&(top, middle)) && members.contains(&(middle, bottom)));
        assert!(
            members
                .iter()
                .any(|(g, m)| *g == bottom && m.key_prefix() == "005")
        );
        let group_type = |id: &SfId| org.value(id, "Type").and_then(Value::as_text);
        for kind in ["Role", "RoleAndSubordinates", "Organization", "Regular"] {
            assert!(
                members.iter().any(|(_, m)| group_type(m) == Some(kind)),
                "no {kind} group as a member"
            );
        }
        assert!(rows(&org, "Group").any(|g| text_of(&org, "Group", g, "Type") == Some("Queue")));

        // Expired and future assignments.
        let expirations: Vec<i64> = rows(&org, "PermissionSetAssignment")
            .filter_map(
                |a| match val(&org, "PermissionSetAssignment", a, "ExpirationDate") {
                    Value::DateTime(ms) => Some(*ms),
                    _ => None,
                },
            )
            .collect();
        assert!(expirations.iter().any(|ms| *ms < BASE_TIME_MS));
        assert!(expirations.iter().any(|ms| *ms >= FUTURE_EXPIRY_MS));

        // Permission set groups in every status; sets of every type.
        let statuses: BTreeSet<&str> = rows(&org, "PermissionSetGroup")
            .filter_map(|g| text_of(&org, "PermissionSetGroup", g, "Status"))
            .collect();
        assert!(
            ["Updated", "Outdated", "Failed"]
                .iter()
                .all(|s| statuses.contains(s))
        );
        let set_types: BTreeSet<&str> = rows(&org, "PermissionSet")
            .filter_map(|s| text_of(&org, "PermissionSet", s, "Type"))
            .collect();
        assert_eq!(
            set_types,
            BTreeSet::from(["Group", "Profile", "Regular", "Session", "Standard"])
        );
        assert!(rows(&org, "PermissionSet").any(|s| {
            text_of(&org, "PermissionSet", s, "Type") == Some("Session")
                && flag_of(&org, "PermissionSet", s, "HasActivationRequired")
        }));
        assert!(rows(&org, "PermissionSet").any(|s| {
            text_of(&org, "PermissionSet", s, "Type") == Some("Standard")
                && id_of(&org, "PermissionSet", s, "LicenseId")
                    .is_some_and(|l| l.key_prefix() == "0PL")
        }));
        assert!(
            rows(&org, "PermissionSet")
                .filter(|s| text_of(&org, "PermissionSet", s, "NamespacePrefix").is_some())
                .count()
                >= 2
        );
        assert!(
            rows(&org, "PermissionSetLicense").any(|l| {
                text_of(&org, "PermissionSetLicense", l, "Status") == Some("Disabled")
            })
        );

        // Apps with and without tokens.
        let with_tokens: BTreeSet<&str> = rows(&org, "OauthToken")
            .filter_map(|t| text_of(&org, "OauthToken", t, "AppName"))
            .collect();
        let apps: Vec<&str> = rows(&org, "ConnectedApplication")
            .filter_map(|a| text_of(&org, "ConnectedApplication", a, "Name"))
            .collect();
        assert!(apps.iter().any(|a| with_tokens.contains(a)));
        assert!(apps.iter().any(|a| !with_tokens.contains(a)));
        assert!(with_tokens.contains(INTEGRATION_APP_NAME));

        // One exactly full license, with users on it.
        let full: Vec<&Record> = rows(&org, "UserLicense")
            .filter(|l| {
                val(&org, "UserLicense", l, "UsedLicenses")
                    == val(&org, "UserLicense", l, "TotalLicenses")
            })
            .filter(|l| val(&org, "UserLicense", l, "UsedLicenses") != &Value::Int(0))
            .collect();
        assert_eq!(full.len(), 1);
        assert_eq!(
            text_of(&org, "UserLicense", full[0], "Name"),
            Some(FULL_LICENSE_NAME)
        );
    }

    /// Asserts the structural rules every generated org follows.
    fn check_invariants(org: &Org, sizes: &Sizes) {
        // Every value has its field's type; every reference resolves to an allowed object.
        for table in org.tables() {
            for record in table.rows.values() {
                for (field, value) in table.def.fields.iter().zip(&record.values) {
                    let ok = match (field.ty, value) {
                        (_, Value::Null) => field.ty != FieldType::Boolean,
                        (FieldType::Boolean, Value::Bool(_)) => true,
                        (FieldType::Int, Value::Int(_)) => true,
                        (FieldType::DateTime, Value::DateTime(_)) => true,
                        (FieldType::Date, Value::Date(_)) => true,
                        (FieldType::Id | FieldType::Reference, Value::Id(_)) => true,
                        (
                            FieldType::String | FieldType::Email | FieldType::Picklist,
                            Value::Text(s),
                        ) => field.length == 0 || s.chars().count() <= field.length,
                        _ => false,
                    };
                    assert!(ok, "{}.{} = {value:?}", table.def.name, field.name);
                    let (Some(reference), Value::Id(id)) = (field.reference, value) else {
                        continue;
                    };
                    let allowed: Vec<&str> = reference
                        .to
                        .iter()
                        .filter(|n| schema::object(n).is_some())
                        .copied()
                        .collect();
                    if allowed.is_empty() {
                        assert!(["001", "003"].contains(&id.key_prefix()), "{id}");
                        continue;
                    }
                    let (target, _) = org.get(id).unwrap_or_else(|| {
                        panic!("{}.{} -> {id} dangles", table.def.name, field.name)
                    });
                    assert!(
                        allowed.contains(&target.def.name),
                        "{}.{}",
                        table.def.name,
                        field.name
                    );
                }
                if let (Some(c), Some(m)) = (
                    table.def.field_index("CreatedDate"),
                    table.def.field_index("LastModifiedDate"),
                ) && !record.values[c].is_null()
                {
                    assert!(record.values[c] <= record.values[m], "{}", table.def.name);
                }
                if let Some(s) = table.def.field_index("SystemModstamp") {
                    assert!(
                        matches!(record.values[s], Value::DateTime(ms) if ms < BASE_TIME_MS),
                        "{} stamp",
                        table.def.name
                    );
                }
            }
        }

        // Profiles own exactly one set each, labelled after the profile, with its permissions.
        let mut owned: BTreeMap<SfId, Vec<&Record>> = BTreeMap::new();
        for set in rows(org, "PermissionSet") {
            if flag_of(org, "PermissionSet", set, "IsOwnedByProfile") {
                let profile = id_of(org, "PermissionSet", set, "ProfileId").unwrap();
                owned.entry(profile).or_default().push(set);
                assert_eq!(text_of(org, "PermissionSet", set, "Type"), Some("Profile"));
            }
        }
        for profile in rows(org, "Profile") {
            let sets = &owned[&profile.id()];
            assert_eq!(sets.len(), 1);
            assert_eq!(
                text_of(org, "PermissionSet", sets[0], "Label"),
                text_of(org, "Profile", profile, "Name")
            );
            for p in schema::PERMISSIONS {
                assert_eq!(
                    val(org, "PermissionSet", sets[0], p),
                    val(org, "Profile", profile, p)
                );
            }
        }
        let profile_set: BTreeMap<SfId, SfId> = owned
            .iter()
            .map(|(profile, sets)| (*profile, sets[0].id()))
            .collect();
        let owned_sets: BTreeSet<SfId> = profile_set.values().copied().collect();

        // Assignments: one profile-set assignment per user, no duplicates, PSG rows carry the
        // group's aggregate set.
        let aggregate: BTreeMap<SfId, SfId> = rows(org, "PermissionSet")
            .filter_map(|s| {
                Some((
                    id_of(org, "PermissionSet", s, "PermissionSetGroupId")?,
                    s.id(),
                ))
            })
            .collect();
        let mut pairs = BTreeSet::new();
        let mut profile_assignments: BTreeMap<SfId, usize> = BTreeMap::new();
        let mut other_assignments = 0;
        let mut set_holders: BTreeSet<(SfId, SfId)> = BTreeSet::new();
        for a in rows(org, "PermissionSetAssignment") {
            let user = id_of(org, "PermissionSetAssignment", a, "AssigneeId").unwrap();
            let set = id_of(org, "PermissionSetAssignment", a, "PermissionSetId");
            let group = id_of(org, "PermissionSetAssignment", a, "PermissionSetGroupId");
            assert!(flag_of(org, "PermissionSetAssignment", a, "IsActive"));
            match (set, group) {
                (Some(set), None) => {
                    assert!(
                        pairs.insert((user, set)),
                        "duplicate assignment {user} {set}"
                    );
                    set_holders.insert((user, set));
                    if owned_sets.contains(&set) {
                        let profile = org.value(&user, "ProfileId").and_then(Value::as_id);
                        assert_eq!(profile_set.get(&profile.unwrap()), Some(&set));
                        *profile_assignments.entry(user).or_default() += 1;
                    } else {
                        other_assignments += 1;
                    }
                }
                (set, Some(group)) => {
                    assert_eq!(set, Some(aggregate[&group]));
                    assert!(pairs.insert((user, group)), "duplicate group assignment");
                    other_assignments += 1;
                }
                (None, None) => panic!("assignment without set or group"),
            }
        }
        let users: Vec<&Record> = rows(org, "User").collect();
        for user in &users {
            assert_eq!(profile_assignments.get(&user.id()), Some(&1));
        }
        assert_eq!(other_assignments, sizes.assignments);

        // One UserLogin per user but the two documented ones; user fields are consistent.
        let mut logins: BTreeMap<SfId, usize> = BTreeMap::new();
        for l in rows(org, "UserLogin") {
            *logins
                .entry(id_of(org, "UserLogin", l, "UserId").unwrap())
                .or_default() += 1;
        }
        let mut without_login = Vec::new();
        let mut usernames = BTreeSet::new();
        let mut nicknames = BTreeSet::new();
        for user in &users {
            let username = text_of(org, "User", user, "Username").unwrap();
            assert!(
                usernames.insert(username.to_ascii_lowercase()),
                "{username}"
            );
            assert!(nicknames.insert(text_of(org, "User", user, "CommunityNickname").unwrap()));
            match logins.get(&user.id()) {
                Some(n) => assert_eq!(*n, 1),
                None => without_login.push(username.split('@').next().unwrap()),
            }
            let profile = id_of(org, "User", user, "ProfileId").unwrap();
            let expected = org.value(&profile, "UserType").and_then(Value::as_text);
            match text_of(org, "User", user, "UserType") {
                Some("AutomatedProcess") | None => {}
                actual => assert_eq!(actual, expected, "{username}"),
            }
        }
        assert_eq!(without_login, ["nologin.user", "autoproc"]);

        // Role groups.
        for role in rows(org, "UserRole") {
            for kind in ["Role", "RoleAndSubordinates"] {
                let n = rows(org, "Group")
                    .filter(|g| {
                        text_of(org, "Group", g, "Type") == Some(kind)
                            && id_of(org, "Group", g, "RelatedId") == Some(role.id())
                    })
                    .count();
                assert_eq!(n, 1, "{kind} group of {}", role.id());
            }
        }

        // Memberships: distinct, only in public groups and queues.
        let mut memberships = BTreeSet::new();
        for m in rows(org, "GroupMember") {
            let group = id_of(org, "GroupMember", m, "GroupId").unwrap();
            let member = id_of(org, "GroupMember", m, "UserOrGroupId").unwrap();
            assert!(memberships.insert((group, member)), "duplicate membership");
            let kind = org.value(&group, "Type").and_then(Value::as_text);
            assert!(matches!(kind, Some("Regular" | "Queue")));
        }

        // License seats.
        for license in rows(org, "UserLicense") {
            let active = users
                .iter()
                .filter(|u| flag_of(org, "User", u, "IsActive"))
                .filter(|u| {
                    let profile = id_of(org, "User", u, "ProfileId").unwrap();
                    org.value(&profile, "UserLicenseId").and_then(Value::as_id)
                        == Some(license.id())
                })
                .count() as i64;
            let used = val(org, "UserLicense", license, "UsedLicenses")
                .as_int()
                .unwrap();
            let total = val(org, "UserLicense", license, "TotalLicenses")
                .as_int()
                .unwrap();
            assert_eq!(used, active);
            assert!(total >= used);
        }
        let mut license_holders = BTreeSet::new();
        for a in rows(org, "PermissionSetLicenseAssign") {
            let user = id_of(org, "PermissionSetLicenseAssign", a, "AssigneeId").unwrap();
            let psl = id_of(
                org,
                "PermissionSetLicenseAssign",
                a,
                "PermissionSetLicenseId",
            )
            .unwrap();
            assert!(
                license_holders.insert((user, psl)),
                "duplicate license assignment"
            );
        }
        for psl in rows(org, "PermissionSetLicense") {
            let holders = license_holders
                .iter()
                .filter(|(_, l)| *l == psl.id())
                .count() as i64;
            assert_eq!(
                val(org, "PermissionSetLicense", psl, "UsedLicenses"),
                &Value::Int(holders)
            );
            assert!(
                val(org, "PermissionSetLicense", psl, "TotalLicenses")
                    .as_int()
                    .unwrap()
                    >= holders
            );
        }
        // Holders of a license-bundled set hold its license.
        for set in rows(org, "PermissionSet") {
            let Some(license) =
                id_of(org, "PermissionSet", set, "LicenseId").filter(|l| l.key_prefix() == "0PL")
            else {
                continue;
            };
            for (user, _) in set_holders.iter().filter(|(_, s)| *s == set.id()) {
                assert!(license_holders.contains(&(*user, license)));
            }
        }

        // Group aggregates are the union of their components.
        for group in rows(org, "PermissionSetGroup") {
            let components: Vec<SfId> = rows(org, "PermissionSetGroupComponent")
                .filter(|c| {
                    id_of(
                        org,
                        "PermissionSetGroupComponent",
                        c,
                        "PermissionSetGroupId",
                    ) == Some(group.id())
                })
                .map(|c| id_of(org, "PermissionSetGroupComponent", c, "PermissionSetId").unwrap())
                .collect();
            assert!(components.len() >= 2);
            for p in schema::PERMISSIONS {
                let any = components
                    .iter()
                    .any(|c| org.value(c, p) == Some(&Value::Bool(true)));
                assert_eq!(
                    org.value(&aggregate[&group.id()], p),
                    Some(&Value::Bool(any))
                );
            }
        }

        // Apps: one menu item each; tokens name their app.
        let items: BTreeMap<SfId, SfId> = rows(org, "AppMenuItem")
            .map(|i| {
                (
                    i.id(),
                    id_of(org, "AppMenuItem", i, "ApplicationId").unwrap(),
                )
            })
            .collect();
        assert_eq!(items.len(), sizes.connected_apps);
        for t in rows(org, "OauthToken") {
            let app = items[&id_of(org, "OauthToken", t, "AppMenuItemId").unwrap()];
            assert_eq!(
                org.value(&app, "Name").and_then(Value::as_text),
                text_of(org, "OauthToken", t, "AppName")
            );
        }
        let app = org
            .integration
            .connected_app_id
            .expect("set by the generator");
        assert_eq!(
            org.value(&app, "Name").and_then(Value::as_text),
            Some(INTEGRATION_APP_NAME)
        );
        assert_eq!(
            org.value(&org.integration.user_id, "Username")
                .and_then(Value::as_text),
            Some(format!("integration@{}", domain_of(org)).as_str())
        );

        check_counts(org, sizes);
    }

    /// Asserts that the org has the requested number of records of each kind.
    fn check_counts(org: &Org, sizes: &Sizes) {
        let count = |object: &str| org.table(object).unwrap().rows.len();
        let count_where = |object: &str, field: &str, values: &[&str]| {
            rows(org, object)
                .filter(|r| text_of(org, object, r, field).is_some_and(|v| values.contains(&v)))
                .count()
        };
        assert_eq!(count("User"), sizes.users);
        assert_eq!(count("UserRole"), sizes.roles);
        assert_eq!(count("Profile"), sizes.profiles);
        assert_eq!(
            count_where("PermissionSet", "Type", &["Regular", "Session", "Standard"]),
            sizes.permission_sets
        );
        assert_eq!(count("PermissionSetGroup"), sizes.permission_set_groups);
        assert_eq!(
            count_where("Group", "Type", &["Regular", "Queue"]),
            sizes.groups
        );
        assert_eq!(count("GroupMember"), sizes.group_members);
        assert_eq!(count("ConnectedApplication"), sizes.connected_apps);
        assert_eq!(count("OauthToken"), sizes.oauth_tokens);
        assert_eq!(count("PermissionSetLicense"), sizes.permission_set_licenses);
        assert_eq!(count("Organization"), 1);
        assert_eq!(count("UserLicense"), USER_LICENSES.len());
        assert_eq!(count("Group"), sizes.groups + 2 * sizes.roles + 1);
    }

    fn domain_of(org: &Org) -> String {
        let (_, user) = org.get(&org.integration.user_id).unwrap();
        let username = text_of(org, "User", user, "Username").unwrap();
        username.split('@').nth(1).unwrap().to_string()
    }

    #[test]
    fn small_org_keeps_every_invariant() {
        check_invariants(&small(), &Preset::Small.sizes());
    }

    #[test]
    fn scaled_medium_org_keeps_every_invariant() {
        let sizes = scaled_medium();
        check_invariants(&generate(&sizes, 3), &sizes);
    }

    #[test]
    fn tiny_overrides_are_raised_to_the_minimum_and_still_consistent() {
        let sizes = Preset::Small.sizes().with(&SizeOverrides {
            users: Some(0),
            roles: Some(1),
            profiles: Some(1),
            permission_sets: Some(0),
            permission_set_groups: Some(0),
            groups: Some(0),
            group_members: Some(0),
            assignments: Some(0),
            connected_apps: Some(0),
            oauth_tokens: Some(0),
            permission_set_licenses: Some(0),
        });
        assert_eq!(sizes, Sizes::MINIMUM);
        check_invariants(&generate(&sizes, 1), &sizes);
    }

    #[test]
    fn size_flags_and_presets_parse_from_the_command_line() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct Flags {
            #[arg(long, value_enum)]
            preset: Preset,
            #[command(flatten)]
            sizes: SizeOverrides,
        }
        Flags::command().debug_assert();
        let flags = Flags::try_parse_from([
            "emulator",
            "--preset",
            "medium",
            "--users",
            "500",
            "--permission-set-groups",
            "7",
        ])
        .unwrap();
        assert_eq!(flags.preset, Preset::Medium);
        let sizes = flags.preset.sizes().with(&flags.sizes);
        assert_eq!((sizes.users, sizes.permission_set_groups), (500, 7));
        assert_eq!(sizes.roles, 300);
        assert_eq!(serde_json::to_value(Preset::Large).unwrap(), "large");
    }

    #[test]
    fn overrides_replace_only_the_given_counts() {
        let sizes = Preset::Medium.sizes().with(&SizeOverrides {
            users: Some(1_234),
            ..SizeOverrides::default()
        });
        assert_eq!(sizes.users, 1_234);
        assert_eq!(sizes.assignments, 150_000);
        assert_eq!(
            Preset::Large.sizes().users,
            5 * Preset::Medium.sizes().users
        );
    }

    /// Generates a preset and checks its counts, printing how long generation took.
    fn generate_preset(preset: Preset) {
        let sizes = preset.sizes();
        let started = std::time::Instant::now();
        let org = generate(&sizes, 1);
        eprintln!("{preset:?}: generated in {:?}", started.elapsed());
        check_counts(&org, &sizes);
        let assignments = org.table("PermissionSetAssignment").unwrap().rows.len();
        assert_eq!(assignments, sizes.assignments + sizes.users);
    }

    #[test]
    #[ignore = "2-3 s in a debug build; run with `cargo test --release -- --ignored`"]
    fn medium_preset_generates_exactly_its_sizes() {
        generate_preset(Preset::Medium);
    }

    #[test]
    #[ignore = "slow in a debug build; run with `cargo test --release -- --ignored`"]
    fn large_preset_generates_exactly_its_sizes() {
        generate_preset(Preset::Large);
    }

    #[test]
    fn medium_preset_has_the_specified_sizes() {
        let sizes = Preset::Medium.sizes();
        assert_eq!(
            (
                sizes.users,
                sizes.roles,
                sizes.profiles,
                sizes.permission_sets,
                sizes.permission_set_groups,
                sizes.groups,
                sizes.group_members,
                sizes.assignments,
                sizes.connected_apps,
                sizes.oauth_tokens
            ),
            (
                20_000, 300, 200, 1_500, 150, 2_000, 60_000, 150_000, 80, 25_000
            )
        );
    }

    #[test]
    fn generated_ids_continue_after_the_generated_ones() {
        let mut org = small();
        let before = org.table("User").unwrap().rows.len();
        let id = org.new_id("User");
        assert!(org.get(&id).is_none());
        assert_eq!(org.table("User").unwrap().rows.len(), before);
        let stamp = org.next_stamp();
        let newest = rows(&org, "User")
            .filter_map(|u| match val(&org, "User", u, "SystemModstamp") {
                Value::DateTime(ms) => Some(*ms),
                _ => None,
            })
            .max()
            .unwrap();
        assert!(stamp > newest);
    }
}
