//! `ProvisionError`: every way a grant, revoke or account creation can fail, with the exit
//! code, a stable code for machines (the audit log, the HTTP service) and the hint a person
//! needs.
//!
//! Errors name the argument or the setting at fault and say how to fix it. Errors that stop a
//! call before any write say so; an error after a write says what was changed.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::model::{EntitlementId, ResourceId};
use crate::salesforce::SalesforceError;

use super::Operation;

/// The flag that configures the mapping, for hints.
pub const MAPPING_FLAG: &str = "--license-to-least-privileged-profile-mapping";

/// Why no least-privilege profile can be chosen for a profile revoke. Every variant stops the
/// revoke before any write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeastPrivilegeError {
    /// No mapping entry names the user's license.
    #[error(
        "no least-privilege profile is mapped for license {license}: revoking a profile moves the user to the least-privilege profile of their license, so the user keeps profile {profile}"
    )]
    NoMapping {
        /// The user's license, `Name (KEY)`.
        license: String,
        /// The profile that was to be revoked.
        profile: String,
        /// The license keys the mapping has, for the message.
        configured: Vec<String>,
    },
    /// Two mapping entries name the user's license (by name and by key) with different
    /// profiles.
    #[error("license {license} is mapped to more than one profile: {profiles}")]
    AmbiguousMapping {
        /// The user's license.
        license: String,
        /// The profiles, comma-separated.
        profiles: String,
    },
    /// The mapped profile does not exist.
    #[error("the least-privilege profile {profile:?} mapped for license {license} does not exist")]
    ProfileMissing {
        /// The user's license.
        license: String,
        /// The mapped profile as configured.
        profile: String,
    },
    /// More than one profile has the mapped name.
    #[error(
        "more than one profile is named {profile:?} (the least-privilege profile mapped for license {license})"
    )]
    AmbiguousProfile {
        /// The user's license.
        license: String,
        /// The mapped profile name.
        profile: String,
    },
    /// The mapped profile belongs to another license.
    #[error(
        "the least-privilege profile {profile:?} mapped for license {license} belongs to license {actual}, so Salesforce would refuse to move the user to it"
    )]
    WrongLicense {
        /// The user's license.
        license: String,
        /// The mapped profile.
        profile: String,
        /// The license the profile belongs to.
        actual: String,
    },
    /// The profile being revoked is the least-privilege profile itself.
    #[error(
        "profile {profile:?} is the least-privilege profile of license {license}: there is no lower profile to move the user to"
    )]
    AlreadyLeastPrivileged {
        /// The user's license.
        license: String,
        /// The profile.
        profile: String,
    },
}

impl LeastPrivilegeError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            LeastPrivilegeError::NoMapping {
                license,
                configured,
                ..
            } => {
                let have = if configured.is_empty() {
                    "no mapping is configured".to_owned()
                } else {
                    format!("the mapping names {}", configured.join(", "))
                };
                format!(
                    "map the license to a minimum-access profile of the same license: {MAPPING_FLAG} '{}=Minimum Access - {}' (also SF_ACCESS_LICENSE_TO_LEAST_PRIVILEGED_PROFILE_MAPPING or the config file); {have}; `sf-access check` with the mapping reports every gap",
                    license_key(license),
                    license_key(license)
                )
            }
            LeastPrivilegeError::AmbiguousMapping { .. } => format!(
                "keep one entry per license in {MAPPING_FLAG} (a license can be named by its name or its LicenseDefinitionKey, not both)"
            ),
            LeastPrivilegeError::ProfileMissing { license, .. } => format!(
                "create a minimum-access profile for license {license}, or map the license to an existing profile of that license in {MAPPING_FLAG}"
            ),
            LeastPrivilegeError::AmbiguousProfile { .. } => {
                format!("map the license to the profile's ID (00e...) in {MAPPING_FLAG}")
            }
            LeastPrivilegeError::WrongLicense { license, .. } => format!(
                "map {license} to a profile of the same license in {MAPPING_FLAG} (`sf-access check` lists them)"
            ),
            LeastPrivilegeError::AlreadyLeastPrivileged { .. } => {
                "the user already has the least access their license allows; to remove their access \
                 entirely, deactivate or freeze the user (`sf-access action update_user_status` or \
                 `freeze_user`)"
                    .to_owned()
            }
        }
    }
}

/// `Salesforce (SFDC)` -> `Salesforce`, for the example in a hint.
fn license_key(described: &str) -> &str {
    described.split(" (").next().unwrap_or(described)
}

