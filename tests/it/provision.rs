//! Provisioning against the emulator over real HTTP: every row of the grant/revoke table
//! granted and revoked twice, role and profile replacement, the least-privilege profile on
//! revoke and its failures, expiring assignments, dry runs, the provisioning switch, the audit
//! log, create-account, and a property test against an in-memory model.

use std::sync::Arc;

use serde_json::{Value, json};
use sf_access::emulator::EmulatorHandle;
use sf_access::exit::Exit;
use sf_access::model::{EntitlementId, GrantId, ResourceId};
use sf_access::provision::{
    self, AccountRequest, AuditLog, GrantReport, GrantRequest, LeastPrivilegeError, Outcome,
    ProvisionError, Provisioner, RequestId, WriteOptions,
};
use sf_access::settings::{LicenseProfileMapping, ProfileRef};

use crate::support::*;

// The small org's cast (seed 1), see `emulator::generate`.
pub const SALES_REP: &str = "user:0055g0000000004AAA";
pub const SALES_ASSOCIATE: &str = "user:0055g0000000005AAA";
pub const NOROLE_USER: &str = "user:0055g0000000009AAA";
pub const INACTIVE_USER: &str = "user:0055g0000000008AAA";
pub const NEVER_LOGGED_IN: &str = "user:0055g000000000AAAQ";
pub const NOLOGIN_USER: &str = "user:0055g000000000BAAQ";
const REPORT_BUILDER: &str = "permission:0PS5g000000000KGAQ:assigned";
const SUPPORT_AGENT_EXTRAS: &str = "permission:0PS5g000000000NGAQ:assigned";
const SALES_OPERATIONS: &str = "permission:0PS5g000000000JGAQ:assigned";
const SALES_BUNDLE: &str = "permission_set_group:0PG5g0000000001GAA:member";
const ALL_STAFF: &str = "group:00G5g000000000WEAQ:member";
const SUPPORT_QUEUE: &str = "group:00G5g000000000XEAQ:member";
const OPERATIONS_EMEA: &str = "group:00G5g000000000ZEAQ:member";
const FINANCE_LATAM: &str = "group:00G5g000000000YEAQ";
const CEO_ROLE_GROUP: &str = "group:00G5g0000000002EAA:member";
const CFO: &str = "role:00E5g0000000004EAA:assigned";
const SUPPORT_MANAGER: &str = "role:00E5g0000000009EAA:assigned";
const CEO: &str = "role:00E5g0000000001EAA:assigned";
const CRM_ANALYTICS_PSL: &str = "license:0PL5g0000000004GAA:assigned";
const SALESFORCE_LICENSE: &str = "license:1005g0000000001AAA:assigned";
const STANDARD_USER: &str = "profile:00e5g0000000002AAA:assigned";
const READ_ONLY: &str = "profile:00e5g0000000006AAA:assigned";
const MINIMUM_ACCESS: &str = "00e5g0000000003AAA";
const STANDARD_PLATFORM_USER: &str = "profile:00e5g0000000009AAA:assigned";
pub const MAPPING: &str =
    "Salesforce=Minimum Access - Salesforce,AUL=Minimum Access - Salesforce Platform";

pub fn e(s: &str) -> EntitlementId {
    EntitlementId::parse(s).expect("valid entitlement id")
}

pub fn r(s: &str) -> ResourceId {
    ResourceId::parse(s).expect("valid resource id")
}

/// An emulator with a provisioner (writes on, the mapping, an audit log in a temp dir).
pub struct Fixture {
    pub emulator: EmulatorHandle,
    pub provisioner: Provisioner,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Fixture {
        Fixture::with_mapping(Some(MAPPING)).await
    }

    pub async fn with_mapping(mapping: Option<&str>) -> Fixture {
        let emulator = small().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let log = AuditLog::open(dir.path().join("audit.jsonl")).expect("audit log opens");
        let provisioner = Provisioner::new(client(&emulator))
            .with_provisioning(true)
            .with_mapping(mapping.map(|m| LicenseProfileMapping::parse(m).expect("mapping")))
            .with_audit_log(Arc::new(log));
        Fixture {
            emulator,
            provisioner,
            dir,
        }
    }

    pub fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    pub async fn grant(
        &self,
        entitlement: &str,
        principal: &str,
    ) -> Result<GrantReport, ProvisionError> {
        self.grant_with(entitlement, principal, None, false).await
    }

    pub async fn grant_with(
        &self,
        entitlement: &str,
        principal: &str,
        expires_at: Option<&str>,
        dry_run: bool,
    ) -> Result<GrantReport, ProvisionError> {
        let request = GrantRequest {
            entitlement: e(entitlement),
            principal: r(principal),
            expires_at: expires_at.map(|t| t.parse().expect("RFC 3339")),
        };
        provision::grant(&self.provisioner, &request, &options(dry_run)).await
    }

    pub async fn revoke(
        &self,
        entitlement: &str,
        principal: &str,
    ) -> Result<GrantReport, ProvisionError> {
        self.revoke_with(entitlement, principal, false).await
    }

    pub async fn revoke_with(
        &self,
        entitlement: &str,
        principal: &str,
        dry_run: bool,
    ) -> Result<GrantReport, ProvisionError> {
        let id = GrantId::new(e(entitlement), r(principal));
        provision::revoke(&self.provisioner, id, &options(dry_run)).await
    }
}

