//! Salesforce's per-object behaviour on insert, update and delete: the validation it adds
//! on top of the field checks in `body.rs`, and the records it writes by itself (a user's
//! UserLogin and profile assignment, a role's groups, a permission set group's aggregate
//! set, license seat counts). Facts sections 5.1-5.18.
//!
//! Every function here runs inside one atomic write (`dml::atomic`): it may fail after
//! writing, the caller rolls back. Permission gates and body parsing happened before.

use std::collections::BTreeSet;

use super::body::{Draft, api_name_from, is_api_name, is_email};
use super::errors::{self, integrity};
use crate::emulator::caller::Caller;
use crate::emulator::error::ApiError;
use crate::emulator::org::{Org, Value};
use crate::emulator::schema::{self, ObjectDef};
use crate::salesforce::SfId;

// ---------------------------------------------------------------------------------------
// Entry points

/// Inserts a validated draft with the object's rules; returns the new (or, for a duplicate
/// GroupMember, the existing) record's ID.
pub(crate) fn insert(org: &mut Org, caller: &Caller, draft: Draft) -> Result<SfId, ApiError> {
    match draft.def.name {
        "User" => insert_user(org, caller, draft),
        "PermissionSetAssignment" => insert_assignment(org, caller, draft),
        "PermissionSetLicenseAssign" => insert_license_assignment(org, caller, draft),
        "GroupMember" => insert_group_member(org, caller, draft),
        "Group" => insert_group(org, caller, draft),
        "UserRole" => insert_role(org, caller, draft),
        "PermissionSetGroup" => insert_permission_set_group(org, caller, draft),
        "PermissionSetGroupComponent" => insert_component(org, caller, draft),
        "PermissionSet" => insert_permission_set(org, caller, draft),
        "SetupEntityAccess" => insert_setup_entity_access(org, caller, draft),
        _ => Ok(store_new(org, caller, &draft)),
    }
}

/// Applies a validated update draft with the object's rules.
pub(crate) fn update(org: &mut Org, caller: &Caller, draft: Draft) -> Result<(), ApiError> {
    match draft.def.name {
        "User" => update_user(org, caller, draft),
        "UserLogin" => update_user_login(org, caller, draft),
        "PermissionSetAssignment" => update_assignment(org, caller, draft),
        "Group" => update_group(org, caller, draft),
        "UserRole" => update_role(org, caller, draft),
        "PermissionSetGroup" => update_permission_set_group(org, caller, draft),
        "PermissionSet" => update_permission_set(org, caller, draft),
        _ => {
            store_changes(org, caller, &draft);
            Ok(())
        }
    }
}

