//! Grant and revoke, one entitlement to one principal, idempotently.
//!
//! | entitlement | grant | revoke |
//! |---|---|---|
//! | `permission:*:assigned` | insert PermissionSetAssignment (ExpirationDate when given) | delete it |
//! | `permission_set_group:*:member` | insert PermissionSetAssignment with PermissionSetGroupId | delete it |
//! | `group:*:member` | insert GroupMember (user or nested group principal) | delete it |
//! | `role:*:assigned` | set User.UserRoleId | clear it, only if the user still holds that role |
//! | `profile:*:assigned` | set User.ProfileId, after checking the profile's license is the user's | move the user to the least-privilege profile of their license, only if they still hold the revoked profile |
//! | `license:0PL*:assigned` | insert PermissionSetLicenseAssign | delete it |
//!
//! Each call reads the current state first: what already holds is reported without a write
//! (`already_exists`, `already_revoked`); a role or profile that replaces another reports the
//! previous one (`replaced`). After a write the row or field is read back and the grant is
//! returned as Salesforce now shows it. Arguments are checked before any call: the principal's
//! type, the expiration (only assignments expire, and only in the future).
//!
//! Not provisionable: user licenses (they come with the profile), connected-app entitlements
//! (`access` comes from a permission set or profile, `authorized` is the user's own OAuth
//! consent), and role or organization groups (Salesforce maintains their members).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::AuditTarget;
use super::least_privilege;
use super::session::{Change, Finished, Session, Write};
use super::user::{read_user, resource_id};
use super::{
    Operation, Outcome, PlannedCall, ProvisionError, Provisioner, RequestId, WriteOptions,
};
use crate::model::{EntitlementId, Grant, GrantId, ResourceId, ResourceTypeId};
use crate::salesforce::objects::provisioning::{
    AssignmentRecord, AssignmentTarget, GroupMemberRecord, GroupRecord, LicenseAssignmentRecord,
    PermissionSetGroupRecord, PermissionSetLicenseRecord, PermissionSetRecord, ProfileRecord,
    RoleRecord, UserRecord,
};
use crate::salesforce::{SalesforceError, SfId, Soql};

/// A grant to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// The entitlement, e.g. `permission:0PS...:assigned`.
    pub entitlement: EntitlementId,
    /// Who gets it: a user (or, for `group:*:member`, a group).
    pub principal: ResourceId,
    /// When the grant ends; permission set and permission set group assignments only.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a grant or revoke did (in a dry run: would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantReport {
    /// The caller's request id.
    pub request_id: RequestId,
    /// `grant` or `revoke`.
    pub operation: Operation,
    /// True when nothing was written.
    pub dry_run: bool,
    /// The grant concerned.
    pub grant_id: GrantId,
    /// What happened: `{"outcome": "replaced", "previous": "role:..."}` and the like.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The grant as Salesforce shows it after the call (absent once revoked, and in a dry run
    /// that would write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    /// For a profile revoke: the least-privilege profile the user was moved to, as a grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Grant>,
    /// The affected Salesforce values before, as read.
    pub before: Value,
    /// The affected Salesforce values after, as read back (`null` in a dry run that would
    /// write).
    pub after: Value,
    /// The write calls made; in a dry run, the exact calls that would be made.
    pub calls: Vec<PlannedCall>,
    /// Salesforce API calls spent, reads included.
    pub api_calls: u64,
}

/// The grants a call returns besides its outcome.
#[derive(Debug, Default)]
struct Grants {
    grant: Option<Grant>,
    replacement: Option<Grant>,
}

impl GrantReport {
    fn new(
        options: &WriteOptions,
        operation: Operation,
        grant_id: GrantId,
        finished: Finished<Grants>,
    ) -> GrantReport {
        GrantReport {
            request_id: options.request_id.clone(),
            operation,
            dry_run: options.dry_run,
            grant_id,
            outcome: finished.outcome,
            grant: finished.extra.grant,
            replacement: finished.extra.replacement,
            before: finished.before,
            after: finished.after,
            calls: finished.calls,
            api_calls: finished.api_calls,
        }
    }
}