pub fn options(dry_run: bool) -> WriteOptions {
    WriteOptions::new(RequestId::parse("test-request-1").unwrap()).dry_run(dry_run)
}

fn sf(id: &str) -> String {
    id.split(':').nth(1).expect("type:id").to_owned()
}

/// Grants, grants again (no write), revokes, revokes again (no write), checking outcomes, the
/// post-state grant and the org.
async fn round_trip(
    f: &Fixture,
    entitlement: &str,
    principal: &str,
    present: impl Fn(&EmulatorHandle) -> bool,
) {
    assert!(
        !present(&f.emulator),
        "{entitlement} must start absent for {principal}"
    );
    let first = f.grant(entitlement, principal).await.expect("grant");
    assert_eq!(first.outcome, Outcome::Granted, "{entitlement}");
    let grant = first.grant.clone().expect("post-state grant");
    assert_eq!(grant.id, GrantId::new(e(entitlement), r(principal)));
    assert!(grant.direct);
    grant.validate().unwrap();
    assert!(
        present(&f.emulator),
        "{entitlement} is in the org after the grant"
    );
    assert_eq!(first.calls.len(), 1, "{:?}", first.calls);

    f.emulator.reset_stats();
    let second = f.grant(entitlement, principal).await.expect("second grant");
    assert_eq!(second.outcome, Outcome::AlreadyExists, "{entitlement}");
    assert_eq!(second.grant.as_ref().map(|g| g.id), Some(grant.id));
    assert!(second.calls.is_empty());
    assert_eq!(write_calls(&f.emulator), 0, "a no-op grant writes nothing");

    let third = f.revoke(entitlement, principal).await.expect("revoke");
    assert_eq!(third.outcome, Outcome::Revoked, "{entitlement}");
    assert!(third.grant.is_none());
    assert!(
        !present(&f.emulator),
        "{entitlement} is gone after the revoke"
    );

    f.emulator.reset_stats();
    let fourth = f
        .revoke(entitlement, principal)
        .await
        .expect("second revoke");
    assert_eq!(fourth.outcome, Outcome::AlreadyRevoked, "{entitlement}");
    assert_eq!(write_calls(&f.emulator), 0, "a no-op revoke writes nothing");
}

fn has_assignment(user: &'static str, set: &'static str) -> impl Fn(&EmulatorHandle) -> bool {
    move |emulator| {
        !rows_where(
            emulator,
            "PermissionSetAssignment",
            &[
                ("AssigneeId", json!(sf(user))),
                ("PermissionSetId", json!(sf(set))),
                ("PermissionSetGroupId", Value::Null),
            ],
        )
        .is_empty()
    }
}

#[tokio::test]
async fn permission_set_is_granted_and_revoked_twice() {
    let f = Fixture::new().await;
    round_trip(
        &f,
        SUPPORT_AGENT_EXTRAS,
        NEVER_LOGGED_IN,
        has_assignment(NEVER_LOGGED_IN, SUPPORT_AGENT_EXTRAS),
    )
    .await;
}

#[tokio::test]
async fn permission_set_group_is_granted_and_revoked_twice() {
    let f = Fixture::new().await;
    round_trip(&f, SALES_BUNDLE, NEVER_LOGGED_IN, |emulator| {
        !rows_where(
            emulator,
            "PermissionSetAssignment",
            &[
                ("AssigneeId", json!(sf(NEVER_LOGGED_IN))),
                ("PermissionSetGroupId", json!(sf(SALES_BUNDLE))),
            ],
        )
        .is_empty()
    })
    .await;
}

fn is_member(group: &'static str, member: &'static str) -> impl Fn(&EmulatorHandle) -> bool {
    move |emulator| {
        !rows_where(
            emulator,
            "GroupMember",
            &[
                ("GroupId", json!(sf(group))),
                ("UserOrGroupId", json!(sf(member))),
            ],
        )
        .is_empty()
    }
}

#[tokio::test]
async fn group_membership_is_granted_and_revoked_twice_for_users_and_nested_groups() {
    let f = Fixture::new().await;
    round_trip(
        &f,
        ALL_STAFF,
        NEVER_LOGGED_IN,
        is_member(ALL_STAFF, NEVER_LOGGED_IN),
    )
    .await;
    round_trip(
        &f,
        OPERATIONS_EMEA,
        FINANCE_LATAM,
        is_member(OPERATIONS_EMEA, FINANCE_LATAM),
    )
    .await;
}

