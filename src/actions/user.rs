//! The user actions: `update_user_status` (User.IsActive) and `freeze_user` /
//! `unfreeze_user` (UserLogin.IsFrozen).
//!
//! Each reads the user first and reports `unchanged` without a write when the user already
//! has the requested state. The running integration user is never deactivated or frozen:
//! that would lock sf-access out of the org. Activating checks for a free seat first.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ActionError, ActionReport, ActionSpec};
use crate::model::{ResourceId, ResourceTypeId};
use crate::provision::account::check_seat_of;
use crate::provision::audit::AuditTarget;
use crate::provision::session::{Change, Session, Write};
use crate::provision::user::{read_login, read_user, user_resource};
use crate::provision::{Operation, Outcome, ProvisionError, Provisioner, WriteOptions};
use crate::salesforce::objects::provisioning::{UserLoginRecord, UserRecord};
use crate::salesforce::{SalesforceError, SfId};

/// `update_user_status` arguments, as the schema has them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusArgs {
    resource_id: String,
    is_active: bool,
}

/// `freeze_user` / `unfreeze_user` arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FreezeArgs {
    resource_id: String,
}

#[cfg(test)]
impl FreezeArgs {
    /// The `resource_id` as given.
    pub(super) fn resource_id(&self) -> &str {
        &self.resource_id
    }
}

/// Parses `resource_id` strictly (checksum, key prefix) with the whole cause in the message.
pub(super) fn user_id(spec: &'static ActionSpec, raw: &str) -> Result<ResourceId, ActionError> {
    let invalid = |message: String| ActionError::InvalidArgs {
        action: spec.name,
        errors: vec![format!("/resource_id: {message}")],
    };
    let id = ResourceId::parse(raw).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        invalid(message)
    })?;
    if id.type_id() != ResourceTypeId::User {
        return Err(invalid(format!("{id} is not a user (user:005...)")));
    }
    Ok(id)
}

/// Refuses to act on the user sf-access runs as.
async fn refuse_self(session: &Session<'_>, user: SfId, what: &str) -> Result<(), ActionError> {
    let me = session
        .client()
        .authenticate()
        .await
        .map_err(|e| ProvisionError::salesforce("logging in", e))?;
    if me.user_id == user {
        return Err(ProvisionError::argument(
            "resource_id",
            format!(
                "user:{user} is the integration user sf-access runs as; {what} it would lock \
                 sf-access out of the org"
            ),
        )
        .into());
    }
    Ok(())
}