/// Grants an entitlement. See the module docs for what each entitlement writes.
pub async fn grant(
    provisioner: &Provisioner,
    request: &GrantRequest,
    options: &WriteOptions,
) -> Result<GrantReport, ProvisionError> {
    let grant_id = GrantId::new(request.entitlement, request.principal);
    let target = Target::of(request.entitlement)?;
    target.check_principal(request.entitlement, request.principal)?;
    let expires = target.check_expiration(request.expires_at, Utc::now())?;
    let session = provisioner.begin(options, Operation::Grant, AuditTarget::grant(grant_id))?;
    let result = grant_in(&session, grant_id, target, expires).await;
    let finished = session.finish(result)?;
    Ok(GrantReport::new(
        options,
        Operation::Grant,
        grant_id,
        finished,
    ))
}

/// Revokes a grant. See the module docs for what each entitlement writes; a profile revoke
/// needs the least-privilege mapping for the user's license.
pub async fn revoke(
    provisioner: &Provisioner,
    grant_id: GrantId,
    options: &WriteOptions,
) -> Result<GrantReport, ProvisionError> {
    let target = Target::of(grant_id.entitlement_id())?;
    target.check_principal(grant_id.entitlement_id(), grant_id.principal_id())?;
    let session = provisioner.begin(options, Operation::Revoke, AuditTarget::grant(grant_id))?;
    let result = revoke_in(&session, grant_id, target).await;
    let finished = session.finish(result)?;
    Ok(GrantReport::new(
        options,
        Operation::Revoke,
        grant_id,
        finished,
    ))
}

/// What an entitlement's resource is in Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    PermissionSet(SfId),
    PermissionSetGroup(SfId),
    Group(SfId),
    Role(SfId),
    Profile(SfId),
    PermissionSetLicense(SfId),
}

impl Target {
    fn of(entitlement: EntitlementId) -> Result<Target, ProvisionError> {
        let resource = entitlement.resource_id();
        let id = resource.sf_id();
        let refuse = |reason: String| ProvisionError::NotProvisionable {
            entitlement,
            reason,
        };
        match resource.type_id() {
            ResourceTypeId::Permission => Ok(Target::PermissionSet(id)),
            ResourceTypeId::PermissionSetGroup => Ok(Target::PermissionSetGroup(id)),
            ResourceTypeId::Group => Ok(Target::Group(id)),
            ResourceTypeId::Role => Ok(Target::Role(id)),
            ResourceTypeId::Profile => Ok(Target::Profile(id)),
            ResourceTypeId::License if id.key_prefix() == "0PL" => {
                Ok(Target::PermissionSetLicense(id))
            }
            ResourceTypeId::License => Err(refuse(
                "a user license comes with the user's profile; grant a profile of this license \
                 (profile:<ID>:assigned) instead"
                    .into(),
            )),
            ResourceTypeId::ConnectedApplication => Err(refuse(
                "app access comes from a permission set or profile that includes the app (grant \
                 that permission set instead), and `authorized` is the user's own OAuth consent"
                    .into(),
            )),
            ResourceTypeId::User => Err(refuse("users have no entitlements".into())),
        }
    }

    fn check_principal(
        self,
        entitlement: EntitlementId,
        principal: ResourceId,
    ) -> Result<(), ProvisionError> {
        match (self, principal.type_id()) {
            (_, ResourceTypeId::User) => Ok(()),
            (Target::Group(group), ResourceTypeId::Group) if group == principal.sf_id() => Err(
                ProvisionError::argument("principal", "a group cannot be a member of itself"),
            ),
            (Target::Group(_), ResourceTypeId::Group) => Ok(()),
            (Target::Group(_), _) => Err(ProvisionError::argument(
                "principal",
                format!(
                    "members of a group are users or groups (user:005... or group:00G...), not \
                     {principal}"
                ),
            )),
            _ => Err(ProvisionError::argument(
                "principal",
                format!(
                    "{} is granted to users (user:005...), not to {principal}",
                    entitlement.resource_id().type_id()
                ),
            )),
        }
    }