#[tokio::test]
async fn permission_set_license_is_granted_and_revoked_twice() {
    let f = Fixture::new().await;
    round_trip(&f, CRM_ANALYTICS_PSL, NEVER_LOGGED_IN, |emulator| {
        !rows_where(
            emulator,
            "PermissionSetLicenseAssign",
            &[
                ("AssigneeId", json!(sf(NEVER_LOGGED_IN))),
                ("PermissionSetLicenseId", json!(sf(CRM_ANALYTICS_PSL))),
            ],
        )
        .is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_full_or_expired_permission_set_license_is_refused_before_any_write() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    // Identity Connect: disabled (expired) with every seat used.
    for dry_run in [true, false] {
        let err = f
            .grant_with(
                "license:0PL5g0000000002GAA:assigned",
                NEVER_LOGGED_IN,
                None,
                dry_run,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ProvisionError::LicenseFull { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "license Identity Connect has no free seat (2 of 2 used), and it is disabled \
             (expired); nothing was changed"
        );
    }
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn role_is_granted_and_revoked_twice() {
    let f = Fixture::new().await;
    round_trip(&f, CFO, NOROLE_USER, |emulator| {
        field_of(emulator, &sf(NOROLE_USER), "UserRoleId") == json!(sf(CFO))
    })
    .await;
    assert_eq!(
        field_of(&f.emulator, &sf(NOROLE_USER), "UserRoleId"),
        Value::Null
    );
}

#[tokio::test]
async fn role_replacement_reports_the_previous_role_and_revoke_leaves_another_role_alone() {
    let f = Fixture::new().await;
    let previous = field_of(&f.emulator, &sf(SALES_REP), "UserRoleId");
    let report = f.grant(CEO, SALES_REP).await.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Replaced {
            previous: r(&format!("role:{}", previous.as_str().unwrap()))
        }
    );
    assert_eq!(report.before["User"]["UserRoleId"], previous);
    assert_eq!(report.after["User"]["UserRoleId"], json!(sf(CEO)));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "replaced");
    assert_eq!(
        json["previous"],
        format!("role:{}", previous.as_str().unwrap())
    );
    // The user now holds the CEO role: revoking CFO must not clear it.
    f.emulator.reset_stats();
    let revoke = f.revoke(CFO, SALES_REP).await.unwrap();
    assert_eq!(revoke.outcome, Outcome::AlreadyRevoked);
    assert_eq!(write_calls(&f.emulator), 0);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "UserRoleId"),
        json!(sf(CEO))
    );
}

#[tokio::test]
async fn profile_replacement_and_revoke_move_the_user_to_the_least_privileged_profile() {
    let f = Fixture::new().await;
    let report = f.grant(READ_ONLY, SALES_REP).await.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Replaced {
            previous: r("profile:00e5g0000000002AAA")
        }
    );
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "ProfileId"),
        json!(sf(READ_ONLY))
    );
    f.emulator.reset_stats();
    assert_eq!(
        f.grant(READ_ONLY, SALES_REP).await.unwrap().outcome,
        Outcome::AlreadyExists
    );
    assert_eq!(write_calls(&f.emulator), 0);

    let revoke = f.revoke(READ_ONLY, SALES_REP).await.unwrap();
    assert_eq!(revoke.outcome, Outcome::Revoked);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "ProfileId"),
        json!(MINIMUM_ACCESS)
    );
    let replacement = revoke.replacement.expect("the least-privilege grant");
    assert_eq!(
        replacement.entitlement_id,
        e(&format!("profile:{MINIMUM_ACCESS}:assigned"))
    );
    assert_eq!(replacement.principal_id, r(SALES_REP));
    f.emulator.reset_stats();
    assert_eq!(
        f.revoke(READ_ONLY, SALES_REP).await.unwrap().outcome,
        Outcome::AlreadyRevoked
    );
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn profile_of_another_license_is_refused_without_a_write() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let err = f
        .grant(STANDARD_PLATFORM_USER, SALES_REP)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::LicenseMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("Salesforce Platform (AUL)"),
        "{err}"
    );
    assert_eq!(err.exit(), Exit::Usage);
    assert_eq!(write_calls(&f.emulator), 0);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "ProfileId"),
        json!(sf(STANDARD_USER))
    );
}

async fn revoke_profile_fails_without_a_write(mapping: Option<&str>) -> LeastPrivilegeError {
    let f = Fixture::with_mapping(mapping).await;
    f.emulator.reset_stats();
    let err = f.revoke(STANDARD_USER, SALES_REP).await.unwrap_err();
    assert_eq!(
        write_calls(&f.emulator),
        0,
        "no write before the mapping fits"
    );
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "ProfileId"),
        json!(sf(STANDARD_USER))
    );
    assert_eq!(err.exit(), Exit::Usage);
    let hint = err.hint().expect("a hint");
    assert!(
        hint.contains("license-to-least-privileged-profile-mapping"),
        "{hint}"
    );
    let line = f.audit_lines().pop().expect("the failure is logged");
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["error"]["code"], "least_privilege_mapping");
    match err {
        ProvisionError::LeastPrivilege(e) => e,
        other => panic!("expected a mapping error, got {other}"),
    }
}