fn report(
    spec: &'static ActionSpec,
    options: &WriteOptions,
    finished: crate::provision::session::Finished<Value>,
) -> ActionReport {
    ActionReport {
        request_id: options.request_id.clone(),
        operation: Operation::Action,
        action: spec.name,
        dry_run: options.dry_run,
        result: finished.extra,
        before: finished.before,
        after: finished.after,
        calls: finished.calls,
        api_calls: finished.api_calls,
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    outcome.as_str()
}

/// `update_user_status`.
pub(super) async fn update_user_status(
    provisioner: &Provisioner,
    spec: &'static ActionSpec,
    args: StatusArgs,
    options: &WriteOptions,
) -> Result<ActionReport, ActionError> {
    let id = user_id(spec, &args.resource_id)?;
    let target = AuditTarget {
        action: Some(spec.name.to_owned()),
        resource_id: Some(id),
        ..AuditTarget::default()
    };
    let session = provisioner.begin(options, Operation::Action, target)?;
    let result = status_in(&session, id, args.is_active).await;
    let finished = session.finish(result)?;
    Ok(report(spec, options, finished))
}

fn status_state(user: &UserRecord) -> Value {
    json!({ "User": { "Id": user.id, "IsActive": user.is_active } })
}

/// True when a failed deactivation is Salesforce refusing because org configuration
/// references the user. UNCERTAIN: the facts sheet gives no code for this refusal; Salesforce
/// reports such cross-record rules as FIELD_INTEGRITY_EXCEPTION (facts 4.3), and its messages
/// say "cannot deactivate".
fn is_refused_deactivation(error: &SalesforceError) -> bool {
    let Some(api) = error.as_api() else {
        return false;
    };
    api.errors.iter().any(|e| {
        e.error_code == "FIELD_INTEGRITY_EXCEPTION"
            || e.fields.iter().any(|f| f == "IsActive")
            || e.message.to_ascii_lowercase().contains("cannot deactivate")
    })
}

async fn status_in(
    session: &Session<'_>,
    id: ResourceId,
    wanted: bool,
) -> Result<(Change, Value), ActionError> {
    let user = read_user(session, "resource_id", id.sf_id()).await?;
    let before = status_state(&user);
    session.set_before(before.clone());
    let result = |outcome: &Outcome, user: Option<Value>| {
        let mut result = json!({
            "success": true,
            "resource_id": id,
            "outcome": outcome_name(outcome),
            "is_active": wanted,
            "previous_is_active": user_active(&before),
        });
        if let Some(user) = user {
            result["user"] = user;
        }
        result
    };
    if user.is_active == wanted {
        let login = read_login(session, user.id).await?;
        let resource = serde_json::to_value(user_resource(&user, login.as_ref())?)
            .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
        let outcome = Outcome::Unchanged;
        return Ok((
            Change {
                after: before.clone(),
                outcome: outcome.clone(),
            },
            result(&outcome, Some(resource)),
        ));
    }
    if wanted {
        check_seat_of(session, user.license_id()).await?;
    } else {
        refuse_self(session, user.id, "deactivating").await?;
    }
    let write = Write::Update {
        object: "User",
        id: user.id,
        body: UserRecord::set_active(wanted),
    };
    if let Err(error) = session.write(write).await {
        if !wanted && is_refused_deactivation(&error) {
            let message = error
                .as_api()
                .map(|a| a.message().to_owned())
                .unwrap_or_default();
            return Err(ActionError::DeactivationRefused {
                user: id,
                message,
                source: Box::new(error),
            });
        }
        let verb = if wanted { "activating" } else { "deactivating" };
        return Err(ProvisionError::salesforce(format!("{verb} {id}"), error).into());
    }
    let outcome = Outcome::Updated;
    if session.is_dry_run() {
        return Ok((
            Change {
                outcome: outcome.clone(),
                after: Value::Null,
            },
            result(&outcome, None),
        ));
    }
    let after = read_user(session, "resource_id", user.id).await?;
    if after.is_active != wanted {
        return Err(ProvisionError::PostState {
            expected: format!("IsActive {wanted}"),
            found: format!("IsActive {}", after.is_active),
        }
        .into());
    }
    let login = read_login(session, user.id).await?;
    let resource = serde_json::to_value(user_resource(&after, login.as_ref())?)
        .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
    Ok((
        Change {
            outcome: outcome.clone(),
            after: status_state(&after),
        },
        result(&outcome, Some(resource)),
    ))
}

fn user_active(state: &Value) -> bool {
    state["User"]["IsActive"].as_bool().unwrap_or(false)
}

/// `freeze_user` (`frozen`) and `unfreeze_user`.
pub(super) async fn set_frozen(
    provisioner: &Provisioner,
    spec: &'static ActionSpec,
    args: FreezeArgs,
    frozen: bool,
    options: &WriteOptions,
) -> Result<ActionReport, ActionError> {
    let id = user_id(spec, &args.resource_id)?;
    let target = AuditTarget {
        action: Some(spec.name.to_owned()),
        resource_id: Some(id),
        ..AuditTarget::default()
    };
    let session = provisioner.begin(options, Operation::Action, target)?;
    let result = frozen_in(&session, id, frozen).await;
    let finished = session.finish(result)?;
    Ok(report(spec, options, finished))
}

fn login_state(login: &UserLoginRecord) -> Value {
    json!({ "UserLogin": { "Id": login.id, "UserId": login.user_id, "IsFrozen": login.is_frozen } })
}

async fn frozen_in(
    session: &Session<'_>,
    id: ResourceId,
    wanted: bool,
) -> Result<(Change, Value), ActionError> {
    let user = read_user(session, "resource_id", id.sf_id()).await?;
    let Some(login) = read_login(session, user.id).await? else {
        return Err(ActionError::NoUserLogin { user: id });
    };
    let before = login_state(&login);
    session.set_before(before.clone());
    let previous = login.is_frozen;
    let result = |outcome: &Outcome, user: Option<Value>| {
        let mut result = json!({
            "success": true,
            "resource_id": id,
            "outcome": outcome_name(outcome),
            "is_frozen": wanted,
            "previous_is_frozen": previous,
        });
        if let Some(user) = user {
            result["user"] = user;
        }
        result
    };
    if login.is_frozen == wanted {
        let resource = serde_json::to_value(user_resource(&user, Some(&login))?)
            .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
        let outcome = Outcome::Unchanged;
        return Ok((
            Change {
                outcome: outcome.clone(),
                after: before,
            },
            result(&outcome, Some(resource)),
        ));
    }
    if wanted {
        refuse_self(session, user.id, "freezing").await?;
    }
    session
        .write(Write::Update {
            object: "UserLogin",
            id: login.id,
            body: UserLoginRecord::set_frozen(wanted),
        })
        .await
        .map_err(|e| {
            let verb = if wanted { "freezing" } else { "unfreezing" };
            ProvisionError::salesforce(format!("{verb} {id}"), e)
        })?;
    let outcome = Outcome::Updated;
    if session.is_dry_run() {
        return Ok((
            Change {
                outcome: outcome.clone(),
                after: Value::Null,
            },
            result(&outcome, None),
        ));
    }
    let after = read_login(session, user.id)
        .await?
        .ok_or_else(|| ProvisionError::PostState {
            expected: format!("UserLogin {}", login.id),
            found: "no UserLogin".into(),
        })?;
    if after.is_frozen != wanted {
        return Err(ProvisionError::PostState {
            expected: format!("IsFrozen {wanted}"),
            found: format!("IsFrozen {}", after.is_frozen),
        }
        .into());
    }
    let resource = serde_json::to_value(user_resource(&user, Some(&after))?)
        .map_err(|e| ProvisionError::Unexpected(e.to_string()))?;
    Ok((
        Change {
            outcome: outcome.clone(),
            after: login_state(&after),
        },
        result(&outcome, Some(resource)),
    ))
}