    /// Only assignments expire (PermissionSetAssignment.ExpirationDate), and only in the
    /// future. Salesforce keeps milliseconds, so the time is cut to them: comparing with what
    /// is read back must not see a difference that Salesforce cannot store.
    fn check_expiration(
        self,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ProvisionError> {
        let Some(expires) = expires else {
            return Ok(None);
        };
        if !matches!(
            self,
            Target::PermissionSet(_) | Target::PermissionSetGroup(_)
        ) {
            return Err(ProvisionError::argument(
                "expires_at",
                "only permission set and permission set group assignments can expire in \
                 Salesforce (PermissionSetAssignment.ExpirationDate); leave --expires-at out",
            ));
        }
        if expires <= now {
            return Err(ProvisionError::argument(
                "expires_at",
                format!(
                    "{} is not in the future; give a future time in RFC 3339, e.g. 2030-01-31T17:00:00Z",
                    expires.to_rfc3339()
                ),
            ));
        }
        Ok(DateTime::from_timestamp_millis(expires.timestamp_millis()))
    }
}

// ---------------------------------------------------------------------------------------
// Reads of the entitlement's resource: existence and fitness for a grant.

async fn read_one<T>(
    session: &Session<'_>,
    soql: Soql,
    what: &str,
    argument: &'static str,
    id: ResourceId,
) -> Result<T, ProvisionError>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    session
        .query_first::<T>(&soql)
        .await
        .map_err(|e| ProvisionError::salesforce(format!("reading {what} {id}"), e))?
        .ok_or_else(|| ProvisionError::NotFound {
            argument,
            id: id.to_string(),
            detail: format!(" (no {what} with this ID)"),
        })
}

async fn check_permission_set(
    session: &Session<'_>,
    entitlement: EntitlementId,
    set: SfId,
) -> Result<(), ProvisionError> {
    let record: PermissionSetRecord = read_one(
        session,
        PermissionSetRecord::by_id(set),
        "PermissionSet",
        "entitlement",
        entitlement.resource_id(),
    )
    .await?;
    if record.is_owned_by_profile {
        return Err(ProvisionError::NotProvisionable {
            entitlement,
            reason: format!(
                "permission set {} is owned by a profile; grant that profile (profile:<ID>:assigned) instead",
                record.name
            ),
        });
    }
    if let Some(group) = record.permission_set_group_id {
        return Err(ProvisionError::NotProvisionable {
            entitlement,
            reason: format!(
                "permission set {} is the aggregate of a permission set group; grant \
                 permission_set_group:{group}:member instead",
                record.name
            ),
        });
    }
    Ok(())
}