#[tokio::test]
async fn profile_revoke_fails_without_a_write_when_the_mapping_is_missing() {
    let err = revoke_profile_fails_without_a_write(None).await;
    assert!(
        matches!(err, LeastPrivilegeError::NoMapping { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("license Salesforce (SFDC)"),
        "{err}"
    );
    let err =
        revoke_profile_fails_without_a_write(Some("AUL=Minimum Access - Salesforce Platform"))
            .await;
    assert!(
        matches!(err, LeastPrivilegeError::NoMapping { .. }),
        "{err}"
    );
    assert!(
        err.hint().contains("the mapping names AUL"),
        "{}",
        err.hint()
    );
}

#[tokio::test]
async fn profile_revoke_fails_without_a_write_when_the_mapped_profile_is_missing() {
    let err = revoke_profile_fails_without_a_write(Some("SFDC=No Such Profile")).await;
    assert!(
        matches!(err, LeastPrivilegeError::ProfileMissing { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"No Such Profile\""), "{err}");
    // By ID too.
    let err = revoke_profile_fails_without_a_write(Some("Salesforce=00e5g00000000ZZ")).await;
    assert!(
        matches!(err, LeastPrivilegeError::ProfileMissing { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn profile_revoke_fails_without_a_write_when_the_mapped_profile_has_another_license() {
    let err = revoke_profile_fails_without_a_write(Some(
        "Salesforce=Minimum Access - Salesforce Platform",
    ))
    .await;
    assert!(
        matches!(err, LeastPrivilegeError::WrongLicense { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("belongs to license Salesforce Platform (AUL)"),
        "{err}"
    );
}

#[tokio::test]
async fn revoking_the_least_privileged_profile_itself_is_refused() {
    let f = Fixture::new().await;
    f.grant(&format!("profile:{MINIMUM_ACCESS}:assigned"), SALES_REP)
        .await
        .unwrap();
    f.emulator.reset_stats();
    let err = f
        .revoke(&format!("profile:{MINIMUM_ACCESS}:assigned"), SALES_REP)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::LeastPrivilege(LeastPrivilegeError::AlreadyLeastPrivileged { .. })
        ),
        "{err}"
    );
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn assignments_expire_and_a_new_expiration_moves_the_existing_one() {
    let f = Fixture::new().await;
    let report = f
        .grant_with(
            SUPPORT_AGENT_EXTRAS,
            NEVER_LOGGED_IN,
            Some("2031-06-30T12:00:00Z"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Granted);
    let grant = report.grant.unwrap();
    assert_eq!(
        grant.expires_at.unwrap().to_rfc3339(),
        "2031-06-30T12:00:00+00:00"
    );
    let record = grant.details.record_id.expect("the assignment row");
    assert_eq!(
        field_of(&f.emulator, record.as_str(), "ExpirationDate"),
        json!("2031-06-30T12:00:00.000+0000")
    );
    let json = serde_json::to_value(&report.calls).unwrap();
    assert_eq!(
        json[0]["body"]["ExpirationDate"],
        "2031-06-30T12:00:00.000Z"
    );

    let moved = f
        .grant_with(
            SUPPORT_AGENT_EXTRAS,
            NEVER_LOGGED_IN,
            Some("2032-01-01T00:00:00Z"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        moved.outcome,
        Outcome::ExpirationChanged {
            previous_expires_at: Some("2031-06-30T12:00:00Z".parse().unwrap())
        }
    );
    assert_eq!(moved.calls[0].method, "PATCH");
    assert_eq!(
        field_of(&f.emulator, record.as_str(), "ExpirationDate"),
        json!("2032-01-01T00:00:00.000+0000")
    );
    // Without an expiration the existing assignment is enough.
    let same = f
        .grant(SUPPORT_AGENT_EXTRAS, NEVER_LOGGED_IN)
        .await
        .unwrap();
    assert_eq!(same.outcome, Outcome::AlreadyExists);
    assert_eq!(
        same.grant.unwrap().expires_at.unwrap().to_rfc3339(),
        "2032-01-01T00:00:00+00:00"
    );
}

#[tokio::test]
async fn an_expired_assignment_is_granted_again_by_moving_its_expiration() {
    let f = Fixture::new().await;
    // The cast's sales.rep holds Sales_Operations with an expiration in 2025.
    let rows = rows_where(
        &f.emulator,
        "PermissionSetAssignment",
        &[
            ("AssigneeId", json!(sf(SALES_REP))),
            ("PermissionSetId", json!(sf(SALES_OPERATIONS))),
        ],
    );
    assert_eq!(rows.len(), 1);
    let report = f.grant(SALES_OPERATIONS, SALES_REP).await.unwrap();
    assert_eq!(report.outcome, Outcome::Granted);
    assert_eq!(report.calls[0].method, "PATCH");
    assert_eq!(report.grant.unwrap().expires_at, None);
    assert_eq!(
        field_of(&f.emulator, &rows[0], "ExpirationDate"),
        Value::Null
    );
}

#[tokio::test]
async fn expirations_in_the_past_or_on_other_grants_are_refused_before_any_call() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let err = f
        .grant_with(
            SUPPORT_AGENT_EXTRAS,
            NEVER_LOGGED_IN,
            Some("2020-01-01T00:00:00Z"),
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::InvalidArgument {
                argument: "expires_at",
                ..
            }
        ),
        "{err}"
    );
    let err = f
        .grant_with(CFO, NOROLE_USER, Some("2040-01-01T00:00:00Z"), false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::InvalidArgument {
                argument: "expires_at",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(f.emulator.stats().api_requests, 0);
}

#[tokio::test]
async fn unprovisionable_entitlements_and_unfit_principals_are_refused_before_any_call() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    for (entitlement, principal) in [
        (SALESFORCE_LICENSE, NEVER_LOGGED_IN),
        (
            "connected_application:0H45g0000000001:access",
            NEVER_LOGGED_IN,
        ),
        (CFO, FINANCE_LATAM),
        (OPERATIONS_EMEA, "role:00E5g0000000004EAA"),
        ("group:00G5g000000000YEAQ:member", FINANCE_LATAM),
    ] {
        let err = f.grant(entitlement, principal).await.unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{entitlement} {principal}: {err}");
        let err = f.revoke(entitlement, principal).await.unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{entitlement} {principal}: {err}");
    }
    assert_eq!(f.emulator.stats().api_requests, 0);
}

#[tokio::test]
async fn role_groups_profile_sets_and_missing_records_are_refused_without_a_write() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let err = f.grant(CEO_ROLE_GROUP, NEVER_LOGGED_IN).await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::NotProvisionable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("grant the role instead"), "{err}");
    // The permission set a profile owns.
    let err = f
        .grant("permission:0PS5g0000000002GAA:assigned", NEVER_LOGGED_IN)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::NotProvisionable { .. }),
        "{err}"
    );
    // A permission set group's aggregate set.
    let err = f
        .grant("permission:0PS5g000000000dGAA:assigned", NEVER_LOGGED_IN)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("permission_set_group:0PG5g0000000001GAA:member"),
        "{err}"
    );
    // Well-formed ids of records that do not exist.
    let err = f
        .grant("permission:0PS5g00000000ZZ:assigned", NEVER_LOGGED_IN)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::NotFound {
                argument: "entitlement",
                ..
            }
        ),
        "{err}"
    );
    let err = f
        .grant(REPORT_BUILDER, "user:0055g00000000ZZ")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::NotFound {
                argument: "principal",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit(), Exit::Usage);
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn dry_runs_read_but_make_no_write_calls() {
    let f = Fixture::new().await;
    let rows_before = f.emulator.stats().rows;
    f.emulator.reset_stats();
    let cases = [
        (
            SUPPORT_AGENT_EXTRAS,
            NEVER_LOGGED_IN,
            "POST",
            "PermissionSetAssignment",
        ),
        (
            SALES_BUNDLE,
            NEVER_LOGGED_IN,
            "POST",
            "PermissionSetAssignment",
        ),
        (ALL_STAFF, NEVER_LOGGED_IN, "POST", "GroupMember"),
        (
            CRM_ANALYTICS_PSL,
            NEVER_LOGGED_IN,
            "POST",
            "PermissionSetLicenseAssign",
        ),
        (CFO, NOROLE_USER, "PATCH", "User"),
        (READ_ONLY, SALES_REP, "PATCH", "User"),
    ];
    for (entitlement, principal, method, object) in cases {
        let report = f
            .grant_with(entitlement, principal, None, true)
            .await
            .unwrap();
        assert!(report.dry_run);
        assert!(!report.outcome.is_no_op(), "{entitlement}");
        assert!(report.grant.is_none());
        assert_eq!(report.calls.len(), 1);
        assert_eq!(report.calls[0].method, method);
        assert!(
            report.calls[0]
                .path
                .contains(&format!("/sobjects/{object}")),
            "{}",
            report.calls[0]
        );
        assert!(report.api_calls > 0, "a dry run reads");
    }
    // Revokes of what exists, the profile revoke with its least-privilege target.
    let report = f
        .revoke_with(REPORT_BUILDER, NEVER_LOGGED_IN, true)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert_eq!(report.calls[0].method, "DELETE");
    let report = f.revoke_with(STANDARD_USER, SALES_REP, true).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert_eq!(
        report.calls[0].body,
        Some(json!({"ProfileId": MINIMUM_ACCESS}))
    );
    assert!(report.replacement.is_none());

    let stats = f.emulator.stats();
    assert!(stats.api_requests > 0);
    assert_eq!(
        write_calls(&f.emulator),
        0,
        "{:?}",
        stats.requests_by_endpoint
    );
    assert_eq!(stats.rows, rows_before);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_REP), "ProfileId"),
        json!(sf(STANDARD_USER))
    );
    let lines = f.audit_lines();
    assert_eq!(lines.len(), cases.len() + 2, "dry runs are logged");
    assert!(lines.iter().all(|l| l["dry_run"] == true));
}

