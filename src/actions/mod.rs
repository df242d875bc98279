//! Connector actions: a closed set of named operations on one resource, each with a JSON
//! Schema (draft 2020-12) for its arguments and its result in `schemas/actions/`.
//!
//! | action | arguments | writes |
//! |---|---|---|
//! | `update_user_status` | `{resource_id, is_active}` | User.IsActive |
//! | `freeze_user` | `{resource_id}` | UserLogin.IsFrozen = true |
//! | `unfreeze_user` | `{resource_id}` | UserLogin.IsFrozen = false |
//!
//! `run` validates the arguments against the schema, parses them into typed values (ids
//! strictly, as everywhere), and runs the action through the same session as grants: writes
//! need `--provisioning`, dry runs plan without writing, every run leaves an audit line. The
//! CLI (`cli.rs`) and the HTTP service are adapters over `ACTIONS` and `run`. This module must
//! not print and must not accept an action outside the table.

pub mod cli;
mod user;

use serde::Serialize;
use serde_json::Value;

use crate::exit::Exit;
use crate::model::ResourceId;
use crate::provision::session::Audited;
use crate::provision::{
    Operation, PlannedCall, ProvisionError, Provisioner, RequestId, WriteOptions,
};
use crate::salesforce::SalesforceError;

/// Which action a table row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionKind {
    UpdateUserStatus,
    FreezeUser,
    UnfreezeUser,
}

/// One action of the closed set.
#[derive(Debug)]
pub struct ActionSpec {
    /// The name, as given to `sf-access action NAME` and `POST /v1/actions/{name}`.
    pub name: &'static str,
    /// A name for people.
    pub display_name: &'static str,
    /// What it does.
    pub description: &'static str,
    kind: ActionKind,
    args_schema: &'static str,
    result_schema: &'static str,
}

/// The actions, by name.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "freeze_user",
        display_name: "Freeze user",
        description: "Freeze a user (UserLogin.IsFrozen): no logins, but the user stays active, \
                      keeps its seat and every reference to it.",
        kind: ActionKind::FreezeUser,
        args_schema: include_str!("../../schemas/actions/freeze_user.args.json"),
        result_schema: include_str!("../../schemas/actions/freeze_user.result.json"),
    },
    ActionSpec {
        name: "unfreeze_user",
        display_name: "Unfreeze user",
        description: "Unfreeze a user (UserLogin.IsFrozen = false) so it can log in again.",
        kind: ActionKind::UnfreezeUser,
        args_schema: include_str!("../../schemas/actions/unfreeze_user.args.json"),
        result_schema: include_str!("../../schemas/actions/unfreeze_user.result.json"),
    },
    ActionSpec {
        name: "update_user_status",
        display_name: "Update user status",
        description: "Activate or deactivate a user (User.IsActive). When Salesforce refuses a \
                      deactivation because org configuration references the user, use \
                      freeze_user.",
        kind: ActionKind::UpdateUserStatus,
        args_schema: include_str!("../../schemas/actions/update_user_status.args.json"),
        result_schema: include_str!("../../schemas/actions/update_user_status.result.json"),
    },
];

impl ActionSpec {
    /// The JSON Schema of the arguments.
    pub fn args_schema(&self) -> Value {
        serde_json::from_str(self.args_schema).expect("action schemas are JSON (tested)")
    }

    /// The JSON Schema of the result.
    pub fn result_schema(&self) -> Value {
        serde_json::from_str(self.result_schema).expect("action schemas are JSON (tested)")
    }

    /// The action as `sf-access actions --json` and `GET /v1/actions` list it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "args_schema": self.args_schema(),
            "result_schema": self.result_schema(),
        })
    }

    /// Checks arguments against the schema; every violation is reported with its place.
    pub fn validate_args(&self, args: &Value) -> Result<(), ActionError> {
        let validator = jsonschema::draft202012::new(&self.args_schema())
            .expect("action schemas compile (tested)");
        let errors: Vec<String> = validator
            .iter_errors(args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ActionError::InvalidArgs {
                action: self.name,
                errors,
            })
        }
    }
}