async fn check_group(
    session: &Session<'_>,
    argument: &'static str,
    entitlement: EntitlementId,
    group: ResourceId,
) -> Result<(), ProvisionError> {
    let record: GroupRecord = read_one(
        session,
        GroupRecord::by_id(group.sf_id()),
        "Group",
        argument,
        group,
    )
    .await?;
    if argument == "entitlement" && !record.has_managed_members() {
        return Err(ProvisionError::NotProvisionable {
            entitlement,
            reason: format!(
                "the members of {} groups are maintained by Salesforce (a role group follows \
                 User.UserRoleId); grant the role instead",
                record.group_type.as_deref().unwrap_or("this")
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Grants made by a row: PermissionSetAssignment, GroupMember, PermissionSetLicenseAssign.

/// A grant that is one row of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowGrant {
    Assignment {
        user: SfId,
        target: AssignmentTarget,
    },
    Membership {
        group: SfId,
        member: SfId,
    },
    License {
        user: SfId,
        license: SfId,
    },
}

/// A grant row as read, whatever its object.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: SfId,
    expires: Option<DateTime<Utc>>,
    state: Value,
}

impl RowGrant {
    fn object(self) -> &'static str {
        match self {
            RowGrant::Assignment { .. } => "PermissionSetAssignment",
            RowGrant::Membership { .. } => "GroupMember",
            RowGrant::License { .. } => "PermissionSetLicenseAssign",
        }
    }

    fn state(self, row: Option<&Row>) -> Value {
        json!({ self.object(): row.map(|r| r.state.clone()) })
    }

    async fn query(self, session: &Session<'_>, soql: Soql) -> Result<Vec<Row>, SalesforceError> {
        Ok(match self {
            RowGrant::Assignment { .. } => session
                .query::<AssignmentRecord>(&soql)
                .await?
                .into_iter()
                .map(|r| Row {
                    id: r.id,
                    expires: r.expiration_date,
                    state: json!({
                        "Id": r.id,
                        "AssigneeId": r.assignee_id,
                        "PermissionSetId": r.permission_set_id,
                        "PermissionSetGroupId": r.permission_set_group_id,
                        "ExpirationDate": r.expiration_date,
                    }),
                })
                .collect(),
            RowGrant::Membership { .. } => session
                .query::<GroupMemberRecord>(&soql)
                .await?
                .into_iter()
                .map(|r| Row {
                    id: r.id,
                    expires: None,
                    state: json!({"Id": r.id, "GroupId": r.group_id, "UserOrGroupId": r.user_or_group_id}),
                })
                .collect(),
            RowGrant::License { .. } => session
                .query::<LicenseAssignmentRecord>(&soql)
                .await?
                .into_iter()
                .map(|r| Row {
                    id: r.id,
                    expires: None,
                    state: json!({
                        "Id": r.id,
                        "AssigneeId": r.assignee_id,
                        "PermissionSetLicenseId": r.permission_set_license_id,
                    }),
                })
                .collect(),
        })
    }

    /// The rows that make this grant (one, unless Salesforce holds duplicates).
    async fn find(self, session: &Session<'_>) -> Result<Vec<Row>, ProvisionError> {
        let soql = match self {
            RowGrant::Assignment { user, target } => AssignmentRecord::of(user, target),
            RowGrant::Membership { group, member } => GroupMemberRecord::of(group, member),
            RowGrant::License { user, license } => LicenseAssignmentRecord::of(user, license),
        };
        self.query(session, soql)
            .await
            .map_err(|e| ProvisionError::salesforce(format!("reading {}", self.object()), e))
    }

    async fn read_by_id(
        self,
        session: &Session<'_>,
        id: SfId,
    ) -> Result<Option<Row>, ProvisionError> {
        let soql = match self {
            RowGrant::Assignment { .. } => AssignmentRecord::by_id(id),
            RowGrant::Membership { .. } => GroupMemberRecord::by_id(id),
            RowGrant::License { .. } => LicenseAssignmentRecord::by_id(id),
        };
        Ok(self
            .query(session, soql)
            .await
            .map_err(|e| ProvisionError::salesforce(format!("reading {} {id}", self.object()), e))?
            .into_iter()
            .next())
    }

    fn insert(self, expires: Option<DateTime<Utc>>) -> Write {
        let body = match self {
            RowGrant::Assignment { user, target } => {
                AssignmentRecord::insert(user, target, expires)
            }
            RowGrant::Membership { group, member } => GroupMemberRecord::insert(group, member),
            RowGrant::License { user, license } => LicenseAssignmentRecord::insert(user, license),
        };
        Write::Create {
            object: self.object(),
            body,
        }
    }
}

fn row_grant(id: GrantId, row: &Row) -> Grant {
    let mut grant = Grant::direct(id.entitlement_id(), id.principal_id());
    grant.expires_at = row.expires;
    grant.details.record_id = Some(row.id);
    grant
}

fn no_op(outcome: Outcome, after: Value, grant: Option<Grant>) -> (Change, Grants) {
    (
        Change { outcome, after },
        Grants {
            grant,
            replacement: None,
        },
    )
}

async fn grant_row(
    session: &Session<'_>,
    id: GrantId,
    kind: RowGrant,
    expires: Option<DateTime<Utc>>,
) -> Result<(Change, Grants), ProvisionError> {
    let rows = kind.find(session).await?;
    let before = kind.state(rows.first());
    session.set_before(before.clone());
    let now = Utc::now();
    let (outcome, write) = match rows.first() {
        None => (Outcome::Granted, kind.insert(expires)),
        // An assignment past its expiration gives no access (Salesforce removes such rows
        // shortly after); moving its expiration makes it grant again.
        Some(row) if row.expires.is_some_and(|t| t <= now) => (
            Outcome::Granted,
            Write::Update {
                object: kind.object(),
                id: row.id,
                body: AssignmentRecord::set_expiration(expires),
            },
        ),
        Some(row) => match expires {
            Some(wanted) if row.expires != Some(wanted) => (
                Outcome::ExpirationChanged {
                    previous_expires_at: row.expires,
                },
                Write::Update {
                    object: kind.object(),
                    id: row.id,
                    body: AssignmentRecord::set_expiration(Some(wanted)),
                },
            ),
            _ => {
                return Ok(no_op(
                    Outcome::AlreadyExists,
                    before,
                    Some(row_grant(id, row)),
                ));
            }
        },
    };
    let written = match session.write(write).await {
        Ok(written) => written,
        // Assigned by someone else between our read and our insert: it exists now.
        Err(e) if e.code() == Some("DUPLICATE_VALUE") => {
            let rows = kind.find(session).await?;
            return match rows.first() {
                Some(row) => Ok(no_op(
                    Outcome::AlreadyExists,
                    kind.state(Some(row)),
                    Some(row_grant(id, row)),
                )),
                None => Err(ProvisionError::salesforce(format!("granting {id}"), e)),
            };
        }
        Err(e) => return Err(ProvisionError::salesforce(format!("granting {id}"), e)),
    };
    if session.is_dry_run() {
        return Ok(no_op(outcome, Value::Null, None));
    }
    let row_id = written.or(rows.first().map(|r| r.id)).ok_or_else(|| {
        ProvisionError::Unexpected(format!("no {} ID after the write", kind.object()))
    })?;
    let row = kind
        .read_by_id(session, row_id)
        .await?
        .ok_or_else(|| ProvisionError::PostState {
            expected: format!("{} {row_id}", kind.object()),
            found: "no such row".into(),
        })?;
    if row.expires != expires {
        return Err(ProvisionError::PostState {
            expected: format!("ExpirationDate {}", describe_time(expires)),
            found: format!("ExpirationDate {}", describe_time(row.expires)),
        });
    }
    Ok((
        Change {
            outcome,
            after: kind.state(Some(&row)),
        },
        Grants {
            grant: Some(row_grant(id, &row)),
            replacement: None,
        },
    ))
}

fn describe_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339())
}