#[tokio::test]
async fn writes_need_provisioning_but_dry_runs_do_not() {
    let f = Fixture::new().await;
    let off = f.provisioner.clone().with_provisioning(false);
    f.emulator.reset_stats();
    let request = GrantRequest {
        entitlement: e(SUPPORT_AGENT_EXTRAS),
        principal: r(NEVER_LOGGED_IN),
        expires_at: None,
    };
    let err = provision::grant(&off, &request, &options(false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::ProvisioningDisabled { .. }),
        "{err}"
    );
    assert_eq!(err.exit(), Exit::Usage);
    assert!(err.hint().unwrap().contains("--provisioning"));
    assert_eq!(
        f.emulator.stats().api_requests,
        0,
        "refused before any call"
    );
    let line = f.audit_lines().pop().unwrap();
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["error"]["code"], "provisioning_disabled");

    let report = provision::grant(&off, &request, &options(true))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Granted);
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn every_write_leaves_an_audit_line_without_secrets() {
    let f = Fixture::new().await;
    f.grant(CFO, NOROLE_USER).await.unwrap();
    f.grant(CFO, NOROLE_USER).await.unwrap();
    f.revoke(CFO, NOROLE_USER).await.unwrap();
    let _ = f
        .grant(STANDARD_PLATFORM_USER, SALES_REP)
        .await
        .unwrap_err();
    let lines = f.audit_lines();
    assert_eq!(lines.len(), 4);
    let first = &lines[0];
    assert_eq!(first["request_id"], "test-request-1");
    assert_eq!(first["operation"], "grant");
    assert_eq!(first["dry_run"], false);
    assert_eq!(first["target"]["grant_id"], format!("{CFO}:{NOROLE_USER}"));
    assert_eq!(first["target"]["entitlement_id"], CFO);
    assert_eq!(first["target"]["principal_id"], NOROLE_USER);
    assert_eq!(first["outcome"], "granted");
    assert_eq!(first["before"]["User"]["UserRoleId"], Value::Null);
    assert_eq!(first["after"]["User"]["UserRoleId"], json!(sf(CFO)));
    assert_eq!(first["calls"][0]["method"], "PATCH");
    assert!(first["api_calls"].as_u64().unwrap() >= 3);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["outcome"], "already_exists");
    assert_eq!(lines[1]["calls"], json!([]));
    assert_eq!(lines[2]["operation"], "revoke");
    assert_eq!(lines[2]["outcome"], "revoked");
    assert_eq!(lines[3]["outcome"], "failed");
    assert_eq!(lines[3]["error"]["code"], "license_mismatch");
    let text = std::fs::read_to_string(f.dir.path().join("audit.jsonl")).unwrap();
    let c = f.emulator.credentials();
    for secret in [
        &c.client_secret,
        &c.password,
        &c.security_token,
        &c.refresh_token,
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "the audit log holds a secret"
        );
    }
    assert!(!text.to_ascii_lowercase().contains("bearer"));
}