/// Every way a provisioning call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A write without `--provisioning`.
    #[error("{operation} changes Salesforce, and writes are not enabled; nothing was changed")]
    ProvisioningDisabled {
        /// What was refused.
        operation: Operation,
    },
    /// An argument cannot be used. Nothing was sent to Salesforce.
    #[error("{argument}: {problem}")]
    InvalidArgument {
        /// The argument (`principal`, `expires_at`, `email`...).
        argument: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// An id names a record that does not exist (or is not visible to the integration user).
    #[error("{argument}: {id} does not exist in the org{detail}")]
    NotFound {
        /// The argument that named it.
        argument: &'static str,
        /// The id or name.
        id: String,
        /// More on what was looked for.
        detail: String,
    },
    /// The entitlement is not one sf-access can grant or revoke.
    #[error("{entitlement} cannot be granted or revoked: {reason}")]
    NotProvisionable {
        /// The entitlement.
        entitlement: EntitlementId,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A profile of another license than the user's (Salesforce refuses the change).
    #[error(
        "profile {profile} belongs to license {profile_license}, but user {user} has license {user_license}; nothing was changed"
    )]
    LicenseMismatch {
        /// The profile.
        profile: String,
        /// Its license.
        profile_license: String,
        /// The user.
        user: ResourceId,
        /// The user's license.
        user_license: String,
    },
    /// No free seat on the license a new or reactivated user needs. Nothing was changed.
    #[error(
        "license {license} has no free seat ({used} of {total} used){status}; nothing was changed"
    )]
    LicenseFull {
        /// The license.
        license: String,
        /// Seats in use.
        used: i64,
        /// Seats bought.
        total: i64,
        /// `, and it is disabled` when disabled.
        status: String,
    },
    /// A user with the username exists but is inactive, and reactivation was not asked for.
    #[error("user {username} ({id}) already exists and is inactive; nothing was changed")]
    InactiveUserExists {
        /// The username.
        username: String,
        /// The user.
        id: ResourceId,
    },
    /// The least-privilege profile cannot be chosen. Nothing was changed.
    #[error(transparent)]
    LeastPrivilege(#[from] LeastPrivilegeError),
    /// Salesforce refused or failed a call.
    #[error("{what}")]
    Salesforce {
        /// What was being done (`inserting PermissionSetAssignment for user:005...`).
        what: String,
        /// The Salesforce error (boxed: it is large, and errors travel by value).
        #[source]
        source: Box<SalesforceError>,
    },
    /// After a write, reading the record back did not show the change.
    #[error("after the write, Salesforce shows {found} instead of {expected}")]
    PostState {
        /// What the write should have left.
        expected: String,
        /// What Salesforce shows.
        found: String,
    },
    /// A record from Salesforce did not have the expected shape.
    #[error("unexpected answer from Salesforce: {0}")]
    Unexpected(String),
    /// The audit log cannot be written.
    #[error("cannot append to the audit log {}{}", path.display(), change_note(.change.as_deref()))]
    Audit {
        /// The log.
        path: PathBuf,
        /// What the call changed before the log failed, if anything.
        change: Option<String>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn change_note(change: Option<&str>) -> String {
    match change {
        Some(change) => format!(" (the change WAS made: {change})"),
        None => String::new(),
    }
}

impl ProvisionError {
    /// A Salesforce error while doing `what`.
    pub fn salesforce(what: impl Into<String>, source: SalesforceError) -> ProvisionError {
        ProvisionError::Salesforce {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// An argument error.
    pub fn argument(argument: &'static str, problem: impl Into<String>) -> ProvisionError {
        ProvisionError::InvalidArgument {
            argument,
            problem: problem.into(),
        }
    }

    /// A stable snake_case code for machines (audit log, HTTP error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            ProvisionError::ProvisioningDisabled { .. } => "provisioning_disabled",
            ProvisionError::InvalidArgument { .. } => "invalid_argument",
            ProvisionError::NotFound { .. } => "not_found",
            ProvisionError::NotProvisionable { .. } => "not_provisionable",
            ProvisionError::LicenseMismatch { .. } => "license_mismatch",
            ProvisionError::LicenseFull { .. } => "license_full",
            ProvisionError::InactiveUserExists { .. } => "inactive_user_exists",
            ProvisionError::LeastPrivilege(_) => "least_privilege_mapping",
            ProvisionError::Salesforce { .. } => "salesforce_error",
            ProvisionError::PostState { .. } => "post_state_mismatch",
            ProvisionError::Unexpected(_) => "unexpected_answer",
            ProvisionError::Audit { .. } => "audit_log",
        }
    }

    /// The Salesforce error code, when Salesforce refused.
    pub fn salesforce_code(&self) -> Option<&str> {
        match self {
            ProvisionError::Salesforce { source, .. } => source.code(),
            _ => None,
        }
    }

    /// The exit code: argument and mapping problems are usage errors (2), Salesforce errors
    /// follow their category (3 auth, 4 permission, 5 limit), the rest is 1.
    pub fn exit(&self) -> Exit {
        match self {
            ProvisionError::ProvisioningDisabled { .. }
            | ProvisionError::InvalidArgument { .. }
            | ProvisionError::NotFound { .. }
            | ProvisionError::NotProvisionable { .. }
            | ProvisionError::LicenseMismatch { .. }
            | ProvisionError::InactiveUserExists { .. }
            | ProvisionError::LeastPrivilege(_) => Exit::Usage,
            ProvisionError::Salesforce { source, .. } => Exit::of_category(source.category()),
            ProvisionError::LicenseFull { .. }
            | ProvisionError::PostState { .. }
            | ProvisionError::Unexpected(_)
            | ProvisionError::Audit { .. } => Exit::Failure,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ProvisionError::ProvisioningDisabled { .. } => Some(
                "pass --provisioning (-p) or set SF_ACCESS_PROVISIONING=true (BATON_PROVISIONING \
                 works too); preview the change first with --dry-run, which needs neither"
                    .into(),
            ),
            ProvisionError::NotFound { .. } => Some(
                "check the id (`sf-access show resources` lists what the last sync found); a \
                 record the integration user cannot see also looks missing"
                    .into(),
            ),
            ProvisionError::LicenseMismatch { user_license, .. } => Some(format!(
                "Salesforce only moves a user between profiles of the same license: pick a profile \
                 of license {user_license}"
            )),
            ProvisionError::LicenseFull { license, .. } => Some(format!(
                "free a seat (deactivate a user of license {license}) or buy more, then retry"
            )),
            ProvisionError::InactiveUserExists { .. } => Some(
                "pass --reactivate to reactivate the existing user (nothing else about it changes), \
                 or choose another --username"
                    .into(),
            ),
            ProvisionError::LeastPrivilege(e) => Some(e.hint()),
            ProvisionError::Salesforce { source, .. } => salesforce_hint(source),
            ProvisionError::PostState { .. } => Some(
                "another process may have changed the record at the same time, or an automation \
                 in the org (a flow or trigger) reverted it; read the record and retry"
                    .into(),
            ),
            ProvisionError::Audit { .. } => Some(
                "check that the directory exists and is writable, or choose another file with \
                 --audit-log"
                    .into(),
            ),
            ProvisionError::InvalidArgument { .. }
            | ProvisionError::NotProvisionable { .. }
            | ProvisionError::Unexpected(_) => None,
        }
    }
}

/// Hints for the refusals provisioning meets, beyond the client's own.
fn salesforce_hint(source: &SalesforceError) -> Option<String> {
    match source.code() {
        Some("LICENSE_LIMIT_EXCEEDED") => Some(
            "the license has no free seat (or has expired): free a seat or buy more, then retry"
                .into(),
        ),
        Some("DUPLICATE_USERNAME") => Some(
            "usernames are unique across all Salesforce orgs, so another org may hold it: choose \
             another --username (it does not have to match the email)"
                .into(),
        ),
        Some("FIELD_INTEGRITY_EXCEPTION") => Some(
            "Salesforce's message above says which rule the change breaks; fix that and retry"
                .into(),
        ),
        _ => source.hint(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_errors_name_the_license_and_the_flag() {
        let e = LeastPrivilegeError::NoMapping {
            license: "Salesforce Platform (AUL)".into(),
            profile: "Standard Platform User".into(),
            configured: vec!["Salesforce".into()],
        };
        assert!(e.to_string().contains("Salesforce Platform (AUL)"), "{e}");
        let hint = e.hint();
        assert!(
            hint.contains(
                "--license-to-least-privileged-profile-mapping 'Salesforce Platform=Minimum Access - Salesforce Platform'"
            ),
            "{hint}"
        );
        assert!(hint.contains("the mapping names Salesforce"), "{hint}");
        let error = ProvisionError::from(e);
        assert_eq!(error.exit(), Exit::Usage);
        assert_eq!(error.code(), "least_privilege_mapping");
    }

    #[test]
    fn audit_error_after_a_write_says_the_change_was_made() {
        let error = ProvisionError::Audit {
            path: "/x/audit.jsonl".into(),
            change: Some("granted".into()),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            error.to_string(),
            "cannot append to the audit log /x/audit.jsonl (the change WAS made: granted)"
        );
    }
}