/// The action named `name`.
pub fn find(name: &str) -> Result<&'static ActionSpec, ActionError> {
    ACTIONS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ActionError::UnknownAction {
            name: name.chars().take(80).collect(),
            known: ACTIONS
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What an action did (in a dry run: would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionReport {
    /// The caller's request id.
    pub request_id: RequestId,
    /// Always `action`.
    pub operation: Operation,
    /// The action.
    pub action: &'static str,
    /// True when nothing was written.
    pub dry_run: bool,
    /// The result, as the action's result schema describes it.
    pub result: Value,
    /// The affected Salesforce values before.
    pub before: Value,
    /// The affected Salesforce values after (`null` in a dry run that would write).
    pub after: Value,
    /// The write calls made; in a dry run, the exact calls that would be made.
    pub calls: Vec<PlannedCall>,
    /// Salesforce API calls spent, reads included.
    pub api_calls: u64,
}

/// Runs the action `name` with `args` (a JSON object).
pub async fn run(
    provisioner: &Provisioner,
    name: &str,
    args: &Value,
    options: &WriteOptions,
) -> Result<ActionReport, ActionError> {
    let spec = find(name)?;
    spec.validate_args(args)?;
    match spec.kind {
        ActionKind::UpdateUserStatus => {
            let args: user::StatusArgs = parse_args(spec, args)?;
            user::update_user_status(provisioner, spec, args, options).await
        }
        ActionKind::FreezeUser | ActionKind::UnfreezeUser => {
            let args: user::FreezeArgs = parse_args(spec, args)?;
            let frozen = spec.kind == ActionKind::FreezeUser;
            user::set_frozen(provisioner, spec, args, frozen, options).await
        }
    }
}

/// Typed arguments; ids parse strictly (checksum, key prefix), past what a schema can say.
fn parse_args<T: serde::de::DeserializeOwned>(
    spec: &'static ActionSpec,
    args: &Value,
) -> Result<T, ActionError> {
    serde_json::from_value(args.clone()).map_err(|e| ActionError::InvalidArgs {
        action: spec.name,
        errors: vec![e.to_string()],
    })
}

/// Every way an action can fail.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No action has this name.
    #[error("unknown action {name:?}; the actions are: {known}")]
    UnknownAction {
        /// The name given (shortened).
        name: String,
        /// The known names.
        known: String,
    },
    /// The arguments do not fit the action's schema. Nothing was sent to Salesforce.
    #[error("invalid arguments for {action}: {}", errors.join("; "))]
    InvalidArgs {
        /// The action.
        action: &'static str,
        /// One message per violation.
        errors: Vec<String>,
    },
    /// Salesforce refused to deactivate the user, typically because org configuration
    /// references it (default workflow user, a queue, an assignment rule).
    #[error("Salesforce refused to deactivate {user}: {message}")]
    DeactivationRefused {
        /// The user.
        user: ResourceId,
        /// Salesforce's message.
        message: String,
        /// The Salesforce error (boxed: it is large).
        #[source]
        source: Box<SalesforceError>,
    },
    /// The user has no UserLogin record to freeze.
    #[error(
        "{user} has no UserLogin record, so it cannot be frozen or unfrozen; nothing was changed"
    )]
    NoUserLogin {
        /// The user.
        user: ResourceId,
    },
    /// Reading, writing or logging failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl ActionError {
    /// A stable snake_case code for machines.
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::UnknownAction { .. } => "unknown_action",
            ActionError::InvalidArgs { .. } => "invalid_arguments",
            ActionError::DeactivationRefused { .. } => "deactivation_refused",
            ActionError::NoUserLogin { .. } => "no_user_login",
            ActionError::Provision(e) => e.code(),
        }
    }

    /// The exit code.
    pub fn exit(&self) -> Exit {
        match self {
            ActionError::UnknownAction { .. } | ActionError::InvalidArgs { .. } => Exit::Usage,
            ActionError::DeactivationRefused { .. } | ActionError::NoUserLogin { .. } => {
                Exit::Failure
            }
            ActionError::Provision(e) => e.exit(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ActionError::UnknownAction { .. } => {
                Some("`sf-access actions` lists the actions with their arguments".into())
            }
            ActionError::InvalidArgs { action, .. } => Some(format!(
                "`sf-access actions` shows the argument schema of {action}; ids look like \
                 user:005..."
            )),
            ActionError::DeactivationRefused { user, .. } => Some(format!(
                "the user is referenced by org configuration (a default workflow user, a queue, an \
                 assignment rule...). Freeze the user instead, which blocks logins and keeps the \
                 references: sf-access action freeze_user --args '{{\"resource_id\":\"{user}\"}}'; \
                 or remove the references in Setup and retry"
            )),
            ActionError::NoUserLogin { user } => Some(format!(
                "Salesforce keeps no login record for this user (it may never have logged in); to \
                 block it, deactivate it: sf-access action update_user_status --args \
                 '{{\"resource_id\":\"{user}\",\"is_active\":false}}'"
            )),
            ActionError::Provision(e) => e.hint(),
        }
    }
}