#[tokio::test]
async fn provisioning_futures_can_be_spawned() {
    // The HTTP service runs these on a multi-threaded runtime.
    let f = Fixture::new().await;
    let provisioner = f.provisioner.clone();
    let handle = tokio::spawn(async move {
        let request = GrantRequest {
            entitlement: e(ALL_STAFF),
            principal: r(NEVER_LOGGED_IN),
            expires_at: None,
        };
        provision::grant(&provisioner, &request, &options(false)).await
    });
    assert_eq!(handle.await.unwrap().unwrap().outcome, Outcome::Granted);
}

// ---------------------------------------------------------------------------------------
// create-account

fn account(email: &str, profile: &str) -> AccountRequest {
    AccountRequest::new(email, "Ada", "Lovelace", ProfileRef::parse(profile))
}

#[tokio::test]
async fn create_account_creates_a_user_then_reports_it_as_existing() {
    let f = Fixture::new().await;
    let mut request = account("ada.lovelace@example.com", "Standard User");
    request.timezone = Some("Europe/London".into());
    request.federation_id = Some("ada-1815".into());
    request.fields = vec![("Department".into(), json!("Engineering"))];
    let report = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Created);
    let user = report.user.expect("the created user");
    user.validate().unwrap();
    let json = serde_json::to_value(&user).unwrap();
    assert_eq!(json["user"]["username"], "ada.lovelace@example.com");
    assert_eq!(json["user"]["status"], "enabled");
    assert_eq!(json["user"]["profile"], "profile:00e5g0000000002AAA");
    assert_eq!(json["user"]["federation_id"], "ada-1815");
    let id = user.id.sf_id().to_string();
    assert_eq!(
        field_of(&f.emulator, &id, "TimeZoneSidKey"),
        "Europe/London"
    );
    assert_eq!(field_of(&f.emulator, &id, "Alias"), "alove");
    assert_eq!(field_of(&f.emulator, &id, "Department"), "Engineering");
    let body = report.calls[0].body.clone().unwrap();
    assert!(!body.to_string().to_ascii_lowercase().contains("password"));

    f.emulator.reset_stats();
    let again = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyExists);
    assert_eq!(again.user.unwrap().id, user.id);
    assert_eq!(
        write_calls(&f.emulator),
        0,
        "an existing active user is left alone"
    );
}

#[tokio::test]
async fn create_account_defaults_the_time_zone_to_the_orgs() {
    let f = Fixture::new().await;
    let report = provision::create_account(
        &f.provisioner,
        &account("grace.hopper@example.com", "00e5g0000000002AAA"),
        &options(false),
    )
    .await
    .unwrap();
    let id = report.user.unwrap().id.sf_id().to_string();
    assert_eq!(
        field_of(&f.emulator, &id, "TimeZoneSidKey"),
        "America/Los_Angeles"
    );
}

#[tokio::test]
async fn create_account_reactivates_an_inactive_user_only_when_asked() {
    let f = Fixture::new().await;
    let username = "inactive.user@acme-1.example";
    let mut request = account(username, "Standard User");
    f.emulator.reset_stats();
    let err = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::InactiveUserExists { .. }),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("--reactivate"));
    assert_eq!(write_calls(&f.emulator), 0);
    assert_eq!(field_of(&f.emulator, &sf(INACTIVE_USER), "IsActive"), false);

    request.reactivate = true;
    let report = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Reactivated);
    assert_eq!(report.calls.len(), 1);
    assert_eq!(report.calls[0].body, Some(json!({"IsActive": true})));
    assert_eq!(field_of(&f.emulator, &sf(INACTIVE_USER), "IsActive"), true);
    assert_eq!(report.user.unwrap().id, r(INACTIVE_USER));
}

