//! Provisioning: grant and revoke every provisionable entitlement, move users to a
//! least-privilege profile when their profile is revoked, create (or reactivate) accounts, and
//! keep an audit trail of every write.
//!
//! The library calls are the product; the CLI (`cli.rs`) and the HTTP service are thin
//! adapters over them:
//! - [`grant`], [`revoke`] -> [`GrantReport`];
//! - [`create_account`] -> [`AccountReport`];
//! - `crate::actions::run` for the named actions.
//!
//! Every call takes a [`Provisioner`] (the client, whether writes are allowed, the
//! least-privilege mapping, the audit log) and [`WriteOptions`] (the caller's request id and
//! dry run). Every call reads the current state first and is idempotent: what already holds is
//! reported (`already_exists`, `already_revoked`) without a write. After a write the affected
//! record is read back and the real post-state is returned in the model's JSON shape. A dry run
//! reads, and returns the exact write calls it would make, but makes none.
//!
//! This module must not build SOQL text or Salesforce JSON by hand (`salesforce::objects::
//! provisioning` does), must not print (the CLI does), and must not write without
//! `--provisioning`.

pub mod account;
pub mod audit;
pub mod cli;
pub mod error;
pub mod grant;
pub mod least_privilege;
pub mod request_id;
pub(crate) mod session;
pub(crate) mod user;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::account::{AccountReport, AccountRequest, create_account};
pub use self::audit::{AuditEntry, AuditLog, AuditTarget};
pub use self::error::{LeastPrivilegeError, ProvisionError};
pub use self::grant::{GrantReport, GrantRequest, grant, revoke};
pub use self::request_id::RequestId;
pub use self::session::PlannedCall;
use crate::model::ResourceId;
use crate::salesforce::Client;
use crate::settings::LicenseProfileMapping;

/// What every write needs: the Salesforce client, whether writes are allowed, the
/// least-privilege profile mapping, and where the audit trail goes. Cheap to clone; the HTTP
/// service keeps one and shares it between requests.
#[derive(Debug, Clone)]
pub struct Provisioner {
    client: Client,
    provisioning: bool,
    mapping: Option<LicenseProfileMapping>,
    audit: Option<Arc<AuditLog>>,
}

impl Provisioner {
    /// A provisioner that refuses writes (dry runs still work), with no mapping and no audit
    /// log. Turn writes on with [`Provisioner::with_provisioning`].
    pub fn new(client: Client) -> Provisioner {
        Provisioner {
            client,
            provisioning: false,
            mapping: None,
            audit: None,
        }
    }

    /// Allows writes (`--provisioning`, as in baton).
    pub fn with_provisioning(mut self, provisioning: bool) -> Provisioner {
        self.provisioning = provisioning;
        self
    }

    /// The license -> least-privilege profile mapping used when a profile is revoked.
    pub fn with_mapping(mut self, mapping: Option<LicenseProfileMapping>) -> Provisioner {
        self.mapping = mapping;
        self
    }

    /// Appends one line per write (dry runs and failures included) to this log.
    pub fn with_audit_log(mut self, audit: Arc<AuditLog>) -> Provisioner {
        self.audit = Some(audit);
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// True when writes are allowed.
    pub fn is_provisioning(&self) -> bool {
        self.provisioning
    }

    /// The least-privilege mapping, when configured.
    pub fn mapping(&self) -> Option<&LicenseProfileMapping> {
        self.mapping.as_ref()
    }

    /// The audit log, when configured.
    pub fn audit_log(&self) -> Option<&AuditLog> {
        self.audit.as_deref()
    }
}

/// Per-call options, supplied by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// The caller's request id; it appears in the report and in the audit log.
    pub request_id: RequestId,
    /// Read and plan, but make no write.
    pub dry_run: bool,
}

impl WriteOptions {
    /// Options with a request id and no dry run.
    pub fn new(request_id: RequestId) -> WriteOptions {
        WriteOptions {
            request_id,
            dry_run: false,
        }
    }

    /// The same options as a dry run.
    pub fn dry_run(mut self, dry_run: bool) -> WriteOptions {
        self.dry_run = dry_run;
        self
    }
}

/// Which kind of write an audit line or a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `sf-access grant`.
    Grant,
    /// `sf-access revoke`.
    Revoke,
    /// `sf-access create-account`.
    CreateAccount,
    /// `sf-access action NAME`.
    Action,
}

impl Operation {
    /// The name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Grant => "grant",
            Operation::Revoke => "revoke",
            Operation::CreateAccount => "create_account",
            Operation::Action => "action",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a write did (or, in a dry run, would do). One closed set for every operation, so the
/// audit log and the HTTP service speak the same words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The grant was made.
    Granted,
    /// The grant was removed.
    Revoked,
    /// The grant (or the active account) already existed; nothing was written.
    AlreadyExists,
    /// The grant did not exist; nothing was written.
    AlreadyRevoked,
    /// A role or profile was set in place of another one the user held.
    Replaced {
        /// The role or profile the user held before.
        previous: ResourceId,
    },
    /// The assignment existed; its expiration was moved to the requested one.
    ExpirationChanged {
        /// The expiration before (absent: it did not expire).
        previous_expires_at: Option<DateTime<Utc>>,
    },
    /// A user was created.
    Created,
    /// An inactive user was reactivated.
    Reactivated,
    /// An action changed the record.
    Updated,
    /// An action found the record already in the requested state; nothing was written.
    Unchanged,
}

impl Outcome {
    /// The outcome's name (`granted`, `already_exists`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Revoked => "revoked",
            Outcome::AlreadyExists => "already_exists",
            Outcome::AlreadyRevoked => "already_revoked",
            Outcome::Replaced { .. } => "replaced",
            Outcome::ExpirationChanged { .. } => "expiration_changed",
            Outcome::Created => "created",
            Outcome::Reactivated => "reactivated",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }

    /// True when the outcome needed no write.
    pub fn is_no_op(&self) -> bool {
        matches!(
            self,
            Outcome::AlreadyExists | Outcome::AlreadyRevoked | Outcome::Unchanged
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())?;
        match self {
            Outcome::Replaced { previous } => write!(f, " (previously {previous})"),
            Outcome::ExpirationChanged {
                previous_expires_at: Some(t),
            } => write!(f, " (previously {})", t.to_rfc3339()),
            Outcome::ExpirationChanged {
                previous_expires_at: None,
            } => write!(f, " (previously no expiration)"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_serialize_as_a_tag_with_their_fields() {
        let previous = ResourceId::parse("role:00E5g0000000001EAA").unwrap();
        assert_eq!(
            serde_json::to_value(Outcome::Replaced { previous }).unwrap(),
            serde_json::json!({"outcome": "replaced", "previous": "role:00E5g0000000001EAA"})
        );
        assert_eq!(
            serde_json::to_value(Outcome::AlreadyRevoked).unwrap(),
            serde_json::json!({"outcome": "already_revoked"})
        );
        assert_eq!(
            serde_json::to_value(Outcome::ExpirationChanged {
                previous_expires_at: None
            })
            .unwrap(),
            serde_json::json!({"outcome": "expiration_changed", "previous_expires_at": null})
        );
        for outcome in [
            Outcome::Granted,
            Outcome::Revoked,
            Outcome::AlreadyExists,
            Outcome::AlreadyRevoked,
            Outcome::Created,
            Outcome::Reactivated,
            Outcome::Updated,
            Outcome::Unchanged,
        ] {
            assert_eq!(
                serde_json::to_value(&outcome).unwrap()["outcome"],
                outcome.as_str()
            );
        }
    }
}