impl Audited for ActionError {
    fn audit_code(&self) -> &'static str {
        self.code()
    }

    fn salesforce_code(&self) -> Option<String> {
        match self {
            ActionError::DeactivationRefused { source, .. } => source.code().map(str::to_owned),
            ActionError::Provision(e) => e.salesforce_code().map(str::to_owned),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_is_sorted_and_every_schema_is_valid_draft_2020_12() {
        let names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for action in ACTIONS {
            for schema in [action.args_schema(), action.result_schema()] {
                jsonschema::draft202012::meta::validate(&schema)
                    .unwrap_or_else(|e| panic!("{}: {e}", action.name));
                assert_eq!(
                    schema["$schema"],
                    "https://json-schema.org/draft/2020-12/schema"
                );
                assert_eq!(schema["additionalProperties"], false, "{}", action.name);
            }
        }
    }

    #[test]
    fn arguments_are_checked_against_the_schema() {
        let spec = find("update_user_status").unwrap();
        assert!(
            spec.validate_args(
                &json!({"resource_id": "user:0055g0000000004AAA", "is_active": false})
            )
            .is_ok()
        );
        for bad in [
            json!({"resource_id": "user:0055g0000000004AAA"}),
            json!({"resource_id": "user:0055g0000000004AAA", "is_active": "no"}),
            json!({"resource_id": "user:005' OR '1'='1", "is_active": false}),
            json!({"resource_id": "role:00E5g0000000001EAA", "is_active": false}),
            json!({"resource_id": "user:0055g0000000004AAA", "is_active": false, "extra": 1}),
            json!("user:0055g0000000004AAA"),
        ] {
            let err = spec.validate_args(&bad).unwrap_err();
            assert!(matches!(err, ActionError::InvalidArgs { .. }), "{bad}");
            assert_eq!(err.exit(), Exit::Usage);
        }
    }

    #[test]
    fn a_bad_checksum_passes_the_schema_but_not_the_typed_parse() {
        let spec = find("freeze_user").unwrap();
        let args = json!({"resource_id": "user:0055g0000000004AAB"});
        assert!(spec.validate_args(&args).is_ok());
        let raw: user::FreezeArgs = parse_args(spec, &args).unwrap();
        let err = user::user_id(spec, raw.resource_id()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn unknown_actions_name_the_known_ones() {
        let err = find("delete_user").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown action \"delete_user\"; the actions are: freeze_user, unfreeze_user, update_user_status"
        );
    }
}