#[tokio::test]
async fn create_account_on_a_full_license_fails_before_any_write() {
    let f = Fixture::new().await;
    let users_before = f.emulator.stats().rows["User"];
    f.emulator.reset_stats();
    let err = provision::create_account(
        &f.provisioner,
        &account("new.platform@example.com", "Standard Platform User"),
        &options(false),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProvisionError::LicenseFull { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "license Salesforce Platform (AUL) has no free seat (2 of 2 used); nothing was changed"
    );
    assert_eq!(write_calls(&f.emulator), 0);
    assert_eq!(f.emulator.stats().rows["User"], users_before);
}

#[tokio::test]
async fn create_account_refuses_bad_values_before_any_call_and_quotes_names() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let mut request = account("ada@example.com", "Standard User");
    request.alias = Some("toolongalias".into());
    let err = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ProvisionError::InvalidArgument {
            argument: "alias",
            ..
        }
    ));
    let mut request = account("ada@example.com", "Standard User");
    request.timezone = Some("Mars/Olympus".into());
    assert!(
        provision::create_account(&f.provisioner, &request, &options(false))
            .await
            .is_err()
    );
    let request = account("x' OR Username != '@example.com", "Standard User");
    assert!(
        provision::create_account(&f.provisioner, &request, &options(false))
            .await
            .is_err()
    );
    assert_eq!(f.emulator.stats().api_requests, 0);
    // A profile name is free text: it reaches SOQL quoted, so an injection finds nothing.
    let request = account("ada@example.com", "x' OR Name != '");
    let err = provision::create_account(&f.provisioner, &request, &options(false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::NotFound {
                argument: "profile",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn create_account_dry_run_plans_the_insert_and_writes_nothing() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let report = provision::create_account(
        &f.provisioner,
        &account("dry.run@example.com", "Standard User"),
        &options(true),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Created);
    assert!(report.user.is_none());
    assert_eq!(report.calls[0].method, "POST");
    assert_eq!(
        report.calls[0].body.as_ref().unwrap()["Username"],
        "dry.run@example.com"
    );
    assert_eq!(write_calls(&f.emulator), 0);
    assert!(
        rows_where(
            &f.emulator,
            "User",
            &[("Username", json!("dry.run@example.com"))]
        )
        .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Random sequences of grants and revokes against an in-memory model.

mod model {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use sf_access::model::ResourceTypeId;
    use sf_access::store::{GrantFilter, PageRequest, Store};
    use sf_access::sync::{StoreTarget, SyncOptions};

    use super::*;

    const USERS: [&str; 3] = [NEVER_LOGGED_IN, NOROLE_USER, SALES_ASSOCIATE];
    /// Entitlements made by rows: (entitlement, object, user field, target field, extra).
    const ROW_ENTITLEMENTS: [&str; 6] = [
        REPORT_BUILDER,
        SUPPORT_AGENT_EXTRAS,
        SALES_BUNDLE,
        ALL_STAFF,
        SUPPORT_QUEUE,
        CRM_ANALYTICS_PSL,
    ];
    const ROLES: [&str; 2] = [CFO, SUPPORT_MANAGER];

    #[derive(Debug, Clone)]
    enum Op {
        Grant(usize, usize),
        Revoke(usize, usize),
    }

    fn entitlement(i: usize) -> &'static str {
        if i < ROW_ENTITLEMENTS.len() {
            ROW_ENTITLEMENTS[i]
        } else {
            ROLES[i - ROW_ENTITLEMENTS.len()]
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let n = ROW_ENTITLEMENTS.len() + ROLES.len();
        (any::<bool>(), 0..n, 0..USERS.len()).prop_map(|(grant, e, u)| {
            if grant {
                Op::Grant(e, u)
            } else {
                Op::Revoke(e, u)
            }
        })
    }

    /// The model: row grants held, and each user's role.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct State {
        rows: BTreeSet<(&'static str, &'static str)>,
        roles: BTreeMap<&'static str, Option<String>>,
    }

    /// Reads the state of the universe from the org.
    fn read(emulator: &EmulatorHandle) -> State {
        let mut rows = BTreeSet::new();
        let mut roles = BTreeMap::new();
        for user in USERS {
            for entitlement in ROW_ENTITLEMENTS {
                let resource = sf(entitlement);
                let held = match entitlement.split(':').next().unwrap() {
                    "permission" => !rows_where(
                        emulator,
                        "PermissionSetAssignment",
                        &[
                            ("AssigneeId", json!(sf(user))),
                            ("PermissionSetId", json!(resource)),
                            ("PermissionSetGroupId", Value::Null),
                        ],
                    )
                    .is_empty(),
                    "permission_set_group" => !rows_where(
                        emulator,
                        "PermissionSetAssignment",
                        &[
                            ("AssigneeId", json!(sf(user))),
                            ("PermissionSetGroupId", json!(resource)),
                        ],
                    )
                    .is_empty(),
                    "group" => !rows_where(
                        emulator,
                        "GroupMember",
                        &[
                            ("GroupId", json!(resource)),
                            ("UserOrGroupId", json!(sf(user))),
                        ],
                    )
                    .is_empty(),
                    "license" => !rows_where(
                        emulator,
                        "PermissionSetLicenseAssign",
                        &[
                            ("AssigneeId", json!(sf(user))),
                            ("PermissionSetLicenseId", json!(resource)),
                        ],
                    )
                    .is_empty(),
                    other => unreachable!("{other}"),
                };
                if held {
                    rows.insert((entitlement, user));
                }
            }
            let role = field_of(emulator, &sf(user), "UserRoleId");
            roles.insert(user, role.as_str().map(str::to_owned));
        }
        State { rows, roles }
    }

    /// What the model predicts for an operation, and the state after it.
    fn predict(state: &mut State, op: &Op) -> Outcome {
        match *op {
            Op::Grant(e, u) | Op::Revoke(e, u) => {
                let (entitlement, user) = (entitlement(e), USERS[u]);
                let grant = matches!(op, Op::Grant(..));
                if e < ROW_ENTITLEMENTS.len() {
                    let held = state.rows.contains(&(entitlement, user));
                    match (grant, held) {
                        (true, true) => Outcome::AlreadyExists,
                        (true, false) => {
                            state.rows.insert((entitlement, user));
                            Outcome::Granted
                        }
                        (false, true) => {
                            state.rows.remove(&(entitlement, user));
                            Outcome::Revoked
                        }
                        (false, false) => Outcome::AlreadyRevoked,
                    }
                } else {
                    let role = sf(entitlement);
                    let current = state.roles.get(user).cloned().flatten();
                    match (grant, current) {
                        (true, Some(c)) if c == role => Outcome::AlreadyExists,
                        (true, previous) => {
                            state.roles.insert(user, Some(role));
                            match previous {
                                Some(p) => Outcome::Replaced {
                                    previous: r(&format!("role:{p}")),
                                },
                                None => Outcome::Granted,
                            }
                        }
                        (false, Some(c)) if c == role => {
                            state.roles.insert(user, None);
                            Outcome::Revoked
                        }
                        (false, _) => Outcome::AlreadyRevoked,
                    }
                }
            }
        }
    }

    async fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let f = Fixture::new().await;
        let mut model = read(&f.emulator);
        for op in &ops {
            let expected = predict(&mut model, op);
            let report = match *op {
                Op::Grant(e, u) => f.grant(entitlement(e), USERS[u]).await,
                Op::Revoke(e, u) => f.revoke(entitlement(e), USERS[u]).await,
            }
            .map_err(|err| TestCaseError::fail(format!("{op:?}: {err}")))?;
            prop_assert_eq!(&report.outcome, &expected, "{:?}", op);
            prop_assert_eq!(report.calls.is_empty(), expected.is_no_op(), "{:?}", op);
        }
        prop_assert_eq!(read(&f.emulator), model.clone());
        prop_assert_eq!(f.audit_lines().len(), ops.len());
        prop_assert_eq!(synced(&f).await, model);
        Ok(())
    }

    /// A sync of the org after the sequence, read back from the store: the direct grants of
    /// the universe, in the model's shape.
    async fn synced(f: &Fixture) -> State {
        let target = StoreTarget::new(f.dir.path().join("store.db"));
        let options = SyncOptions {
            sync_connected_apps: false,
            sync_deactivated_users: true,
            sync_non_standard_users: false,
            user_username_for_email: false,
            // Small pages and incremental: objects untouched by the sequence are copied from
            // the previous sync of the same store, and must still agree with the model.
            batch_size: sf_access::salesforce::BatchSize::MIN,
            concurrent_pages: true,
            incremental: true,
            ..SyncOptions::default()
        };
        let report = sf_access::sync::run(
            f.provisioner.client(),
            &target,
            &options,
            &sf_access::sync::Quiet,
            std::future::pending::<()>(),
        )
        .await
        .expect("the sync succeeds");
        let store = Store::open_existing(&target.path).expect("the store opens");
        let held = |entitlement: &str, user: &str| {
            store
                .grant(report.run, GrantId::new(e(entitlement), r(user)))
                .expect("the store reads")
                .is_some_and(|g| g.direct)
        };
        let mut rows = BTreeSet::new();
        let mut roles = BTreeMap::new();
        for user in USERS {
            for entitlement in ROW_ENTITLEMENTS {
                if held(entitlement, user) {
                    rows.insert((entitlement, user));
                }
            }
            let all_roles = store
                .grants(
                    report.run,
                    &GrantFilter {
                        principal: Some(r(user)),
                        ..GrantFilter::default()
                    },
                    &PageRequest::first(),
                )
                .expect("the store reads");
            let role = all_roles
                .items
                .iter()
                .filter(|g| {
                    g.direct && g.entitlement_id.resource_id().type_id() == ResourceTypeId::Role
                })
                .map(|g| g.entitlement_id.resource_id().sf_id().to_string())
                .next();
            roles.insert(user, role);
        }
        State { rows, roles }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        #[test]
        fn random_grants_and_revokes_leave_the_org_as_the_model_predicts(
            ops in proptest::collection::vec(op(), 1..16)
        ) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(check(ops))?;
        }
    }
}