async fn revoke_row(
    session: &Session<'_>,
    id: GrantId,
    kind: RowGrant,
) -> Result<(Change, Grants), ProvisionError> {
    let rows = kind.find(session).await?;
    let before = kind.state(rows.first());
    session.set_before(before.clone());
    if rows.is_empty() {
        return Ok(no_op(Outcome::AlreadyRevoked, before, None));
    }
    for row in &rows {
        let delete = Write::Delete {
            object: kind.object(),
            id: row.id,
        };
        match session.write(delete).await {
            Ok(_) => {}
            // Deleted by someone else between our read and our delete.
            Err(e) if matches!(e.code(), Some("ENTITY_IS_DELETED" | "NOT_FOUND")) => {}
            Err(e) => return Err(ProvisionError::salesforce(format!("revoking {id}"), e)),
        }
    }
    if session.is_dry_run() {
        return Ok(no_op(Outcome::Revoked, Value::Null, None));
    }
    let left = kind.find(session).await?;
    if let Some(row) = left.first() {
        return Err(ProvisionError::PostState {
            expected: format!("no {}", kind.object()),
            found: format!("{} {}", kind.object(), row.id),
        });
    }
    Ok(no_op(Outcome::Revoked, kind.state(None), None))
}

// ---------------------------------------------------------------------------------------
// Grants made by a field of the user: role and profile.

fn user_field_state(user: &UserRecord, field: &str, value: Option<SfId>) -> Value {
    json!({ "User": { "Id": user.id, field: value } })
}

async fn reread_user(session: &Session<'_>, user: SfId) -> Result<UserRecord, ProvisionError> {
    read_user(session, "principal", user).await
}

async fn grant_role(
    session: &Session<'_>,
    id: GrantId,
    role: SfId,
) -> Result<(Change, Grants), ProvisionError> {
    let _: RoleRecord = read_one(
        session,
        RoleRecord::by_id(role),
        "UserRole",
        "entitlement",
        id.entitlement_id().resource_id(),
    )
    .await?;
    let user = read_user(session, "principal", id.principal_id().sf_id()).await?;
    let before = user_field_state(&user, "UserRoleId", user.user_role_id);
    session.set_before(before.clone());
    let direct = Grant::direct(id.entitlement_id(), id.principal_id());
    let outcome = match user.user_role_id {
        Some(current) if current == role => {
            return Ok(no_op(Outcome::AlreadyExists, before, Some(direct)));
        }
        Some(previous) => Outcome::Replaced {
            previous: resource_id(ResourceTypeId::Role, previous)?,
        },
        None => Outcome::Granted,
    };
    session
        .write(Write::Update {
            object: "User",
            id: user.id,
            body: UserRecord::set_role(Some(role)),
        })
        .await
        .map_err(|e| ProvisionError::salesforce(format!("granting {id}"), e))?;
    if session.is_dry_run() {
        return Ok(no_op(outcome, Value::Null, None));
    }
    let after = reread_user(session, user.id).await?;
    if after.user_role_id != Some(role) {
        return Err(ProvisionError::PostState {
            expected: format!("UserRoleId {role}"),
            found: format!("UserRoleId {}", describe_id(after.user_role_id)),
        });
    }
    Ok(no_op(
        outcome,
        user_field_state(&after, "UserRoleId", after.user_role_id),
        Some(direct),
    ))
}