/// Deletes a record with the object's rules (cascades and refusals).
pub(crate) fn delete(
    org: &mut Org,
    caller: &Caller,
    def: &'static ObjectDef,
    id: SfId,
) -> Result<(), ApiError> {
    match def.name {
        "PermissionSetAssignment" => delete_assignment(org, id),
        "PermissionSetLicenseAssign" => delete_license_assignment(org, id),
        "Group" => delete_group(org, id),
        "UserRole" => delete_role(org, id),
        "PermissionSetGroup" => delete_permission_set_group(org, id),
        "PermissionSetGroupComponent" => delete_component(org, caller, id),
        "PermissionSet" => delete_permission_set(org, id),
        _ => {
            org.delete_raw(&id);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Storage helpers: every write gets a fresh stamp (facts 3.9: SystemModstamp drives
// incremental sync, so derived records must move too).

/// The audit fields `def` has, set for a write by `caller` at `stamp`.
fn audit(def: &ObjectDef, caller: &Caller, stamp: i64, insert: bool) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (name, value) in [
        ("CreatedDate", Value::DateTime(stamp)),
        ("CreatedById", Value::Id(caller.user_id)),
        ("LastModifiedDate", Value::DateTime(stamp)),
        ("LastModifiedById", Value::Id(caller.user_id)),
        ("SystemModstamp", Value::DateTime(stamp)),
    ] {
        if !insert && name.starts_with("Created") {
            continue;
        }
        if let Some(field) = def.field(name) {
            out.push((field.name, value));
        }
    }
    out
}

fn store_new(org: &mut Org, caller: &Caller, draft: &Draft) -> SfId {
    let stamp = org.next_stamp();
    let mut pairs = draft.insert_pairs();
    pairs.extend(audit(draft.def, caller, stamp, true));
    org.insert_raw(draft.def.name, &pairs)
}

fn store_changes(org: &mut Org, caller: &Caller, draft: &Draft) {
    let Some(id) = draft.record_id() else {
        return;
    };
    let stamp = org.next_stamp();
    let mut pairs = draft.update_pairs();
    pairs.extend(audit(draft.def, caller, stamp, false));
    org.update_raw(&id, &pairs);
}

/// Inserts a record Salesforce creates by itself.
fn insert_derived(
    org: &mut Org,
    caller: &Caller,
    object: &str,
    mut fields: Vec<(&'static str, Value)>,
) -> SfId {
    let stamp = org.next_stamp();
    if let Some(def) = schema::object(object) {
        fields.extend(audit(def, caller, stamp, true));
    }
    org.insert_raw(object, &fields)
}

/// Updates a record Salesforce changes by itself.
fn touch(org: &mut Org, caller: &Caller, id: SfId, mut fields: Vec<(&'static str, Value)>) {
    let stamp = org.next_stamp();
    if let Some((table, _)) = org.get(&id) {
        let def = table.def;
        fields.extend(audit(def, caller, stamp, false));
    }
    org.update_raw(&id, &fields);
}

// ---------------------------------------------------------------------------------------
// Read helpers

/// IDs of the `object` records whose fields equal the given values.
fn rows_where(org: &Org, object: &str, conditions: &[(&str, &Value)]) -> Vec<SfId> {
    let Some(table) = org.table(object) else {
        return Vec::new();
    };
    table
        .rows
        .iter()
        .filter(|(_, record)| {
            conditions
                .iter()
                .all(|(field, value)| table.value(record, field) == Some(*value))
        })
        .map(|(id, _)| *id)
        .collect()
}

fn id_of(org: &Org, id: &SfId, field: &str) -> Option<SfId> {
    org.value(id, field).and_then(Value::as_id)
}

fn text_of(org: &Org, id: &SfId, field: &str) -> Option<String> {
    org.value(id, field)
        .and_then(Value::as_text)
        .map(str::to_string)
}

fn flag_of(org: &Org, id: &SfId, field: &str) -> bool {
    org.value(id, field).and_then(Value::as_bool) == Some(true)
}

fn display(org: &Org, id: &SfId, field: &str) -> String {
    text_of(org, id, field).unwrap_or_else(|| id.to_string())
}

fn is_text(org: &Org, id: &SfId, field: &str, wanted: &str) -> bool {
    text_of(org, id, field).is_some_and(|t| t.eq_ignore_ascii_case(wanted))
}

/// The ID of another `object` record whose `field` equals `value` case-insensitively.
fn text_taken(
    org: &Org,
    object: &str,
    field: &str,
    value: &str,
    except: Option<SfId>,
) -> Option<SfId> {
    let table = org.table(object)?;
    table
        .rows
        .iter()
        .find(|(id, record)| {
            Some(**id) != except
                && table
                    .value(record, field)
                    .and_then(Value::as_text)
                    .is_some_and(|t| t.eq_ignore_ascii_case(value))
        })
        .map(|(id, _)| *id)
}

// ---------------------------------------------------------------------------------------
// Developer names (Group, UserRole, PermissionSetGroup; PermissionSet.Name)

// UNCERTAIN: Salesforce's code for a malformed API name is not in the facts sheet; we answer
// FIELD_INTEGRITY_EXCEPTION with the wording of its setup UI.
fn invalid_api_name(field: &str) -> ApiError {
    integrity(
        format!(
            "{field}: The API Name can only contain underscores and alphanumeric characters. It \
             must be unique, begin with a letter, not include spaces, not end with an \
             underscore, and not contain two consecutive underscores."
        ),
        &[field],
    )
}

/// Validates a client-given developer name or generates one from `label`, unique among
/// `object` records (checked case-insensitively, as Salesforce's unique names are).
fn developer_name(
    org: &Org,
    draft: &Draft,
    field: &'static str,
    label: &str,
    unique_among: impl Fn(&Org, &str) -> Option<SfId>,
) -> Result<Option<String>, ApiError> {
    if let Some(given) = draft.text(field) {
        if !draft.changed(field) {
            return Ok(Some(given.to_string()));
        }
        if !is_api_name(given) {
            return Err(invalid_api_name(field));
        }
        if let Some(existing) = unique_among(org, given) {
            return Err(errors::duplicate_value(field, existing.as_str()));
        }
        return Ok(Some(given.to_string()));
    }
    // Absent (insert) or cleared: Salesforce fills it from the label.
    let base = api_name_from(label, 70);
    let mut candidate = base.clone();
    let mut n = 1;
    while unique_among(org, &candidate).is_some() {
        candidate = format!("{base}_{n}");
        n += 1;
    }
    Ok(Some(candidate))
}

// ---------------------------------------------------------------------------------------
// User (facts 5.1)

fn license_of_profile(org: &Org, profile: Option<SfId>) -> Option<SfId> {
    id_of(org, &profile?, "UserLicenseId")
}

fn user_license(org: &Org, user: &SfId) -> Option<SfId> {
    license_of_profile(org, id_of(org, user, "ProfileId"))
}

/// The permission set a profile owns (facts 5.5: exactly one per profile).
fn profile_set(org: &Org, profile: Option<SfId>) -> Option<SfId> {
    let profile = Value::Id(profile?);
    rows_where(
        org,
        "PermissionSet",
        &[
            ("ProfileId", &profile),
            ("IsOwnedByProfile", &Value::Bool(true)),
        ],
    )
    .into_iter()
    .next()
}

/// Active users holding a seat of `license`, not counting `except`. Counted live rather than
/// read from `UsedLicenses` so a hand-built org without a recount still enforces seats.
fn seats_used(org: &Org, license: SfId, except: Option<SfId>) -> i64 {
    let Some(users) = org.table("User") else {
        return 0;
    };
    users
        .rows
        .iter()
        .filter(|(id, record)| {
            Some(**id) != except
                && users.value(record, "IsActive") == Some(&Value::Bool(true))
                && license_of_profile(org, users.value(record, "ProfileId").and_then(Value::as_id))
                    == Some(license)
        })
        .count() as i64
}

/// An active user needs a free seat on its profile's user license (facts 4.3
/// `LICENSE_LIMIT_EXCEEDED`, 5.3 `TotalLicenses`/`UsedLicenses`/`Status`).
fn check_user_seat(org: &Org, license: Option<SfId>, except: Option<SfId>) -> Result<(), ApiError> {
    let Some(license) = license else {
        return Ok(());
    };
    if is_text(org, &license, "Status", "Disabled") {
        return Err(errors::license_limit());
    }
    match org.value(&license, "TotalLicenses").and_then(Value::as_int) {
        Some(total) if seats_used(org, license, except) >= total => Err(errors::license_limit()),
        _ => Ok(()),
    }
}

fn full_name(draft: &Draft) -> Value {
    let last = draft.text("LastName").unwrap_or_default();
    match draft.text("FirstName") {
        Some(first) if !first.is_empty() => Value::text(format!("{first} {last}")),
        _ => Value::text(last),
    }
}

// UNCERTAIN: the facts sheet gives no code for a username that is not email-shaped; we answer
// INVALID_NEW_VALUE with the wording of Salesforce's user edit page.
fn check_username(org: &Org, draft: &Draft) -> Result<(), ApiError> {
    let username = draft.text("Username").unwrap_or_default();
    if !is_email(username) {
        return Err(ApiError::bad_request(
            "INVALID_NEW_VALUE",
            format!(
                "Username: invalid username: {username}. The username must be in the form of \
                 an email address (for example, john@acme.com)."
            ),
        )
        .with_fields(["Username"]));
    }
    // Facts 4.3: usernames are unique across all orgs; the emulated org stands for all of them.
    if text_taken(org, "User", "Username", username, draft.record_id()).is_some() {
        return Err(ApiError::bad_request(
            "DUPLICATE_USERNAME",
            "Duplicate Username.<br>The username already exists in this or another Salesforce \
             organization. Usernames must be unique across all Salesforce organizations. To \
             resolve, use a different username (it doesn't need to match the user's email \
             address).",
        )
        .with_fields(["Username"]));
    }
    Ok(())
}

// UNCERTAIN: code DUPLICATE_COMM_NICKNAME is from memory of Salesforce's StatusCode enum; the
// wording is the user edit page's.
fn duplicate_nickname() -> ApiError {
    ApiError::bad_request(
        "DUPLICATE_COMM_NICKNAME",
        "Duplicate Nickname.<br>Another user has already selected this nickname.<br>Please \
         select another.",
    )
    .with_fields(["CommunityNickname"])
}

/// A free nickname derived from the username's local part (Salesforce fills one in when a
/// client leaves it out; facts 5.1 [mem]).
fn generate_nickname(org: &Org, username: &str) -> String {
    let local = username.split('@').next().unwrap_or(username);
    let base: String = local.chars().take(32).collect();
    let mut candidate = base.clone();
    let mut n = 1;
    while text_taken(org, "User", "CommunityNickname", &candidate, None).is_some() {
        candidate = format!("{base}{n}");
        n += 1;
    }
    candidate
}

fn insert_user(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<SfId, ApiError> {
    check_username(org, &draft)?;
    match draft.text("CommunityNickname") {
        Some(nickname) => {
            if text_taken(org, "User", "CommunityNickname", nickname, None).is_some() {
                return Err(duplicate_nickname());
            }
        }
        None => {
            let nickname = generate_nickname(org, draft.text("Username").unwrap_or_default());
            draft.set("CommunityNickname", Value::text(nickname));
        }
    }
    if !draft.is_provided("IsActive") {
        draft.set("IsActive", Value::Bool(true));
    }
    let profile = draft.id("ProfileId");
    let user_type = profile
        .and_then(|p| org.value(&p, "UserType").cloned())
        .unwrap_or(Value::Null);
    draft.set("UserType", user_type);
    draft.set("Name", full_name(&draft));
    if draft.flag("IsActive") {
        check_user_seat(org, license_of_profile(org, profile), None)?;
    }
    let user = store_new(org, caller, &draft);
    // Facts 5.2: one UserLogin per user.
    insert_derived(
        org,
        caller,
        "UserLogin",
        vec![
            ("UserId", Value::Id(user)),
            ("IsFrozen", Value::Bool(false)),
            ("IsPasswordLocked", Value::Bool(false)),
        ],
    );
    // Facts 5.5: every user holds an assignment of its profile's permission set.
    if let Some(set) = profile_set(org, profile) {
        insert_derived(
            org,
            caller,
            "PermissionSetAssignment",
            vec![
                ("AssigneeId", Value::Id(user)),
                ("PermissionSetId", Value::Id(set)),
                ("IsActive", Value::Bool(true)),
            ],
        );
    }
    org.recount_licenses();
    Ok(user)
}

fn update_user(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<(), ApiError> {
    let Some(user) = draft.record_id() else {
        return Err(ApiError::not_found());
    };
    if draft.changed("Username") {
        check_username(org, &draft)?;
    }
    if draft.changed("CommunityNickname")
        && let Some(nickname) = draft.text("CommunityNickname")
        && text_taken(org, "User", "CommunityNickname", nickname, Some(user)).is_some()
    {
        return Err(duplicate_nickname());
    }
    let old_profile = draft.old("ProfileId").and_then(Value::as_id);
    let new_profile = draft.id("ProfileId");
    let profile_changed = old_profile != new_profile;
    if profile_changed {
        // UNCERTAIN: facts 4.3 say license/profile mismatches are FIELD_INTEGRITY_EXCEPTION;
        // the wording is ours.
        if license_of_profile(org, old_profile) != license_of_profile(org, new_profile) {
            return Err(integrity(
                "The user license doesn't match the profile license. Select a profile with the \
                 same license as the user.",
                &["ProfileId"],
            ));
        }
        let user_type = new_profile
            .and_then(|p| org.value(&p, "UserType").cloned())
            .unwrap_or(Value::Null);
        draft.set("UserType", user_type);
    }
    let was_active = draft.old("IsActive").and_then(Value::as_bool) == Some(true);
    let is_active = draft.flag("IsActive");
    if !was_active && is_active {
        check_user_seat(org, license_of_profile(org, new_profile), Some(user))?;
    }
    if was_active && !is_active {
        // UNCERTAIN: wording ours; Salesforce's UI refuses to deactivate the running user.
        if user == caller.user_id {
            return Err(integrity("You cannot deactivate yourself.", &["IsActive"]));
        }
        // UNCERTAIN: wording ours; Salesforce refuses to deactivate users that org
        // configuration references (default workflow user, queues, assignment rules).
        if org
            .settings
            .users_referenced_by_configuration
            .contains(&user)
        {
            return Err(integrity(
                "You cannot deactivate this user because they are referenced by org \
                 configuration (default workflow user, queue, or assignment rule). Freeze the \
                 user instead, or remove the references.",
                &["IsActive"],
            ));
        }
    }
    if draft.changed("FirstName") || draft.changed("LastName") {
        draft.set("Name", full_name(&draft));
    }
    store_changes(org, caller, &draft);
    if profile_changed {
        move_profile_assignment(org, caller, user, old_profile, new_profile);
    }
    org.recount_licenses();
    Ok(())
}

/// Points the user's profile-owned assignment at the new profile's set. UNCERTAIN: whether
/// Salesforce keeps the row's ID or replaces the row is not documented; we keep it and stamp it.
fn move_profile_assignment(
    org: &mut Org,
    caller: &Caller,
    user: SfId,
    old_profile: Option<SfId>,
    new_profile: Option<SfId>,
) {
    let new_set = profile_set(org, new_profile);
    let existing = profile_set(org, old_profile).and_then(|old_set| {
        rows_where(
            org,
            "PermissionSetAssignment",
            &[
                ("AssigneeId", &Value::Id(user)),
                ("PermissionSetId", &Value::Id(old_set)),
            ],
        )
        .into_iter()
        .next()
    });
    match (existing, new_set) {
        (Some(row), Some(set)) => {
            touch(org, caller, row, vec![("PermissionSetId", Value::Id(set))])
        }
        (Some(row), None) => {
            org.delete_raw(&row);
        }
        (None, Some(set)) => {
            insert_derived(
                org,
                caller,
                "PermissionSetAssignment",
                vec![
                    ("AssigneeId", Value::Id(user)),
                    ("PermissionSetId", Value::Id(set)),
                    ("IsActive", Value::Bool(true)),
                ],
            );
        }
        (None, None) => {}
    }
}

// ---------------------------------------------------------------------------------------
// UserLogin (facts 5.2)

fn update_user_login(org: &mut Org, caller: &Caller, draft: Draft) -> Result<(), ApiError> {
    // Facts 5.2: the API may unlock a password, never lock one. UNCERTAIN: code and wording
    // ours.
    if draft.changed("IsPasswordLocked") && draft.flag("IsPasswordLocked") {
        return Err(integrity(
            "Cannot lock a user's password through the API: IsPasswordLocked can only be set to \
             false.",
            &["IsPasswordLocked"],
        ));
    }
    store_changes(org, caller, &draft);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PermissionSetAssignment (facts 5.8)

// UNCERTAIN (facts 5.5: "exact error code UNCERTAIN"): profile-owned assignments are
// refused with FIELD_INTEGRITY_EXCEPTION, pointing at the profile change instead.
fn profile_owned_assignment(verb: &str) -> ApiError {
    integrity(
        format!(
            "You can't {verb} a permission set that is owned by a profile. Change the user's \
             profile instead."
        ),
        &["PermissionSetId"],
    )
}

/// The component permission sets of a permission set group.
fn group_components(org: &Org, group: SfId) -> Vec<SfId> {
    let group = Value::Id(group);
    let Some(table) = org.table("PermissionSetGroupComponent") else {
        return Vec::new();
    };
    rows_where(
        org,
        "PermissionSetGroupComponent",
        &[("PermissionSetGroupId", &group)],
    )
    .into_iter()
    .filter_map(|row| table.rows.get(&row))
    .filter_map(|record| {
        table
            .value(record, "PermissionSetId")
            .and_then(Value::as_id)
    })
    .collect()
}

/// The aggregate permission set of a group (`Type = 'Group'`, facts 5.8).
fn aggregate_set(org: &Org, group: SfId) -> Option<SfId> {
    rows_where(
        org,
        "PermissionSet",
        &[("PermissionSetGroupId", &Value::Id(group))],
    )
    .into_iter()
    .next()
}

fn is_group_set(org: &Org, set: &SfId) -> bool {
    is_text(org, set, "Type", "Group") || id_of(org, set, "PermissionSetGroupId").is_some()
}

/// A set with a license needs the user to have it (facts 5.8): a UserLicense must be the
/// user's, a PermissionSetLicense must be assigned to the user. FIELD_INTEGRITY_EXCEPTION
/// is UNCERTAIN (facts: "error code UNCERTAIN"); the message follows the observed wording.
fn check_set_license(org: &Org, set: SfId, user: SfId) -> Result<(), ApiError> {
    let Some(license) = id_of(org, &set, "LicenseId") else {
        return Ok(());
    };
    let allowed = match org.get(&license).map(|(t, _)| t.def.name) {
        Some("UserLicense") => user_license(org, &user) == Some(license),
        Some("PermissionSetLicense") => !rows_where(
            org,
            "PermissionSetLicenseAssign",
            &[
                ("AssigneeId", &Value::Id(user)),
                ("PermissionSetLicenseId", &Value::Id(license)),
            ],
        )
        .is_empty(),
        _ => true,
    };
    if allowed {
        return Ok(());
    }
    let license_name = text_of(org, &license, "MasterLabel")
        .or_else(|| text_of(org, &license, "Name"))
        .unwrap_or_else(|| license.to_string());
    Err(integrity(
        format!(
            "Can't assign permission set {} to user {}. The user license doesn't allow the \
             permission: {license_name}",
            display(org, &set, "Name"),
            display(org, &user, "Username"),
        ),
        &[],
    ))
}

fn insert_assignment(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<SfId, ApiError> {
    let Some(user) = draft.id("AssigneeId") else {
        return Err(errors::required_missing(&["AssigneeId"]));
    };
    match (
        draft.id("PermissionSetId"),
        draft.id("PermissionSetGroupId"),
    ) {
        // Our choice: neither reads like the missing PermissionSetId clients usually send.
        (None, None) => return Err(errors::required_missing(&["PermissionSetId"])),
        // Our choice (facts 5.8 say "exactly one"): both is a cross-field rule.
        (Some(_), Some(_)) => {
            return Err(integrity(
                "Specify either a permission set (PermissionSetId) or a permission set group \
                 (PermissionSetGroupId), not both.",
                &["PermissionSetId", "PermissionSetGroupId"],
            ));
        }
        (Some(set), None) => {
            if flag_of(org, &set, "IsOwnedByProfile") {
                return Err(profile_owned_assignment("assign"));
            }
            // UNCERTAIN: code and wording ours; aggregate sets are reached through their group.
            if is_group_set(org, &set) {
                return Err(integrity(
                    "You can't assign the aggregate permission set of a permission set group. \
                     Assign the permission set group (PermissionSetGroupId) instead.",
                    &["PermissionSetId"],
                ));
            }
            let duplicate = rows_where(
                org,
                "PermissionSetAssignment",
                &[
                    ("AssigneeId", &Value::Id(user)),
                    ("PermissionSetId", &Value::Id(set)),
                    ("PermissionSetGroupId", &Value::Null),
                ],
            );
            if !duplicate.is_empty() {
                return Err(duplicate_assignment(user, "Permission Set", set));
            }
            check_set_license(org, set, user)?;
        }
        (None, Some(group)) => {
            // Facts 5.6: assigning a group that is being recalculated can fail. UNCERTAIN:
            // code and wording ours.
            let status = text_of(org, &group, "Status").unwrap_or_default();
            if status.eq_ignore_ascii_case("Failed") || status.eq_ignore_ascii_case("Updating") {
                return Err(integrity(
                    format!(
                        "Permission set group {} can't be assigned while its status is {status}. \
                         Try again after it is recalculated.",
                        display(org, &group, "DeveloperName")
                    ),
                    &["PermissionSetGroupId"],
                ));
            }
            let duplicate = rows_where(
                org,
                "PermissionSetAssignment",
                &[
                    ("AssigneeId", &Value::Id(user)),
                    ("PermissionSetGroupId", &Value::Id(group)),
                ],
            );
            if !duplicate.is_empty() {
                return Err(duplicate_assignment(user, "Permission Set Group", group));
            }
            for set in group_components(org, group) {
                check_set_license(org, set, user)?;
            }
            if org.settings.psg_assignment_has_permission_set_id
                && let Some(aggregate) = aggregate_set(org, group)
            {
                draft.set("PermissionSetId", Value::Id(aggregate));
            }
        }
    }
    draft.set("IsActive", Value::Bool(true));
    Ok(store_new(org, caller, &draft))
}

/// Facts 4.3 / 5.8: scripts grep for "Duplicate PermissionSetAssignment".
fn duplicate_assignment(user: SfId, what: &str, target: SfId) -> ApiError {
    ApiError::bad_request(
        "DUPLICATE_VALUE",
        format!("Duplicate PermissionSetAssignment. Assignee: {user}; {what}: {target}"),
    )
}

fn is_profile_owned_assignment(org: &Org, row: &SfId) -> bool {
    id_of(org, row, "PermissionSetId").is_some_and(|set| flag_of(org, &set, "IsOwnedByProfile"))
}

fn update_assignment(org: &mut Org, caller: &Caller, draft: Draft) -> Result<(), ApiError> {
    if let Some(row) = draft.record_id()
        && is_profile_owned_assignment(org, &row)
        && (draft.changed("ExpirationDate") || draft.changed("IsRevoked"))
    {
        return Err(profile_owned_assignment("change the assignment of"));
    }
    store_changes(org, caller, &draft);
    Ok(())
}

fn delete_assignment(org: &mut Org, row: SfId) -> Result<(), ApiError> {
    if is_profile_owned_assignment(org, &row) {
        return Err(profile_owned_assignment("remove"));
    }
    org.delete_raw(&row);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PermissionSetLicenseAssign (facts 5.9)

fn insert_license_assignment(
    org: &mut Org,
    caller: &Caller,
    draft: Draft,
) -> Result<SfId, ApiError> {
    let (Some(user), Some(license)) = (draft.id("AssigneeId"), draft.id("PermissionSetLicenseId"))
    else {
        return Err(errors::required_missing(&[
            "AssigneeId",
            "PermissionSetLicenseId",
        ]));
    };
    let license_value = Value::Id(license);
    let assigned = rows_where(
        org,
        "PermissionSetLicenseAssign",
        &[("PermissionSetLicenseId", &license_value)],
    );
    if let Some(existing) = assigned
        .iter()
        .find(|row| id_of(org, row, "AssigneeId") == Some(user))
    {
        return Err(errors::duplicate_value(
            "PermissionSetLicenseId",
            existing.as_str(),
        ));
    }
    // Facts 5.9: Status 'Disabled' means expired; facts 4.3: no seat left.
    if is_text(org, &license, "Status", "Disabled") {
        return Err(errors::license_limit());
    }
    if let Some(total) = org.value(&license, "TotalLicenses").and_then(Value::as_int)
        && assigned.len() as i64 >= total
    {
        return Err(errors::license_limit());
    }
    let id = store_new(org, caller, &draft);
    org.recount_licenses();
    Ok(id)
}

/// Every permission set a user holds: direct assignments and the components of assigned
/// groups.
fn sets_held_by(org: &Org, user: SfId) -> BTreeSet<SfId> {
    let mut out = BTreeSet::new();
    for row in rows_where(
        org,
        "PermissionSetAssignment",
        &[("AssigneeId", &Value::Id(user))],
    ) {
        if let Some(set) = id_of(org, &row, "PermissionSetId") {
            out.insert(set);
        }
        if let Some(group) = id_of(org, &row, "PermissionSetGroupId") {
            out.extend(group_components(org, group));
        }
    }
    out
}

fn delete_license_assignment(org: &mut Org, row: SfId) -> Result<(), ApiError> {
    if let (Some(user), Some(license)) = (
        id_of(org, &row, "AssigneeId"),
        id_of(org, &row, "PermissionSetLicenseId"),
    ) {
        let needing: Vec<String> = sets_held_by(org, user)
            .into_iter()
            .filter(|set| id_of(org, set, "LicenseId") == Some(license))
            .map(|set| display(org, &set, "Name"))
            .collect();
        // Salesforce refuses to remove a license that assigned sets still need. UNCERTAIN:
        // wording ours.
        if !needing.is_empty() {
            return Err(integrity(
                format!(
                    "Can't remove permission set license {} from user {}: the user is assigned \
                     permission sets that require it ({}). Remove those assignments first.",
                    display(org, &license, "DeveloperName"),
                    display(org, &user, "Username"),
                    needing.join(", ")
                ),
                &[],
            ));
        }
    }
    org.delete_raw(&row);
    org.recount_licenses();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Group and GroupMember (facts 5.10, 5.11)

/// Public groups and queues are the only groups clients manage; a group without a type in a
/// hand-built org counts as public.
fn is_public_group(org: &Org, group: &SfId) -> bool {
    match text_of(org, group, "Type") {
        None => true,
        Some(t) => t.eq_ignore_ascii_case("Regular") || t.eq_ignore_ascii_case("Queue"),
    }
}

fn insert_group_member(org: &mut Org, caller: &Caller, draft: Draft) -> Result<SfId, ApiError> {
    let (Some(group), Some(member)) = (draft.id("GroupId"), draft.id("UserOrGroupId")) else {
        return Err(errors::required_missing(&["GroupId", "UserOrGroupId"]));
    };
    // Facts 5.11: rows exist only for direct members of Regular groups and queues; role and
    // organization groups are system-maintained. UNCERTAIN: code and wording ours.
    if !is_public_group(org, &group) {
        return Err(integrity(
            format!(
                "You can't add members to a group of type {}. Only public groups (Regular) and \
                 queues have members you can manage.",
                text_of(org, &group, "Type").unwrap_or_default()
            ),
            &["GroupId"],
        ));
    }
    // UNCERTAIN: code and wording ours.
    if group == member {
        return Err(integrity(
            "A group can't be a member of itself.",
            &["UserOrGroupId"],
        ));
    }
    // Facts 5.11 [doc]: a duplicate membership returns the existing record as a success.
    if let Some(existing) = rows_where(
        org,
        "GroupMember",
        &[
            ("GroupId", &Value::Id(group)),
            ("UserOrGroupId", &Value::Id(member)),
        ],
    )
    .into_iter()
    .next()
    {
        return Ok(existing);
    }
    Ok(store_new(org, caller, &draft))
}

fn group_name_taken(org: &Org, name: &str, except: Option<SfId>) -> Option<SfId> {
    text_taken(org, "Group", "DeveloperName", name, except)
}

fn insert_group(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<SfId, ApiError> {
    // Facts 5.10: Type is a restricted picklist (checked in body.rs); Regular by default.
    if draft.text("Type").is_none() {
        draft.set("Type", Value::text("Regular"));
    }
    let label = draft.text("Name").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        group_name_taken(org, n, None)
    })?;
    draft.set("DeveloperName", name.map_or(Value::Null, Value::text));
    // UNCERTAIN: who owns a public group is not in the facts sheet; we record its creator.
    draft.set("OwnerId", Value::Id(caller.user_id));
    Ok(store_new(org, caller, &draft))
}

// UNCERTAIN: Salesforce's answer for writing a role/organization group is not in the facts
// sheet; we answer INSUFFICIENT_ACCESS_OR_READONLY (the record is read-only to everyone).
fn check_public_group(org: &Org, group: &SfId) -> Result<(), ApiError> {
    if is_public_group(org, group) {
        Ok(())
    } else {
        Err(errors::insufficient_access())
    }
}

fn update_group(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<(), ApiError> {
    let Some(group) = draft.record_id() else {
        return Err(ApiError::not_found());
    };
    check_public_group(org, &group)?;
    let label = draft.text("Name").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        group_name_taken(org, n, Some(group))
    })?;
    draft.set("DeveloperName", name.map_or(Value::Null, Value::text));
    store_changes(org, caller, &draft);
    Ok(())
}

/// Removes a group's own members and its memberships in other groups.
fn delete_memberships_of(org: &mut Org, group: SfId) {
    let group = Value::Id(group);
    let mut rows = rows_where(org, "GroupMember", &[("GroupId", &group)]);
    rows.extend(rows_where(org, "GroupMember", &[("UserOrGroupId", &group)]));
    for row in rows {
        org.delete_raw(&row);
    }
}

fn delete_group(org: &mut Org, group: SfId) -> Result<(), ApiError> {
    check_public_group(org, &group)?;
    delete_memberships_of(org, group);
    org.delete_raw(&group);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// UserRole (facts 5.12, 5.10: one Role and one RoleAndSubordinates group per role)

const ROLE_GROUP_TYPES: [&str; 2] = ["Role", "RoleAndSubordinates"];

fn role_groups(org: &Org, role: SfId) -> Vec<SfId> {
    let Some(table) = org.table("Group") else {
        return Vec::new();
    };
    rows_where(org, "Group", &[("RelatedId", &Value::Id(role))])
        .into_iter()
        .filter(|id| {
            table.rows.get(id).is_some_and(|record| {
                table
                    .value(record, "Type")
                    .and_then(Value::as_text)
                    .is_some_and(|t| t.starts_with("Role"))
            })
        })
        .collect()
}

fn insert_role(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<SfId, ApiError> {
    let label = draft.text("Name").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        text_taken(org, "UserRole", "DeveloperName", n, None)
    })?;
    let name_value = name.map_or(Value::Null, Value::text);
    draft.set("DeveloperName", name_value.clone());
    let role = store_new(org, caller, &draft);
    // UNCERTAIN [mem]: role groups carry no Name of their own (clients read Related.Name).
    for ty in ROLE_GROUP_TYPES {
        insert_derived(
            org,
            caller,
            "Group",
            vec![
                ("DeveloperName", name_value.clone()),
                ("Type", Value::text(ty)),
                ("RelatedId", Value::Id(role)),
            ],
        );
    }
    Ok(role)
}

fn update_role(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<(), ApiError> {
    let Some(role) = draft.record_id() else {
        return Err(ApiError::not_found());
    };
    if draft.changed("ParentRoleId")
        && let Some(parent) = draft.id("ParentRoleId")
    {
        // Walk up from the new parent: reaching this role would make it its own ancestor.
        let mut seen = BTreeSet::new();
        let mut cursor = Some(parent);
        while let Some(current) = cursor {
            // UNCERTAIN: code and wording ours.
            if current == role {
                return Err(integrity(
                    "A role can't report to itself or to one of its subordinate roles.",
                    &["ParentRoleId"],
                ));
            }
            if !seen.insert(current) {
                break;
            }
            cursor = id_of(org, &current, "ParentRoleId");
        }
    }
    let label = draft.text("Name").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        text_taken(org, "UserRole", "DeveloperName", n, Some(role))
    })?;
    draft.set("DeveloperName", name.map_or(Value::Null, Value::text));
    store_changes(org, caller, &draft);
    if draft.changed("DeveloperName") {
        let value = draft.get("DeveloperName").clone();
        for group in role_groups(org, role) {
            touch(org, caller, group, vec![("DeveloperName", value.clone())]);
        }
    }
    Ok(())
}

fn delete_role(org: &mut Org, role: SfId) -> Result<(), ApiError> {
    let role_value = Value::Id(role);
    let has_users = !rows_where(org, "User", &[("UserRoleId", &role_value)]).is_empty();
    let has_children = !rows_where(org, "UserRole", &[("ParentRoleId", &role_value)]).is_empty();
    if has_users || has_children {
        return Err(errors::delete_failed(
            "Cannot delete this role because it has users or subordinate roles.",
        ));
    }
    for group in role_groups(org, role) {
        delete_memberships_of(org, group);
        org.delete_raw(&group);
    }
    org.delete_raw(&role);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PermissionSet (facts 5.5)

/// Permission set names are unique among sets clients create; aggregate sets of groups carry
/// their group's name and do not take part.
fn set_name_taken(org: &Org, name: &str, except: Option<SfId>) -> Option<SfId> {
    let table = org.table("PermissionSet")?;
    table
        .rows
        .iter()
        .find(|(id, record)| {
            Some(**id) != except
                && !is_group_set(org, id)
                && table
                    .value(record, "Name")
                    .and_then(Value::as_text)
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
        })
        .map(|(id, _)| *id)
}

fn check_set_name(org: &Org, draft: &Draft) -> Result<(), ApiError> {
    if !draft.changed("Name") {
        return Ok(());
    }
    let name = draft.text("Name").unwrap_or_default();
    if !is_api_name(name) {
        return Err(invalid_api_name("Name"));
    }
    if let Some(existing) = set_name_taken(org, name, draft.record_id()) {
        return Err(errors::duplicate_value("Name", existing.as_str()));
    }
    Ok(())
}

fn set_type(draft: &Draft) -> Value {
    // Facts 5.5: session-based sets (HasActivationRequired) have Type 'Session'.
    Value::text(if draft.flag("HasActivationRequired") {
        "Session"
    } else {
        "Regular"
    })
}

fn insert_permission_set(
    org: &mut Org,
    caller: &Caller,
    mut draft: Draft,
) -> Result<SfId, ApiError> {
    check_set_name(org, &draft)?;
    draft.set("Type", set_type(&draft));
    draft.set("IsOwnedByProfile", Value::Bool(false));
    draft.set("IsCustom", Value::Bool(true));
    Ok(store_new(org, caller, &draft))
}

fn update_permission_set(org: &mut Org, caller: &Caller, mut draft: Draft) -> Result<(), ApiError> {
    let Some(set) = draft.record_id() else {
        return Err(ApiError::not_found());
    };
    // UNCERTAIN: code and wording ours; profile-owned sets change through their profile and
    // aggregate sets through their group's components.
    if flag_of(org, &set, "IsOwnedByProfile") {
        return Err(integrity(
            "You can't edit a permission set that is owned by a profile. Edit the profile \
             instead.",
            &[],
        ));
    }
    if is_group_set(org, &set) {
        return Err(integrity(
            "You can't edit the aggregate permission set of a permission set group. Change the \
             group's components instead.",
            &[],
        ));
    }
    check_set_name(org, &draft)?;
    draft.set("Type", set_type(&draft));
    store_changes(org, caller, &draft);
    let permissions_changed = schema::PERMISSIONS.iter().any(|p| draft.changed(p));
    if permissions_changed {
        let groups: BTreeSet<SfId> = rows_where(
            org,
            "PermissionSetGroupComponent",
            &[("PermissionSetId", &Value::Id(set))],
        )
        .into_iter()
        .filter_map(|row| id_of(org, &row, "PermissionSetGroupId"))
        .collect();
        for group in groups {
            recalculate_group(org, caller, group);
        }
    }
    Ok(())
}

fn delete_permission_set(org: &mut Org, set: SfId) -> Result<(), ApiError> {
    // UNCERTAIN: codes and wording ours.
    if flag_of(org, &set, "IsOwnedByProfile") || is_group_set(org, &set) {
        return Err(integrity(
            "You can't delete a permission set that is owned by a profile or a permission set \
             group. Delete the profile or group instead.",
            &[],
        ));
    }
    let set_value = Value::Id(set);
    if !rows_where(
        org,
        "PermissionSetAssignment",
        &[("PermissionSetId", &set_value)],
    )
    .is_empty()
    {
        return Err(errors::delete_failed(
            "Can't delete this permission set because it's assigned to users. Remove the \
             assignments first.",
        ));
    }
    if !rows_where(
        org,
        "PermissionSetGroupComponent",
        &[("PermissionSetId", &set_value)],
    )
    .is_empty()
    {
        return Err(errors::delete_failed(
            "Can't delete this permission set because it's included in a permission set group. \
             Remove it from the group first.",
        ));
    }
    // Child rows go with the set (facts 5.5: SetupEntityAccess is a child of PermissionSet).
    for row in rows_where(org, "SetupEntityAccess", &[("ParentId", &set_value)]) {
        org.delete_raw(&row);
    }
    org.delete_raw(&set);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PermissionSetGroup and PermissionSetGroupComponent (facts 5.6, 5.7, 5.8)

/// Sets the group's aggregate permissions to the union of its components' and its Status to
/// `Updated` (the emulator recalculates at once, so groups never stay `Outdated`).
fn recalculate_group(org: &mut Org, caller: &Caller, group: SfId) {
    let components = group_components(org, group);
    if let Some(aggregate) = aggregate_set(org, group) {
        let fields = schema::PERMISSIONS
            .iter()
            .map(|p| {
                let granted = components.iter().any(|set| flag_of(org, set, p));
                (*p, Value::Bool(granted))
            })
            .collect();
        touch(org, caller, aggregate, fields);
    }
    touch(org, caller, group, vec![("Status", Value::text("Updated"))]);
}

fn insert_permission_set_group(
    org: &mut Org,
    caller: &Caller,
    mut draft: Draft,
) -> Result<SfId, ApiError> {
    let label = draft.text("MasterLabel").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        text_taken(org, "PermissionSetGroup", "DeveloperName", n, None)
    })?;
    let name_value = name.map_or(Value::Null, Value::text);
    draft.set("DeveloperName", name_value.clone());
    draft.set("Status", Value::text("Updated"));
    let group = store_new(org, caller, &draft);
    // Facts 5.8: the aggregate set (Type 'Group') points back to its group. UNCERTAIN: its
    // Name; we reuse the group's DeveloperName.
    insert_derived(
        org,
        caller,
        "PermissionSet",
        vec![
            ("Name", name_value),
            ("Label", draft.get("MasterLabel").clone()),
            ("Type", Value::text("Group")),
            ("PermissionSetGroupId", Value::Id(group)),
            ("IsOwnedByProfile", Value::Bool(false)),
            ("IsCustom", Value::Bool(false)),
            (
                "HasActivationRequired",
                Value::Bool(draft.flag("HasActivationRequired")),
            ),
        ],
    );
    Ok(group)
}

fn update_permission_set_group(
    org: &mut Org,
    caller: &Caller,
    mut draft: Draft,
) -> Result<(), ApiError> {
    let Some(group) = draft.record_id() else {
        return Err(ApiError::not_found());
    };
    let label = draft.text("MasterLabel").unwrap_or_default().to_string();
    let name = developer_name(org, &draft, "DeveloperName", &label, |org, n| {
        text_taken(org, "PermissionSetGroup", "DeveloperName", n, Some(group))
    })?;
    draft.set("DeveloperName", name.map_or(Value::Null, Value::text));
    store_changes(org, caller, &draft);
    // Keep the aggregate set's mirrored fields in step.
    let mut mirrored = Vec::new();
    for (group_field, set_field) in [
        ("DeveloperName", "Name"),
        ("MasterLabel", "Label"),
        ("HasActivationRequired", "HasActivationRequired"),
    ] {
        if draft.changed(group_field) {
            mirrored.push((set_field, draft.get(group_field).clone()));
        }
    }
    if !mirrored.is_empty()
        && let Some(aggregate) = aggregate_set(org, group)
    {
        touch(org, caller, aggregate, mirrored);
    }
    Ok(())
}

fn delete_permission_set_group(org: &mut Org, group: SfId) -> Result<(), ApiError> {
    let group_value = Value::Id(group);
    // UNCERTAIN: code and wording ours.
    if !rows_where(
        org,
        "PermissionSetAssignment",
        &[("PermissionSetGroupId", &group_value)],
    )
    .is_empty()
    {
        return Err(errors::delete_failed(
            "Can't delete this permission set group because it's assigned to users. Remove the \
             assignments first.",
        ));
    }
    for row in rows_where(
        org,
        "PermissionSetGroupComponent",
        &[("PermissionSetGroupId", &group_value)],
    ) {
        org.delete_raw(&row);
    }
    if let Some(aggregate) = aggregate_set(org, group) {
        org.delete_raw(&aggregate);
    }
    org.delete_raw(&group);
    Ok(())
}

fn insert_component(org: &mut Org, caller: &Caller, draft: Draft) -> Result<SfId, ApiError> {
    let (Some(group), Some(set)) = (
        draft.id("PermissionSetGroupId"),
        draft.id("PermissionSetId"),
    ) else {
        return Err(errors::required_missing(&[
            "PermissionSetGroupId",
            "PermissionSetId",
        ]));
    };
    // UNCERTAIN: code and wording ours; a group is built from regular (or session) sets only.
    if flag_of(org, &set, "IsOwnedByProfile") || is_group_set(org, &set) {
        return Err(integrity(
            "A permission set group can only include permission sets that are not owned by a \
             profile or another group.",
            &["PermissionSetId"],
        ));
    }
    if let Some(existing) = rows_where(
        org,
        "PermissionSetGroupComponent",
        &[
            ("PermissionSetGroupId", &Value::Id(group)),
            ("PermissionSetId", &Value::Id(set)),
        ],
    )
    .into_iter()
    .next()
    {
        return Err(errors::duplicate_value(
            "PermissionSetId",
            existing.as_str(),
        ));
    }
    let id = store_new(org, caller, &draft);
    recalculate_group(org, caller, group);
    Ok(id)
}

fn delete_component(org: &mut Org, caller: &Caller, row: SfId) -> Result<(), ApiError> {
    let group = id_of(org, &row, "PermissionSetGroupId");
    org.delete_raw(&row);
    if let Some(group) = group {
        recalculate_group(org, caller, group);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SetupEntityAccess (facts 5.14)

fn insert_setup_entity_access(
    org: &mut Org,
    caller: &Caller,
    mut draft: Draft,
) -> Result<SfId, ApiError> {
    let (Some(parent), Some(entity)) = (draft.id("ParentId"), draft.id("SetupEntityId")) else {
        return Err(errors::required_missing(&["ParentId", "SetupEntityId"]));
    };
    // The emulator grants connected apps only (facts 5.14: the SetupEntityType is derived).
    if org.get(&entity).map(|(t, _)| t.def.name) != Some("ConnectedApplication") {
        return Err(errors::invalid_cross_reference("SetupEntityId"));
    }
    // UNCERTAIN: code and wording ours; aggregate sets only carry their components' access.
    if is_group_set(org, &parent) {
        return Err(integrity(
            "You can't grant access through the aggregate permission set of a permission set \
             group. Grant it to one of the group's permission sets instead.",
            &["ParentId"],
        ));
    }
    if let Some(existing) = rows_where(
        org,
        "SetupEntityAccess",
        &[
            ("ParentId", &Value::Id(parent)),
            ("SetupEntityId", &Value::Id(entity)),
        ],
    )
    .into_iter()
    .next()
    {
        return Err(errors::duplicate_value("SetupEntityId", existing.as_str()));
    }
    draft.set("SetupEntityType", Value::text("ConnectedApplication"));
    Ok(store_new(org, caller, &draft))
}
