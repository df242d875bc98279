//! Reading users for provisioning: the principal of a grant, and the user resource that
//! create-account and the actions return, in the model's shape.
//!
//! The mapping follows the model's `UserDetails`: status from `IsActive` and the user's
//! `UserLogin` (frozen, password-locked), license through the profile.

use serde_json::{Value, json};

use super::ProvisionError;
use super::session::Session;
use crate::model::{
    Resource, ResourceDetails, ResourceId, ResourceTypeId, UserDetails, UserStatusDetail,
};
use crate::salesforce::SfId;
use crate::salesforce::objects::provisioning::{UserLoginRecord, UserRecord};

/// A resource id from an id Salesforce returned; a wrong key prefix means the answer is not
/// what the field promises.
pub(crate) fn resource_id(type_id: ResourceTypeId, id: SfId) -> Result<ResourceId, ProvisionError> {
    ResourceId::new(type_id, id).map_err(|e| ProvisionError::Unexpected(e.to_string()))
}

/// Reads a user; a missing user is `NotFound` for `argument`.
pub(crate) async fn read_user(
    session: &Session<'_>,
    argument: &'static str,
    id: SfId,
) -> Result<UserRecord, ProvisionError> {
    session
        .query_first::<UserRecord>(&UserRecord::by_id(id))
        .await
        .map_err(|e| ProvisionError::salesforce(format!("reading user {id}"), e))?
        .ok_or_else(|| ProvisionError::NotFound {
            argument,
            id: format!("user:{id}"),
            detail: " (no User with this ID)".into(),
        })
}

/// Reads a user's login row (absent for some users, facts 5.2).
pub(crate) async fn read_login(
    session: &Session<'_>,
    user: SfId,
) -> Result<Option<UserLoginRecord>, ProvisionError> {
    session
        .query_first::<UserLoginRecord>(&UserLoginRecord::of_user(user))
        .await
        .map_err(|e| ProvisionError::salesforce(format!("reading the UserLogin of user {user}"), e))
}

/// The model resource of a user.
pub(crate) fn user_resource(
    user: &UserRecord,
    login: Option<&UserLoginRecord>,
) -> Result<Resource, ProvisionError> {
    let status_detail = if !user.is_active {
        UserStatusDetail::Inactive
    } else if login.is_some_and(|l| l.is_frozen) {
        UserStatusDetail::Frozen
    } else if login.is_some_and(|l| l.is_password_locked) {
        UserStatusDetail::PasswordLocked
    } else {
        UserStatusDetail::Active
    };
    let optional = |type_id, id: Option<SfId>| id.map(|id| resource_id(type_id, id)).transpose();
    let display_name = user
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.username.clone());
    let resource = Resource {
        id: resource_id(ResourceTypeId::User, user.id)?,
        resource_type: ResourceTypeId::User,
        display_name,
        parent_id: None,
        description: None,
        details: ResourceDetails::User(UserDetails {
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            status: status_detail.status(),
            status_detail,
            user_type: user.user_type.clone().unwrap_or_default(),
            license: optional(ResourceTypeId::License, user.license_id())?,
            profile: optional(ResourceTypeId::Profile, user.profile_id)?,
            role: optional(ResourceTypeId::Role, user.user_role_id)?,
            manager: optional(ResourceTypeId::User, user.manager_id)?,
            federation_id: user.federation_identifier.clone(),
            last_login: user.last_login_date,
            created: user.created_date,
        }),
    };
    Ok(resource)
}

/// The fields of a user the audit log records as before/after values.
pub(crate) fn user_state(user: &UserRecord) -> Value {
    json!({
        "Id": user.id,
        "Username": user.username,
        "IsActive": user.is_active,
        "ProfileId": user.profile_id,
        "UserRoleId": user.user_role_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserStatus;

    fn user(active: bool) -> UserRecord {
        serde_json::from_value(json!({
            "Id": "0055g0000000004AAA", "Username": "sales.rep@acme-1.example",
            "Name": "Sales Rep", "Email": "sales.rep@acme-1.example", "IsActive": active,
            "UserType": "Standard", "ProfileId": "00e5g0000000002AAA",
            "Profile": {"UserLicenseId": "1005g0000000001AAA"},
            "UserRoleId": "00E5g0000000007EAA", "ManagerId": "0055g0000000003AAA"
        }))
        .unwrap()
    }

    fn login(frozen: bool, locked: bool) -> UserLoginRecord {
        UserLoginRecord {
            id: SfId::parse("0605g0000000004AAA").unwrap(),
            user_id: SfId::parse("0055g0000000004AAA").unwrap(),
            is_frozen: frozen,
            is_password_locked: locked,
        }
    }

    #[test]
    fn user_maps_to_a_user_resource_with_its_references() {
        let resource = user_resource(&user(true), Some(&login(false, false))).unwrap();
        resource.validate().unwrap();
        let ResourceDetails::User(details) = &resource.details else {
            panic!("user details");
        };
        assert_eq!(details.status, UserStatus::Enabled);
        assert_eq!(
            details.license.unwrap().to_string(),
            "license:1005g0000000001AAA"
        );
        assert_eq!(details.role.unwrap().to_string(), "role:00E5g0000000007EAA");
        assert_eq!(
            details.manager.unwrap().to_string(),
            "user:0055g0000000003AAA"
        );
        assert_eq!(resource.display_name, "Sales Rep");
    }

    #[test]
    fn status_follows_active_frozen_and_locked_in_that_order() {
        let detail = |active, login: Option<UserLoginRecord>| match user_resource(
            &user(active),
            login.as_ref(),
        )
        .unwrap()
        .details
        {
            ResourceDetails::User(d) => d.status_detail,
            _ => unreachable!("user resources have user details"),
        };
        assert_eq!(
            detail(false, Some(login(true, true))),
            UserStatusDetail::Inactive
        );
        assert_eq!(
            detail(true, Some(login(true, true))),
            UserStatusDetail::Frozen
        );
        assert_eq!(
            detail(true, Some(login(false, true))),
            UserStatusDetail::PasswordLocked
        );
        assert_eq!(detail(true, None), UserStatusDetail::Active);
    }
}