fn describe_id(id: Option<SfId>) -> String {
    id.map_or_else(|| "empty".to_owned(), |id| id.to_string())
}

async fn revoke_role(
    session: &Session<'_>,
    id: GrantId,
    role: SfId,
) -> Result<(Change, Grants), ProvisionError> {
    let user = read_user(session, "principal", id.principal_id().sf_id()).await?;
    let before = user_field_state(&user, "UserRoleId", user.user_role_id);
    session.set_before(before.clone());
    // Only clear the role the grant is about: a user moved to another role since keeps it.
    if user.user_role_id != Some(role) {
        return Ok(no_op(Outcome::AlreadyRevoked, before, None));
    }
    session
        .write(Write::Update {
            object: "User",
            id: user.id,
            body: UserRecord::set_role(None),
        })
        .await
        .map_err(|e| ProvisionError::salesforce(format!("revoking {id}"), e))?;
    if session.is_dry_run() {
        return Ok(no_op(Outcome::Revoked, Value::Null, None));
    }
    let after = reread_user(session, user.id).await?;
    if after.user_role_id.is_some() {
        return Err(ProvisionError::PostState {
            expected: "UserRoleId empty".into(),
            found: format!("UserRoleId {}", describe_id(after.user_role_id)),
        });
    }
    Ok(no_op(
        Outcome::Revoked,
        user_field_state(&after, "UserRoleId", None),
        None,
    ))
}

async fn license_name(session: &Session<'_>, id: Option<SfId>) -> Result<String, ProvisionError> {
    match id {
        Some(id) => Ok(least_privilege::read_license(session, id).await?.describe()),
        None => Ok("none".into()),
    }
}

async fn grant_profile(
    session: &Session<'_>,
    id: GrantId,
    profile: SfId,
) -> Result<(Change, Grants), ProvisionError> {
    let profile: ProfileRecord = read_one(
        session,
        ProfileRecord::by_id(profile),
        "Profile",
        "entitlement",
        id.entitlement_id().resource_id(),
    )
    .await?;
    let user = read_user(session, "principal", id.principal_id().sf_id()).await?;
    let before = user_field_state(&user, "ProfileId", user.profile_id);
    session.set_before(before.clone());
    let direct = Grant::direct(id.entitlement_id(), id.principal_id());
    if user.profile_id == Some(profile.id) {
        return Ok(no_op(Outcome::AlreadyExists, before, Some(direct)));
    }
    if profile.user_license_id != user.license_id() {
        return Err(ProvisionError::LicenseMismatch {
            profile: format!("{:?} ({})", profile.name, profile.id),
            profile_license: license_name(session, profile.user_license_id).await?,
            user: id.principal_id(),
            user_license: license_name(session, user.license_id()).await?,
        });
    }
    let outcome = match user.profile_id {
        Some(previous) => Outcome::Replaced {
            previous: resource_id(ResourceTypeId::Profile, previous)?,
        },
        None => Outcome::Granted,
    };
    session
        .write(Write::Update {
            object: "User",
            id: user.id,
            body: UserRecord::set_profile(profile.id),
        })
        .await
        .map_err(|e| ProvisionError::salesforce(format!("granting {id}"), e))?;
    if session.is_dry_run() {
        return Ok(no_op(outcome, Value::Null, None));
    }
    let after = reread_user(session, user.id).await?;
    if after.profile_id != Some(profile.id) {
        return Err(ProvisionError::PostState {
            expected: format!("ProfileId {}", profile.id),
            found: format!("ProfileId {}", describe_id(after.profile_id)),
        });
    }
    Ok(no_op(
        outcome,
        user_field_state(&after, "ProfileId", after.profile_id),
        Some(direct),
    ))
}

async fn revoke_profile(
    session: &Session<'_>,
    id: GrantId,
    profile: SfId,
) -> Result<(Change, Grants), ProvisionError> {
    let user = read_user(session, "principal", id.principal_id().sf_id()).await?;
    let before = user_field_state(&user, "ProfileId", user.profile_id);
    session.set_before(before.clone());
    // Only move a user who still holds the revoked profile.
    if user.profile_id != Some(profile) {
        return Ok(no_op(Outcome::AlreadyRevoked, before, None));
    }
    let revoked: ProfileRecord = read_one(
        session,
        ProfileRecord::by_id(profile),
        "Profile",
        "entitlement",
        id.entitlement_id().resource_id(),
    )
    .await?;
    let license = user.license_id().ok_or_else(|| {
        ProvisionError::Unexpected(format!(
            "user {} has no license through its profile",
            user.id
        ))
    })?;
    let target = least_privilege::resolve(session, license, &revoked).await?;
    session
        .write(Write::Update {
            object: "User",
            id: user.id,
            body: UserRecord::set_profile(target.id),
        })
        .await
        .map_err(|e| ProvisionError::salesforce(format!("revoking {id}"), e))?;
    if session.is_dry_run() {
        return Ok(no_op(Outcome::Revoked, Value::Null, None));
    }
    let after = reread_user(session, user.id).await?;
    if after.profile_id != Some(target.id) {
        return Err(ProvisionError::PostState {
            expected: format!("ProfileId {}", target.id),
            found: format!("ProfileId {}", describe_id(after.profile_id)),
        });
    }
    let replacement = crate::model::EntitlementId::new(
        resource_id(ResourceTypeId::Profile, target.id)?,
        "assigned",
    )
    .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
    Ok((
        Change {
            outcome: Outcome::Revoked,
            after: user_field_state(&after, "ProfileId", after.profile_id),
        },
        Grants {
            grant: None,
            replacement: Some(Grant::direct(replacement, id.principal_id())),
        },
    ))
}

// ---------------------------------------------------------------------------------------
// Dispatch.

async fn grant_in(
    session: &Session<'_>,
    id: GrantId,
    target: Target,
    expires: Option<DateTime<Utc>>,
) -> Result<(Change, Grants), ProvisionError> {
    let entitlement = id.entitlement_id();
    let principal = id.principal_id();
    let user = principal.sf_id();
    match target {
        Target::PermissionSet(set) => {
            check_permission_set(session, entitlement, set).await?;
            read_user(session, "principal", user).await?;
            let kind = RowGrant::Assignment {
                user,
                target: AssignmentTarget::PermissionSet(set),
            };
            grant_row(session, id, kind, expires).await
        }
        Target::PermissionSetGroup(group) => {
            let _: PermissionSetGroupRecord = read_one(
                session,
                PermissionSetGroupRecord::by_id(group),
                "PermissionSetGroup",
                "entitlement",
                entitlement.resource_id(),
            )
            .await?;
            read_user(session, "principal", user).await?;
            let kind = RowGrant::Assignment {
                user,
                target: AssignmentTarget::PermissionSetGroup(group),
            };
            grant_row(session, id, kind, expires).await
        }
        Target::Group(group) => {
            check_group(
                session,
                "entitlement",
                entitlement,
                entitlement.resource_id(),
            )
            .await?;
            match principal.type_id() {
                ResourceTypeId::Group => {
                    check_group(session, "principal", entitlement, principal).await?
                }
                _ => {
                    read_user(session, "principal", user).await?;
                }
            }
            let kind = RowGrant::Membership {
                group,
                member: principal.sf_id(),
            };
            grant_row(session, id, kind, None).await
        }
        Target::Role(role) => grant_role(session, id, role).await,
        Target::Profile(profile) => grant_profile(session, id, profile).await,
        Target::PermissionSetLicense(license) => {
            let record: PermissionSetLicenseRecord = read_one(
                session,
                PermissionSetLicenseRecord::by_id(license),
                "PermissionSetLicense",
                "entitlement",
                entitlement.resource_id(),
            )
            .await?;
            read_user(session, "principal", user).await?;
            let kind = RowGrant::License { user, license };
            // A full or expired license would be refused (LICENSE_LIMIT_EXCEEDED): say so
            // before writing, so a dry run does not promise what the write cannot do.
            if record.is_full() && kind.find(session).await?.is_empty() {
                session.set_before(kind.state(None));
                return Err(ProvisionError::LicenseFull {
                    license: record
                        .master_label
                        .unwrap_or_else(|| record.developer_name.clone()),
                    used: record.used_licenses.unwrap_or(0),
                    total: record.total_licenses.unwrap_or(0),
                    status: if record.status.as_deref() == Some("Disabled") {
                        ", and it is disabled (expired)".into()
                    } else {
                        String::new()
                    },
                });
            }
            grant_row(session, id, kind, None).await
        }
    }
}

async fn revoke_in(
    session: &Session<'_>,
    id: GrantId,
    target: Target,
) -> Result<(Change, Grants), ProvisionError> {
    let principal = id.principal_id().sf_id();
    match target {
        Target::PermissionSet(set) => {
            let kind = RowGrant::Assignment {
                user: principal,
                target: AssignmentTarget::PermissionSet(set),
            };
            revoke_row(session, id, kind).await
        }
        Target::PermissionSetGroup(group) => {
            let kind = RowGrant::Assignment {
                user: principal,
                target: AssignmentTarget::PermissionSetGroup(group),
            };
            revoke_row(session, id, kind).await
        }
        Target::Group(group) => {
            let kind = RowGrant::Membership {
                group,
                member: principal,
            };
            revoke_row(session, id, kind).await
        }
        Target::Role(role) => revoke_role(session, id, role).await,
        Target::Profile(profile) => revoke_profile(session, id, profile).await,
        Target::PermissionSetLicense(license) => {
            let kind = RowGrant::License {
                user: principal,
                license,
            };
            revoke_row(session, id, kind).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entitlement(s: &str) -> EntitlementId {
        EntitlementId::parse(s).unwrap()
    }

    fn resource(s: &str) -> ResourceId {
        ResourceId::parse(s).unwrap()
    }

    const USER: &str = "user:0055g0000000004AAA";

    #[test]
    fn every_provisionable_type_maps_to_its_target() {
        assert!(matches!(
            Target::of(entitlement("permission:0PS5g000000000JGAQ:assigned")),
            Ok(Target::PermissionSet(_))
        ));
        assert!(matches!(
            Target::of(entitlement("license:0PL5g0000000001GAA:assigned")),
            Ok(Target::PermissionSetLicense(_))
        ));
        let user_license = Target::of(entitlement("license:1005g0000000001AAA:assigned"));
        assert!(
            matches!(&user_license, Err(ProvisionError::NotProvisionable { reason, .. }) if reason.contains("profile")),
            "{user_license:?}"
        );
        assert!(matches!(
            Target::of(entitlement("connected_application:0H45g0000000001:access")),
            Err(ProvisionError::NotProvisionable { .. })
        ));
    }

    #[test]
    fn principals_must_fit_the_entitlement() {
        let role = Target::Role(resource("role:00E5g0000000001EAA").sf_id());
        let role_entitlement = entitlement("role:00E5g0000000001EAA:assigned");
        assert!(
            role.check_principal(role_entitlement, resource(USER))
                .is_ok()
        );
        let err = role
            .check_principal(role_entitlement, resource("group:00G5g000000000QEAQ"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "principal: role is granted to users (user:005...), not to group:00G5g000000000QEAQ"
        );
        let group = Target::Group(resource("group:00G5g000000000QEAQ").sf_id());
        let group_entitlement = entitlement("group:00G5g000000000QEAQ:member");
        assert!(
            group
                .check_principal(group_entitlement, resource("group:00G5g000000000REAQ"))
                .is_ok()
        );
        assert!(
            group
                .check_principal(group_entitlement, resource("group:00G5g000000000QEAQ"))
                .is_err()
        );
        assert!(
            group
                .check_principal(group_entitlement, resource("role:00E5g0000000001EAA"))
                .is_err()
        );
    }

    #[test]
    fn only_future_assignment_expirations_are_accepted_and_cut_to_milliseconds() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let set = Target::PermissionSet(resource("permission:0PS5g000000000JGAQ").sf_id());
        let future: DateTime<Utc> = "2026-02-01T00:00:00.123456Z".parse().unwrap();
        assert_eq!(
            set.check_expiration(Some(future), now)
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2026-02-01T00:00:00.123+00:00"
        );
        assert!(set.check_expiration(Some(now), now).is_err());
        let role = Target::Role(resource("role:00E5g0000000001EAA").sf_id());
        let err = role.check_expiration(Some(future), now).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("expires_at: only permission set"),
            "{err}"
        );
        assert_eq!(role.check_expiration(None, now).unwrap(), None);
    }
}
